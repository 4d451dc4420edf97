import { GovernorError } from '../core/errors.js';
import type { Notification, Notifier, NotifierStats } from './notifier.js';
import { assertSecret, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signWebhookBody } from './verify-signature.js';

/** The body a webhook receives: Governor's JSON event, or a Slack incoming-webhook message. */
export type WebhookFormat = 'json' | 'slack';

/** Why one delivery attempt failed, or why a notification was never attempted. */
export type DeliveryFailureReason =
  /** The connection failed (refused, reset, DNS). Retried. */
  | 'network'
  /** No complete answer within `timeoutMs`. Retried. */
  | 'timeout'
  /** A non-2xx, non-3xx status. 408, 429 and 5xx are retried; other 4xx are not. */
  | 'status'
  /** A 3xx: redirects are never followed. Not retried. */
  | 'redirect'
  /** The queue was full; the notification was dropped. */
  | 'queue-full'
  /** The notifier was closed before the notification could be delivered. */
  | 'closed'
  /** `data` could not be serialized to JSON (a BigInt, a cycle). */
  | 'unserializable';

/** One failure, as reported to `onError`. A value: delivery never throws. */
export interface DeliveryFailure {
  readonly reason: DeliveryFailureReason;
  /** For humans and logs; never contains the webhook's path or the secret. */
  readonly message: string;
  /** The receiver's HTTP status, when it answered. */
  readonly status?: number;
  /** True when another attempt is scheduled; false when the notification is given up (or dropped). */
  readonly willRetry: boolean;
  /** The delay before the next attempt, when there is one. */
  readonly retryInMs?: number;
  /** The underlying error (from fetch), if any. */
  readonly cause?: unknown;
}

/** A delivered notification's receipt, as reported to `onDelivered`. */
export interface DeliveryReceipt {
  readonly status: number;
  /** Attempts it took, 1 when the first one succeeded. */
  readonly attempts: number;
}

/** A log sink with the shape of `main.ts`'s logger. */
export type NotifierLog = (level: 'info' | 'warn' | 'error', message: string, detail?: Record<string, unknown>) => void;

/** How to reach a webhook and how hard to try. */
export interface WebhookNotifierOptions {
  /** The receiver, `http:` or `https:`. Its path may hold a secret (Slack): logs show only its origin. */
  readonly url: string;
  /** The HMAC key, at least 16 bytes. */
  readonly secret: string;
  /** Default `json`. */
  readonly format?: WebhookFormat;
  /** Time limit of each attempt, answer body included. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Attempts per notification, the first included. Default 6. */
  readonly maxAttempts?: number;
  /** Backoff before the n-th retry is uniform in [0, min(maxDelayMs, baseDelayMs · 2^(n-1))) (full jitter). Default 500 ms. */
  readonly baseDelayMs?: number;
  /** Cap of a backoff delay and of an honored Retry-After. Default 60000 ms. */
  readonly maxDelayMs?: number;
  /** Notifications held at once (waiting, in flight or backing off); beyond it new ones are dropped. Default 10000. */
  readonly queueLimit?: number;
  /** Deliveries in progress at once. Default 4. */
  readonly concurrency?: number;
  /** How long `close()` waits for deliveries before abandoning them. Default 2000 ms. */
  readonly closeTimeoutMs?: number;
  /** Substitute for the global fetch (tests). */
  readonly fetch?: typeof fetch;
  /** Wall clock (ms since the epoch) for signature timestamps and `lastError.at`. Default `Date.now`. */
  readonly clock?: () => number;
  /** Uniform in [0, 1), for jitter. Default `Math.random`. */
  readonly random?: () => number;
  /** Called on every failed attempt and every drop, with the attempt number (0 when none was made). */
  readonly onError?: (failure: DeliveryFailure, notification: Notification, attempt: number) => void;
  /** Called once per delivered notification. */
  readonly onDelivered?: (notification: Notification, receipt: DeliveryReceipt) => void;
  readonly log?: NotifierLog;
}

/** Default time limit of one attempt. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5000;
/** Default attempts per notification. */
export const DEFAULT_WEBHOOK_MAX_ATTEMPTS = 6;
/** Bytes of a refusal's body kept for the error message; the rest is discarded unread. */
const ERROR_BODY_BYTES = 512;
/** Slack's limits (characters) on the fields we fill. */
const SLACK_HEADER_MAX = 150;
const SLACK_TEXT_MAX = 3000;
const SLACK_URL_MAX = 3000;
/** After close()'s deadline, how long to wait for aborted attempts to unwind. */
const ABORT_GRACE_MS = 250;

interface Settings {
  readonly url: string;
  readonly origin: string;
  readonly secret: string;
  readonly format: WebhookFormat;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly queueLimit: number;
  readonly concurrency: number;
  readonly closeTimeoutMs: number;
}

interface Job {
  readonly notification: Notification;
  /** Serialized once, when queued: later changes to `data` do not alter what is sent. */
  readonly body: string;
}

type AttemptOutcome =
  | { readonly ok: true; readonly status: number }
  | {
      readonly ok: false;
      readonly reason: DeliveryFailureReason;
      readonly message: string;
      readonly retryable: boolean;
      readonly status?: number;
      readonly retryAfterMs?: number;
      readonly cause?: unknown;
    };

/**
 * Creates a notifier that POSTs each notification, signed, to one webhook.
 * `notify` serializes and queues in O(size of the notification) and returns;
 * up to `concurrency` workers deliver, retrying network errors, timeouts, 408,
 * 429 (honoring Retry-After, capped) and 5xx with exponential backoff and full
 * jitter. Throws CONFIG_INVALID for a bad URL, a short secret or a bad limit.
 */
export function createWebhookNotifier(options: WebhookNotifierOptions): Notifier {
  const notifier = new WebhookNotifier(options);
  return Object.freeze({
    notify: (notification: Notification) => notifier.notify(notification),
    stats: () => notifier.stats(),
    close: () => notifier.close(),
  });
}

class WebhookNotifier {
  readonly #settings: Settings;
  readonly #fetch: typeof fetch;
  readonly #clock: () => number;
  readonly #random: () => number;
  readonly #onError: WebhookNotifierOptions['onError'];
  readonly #onDelivered: WebhookNotifierOptions['onDelivered'];
  readonly #log: NotifierLog;

  readonly #queue = new Fifo<Job>();
  #active = 0;
  #pumpScheduled = false;
  /** Monotonic time before which no attempt starts (a receiver's Retry-After). */
  #pausedUntil = 0;
  #overflowing = false;
  #closing: Promise<void> | undefined;
  /** Aborted by close(): cancels backoff waits. */
  readonly #stopRetries = new AbortController();
  /** Aborted at close()'s deadline: cancels attempts in flight. */
  readonly #abortAll = new AbortController();
  #idleWaiters: (() => void)[] = [];

  #queued = 0;
  #delivered = 0;
  #failed = 0;
  #retries = 0;
  #dropped = 0;
  #lastError: { readonly at: string; readonly message: string } | undefined;

  constructor(options: WebhookNotifierOptions) {
    this.#settings = Object.freeze(validate(options));
    this.#fetch = options.fetch ?? fetch;
    this.#clock = options.clock ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#onError = options.onError;
    this.#onDelivered = options.onDelivered;
    const log = options.log;
    this.#log = (level, message, detail) => {
      if (log) this.#hook(() => log(level, message, detail), true);
    };
  }

  notify(notification: Notification): void {
    try {
      this.#accept(notification);
    } catch (err) {
      // Only a hostile getter can land here; the caller must never see it.
      this.#recordError(`notify failed: ${describe(err)}`);
    }
  }

  stats(): NotifierStats {
    return {
      queued: this.#queued,
      delivered: this.#delivered,
      failed: this.#failed,
      retries: this.#retries,
      dropped: this.#dropped,
      pending: this.#queue.length + this.#active,
      ...(this.#lastError ? { lastError: this.#lastError } : {}),
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  #accept(notification: Notification): void {
    if (this.#closing) {
      this.#dropped++;
      this.#report({ reason: 'closed', message: 'notifier closed, notification dropped', willRetry: false }, notification, 0);
      return;
    }
    if (this.#queue.length + this.#active >= this.#settings.queueLimit) {
      this.#dropped++;
      const message = `queue full (${this.#settings.queueLimit}), notification dropped`;
      if (!this.#overflowing) {
        this.#overflowing = true;
        this.#log('warn', `webhook ${this.#settings.origin}: ${message}; dropping until it drains`, { dropped: this.#dropped });
      }
      this.#report({ reason: 'queue-full', message, willRetry: false }, notification, 0, false);
      return;
    }
    let body: string;
    try {
      body = renderBody(notification, this.#settings.format);
    } catch (err) {
      this.#failed++;
      this.#report({ reason: 'unserializable', message: `cannot serialize notification: ${describe(err)}`, willRetry: false, cause: err }, notification, 0);
      return;
    }
    this.#overflowing = false;
    this.#queued++;
    this.#queue.push({ notification, body });
    if (!this.#pumpScheduled) {
      this.#pumpScheduled = true;
      // Deliveries start on a later turn of the event loop: signing and the first fetch stay off the caller's path.
      setImmediate(() => {
        this.#pumpScheduled = false;
        this.#pump();
      });
    }
  }

  #pump(): void {
    while (this.#active < this.#settings.concurrency) {
      const job = this.#queue.shift();
      if (!job) break;
      this.#active++;
      this.#deliver(job)
        .catch((err: unknown) => {
          this.#failed++;
          this.#report({ reason: 'network', message: `delivery failed unexpectedly: ${describe(err)}`, willRetry: false, cause: err }, job.notification, 0);
        })
        .finally(() => {
          this.#active--;
          this.#pump();
          if (this.#active === 0 && this.#queue.length === 0) this.#wakeIdle();
        });
    }
  }

  async #deliver(job: Job): Promise<void> {
    const { maxAttempts } = this.#settings;
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) this.#retries++;
      const outcome = await this.#attempt(job, attempt);
      if (outcome.ok) {
        this.#delivered++;
        this.#hook(() => this.#onDelivered?.(job.notification, { status: outcome.status, attempts: attempt }));
        return;
      }
      const closing = this.#stopRetries.signal.aborted;
      const willRetry = outcome.retryable && attempt < maxAttempts && !closing;
      const retryInMs = willRetry ? (outcome.retryAfterMs ?? this.#backoff(attempt)) : undefined;
      const failure: DeliveryFailure = {
        reason: outcome.reason,
        message: outcome.message,
        willRetry,
        ...(outcome.status === undefined ? {} : { status: outcome.status }),
        ...(retryInMs === undefined ? {} : { retryInMs }),
        ...(outcome.cause === undefined ? {} : { cause: outcome.cause }),
      };
      if (!willRetry) {
        this.#failed++;
        const why = !outcome.retryable ? 'not retried' : closing ? 'notifier closing, not retried' : `gave up after ${attempt} attempts`;
        this.#report({ ...failure, message: `${outcome.message} (${why})` }, job.notification, attempt);
        return;
      }
      this.#report(failure, job.notification, attempt);
      if (outcome.retryAfterMs !== undefined) this.#pausedUntil = Math.max(this.#pausedUntil, performance.now() + outcome.retryAfterMs);
      const waited = await delay(Math.max(retryInMs ?? 0, this.#pausedUntil - performance.now()), this.#stopRetries.signal);
      if (!waited) {
        this.#failed++;
        this.#report({ reason: 'closed', message: `notifier closed before attempt ${attempt + 1}, abandoned`, willRetry: false }, job.notification, attempt);
        return;
      }
    }
  }

  async #attempt(job: Job, attempt: number): Promise<AttemptOutcome> {
    const { url, origin, secret, timeoutMs } = this.#settings;
    const paused = this.#pausedUntil - performance.now();
    if (paused > 0 && !(await delay(paused, this.#stopRetries.signal))) {
      return { ok: false, reason: 'closed', message: `notifier closed while ${origin} asked to wait`, retryable: false };
    }
    const { notification, body } = job;
    const timestamp = Math.floor(this.#clock() / 1000);
    const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#abortAll.signal]);
    try {
      const res = await this.#fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'governor-notifier/1',
          [SIGNATURE_HEADER]: signWebhookBody(secret, body, timestamp),
          [EVENT_HEADER]: headerValue(notification.type),
          [DELIVERY_HEADER]: headerValue(notification.id),
        },
        body,
        redirect: 'manual',
        signal,
      });
      const { status } = res;
      if (status >= 200 && status < 300) {
        await discard(res);
        return { ok: true, status };
      }
      if (status >= 300 && status < 400) {
        await discard(res);
        return { ok: false, reason: 'redirect', status, retryable: false, message: `${origin} answered HTTP ${status} (redirect to ${locationOrigin(res, url)}); redirects are not followed` };
      }
      const text = await readCapped(res, ERROR_BODY_BYTES);
      const retryable = status === 408 || status === 429 || status >= 500;
      const retryAfterMs = status === 429 || status === 503 ? this.#retryAfter(res.headers.get('retry-after')) : undefined;
      return {
        ok: false,
        reason: 'status',
        status,
        retryable,
        message: `${origin} answered HTTP ${status}: ${snippet(text)}`,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      };
    } catch (err) {
      if (this.#abortAll.signal.aborted) {
        return { ok: false, reason: 'closed', retryable: false, message: `attempt ${attempt} to ${origin} abandoned at close`, cause: err };
      }
      if (err instanceof Error && err.name === 'TimeoutError') {
        return { ok: false, reason: 'timeout', retryable: true, message: `${origin} did not answer within ${timeoutMs} ms`, cause: err };
      }
      return { ok: false, reason: 'network', retryable: true, message: `${origin}: ${describeFetchError(err)}`, cause: err };
    }
  }

  /** Full jitter: uniform in [0, min(cap, base · 2^(n-1))). */
  #backoff(failedAttempts: number): number {
    const { baseDelayMs, maxDelayMs } = this.#settings;
    const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (failedAttempts - 1));
    const r = this.#random();
    return Math.floor((Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 1) * ceiling);
  }

  /** A Retry-After in seconds or as an HTTP date, capped at maxDelayMs; undefined when absent or unreadable. */
  #retryAfter(value: string | null): number | undefined {
    if (value === null) return undefined;
    const trimmed = value.trim();
    let ms: number;
    if (/^[0-9]{1,10}$/.test(trimmed)) ms = Number(trimmed) * 1000;
    else {
      const date = Date.parse(trimmed);
      if (Number.isNaN(date)) return undefined;
      ms = date - this.#clock();
    }
    return Math.min(Math.max(ms, 0), this.#settings.maxDelayMs);
  }

  async #close(): Promise<void> {
    this.#stopRetries.abort();
    const queuedAtClose = this.#queue.length;
    const idle = this.#whenIdle();
    // Jobs still queued get one attempt each until the deadline; none is retried.
    this.#pump();
    const deadline = new AbortController();
    const drained = await Promise.race([idle.then(() => true), delay(this.#settings.closeTimeoutMs, deadline.signal, true).then(() => false)]);
    deadline.abort();
    if (drained) return;

    let abandoned = 0;
    for (let job = this.#queue.shift(); job; job = this.#queue.shift()) {
      abandoned++;
      this.#failed++;
      this.#report({ reason: 'closed', message: 'notifier closed before this notification was attempted', willRetry: false }, job.notification, 0, false);
    }
    const inFlight = this.#active;
    this.#abortAll.abort();
    this.#log('warn', `webhook ${this.#settings.origin}: closed after ${this.#settings.closeTimeoutMs} ms with ${abandoned + inFlight} notifications undelivered`, {
      queuedAtClose,
      abandoned,
      inFlight,
    });
    await Promise.race([this.#whenIdle(), delay(ABORT_GRACE_MS, undefined, true)]);
  }

  #whenIdle(): Promise<void> {
    if (this.#active === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Counts the failure as the last error, calls onError and logs it (retries at warn, give-ups at error). */
  #report(failure: DeliveryFailure, notification: Notification, attempt: number, log = true): void {
    this.#recordError(failure.message);
    this.#hook(() => this.#onError?.(failure, notification, attempt));
    if (!log) return;
    const detail = { id: notification.id, type: notification.type, attempt, reason: failure.reason, ...(failure.status === undefined ? {} : { status: failure.status }) };
    if (failure.willRetry) this.#log('warn', `webhook delivery failed, retrying in ${failure.retryInMs ?? 0} ms: ${failure.message}`, detail);
    else this.#log('error', `webhook notification ${notification.id} not delivered: ${failure.message}`, detail);
  }

  #recordError(message: string): void {
    let at: string;
    try {
      at = new Date(this.#clock()).toISOString();
    } catch {
      // An injected clock that throws or returns garbage must not turn a report into a fault.
      at = new Date().toISOString();
    }
    this.#lastError = { at, message };
  }

  /** Runs a caller's hook; a hook that throws is logged, never propagated into delivery. */
  #hook(run: () => void, isLog = false): void {
    try {
      run();
    } catch (err) {
      // A throwing log sink has nowhere left to report to.
      if (!isLog) this.#log('error', `webhook notifier hook threw: ${describe(err)}`);
    }
  }
}

function validate(options: WebhookNotifierOptions): Settings {
  if (typeof options.url !== 'string' || !URL.canParse(options.url)) throw new GovernorError('CONFIG_INVALID', 'webhook url must be an absolute http(s) URL');
  const parsed = new URL(options.url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new GovernorError('CONFIG_INVALID', `webhook url must be http(s), not ${parsed.protocol}`);
  assertSecret(options.secret);
  const format = options.format ?? 'json';
  if (format !== 'json' && format !== 'slack') throw new GovernorError('CONFIG_INVALID', `webhook format must be json or slack, not ${JSON.stringify(format)}`);
  const settings: Settings = {
    url: parsed.href,
    origin: parsed.origin,
    secret: options.secret,
    format,
    timeoutMs: integer('timeoutMs', options.timeoutMs, DEFAULT_WEBHOOK_TIMEOUT_MS, 1),
    maxAttempts: integer('maxAttempts', options.maxAttempts, DEFAULT_WEBHOOK_MAX_ATTEMPTS, 1),
    baseDelayMs: integer('baseDelayMs', options.baseDelayMs, 500, 0),
    maxDelayMs: integer('maxDelayMs', options.maxDelayMs, 60_000, 0),
    queueLimit: integer('queueLimit', options.queueLimit, 10_000, 1),
    concurrency: integer('concurrency', options.concurrency, 4, 1),
    closeTimeoutMs: integer('closeTimeoutMs', options.closeTimeoutMs, 2000, 0),
  };
  if (settings.maxDelayMs < settings.baseDelayMs) throw new GovernorError('CONFIG_INVALID', `webhook maxDelayMs (${settings.maxDelayMs}) must be >= baseDelayMs (${settings.baseDelayMs})`);
  return settings;
}

function integer(name: string, value: number | undefined, fallback: number, min: number): number {
  const n = value ?? fallback;
  // setTimeout's ceiling (2^31 - 1 ms) bounds every delay and limit.
  if (!Number.isSafeInteger(n) || n < min || n > 2 ** 31 - 1) throw new GovernorError('CONFIG_INVALID', `webhook ${name} must be an integer >= ${min}, got ${String(value)}`);
  return n;
}

/** The request body for `format`; throws when `data` is not serializable. */
function renderBody(n: Notification, format: WebhookFormat): string {
  if (format === 'slack') return JSON.stringify(slackMessage(n));
  return JSON.stringify({ type: n.type, id: n.id, at: n.at, title: n.title, text: n.text, recipients: n.recipients, url: n.url, data: n.data });
}

/**
 * A Slack incoming-webhook message: `text` (the fallback shown in
 * notifications) and Block Kit blocks. Slack refuses the whole message when a
 * block breaks a limit, so fields are cut to fit and a link Slack would refuse
 * is left out of the button.
 */
function slackMessage(n: Notification): { text: string; blocks: object[] } {
  const title = n.title.trim() === '' ? n.type : n.title;
  const blocks: object[] = [{ type: 'header', text: { type: 'plain_text', text: cut(title, SLACK_HEADER_MAX) } }];
  if (n.text.trim() !== '') blocks.push({ type: 'section', text: { type: 'mrkdwn', text: cut(escapeSlack(n.text), SLACK_TEXT_MAX) } });
  const context = [`*${escapeSlack(n.type)}*`, n.recipients.length > 0 ? `for ${n.recipients.map(escapeSlack).join(', ')}` : 'no owner on record', `id \`${escapeSlack(n.id)}\``];
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: cut(context.join(' · '), SLACK_TEXT_MAX) }] });
  if (n.url !== undefined && isLinkable(n.url)) {
    blocks.push({ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open in Governor' }, url: n.url }] });
  }
  return { text: cut(escapeSlack(title), SLACK_TEXT_MAX), blocks };
}

function isLinkable(url: string): boolean {
  return url.length <= SLACK_URL_MAX && URL.canParse(url) && /^https?:$/.test(new URL(url).protocol);
}

/** Slack's mrkdwn control characters: without this, agent-chosen text could `<!channel>` a workspace. */
function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** At most `max` code points, with an ellipsis when cut. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const points = Array.from(text);
  return points.length <= max ? text : points.slice(0, max - 1).join('') + '…';
}

/** Header values must be visible ASCII: anything else (a newline from a hostile id) is percent-encoded. */
function headerValue(value: string): string {
  if (/^[\x21-\x7e]*$/.test(value) && !value.includes('%')) return value;
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out += byte > 0x20 && byte < 0x7f && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function locationOrigin(res: Response, base: string): string {
  const location = res.headers.get('location');
  if (location === null || !URL.canParse(location, base)) return 'nowhere';
  return new URL(location, base).origin;
}

async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // The answer is already judged by its status; its body does not matter.
  }
}

/** Reads at most `max` bytes of the body as text and discards the rest unread. */
async function readCapped(res: Response, max: number): Promise<string> {
  const body = res.body;
  if (!body) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < max) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // A body cut short still leaves us the status; keep what arrived.
  } finally {
    reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

function snippet(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim().slice(0, 300);
  return line.length > 0 ? line : '(empty body)';
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // undici reports the socket error (ECONNREFUSED, ...) as the cause of "fetch failed".
  const cause = err.cause instanceof Error ? `: ${(err.cause as NodeJS.ErrnoException).code ?? err.cause.message}` : '';
  return `${err.message}${cause}`;
}

/**
 * Resolves true after `ms`, or false at once when `signal` aborts first.
 * Unless `keepAlive`, the timer does not hold the process open: a pending
 * retry is no reason to keep running.
 */
function delay(ms: number, signal?: AbortSignal, keepAlive = false): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve(false);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, Math.max(0, ms));
    if (!keepAlive) timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A FIFO queue with O(1) shift. */
class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head++;
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isGovernorError } from '../core/errors.js';
import { combineNotifiers, createNoopNotifier, type Notification, type Notifier } from './notifier.js';
import { signWebhookBody, verifyWebhookSignature } from './verify-signature.js';
import { createWebhookNotifier, type DeliveryFailure, type WebhookNotifierOptions } from './webhook-notifier.js';

const SECRET = 'whsec-0123456789abcdef';
const NOW = Date.parse('2026-11-21T10:00:00.000Z');

/** One request as the receiver saw it: headers and the raw body bytes. */
interface Received {
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
  readonly at: number;
}

/** What the receiver does with the n-th request (0-based): answer, or never answer. */
type Behavior = (index: number, res: ServerResponse) => void;

interface Receiver {
  readonly url: string;
  readonly requests: Received[];
  close(): Promise<void>;
}

const servers: Server[] = [];
const notifiers: Notifier[] = [];

afterEach(async () => {
  await Promise.all(notifiers.splice(0).map((n) => n.close()));
  await Promise.all(
    servers.splice(0).map((s) => {
      s.closeAllConnections();
      return new Promise((r) => s.close(r));
    }),
  );
});

async function receiver(behavior: Behavior = (_, res) => res.writeHead(204).end()): Promise<Receiver> {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const index = requests.length;
      requests.push({ headers: req.headers, body: Buffer.concat(chunks), at: performance.now() });
      behavior(index, res);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/governor`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** A URL nobody listens on: a server was there a moment ago. */
async function refusedUrl(): Promise<string> {
  const gone = await receiver();
  await gone.close();
  return gone.url;
}

function notifier(options: Partial<WebhookNotifierOptions> & { url: string }): Notifier {
  const n = createWebhookNotifier({ secret: SECRET, clock: () => NOW, ...options });
  notifiers.push(n);
  return n;
}

function notification(overrides: Partial<Notification> = {}): Notification {
  return {
    id: 'evt_01',
    type: 'approval.requested',
    at: '2026-11-21T10:00:00.000Z',
    title: 'deploy checkout in prod held for approval (high risk)',
    text: 'deploy-bot asks to deploy checkout v2.3.1 to prod.\nBlast radius: 3 services.',
    recipients: ['team-payments', 'sre'],
    url: 'https://governor.example/decisions/d-1',
    data: { decisionId: 'd-1', risk: 'high', reasons: ['APPROVAL_REQUIRED'] },
    ...overrides,
  };
}

function failures(): { calls: { failure: DeliveryFailure; id: string; attempt: number }[]; onError: NonNullable<WebhookNotifierOptions['onError']> } {
  const calls: { failure: DeliveryFailure; id: string; attempt: number }[] = [];
  return { calls, onError: (failure, n, attempt) => calls.push({ failure, id: n.id, attempt }) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('webhook notifier, delivery', () => {
  it('POSTs the JSON event with a Stripe-style signature a receiver can verify', async () => {
    const rx = await receiver();
    const delivered: number[] = [];
    const n = notifier({ url: rx.url, onDelivered: (_, receipt) => delivered.push(receipt.attempts) });
    n.notify(notification());
    await vi.waitFor(() => expect(n.stats().delivered).toBe(1));

    expect(rx.requests).toHaveLength(1);
    const [req] = rx.requests;
    const body = req!.body.toString('utf8');
    expect(Object.keys(JSON.parse(body))).toEqual(['type', 'id', 'at', 'title', 'text', 'recipients', 'url', 'data']);
    expect(JSON.parse(body)).toEqual(notification());
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers['user-agent']).toBe('governor-notifier/1');
    expect(req!.headers['x-governor-event']).toBe('approval.requested');
    expect(req!.headers['x-governor-delivery']).toBe('evt_01');

    const header = req!.headers['x-governor-signature'] as string;
    const t = Math.floor(NOW / 1000);
    expect(header).toBe(`t=${t},v1=${createHmac('sha256', SECRET).update(`${t}.${body}`).digest('hex')}`);
    expect(verifyWebhookSignature({ secret: SECRET, header, body: req!.body, now: NOW + 10_000 })).toEqual({ ok: true });
    expect(n.stats()).toEqual({ queued: 1, delivered: 1, failed: 0, retries: 0, dropped: 0, pending: 0 });
    expect(delivered).toEqual([1]);
  });

  it('sends the data as it was when queued, not as the caller changes it later', async () => {
    const rx = await receiver();
    const n = notifier({ url: rx.url });
    const data = { state: 'pending' };
    n.notify(notification({ data }));
    data.state = 'changed';
    await vi.waitFor(() => expect(n.stats().delivered).toBe(1));
    expect(JSON.parse(rx.requests[0]!.body.toString()).data).toEqual({ state: 'pending' });
  });

  it('formats a Slack incoming-webhook message, escaping mrkdwn so agent text cannot ping a channel', async () => {
    const rx = await receiver();
    const n = notifier({ url: rx.url, format: 'slack' });
    n.notify(notification({ text: 'run <!channel> & drop table', title: 'x'.repeat(400) }));
    await vi.waitFor(() => expect(n.stats().delivered).toBe(1));

    const body = JSON.parse(rx.requests[0]!.body.toString());
    expect(Object.keys(body).sort()).toEqual(['blocks', 'text']);
    expect(body.blocks.map((b: { type: string }) => b.type)).toEqual(['header', 'section', 'context', 'actions']);
    const [header, section, context, actions] = body.blocks;
    expect(header.text.type).toBe('plain_text');
    expect(header.text.text).toHaveLength(150);
    expect(section.text).toEqual({ type: 'mrkdwn', text: 'run &lt;!channel&gt; &amp; drop table' });
    expect(context.elements[0].text).toContain('for team-payments, sre');
    expect(context.elements[0].text).toContain('approval.requested');
    expect(actions.elements[0]).toMatchObject({ type: 'button', url: 'https://governor.example/decisions/d-1' });
    expect(verifyWebhookSignature({ secret: SECRET, header: rx.requests[0]!.headers['x-governor-signature'] as string, body: rx.requests[0]!.body, now: NOW }).ok).toBe(true);
  });

  it('leaves out of a Slack message the button and the recipients it does not have', async () => {
    const rx = await receiver();
    const n = notifier({ url: rx.url, format: 'slack' });
    const { url: _, ...withoutUrl } = notification();
    n.notify({ ...withoutUrl, recipients: [] });
    await vi.waitFor(() => expect(n.stats().delivered).toBe(1));
    const body = JSON.parse(rx.requests[0]!.body.toString());
    expect(body.blocks.map((b: { type: string }) => b.type)).toEqual(['header', 'section', 'context']);
    expect(body.text).toBe(notification().title);
  });

  it('percent-encodes an id or type that would break a header', async () => {
    const rx = await receiver();
    const n = notifier({ url: rx.url });
    n.notify(notification({ id: 'evt\r\nX-Injected: 1', type: 'approval requested' }));
    await vi.waitFor(() => expect(n.stats().delivered).toBe(1));
    expect(rx.requests[0]!.headers['x-governor-delivery']).toBe('evt%0D%0AX-Injected:%201');
    expect(rx.requests[0]!.headers['x-governor-event']).toBe('approval%20requested');
    expect(rx.requests[0]!.headers['x-injected']).toBeUndefined();
  });

  it('counts an unserializable notification as failed without throwing', async () => {
    const rx = await receiver();
    const { calls, onError } = failures();
    const n = notifier({ url: rx.url, onError });
    expect(() => n.notify(notification({ data: { big: 1n } }))).not.toThrow();
    expect(n.stats()).toMatchObject({ queued: 0, failed: 1 });
    expect(calls[0]?.failure).toMatchObject({ reason: 'unserializable', willRetry: false });
    await sleep(20);
    expect(rx.requests).toHaveLength(0);
  });
});

describe('webhook notifier, retries', () => {
  it('retries 5xx with exponential backoff, the same delivery id and a fresh signature, then succeeds', async () => {
    const rx = await receiver((i, res) => res.writeHead(i < 2 ? 500 : 200).end(i < 2 ? 'database is down' : 'ok'));
    const { calls, onError } = failures();
    let now = NOW;
    // random() = 1 makes full jitter take its ceiling: 40 ms, then 80 ms.
    const n = notifier({ url: rx.url, baseDelayMs: 40, random: () => 1, onError, clock: () => (now += 1000) });
    n.notify(notification());
    await vi.waitFor(() => expect(n.stats().delivered).toBe(1));

    expect(rx.requests).toHaveLength(3);
    const [a, b, c] = rx.requests as [Received, Received, Received];
    expect(b.at - a.at).toBeGreaterThanOrEqual(35);
    expect(c.at - b.at).toBeGreaterThanOrEqual(75);
    expect(new Set(rx.requests.map((r) => r.headers['x-governor-delivery']))).toEqual(new Set(['evt_01']));
    expect(new Set(rx.requests.map((r) => r.headers['x-governor-signature'])).size).toBe(3);
    expect(calls.map((c) => [c.attempt, c.failure.status, c.failure.willRetry, c.failure.retryInMs])).toEqual([
      [1, 500, true, 40],
      [2, 500, true, 80],
    ]);
    expect(calls[0]!.failure.message).toMatch(/HTTP 500: database is down/);
    expect(calls[0]!.failure.message).not.toContain('/hooks/governor');
    expect(n.stats()).toMatchObject({ delivered: 1, failed: 0, retries: 2, pending: 0 });
  });

  it('draws each backoff uniformly below its ceiling (full jitter)', async () => {
    const rx = await receiver((i, res) => res.writeHead(i < 3 ? 503 : 200).end());
    const { calls, onError } = failures();
    const n = notifier({ url: rx.url, baseDelayMs: 100, maxDelayMs: 150, random: () => 0.25, onError });
    n.notify(notification());
    await vi.waitFor(() => expect(n.stats().delivered).toBe(1));
    // Ceilings 100, 200 → capped 150, 400 → capped 150; a quarter of each.
    expect(calls.map((c) => c.failure.retryInMs)).toEqual([25, 37, 37]);
  });

  it('honors a 429 Retry-After in seconds over its own (zero) backoff', async () => {
    const rx = await receiver((i, res) => (i === 0 ? res.writeHead(429, { 'retry-after': '1' }).end('slow down') : res.writeHead(200).end()));
    const { calls, onError } = failures();
    const n = notifier({ url: rx.url, baseDelayMs: 10, random: () => 0, onError });
    n.notify(notification());
    await vi.waitFor(() => expect(n.stats().delivered).toBe(1), { timeout: 5000 });
    expect(rx.requests[1]!.at - rx.requests[0]!.at).toBeGreaterThanOrEqual(950);
    expect(calls[0]!.failure).toMatchObject({ reason: 'status', status: 429, willRetry: true, retryInMs: 1000 });
  });

  it('caps a Retry-After at maxDelayMs and pauses every worker, not only the one refused', async () => {
    const rx = await receiver((i, res) => (i === 0 ? res.writeHead(429, { 'retry-after': '3600' }).end() : res.writeHead(200).end()));
    const n = notifier({ url: rx.url, maxDelayMs: 150, baseDelayMs: 10, random: () => 0, concurrency: 2 });
    n.notify(notification({ id: 'a' }));
    await vi.waitFor(() => expect(rx.requests).toHaveLength(1));
    await sleep(20);
    // A free worker takes 'b' at once, but the receiver asked to be left alone.
    n.notify(notification({ id: 'b' }));
    await vi.waitFor(() => expect(n.stats().delivered).toBe(2), { timeout: 2000 });
    const [first, ...later] = rx.requests as [Received, ...Received[]];
    expect(later.map((r) => r.headers['x-governor-delivery']).sort()).toEqual(['a', 'b']);
    for (const r of later) {
      expect(r.at - first.at).toBeGreaterThanOrEqual(140);
      expect(r.at - first.at).toBeLessThan(1000);
    }
  });

  it('does not retry a 400: counts it failed and reports the receiver reason', async () => {
    const rx = await receiver((_, res) => res.writeHead(400).end('missing field: type'));
    const { calls, onError } = failures();
    const logged: string[] = [];
    const n = notifier({ url: rx.url, baseDelayMs: 1, onError, log: (level, message) => logged.push(`${level}: ${message}`) });
    n.notify(notification());
    await vi.waitFor(() => expect(n.stats().failed).toBe(1));
    await sleep(50);
    expect(rx.requests).toHaveLength(1);
    expect(n.stats()).toMatchObject({ delivered: 0, failed: 1, retries: 0, pending: 0 });
    expect(n.stats().lastError?.message).toMatch(/HTTP 400: missing field: type \(not retried\)/);
    expect(calls).toEqual([{ id: 'evt_01', attempt: 1, failure: expect.objectContaining({ status: 400, willRetry: false }) }]);
    expect(logged).toEqual([expect.stringMatching(/^error: webhook notification evt_01 not delivered/)]);
  });

  it('retries a 408', async () => {
    const rx = await receiver((i, res) => res.writeHead(i === 0 ? 408 : 200).end());
    const n = notifier({ url: rx.url, baseDelayMs: 1 });
    n.notify(notification());
    await vi.waitFor(() => expect(n.stats().delivered).toBe(1));
    expect(n.stats().retries).toBe(1);
  });

  it('never follows a redirect, and does not retry it', async () => {
    const elsewhere = await receiver();
    const rx = await receiver((_, res) => res.writeHead(307, { location: elsewhere.url }).end());
    const { calls, onError } = failures();
    const n = notifier({ url: rx.url, baseDelayMs: 1, onError });
    n.notify(notification());
    await vi.waitFor(() => expect(n.stats().failed).toBe(1));
    await sleep(50);
    expect(rx.requests).toHaveLength(1);
    expect(elsewhere.requests).toHaveLength(0);
    expect(calls[0]!.failure).toMatchObject({ reason: 'redirect', status: 307, willRetry: false });
  });

  it('gives up on an attempt at its timeout and retries it', async () => {
    // The first request never gets an answer; the second does.
    const rx = await receiver((i, res) => (i === 0 ? undefined : res.writeHead(200).end()));
    const { calls, onError } = failures();
    const n = notifier({ url: rx.url, timeoutMs: 150, baseDelayMs: 1, onError });
    const started = performance.now();
    n.notify(notification());
    await vi.waitFor(() => expect(n.stats().delivered).toBe(1));
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(calls[0]).toMatchObject({ attempt: 1, failure: { reason: 'timeout', willRetry: true } });
    expect(rx.requests).toHaveLength(2);
  });

  it('gives up on a receiver that answers headers but never finishes its error body', async () => {
    const rx = await receiver((_, res) => {
      res.writeHead(502);
      res.write('partial');
    });
    const n = notifier({ url: rx.url, timeoutMs: 100, maxAttempts: 2, baseDelayMs: 1 });
    n.notify(notification());
    await vi.waitFor(() => expect(n.stats().failed).toBe(1));
    expect(n.stats().lastError?.message).toMatch(/HTTP 502: partial \(gave up after 2 attempts\)/);
  });

  it('keeps at most 512 bytes of a refusal body', async () => {
    const rx = await receiver((_, res) => res.writeHead(500).end('e'.repeat(1_000_000)));
    const n = notifier({ url: rx.url, maxAttempts: 1 });
    n.notify(notification());
    await vi.waitFor(() => expect(n.stats().failed).toBe(1));
    expect(n.stats().lastError!.message.length).toBeLessThan(400);
  });

  it('retries a receiver that is down, then counts the notification failed and reports every attempt', async () => {
    const url = await refusedUrl();
    const { calls, onError } = failures();
    const n = notifier({ url, maxAttempts: 3, baseDelayMs: 5, onError });
    n.notify(notification());
    await vi.waitFor(() => expect(n.stats().failed).toBe(1));
    expect(calls.map((c) => [c.attempt, c.failure.reason, c.failure.willRetry])).toEqual([
      [1, 'network', true],
      [2, 'network', true],
      [3, 'network', false],
    ]);
    expect(calls[2]!.failure.message).toMatch(/ECONNREFUSED.*gave up after 3 attempts/);
    expect(n.stats()).toMatchObject({ queued: 1, delivered: 0, failed: 1, retries: 2, pending: 0 });
    expect(n.stats().lastError).toEqual({ at: new Date(NOW).toISOString(), message: calls[2]!.failure.message });
  });

  it('survives hooks and a log sink that throw', async () => {
    const url = await refusedUrl();
    const boom = () => {
      throw new Error('hook broke');
    };
    const n = notifier({ url, maxAttempts: 2, baseDelayMs: 1, onError: boom, onDelivered: boom, log: boom });
    expect(() => n.notify(notification())).not.toThrow();
    await vi.waitFor(() => expect(n.stats().failed).toBe(1));
  });
});

describe('webhook notifier, queue and close', () => {
  it('drops the newest notifications when the queue is full, and counts them', async () => {
    const rx = await receiver(() => undefined);
    const { calls, onError } = failures();
    const logged: string[] = [];
    const n = notifier({ url: rx.url, queueLimit: 3, concurrency: 1, onError, closeTimeoutMs: 50, log: (_, m) => logged.push(m) });
    for (let i = 0; i < 10; i++) n.notify(notification({ id: `evt_${i}` }));
    expect(n.stats()).toMatchObject({ queued: 3, dropped: 7, pending: 3 });
    expect(calls.map((c) => c.id)).toEqual(['evt_3', 'evt_4', 'evt_5', 'evt_6', 'evt_7', 'evt_8', 'evt_9']);
    expect(calls.every((c) => c.failure.reason === 'queue-full' && c.attempt === 0)).toBe(true);
    // One log line per overflow, not one per notification.
    expect(logged.filter((m) => m.includes('queue full'))).toHaveLength(1);
    await vi.waitFor(() => expect(rx.requests.map((r) => r.headers['x-governor-delivery'])).toEqual(['evt_0']));
  });

  it('returns from notify in well under a millisecond while the receiver hangs', async () => {
    const rx = await receiver(() => undefined);
    const n = notifier({ url: rx.url, closeTimeoutMs: 50 });
    n.notify(notification({ id: 'warm-up' }));
    await vi.waitFor(() => expect(rx.requests).toHaveLength(1));
    const times: number[] = [];
    for (let i = 0; i < 500; i++) {
      const started = performance.now();
      n.notify(notification({ id: `evt_${i}` }));
      times.push(performance.now() - started);
    }
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    expect(mean).toBeLessThan(0.1);
    expect(n.stats()).toMatchObject({ queued: 501, dropped: 0 });
  });

  it('closes at once when the only work left is waiting for a retry, and counts it failed', async () => {
    const url = await refusedUrl();
    const { calls, onError } = failures();
    const n = notifier({ url, baseDelayMs: 60_000, random: () => 1, onError });
    n.notify(notification());
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    const started = performance.now();
    await n.close();
    expect(performance.now() - started).toBeLessThan(100);
    expect(n.stats()).toMatchObject({ failed: 1, pending: 0 });
    expect(calls[1]!.failure).toMatchObject({ reason: 'closed', willRetry: false });
  });

  it('waits for a hanging delivery only until its close deadline, then abandons it', async () => {
    const rx = await receiver(() => undefined);
    const n = notifier({ url: rx.url, closeTimeoutMs: 200 });
    n.notify(notification({ id: 'a' }));
    await vi.waitFor(() => expect(rx.requests).toHaveLength(1));
    const started = performance.now();
    await n.close();
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(1000);
    expect(n.stats()).toMatchObject({ failed: 1, pending: 0 });
  });

  it('gives queued notifications one attempt at close, and drops any notified after', async () => {
    const rx = await receiver((i, res) => res.writeHead(i === 0 ? 200 : 500).end());
    const n = notifier({ url: rx.url, concurrency: 1, baseDelayMs: 1 });
    n.notify(notification({ id: 'a' }));
    n.notify(notification({ id: 'b' }));
    await n.close();
    n.notify(notification({ id: 'c' }));
    expect(rx.requests.map((r) => r.headers['x-governor-delivery'])).toEqual(['a', 'b']);
    expect(n.stats()).toMatchObject({ queued: 2, delivered: 1, failed: 1, retries: 0, dropped: 1, pending: 0 });
  });
});

describe('webhook notifier, configuration', () => {
  it('refuses a short secret, a bad URL, an unknown format and nonsense limits with CONFIG_INVALID', () => {
    const url = 'https://hooks.example/x';
    const bad: WebhookNotifierOptions[] = [
      { url, secret: 'too-short' },
      { url: 'not a url', secret: SECRET },
      { url: 'ftp://hooks.example/x', secret: SECRET },
      { url, secret: SECRET, format: 'xml' as 'json' },
      { url, secret: SECRET, maxAttempts: 0 },
      { url, secret: SECRET, concurrency: 1.5 },
      { url, secret: SECRET, baseDelayMs: 100, maxDelayMs: 10 },
    ];
    for (const options of bad) {
      expect(() => createWebhookNotifier(options), JSON.stringify(options)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    }
    try {
      createWebhookNotifier({ url, secret: 'short' });
    } catch (err) {
      expect(isGovernorError(err, 'CONFIG_INVALID') && !err.message.includes('short')).toBe(true);
    }
  });
});

describe('verifyWebhookSignature', () => {
  const body = '{"type":"approval.requested","id":"evt_01"}';
  const t = Math.floor(NOW / 1000);
  const header = signWebhookBody(SECRET, body, t);

  it('accepts the signed body within the tolerance, as a string or bytes', () => {
    expect(verifyWebhookSignature({ secret: SECRET, header, body, now: NOW })).toEqual({ ok: true });
    expect(verifyWebhookSignature({ secret: SECRET, header, body: Buffer.from(body), now: NOW - 299_000 })).toEqual({ ok: true });
  });

  it('rejects a tampered body', () => {
    expect(verifyWebhookSignature({ secret: SECRET, header, body: body.replace('evt_01', 'evt_02'), now: NOW })).toEqual({ ok: false, reason: 'SIGNATURE_MISMATCH' });
  });

  it('rejects a signature made with another secret', () => {
    expect(verifyWebhookSignature({ secret: 'another-secret-0123456789', header, body, now: NOW })).toEqual({ ok: false, reason: 'SIGNATURE_MISMATCH' });
  });

  it('rejects a timestamp outside the tolerance, past or future (a replay)', () => {
    expect(verifyWebhookSignature({ secret: SECRET, header, body, now: NOW + 301_000 })).toEqual({ ok: false, reason: 'TIMESTAMP_OUT_OF_TOLERANCE' });
    expect(verifyWebhookSignature({ secret: SECRET, header, body, now: NOW - 301_000 })).toEqual({ ok: false, reason: 'TIMESTAMP_OUT_OF_TOLERANCE' });
    expect(verifyWebhookSignature({ secret: SECRET, header, body, now: NOW + 30_000, toleranceSeconds: 10 })).toEqual({ ok: false, reason: 'TIMESTAMP_OUT_OF_TOLERANCE' });
  });

  it('rejects a signature moved to another timestamp', () => {
    const moved = header.replace(`t=${t}`, `t=${t + 1}`);
    expect(verifyWebhookSignature({ secret: SECRET, header: moved, body, now: NOW })).toEqual({ ok: false, reason: 'SIGNATURE_MISMATCH' });
  });

  it('rejects a missing or malformed header', () => {
    const v1 = header.split('v1=')[1]!;
    expect(verifyWebhookSignature({ secret: SECRET, header: undefined, body, now: NOW })).toEqual({ ok: false, reason: 'MISSING_HEADER' });
    expect(verifyWebhookSignature({ secret: SECRET, header: null, body, now: NOW })).toEqual({ ok: false, reason: 'MISSING_HEADER' });
    for (const malformed of ['garbage', `v1=${v1}`, `t=${t}`, `t=abc,v1=${v1}`, `t=${t},v1=${v1.slice(2)}`, `t=${t},v1=${v1.toUpperCase()}x`, `t=${t},t=${t},v1=${v1}`, `t=-1,v1=${v1}`, `=${t},v1=${v1}`]) {
      expect(verifyWebhookSignature({ secret: SECRET, header: malformed, body, now: NOW }), malformed).toEqual({ ok: false, reason: 'MALFORMED_HEADER' });
    }
  });

  it('accepts any of several v1 signatures and any of several secrets (rotation), ignoring unknown schemes', () => {
    const old = signWebhookBody('old-secret-0123456789', body, t).split('v1=')[1]!;
    const both = `t=${t},v0=legacy,v1=${old},${header.split(',')[1]!}`;
    expect(verifyWebhookSignature({ secret: SECRET, header: both, body, now: NOW })).toEqual({ ok: true });
    expect(verifyWebhookSignature({ secret: ['old-secret-0123456789', 'unrelated-secret-000'], header, body, now: NOW })).toEqual({ ok: false, reason: 'SIGNATURE_MISMATCH' });
    expect(verifyWebhookSignature({ secret: ['unrelated-secret-000', SECRET], header, body, now: NOW })).toEqual({ ok: true });
  });

  it('throws CONFIG_INVALID for a receiver secret shorter than 16 bytes', () => {
    expect(() => verifyWebhookSignature({ secret: 'short', header, body, now: NOW })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('noop and combined notifiers', () => {
  it('the noop notifier accepts everything and counts nothing', async () => {
    const n = createNoopNotifier();
    n.notify(notification());
    expect(n.stats()).toEqual({ queued: 0, delivered: 0, failed: 0, retries: 0, dropped: 0, pending: 0 });
    await n.close();
  });

  it('a combined notifier fans out, sums the counters, keeps the latest error and closes all', async () => {
    const rx = await receiver();
    const down = await refusedUrl();
    let now = NOW;
    const good = createWebhookNotifier({ url: rx.url, secret: SECRET });
    const bad = createWebhookNotifier({ url: down, secret: SECRET, maxAttempts: 1, clock: () => (now += 1000) });
    const broken: Notifier = {
      notify: () => {
        throw new Error('must not happen');
      },
      stats: () => ({ queued: 0, delivered: 0, failed: 0, retries: 0, dropped: 0, pending: 0, lastError: { at: '2000-01-01T00:00:00.000Z', message: 'old' } }),
      close: () => Promise.reject(new Error('close broke')),
    };
    const all = combineNotifiers([broken, good, bad]);
    expect(() => all.notify(notification())).not.toThrow();
    await vi.waitFor(() => expect(all.stats()).toMatchObject({ queued: 2, delivered: 1, failed: 1, pending: 0 }));
    expect(all.stats().lastError?.message).toMatch(/ECONNREFUSED/);
    await expect(all.close()).resolves.toBeUndefined();
    good.notify(notification());
    expect(good.stats().dropped).toBe(1);
  });
});

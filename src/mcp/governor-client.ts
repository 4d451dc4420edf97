/**
 * The MCP proxy's view of a running Governor: an HTTP client of the decision
 * API that authenticates with one agent credential. Every failure (network,
 * timeout, non-200, an answer of the wrong shape) is a value, never a throw,
 * so the proxy can fail closed on it.
 */

/** The four verdicts, as the decision API spells them. */
export type WireVerdict = 'allow' | 'modify' | 'pending' | 'deny';

/** One reason of a decision, as the API returns it. */
export interface WireReason {
  readonly rule: string;
  readonly primitive: string;
  readonly message: string;
  readonly effect?: string;
  readonly mode?: string;
  readonly code?: string;
}

/** The action an agent asks the proxy to forward. */
export interface WireAction {
  readonly tool: string;
  readonly environment: string;
  readonly params?: Readonly<Record<string, unknown>>;
  readonly reversible?: false;
  readonly intent?: string;
  readonly idempotencyKey?: string;
}

/** A decision, as much of it as the proxy reads. */
export interface WireDecision {
  readonly id: string;
  readonly verdict: WireVerdict;
  readonly state: string;
  /** The action as it may run: for `modify`, `params` holds the bounded arguments. */
  readonly action: { readonly tool: string; readonly environment: string; readonly params?: Readonly<Record<string, unknown>> };
  readonly reasons: readonly WireReason[];
  readonly approval?: { readonly tier?: string; readonly irreversible?: boolean; readonly expiresAt?: string; readonly releaseAt?: string };
  readonly resolution?: { readonly state?: string; readonly reason?: string; readonly by?: readonly string[] };
  readonly policy?: { readonly digest: string };
}

/** The verified identity behind an agent credential. */
export interface AgentPrincipal {
  readonly agent: string;
  readonly instance: string;
  readonly role: string;
  readonly session: string;
  readonly task?: string;
}

/** Who a credential belongs to (`GET /v1/whoami`). */
export type WhoAmI =
  | { readonly kind: 'agent'; readonly principal: AgentPrincipal }
  | { readonly kind: 'operator'; readonly operator: { readonly name: string; readonly groups: readonly string[] } };

/** An MCP tool definition sent for pinning and visibility (untrusted upstream data). */
export interface WireToolDefinition {
  readonly name: string;
  readonly description?: string;
  readonly inputSchema: unknown;
  readonly annotations?: unknown;
}

/** What Governor says about one listed tool. */
export interface WireToolCheck {
  readonly name: string;
  readonly hash: string;
  readonly pin: 'new' | 'match' | 'changed';
  /** A changed definition: calls are refused until an operator approves it. */
  readonly blocked: boolean;
  /** False for tools the policy can never allow this agent: hidden from tools/list. */
  readonly visible: boolean;
  readonly reason?: string;
}

/** A call's result: the value, or why there is none (`status` is the HTTP status, when there was one). */
export type GovernorResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string; readonly status?: number; readonly code?: string };

/** The decision API, as the proxy uses it. */
export interface GovernorClient {
  /** The server's base URL, without a trailing slash. */
  readonly url: string;
  whoami(signal?: AbortSignal): Promise<GovernorResult<WhoAmI>>;
  decide(action: WireAction, signal?: AbortSignal): Promise<GovernorResult<WireDecision>>;
  /** The decision now, long-polling up to `waitSeconds` (at most 60) while it is pending. */
  decision(id: string, waitSeconds: number, signal?: AbortSignal): Promise<GovernorResult<WireDecision>>;
  recordOutcome(id: string, outcome: { status: 'succeeded' | 'failed'; detail?: unknown }, signal?: AbortSignal): Promise<GovernorResult<unknown>>;
  checkTools(request: { server: string; environment: string; tools: readonly WireToolDefinition[] }, signal?: AbortSignal): Promise<GovernorResult<readonly WireToolCheck[]>>;
  /**
   * Watches `GET /v1/sessions/watch`: calls `onKilled` once when a kill
   * touches this credential (the kill switch closing a proxied session),
   * reconnecting with backoff while the stream fails. Returns the stop function.
   */
  watchKills(onKilled: (reason: string) => void): () => void;
}

/** How to reach Governor. */
export interface GovernorClientOptions {
  readonly url: string;
  /** The agent credential, or a function returning the current one (it may be rotated). */
  readonly token: string | (() => string);
  /** Time limit of one request that does not long-poll, ms. Default 10 000. */
  readonly requestTimeoutMs?: number;
  /** Substitute `fetch` (tests). */
  readonly fetch?: typeof fetch;
}

/** Longest long-poll the decision API accepts, seconds. */
export const MAX_WAIT_SECONDS = 60;
const VERDICTS: readonly string[] = ['allow', 'modify', 'pending', 'deny'];

/** Creates a client of the Governor at `options.url` for one agent credential. */
export function createGovernorClient(options: GovernorClientOptions): GovernorClient {
  const base = options.url.replace(/\/+$/, '');
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const doFetch = options.fetch ?? fetch;
  const token = typeof options.token === 'function' ? options.token : () => options.token as string;

  function watchKills(onKilled: (reason: string) => void): () => void {
    const stop = new AbortController();
    let delay = 500;
    const once = async (): Promise<boolean> => {
      const res = await doFetch(`${base}/v1/sessions/watch`, { headers: { authorization: `Bearer ${token()}`, accept: 'text/event-stream' }, signal: stop.signal });
      if (res.status === 401) {
        // The credential itself was revoked (a kill that happened while we were not watching).
        onKilled('the agent credential was refused (revoked by the kill switch, or expired)');
        return true;
      }
      if (!res.ok || !res.body) return false;
      delay = 500;
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let text = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return false;
        text = (text + decoder.decode(value, { stream: true })).slice(-65_536);
        const match = /event: killed\ndata: (.*)\n/.exec(text);
        if (match) {
          let reason = 'killed';
          try {
            const data = JSON.parse(match[1] as string) as { by?: string; reason?: string; kill?: string };
            reason = `killed by ${data.by ?? 'an operator'} (kill ${data.kill ?? '?'}): ${data.reason ?? ''}`;
          } catch {
            // The event itself is what matters.
          }
          onKilled(reason);
          return true;
        }
      }
    };
    void (async () => {
      while (!stop.signal.aborted) {
        const finished = await once().catch(() => false);
        if (finished || stop.signal.aborted) return;
        await new Promise((r) => setTimeout(r, delay).unref?.());
        delay = Math.min(delay * 2, 10_000);
      }
    })();
    return () => stop.abort();
  }

  async function call(method: 'GET' | 'POST', path: string, body: unknown, limitMs: number, signal?: AbortSignal): Promise<GovernorResult<unknown>> {
    const timeout = AbortSignal.timeout(limitMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token()}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: combined,
      });
    } catch (err) {
      if (signal?.aborted) return { ok: false, message: 'the request was cancelled' };
      if (timeout.aborted) return { ok: false, message: `Governor at ${base} did not answer within ${limitMs} ms` };
      const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
      return { ok: false, message: `cannot reach Governor at ${base}: ${cause}` };
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      return { ok: false, status: res.status, message: `Governor at ${base} answered ${res.status} but the body could not be read: ${(err as Error).message}` };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { ok: false, status: res.status, message: `Governor at ${base} answered ${res.status} with something other than JSON` };
    }
    if (res.status !== 200 && res.status !== 201) {
      const error = isRecord(parsed) && isRecord(parsed['error']) ? parsed['error'] : undefined;
      const code = typeof error?.['code'] === 'string' ? error['code'] : undefined;
      const message = typeof error?.['message'] === 'string' ? error['message'] : `HTTP ${res.status}`;
      return { ok: false, status: res.status, message: code ? `${code}: ${message}` : message, ...(code ? { code } : {}) };
    }
    return { ok: true, value: parsed };
  }

  const asDecision = (result: GovernorResult<unknown>): GovernorResult<WireDecision> => {
    if (!result.ok) return result;
    return isDecision(result.value) ? { ok: true, value: result.value } : { ok: false, message: 'Governor answered with something that is not a decision' };
  };

  return {
    url: base,
    watchKills,
    async whoami(signal) {
      const result = await call('GET', '/v1/whoami', undefined, timeoutMs, signal);
      if (!result.ok) return result;
      const v = result.value;
      if (isRecord(v) && v['kind'] === 'agent' && isRecord(v['principal']) && typeof v['principal']['agent'] === 'string') return { ok: true, value: v as unknown as WhoAmI };
      if (isRecord(v) && v['kind'] === 'operator' && isRecord(v['operator'])) return { ok: true, value: v as unknown as WhoAmI };
      return { ok: false, message: 'Governor answered /v1/whoami with something unexpected' };
    },
    async decide(action, signal) {
      return asDecision(await call('POST', '/v1/decisions', { action }, timeoutMs, signal));
    },
    async decision(id, waitSeconds, signal) {
      const wait = Math.max(0, Math.min(MAX_WAIT_SECONDS, Math.ceil(waitSeconds)));
      // The long-poll itself may take `wait` seconds; the time limit covers it plus a normal request.
      return asDecision(await call('GET', `/v1/decisions/${encodeURIComponent(id)}${wait > 0 ? `?wait=${wait}` : ''}`, undefined, wait * 1000 + timeoutMs, signal));
    },
    async recordOutcome(id, outcome, signal) {
      return call('POST', `/v1/decisions/${encodeURIComponent(id)}/outcome`, outcome, timeoutMs, signal);
    },
    async checkTools(request, signal) {
      const result = await call('POST', '/v1/mcp/tools', request, timeoutMs, signal);
      if (!result.ok) return result;
      const tools = isRecord(result.value) ? result.value['tools'] : undefined;
      if (!Array.isArray(tools) || !tools.every(isToolCheck)) return { ok: false, message: 'Governor answered /v1/mcp/tools with something unexpected' };
      return { ok: true, value: tools };
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isDecision(value: unknown): value is WireDecision {
  if (!isRecord(value)) return false;
  const { id, verdict, state, action, reasons } = value;
  return (
    typeof id === 'string' &&
    typeof verdict === 'string' &&
    VERDICTS.includes(verdict) &&
    typeof state === 'string' &&
    isRecord(action) &&
    (action['params'] === undefined || isRecord(action['params'])) &&
    Array.isArray(reasons) &&
    reasons.every((r) => isRecord(r) && typeof r['rule'] === 'string' && typeof r['message'] === 'string')
  );
}

function isToolCheck(value: unknown): value is WireToolCheck {
  return (
    isRecord(value) &&
    typeof value['name'] === 'string' &&
    typeof value['hash'] === 'string' &&
    typeof value['blocked'] === 'boolean' &&
    typeof value['visible'] === 'boolean' &&
    (value['pin'] === 'new' || value['pin'] === 'match' || value['pin'] === 'changed')
  );
}

/**
 * Checks the agent credential with `GET /v1/whoami`; the proxy never runs
 * without a valid agent credential.
 */
export async function verifyAgentCredential(
  governor: GovernorClient,
): Promise<{ ok: true; principal: AgentPrincipal } | { ok: false; message: string; /** The credential was refused (rather than not checked). */ refused: boolean }> {
  const who = await governor.whoami();
  if (!who.ok) {
    return {
      ok: false,
      refused: who.status === 401 || who.status === 403,
      message:
        who.status === 401
          ? `Governor at ${governor.url} refused the agent credential: ${who.message}`
          : `cannot verify the agent credential with Governor at ${governor.url}: ${who.message}`,
    };
  }
  if (who.value.kind !== 'agent') return { ok: false, refused: true, message: `the credential is an operator's (${who.value.operator.name}); the MCP proxy needs an agent credential (governor token issue --agent ID --role ROLE)` };
  return { ok: true, principal: who.value.principal };
}

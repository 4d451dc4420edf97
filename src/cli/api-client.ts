import { GovernorError } from '../core/errors.js';
import { UsageError, type Io } from './args.js';

/** The flags of every command that talks to a running Governor as an operator. */
export const serverFlags = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

/** Help text for `serverFlags`. */
export const SERVER_FLAGS_HELP = `  --url URL         the Governor server (default GOVERNOR_URL, else http://127.0.0.1:8080)
  --token TOKEN     an operator credential (default GOVERNOR_OPERATOR_TOKEN); get one with
                    governor token issue --operator NAME --groups G1,G2
  --json            print the server's JSON answer`;

/** A JSON client of the operator API. */
export interface ApiClient {
  call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
}

/** A client for the server and credential the flags (or the environment) name. */
export function apiClient(values: { url?: string | undefined; token?: string | undefined }, io: Io): ApiClient {
  const base = (values.url ?? io.env.GOVERNOR_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s]+$/.test(base)) throw new UsageError(`--url must be an http(s) URL, got "${base}"`);
  const token = values.token ?? io.env.GOVERNOR_OPERATOR_TOKEN;
  if (!token) throw new UsageError('no operator credential: pass --token or set GOVERNOR_OPERATOR_TOKEN (governor token issue --operator NAME --groups G1,G2)');
  return {
    async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
      let res: Response;
      try {
        res = await fetch(`${base}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(30_000),
        });
      } catch (err) {
        throw new GovernorError('STORE_UNAVAILABLE', `cannot reach Governor at ${base}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
      }
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new GovernorError('INTERNAL', `Governor at ${base} answered ${res.status} with something other than JSON`);
      }
      if (!res.ok) {
        const error = (parsed as { error?: { code?: string; message?: string } }).error;
        throw new GovernorError('BAD_REQUEST', `${error?.code ?? res.status}: ${error?.message ?? text}`);
      }
      return parsed as T;
    },
  };
}

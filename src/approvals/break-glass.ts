import { GovernorError } from '../core/errors.js';
import type { Action, BreakGlassUse, Operator, Principal } from '../core/types.js';
import { eventLeaf } from '../audit/audit-leaf.js';
import type { AuditCrypto } from '../audit/pure/audit-crypto.js';
import type { Notifier } from '../notify/notifier.js';
import type { BreakGlassSpec } from '../policy/policy.js';
import type { ControlRecord, Store } from '../store/store.js';
import type { ApprovalEvents } from './approval-events.js';

/** What a break-glass override covers: every field given must match; at least one is required. */
export interface BreakGlassScope {
  readonly environment?: string;
  readonly agent?: string;
  readonly tool?: string;
  /** A target id (service, database) the action touches. */
  readonly target?: string;
}

/** A break-glass session as stored and listed. */
export interface BreakGlassSession {
  readonly id: string;
  readonly state: 'open' | 'closed' | 'expired';
  readonly by: string;
  readonly groups: readonly string[];
  readonly scope: BreakGlassScope;
  readonly reason: string;
  readonly openedAt: string;
  readonly expiresAt: string;
  readonly closedAt?: string;
  readonly closedBy?: string;
  readonly closeReason?: string;
  readonly audit?: { readonly index: number; readonly leafHash: string };
}

/** What the break-glass service needs. */
export interface BreakGlassOptions {
  readonly store: Store;
  readonly clock: () => number;
  readonly crypto: AuditCrypto;
  readonly audit: { appended(count: number): void };
  /** Who may open one and for how long (from the policy in force). */
  readonly spec: () => BreakGlassSpec;
  readonly newId: () => string;
  readonly events: ApprovalEvents;
  readonly notifier: Notifier;
  /** How often open sessions are re-read from the store (other replicas'), ms. Default 2000. */
  readonly refreshIntervalMs?: number;
  readonly onFault?: (err: unknown, context: string) => void;
}

/** Time-limited, reason-bearing human overrides. */
export interface BreakGlassService {
  open(operator: Operator, request: { readonly scope: BreakGlassScope; readonly ttlSeconds: number; readonly reason: string }): Promise<BreakGlassSession>;
  close(operator: Operator, id: string, reason: string): Promise<BreakGlassSession>;
  list(state?: BreakGlassSession['state']): Promise<readonly BreakGlassSession[]>;
  /** The open session covering this action now, if any (exact to the millisecond, whatever the timers). */
  covering(principal: Principal, action: Action): BreakGlassUse | undefined;
  /** Loads open sessions and arms their expiry; starts the refresh. */
  start(): Promise<void>;
  stop(): void;
}

const KIND = 'break-glass';
const MIN_REASON = 8;

/**
 * Creates the break-glass service. Opening, closing and expiry are audit
 * leaves, written with the session record; sessions are held in memory for
 * the decision path and refreshed from the store.
 */
export function createBreakGlassService(options: BreakGlassOptions): BreakGlassService {
  const { store, clock, crypto, events, notifier } = options;
  const open = new Map<string, { session: BreakGlassSession; version: number; expires: number }>();
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  let refresher: ReturnType<typeof setInterval> | undefined;
  const iso = () => new Date(clock()).toISOString();

  const remember = (record: ControlRecord): BreakGlassSession => {
    const session = toSession(record);
    if (session.state === 'open') {
      open.set(session.id, { session, version: record.version, expires: Date.parse(session.expiresAt) });
      arm(session);
    } else {
      open.delete(session.id);
      const timer = timers.get(session.id);
      if (timer !== undefined) clearTimeout(timer);
      timers.delete(session.id);
    }
    return session;
  };

  const end = async (id: string, state: 'closed' | 'expired', by: string | undefined, reason: string): Promise<BreakGlassSession | undefined> => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const record = await store.records.get(KIND, id);
      if (!record) return undefined;
      if (record.state !== 'open') return remember(record);
      const at = iso();
      const body = { ...(record.body as object), state, closedAt: at, ...(by ? { closedBy: by } : {}), closeReason: reason };
      const leaf = eventLeaf(crypto, { type: `break-glass.${state}`, time: at, id, by: by ?? null, reason });
      const updated = await store.records.update({ kind: KIND, id, version: record.version, state, body, at, leaf });
      if (!updated) continue;
      options.audit.appended(1);
      const session = remember(updated);
      events.publish({ type: 'break-glass', session });
      notifier.notify({ id: `${id}/${state}`, type: `break-glass.${state}`, at, title: `break-glass ${id} ${state}`, text: reason, recipients: [], data: session });
      return session;
    }
    throw new GovernorError('STORE_CONFLICT', `break-glass session ${id} kept changing while it was being ${state}`);
  };

  const arm = (session: BreakGlassSession): void => {
    if (timers.has(session.id)) return;
    const timer = setTimeout(() => {
      timers.delete(session.id);
      end(session.id, 'expired', undefined, `expired at ${session.expiresAt}`).catch((err: unknown) => options.onFault?.(err, `expiry of break-glass ${session.id}`));
    }, Math.min(2 ** 31 - 1, Math.max(0, Date.parse(session.expiresAt) - clock())));
    timer.unref?.();
    timers.set(session.id, timer);
  };

  const refresh = async (): Promise<void> => {
    const records = await store.records.list({ kind: KIND, state: 'open', limit: 1000 });
    const seen = new Set<string>();
    for (const record of records) {
      seen.add(record.id);
      remember(record);
    }
    // Closed elsewhere: drop it here too.
    for (const id of [...open.keys()]) if (!seen.has(id)) open.delete(id);
  };

  return {
    async open(operator, request) {
      const spec = options.spec();
      if (!operator.groups.some((g) => spec.groups.includes(g))) {
        throw new GovernorError('FORBIDDEN', `${operator.name} is not in a break-glass group (${spec.groups.join(', ')})`);
      }
      const scope = normalizeScope(request.scope);
      if (!Number.isSafeInteger(request.ttlSeconds) || request.ttlSeconds < 1 || request.ttlSeconds > spec.maxTtlSeconds) {
        throw new GovernorError('BAD_REQUEST', `ttl must be from 1s to the policy's maximum of ${spec.maxTtlSeconds}s, got ${String(request.ttlSeconds)}s`);
      }
      const reason = typeof request.reason === 'string' ? request.reason.trim() : '';
      if (reason.length < MIN_REASON) throw new GovernorError('BAD_REQUEST', `a break-glass override needs a reason of at least ${MIN_REASON} characters`);
      const now = clock();
      const at = new Date(now).toISOString();
      const id = options.newId();
      const body = { id, state: 'open', by: operator.name, groups: [...operator.groups], scope, reason, openedAt: at, expiresAt: new Date(now + request.ttlSeconds * 1000).toISOString() };
      const leaf = eventLeaf(crypto, { type: 'break-glass.opened', time: at, ...body });
      const { record } = await store.records.insert({ kind: KIND, id, state: 'open', body, at, leaf });
      options.audit.appended(1);
      const session = remember(record);
      events.publish({ type: 'break-glass', session });
      notifier.notify({
        id: `${id}/opened`,
        type: 'break-glass.opened',
        at,
        title: `BREAK-GLASS opened by ${operator.name} until ${session.expiresAt}`,
        text: `${reason}\nscope: ${JSON.stringify(scope)}`,
        recipients: [...spec.groups],
        data: session,
      });
      return session;
    },

    async close(operator, id, reason) {
      const text = typeof reason === 'string' ? reason.trim() : '';
      if (text === '') throw new GovernorError('BAD_REQUEST', 'closing a break-glass override needs a reason');
      const session = await end(id, 'closed', operator.name, text);
      if (!session) throw new GovernorError('NOT_FOUND', `no break-glass session ${id}`);
      return session;
    },

    async list(state) {
      const records = await store.records.list({ kind: KIND, ...(state ? { state } : {}), limit: 1000, order: 'newest' });
      return records.map(toSession);
    },

    covering(principal, action) {
      if (open.size === 0) return undefined;
      const now = clock();
      for (const { session, expires } of open.values()) {
        if (expires <= now || !inScope(session.scope, principal, action)) continue;
        return { id: session.id, by: session.by, reason: session.reason, expiresAt: session.expiresAt };
      }
      return undefined;
    },

    async start() {
      await refresh();
      refresher = setInterval(() => {
        refresh().catch((err: unknown) => options.onFault?.(err, 'refresh of break-glass sessions'));
      }, options.refreshIntervalMs ?? 2000);
      refresher.unref?.();
    },

    stop() {
      if (refresher !== undefined) clearInterval(refresher);
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
    },
  };
}

function normalizeScope(scope: BreakGlassScope): BreakGlassScope {
  const out: { -readonly [K in keyof BreakGlassScope]: string } = {};
  for (const key of ['environment', 'agent', 'tool', 'target'] as const) {
    const value = scope?.[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || !/^[A-Za-z0-9._:@-]{1,128}$/.test(value)) throw new GovernorError('BAD_REQUEST', `scope.${key} must be an identifier`);
    out[key] = value;
  }
  if (Object.keys(out).length === 0) throw new GovernorError('BAD_REQUEST', 'a break-glass scope needs at least one of environment, agent, tool, target');
  return out;
}

function inScope(scope: BreakGlassScope, principal: Principal, action: Action): boolean {
  if (scope.environment !== undefined && scope.environment !== action.environment) return false;
  if (scope.agent !== undefined && scope.agent !== principal.agent) return false;
  if (scope.tool !== undefined && scope.tool !== action.tool) return false;
  if (scope.target !== undefined && !(action.targets ?? []).some((t) => t.id === scope.target)) return false;
  return true;
}

function toSession(record: ControlRecord): BreakGlassSession {
  const body = record.body as Omit<BreakGlassSession, 'state' | 'audit'>;
  return { ...body, state: record.state as BreakGlassSession['state'], ...(record.audit ? { audit: record.audit } : {}) };
}

import { GovernorError } from '../core/errors.js';
import type { Action, Operator, Principal, Reason } from '../core/types.js';
import { eventLeaf } from '../audit/audit-leaf.js';
import type { AuditCrypto } from '../audit/pure/audit-crypto.js';
import type { ControlRecord, Store } from '../store/store.js';

/** What a kill covers. */
export type KillScope =
  | { readonly kind: 'global' }
  | { readonly kind: 'environment' | 'agent' | 'role' | 'tool' | 'session'; readonly value: string };

/** A kill as stored and listed. */
export interface Kill {
  readonly id: string;
  readonly state: 'active' | 'lifted';
  readonly scope: KillScope;
  readonly reason: string;
  /** The operator, or `breaker:<agent>` when a circuit breaker tripped. */
  readonly by: string;
  readonly source: 'operator' | 'breaker';
  readonly at: string;
  readonly liftedAt?: string;
  readonly liftedBy?: string;
  readonly liftReason?: string;
  /** False while the kill holds on this replica only: the store did not take it yet (retried). */
  readonly persisted?: boolean;
}

/** How kill state is kept fresh across replicas. */
export interface KillSwitchSettings {
  /** Longest a replica may go without confirming kill state from the store, ms. */
  readonly maxStalenessMs: number;
  /** strict: deny everything once stale; best-effort: keep the last known state. */
  readonly mode: 'strict' | 'best-effort';
}

/** Listener of kills: streams and proxied sessions in scope close. */
export type KillListener = (kill: Kill) => void;

/** The kill switch: in memory on the decision path, durable in the store, shared by replicas. */
export interface KillSwitch {
  kill(operator: Operator | { readonly name: string; readonly source: 'breaker' }, request: { readonly scope: KillScope; readonly reason: string }): Promise<Kill>;
  lift(operator: Operator, id: string, reason: string): Promise<Kill>;
  list(all?: boolean): Promise<readonly Kill[]>;
  /** The reason a decision must be denied now (a kill in scope, or stale kill state in strict mode), or undefined. */
  check(principal: Principal, action: Action): Reason | undefined;
  /** True when a credential issued at `issuedAtMs` to `principal` was revoked by a kill (active or lifted since). */
  revoked(principal: Principal, issuedAtMs: number): Kill | undefined;
  /** Active kills touching `principal` (for grants and streams). */
  touching(principal: Principal): Kill | undefined;
  subscribe(listener: KillListener): () => void;
  /** When kill state was last confirmed from the store (ms), for health. */
  freshness(): { readonly confirmedAt: number; readonly stale: boolean; readonly mode: KillSwitchSettings['mode'] };
  start(): Promise<void>;
  stop(): void;
}

const KIND = 'kill';
const VALUE = /^[A-Za-z0-9._:@/-]{1,128}$/;

/**
 * Creates the kill switch. A kill takes effect in this process before the
 * call returns (before the store is even written), so the very next decision
 * in scope is denied; it is then made durable with its audit leaf. If the
 * audit log cannot take the leaf, the kill is stored without it and the leaf
 * is appended on its own (the kill is never gated by the audit log); if the
 * store cannot take it, it holds in memory and is retried until it can.
 * Other replicas learn of it by refreshing (every `refreshMs`); a replica that
 * cannot confirm fresh state for `maxStalenessMs` denies everything in strict
 * mode.
 */
export function createKillSwitch(options: {
  readonly store: Store;
  readonly clock: () => number;
  readonly crypto: AuditCrypto;
  readonly audit: { appended(count: number): void };
  readonly newId: () => string;
  readonly settings: () => KillSwitchSettings;
  readonly refreshMs?: number;
  readonly onFault?: (err: unknown, context: string) => void;
}): KillSwitch {
  const { store, clock, crypto } = options;
  const kills = new Map<string, { kill: Kill; version: number }>();
  const listeners = new Set<KillListener>();
  const unsaved = new Map<string, () => Promise<void>>();
  let confirmedAt = clock();
  let timer: ReturnType<typeof setInterval> | undefined;
  const iso = () => new Date(clock()).toISOString();

  const announce = (kill: Kill) => {
    for (const listener of listeners) {
      try {
        listener(kill);
      } catch (err) {
        options.onFault?.(err, 'a kill listener');
      }
    }
  };

  /** Stores a kill record with its leaf; without the leaf if the audit log refuses it, then appends the leaf alone. */
  const persist = async (write: (withLeaf: boolean) => Promise<ControlRecord | undefined>, leaf: ReturnType<typeof eventLeaf>): Promise<ControlRecord | undefined> => {
    try {
      const record = await write(true);
      options.audit.appended(1);
      return record;
    } catch (err) {
      if (!(err instanceof GovernorError && err.code === 'AUDIT_UNAVAILABLE')) throw err;
      options.onFault?.(err, 'audit leaf of a kill (stored without it, appended separately)');
      const record = await write(false);
      store.audit.append(leaf).then(
        () => options.audit.appended(1),
        (e: unknown) => options.onFault?.(e, 'appending the leaf of a kill'),
      );
      return record;
    }
  };

  const refresh = async (): Promise<void> => {
    const records = await store.records.list({ kind: KIND, limit: 1000, order: 'newest' });
    for (const record of records) {
      const known = kills.get(record.id);
      if (known && known.version >= record.version && known.kill.persisted !== false) continue;
      const kill = toKill(record);
      const wasActive = known?.kill.state === 'active';
      kills.set(record.id, { kill, version: record.version });
      if (kill.state === 'active' && !wasActive) announce(kill);
    }
    for (const [id, retry] of unsaved) {
      try {
        await retry();
        unsaved.delete(id);
      } catch (err) {
        options.onFault?.(err, `storing kill ${id} (retrying)`);
      }
    }
    confirmedAt = clock();
  };

  const inScope = (scope: KillScope, principal: Principal, action?: Action): boolean => {
    switch (scope.kind) {
      case 'global':
        return true;
      case 'agent':
        return principal.agent === scope.value;
      case 'role':
        return principal.role === scope.value;
      case 'session':
        return principal.session === scope.value;
      case 'environment':
        return action?.environment === scope.value;
      case 'tool':
        return action?.tool === scope.value;
    }
  };

  const principalLevel = (scope: KillScope) => scope.kind === 'global' || scope.kind === 'agent' || scope.kind === 'role' || scope.kind === 'session';

  return {
    async kill(by, request) {
      const scope = checkScope(request.scope);
      const reason = typeof request.reason === 'string' ? request.reason.trim() : '';
      if (reason === '' || reason.length > 1024) throw new GovernorError('BAD_REQUEST', 'a kill needs a reason (1 to 1024 characters)');
      const at = iso();
      const id = options.newId();
      const source = 'source' in by ? by.source : 'operator';
      const body: Kill = { id, state: 'active', scope, reason, by: by.name, source, at };
      // In force here before anything else can fail.
      kills.set(id, { kill: { ...body, persisted: false }, version: 0 });
      announce(body);
      const leaf = eventLeaf(crypto, { type: 'kill', time: at, id, scope, reason, by: by.name, source });
      const save = async () => {
        const record = await persist(async (withLeaf) => (await store.records.insert({ kind: KIND, id, state: 'active', body, at, ...(withLeaf ? { leaf } : {}) })).record, leaf);
        if (record) kills.set(id, { kill: toKill(record), version: record.version });
      };
      try {
        await save();
      } catch (err) {
        options.onFault?.(err, `storing kill ${id}; it holds on this replica and is retried`);
        unsaved.set(id, save);
      }
      return kills.get(id)?.kill ?? body;
    },

    async lift(operator, id, reason) {
      const text = typeof reason === 'string' ? reason.trim() : '';
      if (text === '') throw new GovernorError('BAD_REQUEST', 'lifting a kill needs a reason');
      if (unsaved.has(id)) throw new GovernorError('STORE_UNAVAILABLE', `kill ${id} is not stored yet; it cannot be lifted until it is`);
      for (let attempt = 0; attempt < 5; attempt++) {
        const record = await store.records.get(KIND, id);
        if (!record) throw new GovernorError('NOT_FOUND', `no kill ${id}`);
        if (record.state !== 'active') throw new GovernorError('CONFLICT', `kill ${id} was already lifted`);
        const at = iso();
        const body = { ...(record.body as Kill), state: 'lifted', liftedAt: at, liftedBy: operator.name, liftReason: text };
        const leaf = eventLeaf(crypto, { type: 'kill.lifted', time: at, id, by: operator.name, reason: text });
        const updated = await persist(async (withLeaf) => store.records.update({ kind: KIND, id, version: record.version, state: 'lifted', body, at, ...(withLeaf ? { leaf } : {}) }), leaf);
        if (!updated) continue;
        const kill = toKill(updated);
        kills.set(id, { kill, version: updated.version });
        return kill;
      }
      throw new GovernorError('STORE_CONFLICT', `kill ${id} kept changing while it was being lifted`);
    },

    async list(all = false) {
      if (!all) return [...kills.values()].map((k) => k.kill).filter((k) => k.state === 'active');
      return (await store.records.list({ kind: KIND, limit: 1000, order: 'newest' })).map(toKill);
    },

    check(principal, action) {
      for (const { kill } of kills.values()) {
        if (kill.state === 'active' && inScope(kill.scope, principal, action)) {
          return {
            rule: `kill/${kill.id}`,
            primitive: 'kill-switch',
            effect: 'deny',
            mode: 'enforce',
            code: 'KILLED',
            message: `killed by ${kill.by} at ${kill.at} (${describeScope(kill.scope)}): ${kill.reason}`,
          };
        }
      }
      const { maxStalenessMs, mode } = options.settings();
      if (mode === 'strict' && clock() - confirmedAt > maxStalenessMs) {
        return {
          rule: 'kill-switch',
          primitive: 'kill-switch',
          effect: 'deny',
          mode: 'enforce',
          code: 'KILL_STATE_STALE',
          message: `kill-switch state not confirmed for ${clock() - confirmedAt} ms (more than ${maxStalenessMs} ms, strict mode): everything is denied until it is`,
        };
      }
      return undefined;
    },

    revoked(principal, issuedAtMs) {
      for (const { kill } of kills.values()) {
        if (!principalLevel(kill.scope) || !inScope(kill.scope, principal)) continue;
        if (kill.state === 'active' || issuedAtMs <= Date.parse(kill.at)) return kill;
      }
      return undefined;
    },

    touching(principal) {
      for (const { kill } of kills.values()) if (kill.state === 'active' && principalLevel(kill.scope) && inScope(kill.scope, principal)) return kill;
      return undefined;
    },

    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    freshness() {
      const { maxStalenessMs, mode } = options.settings();
      return { confirmedAt, stale: clock() - confirmedAt > maxStalenessMs, mode };
    },

    async start() {
      await refresh();
      const every = options.refreshMs ?? Math.max(100, Math.min(1000, Math.floor(options.settings().maxStalenessMs / 3)));
      timer = setInterval(() => {
        refresh().catch((err: unknown) => options.onFault?.(err, 'refreshing kill state'));
      }, every);
      timer.unref?.();
    },

    stop() {
      if (timer !== undefined) clearInterval(timer);
    },
  };
}

/** Validates a kill scope. */
export function checkScope(scope: KillScope): KillScope {
  const kinds = ['global', 'environment', 'agent', 'role', 'tool', 'session'];
  if (typeof scope !== 'object' || scope === null || !kinds.includes(scope.kind)) throw new GovernorError('BAD_REQUEST', `scope.kind must be one of ${kinds.join(', ')}`);
  if (scope.kind === 'global') return { kind: 'global' };
  if (typeof scope.value !== 'string' || !VALUE.test(scope.value)) throw new GovernorError('BAD_REQUEST', `a ${scope.kind} kill needs scope.value, an identifier`);
  return { kind: scope.kind, value: scope.value };
}

/** `agent deploy-bot`, `everything`. */
export function describeScope(scope: KillScope): string {
  return scope.kind === 'global' ? 'everything' : `${scope.kind} ${scope.value}`;
}

function toKill(record: ControlRecord): Kill {
  return { ...(record.body as Kill), state: record.state as Kill['state'] };
}

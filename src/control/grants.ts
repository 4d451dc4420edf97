import { GovernorError } from '../core/errors.js';
import type { Action, Operator, Principal } from '../core/types.js';
import { eventLeaf } from '../audit/audit-leaf.js';
import type { AuditCrypto } from '../audit/pure/audit-crypto.js';
import type { ControlRecord, RecordUpdate, Store } from '../store/store.js';

/** What a grant lets an agent do: every list given must contain the action's value. */
export interface GrantScope {
  readonly environments: readonly string[];
  readonly tools: readonly string[];
  /** Target ids the action may touch; empty: actions without targets only. `*`: any. */
  readonly targets: readonly string[];
}

/** A sandbox grant as stored and listed. */
export interface Grant {
  readonly id: string;
  readonly agent: string;
  readonly taskId: string;
  readonly scope: GrantScope;
  readonly maxUses: number;
  readonly uses: number;
  readonly state: 'active' | 'exhausted' | 'revoked';
  readonly expiresAt: string;
  readonly createdAt: string;
  readonly by: string;
  readonly reason?: string;
  readonly revokedBy?: string;
  readonly revokedAt?: string;
}

/** Scoped, time-limited, single-task, countable permissions for agents that may not act on their own yet. */
export interface Grants {
  create(operator: Operator, request: { readonly agent: string; readonly taskId: string; readonly scope: GrantScope; readonly ttlSeconds: number; readonly maxUses: number; readonly reason?: string }): Promise<Grant>;
  revoke(by: string, id: string, reason: string): Promise<Grant>;
  /** Revokes every active grant `match` selects (a kill in scope); resolves to how many. */
  revokeWhere(match: (grant: Grant) => boolean, by: string, reason: string): Promise<number>;
  list(agent?: string): Promise<readonly Grant[]>;
  /** An active grant covering this action now (bound to the credential's task, in scope, not expired, uses left), without taking a use. */
  find(principal: Principal, action: Action): Promise<(Grant & { readonly version: number }) | undefined>;
  /** The compare-and-set that takes one use of `grant` (as `find` read it): a decision's condition. */
  useOf(grant: Grant & { readonly version: number }, now: number): Omit<RecordUpdate, 'leaf'>;
}

const KIND = 'grant';
const ID = /^[A-Za-z0-9._:@*-]{1,128}$/;
const MAX_TTL_SECONDS = 7 * 86_400;

/** Creates the grant service; creating and revoking grants are audit leaves (each use is recorded by its decision's leaf). */
export function createGrants(options: {
  readonly store: Store;
  readonly clock: () => number;
  readonly crypto: AuditCrypto;
  readonly audit: { appended(count: number): void };
  readonly newId: () => string;
}): Grants {
  const { store, clock, crypto } = options;
  const iso = () => new Date(clock()).toISOString();

  const covers = (grant: Grant, principal: Principal, action: Action, now: number): boolean =>
    grant.state === 'active' &&
    grant.uses < grant.maxUses &&
    Date.parse(grant.expiresAt) > now &&
    grant.taskId === principal.task &&
    (action.taskId === undefined || action.taskId === grant.taskId) &&
    grant.scope.environments.includes(action.environment) &&
    grant.scope.tools.includes(action.tool) &&
    (action.targets ?? []).every((t) => grant.scope.targets.includes('*') || grant.scope.targets.includes(t.id));

  const revokeRecord = async (record: ControlRecord, by: string, reason: string): Promise<Grant | undefined> => {
    const at = iso();
    const body = { ...(record.body as Grant), state: 'revoked', revokedBy: by, revokedAt: at, reason };
    const leaf = eventLeaf(crypto, { type: 'grant.revoked', time: at, id: record.id, agent: (record.body as Grant).agent, by, reason });
    const updated = await store.records.update({ kind: KIND, id: record.id, version: record.version, state: 'revoked', body, at, leaf });
    if (updated) options.audit.appended(1);
    return updated ? toGrant(updated) : undefined;
  };

  return {
    async create(operator, request) {
      const list = (name: string, value: unknown, min: number): string[] => {
        if (!Array.isArray(value) || value.length < min || value.length > 256 || !value.every((v) => typeof v === 'string' && ID.test(v))) {
          throw new GovernorError('BAD_REQUEST', `scope.${name} must be a list of ${min} to 256 identifiers`);
        }
        return [...new Set(value as string[])];
      };
      if (typeof request.agent !== 'string' || !ID.test(request.agent)) throw new GovernorError('BAD_REQUEST', 'agent must be an identifier');
      if (typeof request.taskId !== 'string' || !ID.test(request.taskId)) throw new GovernorError('BAD_REQUEST', 'a grant is bound to one task: taskId must be an identifier');
      if (!Number.isSafeInteger(request.ttlSeconds) || request.ttlSeconds < 1 || request.ttlSeconds > MAX_TTL_SECONDS) throw new GovernorError('BAD_REQUEST', `ttl must be from 1s to ${MAX_TTL_SECONDS}s`);
      if (!Number.isSafeInteger(request.maxUses) || request.maxUses < 1 || request.maxUses > 100_000) throw new GovernorError('BAD_REQUEST', 'maxUses must be an integer from 1 to 100000');
      const scope: GrantScope = { environments: list('environments', request.scope?.environments, 1), tools: list('tools', request.scope?.tools, 1), targets: list('targets', request.scope?.targets ?? [], 0) };
      const now = clock();
      const at = new Date(now).toISOString();
      const id = options.newId();
      const grant: Grant = {
        id,
        agent: request.agent,
        taskId: request.taskId,
        scope,
        maxUses: request.maxUses,
        uses: 0,
        state: 'active',
        expiresAt: new Date(now + request.ttlSeconds * 1000).toISOString(),
        createdAt: at,
        by: operator.name,
        ...(request.reason ? { reason: request.reason.slice(0, 1024) } : {}),
      };
      const leaf = eventLeaf(crypto, { type: 'grant.created', time: at, ...grant });
      await store.records.insert({ kind: KIND, id, parent: grant.agent, state: 'active', body: grant, at, leaf });
      options.audit.appended(1);
      return grant;
    },

    async revoke(by, id, reason) {
      const record = await store.records.get(KIND, id);
      if (!record) throw new GovernorError('NOT_FOUND', `no grant ${id}`);
      if (record.state !== 'active') throw new GovernorError('CONFLICT', `grant ${id} is ${record.state}`);
      const revoked = await revokeRecord(record, by, reason);
      if (!revoked) throw new GovernorError('STORE_CONFLICT', `grant ${id} changed while it was being revoked; try again`);
      return revoked;
    },

    async revokeWhere(match, by, reason) {
      let count = 0;
      for (const record of await store.records.list({ kind: KIND, state: 'active', limit: 1000 })) {
        if (match(toGrant(record)) && (await revokeRecord(record, by, reason))) count++;
      }
      return count;
    },

    async list(agent) {
      return (await store.records.list({ kind: KIND, ...(agent ? { parent: agent } : {}), limit: 1000, order: 'newest' })).map(toGrant);
    },

    async find(principal, action) {
      const now = clock();
      const records = await store.records.list({ kind: KIND, parent: principal.agent, state: 'active', limit: 1000 });
      const record = records.find((r) => covers(toGrant(r), principal, action, now));
      return record ? withVersion(record) : undefined;
    },

    useOf(found, now) {
      const { version, ...grant } = found;
      const uses = grant.uses + 1;
      const state = uses >= grant.maxUses ? 'exhausted' : 'active';
      return { kind: KIND, id: grant.id, version, state, body: { ...grant, uses, state }, at: new Date(now).toISOString() };
    },
  };
}

/** A grant with the record version it was read at (the compare-and-set token of its next use). */
type Versioned = Grant & { readonly version: number };

function withVersion(record: ControlRecord): Versioned {
  return Object.assign(toGrant(record), { version: record.version });
}

function toGrant(record: ControlRecord): Grant {
  return { ...(record.body as Grant), state: record.state as Grant['state'] };
}

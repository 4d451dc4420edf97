import { afterEach, describe, expect, it } from 'vitest';
import { nodeAuditCrypto } from '../audit/node-crypto.js';
import { encodeHex } from '../audit/pure/bytes.js';
import {
  consistencyPlan,
  hashLeaf,
  inclusionPlan,
  resolveNode,
  resolveProof,
  rootPlan,
  subtreesOf,
  verifyConsistency,
  verifyInclusion,
  type NodeRecipe,
} from '../audit/pure/merkle.js';
import { isGovernorError, type ErrorCode } from '../core/errors.js';
import type { Decision, DecisionState } from '../core/types.js';
import { MAX_LEAF_BYTES } from './audit-leaf.js';
import type { Store } from './store.js';
import { hashReader, makeAuditedDecision, makeLeaf, makeNewDecision, uniqueName, verifyStoredTree } from './test-fixtures.js';

/** How the contract reaches one engine. */
export interface StoreContractEngine {
  /**
   * Opens a store over the same database on every call (so data written by
   * one store is read by the next).
   */
  readonly open: () => Promise<Store>;
  /**
   * Runs one SQL statement on that database through a connection of its own,
   * as an operator with direct access would; table names are unqualified.
   */
  readonly sql: (statement: string) => Promise<void>;
}

/**
 * The behaviour every Store adapter must have. Tests keep to their own agents
 * and ids, so the database may be shared with other tests and need not be
 * empty; the audit log is shared, so audit tests check the whole log.
 */
export function runStoreContract(name: string, engine: StoreContractEngine): void {
  const { open } = engine;
  describe(`Store contract: ${name}`, () => {
    const opened: Store[] = [];
    const openStore = async (): Promise<Store> => {
      const store = await open();
      opened.push(store);
      return store;
    };

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });

    describe('open and ping', () => {
      it('answers ping and names its engine', async () => {
        const store = await openStore();
        await expect(store.ping()).resolves.toBeUndefined();
        expect(['sqlite', 'postgres']).toContain(store.engine);
      });
    });

    describe('insert and get', () => {
      it('stores a decision and reads it back unchanged', async () => {
        const store = await openStore();
        const entry = makeNewDecision({ agent: uniqueName('agent'), verdict: 'pending' });
        const result = await store.decisions.insert(entry);
        expect(result).toEqual({ decision: entry.decision, requestDigest: entry.requestDigest, created: true });
        expect(await store.decisions.get(entry.decision.id)).toEqual(entry.decision);
      });

      it('returns undefined for an unknown id', async () => {
        const store = await openStore();
        expect(await store.decisions.get(uniqueName('missing'))).toBeUndefined();
      });

      it('keeps arbitrary JSON in the decision intact', async () => {
        const store = await openStore();
        const params = { quote: 'it\'s "quoted" \\ back', unicode: 'héllo 🌍 \u2028', nested: { list: [1, 2.5, -0.125, null, true] } };
        const entry = makeNewDecision({ agent: uniqueName('agent'), params });
        await store.decisions.insert(entry);
        expect((await store.decisions.get(entry.decision.id))?.action.params).toEqual(params);
      });

      it('refuses a decision without a valid createdAt and writes nothing', async () => {
        const store = await openStore();
        const entry = makeNewDecision({ agent: uniqueName('agent'), createdAt: 'not a time' });
        await expectCode(store.decisions.insert(entry), 'BAD_REQUEST');
        expect(await store.decisions.get(entry.decision.id)).toBeUndefined();
      });

      it('makes 200 concurrent inserts durable and readable from another connection', async () => {
        const store = await openStore();
        const agent = uniqueName('agent');
        const entries = Array.from({ length: 200 }, () => makeNewDecision({ agent }));
        const results = await Promise.all(entries.map((entry) => store.decisions.insert(entry)));
        expect(results.every((r) => r.created)).toBe(true);

        const other = await openStore();
        const read = await Promise.all(entries.map((entry) => other.decisions.get(entry.decision.id)));
        expect(read).toEqual(entries.map((entry) => entry.decision));
        expect(await other.decisions.list({ agent, limit: 1000 })).toHaveLength(200);
      });

      it('rejects a second decision with the same id (STORE_CONFLICT) and keeps the first', async () => {
        const store = await openStore();
        const agent = uniqueName('agent');
        const first = makeNewDecision({ agent });
        await store.decisions.insert(first);
        const again = makeNewDecision({ agent, id: first.decision.id, verdict: 'deny' });
        await expectCode(store.decisions.insert(again), 'STORE_CONFLICT');
        expect(await store.decisions.get(first.decision.id)).toEqual(first.decision);
      });

      it('fails only the conflicting insert of a batch, not the others', async () => {
        const store = await openStore();
        const agent = uniqueName('agent');
        const existing = makeNewDecision({ agent });
        await store.decisions.insert(existing);
        const good = Array.from({ length: 20 }, () => makeNewDecision({ agent }));
        const clash = makeNewDecision({ agent, id: existing.decision.id });
        const settled = await Promise.allSettled([
          ...good.slice(0, 10).map((e) => store.decisions.insert(e)),
          store.decisions.insert(clash),
          ...good.slice(10).map((e) => store.decisions.insert(e)),
        ]);
        const clashResult = settled[10];
        expect(clashResult?.status).toBe('rejected');
        expect(isGovernorError((clashResult as PromiseRejectedResult).reason, 'STORE_CONFLICT')).toBe(true);
        expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(20);
        for (const entry of good) expect(await store.decisions.get(entry.decision.id)).toEqual(entry.decision);
      });
    });

    describe('idempotency', () => {
      it('returns the earlier decision for a repeated (agent, key), with its digest', async () => {
        const store = await openStore();
        const agent = uniqueName('agent');
        const key = uniqueName('key');
        const first = makeNewDecision({ agent, idempotencyKey: key });
        const retry = makeNewDecision({ agent, idempotencyKey: key });
        expect((await store.decisions.insert(first)).created).toBe(true);
        const again = await store.decisions.insert(retry);
        expect(again).toEqual({ decision: first.decision, requestDigest: first.requestDigest, created: false });
        expect(await store.decisions.get(retry.decision.id)).toBeUndefined();
      });

      it('scopes keys per agent', async () => {
        const store = await openStore();
        const key = uniqueName('key');
        const a = makeNewDecision({ agent: uniqueName('agent'), idempotencyKey: key });
        const b = makeNewDecision({ agent: uniqueName('agent'), idempotencyKey: key });
        expect((await store.decisions.insert(a)).created).toBe(true);
        expect((await store.decisions.insert(b)).created).toBe(true);
        expect(await store.decisions.get(b.decision.id)).toEqual(b.decision);
      });

      it('stores one decision when concurrent inserts race on the same key', async () => {
        const store = await openStore();
        const agent = uniqueName('agent');
        const key = uniqueName('key');
        const entries = Array.from({ length: 25 }, () => makeNewDecision({ agent, idempotencyKey: key }));
        const results = await Promise.all(entries.map((entry) => store.decisions.insert(entry)));
        const winners = results.filter((r) => r.created);
        expect(winners).toHaveLength(1);
        const winner = winners[0] as (typeof results)[number];
        for (const r of results) {
          expect(r.decision.id).toBe(winner.decision.id);
          expect(r.requestDigest).toBe(winner.requestDigest);
        }
        expect(await store.decisions.list({ agent, limit: 100 })).toHaveLength(1);
      });

      it('stores one decision when two stores race on the same key', async () => {
        const [a, b] = await Promise.all([openStore(), openStore()]);
        const agent = uniqueName('agent');
        const key = uniqueName('key');
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).decisions.insert(makeNewDecision({ agent, idempotencyKey: key }))),
        );
        expect(results.filter((r) => r.created)).toHaveLength(1);
        expect(new Set(results.map((r) => r.decision.id)).size).toBe(1);
        expect(await a.decisions.list({ agent, limit: 100 })).toHaveLength(1);
      });
    });

    describe('recordOutcome', () => {
      it('records the outcome once and returns the decision with it', async () => {
        const store = await openStore();
        const entry = makeNewDecision({ agent: uniqueName('agent') });
        await store.decisions.insert(entry);
        const outcome = { status: 'failed' as const, detail: { exitCode: 2, stderr: 'boom' }, at: new Date().toISOString() };
        const updated = await store.decisions.recordOutcome(entry.decision.id, outcome);
        expect(updated).toEqual({ ...entry.decision, outcome });
        expect(await store.decisions.get(entry.decision.id)).toEqual({ ...entry.decision, outcome });
        await expectCode(
          store.decisions.recordOutcome(entry.decision.id, { status: 'succeeded', at: new Date().toISOString() }),
          'CONFLICT',
        );
        expect((await store.decisions.get(entry.decision.id))?.outcome).toEqual(outcome);
      });

      it('rejects an unknown id with NOT_FOUND', async () => {
        const store = await openStore();
        await expectCode(
          store.decisions.recordOutcome(uniqueName('missing'), { status: 'succeeded', at: new Date().toISOString() }),
          'NOT_FOUND',
        );
      });

      it('lets exactly one of concurrent outcomes win', async () => {
        const [a, b] = await Promise.all([openStore(), openStore()]);
        const entry = makeNewDecision({ agent: uniqueName('agent') });
        await a.decisions.insert(entry);
        const settled = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) =>
            (i % 2 === 0 ? a : b).decisions.recordOutcome(entry.decision.id, {
              status: 'succeeded',
              detail: { attempt: i },
              at: new Date().toISOString(),
            }),
          ),
        );
        const won = settled.filter((s) => s.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const s of settled) {
          if (s.status === 'rejected') expect(isGovernorError(s.reason, 'CONFLICT')).toBe(true);
        }
        const winner = (won[0] as PromiseFulfilledResult<Decision>).value;
        expect((await a.decisions.get(entry.decision.id))?.outcome).toEqual(winner.outcome);
      });
    });

    describe('transition', () => {
      it('moves a decision from the expected state and reports the new state everywhere', async () => {
        const store = await openStore();
        const agent = uniqueName('agent');
        const entry = makeNewDecision({ agent, verdict: 'pending' });
        await store.decisions.insert(entry);
        const updated = await store.decisions.transition(entry.decision.id, 'pending', 'approved');
        expect(updated).toEqual({ ...entry.decision, state: 'approved' });
        expect((await store.decisions.get(entry.decision.id))?.state).toBe('approved');
        expect(await store.decisions.list({ agent, state: 'approved', limit: 10 })).toEqual([updated]);
        expect(await store.decisions.list({ agent, state: 'pending', limit: 10 })).toEqual([]);
      });

      it('returns undefined and changes nothing when the state is not `from`', async () => {
        const store = await openStore();
        const entry = makeNewDecision({ agent: uniqueName('agent'), verdict: 'pending' });
        await store.decisions.insert(entry);
        expect(await store.decisions.transition(entry.decision.id, 'approved', 'expired')).toBeUndefined();
        expect(await store.decisions.get(entry.decision.id)).toEqual(entry.decision);
        expect(await store.decisions.transition(uniqueName('missing'), 'pending', 'approved')).toBeUndefined();
      });

      it('lets exactly one of N concurrent transitions win', async () => {
        const [a, b] = await Promise.all([openStore(), openStore()]);
        const entry = makeNewDecision({ agent: uniqueName('agent'), verdict: 'pending' });
        await a.decisions.insert(entry);
        const targets: DecisionState[] = Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? 'rejected' : i % 3 === 1 ? 'approved' : 'expired'));
        const results = await Promise.all(
          targets.map((to, i) => (i % 2 === 0 ? a : b).decisions.transition(entry.decision.id, 'pending', to)),
        );
        const winners = results.filter((r) => r !== undefined);
        expect(winners).toHaveLength(1);
        const winner = winners[0] as Decision;
        expect(targets).toContain(winner.state);
        expect((await b.decisions.get(entry.decision.id))?.state).toBe(winner.state);
      });
    });

    describe('transition with a change', () => {
      it('sets the verdict and resolution and appends the leaf only when the transition happens', async () => {
        const store = await openStore();
        const entry = makeNewDecision({ agent: uniqueName('agent'), verdict: 'pending' });
        await store.decisions.insert(entry);
        const before = await store.audit.treeHead();
        const leaf = makeLeaf('resolution');
        const updated = await store.decisions.transition(entry.decision.id, 'pending', 'approved', {
          verdict: 'allow',
          resolution: { state: 'approved', by: ['alice', 'bob'] },
          leaf,
        });
        expect(updated?.state).toBe('approved');
        expect(updated?.verdict).toBe('allow');
        const resolution = (updated as Decision & { resolution: { by: string[]; audit: { index: number; leafHash: string } } }).resolution;
        expect(resolution.by).toEqual(['alice', 'bob']);
        expect(resolution.audit.leafHash).toBe(encodeHex(leaf.hash));
        expect(resolution.audit.index).toBeGreaterThanOrEqual(before.size);
        const [stored] = await store.audit.leaves(resolution.audit.index, resolution.audit.index + 1);
        expect(stored?.bytes).toEqual(leaf.bytes);
        expect(await store.decisions.get(entry.decision.id)).toEqual(updated);
        expect((await store.decisions.list({ agent: entry.decision.principal.agent, limit: 5 }))[0]?.verdict).toBe('allow');

        // A lost race writes nothing: no leaf either.
        const size = (await store.audit.treeHead()).size;
        expect(await store.decisions.transition(entry.decision.id, 'pending', 'rejected', { verdict: 'deny', resolution: { state: 'rejected' }, leaf: makeLeaf('lost') })).toBeUndefined();
        const after = await store.audit.treeHead();
        expect(after.size).toBe(size);
      });

      it('lists oldest first on request', async () => {
        const store = await openStore();
        const agent = uniqueName('agent');
        const first = makeNewDecision({ agent, verdict: 'pending', createdAt: '2026-01-01T00:00:00.000Z' });
        const second = makeNewDecision({ agent, verdict: 'pending', createdAt: '2026-01-02T00:00:00.000Z' });
        await store.decisions.insert(second);
        await store.decisions.insert(first);
        const oldest = await store.decisions.list({ agent, state: 'pending', limit: 10, order: 'oldest' });
        expect(oldest.map((d) => d.id)).toEqual([first.decision.id, second.decision.id]);
      });
    });

    describe('records', () => {
      it('inserts once, keeps the first, and appends the leaf only for the insert that happened', async () => {
        const store = await openStore();
        const id = uniqueName('vote');
        const leaf = makeLeaf('vote');
        const at = '2026-11-21T10:00:00.000Z';
        const first = await store.records.insert({ kind: 'vote', id, parent: 'decision-1', state: 'approve', body: { voter: 'alice' }, at, leaf });
        expect(first.created).toBe(true);
        expect(first.record).toMatchObject({ kind: 'vote', id, parent: 'decision-1', state: 'approve', version: 1, body: { voter: 'alice' } });
        expect(first.record.audit?.leafHash).toBe(encodeHex(leaf.hash));
        const size = (await store.audit.treeHead()).size;
        const again = await store.records.insert({ kind: 'vote', id, state: 'deny', body: { voter: 'mallory' }, at, leaf: makeLeaf('again') });
        expect(again.created).toBe(false);
        expect(again.record.body).toEqual({ voter: 'alice' });
        expect((await store.audit.treeHead()).size).toBe(size);
        expect(await store.records.get('vote', id)).toEqual(first.record);
        expect(await store.records.get('vote', uniqueName('missing'))).toBeUndefined();
      });

      it('updates by compare-and-set on the version: exactly one of N concurrent updates wins', async () => {
        const [a, b] = await Promise.all([openStore(), openStore()]);
        const id = uniqueName('kill');
        const at = '2026-11-21T10:00:00.000Z';
        const { record } = await a.records.insert({ kind: 'kill', id, state: 'active', body: { n: 0 }, at });
        const results = await Promise.all(
          Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).records.update({ kind: 'kill', id, version: record.version, state: 'lifted', body: { n: i }, at, leaf: makeLeaf(`lift-${i}`) })),
        );
        const winners = results.filter((r) => r !== undefined);
        expect(winners).toHaveLength(1);
        expect(winners[0]?.version).toBe(2);
        expect(winners[0]?.state).toBe('lifted');
        expect(await b.records.get('kill', id)).toEqual(winners[0]);
        expect(await a.records.update({ kind: 'kill', id: uniqueName('missing'), version: 1, state: 'x', body: {}, at })).toBeUndefined();
      });

      it('lists by kind, parent and state in either order', async () => {
        const store = await openStore();
        const parent = uniqueName('decision');
        for (let i = 0; i < 3; i++) {
          await store.records.insert({ kind: 'vote', id: `${parent}/${i}`, parent, state: i === 1 ? 'deny' : 'approve', body: { i }, at: `2026-11-21T10:00:0${i}.000Z` });
        }
        const all = await store.records.list({ kind: 'vote', parent, limit: 10 });
        expect(all.map((r) => (r.body as { i: number }).i)).toEqual([0, 1, 2]);
        const newest = await store.records.list({ kind: 'vote', parent, limit: 2, order: 'newest' });
        expect(newest.map((r) => (r.body as { i: number }).i)).toEqual([2, 1]);
        const denies = await store.records.list({ kind: 'vote', parent, state: 'deny', limit: 10 });
        expect(denies).toHaveLength(1);
      });

      it('refuses malformed records before they reach a batch', async () => {
        const store = await openStore();
        const at = '2026-11-21T10:00:00.000Z';
        await expectCode(store.records.insert({ kind: '', id: 'x', state: 's', body: {}, at }), 'BAD_REQUEST');
        await expectCode(store.records.insert({ kind: 'k', id: 'x', state: 's', body: [] as unknown as object, at }), 'BAD_REQUEST');
        await expectCode(store.records.insert({ kind: 'k', id: 'x', state: 's', body: {}, at: 'yesterday' }), 'BAD_REQUEST');
        await expectCode(store.records.insert({ kind: 'k', id: 'x', state: 's', body: { big: 'x'.repeat(300 * 1024) }, at }), 'PAYLOAD_TOO_LARGE');
      });
    });

    describe('budgets', () => {
      it('lets exactly one of two concurrent 4% reservations into a 5% budget, across two stores', async () => {
        const [a, b] = await Promise.all([openStore(), openStore()]);
        const key = uniqueName('budget');
        const now = Date.now();
        const demand = { key, amount: 0.04, max: 0.05, since: now - 600_000 };
        const results = await Promise.all(
          Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? a : b).budgets.reserve({ demands: [demand], decisionId: `d${i}`, at: now })),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        const refused = results.find((r) => !r.ok);
        expect(refused).toMatchObject({ ok: false, key, amount: 0.04, max: 0.05 });
        expect(await a.budgets.used(key, now - 600_000)).toBeCloseTo(0.04);
      });

      it('stores a decision with its conditions in one transaction, or nothing at all', async () => {
        const [a, b] = await Promise.all([openStore(), openStore()]);
        const key = uniqueName('budget');
        const now = Date.now();
        const agent = uniqueName('agent');
        const draw = [{ key, amount: 0.04, max: 0.05, since: now - 600_000 }];
        const results = await Promise.allSettled(
          Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).decisions.insert({ ...makeAuditedDecision({ agent }), conditions: { budgets: draw } })),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect(isGovernorError(r.reason, 'CONDITION_FAILED')).toBe(true);
        expect(await a.decisions.list({ agent, limit: 50 })).toHaveLength(1);
        expect(await a.budgets.used(key, now - 600_000)).toBeCloseTo(0.04);

        // A compare-and-set of a record (a grant's use) with the decision.
        const at = new Date(now).toISOString();
        const id = uniqueName('grant');
        const { record } = await a.records.insert({ kind: 'grant', id, state: 'active', body: { uses: 0 }, at });
        const used = await a.decisions.insert({ ...makeAuditedDecision({ agent }), conditions: { update: { kind: 'grant', id, version: record.version, state: 'active', body: { uses: 1 }, at } } });
        expect(used.created).toBe(true);
        expect((await a.records.get('grant', id))?.body).toEqual({ uses: 1 });
        const stale = makeAuditedDecision({ agent });
        await expectCode(b.decisions.insert({ ...stale, conditions: { update: { kind: 'grant', id, version: record.version, state: 'active', body: { uses: 1 }, at } } }), 'CONDITION_FAILED');
        expect(await b.decisions.get(stale.decision.id)).toBeUndefined();
        // (Leaf counts are not checked here: the PostgreSQL log is shared with concurrent test files.)
      });

      it('applies no condition for an idempotent retry', async () => {
        const store = await openStore();
        const key = uniqueName('budget');
        const now = Date.now();
        const entry = { ...makeAuditedDecision({ agent: uniqueName('agent') }), idempotencyKey: 'k-1', conditions: { budgets: [{ key, amount: 1, max: 10, since: now - 1000 }] } };
        expect((await store.decisions.insert(entry)).created).toBe(true);
        expect((await store.decisions.insert(entry)).created).toBe(false);
        expect(await store.budgets.used(key, now - 1000)).toBe(1);
      });

      it('slides the window, takes all demands or none, and refuses malformed ones', async () => {
        const store = await openStore();
        const [k1, k2] = [uniqueName('budget'), uniqueName('budget')];
        const now = Date.now();
        expect(await store.budgets.reserve({ demands: [{ key: k1, amount: 3, max: 4, since: now - 1000 }], decisionId: 'old', at: now - 5000 })).toEqual({ ok: true });
        // The old usage is outside a window starting 1 s ago.
        expect(await store.budgets.reserve({ demands: [{ key: k1, amount: 3, max: 4, since: now - 1000 }], decisionId: 'new', at: now })).toEqual({ ok: true });
        // k2 fits, k1 does not: neither is recorded.
        const both = await store.budgets.reserve({ demands: [{ key: k2, amount: 1, max: 10, since: now - 1000 }, { key: k1, amount: 2, max: 4, since: now - 1000 }], decisionId: 'both', at: now });
        expect(both.ok).toBe(false);
        expect(await store.budgets.used(k2, now - 1000)).toBe(0);
        expect((await store.budgets.reserve({ demands: [{ key: k2, amount: Infinity, max: 10, since: now }], decisionId: 'x', at: now })).ok).toBe(false);
        await expectCode(store.budgets.reserve({ demands: [{ key: k2, amount: Number.NaN, max: 10, since: now }], decisionId: 'x', at: now }), 'BAD_REQUEST');
        await expectCode(store.budgets.reserve({ demands: [{ key: k2, amount: -1, max: 10, since: now }], decisionId: 'x', at: now }), 'BAD_REQUEST');
        await expectCode(store.budgets.reserve({ demands: [], decisionId: 'x', at: now }), 'BAD_REQUEST');
      });
    });

    describe('list', () => {
      it('lists newest first, filters by agent and state, and honours the limit', async () => {
        const store = await openStore();
        const agent = uniqueName('agent');
        const base = Date.parse('2030-01-01T00:00:00.000Z');
        const entries = Array.from({ length: 6 }, (_, i) =>
          makeNewDecision({ agent, verdict: i % 2 === 0 ? 'pending' : 'allow', createdAt: new Date(base + i * 1000).toISOString() }),
        );
        // Inserted out of order: the listing follows createdAt, not insertion.
        for (const i of [3, 0, 5, 1, 4, 2]) await store.decisions.insert(entries[i] as (typeof entries)[number]);
        const newestFirst = [...entries].reverse().map((e) => e.decision);

        expect(await store.decisions.list({ agent, limit: 100 })).toEqual(newestFirst);
        expect(await store.decisions.list({ agent, limit: 2 })).toEqual(newestFirst.slice(0, 2));
        expect(await store.decisions.list({ agent, state: 'pending', limit: 100 })).toEqual(
          newestFirst.filter((d) => d.state === 'pending'),
        );
        expect(await store.decisions.list({ agent, limit: 0 })).toEqual([]);
        expect(await store.decisions.list({ agent: uniqueName('nobody'), limit: 10 })).toEqual([]);
      });

      it('orders decisions with the same createdAt by insertion, newest first', async () => {
        const store = await openStore();
        const agent = uniqueName('agent');
        const createdAt = new Date().toISOString();
        const entries = Array.from({ length: 3 }, () => makeNewDecision({ agent, createdAt }));
        for (const entry of entries) await store.decisions.insert(entry);
        expect((await store.decisions.list({ agent, limit: 10 })).map((d) => d.id)).toEqual(
          entries.map((e) => e.decision.id).reverse(),
        );
      });

      it('filters by state across agents, newest first', async () => {
        const store = await openStore();
        const entry = makeNewDecision({ agent: uniqueName('agent'), verdict: 'pending', createdAt: '2999-01-01T00:00:00.000Z' });
        await store.decisions.insert(entry);
        const pending = await store.decisions.list({ state: 'pending', limit: 5 });
        expect(pending[0]).toEqual(entry.decision);
        expect(pending.every((d) => d.state === 'pending')).toBe(true);
        const all = await store.decisions.list({ limit: 50 });
        const times = all.map((d) => Date.parse(d.createdAt));
        expect(times).toEqual([...times].sort((x, y) => y - x));
      });

      it('caps the limit at 1000', async () => {
        const store = await openStore();
        const agent = uniqueName('agent');
        await Promise.all(Array.from({ length: 1005 }, () => store.decisions.insert(makeNewDecision({ agent }))));
        expect(await store.decisions.list({ agent, limit: 5000 })).toHaveLength(1000);
      });

      it('rejects a negative limit with BAD_REQUEST', async () => {
        const store = await openStore();
        await expectCode(store.decisions.list({ limit: -1 }), 'BAD_REQUEST');
      });
    });

    describe('audit log', () => {
      const crypto = nodeAuditCrypto;

      it('appends the leaves of 200 concurrent inserts with dense indices in call order, and stores the tree they make', async () => {
        const store = await openStore();
        const before = (await store.audit.treeHead()).size;
        const agent = uniqueName('agent');
        const entries = Array.from({ length: 200 }, () => makeAuditedDecision({ agent }));
        const results = await Promise.all(entries.map((entry) => store.decisions.insert(entry)));
        results.forEach((result, i) => {
          const entry = entries[i] as (typeof entries)[number];
          expect(result).toEqual({
            decision: { ...entry.decision, audit: { index: before + i, leafHash: encodeHex(entry.leaf.hash) } },
            requestDigest: entry.requestDigest,
            created: true,
          });
        });
        for (const [i, entry] of entries.entries()) {
          expect(await store.decisions.get(entry.decision.id)).toEqual((results[i] as (typeof results)[number]).decision);
        }
        expect((await store.audit.treeHead()).size).toBe(before + 200);
        const leaves = await store.audit.leaves(before, before + 200);
        expect(leaves.map((leaf) => leaf.index)).toEqual(entries.map((_, i) => before + i));
        expect(leaves.map((leaf) => leaf.bytes)).toEqual(entries.map((entry) => entry.leaf.bytes));
        await verifyStoredTree(store);
      });

      it('gives leaves of every kind of write in one batch consecutive indices, in call order', async () => {
        const store = await openStore();
        const agent = uniqueName('agent');
        const earlier = makeNewDecision({ agent, verdict: 'pending' });
        await store.decisions.insert(earlier);
        const before = (await store.audit.treeHead()).size;
        const audited = makeAuditedDecision({ agent });
        const outcomeLeaf = makeLeaf('outcome');
        const outcome = { status: 'succeeded' as const, at: new Date().toISOString() };
        const [plain, appended, inserted, recorded, moved, appendedLast] = await Promise.all([
          store.decisions.insert(makeNewDecision({ agent })),
          store.audit.append(makeLeaf('vote')),
          store.decisions.insert(audited),
          store.decisions.recordOutcome(earlier.decision.id, outcome, outcomeLeaf),
          store.decisions.transition(earlier.decision.id, 'pending', 'approved'),
          store.audit.append(makeLeaf('kill')),
        ]);
        expect(plain.decision.audit).toBeUndefined();
        expect(appended).toEqual({ index: before });
        expect(inserted.decision.audit).toEqual({ index: before + 1, leafHash: encodeHex(audited.leaf.hash) });
        const outcomeAudit = { index: before + 2, leafHash: encodeHex(outcomeLeaf.hash) };
        expect(recorded).toEqual({ ...earlier.decision, outcome: { ...outcome, audit: outcomeAudit } });
        expect(moved?.outcome).toEqual({ ...outcome, audit: outcomeAudit });
        expect(appendedLast).toEqual({ index: before + 3 });
        expect((await store.decisions.get(earlier.decision.id))?.outcome?.audit).toEqual(outcomeAudit);
        expect((await store.audit.treeHead()).size).toBe(before + 4);
        const texts = (await store.audit.leaves(before, before + 4)).map((leaf) => new TextDecoder().decode(leaf.bytes));
        expect(texts).toEqual(['vote', `decision ${audited.decision.id}`, 'outcome', 'kill']);
      });

      it('serves inclusion and consistency proofs from O(log n) stored subtrees that verify', async () => {
        const store = await openStore();
        await Promise.all(Array.from({ length: 150 }, () => store.audit.append(makeLeaf())));
        const tree = await verifyStoredTree(store);
        const size = tree.size;
        const head = await store.audit.treeHead();
        const random = seeded(size);
        for (let n = 0; n < 40; n++) {
          const treeSize = 1 + Math.floor(random() * size);
          const index = Math.floor(random() * treeSize);
          const plan = inclusionPlan(index, treeSize);
          expect(subtreesOf(plan).length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(treeSize + 1)) + 1);
          const proof = await proofFrom(store, plan);
          const root = resolveNode(crypto, rootPlan(treeSize), hashReader(await store.audit.subtrees(rootPlan(treeSize))));
          expect(verifyInclusion(crypto, tree.subtree(0, index), index, treeSize, proof, root)).toEqual({ ok: true });
          expect(verifyInclusion(crypto, tree.subtree(0, index), index, treeSize, proof, tree.root(treeSize))).toEqual({ ok: true });

          const size2 = 1 + Math.floor(random() * size);
          const size1 = 1 + Math.floor(random() * size2);
          const consistency = await proofFrom(store, consistencyPlan(size1, size2));
          expect(verifyConsistency(crypto, size1, size2, consistency, tree.root(size1), tree.root(size2))).toEqual({ ok: true });
        }
        const whole = await proofFrom(store, consistencyPlan(1, head.size));
        expect(verifyConsistency(crypto, 1, head.size, whole, tree.root(1), head.rootHash)).toEqual({ ok: true });
      });

      it('appends no leaf for an idempotent duplicate, a conflicting id or a refused outcome', async () => {
        const store = await openStore();
        const agent = uniqueName('agent');
        const key = uniqueName('key');
        const first = makeAuditedDecision({ agent, idempotencyKey: key });
        const stored = (await store.decisions.insert(first)).decision;
        const before = (await store.audit.treeHead()).size;

        const retry = await store.decisions.insert(makeAuditedDecision({ agent, idempotencyKey: key }));
        expect(retry).toEqual({ decision: stored, requestDigest: first.requestDigest, created: false });
        await expectCode(store.decisions.insert({ ...makeAuditedDecision({ agent }), decision: first.decision }), 'STORE_CONFLICT');
        await expectCode(
          store.decisions.recordOutcome(uniqueName('missing'), { status: 'failed', at: new Date().toISOString() }, makeLeaf()),
          'NOT_FOUND',
        );
        await store.decisions.recordOutcome(first.decision.id, { status: 'succeeded', at: new Date().toISOString() }, makeLeaf());
        await expectCode(
          store.decisions.recordOutcome(first.decision.id, { status: 'failed', at: new Date().toISOString() }, makeLeaf()),
          'CONFLICT',
        );
        expect((await store.audit.treeHead()).size).toBe(before + 1);

        // Racing in one batch, with a retry of the first key among them: one
        // leaf for the winner and none for the retry; the others keep dense
        // indices, and each stored decision names its own leaf.
        const raceKey = uniqueName('key');
        const racing = Array.from({ length: 25 }, (_, i) =>
          i === 3
            ? makeAuditedDecision({ agent, idempotencyKey: key })
            : i % 5 === 0
              ? makeAuditedDecision({ agent })
              : makeAuditedDecision({ agent, idempotencyKey: raceKey }),
        );
        const results = await Promise.all(racing.map((entry) => store.decisions.insert(entry)));
        expect(results[3]).toMatchObject({ decision: { id: first.decision.id, audit: stored.audit }, created: false });
        const created = results.filter((r) => r.created);
        expect(created).toHaveLength(6);
        expect(created.map((r) => r.decision.audit?.index)).toEqual([0, 1, 2, 3, 4, 5].map((i) => before + 1 + i));
        const winner = results[1] as (typeof results)[number];
        for (const r of results.filter((_, i) => i % 5 !== 0 && i !== 3)) expect(r.decision).toEqual(winner.decision);
        expect((await store.audit.treeHead()).size).toBe(before + 7);
        for (const r of created) {
          const audit = r.decision.audit as NonNullable<Decision['audit']>;
          expect((await store.decisions.get(r.decision.id))?.audit).toEqual(audit);
          const [leaf] = await store.audit.leaves(audit.index, audit.index + 1);
          expect(new TextDecoder().decode(leaf?.bytes)).toBe(`decision ${r.decision.id}`);
        }
        await verifyStoredTree(store);
      });

      it('refuses a leaf whose hash is not SHA-256(0x00 ‖ bytes), or that is too large, and writes nothing', async () => {
        const store = await openStore();
        const before = await store.audit.treeHead();
        const entry = makeAuditedDecision();
        const forged = { ...entry, leaf: { bytes: entry.leaf.bytes, hash: makeLeaf().hash } };
        await expectCode(store.decisions.insert(forged), 'BAD_REQUEST');
        await expectCode(store.audit.append({ bytes: entry.leaf.bytes, hash: entry.leaf.hash.slice(1) }), 'BAD_REQUEST');
        const huge = new Uint8Array(MAX_LEAF_BYTES + 1);
        await expectCode(store.audit.append({ bytes: huge, hash: hashLeaf(crypto, huge) }), 'PAYLOAD_TOO_LARGE');
        expect(await store.decisions.get(entry.decision.id)).toBeUndefined();
        expect(await store.audit.treeHead()).toEqual(before);

        const largest = new Uint8Array(MAX_LEAF_BYTES).fill(7);
        const { index } = await store.audit.append({ bytes: largest, hash: hashLeaf(crypto, largest) });
        expect((await store.audit.leaves(index, index + 1))[0]?.bytes).toEqual(largest);
      });

      it('stores the leaf bytes as they were when appended, whatever the caller does with its arrays afterwards', async () => {
        const store = await openStore();
        const leaf = makeLeaf('original');
        const pending = store.audit.append(leaf);
        leaf.bytes.fill(0);
        const { index } = await pending;
        const [stored] = await store.audit.leaves(index, index + 1);
        expect(new TextDecoder().decode(stored?.bytes)).toBe('original');

        // RFC 6962 allows an empty leaf.
        const empty = await store.audit.append(makeLeaf(''));
        expect(await store.audit.leaves(empty.index, empty.index + 1)).toEqual([{ index: empty.index, bytes: new Uint8Array(0) }]);
        await verifyStoredTree(store);
      });

      it('reads leaves in ranges capped at 1000 and at the tree size', async () => {
        const store = await openStore();
        await store.audit.append(makeLeaf());
        const { size } = await store.audit.treeHead();
        expect((await store.audit.leaves(0, size + 5000)).length).toBe(Math.min(size, 1000));
        expect(await store.audit.leaves(size, size + 10)).toEqual([]);
        expect((await store.audit.leaves(size - 1, size + 10)).map((leaf) => leaf.index)).toEqual([size - 1]);
        expect(await store.audit.leaves(5, 5)).toEqual([]);
        await expectCode(store.audit.leaves(-1, 3), 'BAD_REQUEST');
        await expectCode(store.audit.leaves(0.5, 3), 'BAD_REQUEST');
      });

      it('rejects subtrees it does not hold with AUDIT_INVALID, and ids that name none with BAD_REQUEST', async () => {
        const store = await openStore();
        await store.audit.append(makeLeaf());
        const { size } = await store.audit.treeHead();
        expect((await store.audit.subtrees([])).size).toBe(0);
        expect([...(await store.audit.subtrees([{ level: 0, index: size - 1 }])).keys()]).toEqual([`0/${size - 1}`]);
        await expectCode(store.audit.subtrees([{ level: 0, index: size }]), 'AUDIT_INVALID');
        await expectCode(store.audit.subtrees([{ level: 0, index: 0 }, { level: 40, index: 0 }]), 'AUDIT_INVALID');
        await expectCode(store.audit.subtrees([{ level: -1, index: 0 }]), 'BAD_REQUEST');
        await expectCode(store.audit.subtrees([{ level: 1, index: 0.5 }]), 'BAD_REQUEST');
      });

      it('stores checkpoints, keeps the first one of a size, and lists them oldest first', async () => {
        const store = await openStore();
        await Promise.all([store.audit.append(makeLeaf()), store.audit.append(makeLeaf())]);
        const { size } = await store.audit.treeHead();
        await store.audit.saveCheckpoint({ size: size - 1, note: 'note at size - 1\n' });
        await store.audit.saveCheckpoint({ size, note: 'first note\n' });
        await store.audit.saveCheckpoint({ size, note: 'second note\n' });
        const latest = await store.audit.latestCheckpoint();
        expect(latest).toMatchObject({ size, note: 'first note\n' });
        expect(Date.parse(latest?.createdAt ?? '')).toBeGreaterThan(Date.now() - 60_000);
        expect(latest?.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        const listed = await store.audit.checkpoints(size - 2, 10);
        expect(listed.map((c) => [c.size, c.note])).toEqual([
          [size - 1, 'note at size - 1\n'],
          [size, 'first note\n'],
        ]);
        expect(await store.audit.checkpoints(size - 2, 1)).toHaveLength(1);
        expect(await store.audit.checkpoints(size, 10)).toEqual([]);
        await expectCode(store.audit.saveCheckpoint({ size: size + 1000, note: 'beyond\n' }), 'BAD_REQUEST');
        await expectCode(store.audit.saveCheckpoint({ size: -1, note: 'x' }), 'BAD_REQUEST');
        await expectCode(store.audit.checkpoints(0, -1), 'BAD_REQUEST');
      });

      it('refuses UPDATE and DELETE of leaves, subtrees and checkpoints, and moving the head back, through SQL', async () => {
        const store = await openStore();
        await Promise.all([store.audit.append(makeLeaf()), store.audit.append(makeLeaf())]);
        const { size } = await store.audit.treeHead();
        await store.audit.saveCheckpoint({ size, note: 'checkpoint\n' });
        const refused = [
          'UPDATE audit_leaves SET leaf = leaf_hash WHERE idx = 0',
          'DELETE FROM audit_leaves WHERE idx = 0',
          'DELETE FROM audit_leaves',
          'UPDATE audit_subtrees SET hash = hash WHERE level = 1 AND idx = 0',
          'DELETE FROM audit_subtrees',
          `UPDATE audit_checkpoints SET note = 'forged' WHERE size = ${size}`,
          'DELETE FROM audit_checkpoints',
          'UPDATE audit_head SET size = 0',
          'DELETE FROM audit_head',
        ];
        for (const statement of refused) {
          await expect(engine.sql(statement), statement).rejects.toThrow(/append-only/);
        }
        await engine.sql(`UPDATE audit_head SET size = size`);
        expect((await store.audit.treeHead()).size).toBe(size);
        expect((await store.audit.latestCheckpoint())?.note).toBe('checkpoint\n');
        await verifyStoredTree(store);
      });

      it('lets two stores on one database append concurrently with dense indices and one consistent tree', async () => {
        const [a, b] = await Promise.all([openStore(), openStore()]);
        const before = (await a.audit.treeHead()).size;
        const agent = uniqueName('agent');
        const writes = Array.from({ length: 200 }, (_, i): Promise<number> => {
          const store = i % 2 === 0 ? a : b;
          if (i % 3 === 0) return store.audit.append(makeLeaf()).then((r) => r.index);
          return store.decisions.insert(makeAuditedDecision({ agent })).then((r) => r.decision.audit?.index ?? -1);
        });
        // A third wave while the first is still being written.
        const more = Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? b : a).audit.append(makeLeaf()).then((r) => r.index));
        const indices = await Promise.all([...writes, ...more]);
        expect([...indices].sort((x, y) => x - y)).toEqual(Array.from({ length: 300 }, (_, i) => before + i));
        const [headA, headB] = await Promise.all([a.audit.treeHead(), b.audit.treeHead()]);
        expect(headA).toEqual(headB);
        expect(headA.size).toBe(before + 300);
        await verifyStoredTree(b);
      });

      it('keeps the tree across close and reopen, and continues it', async () => {
        const store = await open();
        await Promise.all(Array.from({ length: 10 }, () => store.audit.append(makeLeaf())));
        const head = await store.audit.treeHead();
        await store.close();

        const reopened = await openStore();
        expect(await reopened.audit.treeHead()).toEqual(head);
        expect(await reopened.audit.append(makeLeaf())).toEqual({ index: head.size });
        const entry = makeAuditedDecision();
        expect((await reopened.decisions.insert(entry)).decision.audit?.index).toBe(head.size + 1);
        await verifyStoredTree(reopened);
      });
    });

    describe('close', () => {
      it('flushes writes still queued, then closes', async () => {
        const store = await open();
        const agent = uniqueName('agent');
        const entries = Array.from({ length: 50 }, () => makeNewDecision({ agent }));
        const pending = entries.map((entry) => store.decisions.insert(entry));
        await store.close();
        expect((await Promise.all(pending)).every((r) => r.created)).toBe(true);
        const reopened = await openStore();
        expect(await reopened.decisions.list({ agent, limit: 100 })).toHaveLength(50);
      });

      it('rejects every operation with STORE_UNAVAILABLE once closed, and closes twice', async () => {
        const store = await open();
        const entry = makeNewDecision({ agent: uniqueName('agent'), verdict: 'pending' });
        await store.decisions.insert(entry);
        await store.close();
        await store.close();
        await expectCode(store.ping(), 'STORE_UNAVAILABLE');
        await expectCode(store.decisions.insert(makeNewDecision()), 'STORE_UNAVAILABLE');
        await expectCode(store.decisions.get(entry.decision.id), 'STORE_UNAVAILABLE');
        await expectCode(store.decisions.list({ limit: 1 }), 'STORE_UNAVAILABLE');
        await expectCode(store.decisions.transition(entry.decision.id, 'pending', 'approved'), 'STORE_UNAVAILABLE');
        await expectCode(
          store.decisions.recordOutcome(entry.decision.id, { status: 'succeeded', at: new Date().toISOString() }),
          'STORE_UNAVAILABLE',
        );
        await expectCode(store.audit.append(makeLeaf()), 'STORE_UNAVAILABLE');
        await expectCode(store.audit.treeHead(), 'STORE_UNAVAILABLE');
        await expectCode(store.audit.leaves(0, 1), 'STORE_UNAVAILABLE');
        await expectCode(store.audit.subtrees([{ level: 0, index: 0 }]), 'STORE_UNAVAILABLE');
        await expectCode(store.audit.latestCheckpoint(), 'STORE_UNAVAILABLE');
      });

      it('keeps everything across close and reopen', async () => {
        const store = await open();
        const agent = uniqueName('agent');
        const key = uniqueName('key');
        const entry = makeNewDecision({ agent, verdict: 'pending', idempotencyKey: key });
        await store.decisions.insert(entry);
        await store.decisions.transition(entry.decision.id, 'pending', 'approved');
        const outcome = { status: 'succeeded' as const, at: new Date().toISOString() };
        await store.decisions.recordOutcome(entry.decision.id, outcome);
        await store.close();

        const reopened = await openStore();
        const expected = { ...entry.decision, state: 'approved', outcome };
        expect(await reopened.decisions.get(entry.decision.id)).toEqual(expected);
        const retry = await reopened.decisions.insert(makeNewDecision({ agent, idempotencyKey: key }));
        expect(retry).toEqual({ decision: expected, requestDigest: entry.requestDigest, created: false });
      });
    });
  });
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error, `expected a GovernorError ${code}`).toBeDefined();
  expect(isGovernorError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
}

/** The proof `plan` names, from subtrees fetched from `store` in one call. */
async function proofFrom(store: Store, plan: readonly NodeRecipe[]): Promise<Uint8Array[]> {
  return resolveProof(nodeAuditCrypto, plan, hashReader(await store.audit.subtrees(subtreesOf(plan))));
}

/** A small deterministic PRNG (mulberry32), so a failing proof test can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

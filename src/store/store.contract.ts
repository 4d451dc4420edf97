import { afterEach, describe, expect, it } from 'vitest';
import { isGovernorError, type ErrorCode } from '../core/errors.js';
import type { Decision, DecisionState } from '../core/types.js';
import type { Store } from './store.js';
import { makeNewDecision, uniqueName } from './test-fixtures.js';

/**
 * The behaviour every Store adapter must have. `open` must open a store over
 * the same database on every call (so data written by one store is read by the
 * next); tests keep to their own agents and ids, so the database may be shared
 * with other tests and need not be empty.
 */
export function runStoreContract(name: string, open: () => Promise<Store>): void {
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

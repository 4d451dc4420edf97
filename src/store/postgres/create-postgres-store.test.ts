import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nodeAuditCrypto } from '../../audit/node-crypto.js';
import { emptyRoot } from '../../audit/pure/merkle.js';
import { isGovernorError } from '../../core/errors.js';
import type { BatchInfo } from '../group-commit.js';
import type { Store } from '../store.js';
import {
  makeAuditedDecision,
  makeLeaf,
  makeNewDecision,
  testDatabaseUrl,
  uniqueName,
  verifyStoredTree,
} from '../test-fixtures.js';
import { createPostgresStore, type PostgresStoreOptions } from './create-postgres-store.js';
import { POSTGRES_MIGRATIONS } from './migrations.js';

const url = testDatabaseUrl();
const isUnavailable = (err: unknown): boolean => isGovernorError(err, 'STORE_UNAVAILABLE');
const isAuditUnavailable = (err: unknown): boolean => isGovernorError(err, 'AUDIT_UNAVAILABLE');

/**
 * A TCP relay to the PostgreSQL server that the test can stop: stopping it
 * closes every relayed connection and refuses new ones, as a server that went
 * down or a network partition does.
 */
async function startRelay(target: string): Promise<{ readonly connectionString: string; stop(): Promise<void> }> {
  const url = new URL(target);
  const sockets = new Set<Socket>();
  const relay = createServer((client) => {
    const upstream = connect(Number(url.port || 5432), url.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const relayed = new URL(target);
  relayed.hostname = '127.0.0.1';
  relayed.port = String((relay.address() as AddressInfo).port);
  return {
    connectionString: relayed.toString(),
    stop: async () => {
      const closed = new Promise((resolve) => relay.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** Settles within `ms`, or fails the test: a store must never hang. */
async function within<T>(ms: number, promise: Promise<T>): Promise<PromiseSettledResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
  });
  try {
    const [settled] = await Promise.race([Promise.allSettled([promise]), timeout]);
    return settled as PromiseSettledResult<T>;
  } finally {
    clearTimeout(timer);
  }
}

describe('createPostgresStore: unreachable servers', () => {
  it('fails with STORE_UNAVAILABLE at once when nothing listens on the port', async () => {
    const started = Date.now();
    const result = await within(
      5000,
      createPostgresStore({ connectionString: 'postgres://postgres@127.0.0.1:1/test', connectTimeoutMs: 2000 }),
    );
    expect(result.status).toBe('rejected');
    expect(isUnavailable((result as PromiseRejectedResult).reason)).toBe(true);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('fails with STORE_UNAVAILABLE within connectTimeoutMs when the server never answers', async () => {
    // Accepts TCP connections and never speaks: what a hung server or a
    // half-open network path looks like to the client.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const started = Date.now();
      const result = await within(
        5000,
        createPostgresStore({ connectionString: `postgres://postgres@127.0.0.1:${port}/test`, connectTimeoutMs: 500 }),
      );
      expect(result.status).toBe('rejected');
      expect(isUnavailable((result as PromiseRejectedResult).reason)).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
      expect(Date.now() - started).toBeLessThan(2500);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('rejects bad options with CONFIG_INVALID', async () => {
    await expect(
      createPostgresStore({ connectionString: 'postgres://127.0.0.1:1/x', schema: 'bad"; DROP SCHEMA public; --' }),
    ).rejects.toSatisfy((err) => isGovernorError(err, 'CONFIG_INVALID'));
    await expect(createPostgresStore({ connectionString: '' })).rejects.toSatisfy((err) => isGovernorError(err, 'CONFIG_INVALID'));
    await expect(createPostgresStore({ connectionString: 'postgres://127.0.0.1:1/x', poolSize: 0 })).rejects.toSatisfy((err) =>
      isGovernorError(err, 'CONFIG_INVALID'),
    );
  });
});

describe.skipIf(url === undefined)('createPostgresStore: against a server', () => {
  const connectionString = url as string;
  const schema = `gov_test_${randomBytes(6).toString('hex')}`;
  const opened: Store[] = [];
  let admin: pg.Client;

  async function open(options: Partial<PostgresStoreOptions> = {}): Promise<Store> {
    const store = await createPostgresStore({ connectionString, schema, ...options });
    opened.push(store);
    return store;
  }

  beforeAll(async () => {
    admin = new pg.Client({ connectionString });
    await admin.connect();
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });

  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  it('migrates once when several replicas open a fresh schema together', async () => {
    const fresh = `gov_test_${randomBytes(6).toString('hex')}`;
    try {
      const stores = await Promise.all(Array.from({ length: 5 }, () => createPostgresStore({ connectionString, schema: fresh })));
      await Promise.all(stores.map((store) => store.close()));
      const { rows } = await admin.query(`SELECT version FROM ${fresh}.schema_migrations ORDER BY version`);
      expect(rows).toEqual(POSTGRES_MIGRATIONS.map((m) => ({ version: m.version })));
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS ${fresh} CASCADE`);
    }
  });

  it('refuses a schema written by a newer Governor', async () => {
    await (await open()).close();
    await admin.query(`INSERT INTO ${schema}.schema_migrations (version, name) VALUES (999, 'future')`);
    try {
      await expect(createPostgresStore({ connectionString, schema })).rejects.toSatisfy(isUnavailable);
    } finally {
      await admin.query(`DELETE FROM ${schema}.schema_migrations WHERE version = 999`);
    }
  });

  it('commits 200 concurrent inserts in a few transactions, not 200', async () => {
    const batches: BatchInfo[] = [];
    const store = await open({ onBatch: (info) => batches.push(info) });
    await Promise.all(Array.from({ length: 200 }, () => store.decisions.insert(makeNewDecision())));
    expect(batches.reduce((sum, b) => sum + b.size, 0)).toBe(200);
    expect(batches.length).toBeLessThanOrEqual(2);
  });

  it('fails only the write PostgreSQL refuses (a NUL character), not the rest of its batch', async () => {
    const batches: BatchInfo[] = [];
    const store = await open({ onBatch: (info) => batches.push(info) });
    const good = Array.from({ length: 20 }, () => makeNewDecision());
    const bad = makeNewDecision({ params: { command: 'rm -rf /\u0000' } });
    const settled = await Promise.allSettled([
      ...good.slice(0, 10).map((e) => store.decisions.insert(e)),
      store.decisions.insert(bad),
      ...good.slice(10).map((e) => store.decisions.insert(e)),
    ]);
    expect(batches).toHaveLength(1);
    expect(settled[10]?.status).toBe('rejected');
    expect(isUnavailable((settled[10] as PromiseRejectedResult).reason)).toBe(true);
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(20);
    for (const entry of good) expect(await store.decisions.get(entry.decision.id)).toEqual(entry.decision);
    expect(await store.decisions.get(bad.decision.id)).toBeUndefined();
  });

  it('recovers after its connections are terminated, and never hangs', async () => {
    const applicationName = uniqueName('governor-test');
    const store = await open({ applicationName, connectTimeoutMs: 2000, statementTimeoutMs: 2000 });
    const agent = uniqueName('agent');
    await Promise.all(Array.from({ length: 20 }, () => store.decisions.insert(makeNewDecision({ agent }))));
    await store.decisions.list({ agent, limit: 1 });

    const terminate = (): Promise<pg.QueryResult> =>
      admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
    expect((await terminate()).rowCount).toBeGreaterThan(0);

    // Idle connections were killed: a batch that meets a dead connection before
    // COMMIT is retried once on a fresh one, so the next write succeeds.
    const entry = makeNewDecision({ agent });
    const after = await within(6000, store.decisions.insert(entry));
    expect(after.status).toBe('fulfilled');
    expect(await store.decisions.get(entry.decision.id)).toEqual(entry.decision);

    // Killed in the middle of a stream of writes: each settles, and what
    // resolved is durable.
    const entries = Array.from({ length: 200 }, () => makeNewDecision({ agent }));
    const writes = entries.map((e) => within(8000, store.decisions.insert(e)));
    await terminate();
    const settled = await Promise.all(writes);
    for (const [i, s] of settled.entries()) {
      if (s.status === 'rejected') {
        expect(isUnavailable(s.reason)).toBe(true);
      } else {
        expect(await store.decisions.get((entries[i] as (typeof entries)[number]).decision.id)).toBeDefined();
      }
    }

    // And the store works again.
    const last = makeNewDecision({ agent });
    await expect(store.decisions.insert(last)).resolves.toMatchObject({ created: true });
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it('retries a batch whose connection is killed before COMMIT on a fresh connection', async () => {
    const applicationName = uniqueName('governor-test');
    const store = await open({ applicationName, statementTimeoutMs: 3000 });
    const entry = makeNewDecision({ verdict: 'pending' });
    await store.decisions.insert(entry);
    const locker = new pg.Client({ connectionString });
    await locker.connect();
    try {
      // Hold the row so the batch is caught mid-transaction, then kill its backend.
      await locker.query('BEGIN');
      await locker.query(`SELECT 1 FROM ${schema}.decisions WHERE id = $1 FOR UPDATE`, [entry.decision.id]);
      const transition = within(6000, store.decisions.transition(entry.decision.id, 'pending', 'approved'));
      let killed = 0;
      for (let i = 0; i < 100 && killed === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        const { rowCount } = await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
          [applicationName],
        );
        killed = rowCount ?? 0;
      }
      expect(killed).toBe(1);
      await locker.query('ROLLBACK');
      const result = await transition;
      expect(result.status).toBe('fulfilled');
      expect((result as PromiseFulfilledResult<unknown>).value).toMatchObject({ state: 'approved' });
    } finally {
      await locker.end();
    }
    expect((await store.decisions.get(entry.decision.id))?.state).toBe('approved');
  });

  it('fails a write blocked by a lock with STORE_UNAVAILABLE after statementTimeoutMs', async () => {
    const store = await open({ statementTimeoutMs: 300 });
    const entry = makeNewDecision({ verdict: 'pending' });
    await store.decisions.insert(entry);
    const locker = new pg.Client({ connectionString });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`SELECT 1 FROM ${schema}.decisions WHERE id = $1 FOR UPDATE`, [entry.decision.id]);
      const started = Date.now();
      const result = await within(3000, store.decisions.transition(entry.decision.id, 'pending', 'approved'));
      expect(result.status).toBe('rejected');
      expect(isUnavailable((result as PromiseRejectedResult).reason)).toBe(true);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    expect((await store.decisions.transition(entry.decision.id, 'pending', 'approved'))?.state).toBe('approved');
  });

  it('keeps tables in its own schema', async () => {
    const store = await open();
    const entry = makeNewDecision();
    await store.decisions.insert(entry);
    const { rows } = await admin.query(`SELECT state, verdict, agent FROM ${schema}.decisions WHERE id = $1`, [entry.decision.id]);
    expect(rows).toEqual([{ state: entry.decision.state, verdict: entry.decision.verdict, agent: entry.decision.principal.agent }]);
  });
});

describe.skipIf(url === undefined)('createPostgresStore: the audit log', () => {
  const connectionString = url as string;
  const schemas: string[] = [];
  const opened: Store[] = [];
  let admin: pg.Client;

  /** A store on a schema of its own, so the test knows the whole log. */
  async function openFresh(options: Partial<PostgresStoreOptions> = {}): Promise<{ store: Store; schema: string }> {
    const schema = `gov_test_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    const store = await createPostgresStore({ connectionString, schema, ...options });
    opened.push(store);
    return { store, schema };
  }

  beforeAll(async () => {
    admin = new pg.Client({ connectionString });
    await admin.connect();
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });

  afterAll(async () => {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  it('starts empty: size 0 and the root of the empty tree', async () => {
    const { store } = await openFresh();
    expect(await store.audit.treeHead()).toEqual({ size: 0, rootHash: emptyRoot(nodeAuditCrypto) });
    expect(await store.audit.leaves(0, 10)).toEqual([]);
    expect(await store.audit.latestCheckpoint()).toBeUndefined();
  });

  it('refuses TRUNCATE of the log, and grants no UPDATE, DELETE or TRUNCATE on it', async () => {
    const { store, schema } = await openFresh();
    await Promise.all([store.audit.append(makeLeaf()), store.audit.append(makeLeaf())]);
    for (const table of ['audit_leaves', 'audit_subtrees', 'audit_checkpoints', 'audit_head']) {
      await expect(admin.query(`TRUNCATE ${schema}.${table}`), table).rejects.toThrow(/append-only/);
    }
    const { rows } = await admin.query(
      `SELECT table_name, privilege_type FROM information_schema.role_table_grants
       WHERE table_schema = $1 AND table_name LIKE 'audit_%' AND privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')`,
      [schema],
    );
    expect(rows).toEqual([{ table_name: 'audit_head', privilege_type: 'UPDATE' }]);
    await verifyStoredTree(store);
  });

  it('fails closed when PostgreSQL becomes unreachable: audited writes reject with AUDIT_UNAVAILABLE, and never hang', async () => {
    const schema = `gov_test_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    const relay = await startRelay(connectionString);
    const store = await createPostgresStore({
      connectionString: relay.connectionString,
      schema,
      connectTimeoutMs: 1000,
      statementTimeoutMs: 1000,
    });
    opened.push(store);
    await store.decisions.insert(makeAuditedDecision());
    const head = await store.audit.treeHead();
    await relay.stop();

    const entry = makeAuditedDecision();
    const started = Date.now();
    const [audited, appended, plain] = await Promise.all([
      within(5000, store.decisions.insert(entry)),
      within(5000, store.audit.append(makeLeaf())),
      within(5000, store.decisions.insert(makeNewDecision())),
    ]);
    expect(Date.now() - started).toBeLessThan(4000);
    for (const settled of [audited, appended]) {
      expect(settled.status).toBe('rejected');
      expect(isAuditUnavailable((settled as PromiseRejectedResult).reason)).toBe(true);
    }
    expect(isUnavailable((plain as PromiseRejectedResult).reason)).toBe(true);
    expect((await within(5000, store.audit.treeHead())).status).toBe('rejected');

    const direct = await createPostgresStore({ connectionString, schema });
    opened.push(direct);
    expect(await direct.decisions.get(entry.decision.id)).toBeUndefined();
    expect(await direct.audit.treeHead()).toEqual(head);
  });

  it('stores nothing of a batch whose leaves cannot be written, and rejects its audited writes with AUDIT_UNAVAILABLE', async () => {
    const { store, schema } = await openFresh();
    await Promise.all(Array.from({ length: 5 }, () => store.audit.append(makeLeaf())));
    // Another writer took the next index without moving the head.
    await admin.query(`INSERT INTO ${schema}.audit_leaves (idx, leaf, leaf_hash) VALUES (5, '\\x00', decode(repeat('00', 32), 'hex'))`);
    const audited = makeAuditedDecision();
    const plain = makeNewDecision();
    const [a, b] = await Promise.allSettled([store.decisions.insert(plain), store.decisions.insert(audited)]);
    expect(isUnavailable((a as PromiseRejectedResult).reason)).toBe(true);
    expect(isAuditUnavailable((b as PromiseRejectedResult).reason)).toBe(true);
    expect(await store.decisions.get(plain.decision.id)).toBeUndefined();
    expect(await store.decisions.get(audited.decision.id)).toBeUndefined();
    expect((await store.audit.treeHead()).size).toBe(5);
    await expect(store.decisions.insert(plain)).resolves.toMatchObject({ created: true });
  });

  it('keeps the tree consistent when its connections are killed in the middle of audited writes', async () => {
    const applicationName = uniqueName('governor-test');
    const { store } = await openFresh({ applicationName, connectTimeoutMs: 2000, statementTimeoutMs: 2000 });
    const entries = Array.from({ length: 300 }, () => makeAuditedDecision());
    const writes = entries.map((e) => within(8000, store.decisions.insert(e)));
    await new Promise((resolve) => setTimeout(resolve, 5));
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
    const settled = await Promise.all(writes);
    // Every stored decision names its own leaf, and the log holds no other
    // leaf: a rejected write is absent, unless its COMMIT was cut after the
    // server committed it (outcome unknown), and then it is whole.
    let stored = 0;
    for (const [i, s] of settled.entries()) {
      const entry = entries[i] as (typeof entries)[number];
      const found = await store.decisions.get(entry.decision.id);
      if (s.status === 'rejected') expect(isAuditUnavailable(s.reason)).toBe(true);
      else expect(found).toEqual(s.value.decision);
      if (found === undefined) continue;
      stored++;
      const index = found.audit?.index ?? -1;
      const [leaf] = await store.audit.leaves(index, index + 1);
      expect(new TextDecoder().decode(leaf?.bytes)).toBe(`decision ${entry.decision.id}`);
    }
    expect(settled.some((s) => s.status === 'fulfilled')).toBe(true);
    expect((await store.audit.treeHead()).size).toBe(stored);
    const next = await store.decisions.insert(makeAuditedDecision());
    expect(next.decision.audit?.index).toBe(stored);
    await verifyStoredTree(store);
  });

  it('retries a batch killed after its leaves were taken from the same head, on a fresh connection', async () => {
    const applicationName = uniqueName('governor-test');
    const { store, schema } = await openFresh({ applicationName, statementTimeoutMs: 3000 });
    await Promise.all(Array.from({ length: 3 }, () => store.audit.append(makeLeaf())));
    const held = makeNewDecision({ verdict: 'pending' });
    await store.decisions.insert(held);
    const locker = new pg.Client({ connectionString });
    await locker.connect();
    try {
      // The batch takes the head lock and five leaves, then waits on this row; kill it there.
      await locker.query('BEGIN');
      await locker.query(`SELECT 1 FROM ${schema}.decisions WHERE id = $1 FOR UPDATE`, [held.decision.id]);
      const before = Array.from({ length: 5 }, () => makeAuditedDecision());
      const after = Array.from({ length: 5 }, () => makeAuditedDecision());
      const writes = Promise.all([
        Promise.all(before.map((e) => store.decisions.insert(e))),
        store.decisions.transition(held.decision.id, 'pending', 'approved'),
        store.audit.append(makeLeaf()),
        Promise.all(after.map((e) => store.decisions.insert(e))),
      ]);
      const batch = within(6000, writes);
      let killed = 0;
      for (let i = 0; i < 100 && killed === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        const { rowCount } = await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
          [applicationName],
        );
        killed = rowCount ?? 0;
      }
      expect(killed).toBe(1);
      await locker.query('ROLLBACK');
      const result = await batch;
      expect(result.status).toBe('fulfilled');
      const [first, moved, appended, second] = await writes;
      expect(first.map((r) => r.decision.audit?.index)).toEqual([3, 4, 5, 6, 7]);
      expect(moved?.state).toBe('approved');
      expect(appended).toEqual({ index: 8 });
      expect(second.map((r) => r.decision.audit?.index)).toEqual([9, 10, 11, 12, 13]);
    } finally {
      await locker.end();
    }
    expect((await store.audit.treeHead()).size).toBe(14);
    await verifyStoredTree(store);
  });
});

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { nodeAuditCrypto } from '../../audit/node-crypto.js';
import { emptyRoot } from '../../audit/pure/merkle.js';
import { isGovernorError } from '../../core/errors.js';
import type { BatchInfo } from '../group-commit.js';
import type { Store } from '../store.js';
import { makeAuditedDecision, makeLeaf, makeNewDecision, uniqueName, verifyStoredTree } from '../test-fixtures.js';
import { createSqliteStore, type SqliteStoreOptions } from './create-sqlite-store.js';
import { SQLITE_SCHEMA_VERSION } from './migrations.js';

const dir = mkdtempSync(join(tmpdir(), 'governor-sqlite-'));
const opened: Store[] = [];

async function open(options: Partial<SqliteStoreOptions> & { path?: string } = {}): Promise<Store> {
  const store = await createSqliteStore({ path: join(dir, `${uniqueName('db')}.db`), ...options });
  opened.push(store);
  return store;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const isUnavailable = (err: unknown): boolean => isGovernorError(err, 'STORE_UNAVAILABLE');
const isAuditUnavailable = (err: unknown): boolean => isGovernorError(err, 'AUDIT_UNAVAILABLE');

/** Runs SQL on the database file through a connection of its own. */
function sql(path: string, statement: string): void {
  const db = new Database(path);
  try {
    db.exec(statement);
  } finally {
    db.close();
  }
}

describe('createSqliteStore', () => {
  it('creates the schema in WAL mode and records its version', async () => {
    const path = join(dir, 'fresh.db');
    await open({ path });
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.prepare('SELECT max(version) AS v FROM schema_migrations').get()).toEqual({ v: SQLITE_SCHEMA_VERSION });
    } finally {
      db.close();
    }
  });

  it('commits 200 concurrent inserts in a few transactions, not 200', async () => {
    const batches: BatchInfo[] = [];
    const store = await open({ onBatch: (info) => batches.push(info) });
    const agent = uniqueName('agent');
    await Promise.all(Array.from({ length: 200 }, () => store.decisions.insert(makeNewDecision({ agent }))));
    expect(batches.reduce((sum, b) => sum + b.size, 0)).toBe(200);
    expect(batches.every((b) => b.committed)).toBe(true);
    expect(batches.length).toBeLessThanOrEqual(2);
  });

  it('never puts more than maxBatchSize writes in one transaction', async () => {
    const batches: BatchInfo[] = [];
    const store = await open({ maxBatchSize: 16, onBatch: (info) => batches.push(info) });
    await Promise.all(Array.from({ length: 100 }, () => store.decisions.insert(makeNewDecision())));
    expect(Math.max(...batches.map((b) => b.size))).toBe(16);
  });

  it('refuses writes beyond maxPendingWrites with STORE_UNAVAILABLE and keeps the accepted ones', async () => {
    const path = join(dir, `${uniqueName('db')}.db`);
    const store = await open({ path, maxPendingWrites: 10 });
    const entries = Array.from({ length: 30 }, () => makeNewDecision());
    const settled = await Promise.allSettled(entries.map((entry) => store.decisions.insert(entry)));
    const refused = settled.filter((s) => s.status === 'rejected');
    expect(refused).toHaveLength(20);
    expect(refused.every((s) => isUnavailable(s.reason))).toBe(true);
    for (const [i, s] of settled.entries()) {
      const stored = await store.decisions.get((entries[i] as (typeof entries)[number]).decision.id);
      expect(stored !== undefined).toBe(s.status === 'fulfilled');
    }
  });

  it('fails closed on a read-only database: reads work, every write rejects with STORE_UNAVAILABLE', async () => {
    // Tests run as root, which ignores file modes, so a chmod would not stop
    // the writes; SQLITE_OPEN_READONLY is enforced by SQLite itself.
    const path = join(dir, `${uniqueName('db')}.db`);
    const writable = await createSqliteStore({ path });
    const entry = makeNewDecision({ verdict: 'pending' });
    await writable.decisions.insert(entry);
    await writable.close();

    const store = await open({ path, readonly: true });
    expect(await store.decisions.get(entry.decision.id)).toEqual(entry.decision);
    const error = await store.decisions.insert(makeNewDecision()).catch((err: unknown) => err);
    expect(isUnavailable(error)).toBe(true);
    expect(((error as Error).cause as { code?: string }).code).toBe('SQLITE_READONLY');
    await expect(store.decisions.transition(entry.decision.id, 'pending', 'approved')).rejects.toSatisfy(isUnavailable);
    await expect(
      store.decisions.recordOutcome(entry.decision.id, { status: 'succeeded', at: new Date().toISOString() }),
    ).rejects.toSatisfy(isUnavailable);
    expect(await store.decisions.get(entry.decision.id)).toEqual(entry.decision);
  });

  it.skipIf(process.getuid?.() === 0)('fails closed on a file without write permission', async () => {
    const path = join(dir, `${uniqueName('db')}.db`);
    await (await createSqliteStore({ path })).close();
    chmodSync(path, 0o444);
    const store = await open({ path, readonly: true });
    await expect(store.decisions.insert(makeNewDecision())).rejects.toSatisfy(isUnavailable);
  });

  it('refuses to open read-only a file that does not exist', async () => {
    await expect(createSqliteStore({ path: join(dir, 'missing.db'), readonly: true })).rejects.toSatisfy(isUnavailable);
  });

  it('refuses a database written by a newer Governor', async () => {
    const path = join(dir, `${uniqueName('db')}.db`);
    await (await createSqliteStore({ path })).close();
    const db = new Database(path);
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 'now')").run();
    db.close();
    await expect(createSqliteStore({ path })).rejects.toSatisfy(isUnavailable);
  });

  it('refuses a file that is not a database', async () => {
    const path = join(dir, 'not-a-db.db');
    writeFileSync(path, 'this is not a SQLite database, just text long enough to have a header'.repeat(20));
    await expect(createSqliteStore({ path })).rejects.toSatisfy(isUnavailable);
  });

  it('rejects bad options with CONFIG_INVALID', async () => {
    await expect(createSqliteStore({ path: '' })).rejects.toSatisfy((err) => isGovernorError(err, 'CONFIG_INVALID'));
    await expect(createSqliteStore({ path: join(dir, 'x.db'), busyTimeoutMs: -1 })).rejects.toSatisfy((err) =>
      isGovernorError(err, 'CONFIG_INVALID'),
    );
    await expect(createSqliteStore({ path: join(dir, 'y.db'), maxBatchSize: 0 })).rejects.toSatisfy((err) =>
      isGovernorError(err, 'CONFIG_INVALID'),
    );
  });

  it('waits for another process holding the write lock, then fails closed after busyTimeoutMs', async () => {
    const path = join(dir, `${uniqueName('db')}.db`);
    const store = await open({ path, busyTimeoutMs: 200 });
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      const started = Date.now();
      await expect(store.decisions.insert(makeNewDecision())).rejects.toSatisfy(isUnavailable);
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    const entry = makeNewDecision();
    await expect(store.decisions.insert(entry)).resolves.toMatchObject({ created: true });
  });
});

describe('createSqliteStore: the audit log', () => {
  it('starts empty: size 0 and the root of the empty tree', async () => {
    const store = await open();
    expect(await store.audit.treeHead()).toEqual({ size: 0, rootHash: emptyRoot(nodeAuditCrypto) });
    expect(await store.audit.leaves(0, 10)).toEqual([]);
    expect(await store.audit.latestCheckpoint()).toBeUndefined();
    await expect(store.audit.subtrees([{ level: 0, index: 0 }])).rejects.toSatisfy((err) => isGovernorError(err, 'AUDIT_INVALID'));
  });

  it('fails closed on a read-only database: an audited write rejects with AUDIT_UNAVAILABLE and nothing is stored', async () => {
    const path = join(dir, `${uniqueName('db')}.db`);
    const writable = await createSqliteStore({ path });
    await writable.audit.append(makeLeaf());
    await writable.close();
    const store = await open({ path, readonly: true });
    const head = await store.audit.treeHead();
    const entry = makeAuditedDecision();
    const plain = makeNewDecision();
    const [audited, appended, unaudited] = await Promise.allSettled([
      store.decisions.insert(entry),
      store.audit.append(makeLeaf()),
      store.decisions.insert(plain),
    ]);
    for (const settled of [audited, appended]) {
      expect(settled.status).toBe('rejected');
      const error = (settled as PromiseRejectedResult).reason as Error;
      expect(isAuditUnavailable(error)).toBe(true);
      expect((error.cause as { code?: string }).code).toBe('SQLITE_READONLY');
    }
    expect(isUnavailable((unaudited as PromiseRejectedResult).reason)).toBe(true);
    expect(await store.decisions.get(entry.decision.id)).toBeUndefined();
    expect(await store.audit.treeHead()).toEqual(head);
  });

  it('stores nothing of a batch whose leaves cannot be written, and rejects its audited writes with AUDIT_UNAVAILABLE', async () => {
    const path = join(dir, `${uniqueName('db')}.db`);
    const store = await open({ path });
    await Promise.all(Array.from({ length: 5 }, () => store.audit.append(makeLeaf())));
    // Another writer took the next index without moving the head: the next
    // batch's leaf insert fails, though its decisions alone would not.
    sql(path, "INSERT INTO audit_leaves (idx, leaf, leaf_hash) VALUES (5, x'00', zeroblob(32))");
    const audited = makeAuditedDecision();
    const plain = makeNewDecision();
    const [a, b] = await Promise.allSettled([store.decisions.insert(plain), store.decisions.insert(audited)]);
    expect(isUnavailable((a as PromiseRejectedResult).reason)).toBe(true);
    expect(isAuditUnavailable((b as PromiseRejectedResult).reason)).toBe(true);
    expect(await store.decisions.get(plain.decision.id)).toBeUndefined();
    expect(await store.decisions.get(audited.decision.id)).toBeUndefined();
    expect((await store.audit.treeHead()).size).toBe(5);
    // Writes without leaves go on; the log stays closed until an operator repairs it.
    await expect(store.decisions.insert(plain)).resolves.toMatchObject({ created: true });
    await expect(store.audit.append(makeLeaf())).rejects.toSatisfy(isAuditUnavailable);
  });

  it('refuses a damaged tree: AUDIT_INVALID on reads, AUDIT_UNAVAILABLE on appends', async () => {
    const path = join(dir, `${uniqueName('db')}.db`);
    const writer = await createSqliteStore({ path });
    await Promise.all(Array.from({ length: 6 }, () => writer.audit.append(makeLeaf())));
    await writer.close();
    // Only someone who drops the guard can remove a subtree: the frontier of size 6 is 2/0, 1/2.
    sql(path, 'DROP TRIGGER audit_subtrees_no_delete; DELETE FROM audit_subtrees WHERE level = 2 AND idx = 0');
    const store = await open({ path });
    await expect(store.audit.treeHead()).rejects.toSatisfy((err) => isGovernorError(err, 'AUDIT_INVALID'));
    const error = await store.audit.append(makeLeaf()).catch((err: unknown) => err);
    expect(isAuditUnavailable(error)).toBe(true);
    expect(isGovernorError((error as Error).cause, 'AUDIT_INVALID')).toBe(true);
  });

  it('refuses INSERT OR REPLACE of a leaf, a subtree, a checkpoint or the head', async () => {
    const path = join(dir, `${uniqueName('db')}.db`);
    const store = await open({ path });
    await Promise.all([store.audit.append(makeLeaf()), store.audit.append(makeLeaf())]);
    await store.audit.saveCheckpoint({ size: 2, note: 'checkpoint\n' });
    for (const statement of [
      "INSERT OR REPLACE INTO audit_leaves (idx, leaf, leaf_hash) VALUES (0, x'00', zeroblob(32))",
      'INSERT OR REPLACE INTO audit_subtrees (level, idx, hash) VALUES (1, 0, zeroblob(32))',
      "INSERT OR REPLACE INTO audit_checkpoints (size, note, created_at) VALUES (2, 'forged', 'now')",
      'INSERT OR REPLACE INTO audit_head (id, size) VALUES (1, 0)',
    ]) {
      expect(() => sql(path, statement), statement).toThrow(/append-only/);
    }
    await verifyStoredTree(store);
    expect((await store.audit.latestCheckpoint())?.note).toBe('checkpoint\n');
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as WorkerThreads from 'node:worker_threads';
import type { Worker as NodeWorker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isGovernorError } from '../../core/errors.js';
import type { Store } from '../store.js';
import { makeAuditedDecision, makeLeaf, makeNewDecision, uniqueName, verifyStoredTree } from '../test-fixtures.js';
import { createSqliteStore, type SqliteStoreOptions } from './create-sqlite-store.js';

// Every writer thread the store starts, so a test can kill one.
const workers = vi.hoisted(() => [] as NodeWorker[]);
vi.mock('node:worker_threads', async (importOriginal) => {
  const actual = await importOriginal<typeof WorkerThreads>();
  class RecordedWorker extends actual.Worker {
    constructor(...args: ConstructorParameters<typeof actual.Worker>) {
      super(...args);
      workers.push(this);
    }
  }
  return { ...actual, Worker: RecordedWorker };
});

const dir = mkdtempSync(join(tmpdir(), 'governor-writer-'));
const opened: Store[] = [];

async function open(options: Partial<SqliteStoreOptions> = {}): Promise<{ store: Store; path: string }> {
  const path = join(dir, `${uniqueName('db')}.db`);
  const store = await createSqliteStore({ path, ...options });
  opened.push(store);
  return { store, path };
}

/** Holds the database's write lock from a connection of its own until `release` is called. */
function holdWriteLock(path: string): { release(): void } {
  const other = new Database(path);
  other.exec('BEGIN IMMEDIATE');
  return {
    release() {
      other.exec('ROLLBACK');
      other.close();
    },
  };
}

/** Resolves after `ms` of wall time, and says how late the timer fired (how long the event loop was blocked). */
function lateness(ms: number): Promise<number> {
  const due = performance.now() + ms;
  return new Promise((resolve) => setTimeout(() => resolve(performance.now() - due), ms));
}

beforeEach(() => {
  workers.length = 0;
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const isUnavailable = (err: unknown): boolean => isGovernorError(err, 'STORE_UNAVAILABLE');
const isAuditUnavailable = (err: unknown): boolean => isGovernorError(err, 'AUDIT_UNAVAILABLE');

describe('createSqliteStore: the writer thread', () => {
  it('writes on a thread of its own: a batch waiting for the write lock does not stop the event loop', async () => {
    const { store, path } = await open({ busyTimeoutMs: 400 });
    expect(workers).toHaveLength(1);
    const lock = holdWriteLock(path);
    try {
      const write = store.decisions.insert(makeNewDecision()).catch((err: unknown) => err);
      // The batch is cut on the next turn and then waits up to 400 ms for the lock.
      const late = await lateness(50);
      expect(late).toBeLessThan(150);
      expect(isUnavailable(await write)).toBe(true);
    } finally {
      lock.release();
    }
  });

  it('writes on the calling thread with writerThread: false, which the same wait blocks', async () => {
    const { store, path } = await open({ busyTimeoutMs: 400, writerThread: false });
    expect(workers).toHaveLength(0);
    const lock = holdWriteLock(path);
    try {
      const write = store.decisions.insert(makeNewDecision()).catch((err: unknown) => err);
      expect(await lateness(50)).toBeGreaterThan(200);
      expect(isUnavailable(await write)).toBe(true);
    } finally {
      lock.release();
    }
  });

  it('carries the driver error code of a failed batch across the thread', async () => {
    const { store, path } = await open({ busyTimeoutMs: 100 });
    const lock = holdWriteLock(path);
    try {
      const [plain, audited] = await Promise.allSettled([store.decisions.insert(makeNewDecision()), store.audit.append(makeLeaf())]);
      const error = (plain as PromiseRejectedResult).reason as Error;
      expect(isUnavailable(error)).toBe(true);
      expect((error.cause as { code?: string }).code).toBe('SQLITE_BUSY');
      const auditError = (audited as PromiseRejectedResult).reason as Error;
      expect(isAuditUnavailable(auditError)).toBe(true);
      expect((auditError.cause as { code?: string }).code).toBe('SQLITE_BUSY');
    } finally {
      lock.release();
    }
  });

  it('fails the writes a dying thread holds, stores none of them, and starts a new thread for the next batch', async () => {
    const { store, path } = await open({ busyTimeoutMs: 5000 });
    await store.audit.append(makeLeaf());
    const before = await store.audit.treeHead();
    const lock = holdWriteLock(path);
    const plain = makeNewDecision();
    const audited = makeAuditedDecision();
    const writes = Promise.allSettled([store.decisions.insert(plain), store.decisions.insert(audited)]);
    // Let the batch reach the thread, where it waits for the lock; then kill the thread.
    await lateness(50);
    const terminated = (workers[0] as NodeWorker).terminate();
    lock.release();
    const [a, b] = await writes;
    await terminated;
    expect(isUnavailable((a as PromiseRejectedResult).reason)).toBe(true);
    expect(isAuditUnavailable((b as PromiseRejectedResult).reason)).toBe(true);
    expect(await store.decisions.get(plain.decision.id)).toBeUndefined();
    expect(await store.decisions.get(audited.decision.id)).toBeUndefined();
    expect(await store.audit.treeHead()).toEqual(before);

    await expect(store.decisions.insert(audited)).resolves.toMatchObject({ created: true, decision: { audit: { index: before.size } } });
    expect(workers).toHaveLength(2);
    await expect(store.decisions.get(audited.decision.id)).resolves.toMatchObject({ audit: { index: before.size } });
    await verifyStoredTree(store);
  });

  it('refuses writes once closed, and ends its thread', async () => {
    const { store } = await open();
    const worker = workers[0] as NodeWorker;
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const pending = store.decisions.insert(makeNewDecision());
    await store.close();
    await expect(pending).resolves.toMatchObject({ created: true });
    expect(await exited).toBe(0);
    await expect(store.decisions.insert(makeNewDecision())).rejects.toSatisfy(isUnavailable);
  });
});

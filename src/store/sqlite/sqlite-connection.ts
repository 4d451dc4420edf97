import { isGovernorError } from '../../core/errors.js';
import { GroupCommitter, type BatchInfo, type Settled } from '../group-commit.js';
import { storeClosed, storeUnavailable } from '../store-error.js';

/**
 * The subset of better-sqlite3's `Database` the store uses. Declared here, not
 * imported, so only the factory depends on the driver (Kysely's `SqliteDatabase`).
 */
export interface SqliteDatabase {
  readonly inTransaction: boolean;
  prepare(sql: string): SqliteStatement;
  exec(sql: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): unknown;
}

/** The subset of better-sqlite3's `Statement` the store uses. */
export interface SqliteStatement {
  run(...params: unknown[]): { readonly changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

/** Batching limits of the write path. */
export interface SqliteConnectionOptions {
  readonly maxBatchSize?: number;
  readonly maxPendingWrites?: number;
  readonly onBatch?: (info: BatchInfo) => void;
}

/** A unit of work run inside the batch transaction; throws to fail only itself. */
export type SqliteWrite<R> = () => R;

/**
 * One better-sqlite3 connection shared by every repository: reads run directly,
 * writes are group-committed, one `BEGIN IMMEDIATE … COMMIT` (one WAL fsync) per
 * batch, each write inside its own savepoint so a write that fails alone rolls
 * back alone. A later repository (audit leaves, counters) queues its writes here
 * and so commits atomically with the decisions of the same batch.
 */
export class SqliteConnection {
  readonly #db: SqliteDatabase;
  readonly #committer: GroupCommitter<SqliteWrite<unknown>, unknown>;
  readonly #begin: SqliteStatement;
  readonly #commit: SqliteStatement;
  readonly #rollback: SqliteStatement;
  readonly #savepoint: SqliteStatement;
  readonly #release: SqliteStatement;
  readonly #rollbackTo: SqliteStatement;
  #closing: Promise<void> | undefined;

  constructor(db: SqliteDatabase, options: SqliteConnectionOptions = {}) {
    this.#db = db;
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
    this.#savepoint = db.prepare('SAVEPOINT governor_write');
    this.#release = db.prepare('RELEASE governor_write');
    this.#rollbackTo = db.prepare('ROLLBACK TO governor_write');
    this.#committer = new GroupCommitter<SqliteWrite<unknown>, unknown>({
      commit: (batch) => this.#commitBatch(batch),
      ...(options.maxBatchSize === undefined ? {} : { maxBatchSize: options.maxBatchSize }),
      ...(options.maxPendingWrites === undefined ? {} : { maxPending: options.maxPendingWrites }),
      ...(options.onBatch === undefined ? {} : { onBatch: options.onBatch }),
    });
  }

  /** Prepares (once) a statement for a repository. */
  prepare(sql: string): SqliteStatement {
    return this.#db.prepare(sql);
  }

  /** Runs a read; rejects with STORE_UNAVAILABLE when closed or when SQLite fails. */
  async read<R>(fn: () => R): Promise<R> {
    if (this.#closing !== undefined) throw storeClosed();
    try {
      return fn();
    } catch (err) {
      throw storeUnavailable('read failed', err);
    }
  }

  /** Queues a write; resolves once the batch holding it committed durably. */
  write<R>(fn: SqliteWrite<R>): Promise<R> {
    if (this.#closing !== undefined) return Promise.reject(storeClosed());
    return this.#committer.enqueue(fn) as Promise<R>;
  }

  /** Flushes queued writes, then closes the database. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#committer.close().then(() => {
      this.#db.close();
    });
    return this.#closing;
  }

  #commitBatch(batch: readonly SqliteWrite<unknown>[]): Settled<unknown>[] {
    const db = this.#db;
    this.#begin.run();
    try {
      const results = batch.map((write): Settled<unknown> => {
        this.#savepoint.run();
        try {
          const value = write();
          this.#release.run();
          return { ok: true, value };
        } catch (err) {
          // Anything but a failure of this one write (I/O, full disk, read-only,
          // lock timeout) fails the whole batch.
          if (!isWriteError(err) || !db.inTransaction) throw err;
          this.#rollbackTo.run();
          this.#release.run();
          return { ok: false, error: isGovernorError(err) ? err : storeUnavailable('the write was refused', err) };
        }
      });
      this.#commit.run();
      return results;
    } catch (err) {
      if (db.inTransaction) {
        try {
          this.#rollback.run();
        } catch {
          // The original error says more than the failed rollback.
        }
      }
      throw err;
    }
  }
}

/** True for an error that concerns one write only, not the transaction. */
function isWriteError(err: unknown): boolean {
  if (isGovernorError(err)) return err.code !== 'STORE_UNAVAILABLE';
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    (code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_TOOBIG' || code === 'SQLITE_MISMATCH')
  );
}

import { isGovernorError } from '../../core/errors.js';
import { GroupCommitter, type BatchInfo, type Settled } from '../group-commit.js';
import type { TreeState } from '../leaf-batch.js';
import { auditUnavailable, storeClosed, storeUnavailable } from '../store-error.js';
import type { SqliteBatchResult, SqliteBatchWriter, SqliteWriteCommand, SqliteWriteResults } from './sqlite-writer.js';

/**
 * The subset of better-sqlite3's `Database` the store uses. Declared here, not
 * imported, so only `openSqliteDatabase` depends on the driver (Kysely's
 * `SqliteDatabase`).
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

/** Batching limits of the write path, where batches are written, and who hears of the tree they commit. */
export interface SqliteConnectionOptions {
  /** Writes the batches: on this connection (`SqliteWriter`) or on a writer thread (`SqliteWriterThread`). */
  readonly writer: SqliteBatchWriter;
  /** Told the audit tree after every batch that opened it (the reads' frontier cache). */
  readonly onTree?: (tree: TreeState) => void;
  readonly maxBatchSize?: number;
  readonly maxPendingWrites?: number;
  readonly onBatch?: (info: BatchInfo) => void;
}

/**
 * The store's connection on the request thread: reads run on it directly,
 * writes are queued as `SqliteWriteCommand`s and group-committed by its
 * writer, one transaction (one WAL fsync) per batch. A write's promise
 * resolves only once the COMMIT of its batch returned; since the writer
 * answers after COMMIT, a read started after that sees the write (WAL), on
 * whichever connection the writer wrote.
 *
 * When a batch fails as a whole, its writes reject with STORE_UNAVAILABLE, and
 * those carrying an audit leaf with AUDIT_UNAVAILABLE.
 */
export class SqliteConnection {
  readonly #db: SqliteDatabase;
  readonly #writer: SqliteBatchWriter;
  readonly #onTree: ((tree: TreeState) => void) | undefined;
  readonly #committer: GroupCommitter<SqliteWriteCommand, unknown>;
  #closing: Promise<void> | undefined;

  constructor(db: SqliteDatabase, options: SqliteConnectionOptions) {
    this.#db = db;
    this.#writer = options.writer;
    this.#onTree = options.onTree;
    this.#committer = new GroupCommitter<SqliteWriteCommand, unknown>({
      commit: (batch) => this.#commitBatch(batch),
      failure: (write, error) => (isAudited(write) ? auditUnavailable(error) : error),
      ...(options.maxBatchSize === undefined ? {} : { maxBatchSize: options.maxBatchSize }),
      ...(options.maxPendingWrites === undefined ? {} : { maxPending: options.maxPendingWrites }),
      ...(options.onBatch === undefined ? {} : { onBatch: options.onBatch }),
    });
  }

  /** Prepares (once) a statement for a repository's reads. */
  prepare(sql: string): SqliteStatement {
    return this.#db.prepare(sql);
  }

  /**
   * Runs a read; rejects with STORE_UNAVAILABLE when closed or when SQLite
   * fails. A GovernorError `fn` throws (AUDIT_INVALID, ...) passes through.
   */
  async read<R>(fn: () => R): Promise<R> {
    if (this.#closing !== undefined) throw storeClosed();
    try {
      return fn();
    } catch (err) {
      if (isGovernorError(err)) throw err;
      throw storeUnavailable('read failed', err);
    }
  }

  /** Queues a write; resolves with its result once the batch holding it committed durably. */
  write<C extends SqliteWriteCommand>(command: C): Promise<SqliteWriteResults[C['op']]> {
    if (this.#closing !== undefined) return Promise.reject(storeClosed());
    return this.#committer.enqueue(command) as Promise<SqliteWriteResults[C['op']]>;
  }

  /** Flushes queued writes, stops the writer, then closes the database. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#committer
      .close()
      .then(() => this.#writer.close())
      .finally(() => {
        this.#db.close();
      });
    return this.#closing;
  }

  #commitBatch(batch: readonly SqliteWriteCommand[]): readonly Settled<unknown>[] | Promise<readonly Settled<unknown>[]> {
    const done = this.#writer.commit(batch);
    return done instanceof Promise ? done.then((result) => this.#committed(result)) : this.#committed(done);
  }

  #committed(result: SqliteBatchResult): readonly Settled<unknown>[] {
    if (result.tree !== undefined) this.#onTree?.(result.tree);
    return result.results;
  }
}

/** True for a write carrying an audit leaf: when its batch fails it rejects with AUDIT_UNAVAILABLE. */
function isAudited(write: SqliteWriteCommand): boolean {
  return 'leaf' in write && write.leaf !== undefined;
}

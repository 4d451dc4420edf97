import { isGovernorError } from '../../core/errors.js';
import { GroupCommitter, type BatchInfo, type Settled } from '../group-commit.js';
import { NO_BATCH_LOG, type BatchLog, type LeafBatch, type TreeState } from '../leaf-batch.js';
import { auditUnavailable, storeClosed, storeUnavailable } from '../store-error.js';

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

/**
 * The audit log's part in a batch transaction (`SqliteAuditLog`): opened when a
 * write of the batch first appends a leaf, persisted after the batch's last
 * write and before COMMIT, told how the batch ended.
 */
export interface SqliteBatchLog {
  /** Reads the head (inside the transaction, so no other writer moves it) and the frontier it needs. */
  open(): LeafBatch;
  /** Writes the leaves taken, the subtrees they complete and the new head; returns the tree after them. */
  persist(batch: LeafBatch): TreeState;
  /** The batch committed with the log at `tree`. */
  committed(tree: TreeState): void;
  /** The batch failed. */
  abandoned(): void;
}

/** Batching limits of the write path, and the audit log taking part in batches. */
export interface SqliteConnectionOptions {
  readonly maxBatchSize?: number;
  readonly maxPendingWrites?: number;
  readonly onBatch?: (info: BatchInfo) => void;
  readonly log?: SqliteBatchLog;
}

/**
 * A unit of work run inside the batch transaction; throws to fail only itself.
 * `log` appends audit leaves in the same transaction (see `BatchLog`).
 */
export type SqliteWrite<R> = (log: BatchLog) => R;

/** How a write takes part in its batch. */
export interface SqliteWriteOptions {
  /** The write may append an audit leaf: when its batch fails it rejects with AUDIT_UNAVAILABLE. */
  readonly audited?: boolean;
}

interface QueuedWrite {
  readonly fn: SqliteWrite<unknown>;
  readonly audited: boolean;
}

/**
 * One better-sqlite3 connection shared by every repository: reads run directly,
 * writes are group-committed, one `BEGIN IMMEDIATE … COMMIT` (one WAL fsync) per
 * batch, each write inside its own savepoint so a write that fails alone rolls
 * back alone. A later repository (counters, kill state) queues its writes here
 * and so commits atomically with the decisions of the same batch.
 *
 * Audit leaves taken by the writes of a batch are integrated into the tree
 * after its last write and before COMMIT, in the same transaction: if they
 * cannot be written, nothing of the batch is, and its writes carrying leaves
 * reject with AUDIT_UNAVAILABLE.
 */
export class SqliteConnection {
  readonly #db: SqliteDatabase;
  readonly #committer: GroupCommitter<QueuedWrite, unknown>;
  readonly #log: SqliteBatchLog | undefined;
  readonly #begin: SqliteStatement;
  readonly #commit: SqliteStatement;
  readonly #rollback: SqliteStatement;
  readonly #savepoint: SqliteStatement;
  readonly #release: SqliteStatement;
  readonly #rollbackTo: SqliteStatement;
  #closing: Promise<void> | undefined;

  constructor(db: SqliteDatabase, options: SqliteConnectionOptions = {}) {
    this.#db = db;
    this.#log = options.log;
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
    this.#savepoint = db.prepare('SAVEPOINT governor_write');
    this.#release = db.prepare('RELEASE governor_write');
    this.#rollbackTo = db.prepare('ROLLBACK TO governor_write');
    this.#committer = new GroupCommitter<QueuedWrite, unknown>({
      commit: (batch) => this.#commitBatch(batch),
      failure: (write, error) => (write.audited ? auditUnavailable(error) : error),
      ...(options.maxBatchSize === undefined ? {} : { maxBatchSize: options.maxBatchSize }),
      ...(options.maxPendingWrites === undefined ? {} : { maxPending: options.maxPendingWrites }),
      ...(options.onBatch === undefined ? {} : { onBatch: options.onBatch }),
    });
  }

  /** Prepares (once) a statement for a repository. */
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

  /** Queues a write; resolves once the batch holding it committed durably. */
  write<R>(fn: SqliteWrite<R>, options: SqliteWriteOptions = {}): Promise<R> {
    if (this.#closing !== undefined) return Promise.reject(storeClosed());
    return this.#committer.enqueue({ fn, audited: options.audited === true }) as Promise<R>;
  }

  /** Flushes queued writes, then closes the database. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#committer.close().then(() => {
      this.#db.close();
    });
    return this.#closing;
  }

  #commitBatch(batch: readonly QueuedWrite[]): Settled<unknown>[] {
    const db = this.#db;
    const batchLog = this.#log;
    let leaves: LeafBatch | undefined;
    // A failure to open the log (an unreadable or damaged tree) fails the
    // batch, even though it surfaces inside one write.
    let logFailure: unknown;
    const open = (owner: SqliteBatchLog): LeafBatch => {
      try {
        leaves ??= owner.open();
      } catch (err) {
        logFailure = err;
        throw err;
      }
      return leaves;
    };
    const log: BatchLog =
      batchLog === undefined
        ? NO_BATCH_LOG
        : {
            get next() {
              return open(batchLog).next;
            },
            take: (leaf) => open(batchLog).take(leaf),
          };
    this.#begin.run();
    try {
      const results = batch.map(({ fn }): Settled<unknown> => {
        const taken = leaves?.length ?? 0;
        this.#savepoint.run();
        try {
          const value = fn(log);
          this.#release.run();
          return { ok: true, value };
        } catch (err) {
          // Anything but a failure of this one write (I/O, full disk, read-only,
          // lock timeout, the audit log) fails the whole batch.
          if (logFailure !== undefined || !isWriteError(err) || !db.inTransaction) throw logFailure ?? err;
          this.#rollbackTo.run();
          this.#release.run();
          leaves?.truncate(taken);
          return { ok: false, error: isGovernorError(err) ? err : storeUnavailable('the write was refused', err) };
        }
      });
      let tree: TreeState | undefined;
      if (leaves !== undefined && batchLog !== undefined) {
        tree = leaves.length === 0 ? leaves.base : batchLog.persist(leaves);
      }
      this.#commit.run();
      if (tree !== undefined) batchLog?.committed(tree);
      return results;
    } catch (err) {
      if (leaves !== undefined) batchLog?.abandoned();
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
  if (isGovernorError(err)) return err.code !== 'STORE_UNAVAILABLE' && err.code !== 'AUDIT_UNAVAILABLE';
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    (code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_TOOBIG' || code === 'SQLITE_MISMATCH')
  );
}

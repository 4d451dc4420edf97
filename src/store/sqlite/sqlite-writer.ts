import { isGovernorError } from '../../core/errors.js';
import type { DecisionState } from '../../core/types.js';
import type { AuditCrypto } from '../../audit/pure/audit-crypto.js';
import { verifyLeaf, type CheckedLeaf } from '../audit-leaf.js';
import type { DecisionRow } from '../decision-row.js';
import type { Settled } from '../group-commit.js';
import type { BatchLog, LeafBatch, TreeState } from '../leaf-batch.js';
import { storeUnavailable } from '../store-error.js';
import type { BudgetReservation, NewLeaf } from '../store.js';
import { SqliteAuditLog } from './audit-log.js';
import { SqliteAuditWrites } from './audit-repository.js';
import { SqliteDecisionWrites, type InsertWriteResult } from './decision-repository.js';
import type { InsertConditions } from '../decision-row.js';
import { SqliteRecordWrites, type RecordInsertResult } from './record-repository.js';
import type { RecordRow, StoredRecordRow } from '../record-row.js';
import type { BudgetRequest } from '../budget-request.js';
import { SqliteBudgetWrites } from './budget-repository.js';
import type { SqliteDatabase, SqliteStatement } from './sqlite-connection.js';

/**
 * One write of a batch, as plain data: it is built on the request thread and
 * may run on the writer thread, so it holds no closure. `L` is how its audit
 * leaf travels: a copy whose hash the writer checks against its bytes
 * (`copyLeaf`), or a slot of a packed buffer between threads. A later
 * repository (counters, kill state) adds its own `op` here and so commits
 * atomically with the decisions of the same batch.
 */
export type SqliteWriteCommand<L = NewLeaf> =
  | { readonly op: 'insert'; readonly row: DecisionRow; readonly leaf?: L | undefined; readonly conditions?: InsertConditions | undefined }
  | { readonly op: 'outcome'; readonly id: string; readonly json: string; readonly leaf?: L | undefined }
  | {
      readonly op: 'transition';
      readonly id: string;
      readonly from: DecisionState;
      readonly to: DecisionState;
      readonly verdict?: string | undefined;
      /** The resolution's JSON; without `audit` when `leaf` is set. */
      readonly resolution?: string | undefined;
      readonly leaf?: L | undefined;
    }
  | { readonly op: 'record-insert'; readonly row: RecordRow; readonly leaf?: L | undefined }
  | { readonly op: 'budget-reserve'; readonly request: BudgetRequest }
  | { readonly op: 'record-update'; readonly row: RecordRow; readonly leaf?: L | undefined }
  | { readonly op: 'append'; readonly leaf: L }
  | { readonly op: 'checkpoint'; readonly size: number; readonly note: string };

/** What each kind of write returns from its batch: plain data, so it can cross back from the writer thread. */
export interface SqliteWriteResults {
  readonly insert: InsertWriteResult;
  /** The decision's JSON body with the outcome. */
  readonly outcome: string;
  /** The decision's JSON body in its new state, or undefined when it was not in state `from`. */
  readonly transition: string | undefined;
  readonly 'record-insert': RecordInsertResult;
  readonly 'budget-reserve': BudgetReservation;
  /** The record after the update, or undefined when it was not at the expected version. */
  readonly 'record-update': StoredRecordRow | undefined;
  /** The leaf's index. */
  readonly append: number;
  readonly checkpoint: undefined;
}

/** The result of one committed batch: one result per write, in order, and the audit tree after it when the batch opened the log. */
export interface SqliteBatchResult {
  readonly results: readonly Settled<unknown>[];
  readonly tree?: TreeState | undefined;
}

/**
 * Where batches are written: a `SqliteWriter` on the request thread, or a
 * `SqliteWriterThread` that runs one in a worker. `commit` resolves only once
 * the batch's COMMIT returned, and throws (rejects) when the batch as a whole
 * failed.
 */
export interface SqliteBatchWriter {
  commit(batch: readonly SqliteWriteCommand[]): SqliteBatchResult | Promise<SqliteBatchResult>;
  /** Releases what the writer holds (not the connection it was given). Idempotent. */
  close(): void | Promise<void>;
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

/**
 * Writes batches on one connection: one `BEGIN IMMEDIATE … COMMIT` (one WAL
 * fsync) per batch, each write inside its own savepoint so a write that fails
 * alone rolls back alone.
 *
 * Audit leaves taken by the writes of a batch are integrated into the tree
 * after its last write and before COMMIT, in the same transaction: if they
 * cannot be written, nothing of the batch is, and `commit` throws.
 */
export class SqliteWriter implements SqliteBatchWriter {
  readonly #db: SqliteDatabase;
  readonly #crypto: AuditCrypto;
  readonly #log: SqliteBatchLog;
  readonly #decisions: SqliteDecisionWrites;
  readonly #audit: SqliteAuditWrites;
  readonly #records: SqliteRecordWrites;
  readonly #budgets: SqliteBudgetWrites;
  readonly #begin: SqliteStatement;
  readonly #commit: SqliteStatement;
  readonly #rollback: SqliteStatement;
  readonly #savepoint: SqliteStatement;
  readonly #release: SqliteStatement;
  readonly #rollbackTo: SqliteStatement;

  /** Writes on `db`; `log` is the audit log of the same connection (its frontier cache is the writer's). */
  constructor(db: SqliteDatabase, log: SqliteAuditLog, crypto: AuditCrypto) {
    this.#db = db;
    this.#crypto = crypto;
    this.#log = log;
    this.#records = new SqliteRecordWrites(db);
    this.#budgets = new SqliteBudgetWrites(db);
    this.#decisions = new SqliteDecisionWrites(db, this.#records, this.#budgets);
    this.#audit = new SqliteAuditWrites(db, log);
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
    this.#savepoint = db.prepare('SAVEPOINT governor_write');
    this.#release = db.prepare('RELEASE governor_write');
    this.#rollbackTo = db.prepare('ROLLBACK TO governor_write');
  }

  /** A writer with its own audit log over `db` (the writer thread's). */
  static open(db: SqliteDatabase, crypto: AuditCrypto): SqliteWriter {
    return new SqliteWriter(db, new SqliteAuditLog(db, crypto), crypto);
  }

  /**
   * Writes `batch` in one transaction. Returns once COMMIT returned; a write
   * that fails alone (a constraint, a conflict) is an `{ ok: false }` result,
   * anything else (I/O, a full disk, a read-only file, a lock timeout, the
   * audit log) throws and nothing of the batch is stored.
   */
  commit(batch: readonly SqliteWriteCommand[]): SqliteBatchResult {
    const db = this.#db;
    const batchLog = this.#log;
    let leaves: LeafBatch | undefined;
    // A failure to open the log (an unreadable or damaged tree) fails the
    // batch, even though it surfaces inside one write.
    let logFailure: unknown;
    const open = (): LeafBatch => {
      try {
        leaves ??= batchLog.open();
      } catch (err) {
        logFailure = err;
        throw err;
      }
      return leaves;
    };
    const log: BatchLog = {
      get next() {
        return open().next;
      },
      take: (leaf) => open().take(leaf),
    };
    this.#begin.run();
    try {
      const results = batch.map((command): Settled<unknown> => {
        const taken = leaves?.length ?? 0;
        this.#savepoint.run();
        try {
          const value = this.#run(command, log);
          this.#release.run();
          return { ok: true, value };
        } catch (err) {
          if (logFailure !== undefined || !isWriteError(err) || !db.inTransaction) throw logFailure ?? err;
          this.#rollbackTo.run();
          this.#release.run();
          leaves?.truncate(taken);
          return { ok: false, error: isGovernorError(err) ? err : storeUnavailable('the write was refused', err) };
        }
      });
      let tree: TreeState | undefined;
      if (leaves !== undefined) tree = leaves.length === 0 ? leaves.base : batchLog.persist(leaves);
      this.#commit.run();
      if (tree !== undefined) batchLog.committed(tree);
      return { results, tree };
    } catch (err) {
      if (leaves !== undefined) batchLog.abandoned();
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

  close(): void {
    // The connection belongs to whoever opened it.
  }

  #verify(leaf: NewLeaf | undefined): CheckedLeaf | undefined {
    return leaf === undefined ? undefined : verifyLeaf(this.#crypto, leaf);
  }

  #run(command: SqliteWriteCommand, log: BatchLog): unknown {
    // A leaf whose hash does not match its bytes fails its write alone (BAD_REQUEST), before anything is written.
    switch (command.op) {
      case 'insert':
        return this.#decisions.insert(command.row, this.#verify(command.leaf), log, command.conditions);
      case 'outcome':
        return this.#decisions.recordOutcome(command.id, command.json, this.#verify(command.leaf), log);
      case 'transition':
        return this.#decisions.transition(command, this.#verify(command.leaf), log);
      case 'record-insert':
        return this.#records.insert(command.row, this.#verify(command.leaf), log);
      case 'record-update':
        return this.#records.update(command.row, this.#verify(command.leaf), log);
      case 'budget-reserve':
        return this.#budgets.reserve(command.request);
      case 'append':
        return log.take(verifyLeaf(this.#crypto, command.leaf)).index;
      case 'checkpoint':
        return this.#audit.saveCheckpoint(command.size, command.note);
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

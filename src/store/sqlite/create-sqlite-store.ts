import { GovernorError } from '../../core/errors.js';
import { nodeAuditCrypto } from '../../audit/node-crypto.js';
import type { BatchInfo } from '../group-commit.js';
import { storeUnavailable } from '../store-error.js';
import type { AuditRepository, BudgetRepository, DecisionRepository, RecordRepository, Store } from '../store.js';
import { SqliteAuditLog } from './audit-log.js';
import { SqliteAuditRepository } from './audit-repository.js';
import { SqliteDecisionRepository } from './decision-repository.js';
import { SqliteRecordRepository } from './record-repository.js';
import { SqliteBudgetRepository } from './budget-repository.js';
import { migrateSqlite } from './migrations.js';
import { openSqliteDatabase } from './open-sqlite-database.js';
import { SqliteConnection, type SqliteDatabase, type SqliteStatement } from './sqlite-connection.js';
import { SqliteWriter, type SqliteBatchWriter } from './sqlite-writer.js';
import { SqliteWriterThread } from './sqlite-writer-thread.js';

/** Options of `createSqliteStore`. */
export interface SqliteStoreOptions {
  /** The database file, created if missing (its directory must exist). `:memory:` is private and not durable. */
  readonly path: string;
  /**
   * Open with SQLITE_OPEN_READONLY: reads work, every write rejects with
   * STORE_UNAVAILABLE. The file must exist and its schema be current.
   */
  readonly readonly?: boolean;
  /** How long a write waits for another process's write lock before failing, in ms. Default 5000. */
  readonly busyTimeoutMs?: number;
  /** Most writes committed in one transaction. Default 512. */
  readonly maxBatchSize?: number;
  /** Writes allowed to wait for a commit; beyond it writes reject with STORE_UNAVAILABLE. Default 8192. */
  readonly maxPendingWrites?: number;
  /** Called after every batch commit (metrics). */
  readonly onBatch?: (info: BatchInfo) => void;
  /**
   * Write batches on a worker thread with its own connection (the default),
   * so their SQLite work and fsync run beside request handling; `false` writes
   * them on the calling thread, on the connection reads use. A read-only or
   * `:memory:` store always writes on the calling thread (its writes all fail,
   * or its database is private to one connection).
   */
  readonly writerThread?: boolean;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/**
 * Opens (creating and migrating if needed) a SQLite store: WAL journal,
 * `synchronous = FULL`, foreign keys on, a busy timeout, and group commit so
 * concurrent writes share one transaction and one fsync, audit leaves
 * included. Batches are written on a writer thread (see `writerThread`) and
 * reads on the calling thread's connection; a read sees every write whose
 * promise resolved. Rejects with CONFIG_INVALID for bad options and
 * STORE_UNAVAILABLE when the file cannot be opened or migrated.
 */
export async function createSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  const config = Object.freeze({ ...options });
  if (typeof config.path !== 'string' || config.path === '') {
    throw new GovernorError('CONFIG_INVALID', 'store path must be a non-empty string');
  }
  const busyTimeoutMs = config.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new GovernorError('CONFIG_INVALID', `busyTimeoutMs must be a non-negative integer, got ${String(busyTimeoutMs)}`);
  }
  if (config.writerThread !== undefined && typeof config.writerThread !== 'boolean') {
    throw new GovernorError('CONFIG_INVALID', `writerThread must be a boolean, got ${String(config.writerThread)}`);
  }
  const readonly = config.readonly === true;
  const threaded = config.writerThread !== false && !readonly && config.path !== ':memory:';

  let db: SqliteDatabase | undefined;
  let writer: SqliteBatchWriter | undefined;
  try {
    db = openSqliteDatabase(config.path, { readonly, mustExist: readonly, busyTimeoutMs });
    migrateSqlite(db, { readonly });
    const log = new SqliteAuditLog(db, nodeAuditCrypto);
    const thread = threaded ? SqliteWriterThread.start({ path: config.path, busyTimeoutMs }) : undefined;
    writer = thread ?? new SqliteWriter(db, log, nodeAuditCrypto);
    const connection = new SqliteConnection(db, {
      writer,
      onTree: (tree) => log.committed(tree),
      ...(config.maxBatchSize === undefined ? {} : { maxBatchSize: config.maxBatchSize }),
      ...(config.maxPendingWrites === undefined ? {} : { maxPendingWrites: config.maxPendingWrites }),
      ...(config.onBatch === undefined ? {} : { onBatch: config.onBatch }),
    });
    await thread?.ready();
    return new SqliteStore(connection, log);
  } catch (err) {
    // Already failing: the open error is the one to report, not a failed cleanup.
    await Promise.resolve(writer?.close()).catch(() => undefined);
    try {
      db?.close();
    } catch {
      // As above.
    }
    if (err instanceof GovernorError && err.code === 'CONFIG_INVALID') throw err;
    throw storeUnavailable(`cannot open the SQLite store at ${config.path}`, err);
  }
}

class SqliteStore implements Store {
  readonly engine = 'sqlite' as const;
  readonly decisions: DecisionRepository;
  readonly audit: AuditRepository;
  readonly records: RecordRepository;
  readonly budgets: BudgetRepository;
  readonly #connection: SqliteConnection;
  readonly #ping: SqliteStatement;

  constructor(connection: SqliteConnection, log: SqliteAuditLog) {
    this.#connection = connection;
    this.decisions = new SqliteDecisionRepository(connection);
    this.audit = new SqliteAuditRepository(connection, log);
    this.records = new SqliteRecordRepository(connection);
    this.budgets = new SqliteBudgetRepository(connection);
    this.#ping = connection.prepare('SELECT 1');
  }

  async ping(): Promise<void> {
    await this.#connection.read(() => this.#ping.get());
  }

  close(): Promise<void> {
    return this.#connection.close();
  }
}

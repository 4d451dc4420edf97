import Database from 'better-sqlite3';
import { GovernorError } from '../../core/errors.js';
import { nodeAuditCrypto } from '../../audit/node-crypto.js';
import type { BatchInfo } from '../group-commit.js';
import { storeUnavailable } from '../store-error.js';
import type { AuditRepository, DecisionRepository, Store } from '../store.js';
import { SqliteAuditLog } from './audit-log.js';
import { SqliteAuditRepository } from './audit-repository.js';
import { SqliteDecisionRepository } from './decision-repository.js';
import { migrateSqlite } from './migrations.js';
import { SqliteConnection, type SqliteDatabase, type SqliteStatement } from './sqlite-connection.js';

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
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/**
 * Opens (creating and migrating if needed) a SQLite store: WAL journal,
 * `synchronous = FULL`, foreign keys on, a busy timeout, and group commit so
 * concurrent writes share one transaction and one fsync, audit leaves
 * included. Rejects with
 * CONFIG_INVALID for bad options and STORE_UNAVAILABLE when the file cannot be
 * opened or migrated.
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
  const readonly = config.readonly === true;

  let db: SqliteDatabase | undefined;
  try {
    db = new Database(config.path, { readonly, fileMustExist: readonly, timeout: busyTimeoutMs });
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    if (!readonly) {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal' && config.path !== ':memory:') {
        throw new Error(`the database refused WAL mode (journal_mode is ${String(mode)})`);
      }
      db.pragma('synchronous = FULL');
    }
    db.pragma('foreign_keys = ON');
    migrateSqlite(db, { readonly });
    const log = new SqliteAuditLog(db, nodeAuditCrypto);
    const connection = new SqliteConnection(db, {
      log,
      ...(config.maxBatchSize === undefined ? {} : { maxBatchSize: config.maxBatchSize }),
      ...(config.maxPendingWrites === undefined ? {} : { maxPendingWrites: config.maxPendingWrites }),
      ...(config.onBatch === undefined ? {} : { onBatch: config.onBatch }),
    });
    return new SqliteStore(connection, log);
  } catch (err) {
    try {
      db?.close();
    } catch {
      // Already failing; the open error is the one to report.
    }
    if (err instanceof GovernorError && err.code === 'CONFIG_INVALID') throw err;
    throw storeUnavailable(`cannot open the SQLite store at ${config.path}`, err);
  }
}

class SqliteStore implements Store {
  readonly engine = 'sqlite' as const;
  readonly decisions: DecisionRepository;
  readonly audit: AuditRepository;
  readonly #connection: SqliteConnection;
  readonly #ping: SqliteStatement;

  constructor(connection: SqliteConnection, log: SqliteAuditLog) {
    this.#connection = connection;
    this.decisions = new SqliteDecisionRepository(connection, nodeAuditCrypto);
    this.audit = new SqliteAuditRepository(connection, log, nodeAuditCrypto);
    this.#ping = connection.prepare('SELECT 1');
  }

  async ping(): Promise<void> {
    await this.#connection.read(() => this.#ping.get());
  }

  close(): Promise<void> {
    return this.#connection.close();
  }
}

import pg from 'pg';
import { GovernorError } from '../../core/errors.js';
import { nodeAuditCrypto } from '../../audit/node-crypto.js';
import type { BatchInfo } from '../group-commit.js';
import { storeUnavailable } from '../store-error.js';
import type { AuditRepository, BudgetRepository, DecisionRepository, RecordRepository, Store } from '../store.js';
import { PostgresAuditLog } from './audit-log.js';
import { PostgresAuditRepository } from './audit-repository.js';
import { PostgresDecisionRepository } from './decision-repository.js';
import { PostgresRecordRepository } from './record-repository.js';
import { PostgresBudgetRepository } from './budget-repository.js';
import { migratePostgres, tableNames, type TableName } from './migrations.js';
import { PostgresConnection, type PostgresPool } from './postgres-connection.js';

/** Options of `createPostgresStore`. */
export interface PostgresStoreOptions {
  /** A libpq-style URL: `postgres://user:password@host:5432/database?sslmode=require`. */
  readonly connectionString: string;
  /**
   * Schema holding Governor's tables, created if missing; every statement names
   * it, so it works through poolers that ignore `search_path`. Default: none,
   * the connection's search_path decides (normally `public`).
   */
  readonly schema?: string;
  /** Most pooled connections (one writes batches, the rest serve reads). Default 10. */
  readonly poolSize?: number;
  /** How long to wait for a connection (to connect, or for a free one) before STORE_UNAVAILABLE, in ms. Default 3000. */
  readonly connectTimeoutMs?: number;
  /** Server-side `statement_timeout`, in ms; the client gives up one second later. Default 5000. */
  readonly statementTimeoutMs?: number;
  /** `application_name` of the connections, as pg_stat_activity shows it. Default `governor`. */
  readonly applicationName?: string;
  /** Most writes committed in one transaction. Default 512. */
  readonly maxBatchSize?: number;
  /** Writes allowed to wait for a commit; beyond it writes reject with STORE_UNAVAILABLE. Default 8192. */
  readonly maxPendingWrites?: number;
  /** Called after every batch commit (metrics). */
  readonly onBatch?: (info: BatchInfo) => void;
  /** Called when an idle pooled connection fails (it is discarded and replaced on demand). */
  readonly onConnectionError?: (err: Error) => void;
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Connects to PostgreSQL, migrates the schema and returns a store whose writes
 * are group-committed (one transaction per batch). Rejects with CONFIG_INVALID
 * for bad options and with STORE_UNAVAILABLE when the server cannot be reached
 * within `connectTimeoutMs` or the schema cannot be migrated.
 */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const config = Object.freeze({ ...options });
  if (typeof config.connectionString !== 'string' || config.connectionString === '') {
    throw new GovernorError('CONFIG_INVALID', 'connectionString must be a non-empty string');
  }
  if (config.schema !== undefined && !SCHEMA_NAME.test(config.schema)) {
    throw new GovernorError('CONFIG_INVALID', `schema must match ${String(SCHEMA_NAME)}, got ${JSON.stringify(config.schema)}`);
  }
  const poolSize = positiveInteger('poolSize', config.poolSize ?? 10);
  const connectTimeoutMs = positiveInteger('connectTimeoutMs', config.connectTimeoutMs ?? 3000);
  const statementTimeoutMs = positiveInteger('statementTimeoutMs', config.statementTimeoutMs ?? 5000);

  const pool = new pg.Pool({
    connectionString: config.connectionString,
    max: poolSize,
    connectionTimeoutMillis: connectTimeoutMs,
    statement_timeout: statementTimeoutMs,
    // The client-side bound holds even when the server never answers.
    query_timeout: statementTimeoutMs + 1000,
    idle_in_transaction_session_timeout: statementTimeoutMs * 2,
    application_name: config.applicationName ?? 'governor',
    keepAlive: true,
  });
  // Without a listener, an idle connection dropped by the server would crash the process.
  pool.on('error', (err) => config.onConnectionError?.(err));

  try {
    const driver: PostgresPool = pool;
    const table = tableNames(config.schema);
    const log = new PostgresAuditLog(table, nodeAuditCrypto);
    const connection = new PostgresConnection(driver, {
      log,
      ...(config.maxBatchSize === undefined ? {} : { maxBatchSize: config.maxBatchSize }),
      ...(config.maxPendingWrites === undefined ? {} : { maxPendingWrites: config.maxPendingWrites }),
      ...(config.onBatch === undefined ? {} : { onBatch: config.onBatch }),
    });
    await migratePostgres(driver, config.schema);
    return new PostgresStore(connection, log, table);
  } catch (err) {
    await pool.end().catch(() => undefined);
    if (err instanceof GovernorError && err.code === 'CONFIG_INVALID') throw err;
    throw storeUnavailable('cannot open the PostgreSQL store', err);
  }
}

class PostgresStore implements Store {
  readonly engine = 'postgres' as const;
  readonly decisions: DecisionRepository;
  readonly audit: AuditRepository;
  readonly records: RecordRepository;
  readonly budgets: BudgetRepository;
  readonly #connection: PostgresConnection;

  constructor(connection: PostgresConnection, log: PostgresAuditLog, table: TableName) {
    this.#connection = connection;
    this.decisions = new PostgresDecisionRepository(connection, table, nodeAuditCrypto);
    this.audit = new PostgresAuditRepository(connection, log, table, nodeAuditCrypto);
    this.records = new PostgresRecordRepository(connection, table, nodeAuditCrypto);
    this.budgets = new PostgresBudgetRepository(connection, table);
  }

  async ping(): Promise<void> {
    await this.#connection.query('SELECT 1');
  }

  close(): Promise<void> {
    return this.#connection.close();
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new GovernorError('CONFIG_INVALID', `${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

export { PostgresAuditLog } from './audit-log.js';
export { PostgresAuditRepository } from './audit-repository.js';
export { createPostgresStore, type PostgresStoreOptions } from './create-postgres-store.js';
export { PostgresDecisionRepository } from './decision-repository.js';
export {
  migratePostgres,
  POSTGRES_MIGRATIONS,
  POSTGRES_SCHEMA_VERSION,
  quoteIdentifier,
  tableNames,
  type PostgresMigration,
  type TableName,
} from './migrations.js';
export {
  PostgresConnection,
  type PostgresBatchLog,
  type PostgresConnectionOptions,
  type PostgresPool,
  type PostgresPoolClient,
  type PostgresQueryable,
  type PostgresResult,
  type PostgresWriteKind,
} from './postgres-connection.js';

export { SqliteAuditLog } from './audit-log.js';
export { SqliteAuditRepository } from './audit-repository.js';
export { createSqliteStore, type SqliteStoreOptions } from './create-sqlite-store.js';
export { SqliteDecisionRepository } from './decision-repository.js';
export { migrateSqlite, SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION, type SqliteMigration } from './migrations.js';
export {
  SqliteConnection,
  type SqliteBatchLog,
  type SqliteConnectionOptions,
  type SqliteDatabase,
  type SqliteStatement,
  type SqliteWrite,
  type SqliteWriteOptions,
} from './sqlite-connection.js';

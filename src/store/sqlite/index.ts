export { SqliteAuditLog } from './audit-log.js';
export { SqliteAuditRepository, SqliteAuditWrites } from './audit-repository.js';
export { createSqliteStore, type SqliteStoreOptions } from './create-sqlite-store.js';
export { SqliteDecisionRepository, SqliteDecisionWrites, type InsertWriteResult } from './decision-repository.js';
export { migrateSqlite, SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION, type SqliteMigration } from './migrations.js';
export { openSqliteDatabase, type OpenSqliteOptions } from './open-sqlite-database.js';
export {
  SqliteConnection,
  type SqliteConnectionOptions,
  type SqliteDatabase,
  type SqliteStatement,
} from './sqlite-connection.js';
export {
  SqliteWriter,
  type SqliteBatchLog,
  type SqliteBatchResult,
  type SqliteBatchWriter,
  type SqliteWriteCommand,
  type SqliteWriteResults,
} from './sqlite-writer.js';
export { SqliteWriterThread } from './sqlite-writer-thread.js';

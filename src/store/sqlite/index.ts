export { createSqliteStore, type SqliteStoreOptions } from './create-sqlite-store.js';
export { SqliteDecisionRepository } from './decision-repository.js';
export { migrateSqlite, SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION, type SqliteMigration } from './migrations.js';
export {
  SqliteConnection,
  type SqliteConnectionOptions,
  type SqliteDatabase,
  type SqliteStatement,
  type SqliteWrite,
} from './sqlite-connection.js';

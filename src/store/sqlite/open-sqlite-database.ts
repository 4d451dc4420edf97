import Database from 'better-sqlite3';
import type { SqliteDatabase } from './sqlite-connection.js';

/** How one connection of the store is opened. */
export interface OpenSqliteOptions {
  /** SQLITE_OPEN_READONLY: the file must exist and every write fails with SQLITE_READONLY. */
  readonly readonly: boolean;
  /** Fail when the file does not exist rather than create it (always so when read-only). */
  readonly mustExist: boolean;
  /** How long a statement waits for another connection's lock, in ms. */
  readonly busyTimeoutMs: number;
}

/**
 * Opens one connection the way every connection of the store is configured
 * (the request thread's and the writer thread's alike): WAL journal and
 * `synchronous = FULL` unless read-only, foreign keys on, the busy timeout.
 * Throws the driver's error when the file cannot be opened, and when it
 * refuses WAL (except `:memory:`, which has no WAL).
 */
export function openSqliteDatabase(path: string, options: OpenSqliteOptions): SqliteDatabase {
  const { readonly, busyTimeoutMs } = options;
  const db = new Database(path, { readonly, fileMustExist: readonly || options.mustExist, timeout: busyTimeoutMs });
  try {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    if (!readonly) {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal' && path !== ':memory:') {
        throw new Error(`the database refused WAL mode (journal_mode is ${String(mode)})`);
      }
      db.pragma('synchronous = FULL');
      // Savepoint journals are scratch space, rebuilt on every write: keep them off the disk.
      // Durability comes from the WAL, which this does not touch.
      db.pragma('temp_store = MEMORY');
    }
    db.pragma('foreign_keys = ON');
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

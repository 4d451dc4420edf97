import { GovernorError } from '../../core/errors.js';
import type { SqliteDatabase } from './sqlite-connection.js';

/** One schema change. Versions are consecutive from 1; a released migration never changes. */
export interface SqliteMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * The SQLite schema, in order. A later capability adds a migration here (audit
 * leaves, counters, kill state), never edits an earlier one.
 */
export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    name: 'decisions',
    // seq is max(seq) + 1, assigned inside the writer's transaction, so it
    // increases in commit order; it breaks created_at ties and gives later
    // cursors (change feeds) a stable order.
    sql: `
      CREATE TABLE decisions (
        id TEXT NOT NULL PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        agent TEXT NOT NULL,
        idempotency_key TEXT,
        request_digest TEXT NOT NULL,
        state TEXT NOT NULL,
        verdict TEXT NOT NULL,
        body TEXT NOT NULL CHECK (json_valid(body)),
        outcome TEXT CHECK (outcome IS NULL OR json_valid(outcome)),
        UNIQUE (agent, idempotency_key)
      ) STRICT;
      CREATE INDEX decisions_created ON decisions (created_at DESC, seq DESC);
      CREATE INDEX decisions_state_created ON decisions (state, created_at DESC, seq DESC);
      CREATE INDEX decisions_agent_created ON decisions (agent, created_at DESC, seq DESC);
    `,
  },
];

/** The schema version this code reads and writes. */
export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS.length;

/**
 * Brings the database to `SQLITE_SCHEMA_VERSION` in one immediate transaction,
 * so two processes opening the same file migrate it once. A read-only database
 * must already be current. Refuses a database written by a newer Governor.
 */
export function migrateSqlite(db: SqliteDatabase, options: { readonly readonly?: boolean } = {}): void {
  if (options.readonly === true) {
    const current = readVersion(db);
    if (current !== SQLITE_SCHEMA_VERSION) {
      throw new GovernorError(
        'STORE_UNAVAILABLE',
        `the read-only database is at schema version ${current}, this Governor needs ${SQLITE_SCHEMA_VERSION}`,
      );
    }
    return;
  }
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER NOT NULL PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at TEXT NOT NULL
      ) STRICT
    `);
    const current = readVersion(db);
    if (current > SQLITE_SCHEMA_VERSION) {
      throw new GovernorError(
        'STORE_UNAVAILABLE',
        `the database is at schema version ${current}, newer than this Governor (${SQLITE_SCHEMA_VERSION})`,
      );
    }
    const record = db.prepare(
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
    );
    for (const migration of SQLITE_MIGRATIONS) {
      if (migration.version <= current) continue;
      db.exec(migration.sql);
      record.run(migration.version, migration.name);
    }
    db.exec('COMMIT');
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

function readVersion(db: SqliteDatabase): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (table === undefined) return 0;
  const row = db.prepare('SELECT coalesce(max(version), 0) AS version FROM schema_migrations').get() as {
    version: number;
  };
  return row.version;
}

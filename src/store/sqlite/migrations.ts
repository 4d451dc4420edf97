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
  {
    version: 2,
    name: 'audit log',
    // The RFC 6962 log. Level-0 subtrees are the leaf hashes, kept with their
    // leaves; audit_subtrees holds the complete subtrees of level 1 and above.
    // audit_head is the one row the writers advance (BEGIN IMMEDIATE already
    // serializes them). Triggers make the log append-only at the store: no
    // UPDATE, DELETE or INSERT OR REPLACE of a leaf, subtree or checkpoint
    // (REPLACE deletes without firing delete triggers, hence the insert
    // guards), and the head never moves backwards.
    sql: `
      CREATE TABLE audit_leaves (
        idx INTEGER NOT NULL PRIMARY KEY CHECK (idx >= 0),
        leaf BLOB NOT NULL,
        leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32)
      ) STRICT;
      CREATE TABLE audit_subtrees (
        level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 52),
        idx INTEGER NOT NULL CHECK (idx >= 0),
        hash BLOB NOT NULL CHECK (length(hash) = 32),
        PRIMARY KEY (level, idx)
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE audit_head (
        id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        size INTEGER NOT NULL CHECK (size >= 0)
      ) STRICT;
      INSERT INTO audit_head (id, size) VALUES (1, 0);
      CREATE TABLE audit_checkpoints (
        size INTEGER NOT NULL PRIMARY KEY CHECK (size >= 0),
        note TEXT NOT NULL,
        created_at TEXT NOT NULL
      ) STRICT;

      CREATE TRIGGER audit_leaves_no_update BEFORE UPDATE ON audit_leaves
      BEGIN SELECT RAISE(ABORT, 'audit log is append-only: audit_leaves cannot be updated'); END;
      CREATE TRIGGER audit_leaves_no_delete BEFORE DELETE ON audit_leaves
      BEGIN SELECT RAISE(ABORT, 'audit log is append-only: audit_leaves cannot be deleted from'); END;
      CREATE TRIGGER audit_leaves_no_replace BEFORE INSERT ON audit_leaves
      WHEN EXISTS (SELECT 1 FROM audit_leaves WHERE idx = NEW.idx)
      BEGIN SELECT RAISE(ABORT, 'audit log is append-only: a leaf cannot be replaced'); END;

      CREATE TRIGGER audit_subtrees_no_update BEFORE UPDATE ON audit_subtrees
      BEGIN SELECT RAISE(ABORT, 'audit log is append-only: audit_subtrees cannot be updated'); END;
      CREATE TRIGGER audit_subtrees_no_delete BEFORE DELETE ON audit_subtrees
      BEGIN SELECT RAISE(ABORT, 'audit log is append-only: audit_subtrees cannot be deleted from'); END;
      CREATE TRIGGER audit_subtrees_no_replace BEFORE INSERT ON audit_subtrees
      WHEN EXISTS (SELECT 1 FROM audit_subtrees WHERE level = NEW.level AND idx = NEW.idx)
      BEGIN SELECT RAISE(ABORT, 'audit log is append-only: a subtree cannot be replaced'); END;

      CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
      BEGIN SELECT RAISE(ABORT, 'audit log is append-only: audit_checkpoints cannot be updated'); END;
      CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
      BEGIN SELECT RAISE(ABORT, 'audit log is append-only: audit_checkpoints cannot be deleted from'); END;
      CREATE TRIGGER audit_checkpoints_no_replace BEFORE INSERT ON audit_checkpoints
      WHEN EXISTS (SELECT 1 FROM audit_checkpoints WHERE size = NEW.size)
      BEGIN SELECT RAISE(ABORT, 'audit log is append-only: a checkpoint cannot be replaced'); END;

      CREATE TRIGGER audit_head_no_rewind BEFORE UPDATE ON audit_head
      WHEN NEW.size < OLD.size OR NEW.id IS NOT OLD.id
      BEGIN SELECT RAISE(ABORT, 'audit log is append-only: its head never moves backwards'); END;
      CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
      BEGIN SELECT RAISE(ABORT, 'audit log is append-only: its head cannot be deleted'); END;
      CREATE TRIGGER audit_head_no_replace BEFORE INSERT ON audit_head
      BEGIN SELECT RAISE(ABORT, 'audit log is append-only: its head cannot be replaced'); END;
    `,
  },
  {
    version: 3,
    name: 'control records',
    // Votes, break-glass sessions, kill switches, grants, agent cards, tool
    // pins: one table, keyed (kind, id), updated by compare-and-set on version.
    sql: `
      CREATE TABLE records (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        seq INTEGER NOT NULL UNIQUE,
        parent TEXT,
        state TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version >= 1),
        body TEXT NOT NULL CHECK (json_valid(body)),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        audit TEXT CHECK (audit IS NULL OR json_valid(audit)),
        PRIMARY KEY (kind, id)
      ) STRICT;
      CREATE INDEX records_parent ON records (kind, parent, state, created_at, seq);
      CREATE INDEX records_state ON records (kind, state, created_at, seq);
    `,
  },
  {
    version: 4,
    name: 'budget usage',
    // Aggregate budgets: what permitted actions drew on a key, summed per time
    // bucket (a hundredth of the key's window), so a reservation reads at most
    // ~100 rows however busy the budget is.
    sql: `
      CREATE TABLE budget_usage (
        key TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        amount REAL NOT NULL CHECK (amount >= 0),
        PRIMARY KEY (key, bucket)
      ) STRICT, WITHOUT ROWID;
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

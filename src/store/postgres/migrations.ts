import { GovernorError } from '../../core/errors.js';
import type { PostgresPool } from './postgres-connection.js';

/** Qualifies a table name with the store's schema, when it has one. */
export type TableName = (table: string) => string;

/** One schema change. Versions are consecutive from 1; a released migration never changes. */
export interface PostgresMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: (table: TableName) => string;
}

/**
 * The PostgreSQL schema, in order. A later capability adds a migration here
 * (audit leaves, counters, kill state), never edits an earlier one.
 */
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'decisions',
    // seq breaks created_at ties and gives later cursors a stable order.
    // body is jsonb so later queries and indexes can reach into decisions.
    sql: (t) => `
      CREATE TABLE ${t('decisions')} (
        id text NOT NULL PRIMARY KEY,
        seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        created_at timestamptz NOT NULL,
        agent text NOT NULL,
        idempotency_key text,
        request_digest text NOT NULL,
        state text NOT NULL,
        verdict text NOT NULL,
        body jsonb NOT NULL,
        outcome jsonb,
        CONSTRAINT decisions_agent_idempotency_key UNIQUE (agent, idempotency_key)
      );
      CREATE INDEX decisions_created ON ${t('decisions')} (created_at DESC, seq DESC);
      CREATE INDEX decisions_state_created ON ${t('decisions')} (state, created_at DESC, seq DESC);
      CREATE INDEX decisions_agent_created ON ${t('decisions')} (agent, created_at DESC, seq DESC);
    `,
  },
  {
    version: 2,
    name: 'audit log',
    // The RFC 6962 log. Level-0 subtrees are the leaf hashes, kept with their
    // leaves; audit_subtrees holds the complete subtrees of level 1 and above.
    // audit_head is the one row writers lock (SELECT … FOR UPDATE), so
    // replicas sharing the database append with dense indices. The log is
    // append-only at the store: triggers refuse UPDATE, DELETE and TRUNCATE of
    // leaves, subtrees and checkpoints and any move of the head but forwards
    // (they bind the owner and superusers too, unlike privileges), and those
    // privileges are revoked.
    sql: (t) => `
      CREATE TABLE ${t('audit_leaves')} (
        idx bigint NOT NULL PRIMARY KEY CHECK (idx >= 0),
        leaf bytea NOT NULL,
        leaf_hash bytea NOT NULL CHECK (octet_length(leaf_hash) = 32)
      );
      CREATE TABLE ${t('audit_subtrees')} (
        level smallint NOT NULL CHECK (level BETWEEN 1 AND 52),
        idx bigint NOT NULL CHECK (idx >= 0),
        hash bytea NOT NULL CHECK (octet_length(hash) = 32),
        PRIMARY KEY (level, idx)
      );
      CREATE TABLE ${t('audit_head')} (
        id boolean NOT NULL PRIMARY KEY DEFAULT true CHECK (id),
        size bigint NOT NULL CHECK (size >= 0)
      );
      INSERT INTO ${t('audit_head')} (id, size) VALUES (true, 0);
      CREATE TABLE ${t('audit_checkpoints')} (
        size bigint NOT NULL PRIMARY KEY CHECK (size >= 0),
        note text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE FUNCTION ${t('audit_append_only')}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
          USING ERRCODE = 'insufficient_privilege';
      END
      $$;
      CREATE TRIGGER audit_leaves_append_only BEFORE UPDATE OR DELETE ON ${t('audit_leaves')}
        FOR EACH ROW EXECUTE FUNCTION ${t('audit_append_only')}();
      CREATE TRIGGER audit_leaves_no_truncate BEFORE TRUNCATE ON ${t('audit_leaves')}
        FOR EACH STATEMENT EXECUTE FUNCTION ${t('audit_append_only')}();
      CREATE TRIGGER audit_subtrees_append_only BEFORE UPDATE OR DELETE ON ${t('audit_subtrees')}
        FOR EACH ROW EXECUTE FUNCTION ${t('audit_append_only')}();
      CREATE TRIGGER audit_subtrees_no_truncate BEFORE TRUNCATE ON ${t('audit_subtrees')}
        FOR EACH STATEMENT EXECUTE FUNCTION ${t('audit_append_only')}();
      CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON ${t('audit_checkpoints')}
        FOR EACH ROW EXECUTE FUNCTION ${t('audit_append_only')}();
      CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON ${t('audit_checkpoints')}
        FOR EACH STATEMENT EXECUTE FUNCTION ${t('audit_append_only')}();
      CREATE TRIGGER audit_head_no_rewind BEFORE UPDATE ON ${t('audit_head')}
        FOR EACH ROW WHEN (NEW.size < OLD.size OR NEW.id IS DISTINCT FROM OLD.id)
        EXECUTE FUNCTION ${t('audit_append_only')}();
      CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON ${t('audit_head')}
        FOR EACH ROW EXECUTE FUNCTION ${t('audit_append_only')}();
      CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON ${t('audit_head')}
        FOR EACH STATEMENT EXECUTE FUNCTION ${t('audit_append_only')}();

      REVOKE UPDATE, DELETE, TRUNCATE ON ${t('audit_leaves')}, ${t('audit_subtrees')}, ${t('audit_checkpoints')}
        FROM PUBLIC, CURRENT_USER;
      REVOKE DELETE, TRUNCATE ON ${t('audit_head')} FROM PUBLIC, CURRENT_USER;
    `,
  },
  {
    version: 3,
    name: 'control records',
    // Votes, break-glass sessions, kill switches, grants, agent cards, tool
    // pins: one table, keyed (kind, id), updated by compare-and-set on version.
    sql: (t) => `
      CREATE TABLE ${t('records')} (
        kind text NOT NULL,
        id text NOT NULL,
        seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        parent text,
        state text NOT NULL,
        version bigint NOT NULL CHECK (version >= 1),
        body jsonb NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        audit jsonb,
        PRIMARY KEY (kind, id)
      );
      CREATE INDEX records_parent ON ${t('records')} (kind, parent, state, created_at, seq);
      CREATE INDEX records_state ON ${t('records')} (kind, state, created_at, seq);
    `,
  },
  {
    version: 4,
    name: 'budget usage',
    // Aggregate budgets: what permitted actions drew on a key, summed per time
    // bucket (a hundredth of the key's window), so a reservation reads at most
    // ~100 rows however busy the budget is.
    sql: (t) => `
      CREATE TABLE ${t('budget_usage')} (
        key text NOT NULL,
        bucket bigint NOT NULL,
        amount float8 NOT NULL CHECK (amount >= 0),
        PRIMARY KEY (key, bucket)
      );
    `,
  },
];

/** The schema version this code reads and writes. */
export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS.length;

/** Quotes an SQL identifier. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A `TableName` for `schema` (unqualified, so the search_path decides, when undefined). */
export function tableNames(schema: string | undefined): TableName {
  const prefix = schema === undefined ? '' : `${quoteIdentifier(schema)}.`;
  return (table) => `${prefix}${quoteIdentifier(table)}`;
}

/**
 * Brings `schema` (created if missing) to `POSTGRES_SCHEMA_VERSION` in one
 * transaction under an advisory lock, so replicas starting together migrate it
 * once. Refuses a schema written by a newer Governor.
 */
export async function migratePostgres(pool: PostgresPool, schema: string | undefined): Promise<void> {
  const t = tableNames(schema);
  const client = await pool.connect();
  let failure: unknown;
  const onError = (err: Error): void => {
    failure ??= err;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtext('governor.migrations:' || coalesce($1, current_schema())))", [
      schema ?? null,
    ]);
    if (schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${t('schema_migrations')} (
        version integer NOT NULL PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )
    `);
    const { rows } = await client.query(`SELECT coalesce(max(version), 0)::int AS version FROM ${t('schema_migrations')}`);
    const current = (rows[0] as { version: number }).version;
    if (current > POSTGRES_SCHEMA_VERSION) {
      throw new GovernorError(
        'STORE_UNAVAILABLE',
        `the database is at schema version ${current}, newer than this Governor (${POSTGRES_SCHEMA_VERSION})`,
      );
    }
    for (const migration of POSTGRES_MIGRATIONS) {
      if (migration.version <= current) continue;
      await client.query(migration.sql(t));
      await client.query(`INSERT INTO ${t('schema_migrations')} (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
    }
    await client.query('COMMIT');
  } catch (err) {
    failure ??= err;
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.off('error', onError);
    client.release(failure === undefined ? undefined : failure instanceof Error ? failure : true);
  }
}

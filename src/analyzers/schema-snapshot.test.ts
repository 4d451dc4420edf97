import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGovernorError } from '../core/errors.js';
import { schemaDrift, type DriftReport } from '../impact/schema/drift.js';
import { schemaToJson, type DatabaseSchema } from '../impact/schema/schema.js';
import { schemaFromDdl, sqlDrift } from './schema-from-ddl.js';
import { snapshotPostgres, type SnapshotConnection } from './schema-snapshot.js';

const url = process.env['GOVERNOR_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

async function reachable(connectionString: string): Promise<boolean> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const available = await reachable(url);

/** The test schema's DDL; `S` is replaced by the test's own schema name. */
const DDL = `
CREATE SCHEMA S;
CREATE TYPE S.mood AS ENUM ('happy', 'sad');
CREATE TABLE S.orgs (
  id bigserial PRIMARY KEY,
  name text NOT NULL UNIQUE,
  "Display Name" varchar(80)
);
CREATE TABLE S.users (
  id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id bigint NOT NULL REFERENCES S.orgs ON DELETE CASCADE,
  email varchar(255) NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  score numeric(10,2) DEFAULT -1,
  ratio double precision DEFAULT 0.5,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamp(3) DEFAULT current_timestamp,
  tags text[] DEFAULT '{}',
  feeling S.mood,
  flag boolean NOT NULL DEFAULT false,
  code char(3),
  dur interval day to second(2),
  doc jsonb DEFAULT '{}'::jsonb,
  double_id int GENERATED ALWAYS AS (id * 2) STORED,
  nickname text,
  UNIQUE (org_id, email),
  CHECK (score > -10 AND score < 1000)
);
CREATE TABLE S.memberships (
  user_id int REFERENCES S.users (id),
  org_id bigint,
  role text,
  PRIMARY KEY (user_id, org_id),
  FOREIGN KEY (org_id) REFERENCES S.orgs (id) ON DELETE SET NULL ON UPDATE CASCADE,
  EXCLUDE USING btree (role WITH =)
);
CREATE INDEX ON S.users (lower(email));
CREATE UNIQUE INDEX users_email_active ON S.users (email) WHERE status = 'active';
CREATE INDEX ON S.users (created_at DESC NULLS LAST, org_id NULLS FIRST) INCLUDE (status);
CREATE INDEX ON S.users USING gin (tags);
CREATE INDEX ON S.users ((score + 1));
CREATE INDEX ON S.users (status text_pattern_ops);
CREATE INDEX users_nickname ON S.users (nickname);
`;

function kinds(report: DriftReport): [string, boolean][] {
  return report.changes.map((c) => [c.kind, c.breaking]);
}

describe.skipIf(!available)('snapshotPostgres on a real PostgreSQL', () => {
  let client: pg.Client;
  let schema: string;
  let ddl: string;
  let before: DatabaseSchema;

  beforeEach(async () => {
    schema = `drift_${randomBytes(6).toString('hex')}`;
    ddl = DDL.replaceAll(/\bS\./g, `${schema}.`).replace('CREATE SCHEMA S;', `CREATE SCHEMA ${schema};`);
    client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(ddl);
    before = await snapshotPostgres(client, { schemas: [schema] });
  });

  afterEach(async () => {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  });

  it('reads what the DDL declares, exactly as schemaFromDdl computes it (types, defaults, names)', async () => {
    const fromDdl = await schemaFromDdl(ddl);
    expect(fromDdl.issues).toEqual([]);
    expect(before).toEqual(fromDdl.schema);
    expect(schemaToJson(before)).toBe(schemaToJson(fromDdl.schema));
    expect(Object.keys(before.tables)).toEqual([`${schema}.memberships`, `${schema}.orgs`, `${schema}.users`]);
    const users = before.tables[`${schema}.users`];
    expect(users?.columns.find((c) => c.name === 'email')?.type).toBe('character varying(255)');
    expect(users?.columns.find((c) => c.name === 'feeling')?.type).toBe(`${schema}.mood`);
    expect(users?.columns.find((c) => c.name === 'id')?.identity).toBe('always');
  });

  // Each change is run on the database, then the snapshot after it is compared with the one
  // before; the prediction from the DDL alone must give the same drift and the same schema.
  const breaking: [string, string, [string, boolean][]][] = [
    ['DROP COLUMN', 'ALTER TABLE S.users DROP COLUMN nickname', [['column-dropped', true], ['index-dropped', true]]],
    ['RENAME COLUMN', 'ALTER TABLE S.users RENAME COLUMN nickname TO handle', [['column-renamed', true]]],
    ['RENAME TABLE', 'ALTER TABLE S.orgs RENAME TO organizations', [['table-renamed', true]]],
    ['ALTER COLUMN TYPE', 'ALTER TABLE S.users ALTER COLUMN score TYPE integer', [['column-type-changed', true]]],
    ['DROP CONSTRAINT (foreign key)', 'ALTER TABLE S.users DROP CONSTRAINT users_org_id_fkey', [['foreign-key-removed', true]]],
    ['DROP CONSTRAINT (unique)', 'ALTER TABLE S.users DROP CONSTRAINT users_org_id_email_key', [['unique-removed', true]]],
    ['DROP CONSTRAINT (check)', 'ALTER TABLE S.users DROP CONSTRAINT users_status_check', [['check-removed', true]]],
    ['DROP INDEX', 'DROP INDEX S.users_lower_idx', [['index-dropped', true]]],
    ['DROP NOT NULL', 'ALTER TABLE S.users ALTER COLUMN email DROP NOT NULL', [['not-null-removed', true]]],
    ['DROP TABLE CASCADE', 'DROP TABLE S.orgs CASCADE', [['foreign-key-removed', true], ['table-dropped', true], ['foreign-key-removed', true]]],
  ];
  for (const [name, template, expected] of breaking) {
    it(`${name} is drift, in the live database and in the prediction`, async () => {
      const sql = template.replaceAll(/\bS\./g, `${schema}.`);
      const predicted = await sqlDrift(before, sql);
      await client.query(sql);
      const after = await snapshotPostgres(client, { schemas: [schema] });
      const live = schemaDrift(before, after);
      expect(kinds(live)).toEqual(expected);
      expect(live.drifting).toBe(true);
      expect(predicted.issues).toEqual([]);
      expect(kinds(predicted)).toEqual(expected);
      expect(predicted.schema).toEqual(after);
    });
  }

  const additive: [string, string, string[]][] = [
    ['ADD COLUMN (nullable)', 'ALTER TABLE S.users ADD COLUMN bio text', ['column-added']],
    ['CREATE INDEX CONCURRENTLY', 'CREATE INDEX CONCURRENTLY ON S.users (score)', ['index-added']],
    ['CREATE TABLE', 'CREATE TABLE S.teams (id int PRIMARY KEY, org_id bigint REFERENCES S.orgs)', ['table-added']],
    ['widening a varchar', 'ALTER TABLE S.orgs ALTER COLUMN "Display Name" TYPE varchar(200)', ['column-type-changed']],
  ];
  for (const [name, template, expected] of additive) {
    it(`${name} is not drift`, async () => {
      const sql = template.replaceAll(/\bS\./g, `${schema}.`);
      const predicted = await sqlDrift(before, sql);
      await client.query(sql);
      const after = await snapshotPostgres(client, { schemas: [schema] });
      const live = schemaDrift(before, after);
      expect(live.changes.map((c) => c.kind)).toEqual(expected);
      expect(live.drifting).toBe(false);
      expect(predicted.drifting).toBe(false);
      expect(predicted.schema).toEqual(after);
    });
  }

  it('leaves the connection as it found it: no open transaction, search path unchanged', async () => {
    const path = (await client.query('SHOW search_path')).rows[0] as { search_path: string };
    await snapshotPostgres(client, { schemas: [schema] });
    await client.query('CREATE TEMP TABLE proves_not_read_only (a int)');
    expect((await client.query('SHOW search_path')).rows[0]).toEqual(path);
    expect((await client.query('SELECT now() = statement_timestamp() AS outside')).rows[0]).toEqual({ outside: true });
  });

  it('connects by itself from a connection string, and never reads system schemas', async () => {
    // Other test files change other schemas concurrently, so this one names its own.
    const all = await snapshotPostgres(url, { schemas: [schema, 'pg_catalog', 'information_schema', 'pg_toast'] });
    expect(Object.keys(all.tables)).toEqual([`${schema}.memberships`, `${schema}.orgs`, `${schema}.users`]);
  });
});

describe('snapshotPostgres transaction discipline', () => {
  function fakeConnection(failOn?: RegExp): { connection: SnapshotConnection; queries: string[] } {
    const queries: string[] = [];
    return {
      queries,
      connection: {
        query(text: string) {
          queries.push(text.trim().split('\n')[0] ?? '');
          if (failOn?.test(text)) return Promise.reject(new Error('boom'));
          return Promise.resolve({ rows: [] });
        },
      },
    };
  }

  it('reads in one READ ONLY transaction with a statement timeout, and ends it', async () => {
    const { connection, queries } = fakeConnection();
    expect(await snapshotPostgres(connection, { timeoutMs: 2500 })).toEqual({ tables: {} });
    expect(queries[0]).toMatch(/^BEGIN .*READ ONLY/);
    expect(queries).toContain('SET LOCAL statement_timeout = 2500');
    expect(queries.at(-1)).toBe('ROLLBACK');
  });

  it('ends the transaction and throws a GovernorError when a query fails', async () => {
    const { connection, queries } = fakeConnection(/pg_attribute/);
    const error = await snapshotPostgres(connection).catch((err: unknown) => err);
    expect(isGovernorError(error, 'INTERNAL')).toBe(true);
    expect(queries.at(-1)).toBe('ROLLBACK');
  });

  it('reports a database it cannot reach', async () => {
    const error = await snapshotPostgres('postgres://postgres@127.0.0.1:1/none').catch((err: unknown) => err);
    expect(isGovernorError(error, 'INTERNAL')).toBe(true);
    expect((error as Error).message).toMatch(/cannot connect/);
  });
});

import { describe, expect, it } from 'vitest';
import { loadDdlParser, parseDdlSync } from '../../analyzers/schema-from-ddl.js';
import { applyDdl, type ApplyDdlOptions, type ApplyDdlResult } from './apply-ddl.js';
import { emptySchema, type DatabaseSchema, type TableSchema } from './schema.js';

await loadDdlParser();

function run(sql: string, base: DatabaseSchema = emptySchema(), options: Omit<ApplyDdlOptions, 'sql'> = {}): ApplyDdlResult {
  const parsed = parseDdlSync(sql);
  if (!parsed.ok) throw new Error(parsed.issues[0]?.message);
  return applyDdl(base, parsed.value, { ...options, sql });
}

/** The schema `sql` builds; fails the test on any issue. */
function build(sql: string, base?: DatabaseSchema): DatabaseSchema {
  const result = run(sql, base);
  expect(result.issues).toEqual([]);
  return result.schema;
}

function table(schema: DatabaseSchema, key: string): TableSchema {
  const t = schema.tables[key];
  if (t === undefined) throw new Error(`no table ${key} in ${Object.keys(schema.tables).join(', ')}`);
  return t;
}

const USERS = `
create table orgs (id bigserial primary key, name text not null unique);
create table users (
  id int generated always as identity primary key,
  org_id bigint not null references orgs on delete cascade,
  email varchar(255) not null,
  status text not null default 'active' check (status in ('active', 'disabled')),
  score numeric(10,2),
  unique (org_id, email)
);
create index on users (lower(email));
`;

describe('applyDdl: CREATE TABLE', () => {
  it('models columns, keys and constraints with the names PostgreSQL gives them', () => {
    const s = build(USERS);
    expect(Object.keys(s.tables)).toEqual(['public.orgs', 'public.users']);
    const orgs = table(s, 'public.orgs');
    expect(orgs.columns).toEqual([
      { name: 'id', type: 'bigint', notNull: true, default: "nextval('public.orgs_id_seq')" },
      { name: 'name', type: 'text', notNull: true },
    ]);
    expect(orgs.primaryKey).toEqual({ name: 'orgs_pkey', columns: ['id'] });
    expect(orgs.uniques).toEqual([{ name: 'orgs_name_key', columns: ['name'] }]);
    const users = table(s, 'public.users');
    expect(users.columns.map((c) => [c.name, c.type, c.notNull])).toEqual([
      ['id', 'integer', true],
      ['org_id', 'bigint', true],
      ['email', 'character varying(255)', true],
      ['status', 'text', true],
      ['score', 'numeric(10,2)', false],
    ]);
    expect(users.columns[0]?.identity).toBe('always');
    expect(users.columns[3]?.default).toBe("'active'");
    expect(users.foreignKeys).toEqual([
      { name: 'users_org_id_fkey', columns: ['org_id'], references: { table: 'public.orgs', columns: ['id'] }, onDelete: 'cascade' },
    ]);
    expect(users.checks).toEqual([{ name: 'users_status_check', expression: "(status = ANY (ARRAY['active', 'disabled']))" }]);
    expect(users.uniques).toEqual([{ name: 'users_org_id_email_key', columns: ['org_id', 'email'] }]);
    expect(users.indexes).toEqual([{ name: 'users_lower_idx', columns: ['lower(email)'], unique: false, method: 'btree' }]);
  });

  it('numbers colliding default names and names checks after their only column', () => {
    const s = build(`create table t (a int, b int, e text check (e <> 'x') check (e <> 'y'),
      check (a > 0), check (a > b), check (1 > 0), check (b > 0 and b < 10));
      create index on t (lower(e)); create index on t (lower(e)); create index on t (lower(e), upper(e)); create index on t ((a + b));`);
    const t = table(s, 'public.t');
    expect(t.checks.map((c) => c.name).sort()).toEqual(['t_a_check', 't_b_check', 't_check', 't_check1', 't_e_check', 't_e_check1']);
    expect(t.indexes.map((i) => i.name).sort()).toEqual(['t_expr_idx', 't_lower_idx', 't_lower_idx1', 't_lower_upper_idx']);
  });

  it('truncates long default names to 63 bytes as PostgreSQL does', () => {
    const s = build(`create table a_very_long_table_name_that_goes_on_and_on_and_on_and_on_forever_x (
      a_very_long_column_name_that_also_goes_on_and_on_and_on int unique, b int);
      create index on a_very_long_table_name_that_goes_on_and_on_and_on_and_on_forever_x (a_very_long_column_name_that_also_goes_on_and_on_and_on, b);`);
    const t = table(s, 'public.a_very_long_table_name_that_goes_on_and_on_and_on_and_on_foreve');
    expect(t.uniques[0]?.name).toBe('a_very_long_table_name_that_g_a_very_long_column_name_that__key');
    expect(t.indexes[0]?.name).toBe('a_very_long_table_name_that_g_a_very_long_column_name_that__idx');
  });

  it('folds a repeated key into one, and a primary key wins over a unique on the same columns', () => {
    const t = table(build('create table t (a int, b int, unique (a, b), unique (a, b))'), 'public.t');
    expect(t.uniques).toEqual([{ name: 't_a_b_key', columns: ['a', 'b'] }]);
    const u = table(build('create table u (a int unique primary key)'), 'public.u');
    expect(u.uniques).toEqual([]);
    expect(u.primaryKey).toEqual({ name: 'u_pkey', columns: ['a'] });
  });

  it('sets NOT NULL on primary key columns', () => {
    const t = table(build('create table t (a int, b text, primary key (a, b))'), 'public.t');
    expect(t.columns.every((c) => c.notNull)).toBe(true);
  });

  it('resolves a foreign key without columns to the primary key, including its own table', () => {
    const t = table(build('create table t (id int primary key, parent int references t)'), 'public.t');
    expect(t.foreignKeys[0]?.references).toEqual({ table: 'public.t', columns: ['id'] });
  });

  it('keeps foreign key actions other than NO ACTION', () => {
    const t = table(
      build('create table o (x int, y int, primary key (x, y)); create table t (a int, b int, foreign key (a, b) references o on delete set null on update restrict)'),
      'public.t',
    );
    expect(t.foreignKeys[0]).toMatchObject({ onDelete: 'set-null', onUpdate: 'restrict', references: { columns: ['x', 'y'] } });
  });

  it('models identity, generated and exclusion', () => {
    const t = table(build('create table t (a bigint generated by default as identity, b int generated always as (a * 2) stored, c int, exclude using gist (c with =))'), 'public.t');
    expect(t.columns[0]).toEqual({ name: 'a', type: 'bigint', notNull: true, identity: 'by-default' });
    expect(t.columns[1]).toEqual({ name: 'b', type: 'integer', notNull: false, generated: '(a * 2)' });
    expect(t.exclusions).toEqual([{ name: 't_c_excl', definition: 'USING gist (c WITH =)' }]);
  });

  it('puts unqualified names in the first schema of the search path', () => {
    const s = build('set search_path to app, public; create table t (m mood); reset search_path; create table u (a int)');
    expect(Object.keys(s.tables)).toEqual(['app.t', 'public.u']);
    expect(table(s, 'app.t').columns[0]?.type).toBe('app.mood');
    const other = run('create table t (a int)', emptySchema(), { searchPath: ['$user', 'sales'] });
    expect(Object.keys(other.schema.tables)).toEqual(['sales.t']);
  });

  it('creates the elements of CREATE SCHEMA in that schema', () => {
    const s = build('create schema billing create table invoices (id int primary key) create index on invoices (id)');
    expect(Object.keys(s.tables)).toEqual(['billing.invoices']);
    expect(table(s, 'billing.invoices').indexes).toHaveLength(1);
  });

  it('keeps quoted identifiers as written and quotes them in keys', () => {
    const s = build('create table "Sales"."Order Lines" ("Qty" int)');
    expect(Object.keys(s.tables)).toEqual(['"Sales"."Order Lines"']);
    expect(table(s, '"Sales"."Order Lines"').columns[0]?.name).toBe('Qty');
  });

  it('IF NOT EXISTS leaves an existing table alone; without it the script would fail', () => {
    const base = build('create table t (a int)');
    expect(run('create table if not exists t (b int)', base).schema).toEqual(base);
    const result = run('create table t (b int)', base);
    expect(result.ok).toBe(false);
    expect(result.issues[0]?.message).toMatch(/already exists/);
  });
});

describe('applyDdl: ALTER TABLE', () => {
  const base = build(USERS);

  it('adds and drops columns; dropping takes its indexes and constraints along', () => {
    const s = build('alter table users add column nickname text, drop column email', base);
    const users = table(s, 'public.users');
    expect(users.columns.map((c) => c.name)).toEqual(['id', 'org_id', 'status', 'score', 'nickname']);
    expect(users.uniques).toEqual([]);
    expect(users.indexes).toEqual([]);
  });

  it('changes types, NOT NULL and defaults', () => {
    const s = build(
      `alter table users alter column score type double precision, alter column score set not null,
       alter column status drop not null, alter column status drop default, alter column score set default 0`,
      base,
    );
    const users = table(s, 'public.users');
    expect(users.columns.find((c) => c.name === 'score')).toEqual({ name: 'score', type: 'double precision', notNull: true, default: '0' });
    expect(users.columns.find((c) => c.name === 'status')).toEqual({ name: 'status', type: 'text', notNull: false });
  });

  it('adds and drops constraints, including USING INDEX', () => {
    const s = build(
      `alter table users drop constraint users_status_check, drop constraint users_org_id_fkey, add constraint score_positive check (score > 0);
       create unique index users_email_uq on users (email);
       alter table users add constraint users_email_key unique using index users_email_uq`,
      base,
    );
    const users = table(s, 'public.users');
    expect(users.checks).toEqual([{ name: 'score_positive', expression: '(score > 0)' }]);
    expect(users.foreignKeys).toEqual([]);
    expect(users.uniques.map((u) => u.name).sort()).toEqual(['users_email_key', 'users_org_id_email_key']);
    expect(users.indexes.map((i) => i.name)).toEqual(['users_lower_idx']);
  });

  it('renames tables, columns, constraints and indexes, and foreign keys follow', () => {
    const s = build(
      `alter table orgs rename to organizations; alter table organizations rename column id to org_id;
       alter table users rename column email to mail; alter index users_lower_idx rename to users_mail_lower;
       alter table users rename constraint users_status_check to status_ok`,
      base,
    );
    const users = table(s, 'public.users');
    expect(users.foreignKeys[0]?.references).toEqual({ table: 'public.organizations', columns: ['org_id'] });
    expect(users.uniques[0]?.columns).toEqual(['org_id', 'mail']);
    expect(users.indexes).toEqual([{ name: 'users_mail_lower', columns: ['lower(mail)'], unique: false, method: 'btree' }]);
    expect(users.checks[0]?.name).toBe('status_ok');
    expect(table(s, 'public.organizations').primaryKey).toEqual({ name: 'orgs_pkey', columns: ['org_id'] });
  });

  it('records where each table and column came from', () => {
    const result = run('alter table orgs rename to organizations; alter table users rename column email to mail; alter table users add column x int; create table users_old (a int)', base);
    expect(result.lineage.tables['public.organizations']?.from).toBe('public.orgs');
    expect(result.lineage.tables['public.users']?.columns).toMatchObject({ mail: 'email', x: null, id: 'id' });
    expect(result.lineage.tables['public.users_old']?.from).toBeNull();
  });

  it('a table dropped and created again under its name has no origin', () => {
    const result = run('drop table users; create table users (id int)', base);
    expect(result.lineage.tables['public.users']).toEqual({ from: null, columns: { id: null } });
  });

  it('moves tables between schemas with SET SCHEMA and ALTER SCHEMA RENAME', () => {
    const s = build('alter table users set schema archive; alter schema archive rename to old', base);
    expect(Object.keys(s.tables)).toEqual(['old.users', 'public.orgs']);
  });

  it('renames of a swapped pair of columns keep their expressions apart', () => {
    const s = build('create table t (a int, b int, check (a < b)); alter table t rename column a to tmp; alter table t rename column b to a; alter table t rename column tmp to b');
    expect(table(s, 'public.t').checks[0]?.expression).toBe('(b < a)');
  });

  it('ignores commands that change nothing the model holds', () => {
    const s = build('alter table users owner to bob, set (fillfactor = 70), alter column email set statistics 100, validate constraint users_status_check, enable row level security', base);
    expect(s).toEqual(base);
  });

  it('never mutates the schema it is given', () => {
    const before = JSON.stringify(base);
    run('alter table users drop column email; drop table orgs cascade; alter table users rename to u', base);
    expect(JSON.stringify(base)).toBe(before);
  });
});

describe('applyDdl: DROP', () => {
  const base = build(USERS);

  it('drops tables, and with CASCADE the foreign keys that reference them', () => {
    const refused = run('drop table orgs', base);
    expect(refused.ok).toBe(false);
    expect(refused.issues[0]?.message).toMatch(/foreign keys of public\.users reference it/);
    const s = build('drop table orgs cascade', base);
    expect(Object.keys(s.tables)).toEqual(['public.users']);
    expect(table(s, 'public.users').foreignKeys).toEqual([]);
  });

  it('drops indexes, but not one a constraint owns', () => {
    expect(table(build('drop index users_lower_idx', base), 'public.users').indexes).toEqual([]);
    const refused = run('drop index users_pkey', base);
    expect(refused.issues[0]?.message).toMatch(/a constraint of public\.users requires it/);
  });

  it('needs CASCADE to drop a column or key other tables reference', () => {
    expect(run('alter table orgs drop column id', base).ok).toBe(false);
    expect(run('alter table orgs drop constraint orgs_pkey', base).ok).toBe(false);
    const s = build('alter table orgs drop constraint orgs_pkey cascade', base);
    expect(table(s, 'public.users').foreignKeys).toEqual([]);
  });

  it('drops a schema with CASCADE only', () => {
    const withSchema = build('create schema a; create table a.t (x int)', base);
    expect(run('drop schema a', withSchema).ok).toBe(false);
    expect(Object.keys(build('drop schema a cascade', withSchema).tables)).toEqual(['public.orgs', 'public.users']);
  });

  it('IF EXISTS makes a missing object fine; without it the script would fail', () => {
    expect(run('drop table if exists nope; drop index if exists nope; alter table if exists nope add column a int; alter table users drop column if exists nope', base).ok).toBe(true);
    for (const sql of ['drop table nope', 'drop index nope', 'alter table nope add column a int', 'alter table users drop column nope', 'alter table users drop constraint nope']) {
      expect(run(sql, base).ok, sql).toBe(false);
    }
  });
});

describe('applyDdl: fails closed', () => {
  const base = build(USERS);
  const unmodeled = [
    'do $$ begin execute \'drop table users\'; end $$',
    'call cleanup()',
    'prepare p as select 1; execute p',
    'create table t2 as select * from users',
    'select * into t3 from users',
    'drop view v',
    'drop function f()',
    'drop sequence orgs_id_seq',
    'create or replace function f() returns int language sql as $$ select 1 $$',
    'create or replace view v as select 1',
    'alter table users attach partition p for values in (1)',
    'alter table users inherit orgs',
    'create temp table t (a int)',
    'create table c () inherits (users)',
    'create table p partition of users for values in (1)',
    'alter view v rename to w',
    'alter type mood rename value \'a\' to \'b\'',
    'alter table users disable trigger all',
    'alter sequence orgs_id_seq restart',
    'create table l (like users)',
    'explain analyze create table t4 as select 1',
    'alter table users disable row level security',
    'create event trigger e on ddl_command_start execute function f()',
  ];
  for (const sql of unmodeled) {
    it(`refuses: ${sql}`, () => {
      const result = run(sql, base);
      expect(result.ok).toBe(false);
      expect(result.issues.length).toBeGreaterThan(0);
    });
  }

  it('points each issue at its statement and line', () => {
    const result = run('create table a (x int);\n\n  drop view v;\ninsert into a values (1);\ndo $$ begin end $$;', base);
    expect(result.issues.map((i) => [i.path, i.line])).toEqual([
      ['statements[1]', 3],
      ['statements[3]', 5],
    ]);
  });

  it('keeps applying after an issue, so the schema is a best effort', () => {
    const result = run('drop view v; alter table users add column x int', base);
    expect(result.ok).toBe(false);
    expect(table(result.schema, 'public.users').columns.at(-1)?.name).toBe('x');
  });
});

describe('applyDdl: statements that change no table', () => {
  const base = build(USERS);
  const neutral = [
    'insert into users (email) values ($1)',
    "update users set status = 'x'",
    'delete from users',
    'select * from users',
    'truncate users',
    'begin; commit',
    "comment on table users is 'people'",
    'grant select on users to reader',
    'revoke select on users from reader',
    "create type mood as enum ('a')",
    "alter type mood add value 'b'",
    'create sequence s',
    'create view v as select 1',
    'create extension if not exists citext',
    "create function f() returns int language sql as 'select 1'",
    'create materialized view mv as select 1',
    'analyze users',
    'set statement_timeout = 5000',
    'explain select 1',
    'lock table users in access exclusive mode',
    'create role reporting',
    'alter function f() owner to bob',
  ];
  for (const sql of neutral) {
    it(`ignores: ${sql}`, () => {
      const result = run(sql, base);
      expect(result.issues).toEqual([]);
      expect(result.schema).toEqual(base);
    });
  }
});

import { describe, expect, it } from 'vitest';
import { loadSqlParser } from '../analyzers/pg-parser.js';
import { schemaFromDdl } from '../analyzers/schema-from-ddl.js';
import { recordedFacts, relevantTables } from './action-facts.js';
import { predictImpact } from './predict-impact.js';
import { compile, EXAMPLE_POLICY } from '../../test/helpers/policy.js';
import { createActionAnalyzers } from '../analyzers/action-analyzers.js';
import { ddlDrift } from './schema/drift.js';

const parser = await loadSqlParser();

const BASELINE = `
  create schema sales;
  create table users (id bigint primary key, email text not null unique, org_id bigint, name text);
  create table orgs (id bigint primary key, name text not null);
  alter table users add constraint users_org_fk foreign key (org_id) references orgs (id);
  create table orders (id bigint primary key, user_id bigint not null references users (id) on delete cascade, total numeric(12,2) check (total >= 0), note text);
  create index orders_user_id_idx on orders (user_id);
  create table order_items (id bigint primary key, order_id bigint references orders (id), sku text not null);
  create table products (sku text primary key, title text);
  create unique index products_title_key on products (lower(title));
  create table sales.leads (id bigint primary key, user_id bigint references users (id), score int);
  create table sales.regions (code text primary key);
  create table audit_log (id bigserial primary key, at timestamptz not null default now(), what text);
  create index audit_log_at_idx on audit_log (at);
  create table "Mixed Case" ("Id" int primary key);
  create table ${'t'.repeat(70)} (id int primary key);
`;

/** Scripts whose effects reach past the tables they name: foreign keys, schemas, index names, search paths. */
const SCRIPTS = [
  'alter table orders add column coupon text',
  'alter table orders drop column note',
  'alter table users drop column id cascade',
  'alter table users drop column id',
  'alter table users rename column id to user_id',
  'alter table users rename to people',
  'alter table orgs rename to organizations',
  'drop table users cascade',
  'drop table users',
  'drop table orders cascade',
  'drop index orders_user_id_idx',
  'drop index products_title_key',
  'alter index audit_log_at_idx rename to audit_log_when_idx',
  'drop schema sales cascade',
  'drop schema sales',
  'alter schema sales rename to crm',
  'create table refunds (id bigint primary key, order_id bigint references orders (id))',
  'create table users (id int)',
  'create table if not exists users (id int)',
  'create index on orders (user_id)',
  'create index orders_user_id_idx on orders (total)',
  'alter table orders add constraint orders_total_positive check (total > 0)',
  'alter table orders drop constraint orders_total_check',
  'alter table users drop constraint users_email_key',
  'alter table orders rename constraint orders_total_check to orders_total_nonnegative',
  'alter table order_items add constraint order_items_sku_fk foreign key (sku) references products (sku)',
  'alter table orders alter column total type integer',
  'alter table orders alter column user_id drop not null',
  'set search_path = sales; alter table leads drop column score',
  'set search_path = sales, public; drop table regions',
  'alter table sales.leads set schema public',
  'alter table audit_log alter column at drop default',
  'create unique index on products (sku)',
  'alter table products add constraint products_title_uniq unique using index products_title_key',
  'drop table "Mixed Case"',
  `alter table ${'t'.repeat(70)} add column x int`,
  `drop table ${'t'.repeat(63)}`,
  'begin; alter table orders add column a text; alter table orders drop column a; commit',
  'create table x (id int primary key); drop table x; alter table users add column x_id int references orgs (id)',
  'delete from orders where id = 1',
  'truncate audit_log',
];

describe('relevantTables', () => {
  it('gives the same drift as the whole baseline, for every script', async () => {
    const built = await schemaFromDdl(BASELINE);
    expect(built.issues).toEqual([]);
    const full = built.schema;
    let smaller = 0;
    for (const sql of SCRIPTS) {
      const parsed = parser.parse(sql);
      if (!parsed.ok) throw new Error(`${sql}: ${parsed.error.message}`);
      const subset = relevantTables(full, parsed.value.stmts);
      if (Object.keys(subset.tables).length < Object.keys(full.tables).length) smaller++;
      const a = ddlDrift(full, parsed.value.stmts, { sql });
      const b = ddlDrift(subset, parsed.value.stmts, { sql });
      expect({ drifting: b.drifting, ok: b.ok, changes: b.changes, issues: b.issues }, sql).toEqual({ drifting: a.drifting, ok: a.ok, changes: a.changes, issues: a.issues });
    }
    // It is only worth having if most scripts compare far fewer tables.
    expect(smaller).toBeGreaterThan(SCRIPTS.length / 2);
  });

  it('keeps the tables named, those with keys to them, and those their keys reach', async () => {
    const full = (await schemaFromDdl(BASELINE)).schema;
    const keys = (sql: string) => {
      const parsed = parser.parse(sql);
      return parsed.ok ? Object.keys(relevantTables(full, parsed.value.stmts).tables).sort() : [];
    };
    expect(keys('alter table products add column price int')).toEqual(['public.products']);
    expect(keys('alter table orders add column coupon text')).toEqual(['public.order_items', 'public.orders', 'public.users']);
    expect(keys('drop index audit_log_at_idx')).toEqual(['public.audit_log']);
  });
});

describe('recordedFacts', () => {
  it('gives back the facts an impact was predicted with, so a re-evaluation predicts the same impact', async () => {
    const policy = compile(EXAMPLE_POLICY);
    const action = { tool: 'run_sql', environment: 'prod', params: { database: 'orders-db', sql: 'delete from orders where id = 1' } };
    const analyzers = createActionAnalyzers({ dataDir: '/nonexistent', policyDir: '/nonexistent', env: {}, explain: false });
    const facts = { ...(await analyzers.analyze(policy, action)), now: 5 };
    const tool = policy.tool('run_sql');
    const normalized = { ...action, operation: 'sql', sql: 'delete from orders where id = 1', targets: [{ kind: 'database', id: 'orders-db' }], endpoints: [], reversible: false };
    const impact = predictImpact(normalized, tool, policy.inventory, [], facts);
    expect(recordedFacts(normalized, impact, 5)).toEqual(facts);
    expect(predictImpact(normalized, tool, policy.inventory, [], recordedFacts(normalized, impact, 5))).toEqual(impact);
    const { sql: _sql, ...unanalyzed } = impact;
    expect(recordedFacts(normalized, unanalyzed, 7)).toEqual({ now: 7 });
  });
});

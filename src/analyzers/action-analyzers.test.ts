import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAnalyzers, type TestAnalyzers } from '../../test/helpers/analyzers.js';
import { compile, EXAMPLE_INVENTORY, EXAMPLE_POLICY } from '../../test/helpers/policy.js';
import type { Action } from '../core/types.js';
import { createActionAnalyzers } from './action-analyzers.js';
import { saveBaseline } from './baseline-store.js';
import { schemaFromDdl } from './schema-from-ddl.js';

const policy = compile(EXAMPLE_POLICY);
const sql = (text: string, database: string | string[] = 'orders-db', environment = 'prod'): Action => ({ tool: 'run_sql', environment, params: { database, sql: text } });

describe('createActionAnalyzers', () => {
  let t: TestAnalyzers;
  beforeAll(async () => {
    t = await testAnalyzers({ baselines: { 'orders-db': 'create table users (id int primary key, email text)' }, env: { ORDERS_DB_EXPLAIN_URL: 'postgres://x@db/orders' }, rows: { known: true, rows: 3, maxFraction: 0.5, statements: [] } });
  });
  afterAll(() => t.cleanup());

  it('is needed for SQL (in the action or the tool parameter) and configuration tools only', () => {
    const analyzers = createActionAnalyzers({ dataDir: '/nonexistent', policyDir: '/nonexistent', env: {}, explain: false });
    expect(analyzers.needed(policy, sql('select 1'))).toBe(true);
    expect(analyzers.needed(policy, { tool: 'restart_service', environment: 'prod', sql: 'select 1' })).toBe(true);
    expect(analyzers.needed(policy, { tool: 'restart_service', environment: 'prod', params: { service: 'search' } })).toBe(false);
    expect(analyzers.needed(policy, { tool: 'not-in-the-catalog', environment: 'prod' })).toBe(false);
  });

  it('classifies the SQL of the tool parameter and names the data store it runs on', async () => {
    const facts = await t.facts(policy, sql('select 1; update users set email = null where id = 1'));
    expect(facts.sql).toMatchObject({
      source: 'select 1; update users set email = null where id = 1',
      sql: { analyzed: true, database: 'orders-db', class: 'write', statements: [{ index: 0, class: 'read' }, { index: 1, class: 'write', command: 'UPDATE', tables: ['users'] }] },
      rows: { known: true, rows: 3 },
      drift: { drifting: false },
    });
  });

  it('compares with the latest baseline version, and follows a new one', async () => {
    const first = await t.facts(policy, sql('alter table users drop column email'));
    expect(first.sql?.drift).toMatchObject({ drifting: true, baselines: ['database orders-db, baseline v1'] });
    // v2 has no email column: dropping it again would now fail on the database (an issue, so drift).
    const v2 = await schemaFromDdl('create table users (id int primary key, name text)');
    await saveBaseline(t.dataDir, 'orders-db', v2.schema, { source: 'ddl' });
    const second = await t.facts(policy, sql('alter table users drop column name'));
    expect(second.sql?.drift).toMatchObject({ drifting: true, baselines: ['database orders-db, baseline v2'], changes: [{ kind: 'column-dropped' }] });
    expect((await t.facts(policy, sql('alter table users add column x text'))).sql?.drift).toMatchObject({ drifting: false, baselines: ['database orders-db, baseline v2'] });
  });

  it('fails closed without one data store to compare with or estimate on', async () => {
    const two = await t.facts(policy, sql('alter table users add column x text', ['orders-db', 'other-db']));
    expect(two.sql?.drift.issues.join()).toMatch(/names 2 databases/);
    expect(two.sql?.rows).toEqual({ known: false, reason: 'the SQL names no data store of the inventory to estimate its rows on' });
    const unknown = await t.facts(policy, sql('alter table users add column x text', 'ghost-db'));
    expect(unknown.sql?.drift.issues.join()).toMatch(/database "ghost-db" is not in the inventory of environment "prod"/);
  });

  it('says why rows are unknown: no connection named, or its variable unset', async () => {
    expect((await t.facts(policy, sql('delete from users where id = 1', 'orders-db', 'staging'))).sql?.rows).toEqual({
      known: false,
      reason: 'no EXPLAIN connection for data store orders-db (inventory: dataStores[].explain.urlEnv)',
    });
    const unset = createActionAnalyzers({ dataDir: t.dataDir, policyDir: t.dataDir, env: {} });
    expect((await unset.analyze(policy, sql('delete from users where id = 1'))).sql?.rows).toEqual({
      known: false,
      reason: 'environment variable ORDERS_DB_EXPLAIN_URL (the EXPLAIN connection of data store orders-db) is not set',
    });
    await unset.close();
  });

  it('refuses a data store id that cannot name a baseline directory', async () => {
    const inventory = EXAMPLE_INVENTORY.replace('  - id: orders-db\n    environment: prod', '  - id: orders.db\n    environment: prod').replace(/dataStores: \[orders-db\]/g, 'dataStores: []');
    const p = compile(EXAMPLE_POLICY, inventory);
    const facts = await t.facts(p, sql('alter table users add column x text', 'orders.db'));
    expect(facts.sql?.drift.issues.join()).toMatch(/cannot name schema baselines/);
  });

  it('reports nothing about actions without SQL or a configuration document', async () => {
    expect(await t.facts(policy, { tool: 'restart_service', environment: 'prod', params: { service: 'search' } })).toEqual({});
  });
});

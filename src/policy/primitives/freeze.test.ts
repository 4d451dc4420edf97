import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAnalyzers, type TestAnalyzers } from '../../../test/helpers/analyzers.js';
import { compile, compileIssues, DEPLOYER, policyWithRules } from '../../../test/helpers/policy.js';
import type { Action } from '../../core/types.js';
import { evaluatePolicy } from '../evaluate-policy.js';

const START = Date.parse('2026-12-21T00:00:00Z');
const END = Date.parse('2027-01-04T00:00:00Z');
const DURING = START + 3_600_000;
const freezeRule = (scope = '{ environments: [prod] }') =>
  `  - id: year-end\n    freeze: { start: "2026-12-21T00:00:00Z", end: "2027-01-04T00:00:00Z", scope: ${scope}, reason: year-end code freeze }`;
const policyOf = (scope?: string) => compile(policyWithRules(`  - id: allow-all\n    allow: {}\n${freezeRule(scope)}`));

const sql = (text: string, environment = 'prod'): Action => ({ tool: 'run_sql', environment, params: { database: 'orders-db', sql: text } });
const restart: Action = { tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 } };
const readLogs: Action = { tool: 'read_logs', environment: 'prod', params: { service: 'search' } };

describe('freeze', () => {
  let t: TestAnalyzers;
  beforeAll(async () => {
    t = await testAnalyzers({ env: { ORDERS_DB_EXPLAIN_URL: 'postgres://estimator@db/orders' }, rows: { known: true, rows: 1204, maxFraction: 0.24, statements: [{ index: 0, command: 'DELETE', table: 'public.customers', rows: 1204, tableRows: 5000, fraction: 0.24 }] } });
  });
  afterAll(() => t.cleanup());
  const policy = policyOf();

  it('denies a write during the freeze, with the freeze and the rows in the reason', async () => {
    const e = await t.evaluate(policy, DEPLOYER, sql("delete from customers where created_at < '2020-01-01'"), DURING);
    expect(e.verdict).toBe('deny');
    const reason = e.reasons.find((r) => r.rule === 'year-end');
    expect(reason).toMatchObject({ primitive: 'freeze', code: 'FREEZE', effect: 'deny' });
    expect(reason?.message).toBe(
      'change freeze in force until 2027-01-04T00:00:00Z (year-end code freeze): SQL that writes (statement 1: DELETE on customers), writing an estimated 1204 rows in prod is not allowed',
    );
  });

  it('denies DDL and any tool the catalog does not call read-only; reads go on', async () => {
    expect((await t.evaluate(policy, DEPLOYER, sql('alter table orders add column note text'), DURING)).verdict).toBe('deny');
    expect((await t.evaluate(policy, DEPLOYER, restart, DURING)).reasons.find((r) => r.rule === 'year-end')?.message).toMatch(/a change in prod is not allowed/);
    expect((await t.evaluate(policy, DEPLOYER, sql('select count(*) from orders'), DURING)).verdict).toBe('allow');
    expect((await t.evaluate(policy, DEPLOYER, readLogs, DURING)).verdict).toBe('allow');
  });

  it('holds from start (inclusive) to end (exclusive)', async () => {
    const at = async (now: number) => (await t.evaluate(policy, DEPLOYER, restart, now)).verdict;
    expect(await at(START - 1)).toBe('allow');
    expect(await at(START)).toBe('deny');
    expect(await at(END - 1)).toBe('deny');
    expect(await at(END)).toBe('allow');
  });

  it('applies to its scope only', async () => {
    expect((await t.evaluate(policy, DEPLOYER, sql('delete from orders where id = 1', 'staging'), DURING)).verdict).toBe('allow');
    const stores = policyOf('{ environments: [prod], dataStores: [orders-db] }');
    expect((await t.evaluate(stores, DEPLOYER, sql('delete from orders where id = 1'), DURING)).verdict).toBe('deny');
    expect((await t.evaluate(stores, DEPLOYER, restart, DURING)).verdict).toBe('allow');
    const services = policyOf('{ services: [search] }');
    expect((await t.evaluate(services, DEPLOYER, restart, DURING)).verdict).toBe('deny');
    expect((await t.evaluate(services, DEPLOYER, { ...restart, params: { service: 'payments', count: 1 } }, DURING)).verdict).toBe('allow');
  });

  it('counts as in force when the time of the decision is not known (fail closed)', () => {
    const e = evaluatePolicy(policy, DEPLOYER, restart);
    expect(e.verdict).toBe('deny');
    expect(e.reasons.find((r) => r.rule === 'year-end')?.message).toMatch(/time of the decision is unknown, so the freeze counts as in force/);
  });

  it('counts SQL nobody analyzed as a write', () => {
    const e = evaluatePolicy(policy, DEPLOYER, sql('select 1'), { now: DURING });
    expect(e.verdict).toBe('deny');
    expect(e.reasons.find((r) => r.rule === 'year-end')?.message).toMatch(/SQL that could not be analyzed/);
  });

  it('can be tried in shadow mode first', async () => {
    const shadow = compile(policyWithRules(`  - id: allow-all\n    allow: {}\n${freezeRule()}\n    mode: shadow`));
    const e = await t.evaluate(shadow, DEPLOYER, restart, DURING);
    expect(e.verdict).toBe('allow');
    expect(e.shadow).toMatchObject({ verdict: 'deny', reasons: [{ rule: 'year-end', code: 'FREEZE' }] });
  });

  it('rejects bad windows and unknown scopes when the policy loads', () => {
    const issues = (rule: string) => compileIssues(policyWithRules(`  - id: allow-all\n    allow: {}\n${rule}`)).join('\n');
    expect(issues('  - id: f\n    freeze: { start: "2026-12-21T00:00:00", end: "2027-01-04T00:00:00Z", reason: r }')).toMatch(/freeze.start: rule "f": expected an ISO 8601 time with a time zone/);
    expect(issues('  - id: f\n    freeze: { start: "2027-01-04T00:00:00Z", end: "2026-12-21T00:00:00Z", reason: r }')).toMatch(/ends .* before it starts/);
    expect(issues('  - id: f\n    freeze: { start: "2026-12-21T00:00:00Z", end: "2027-01-04T00:00:00Z" }')).toMatch(/freeze.reason: rule "f": expected a string/);
    expect(issues(freezeRule('{ dataStores: [ghost-db], services: [ghost] }'))).toMatch(/data store "ghost-db" is not in the inventory[\s\S]*service "ghost" is not in the inventory/);
  });
});

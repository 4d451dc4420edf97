import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAnalyzers, type TestAnalyzers } from '../../../test/helpers/analyzers.js';
import { compile, compileIssues, DEPLOYER, policyWithRules } from '../../../test/helpers/policy.js';
import type { RowEstimate } from '../../analyzers/explain-rows.js';
import type { Action } from '../../core/types.js';

const sql = (text: string): Action => ({ tool: 'run_sql', environment: 'prod', params: { database: 'orders-db', sql: text } });
const policy = compile(policyWithRules('  - id: allow-all\n    allow: {}\n  - id: rows\n    blastRadius: { maxRows: 1000, maxTableFraction: 0.1, onExceed: deny }'));
const estimate = (rows: number, tableRows: number): RowEstimate => ({
  known: true,
  rows,
  maxFraction: rows / tableRows,
  statements: [{ index: 0, command: 'DELETE', table: 'public.orders', rows, tableRows, fraction: rows / tableRows }],
});

describe('blastRadius row ceilings', () => {
  let t: TestAnalyzers;
  beforeAll(async () => {
    t = await testAnalyzers({
      env: { ORDERS_DB_EXPLAIN_URL: 'postgres://estimator@db/orders' },
      rows: (text) => (text.includes('id < 10') ? estimate(9, 100_000) : text.includes('id < 5000') ? estimate(4999, 100_000) : text.includes('small') ? estimate(500, 1000) : { known: false, reason: 'permission denied for table orders' }),
    });
  });
  afterAll(() => t.cleanup());

  it('allows a write under both ceilings', async () => {
    const e = await t.evaluate(policy, DEPLOYER, sql('delete from orders where id < 10'));
    expect(e.verdict).toBe('allow');
    expect(e.impact).toMatchObject({ rows: 9, rowFraction: 0.00009, rowEstimate: { known: true } });
  });

  it('denies a write over maxRows, naming the statement, and cannot bound it into a smaller step', async () => {
    const e = await t.evaluate(policy, DEPLOYER, sql('delete from orders where id < 5000'));
    expect(e.verdict).toBe('deny');
    const reason = e.reasons.find((r) => r.rule === 'rows');
    expect(reason).toMatchObject({ code: 'BLAST_RADIUS_EXCEEDED' });
    expect(reason?.message).toBe('predicted impact over the ceiling: estimated rows written 4999 > 1000 (statement 1: DELETE 4999 of 100000 rows of public.orders)');
  });

  it('denies a write over maxTableFraction', async () => {
    const e = await t.evaluate(policy, DEPLOYER, sql("delete from orders where note = 'small'"));
    expect(e.reasons.find((r) => r.rule === 'rows')?.message).toMatch(/largest share of one table written 0.5 > 0.1/);
  });

  it('counts an unknown estimate as over every row ceiling', async () => {
    const e = await t.evaluate(policy, DEPLOYER, sql('delete from orders where id = 1'));
    expect(e.verdict).toBe('deny');
    expect(e.reasons.find((r) => r.rule === 'rows')).toMatchObject({ code: 'UNKNOWN_IMPACT', message: 'row estimate unknown (permission denied for table orders), which counts as over every row ceiling' });
    expect(e.impact.rows).toBeUndefined();
  });

  it('does not ask the planner about a read, which writes no row', async () => {
    const before = t.estimated.length;
    const e = await t.evaluate(policy, DEPLOYER, sql('select * from orders'));
    expect(e.verdict).toBe('allow');
    expect(e.impact).toMatchObject({ rows: 0, rowFraction: 0 });
    expect(t.estimated.length).toBe(before);
  });

  it('leaves actions without SQL to the other ceilings', async () => {
    const e = await t.evaluate(policy, DEPLOYER, { tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 } });
    expect(e.verdict).toBe('allow');
    expect(e.impact.rowEstimate).toBeUndefined();
  });

  it('is read by conditions as impact.rows and impact.rowFraction; unknown is Infinity', async () => {
    const p = compile(policyWithRules('  - id: allow-all\n    allow: {}\n  - id: big\n    when: impact.rows > 100.0 || impact.rowFraction > 0.2\n    deny: { message: too many rows }'));
    expect((await t.evaluate(p, DEPLOYER, sql('delete from orders where id < 10'))).verdict).toBe('allow');
    expect((await t.evaluate(p, DEPLOYER, sql('delete from orders where id < 5000'))).verdict).toBe('deny');
    expect((await t.evaluate(p, DEPLOYER, sql('delete from orders where id = 1'))).verdict).toBe('deny');
  });

  it('draws the estimated rows on a rows budget; an unknown estimate never fits', async () => {
    const p = compile(policyWithRules('  - id: allow-all\n    allow: {}\n  - id: rows-budget\n    budget: { scope: environment, metric: rows, max: 10000, window: 1h }'));
    expect((await t.evaluate(p, DEPLOYER, sql('delete from orders where id < 5000'))).budgets).toEqual([expect.objectContaining({ rule: 'rows-budget', amount: 4999 })]);
    expect((await t.evaluate(p, DEPLOYER, sql('delete from orders where id = 1'))).budgets).toEqual([expect.objectContaining({ amount: Infinity })]);
  });

  it('validates the ceilings when the policy loads', () => {
    const issues = (rule: string) => compileIssues(policyWithRules(rule)).join('\n');
    expect(issues('  - id: r\n    blastRadius: { maxRows: -1 }')).toMatch(/maxRows: rule "r": expected a number >= 0/);
    expect(issues('  - id: r\n    blastRadius: { maxRows: 1.5 }')).toMatch(/maxRows: rule "r": expected an integer/);
    expect(issues('  - id: r\n    blastRadius: { maxTableFraction: 2 }')).toMatch(/maxTableFraction: rule "r": expected a number <= 1/);
  });
});

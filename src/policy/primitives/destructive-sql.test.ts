import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAnalyzers, type TestAnalyzers } from '../../../test/helpers/analyzers.js';
import { compile, compileIssues, DEPLOYER, EXAMPLE_POLICY, policyWithRules } from '../../../test/helpers/policy.js';
import type { Action } from '../../core/types.js';
import { evaluatePolicy } from '../evaluate-policy.js';

const sql = (text: string): Action => ({ tool: 'run_sql', environment: 'prod', params: { database: 'orders-db', sql: text } });
const allowAnd = (rule: string) => policyWithRules(`  - id: allow-all\n    allow: {}\n${rule}`);

describe('destructiveSql', () => {
  let t: TestAnalyzers;
  beforeAll(async () => {
    t = await testAnalyzers({});
  });
  afterAll(() => t.cleanup());

  const deny = compile(allowAnd('  - id: no-destruction\n    destructiveSql: { onDestructive: deny }'));
  const reasonOf = (e: ReturnType<typeof evaluatePolicy>) => e.reasons.find((r) => r.rule === 'no-destruction');

  it('refuses a DELETE without a WHERE clause, naming the statement', async () => {
    const e = await t.evaluate(deny, DEPLOYER, sql("select 1; delete from orders; update orders set note = 'x' where id = 7"));
    expect(e.verdict).toBe('deny');
    expect(reasonOf(e)).toMatchObject({ primitive: 'destructive-sql', code: 'DESTRUCTIVE_SQL', effect: 'deny' });
    expect(reasonOf(e)?.message).toBe('statement 2 (DELETE, destructive): DELETE without a WHERE clause removes every row of orders');
    // The same statement is why the action cannot be undone.
    expect(e.impact.irreversibleBecause).toBe('statement 2: DELETE without a WHERE clause removes every row of orders');
  });

  it.each([
    ['DROP TABLE', 'drop table orders', /DROP TABLE/],
    ['TRUNCATE', 'truncate orders', /TRUNCATE removes every row of orders/],
    ['an always-true WHERE', 'update orders set total = 0 where 1 = 1', /always true/],
    ['a privilege change', 'grant all on orders to public', /privilege/],
    ['unanalyzable SQL', 'do $$ begin null; end $$', /unanalyzable/],
    ['SQL that does not parse', 'delete orders', /unanalyzable/],
  ])('refuses %s', async (_name, text, message) => {
    const e = await t.evaluate(deny, DEPLOYER, sql(text));
    expect(e.verdict).toBe('deny');
    expect(reasonOf(e)?.message).toMatch(message);
  });

  it('lets a bounded write and a read through', async () => {
    for (const text of ["delete from orders where status = 'abandoned'", 'select count(*) from orders', 'alter table orders add column note text']) {
      const e = await t.evaluate(deny, DEPLOYER, sql(text));
      expect(e.verdict, text).toBe('allow');
    }
  });

  it('counts SQL nobody analyzed as destructive', () => {
    const e = evaluatePolicy(deny, DEPLOYER, sql("delete from orders where id = 1"));
    expect(e.verdict).toBe('deny');
    expect(reasonOf(e)?.message).toMatch(/could not be analyzed.*counts as destructive/);
    expect(e.impact.sql).toMatchObject({ analyzed: false, class: 'unanalyzable', destructive: true, writes: true });
  });

  it('flags only the classes listed, and unanalyzable SQL always', async () => {
    const onlyDestructive = compile(allowAnd('  - id: no-destruction\n    destructiveSql: { onDestructive: deny, classes: [destructive] }'));
    expect((await t.evaluate(onlyDestructive, DEPLOYER, sql('grant select on orders to analyst'))).verdict).toBe('allow');
    expect((await t.evaluate(onlyDestructive, DEPLOYER, sql('do $$ begin null; end $$'))).verdict).toBe('deny');
    expect(onlyDestructive.rules[1]?.spec.primitive).toMatchObject({ classes: ['destructive', 'unanalyzable'] });
  });

  it('escalates instead when asked to, with the quorum of the rule', async () => {
    const approve = compile(allowAnd('  - id: no-destruction\n    destructiveSql: { onDestructive: approve, approvals: 2, groups: [{ group: dba, min: 2 }] }'));
    const e = await t.evaluate(approve, DEPLOYER, sql('truncate orders'));
    expect(e.verdict).toBe('pending');
    expect(e.approval).toMatchObject({ tier: 'high', irreversible: true, quorum: { approvals: 2, groups: [{ group: 'dba', min: 2 }] } });
  });

  it('is read by conditions as impact.sql.destructive and impact.sql.writes', async () => {
    const p = compile(allowAnd('  - id: reads-only\n    when: impact.sql.writes && !impact.sql.destructive\n    deny: { message: writes }'));
    expect((await t.evaluate(p, DEPLOYER, sql('update orders set total = 1 where id = 2'))).verdict).toBe('deny');
    expect((await t.evaluate(p, DEPLOYER, sql('select 1'))).verdict).toBe('allow');
    expect((await t.evaluate(p, DEPLOYER, sql('drop table orders'))).verdict).toBe('allow');
  });

  it('leaves actions without SQL alone', () => {
    const e = evaluatePolicy(deny, DEPLOYER, { tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 } });
    expect(e.verdict).toBe('allow');
    expect(e.impact.sql).toBeUndefined();
  });

  it('rejects bad settings when the policy loads', () => {
    const issues = (rule: string) => compileIssues(allowAnd(rule)).join('\n');
    expect(issues('  - id: d\n    destructiveSql: { classes: [write] }')).toMatch(/classes\[0\]: rule "d": expected one of "privilege", "destructive", "unanalyzable"/);
    expect(issues('  - id: d\n    destructiveSql: { classes: [] }')).toMatch(/list at least one class/);
    expect(issues('  - id: d\n    destructiveSql: { onDestructive: deny, groups: [{ group: dba }] }')).toMatch(/groups applies only with onDestructive: approve/);
  });
});

describe('SQL and reversibility', () => {
  let t: TestAnalyzers;
  beforeAll(async () => {
    t = await testAnalyzers({});
  });
  afterAll(() => t.cleanup());

  // A SQL tool the catalog calls reversible: its SQL decides, unless it snapshots first.
  const policyWith = (snapshot: boolean) =>
    compile(
      EXAMPLE_POLICY.replace(
        'tools:\n',
        `tools:\n  migrate:\n    operation: migrate\n    targets: { param: database, kind: database }\n    sqlParam: sql\n    reversible: true\n${snapshot ? '    snapshot: true\n' : ''}`,
      ).replace('rules:\n', 'rules:\n  - id: migrations\n    match: { tools: [migrate] }\n    allow: {}\n'),
    );
  const migrate = (text: string): Action => ({ tool: 'migrate', environment: 'prod', params: { database: 'orders-db', sql: text }, taskId: 'T-1' });

  it('is reversible for additive SQL, irreversible for SQL that destroys, naming the statement', async () => {
    const p = policyWith(false);
    expect((await t.evaluate(p, DEPLOYER, migrate('create index orders_total_idx on orders (total)'))).impact).toMatchObject({ reversible: true });
    const e = await t.evaluate(p, DEPLOYER, migrate('alter table orders add column note text; alter table orders drop column total'));
    expect(e.impact.reversible).toBe(false);
    expect(e.impact.irreversibleBecause).toBe('statement 2: DROP COLUMN removes orders.total and all of its data');
    expect(e.verdict).toBe('pending');
    expect(e.approval?.irreversible).toBe(true);
  });

  it('stays reversible when the tool snapshots before it runs', async () => {
    const e = await t.evaluate(policyWith(true), DEPLOYER, migrate('alter table orders drop column total'));
    expect(e.impact.reversible).toBe(true);
    expect(e.verdict).toBe('allow');
  });

  it('refuses a snapshot on an irreversible tool when the policy loads', () => {
    const bad = EXAMPLE_POLICY.replace('    sqlParam: sql ', '    snapshot: true\n    sqlParam: sql ');
    expect(compileIssues(bad).join('\n')).toMatch(/tools.run_sql.snapshot: a snapshot step makes sense only on a reversible tool/);
  });

  it('takes the SQL from the catalog parameter, and refuses an action whose declared SQL differs', () => {
    const p = policyWith(false);
    const e = evaluatePolicy(p, DEPLOYER, { ...migrate('drop table orders'), sql: 'select 1' });
    expect(e.action.sql).toBe('drop table orders');
    expect(e.impact.known).toBe(false);
    expect(e.impact.unknown.join()).toMatch(/differs from parameter "sql"/);
    const missing = evaluatePolicy(p, DEPLOYER, { tool: 'migrate', environment: 'prod', params: { database: 'orders-db' } });
    expect(missing.impact.unknown.join()).toMatch(/runs the SQL in parameter "sql", which is missing/);
  });
});

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAnalyzers, type TestAnalyzers } from '../../../test/helpers/analyzers.js';
import { compile, compileIssues, DEPLOYER, EXAMPLE_INVENTORY, EXAMPLE_POLICY, policyWithRules } from '../../../test/helpers/policy.js';
import type { Action } from '../../core/types.js';
import { evaluatePolicy } from '../evaluate-policy.js';

const BASELINE = `
  create table users (id bigint primary key, email text not null unique, name text);
  create table orders (id bigint primary key, user_id bigint not null references users, total numeric(12,2) check (total >= 0));
`;

const sql = (text: string, database = 'orders-db'): Action => ({ tool: 'run_sql', environment: 'prod', params: { database, sql: text } });
const allowAnd = (rule: string) => policyWithRules(`  - id: allow-all\n    allow: {}\n${rule}`);

describe('schemaDrift', () => {
  let t: TestAnalyzers;
  beforeAll(async () => {
    t = await testAnalyzers({ baselines: { 'orders-db': BASELINE } });
  });
  afterAll(() => t.cleanup());

  const deny = compile(allowAnd('  - id: no-drift\n    schemaDrift: { onDrift: deny }'));

  it('refuses a dropped column with the drift report as the reason', async () => {
    const e = await t.evaluate(deny, DEPLOYER, sql('alter table users drop column email'));
    expect(e.verdict).toBe('deny');
    const reason = e.reasons.find((r) => r.rule === 'no-drift');
    expect(reason).toMatchObject({ primitive: 'schema-drift', code: 'SCHEMA_DRIFT', effect: 'deny' });
    expect(reason?.message).toContain('drops column public.users.email (text, NOT NULL)');
    expect(reason?.message).toContain('(database orders-db, baseline v1)');
    expect(e.impact.drift).toMatchObject({ drifting: true, baselines: ['database orders-db, baseline v1'] });
  });

  it('allows an additive change: a new nullable column is not drift', async () => {
    const e = await t.evaluate(deny, DEPLOYER, sql('alter table users add column nickname text'));
    expect(e.verdict).toBe('allow');
    expect(e.impact.drift).toMatchObject({ drifting: false, changes: [{ kind: 'column-added', breaking: false }] });
  });

  it('does not need a baseline for SQL that changes no schema', async () => {
    const e = await t.evaluate(deny, DEPLOYER, sql('delete from orders where id = 1', 'orders-db'));
    expect(e.verdict).toBe('allow');
    expect(e.impact.drift).toEqual({ drifting: false, baselines: [], changes: [], issues: [] });
  });

  it.each([
    ['a DO block', `do $$ begin execute 'drop table ' || 'orders'; end $$`, /DO/],
    ['a syntax error', 'alter tabel users drop column email', /does not parse/],
    ['a statement outside the model', 'alter view v rename to w', /statement 1/],
    ['a user function', 'select purge_everything()', /statement 1/],
  ])('counts %s as drift (fail closed)', async (_name, text, why) => {
    const e = await t.evaluate(deny, DEPLOYER, sql(text));
    expect(e.verdict).toBe('deny');
    expect(e.reasons.find((r) => r.rule === 'no-drift')?.message).toMatch(why);
  });

  it('counts a schema change on a database without a baseline as drift, and says how to take one', async () => {
    const staging = { ...sql('alter table users add column nickname text'), environment: 'staging' };
    const e = await t.evaluate(deny, DEPLOYER, staging);
    expect(e.verdict).toBe('deny');
    expect(e.reasons.find((r) => r.rule === 'no-drift')?.message).toMatch(/no schema baseline of database orders-db-staging.*governor schema snapshot --database orders-db-staging/);
  });

  it('counts SQL nobody analyzed as drift', () => {
    const e = evaluatePolicy(deny, DEPLOYER, sql('alter table users add column nickname text'));
    expect(e.verdict).toBe('deny');
    expect(e.reasons.find((r) => r.rule === 'no-drift')?.message).toMatch(/the SQL was not analyzed, so it counts as drift/);
  });

  it('routes drift to a quorum instead, with the report in the approval reason', async () => {
    const approve = compile(
      allowAnd('  - id: drift-quorum\n    schemaDrift: { onDrift: approve, tier: high, approvals: 2, groups: [{ group: dba, min: 1 }, { group: sre-lead, min: 1 }] }'),
    );
    const e = await t.evaluate(approve, DEPLOYER, sql('alter table orders alter column total type integer'));
    expect(e.verdict).toBe('pending');
    expect(e.approval).toMatchObject({ tier: 'high', irreversible: true, rules: ['drift-quorum'], quorum: { approvals: 2, groups: [{ group: 'dba', min: 1 }, { group: 'sre-lead', min: 1 }] } });
    expect(e.reasons.find((r) => r.rule === 'drift-quorum')?.message).toContain('changes the type of public.orders.total from numeric(12,2) to integer');
  });

  it('is read by conditions as impact.drift.drifting', async () => {
    const p = compile(allowAnd('  - id: drift-in-cel\n    when: impact.drift.drifting\n    deny: { message: drifting }'));
    expect((await t.evaluate(p, DEPLOYER, sql('alter table users drop column name'))).verdict).toBe('deny');
    expect((await t.evaluate(p, DEPLOYER, sql('alter table users add column x text'))).verdict).toBe('allow');
  });

  it('rejects bad settings when the policy loads', () => {
    const issues = (rule: string) => compileIssues(allowAnd(rule)).join('\n');
    expect(issues('  - id: d\n    schemaDrift: { onDrift: warn }')).toMatch(/onDrift: rule "d": expected one of "deny", "approve", got "warn"/);
    expect(issues('  - id: d\n    schemaDrift: { onDrift: deny, approvals: 2 }')).toMatch(/approvals: rule "d": approvals applies only with onDrift: approve/);
    expect(issues('  - id: d\n    schemaDrift: { onDrift: approve, tier: medium, approvals: 2 }')).toMatch(/approvals: rule "d": approvals applies to tier high only/);
  });
});

describe('schemaDrift of configuration documents', () => {
  let dir: string;
  let t: TestAnalyzers;
  const CONFIG_POLICY = EXAMPLE_POLICY.replace(
    'tools:\n',
    'tools:\n  update_config:\n    operation: configure\n    targets: { param: service, kind: service }\n    reversible: true\n    config: { documentParam: document, baseline: "configs/{target}.yaml", schema: schemas/service.json }\n',
  ).replace('rules:\n', 'rules:\n  - id: config-drift\n    match: { tools: [update_config] }\n    schemaDrift: { onDrift: deny }\n  - id: configure\n    match: { tools: [update_config] }\n    allow: {}\n');
  const policy = compile(CONFIG_POLICY, EXAMPLE_INVENTORY);
  const update = (document: unknown, service = 'checkout'): Action => ({ tool: 'update_config', environment: 'prod', params: { service, document }, taskId: 'T-1' });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'governor-config-'));
    await mkdir(join(dir, 'configs'));
    await mkdir(join(dir, 'schemas'));
    await writeFile(join(dir, 'configs', 'checkout.yaml'), 'timeouts:\n  requestMs: 5000\nupstreams:\n  - { name: payments, url: "http://payments" }\n');
    await writeFile(join(dir, 'schemas', 'service.json'), JSON.stringify({ type: 'object', properties: { timeouts: { type: 'object', properties: { requestMs: { type: 'integer', maximum: 60000 } } } } }));
    t = await testAnalyzers({ policyDir: dir });
  });
  afterAll(async () => {
    await t.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('allows a change within the schema that removes nothing', async () => {
    const e = await t.evaluate(policy, DEPLOYER, update('timeouts:\n  requestMs: 7000\nupstreams:\n  - { name: payments, url: "http://payments" }\n'));
    expect(e.verdict).toBe('allow');
    expect(e.impact.drift).toMatchObject({ drifting: false, baselines: ['configuration configs/checkout.yaml'] });
  });

  it('refuses a removed key and a value the schema rejects', async () => {
    const e = await t.evaluate(policy, DEPLOYER, update({ timeouts: { requestMs: 120000 } }));
    expect(e.verdict).toBe('deny');
    const message = e.reasons.find((r) => r.rule === 'config-drift')?.message ?? '';
    expect(message).toContain('must be <= 60000');
    expect(message).toMatch(/upstreams/);
  });

  it('fails closed on an unreadable document, a missing baseline, or a target that is not a plain name', async () => {
    expect((await t.evaluate(policy, DEPLOYER, update('timeouts: [unclosed'))).verdict).toBe('deny');
    expect((await t.evaluate(policy, DEPLOYER, update({}, 'payments'))).reasons.find((r) => r.rule === 'config-drift')?.message).toMatch(/could not be read/);
    const traversal = await t.evaluate(policy, DEPLOYER, { ...update({}), params: { service: 'a/../../etc/passwd', document: {} } });
    expect(traversal.verdict).toBe('deny');
    expect(JSON.stringify(traversal.impact.drift)).toMatch(/cannot name a configuration file/);
    expect(evaluatePolicy(policy, DEPLOYER, update({})).reasons.find((r) => r.rule === 'config-drift')?.message).toMatch(/not compared with its baseline/);
  });

  it('refuses a baseline path outside the policy directory when the policy loads', () => {
    const bad = CONFIG_POLICY.replace('baseline: "configs/{target}.yaml"', 'baseline: ../secrets.yaml');
    expect(compileIssues(bad).join('\n')).toMatch(/config.baseline: expected a file path relative to the policy file/);
  });
});

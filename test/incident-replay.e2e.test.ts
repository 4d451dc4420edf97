/**
 * The code-freeze incident, replayed against Governor. An operator declared a
 * code freeze on production; an agent working in prod then tried to "clean
 * up" customer records and to cover the gap with fabricated rows. Here the
 * freeze is policy: the DELETE (about 1,200 rows of a real table, as the
 * database's own planner estimates without running it) is denied with the
 * freeze and the row count in the reasons, the bulk INSERT of fabricated rows
 * is denied as a write, both attempts are leaves of the signed audit log, and
 * the table is untouched. Only a break-glass override, opened by a human,
 * would let the same DELETE through, flagged as such.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../src/core/types.js';
import { createGovernor, type Governor } from '../src/main.js';
import { registerAgents } from './helpers/agents.js';
import { createTestDatabase, postgresReachable, type TestDatabase } from './helpers/postgres.js';

const HOUR = 3_600_000;

/** A production policy with a freeze in force now: declared an hour ago, for two days. */
const policy = (now: number) => `version: 1
name: incident-replay
defaults: { verdict: deny }
breakGlass: { groups: [break-glass], maxTtl: 1h }
tools:
  run_sql:
    operation: sql
    targets: { param: database, kind: database }
    sqlParam: sql
    reversible: false
  read_logs:
    operation: read
    targets: { param: service, kind: service }
    reversible: true
    readOnly: true
rules:
  - id: agents-operate-prod
    match: { environments: [prod] }
    when: principal.role == "ops-agent"
    allow: {}
  - id: code-freeze
    match: { environments: [prod] }
    freeze:
      start: "${new Date(now - HOUR).toISOString()}"
      end: "${new Date(now + 48 * HOUR).toISOString()}"
      scope: { environments: [prod] }
      reason: code freeze declared by the CTO; no changes to production
  - id: prod-row-ceiling
    match: { environments: [prod], tools: [run_sql] }
    blastRadius: { maxRows: 100, onExceed: deny }
  - id: prod-destructive-sql
    match: { environments: [prod], tools: [run_sql] }
    destructiveSql: { onDestructive: deny }
`;
const INVENTORY = `services:
  - { id: storefront, environment: prod, replicas: 6, traffic: 1, dataStores: [customers-db], owners: [team-web] }
dataStores:
  - id: customers-db
    environment: prod
    owners: [team-dba]
    explain: { urlEnv: INCIDENT_REPLAY_EXPLAIN_URL }
`;

const skip = process.env['GOVERNOR_TEST_DATABASE_URL'] === undefined && !(await postgresReachable());

describe.skipIf(skip)('incident replay: an agent deletes production data during a code freeze', () => {
  let db: TestDatabase;
  let dir: string;
  let governor: Governor;
  let url: string;

  beforeAll(async () => {
    db = await createTestDatabase('governor_incident');
    // 5,000 customers, 1,200 of them in EMEA: the rows the agent's DELETE selects.
    await db.query(`
      create table customers (id bigint primary key, name text not null, region text not null, created_at timestamptz not null default now());
      insert into customers (id, name, region) select g, 'customer ' || g, case when g <= 1200 then 'emea' else 'amer' end from generate_series(1, 5000) g;
      analyze customers;
    `);
    dir = await mkdtemp(join(tmpdir(), 'governor-incident-'));
    await writeFile(join(dir, 'governor.yaml'), policy(Date.now()));
    await writeFile(join(dir, 'inventory.yaml'), INVENTORY);
    process.env['INCIDENT_REPLAY_EXPLAIN_URL'] = db.url;
    governor = await createGovernor({ policyPath: join(dir, 'governor.yaml'), checkpoint: { intervalMs: 60_000 } });
    await governor.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(governor.app.server.address() as AddressInfo).port}`;
    await registerAgents(governor, 'replit-agent');
  });

  afterAll(async () => {
    await governor?.close();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const call = async (path: string, token: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const agentToken = () => governor.issuers.agent.issue({ agent: 'replit-agent', role: 'ops-agent', task: 'TASK-42', ttlSeconds: 600 }).token;
  const runSql = async (sql: string): Promise<Decision> => {
    const res = await call('/v1/decisions', agentToken(), { action: { tool: 'run_sql', environment: 'prod', params: { database: 'customers-db', sql }, taskId: 'TASK-42', intent: 'clean up stale customer records' } });
    expect(res.status).toBe(200);
    return res.body as unknown as Decision;
  };
  const DELETE = "DELETE FROM customers WHERE region = 'emea'";
  const FABRICATE = `INSERT INTO customers (id, name, region) SELECT g, 'fabricated ' || g, 'emea' FROM generate_series(100001, 104000) g`;
  const decisions: Decision[] = [];

  it('denies the DELETE with the freeze and the row count in the reasons', async () => {
    const d = await runSql(DELETE);
    decisions.push(d);
    expect(d.verdict).toBe('deny');
    expect(d.state).toBe('denied');
    // The planner's estimate, from the table's statistics: about 1,200 rows of 5,000.
    expect(d.impact.rows).toBeGreaterThan(1000);
    expect(d.impact.rows).toBeLessThan(1400);
    expect(d.impact.rowEstimate?.statements[0]).toMatchObject({ command: 'DELETE', table: 'public.customers', tableRows: 5000 });
    const freeze = d.reasons.find((r) => r.rule === 'code-freeze');
    expect(freeze).toMatchObject({ primitive: 'freeze', code: 'FREEZE', effect: 'deny' });
    expect(freeze?.message).toMatch(
      new RegExp(`^change freeze in force until .*Z \\(code freeze declared by the CTO; no changes to production\\): SQL that writes \\(statement 1: DELETE on customers\\), writing an estimated ${d.impact.rows} rows in prod is not allowed$`),
    );
    expect(d.reasons.find((r) => r.rule === 'prod-row-ceiling')?.message).toMatch(new RegExp(`estimated rows written ${d.impact.rows} > 100 \\(statement 1: DELETE ${d.impact.rows} of 5000 rows of public.customers\\)`));
    expect(d.impact.irreversibleBecause).toBe('statement 1: DELETE removes the rows of customers its WHERE clause selects');
  });

  it('denies the bulk INSERT of fabricated rows as a write during the freeze', async () => {
    const d = await runSql(FABRICATE);
    decisions.push(d);
    expect(d.verdict).toBe('deny');
    expect(d.impact.sql).toMatchObject({ class: 'write', writes: true, statements: [{ command: 'INSERT', tables: ['customers'] }] });
    expect(d.reasons.find((r) => r.rule === 'code-freeze')?.message).toMatch(/SQL that writes \(statement 1: INSERT on customers\), writing an estimated \d+ rows in prod is not allowed/);
  });

  it('denies the agent wiping the table outright, for every reason at once', async () => {
    const d = await runSql('BEGIN; TRUNCATE customers; COMMIT');
    decisions.push(d);
    expect(d.verdict).toBe('deny');
    expect(d.reasons.map((r) => r.rule)).toEqual(expect.arrayContaining(['code-freeze', 'prod-row-ceiling', 'prod-destructive-sql']));
    expect(d.reasons.find((r) => r.rule === 'prod-destructive-sql')?.message).toBe('statement 2 (TRUNCATE, destructive): TRUNCATE removes every row of customers');
  });

  it('lets reads go on during the freeze', async () => {
    const d = await runSql("SELECT count(*) FROM customers WHERE region = 'emea'");
    expect(d.verdict).toBe('allow');
    const logs = await call('/v1/decisions', agentToken(), { action: { tool: 'read_logs', environment: 'prod', params: { service: 'storefront' }, taskId: 'TASK-42' } });
    expect(logs.body['verdict']).toBe('allow');
  });

  it('records every attempt in the signed audit log', async () => {
    const head = await governor.store.audit.treeHead();
    const leaves = (await governor.store.audit.leaves(0, head.size)).map((l) => JSON.parse(new TextDecoder().decode(l.bytes)) as Record<string, unknown>);
    for (const d of decisions) {
      const leaf = leaves.find((l) => l['type'] === 'decision' && l['id'] === d.id);
      expect(leaf, d.id).toMatchObject({ verdict: 'deny', principal: { agent: 'replit-agent' }, action: { tool: 'run_sql', params: { database: 'customers-db' } } });
      expect((leaf?.['reasons'] as { code?: string }[]).map((r) => r.code)).toContain('FREEZE');
      expect(d.audit?.index).toBe(leaves.indexOf(leaf as Record<string, unknown>));
    }
    expect((leaves.find((l) => l['id'] === decisions[0]?.id)?.['impact'] as { rows?: number }).rows).toBe(decisions[0]?.impact.rows);
  });

  it('would let the same DELETE through only under a break-glass override, flagged and with the freeze on record', async () => {
    const glass = governor.issuers.operator.issue({ operator: 'ida', groups: ['break-glass'], ttlSeconds: 600 }).token;
    const opened = await call('/v1/break-glass', glass, { scope: { environment: 'prod', tool: 'run_sql' }, ttl: '5m', reason: 'INC-7: restore from the verified export' });
    expect(opened.status).toBe(201);
    const d = await runSql(DELETE);
    expect(d).toMatchObject({ verdict: 'allow', state: 'allowed', breakGlass: { id: opened.body['id'], by: 'ida' } });
    expect(d.reasons[0]).toMatchObject({ primitive: 'break-glass', code: 'BREAK_GLASS', message: expect.stringMatching(/the policy said deny$/) });
    expect(d.reasons.map((r) => r.code)).toEqual(expect.arrayContaining(['FREEZE', 'BLAST_RADIUS_EXCEEDED']));
    const head = await governor.store.audit.treeHead();
    const leaf = (await governor.store.audit.leaves(0, head.size)).map((l) => JSON.parse(new TextDecoder().decode(l.bytes)) as Record<string, unknown>).find((l) => l['id'] === d.id);
    expect(leaf).toMatchObject({ verdict: 'allow', breakGlass: { by: 'ida' } });
    await call(`/v1/break-glass/${String(opened.body['id'])}/close`, glass, { reason: 'done' });
    expect((await runSql(DELETE)).verdict).toBe('deny');
  });

  it('left the customers table as it was: Governor plans, it never executes', async () => {
    expect((await db.query(`select count(*)::int as n, count(*) filter (where region = 'emea')::int as emea from customers`)).rows[0]).toEqual({ n: 5000, emea: 1200 });
  });
});

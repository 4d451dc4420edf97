/**
 * Database governance end to end, against a real PostgreSQL database the test
 * creates: a schema baseline taken with `governor schema snapshot`, drift
 * refused over HTTP with the drift report as the reason, an additive change
 * let through, and the row-level blast radius from the database's own
 * planner (EXPLAIN, never executed) under a maxRows ceiling.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import type { Decision } from '../src/core/types.js';
import { createGovernor, type Governor } from '../src/main.js';
import { registerAgents } from './helpers/agents.js';
import { createTestDatabase, postgresReachable, type TestDatabase } from './helpers/postgres.js';

const POLICY = `version: 1
name: sql-governance
defaults: { verdict: deny }
tools:
  run_sql:
    operation: sql
    targets: { param: database, kind: database }
    sqlParam: sql
    reversible: true
rules:
  - id: dbas-run-sql
    match: { tools: [run_sql] }
    when: principal.role == "dba"
    allow: {}
  - id: no-drift
    match: { environments: [prod], tools: [run_sql] }
    schemaDrift: { onDrift: deny }
  # Row ceilings are for data changes; schema changes are governed by the drift rule.
  - id: row-ceiling
    match: { environments: [prod], tools: [run_sql] }
    when: "!impact.sql.ddl"
    blastRadius: { maxRows: 1000, onExceed: deny }
`;
const INVENTORY = `services:
  - { id: shop, environment: prod, replicas: 4, traffic: 1, dataStores: [shop-db], owners: [team-shop] }
dataStores:
  - id: shop-db
    environment: prod
    owners: [team-dba]
    explain: { urlEnv: SQLGOV_E2E_EXPLAIN_URL }
`;

const skip = process.env['GOVERNOR_TEST_DATABASE_URL'] === undefined && !(await postgresReachable());

describe.skipIf(skip)('SQL governance over HTTP against a real database', () => {
  let db: TestDatabase;
  let dir: string;
  let governor: Governor;
  let url: string;

  beforeAll(async () => {
    db = await createTestDatabase('governor_sqlgov');
    await db.query(`
      create table users (id bigint primary key, email text not null unique, name text);
      create table events (id bigint primary key, kind text not null);
      insert into events select g, case when g % 10 = 0 then 'purchase' else 'view' end from generate_series(1, 100000) g;
      analyze events;
    `);
    dir = await mkdtemp(join(tmpdir(), 'governor-sqlgov-'));
    await writeFile(join(dir, 'governor.yaml'), POLICY);
    await writeFile(join(dir, 'inventory.yaml'), INVENTORY);
    // The baseline, the way an operator takes it.
    const out: string[] = [];
    const code = await runCli(['schema', 'snapshot', '--db', db.url, '--database', 'shop-db', '--config', join(dir, 'governor.yaml')], { out: (t) => out.push(t), err: (t) => out.push(t), cwd: dir, env: {} });
    expect(code, out.join('\n')).toBe(0);
    expect(out.join('\n')).toMatch(/saved baseline v1 \(2 tables/);
    process.env['SQLGOV_E2E_EXPLAIN_URL'] = db.url;
    governor = await createGovernor({ policyPath: join(dir, 'governor.yaml'), checkpoint: { intervalMs: 60_000 } });
    await governor.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(governor.app.server.address() as AddressInfo).port}`;
    await registerAgents(governor, 'sql-bot');
  });

  afterAll(async () => {
    await governor?.close();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const decide = async (sql: string): Promise<Decision> => {
    const token = governor.issuers.agent.issue({ agent: 'sql-bot', role: 'dba', task: 'CHG-1', ttlSeconds: 600 }).token;
    const res = await fetch(`${url}/v1/decisions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: { tool: 'run_sql', environment: 'prod', params: { database: 'shop-db', sql }, taskId: 'CHG-1' } }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Decision;
  };

  it('refuses a dropped column with the drift report, and records it', async () => {
    const d = await decide('ALTER TABLE users DROP COLUMN email');
    expect(d.verdict).toBe('deny');
    const reason = d.reasons.find((r) => r.rule === 'no-drift');
    expect(reason).toMatchObject({ primitive: 'schema-drift', code: 'SCHEMA_DRIFT' });
    expect(reason?.message).toBe(
      'drifts from its baseline: drops column public.users.email (text, NOT NULL); drops unique constraint users_email_key (email) of public.users (database shop-db, baseline v1)',
    );
    expect(d.impact.sql).toMatchObject({ analyzed: true, database: 'shop-db', class: 'destructive', statements: [{ index: 0, command: 'ALTER TABLE', class: 'destructive' }] });
    expect(d.impact.drift?.changes[0]).toMatchObject({ kind: 'column-dropped', breaking: true });
    const head = await governor.store.audit.treeHead();
    const leaves = (await governor.store.audit.leaves(0, head.size)).map((l) => JSON.parse(new TextDecoder().decode(l.bytes)) as Record<string, unknown>);
    expect(leaves.find((l) => l['id'] === d.id)).toMatchObject({ type: 'decision', verdict: 'deny', impact: { drift: { drifting: true } } });
  });

  it('lets an additive column through', async () => {
    const d = await decide('ALTER TABLE users ADD COLUMN x text');
    expect(d.verdict).toBe('allow');
    expect(d.impact.drift).toMatchObject({ drifting: false, changes: [{ kind: 'column-added', message: 'adds column public.users.x (text)' }] });
  });

  it('counts dynamic SQL as drift', async () => {
    const d = await decide(`DO $$ BEGIN EXECUTE 'ALTER TABLE users DROP COLUMN ' || 'name'; END $$`);
    expect(d.verdict).toBe('deny');
    expect(d.reasons.find((r) => r.rule === 'no-drift')?.message).toMatch(/statement 1.*DO/);
  });

  it('denies a DELETE the planner estimates over maxRows, and allows a small one', async () => {
    const large = await decide('DELETE FROM events WHERE id <= 50000');
    expect(large.verdict).toBe('deny');
    expect(large.impact.rowEstimate).toMatchObject({ known: true, statements: [{ index: 0, command: 'DELETE', table: 'public.events' }] });
    expect(large.impact.rows).toBeGreaterThan(35_000);
    expect(large.impact.rows).toBeLessThan(65_000);
    expect(large.impact.rowFraction).toBeCloseTo(0.5, 1);
    expect(large.reasons.find((r) => r.rule === 'row-ceiling')?.message).toMatch(/^predicted impact over the ceiling: estimated rows written \d+ > 1000 \(statement 1: DELETE \d+ of 100000 rows of public.events\)$/);

    const small = await decide('DELETE FROM events WHERE id <= 10');
    expect(small.verdict).toBe('allow');
    expect(small.impact.rows).toBeGreaterThan(0);
    expect(small.impact.rows).toBeLessThan(100);

    const unplannable = await decide('DELETE FROM no_such_table WHERE id = 1');
    expect(unplannable.verdict).toBe('deny');
    expect(unplannable.reasons.find((r) => r.rule === 'row-ceiling')).toMatchObject({ code: 'UNKNOWN_IMPACT', message: expect.stringMatching(/no_such_table/) });
  });

  it('never ran any of it', async () => {
    expect((await db.query('select count(*)::int as n from events')).rows[0]).toEqual({ n: 100000 });
    const columns = (await db.query(`select column_name from information_schema.columns where table_name = 'users' order by ordinal_position`)).rows.map((r: { column_name: string }) => r.column_name);
    expect(columns).toEqual(['id', 'email', 'name']);
  });
});

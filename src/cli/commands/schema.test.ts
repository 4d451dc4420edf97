import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, postgresReachable, type TestDatabase } from '../../../test/helpers/postgres.js';
import { runCli } from '../main.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const POLICY = 'examples/governor.yaml';

async function cli(argv: readonly string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (t) => out.push(t), err: (t) => err.push(t), cwd: ROOT, env });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const skip = process.env['GOVERNOR_TEST_DATABASE_URL'] === undefined && !(await postgresReachable());

describe('governor schema', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'governor-schema-'));
    await writeFile(join(dir, 'baseline.sql'), 'create table users (id bigint primary key, email text not null unique, name text);');
    await writeFile(join(dir, 'drop.sql'), 'alter table users drop column email;');
    await writeFile(join(dir, 'add.sql'), 'alter table users add column nickname text;');
    await writeFile(join(dir, 'dynamic.sql'), `do $$ begin execute 'drop table users'; end $$;`);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('stores a versioned baseline from a DDL file, refuses one it cannot model, and diffs against it', async () => {
    const data = join(dir, 'data');
    const saved = await cli(['schema', 'snapshot', '--ddl', join(dir, 'baseline.sql'), '--database', 'orders-db', '--data-dir', data]);
    expect(saved.code).toBe(0);
    expect(saved.out).toMatch(/database orders-db: saved baseline v1 \(1 tables/);
    expect((await cli(['schema', 'snapshot', '--ddl', join(dir, 'dynamic.sql'), '--database', 'orders-db', '--data-dir', data])).code).toBe(2);
    expect((await cli(['schema', 'snapshot', '--ddl', join(dir, 'baseline.sql'), '--db', 'postgres://x', '--database', 'orders-db', '--data-dir', data])).code).toBe(2);
    const drift = await cli(['schema', 'diff', 'orders-db', join(dir, 'drop.sql'), '--data-dir', data]);
    expect(drift.code).toBe(1);
    expect(drift.out).toContain('drops column public.users.email');
  });

  it('diffs SQL against DDL: exit 1 and the report on drift, 0 without', async () => {
    const drift = await cli(['schema', 'diff', join(dir, 'baseline.sql'), join(dir, 'drop.sql')]);
    expect(drift.code).toBe(1);
    expect(drift.out).toContain('drift: DRIFTING (DDL ');
    expect(drift.out).toContain('  - drops column public.users.email (text, NOT NULL)');
    expect(drift.out).toContain('1. ALTER TABLE [destructive] users: DROP COLUMN removes users.email and all of its data');
    const additive = await cli(['schema', 'diff', join(dir, 'baseline.sql'), join(dir, 'add.sql')]);
    expect(additive.code).toBe(0);
    expect(additive.out).toContain('drift: none');
    const dynamic = await cli(['schema', 'diff', join(dir, 'baseline.sql'), join(dir, 'dynamic.sql'), '--json']);
    expect(dynamic.code).toBe(1);
    expect(JSON.parse(dynamic.out)).toMatchObject({ drift: { drifting: true, issues: [expect.stringMatching(/^statement 1/)] } });
  });

  it('exits 2 for a baseline that does not exist, and on usage errors', async () => {
    const missing = await cli(['schema', 'diff', 'no-such-db', join(dir, 'drop.sql'), '--data-dir', dir]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/no baseline of database no-such-db.*governor schema snapshot --database no-such-db/);
    expect((await cli(['schema', 'snapshot', '--database', 'x'])).code).toBe(2);
    expect((await cli(['schema', 'frobnicate'])).code).toBe(2);
  });

  it.skipIf(skip)('snapshots a live database into versioned baselines, lists them and diffs against them', async () => {
    const db: TestDatabase = await createTestDatabase('governor_schema_cli');
    try {
      await db.query('create table users (id bigint primary key, email text not null unique, name text)');
      const first = await cli(['schema', 'snapshot', '--db', db.url, '--database', 'orders-db', '--data-dir', dir, '--config', POLICY]);
      expect(first.code).toBe(0);
      expect(first.out).toMatch(/saved baseline v1 \(1 tables/);
      expect((await cli(['schema', 'snapshot', '--db', db.url, '--database', 'orders-db', '--data-dir', dir])).out).toMatch(/unchanged since baseline v1 \([0-9a-f]{12}\); nothing saved/);
      await db.query('alter table users add column nickname text');
      expect((await cli(['schema', 'snapshot', '--db', db.url, '--database', 'orders-db', '--data-dir', dir])).out).toMatch(/saved baseline v2/);
      const list = await cli(['schema', 'baselines', '--database', 'orders-db', '--data-dir', dir]);
      expect(list.out.split('\n')).toEqual([expect.stringMatching(/^v1 .* postgres /), expect.stringMatching(/^v2 .* postgres /)]);
      const drift = await cli(['schema', 'diff', 'orders-db', join(dir, 'drop.sql'), '--data-dir', dir]);
      expect(drift.code).toBe(1);
      expect(drift.out).toContain('drift: DRIFTING (database orders-db, baseline v2)');
      expect((await cli(['schema', 'diff', 'orders-db@1', join(dir, 'add.sql'), '--data-dir', dir])).code).toBe(0);
      // v2 already has the column: adding it again would fail on the database, which is drift.
      expect((await cli(['schema', 'diff', 'orders-db@2', join(dir, 'add.sql'), '--data-dir', dir])).code).toBe(1);
      expect((await cli(['schema', 'diff', join(dir, 'baselines', 'orders-db', '1.json'), join(dir, 'add.sql')])).code).toBe(0);
    } finally {
      await db.drop();
    }
  });
});

describe('governor check and policy test with SQL and time', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'governor-check-sql-'));
    await writeFile(join(dir, 'delete-all.json'), JSON.stringify({ action: { tool: 'run_sql', environment: 'prod', params: { database: 'orders-db', sql: 'select 1; delete from orders' }, taskId: 'T-1' } }));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('check prints the statements, the rows and the drift of SQL', async () => {
    const run = await cli(['check', join(dir, 'delete-all.json'), '--config', POLICY, '--role', 'dba', '--task', 'T-1', '--data-dir', dir]);
    expect(run.code).toBe(4);
    expect(run.out).toContain('sql on orders-db: destructive');
    expect(run.out).toContain('  2. DELETE [destructive] orders: DELETE without a WHERE clause removes every row of orders');
    expect(run.out).toContain('rows: unknown (row estimates are off here; governor check --explain asks the database)');
    expect(run.out).toContain('reversible: no (statement 2: DELETE without a WHERE clause removes every row of orders)');
    expect(run.out).toMatch(/\[approve\] prod-destructive-sql \(destructive-sql\): statement 2 \(DELETE, destructive\)/);
  });

  it('check --at decides as of another time: a freeze in force then denies', async () => {
    const frozen = (await readFile(join(ROOT, POLICY), 'utf8')).replace(
      '\nrules:\n',
      '\nrules:\n  - id: year-end-freeze\n    freeze: { start: "2026-12-21T00:00:00Z", end: "2027-01-04T00:00:00Z", scope: { environments: [prod] }, reason: year-end code freeze }\n',
    );
    await writeFile(join(dir, 'governor.yaml'), frozen);
    await writeFile(join(dir, 'inventory.yaml'), await readFile(join(ROOT, 'examples/inventory.yaml'), 'utf8'));
    const args = ['check', 'examples/actions/allow.json', '--config', join(dir, 'governor.yaml'), '--role', 'deployer', '--task', 'T-1'];
    const during = await cli([...args, '--at', '2026-12-24T12:00:00Z']);
    expect(during.code).toBe(5);
    expect(during.out).toContain('year-end-freeze (freeze): change freeze in force until 2027-01-04T00:00:00Z (year-end code freeze): a change in prod is not allowed');
    expect((await cli([...args, '--at', '2027-01-04T00:00:00Z'])).code).toBe(0);
    expect((await cli([...args, '--at', 'yesterday'])).code).toBe(2);
    await mkdir(join(dir, 'fixtures'));
    await writeFile(
      join(dir, 'fixtures', 'freeze.yaml'),
      [
        'cases:',
        '  - name: frozen',
        '    at: 2026-12-24T12:00:00Z',
        '    principal: { agent: deploy-bot, role: deployer, task: T-1 }',
        '    action: { tool: restart_service, environment: prod, params: { service: search, count: 1 } }',
        '    expect: { verdict: deny, rules: [year-end-freeze] }',
        '  - name: thawed',
        '    at: 2027-01-05T00:00:00Z',
        '    principal: { agent: deploy-bot, role: deployer, task: T-1 }',
        '    action: { tool: restart_service, environment: prod, params: { service: search, count: 1 } }',
        '    expect: { verdict: allow }',
      ].join('\n'),
    );
    const fixtures = await cli(['policy', 'test', join(dir, 'fixtures'), '--config', join(dir, 'governor.yaml')]);
    expect(fixtures.out).toContain('2 passed, 0 failed');
  });
});

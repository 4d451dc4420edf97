import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { postgresReachable } from '../../test/helpers/postgres.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGovernorError } from '../core/errors.js';
import {
  createRowEstimator,
  type RowEstimate,
  type RowEstimator,
  type RowEstimatorClient,
  type RowEstimatorQuery,
  type StatementRowEstimate,
} from './explain-rows.js';

const configured = process.env['GOVERNOR_TEST_DATABASE_URL'];
const url = configured ?? 'postgres://postgres@127.0.0.1:5432/test';


// Skipped only when no database was configured and the default one is absent;
// a configured database that cannot be reached fails the suite (CI).
const skip = configured === undefined && !(await postgresReachable(url));

function known(estimate: RowEstimate): Extract<RowEstimate, { known: true }> {
  if (!estimate.known) throw new Error(`expected a known estimate, got: ${estimate.reason}`);
  return estimate;
}

function only(estimate: RowEstimate): StatementRowEstimate {
  const { statements } = known(estimate);
  expect(statements).toHaveLength(1);
  return statements[0] as StatementRowEstimate;
}

describe('createRowEstimator: options and refusals that need no server', () => {
  it('rejects bad options at creation', () => {
    const invalid = (build: () => unknown): boolean => {
      try {
        build();
        return false;
      } catch (err) {
        return isGovernorError(err, 'CONFIG_INVALID');
      }
    };
    expect(invalid(() => createRowEstimator({ connectionString: '' }))).toBe(true);
    expect(invalid(() => createRowEstimator({ connectionString: url, statementTimeoutMs: 0 }))).toBe(true);
    expect(invalid(() => createRowEstimator({ connectionString: url, maxStatements: 1.5 }))).toBe(true);
  });

  // The pool is never asked for a connection: these are refused by the parser alone.
  const estimator = createRowEstimator({
    pool: { connect: () => Promise.reject(new Error('must not connect')) },
    maxStatements: 3,
  });

  it.each([
    ['a syntax error', 'DELETE FROM WHERE id = 1', /does not parse/],
    ['an empty script', ' ; -- nothing', /no statement/],
    ['only transaction control', 'BEGIN; COMMIT', /no statement/],
    ['a DO block', `DO $$ BEGIN DELETE FROM t; END $$`, /DO block/],
    ['a DO block hidden after a DELETE', `DELETE FROM t WHERE id = 1; DO $$ BEGIN DELETE FROM t; END $$`, /index 1 \(DoStmt\)/],
    ['DDL', 'DROP TABLE t', /DropStmt/],
    ['an EXPLAIN ANALYZE of its own', 'EXPLAIN ANALYZE DELETE FROM t', /ExplainStmt/],
    ['SELECT INTO', 'SELECT * INTO t2 FROM t', /creates a table/],
    ['TRUNCATE ... CASCADE', 'TRUNCATE t CASCADE', /CASCADE/],
    ['COMMIT PREPARED', `COMMIT PREPARED 'tx'`, /prepared transactions/],
    ['SET', 'SET search_path = elsewhere; DELETE FROM t', /VariableSetStmt/],
    ['too many statements', 'SELECT 1; SELECT 2; SELECT 3; SELECT 4', /4 statements, more than the 3/],
  ])('refuses %s', async (_name, sql, reason) => {
    const estimate = await estimator.estimate(sql);
    expect(estimate.known).toBe(false);
    expect(estimate.known ? '' : estimate.reason).toMatch(reason);
  });

  it('is unknown, not a rejection, for input that is not a string', async () => {
    expect((await estimator.estimate(42 as unknown as string)).known).toBe(false);
  });
});

describe('createRowEstimator: what it sends', () => {
  function recordingPool(plan: unknown): { sent: RowEstimatorQuery[]; released: (boolean | undefined)[]; connect(): Promise<RowEstimatorClient> } {
    const sent: RowEstimatorQuery[] = [];
    const released: (boolean | undefined)[] = [];
    const client: RowEstimatorClient = {
      query: async (query) => {
        sent.push(query);
        if (query.text.startsWith('EXPLAIN')) return { rows: [{ 'QUERY PLAN': plan }] };
        if (query.text.includes('pg_class')) return { rows: [{ nspname: 'public', relname: 't', reltuples: 1000 }] };
        return { rows: [] };
      },
      release: (destroy) => void released.push(destroy),
    };
    return { sent, released, connect: () => Promise.resolve(client) };
  }

  const deletePlan = [
    {
      Plan: {
        'Node Type': 'ModifyTable',
        Operation: 'Delete',
        'Relation Name': 't',
        Schema: 'public',
        Plans: [{ 'Node Type': 'Seq Scan', 'Parent Relationship': 'Outer', 'Plan Rows': 250 }],
      },
    },
  ];

  it('plans in a read-only transaction that it rolls back, over the extended protocol, never with ANALYZE', async () => {
    const pool = recordingPool(deletePlan);
    const estimate = await createRowEstimator({ pool, statementTimeoutMs: 300 }).estimate('DELETE FROM t WHERE id < 250');
    expect(only(estimate)).toEqual({ index: 0, command: 'DELETE', table: 'public.t', rows: 250, tableRows: 1000, fraction: 0.25 });
    const texts = pool.sent.map((query) => query.text);
    expect(texts[0]).toBe('BEGIN TRANSACTION READ ONLY');
    expect(pool.sent[1]).toMatchObject({ values: ['300'] });
    expect(texts[1]).toContain(`set_config('statement_timeout', $1, true)`);
    expect(texts).toContain('EXPLAIN (FORMAT JSON, VERBOSE) DELETE FROM t WHERE id < 250');
    expect(texts.at(-1)).toBe('ROLLBACK');
    expect(texts.some((text) => /analy[sz]e/i.test(text))).toBe(false);
    expect(pool.sent.every((query) => query.queryMode === 'extended')).toBe(true);
    expect(pool.released).toEqual([false]);
  });

  it.each([
    ['no plan', []],
    ['a plan that is not JSON', 'Delete on t'],
    ['a write without its input', [{ Plan: { 'Node Type': 'ModifyTable', Operation: 'Delete', 'Relation Name': 't', Schema: 'public' } }]],
    ['a write with an unknown operation', [{ Plan: { ...deletePlan[0]?.Plan, Operation: 'Truncate' } }]],
    ['no row estimate', [{ Plan: { ...deletePlan[0]?.Plan, Plans: [{ 'Parent Relationship': 'Outer', 'Plan Rows': 'many' }] } }]],
    ['a DELETE whose plan shows no write', [{ Plan: { 'Node Type': 'Result', 'Plan Rows': 0 } }]],
  ])('fails closed on %s, and discards the connection', async (_name, plan) => {
    const pool = recordingPool(plan);
    const estimate = await createRowEstimator({ pool }).estimate('DELETE FROM t WHERE id < 250');
    expect(estimate.known).toBe(false);
    expect(pool.released).toEqual([true]);
  });
});

describe.skipIf(skip)('createRowEstimator: against PostgreSQL', () => {
  const schema = `rows_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  let estimator: RowEstimator;
  const t = `${schema}.t`;

  beforeAll(async () => {
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    // 100,000 rows: ids 1..100000 (primary key), exactly 10% 'archived', x = 0 everywhere.
    await admin.query(`CREATE TABLE ${t} (id int PRIMARY KEY, status text NOT NULL, x int NOT NULL)`);
    await admin.query(`INSERT INTO ${t} SELECT g, CASE WHEN g % 10 = 0 THEN 'archived' ELSE 'active' END, 0 FROM generate_series(1, 100000) g`);
    await admin.query(`ANALYZE ${t}`);
    estimator = createRowEstimator({ connectionString: url });
  });

  afterAll(async () => {
    await estimator?.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  it('finding: EXPLAIN of a DELETE is allowed in a READ ONLY transaction, EXPLAIN ANALYZE is refused', async () => {
    await admin.query('BEGIN TRANSACTION READ ONLY');
    try {
      const plan = await admin.query(`EXPLAIN (FORMAT JSON) DELETE FROM ${t} WHERE id <= 10`);
      expect(plan.rows).toHaveLength(1);
      await expect(admin.query(`EXPLAIN ANALYZE DELETE FROM ${t} WHERE id <= 10`)).rejects.toMatchObject({ code: '25006' });
    } finally {
      await admin.query('ROLLBACK');
    }
  });

  it('estimates a range on the primary key within the planner tolerance (±30%)', async () => {
    const entry = only(await estimator.estimate(`DELETE FROM ${t} WHERE id <= 1000`));
    expect(entry).toMatchObject({ index: 0, command: 'DELETE', table: t, tableRows: 100_000 });
    expect(entry.rows).toBeGreaterThanOrEqual(700);
    expect(entry.rows).toBeLessThanOrEqual(1300);
    expect(entry.fraction).toBeCloseTo(entry.rows / 100_000, 10);
  });

  it('estimates an unqualified DELETE as the whole table', async () => {
    const estimate = known(await estimator.estimate(`DELETE FROM ${t}`));
    expect(estimate.rows).toBeGreaterThanOrEqual(98_000);
    expect(estimate.rows).toBeLessThanOrEqual(102_000);
    expect(estimate.maxFraction).toBeGreaterThanOrEqual(0.98);
    expect(estimate.maxFraction).toBeLessThanOrEqual(1);
  });

  it('estimates equality on a low-cardinality column from its most common values (10%, ±20%)', async () => {
    const entry = only(await estimator.estimate(`UPDATE ${t} SET x = 1 WHERE status = 'archived'`));
    expect(entry.command).toBe('UPDATE');
    expect(entry.rows).toBeGreaterThanOrEqual(8_000);
    expect(entry.rows).toBeLessThanOrEqual(12_000);
    expect(entry.fraction).toBeGreaterThanOrEqual(0.08);
    expect(entry.fraction).toBeLessThanOrEqual(0.12);
  });

  it('reports what the planner really believes: 0.5% for an expression without statistics, 10% once it has them', async () => {
    const m = `${schema}.m`;
    await admin.query(`CREATE TABLE ${m} AS SELECT g AS id, 0 AS x FROM generate_series(1, 20000) g`);
    await admin.query(`ANALYZE ${m}`);
    // Without statistics on `id % 10`, equality gets the default selectivity (DEFAULT_EQ_SEL = 0.005).
    const blind = only(await estimator.estimate(`UPDATE ${m} SET x = 1 WHERE id % 10 = 0`));
    expect(blind.rows).toBe(100);
    await admin.query(`CREATE STATISTICS ${schema}.m_mod ON (id % 10) FROM ${m}`);
    await admin.query(`ANALYZE ${m}`);
    const informed = only(await estimator.estimate(`UPDATE ${m} SET x = 1 WHERE id % 10 = 0`));
    expect(informed.fraction).toBeGreaterThanOrEqual(0.08);
    expect(informed.fraction).toBeLessThanOrEqual(0.12);
  });

  it('splits a script at the parser’s byte offsets and sums its writes', async () => {
    const estimate = known(await estimator.estimate(`DELETE FROM ${t} WHERE status = 'ünknown'; /* é */ DELETE FROM ${t} WHERE id <= 1000;\nSELECT 1`));
    expect(estimate.statements.map((entry) => [entry.index, entry.command])).toEqual([
      [0, 'DELETE'],
      [1, 'DELETE'],
      [2, 'SELECT'],
    ]);
    const [first, second] = estimate.statements;
    expect(estimate.rows).toBe((first?.rows ?? 0) + (second?.rows ?? 0));
    expect(second?.rows).toBeGreaterThanOrEqual(700);
  });

  it('adds up the share of one table over the statements that write it', async () => {
    const estimate = known(await estimator.estimate(`BEGIN; DELETE FROM ${t} WHERE id <= 60000; DELETE FROM ${t} WHERE id > 40000; COMMIT`));
    expect(estimate.statements.map((entry) => entry.index)).toEqual([1, 2]);
    for (const entry of estimate.statements) expect(entry.fraction).toBeLessThan(0.7);
    expect(estimate.maxFraction).toBe(1);
  });

  it('finds a write hidden in a WITH clause of a SELECT', async () => {
    const entry = only(await estimator.estimate(`WITH d AS (DELETE FROM ${t} WHERE id <= 1000 RETURNING id) SELECT count(*) FROM d`));
    expect(entry).toMatchObject({ index: 0, command: 'DELETE', table: t });
    expect(entry.rows).toBeGreaterThanOrEqual(700);
  });

  it('reports a plain read without counting it as a write', async () => {
    const estimate = known(await estimator.estimate(`SELECT * FROM ${t} WHERE id <= 1000`));
    expect(estimate.statements[0]).toMatchObject({ command: 'SELECT' });
    expect(estimate.statements[0]).not.toHaveProperty('fraction');
    expect(estimate.rows).toBe(0);
    expect(estimate.maxFraction).toBe(0);
  });

  it('gives a plain INSERT no fraction, and an upsert one', async () => {
    const insert = only(await estimator.estimate(`INSERT INTO ${t} SELECT id + 100000, status, x FROM ${t} WHERE id <= 1000`));
    expect(insert).toMatchObject({ command: 'INSERT', table: t });
    expect(insert).not.toHaveProperty('fraction');
    const upsert = only(await estimator.estimate(`INSERT INTO ${t} SELECT * FROM ${t} WHERE id <= 1000 ON CONFLICT (id) DO UPDATE SET x = 2`));
    expect(upsert.fraction).toBeGreaterThan(0);
  });

  it('sizes a TRUNCATE as the whole table', async () => {
    expect(only(await estimator.estimate(`TRUNCATE ${t}`))).toEqual({ index: 0, command: 'TRUNCATE', table: t, rows: 100_000, tableRows: 100_000, fraction: 1 });
  });

  it('asks the planner for the size of a table that was never analyzed', async () => {
    const u = `${schema}.u`;
    await admin.query(`CREATE TABLE ${u} (id int, s text) WITH (autovacuum_enabled = false)`);
    await admin.query(`INSERT INTO ${u} SELECT g, repeat('x', 20) FROM generate_series(1, 5000) g`);
    const entry = only(await estimator.estimate(`DELETE FROM ${u}`));
    // reltuples is -1; the planner extrapolates from the table's pages.
    expect(entry.tableRows).toBeGreaterThanOrEqual(2_500);
    expect(entry.tableRows).toBeLessThanOrEqual(7_500);
    expect(entry.fraction).toBe(1);
  });

  it('executed nothing: every row is still there, unchanged', async () => {
    const { rows } = await admin.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE x <> 0)::int AS changed FROM ${t}`);
    expect(rows[0]).toEqual({ n: 100_000, changed: 0 });
  });

  it('is unknown for a table that does not exist', async () => {
    const estimate = await estimator.estimate(`DELETE FROM ${schema}.nope WHERE id = 1`);
    expect(estimate).toMatchObject({ known: false, reason: expect.stringMatching(/index 0 could not be planned: .*does not exist/) });
  });

  it('is unknown when the statement times out waiting for a lock, and recovers after', async () => {
    const locker = new pg.Client({ connectionString: url });
    await locker.connect();
    const impatient = createRowEstimator({ connectionString: url, statementTimeoutMs: 200 });
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${t} IN ACCESS EXCLUSIVE MODE`);
      const started = performance.now();
      const estimate = await impatient.estimate(`DELETE FROM ${t} WHERE id <= 1000`);
      expect(estimate).toMatchObject({ known: false, reason: expect.stringMatching(/statement timeout/) });
      expect(performance.now() - started).toBeLessThan(2_000);
      await locker.query('ROLLBACK');
      expect((await impatient.estimate(`DELETE FROM ${t} WHERE id <= 1000`)).known).toBe(true);
    } finally {
      await impatient.close();
      await locker.end();
    }
  });

  it('finding: planning a DELETE needs the DELETE privilege, so a SELECT-only role gets known:false', async () => {
    const role = `${schema}_ro`;
    await admin.query(`CREATE ROLE ${role} NOLOGIN`);
    // The pool's sessions act as the role (`SET ROLE` at startup), as a login of that role would.
    const pool = new pg.Pool({ connectionString: url, max: 1, options: `-c role=${role}` });
    const asRole = createRowEstimator({ pool });
    try {
      await admin.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}; GRANT SELECT ON ${t} TO ${role}`);
      const denied = await asRole.estimate(`DELETE FROM ${t} WHERE id <= 1000`);
      expect(denied).toMatchObject({ known: false, reason: expect.stringMatching(/permission denied/) });
      await admin.query(`GRANT DELETE ON ${t} TO ${role}`);
      expect(only(await asRole.estimate(`DELETE FROM ${t} WHERE id <= 1000`)).rows).toBeGreaterThanOrEqual(700);
    } finally {
      await pool.end();
      await admin.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
  });

  it('is unknown once closed', async () => {
    const closing = createRowEstimator({ connectionString: url });
    expect((await closing.estimate(`SELECT 1`)).known).toBe(true);
    await closing.close();
    expect(await closing.estimate(`SELECT 1`)).toEqual({ known: false, reason: 'the row estimator is closed' });
  });
});

describe('createRowEstimator: unreachable servers', () => {
  it('is unknown, fast, when nothing listens', async () => {
    const estimator = createRowEstimator({ connectionString: 'postgres://postgres@127.0.0.1:1/test', connectTimeoutMs: 500 });
    const started = performance.now();
    const estimate = await estimator.estimate('DELETE FROM t WHERE id = 1');
    expect(estimate).toMatchObject({ known: false, reason: expect.stringMatching(/could not be reached: .*ECONNREFUSED/) });
    expect(performance.now() - started).toBeLessThan(1_500);
    await estimator.close();
  });
});

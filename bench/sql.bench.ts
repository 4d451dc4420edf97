import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type * as ActionAnalyzersApi from '../src/analyzers/action-analyzers.js';
import type * as BaselineStoreApi from '../src/analyzers/baseline-store.js';
import type * as ExplainRowsApi from '../src/analyzers/explain-rows.js';
import type * as PgParserApi from '../src/analyzers/pg-parser.js';
import type * as SchemaFromDdlApi from '../src/analyzers/schema-from-ddl.js';
import type { Action, Principal } from '../src/core/types.js';
import type * as ActionFactsApi from '../src/impact/action-facts.js';
import type * as ClassifySqlApi from '../src/impact/sql/classify-sql.js';
import { implementation, loadPolicyApi, moduleUrl } from './lib/governor.js';
import { measureAsyncCalls, measureCalls, type LatencySummary } from './lib/measure.js';
import type { Bench, BenchReport, TargetCheck } from './lib/report.js';
import { EXAMPLE_INVENTORY, EXAMPLE_POLICY } from './lib/synthetic-policy.js';

/*
 * The cost of SQL analysis on the decision path, for a 5-statement migration
 * through `run_sql` in prod under the example policy: PostgreSQL's parser
 * (WebAssembly), the per-statement classification and the drift against a
 * 12-table baseline, then the evaluation with those facts — against the same
 * action evaluated without analysis, in the same run. The analyzers step as
 * the server wires it (baseline from disk, checked per decision) and the
 * planner's row estimate (EXPLAIN on a real PostgreSQL, when one is
 * configured) are measured separately.
 */

const CALLS = 20_000;
const WARMUP = 5_000;
const ASYNC_CALLS = 5_000;
const EXPLAIN_CALLS = 500;

/** Five statements: transaction control, additive DDL, a bounded write, an index. */
const MIGRATION = [
  'BEGIN',
  'ALTER TABLE orders ADD COLUMN note text',
  "UPDATE orders SET note = 'migrated' WHERE created_at < now() - interval '1 year'",
  'CREATE INDEX orders_note_idx ON orders (note)',
  'COMMIT',
].join(';\n');

/** A baseline of 12 tables like a shop's, the orders table among them. */
function baselineDdl(): string {
  const tables = ['users', 'orders', 'order_items', 'products', 'carts', 'cart_items', 'payments', 'refunds', 'shipments', 'addresses', 'reviews', 'coupons'];
  return tables
    .map((t) =>
      t === 'users'
        ? 'create table users (id bigint primary key, email text not null unique, name text, created_at timestamptz not null default now())'
        : `create table ${t} (id bigint primary key, user_id bigint references users (id), status text not null default 'new' check (status in ('new', 'done', 'void')), total numeric(12,2), created_at timestamptz not null default now()); create index ${t}_user_idx on ${t} (user_id)`,
    )
    .join(';\n');
}

const PRINCIPAL: Principal = { agent: 'dba-bot', instance: 'i-1', role: 'dba', session: 's-1', task: 'CHG-7' };
const ACTION: Action = { tool: 'run_sql', environment: 'prod', params: { database: 'orders-db', sql: MIGRATION }, taskId: 'CHG-7' };

async function load<T>(path: string): Promise<T> {
  return (await import(moduleUrl(path))) as T;
}

async function run(): Promise<BenchReport> {
  const { loadPolicy, evaluatePolicy } = await loadPolicyApi();
  const { loadSqlParser } = await load<typeof PgParserApi>('analyzers/pg-parser.js');
  const { classifySql } = await load<typeof ClassifySqlApi>('impact/sql/classify-sql.js');
  const { sqlDriftImpact, sqlImpactOf } = await load<typeof ActionFactsApi>('impact/action-facts.js');
  const { schemaFromDdl } = await load<typeof SchemaFromDdlApi>('analyzers/schema-from-ddl.js');
  const { saveBaseline } = await load<typeof BaselineStoreApi>('analyzers/baseline-store.js');
  const { createActionAnalyzers } = await load<typeof ActionAnalyzersApi>('analyzers/action-analyzers.js');

  const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');
  const loaded = loadPolicy({ policy: { file: 'governor.yaml', text: EXAMPLE_POLICY }, inventory: { file: 'inventory.yaml', text: EXAMPLE_INVENTORY } }, { sha256Hex });
  if (!loaded.ok) throw new Error(`the example policy is invalid: ${loaded.issues.map((i) => i.message).join('; ')}`);
  const policy = loaded.value;
  const parser = await loadSqlParser();
  const built = await schemaFromDdl(baselineDdl());
  if (!built.ok) throw new Error(`the bench baseline does not build: ${built.issues.map((i) => i.message).join('; ')}`);
  const baseline = { label: 'database orders-db, baseline v1', schema: built.schema };
  const unknownRows = { known: false as const, reason: 'EXPLAIN is measured separately' };

  /** Parse once, classify, drift, evaluate: what the analyzers and the evaluation do, minus I/O. */
  const analyzed = () => {
    const parsed = parser.parse(MIGRATION);
    const analysis = classifySql({ parse: (text) => (text === MIGRATION ? parsed : parser.parse(text)) }, MIGRATION);
    const drift = sqlDriftImpact({ analysis, statements: parsed.ok ? parsed.value.stmts : undefined, sql: MIGRATION, baseline });
    return evaluatePolicy(policy, PRINCIPAL, ACTION, { now: 0, sql: { source: MIGRATION, sql: sqlImpactOf(analysis, 'orders-db'), rows: unknownRows, drift } });
  };
  const plain = () => evaluatePolicy(policy, PRINCIPAL, ACTION, { now: 0 });

  // Sanity: the analysis found the statements and no drift, and changed what the policy sees.
  const sample = analyzed();
  if (sample.impact.sql?.statements.length !== 5 || sample.impact.drift?.drifting !== false) throw new Error(`unexpected analysis: ${JSON.stringify(sample.impact.sql)} ${JSON.stringify(sample.impact.drift)}`);
  if (plain().impact.sql?.analyzed !== false) throw new Error('the baseline variant analyzed the SQL');

  // Alternating blocks, so drift in machine speed hits both variants alike.
  const baselineRun = measureCalls(plain, { calls: CALLS, maxMs: 10_000, warmupCalls: WARMUP });
  const analyzedRun = measureCalls(analyzed, { calls: CALLS, maxMs: 10_000, warmupCalls: WARMUP });
  const parseOnly = measureCalls(() => parser.parse(MIGRATION), { calls: CALLS, maxMs: 5_000, warmupCalls: WARMUP });

  // The analyzers step as the server runs it: the latest baseline version checked on disk per decision.
  const dataDir = await mkdtemp(join(tmpdir(), 'governor-bench-sql-'));
  let wired: LatencySummary;
  try {
    await saveBaseline(dataDir, 'orders-db', built.schema, { source: 'ddl' });
    const analyzers = createActionAnalyzers({ dataDir, policyDir: dataDir, env: {}, explain: false });
    const step = async () => evaluatePolicy(policy, PRINCIPAL, ACTION, { ...(await analyzers.analyze(policy, ACTION)), now: 0 });
    const check = await step();
    if (check.impact.drift?.baselines[0] !== 'database orders-db, baseline v1') throw new Error('the wired analyzers did not use the baseline');
    wired = (await measureAsyncCalls(step, { calls: ASYNC_CALLS, maxMs: 10_000, warmupCalls: 1_000 })).summary;
    await analyzers.close();
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }

  const explain = await measureExplain(load);

  const overhead = (k: 'p50Us' | 'p99Us') => analyzedRun.summary[k] - baselineRun.summary[k];
  const targets: TargetCheck[] = [
    { name: 'p99 of a decision with 5-statement SQL analysis (parse, classify, drift, evaluate)', target: '≤ 1 ms', actual: `${(analyzedRun.summary.p99Us / 1000).toFixed(3)} ms`, met: analyzedRun.summary.p99Us <= 1000 },
  ];
  const row = (name: string, s: LatencySummary) => [name, s.calls, s.p50Us, s.p90Us, s.p99Us, s.maxUs];
  return {
    name: 'sql',
    targets,
    data: { implementation: implementation().kind, statements: 5, baselineTables: 12, baseline: baselineRun.summary, analyzed: analyzedRun.summary, parse: parseOnly.summary, wired, explain, overheadUs: { p50: overhead('p50Us'), p99: overhead('p99Us') } },
    tables: [
      {
        title: `sql: a 5-statement run_sql action under the example policy (${implementation().kind})`,
        columns: ['variant', 'calls', 'p50 µs', 'p90 µs', 'p99 µs', 'max µs'],
        rows: [
          row('evaluate, SQL not analyzed (baseline)', baselineRun.summary),
          row('parse + classify + drift + evaluate', analyzedRun.summary),
          row('  of which: parse (libpg-query WASM)', parseOnly.summary),
          row('analyzers step as wired (baseline file checked) + evaluate', wired),
          ...(explain.ok ? [row('EXPLAIN row estimate (3 writes, real PostgreSQL)', explain.summary)] : []),
        ],
        notes: [
          `overhead of the analysis: p50 ${overhead('p50Us').toFixed(1)} µs, p99 ${overhead('p99Us').toFixed(1)} µs`,
          'the baseline still sees the SQL (unanalyzed SQL counts as destructive and drifting), so both variants run the same rules',
          explain.ok ? 'EXPLAIN: one read-only transaction per estimate on a local server (BEGIN READ ONLY, SET LOCAL statement_timeout, one EXPLAIN per write, ROLLBACK)' : `EXPLAIN not measured: ${explain.reason}`,
        ],
      },
    ],
  };
}

type ExplainResult = { ok: true; summary: LatencySummary } | { ok: false; reason: string };

/** The planner's estimate on a real PostgreSQL (GOVERNOR_TEST_DATABASE_URL), on a 100,000-row table in a schema of its own. */
async function measureExplain(loader: typeof load): Promise<ExplainResult> {
  const url = process.env['GOVERNOR_BENCH_DATABASE_URL'] ?? process.env['GOVERNOR_TEST_DATABASE_URL'];
  if (!url) return { ok: false, reason: 'set GOVERNOR_TEST_DATABASE_URL (or GOVERNOR_BENCH_DATABASE_URL) to a PostgreSQL the benchmark may create a schema in' };
  const { createRowEstimator } = await loader<typeof ExplainRowsApi>('analyzers/explain-rows.js');
  const schema = `governor_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.orders (id bigint primary key, status text not null, note text);
      INSERT INTO ${schema}.orders SELECT g, CASE WHEN g % 10 = 0 THEN 'void' ELSE 'done' END, NULL FROM generate_series(1, 100000) g; ANALYZE ${schema}.orders;`);
    const estimator = createRowEstimator({ connectionString: url });
    const sql = `BEGIN; UPDATE ${schema}.orders SET note = 'x' WHERE id < 1000; DELETE FROM ${schema}.orders WHERE status = 'void'; INSERT INTO ${schema}.orders VALUES (200001, 'new', NULL); COMMIT`;
    const first = await estimator.estimate(sql);
    if (!first.known) return { ok: false, reason: `the estimate failed: ${first.reason}` };
    const measured = await measureAsyncCalls(() => estimator.estimate(sql), { calls: EXPLAIN_CALLS, maxMs: 10_000, warmupCalls: 50 });
    await estimator.close();
    return { ok: true, summary: measured.summary };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await admin.end();
  }
}

/** SQL analysis on the decision path. */
export const sqlBench: Bench = { name: 'sql', description: 'decision overhead of SQL analysis (parse, classify, drift) for a 5-statement action; EXPLAIN separately', run };

import { loadModule, parseSync } from 'libpg-query';
import pg from 'pg';
import { GovernorError } from '../core/errors.js';

/** What a statement does, as PostgreSQL's parser and planner name it. */
export type RowCommand = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE' | 'MERGE' | 'TRUNCATE';

/**
 * The planner's estimate for one write (or one plain read) of a script. A
 * statement whose plan holds several writes (a `WITH d AS (DELETE ...)` next to
 * an UPDATE) has one entry per write, all with the statement's `index`.
 */
export interface StatementRowEstimate {
  /** 0-based position of the statement in the script. */
  readonly index: number;
  readonly command: RowCommand;
  /** The written relation, `schema.name` as the server resolved it; absent for reads. */
  readonly table?: string;
  /** Rows the write would touch (the plan rows of the write's input); for a read, the rows it returns. */
  readonly rows: number;
  /** The relation's size: `pg_class.reltuples`, or the planner's estimate when the table was never analyzed. */
  readonly tableRows?: number;
  /**
   * `rows / tableRows`, capped at 1. Absent for reads and for plain INSERTs,
   * which touch no existing row (an INSERT ... ON CONFLICT DO UPDATE has one).
   */
  readonly fraction?: number;
}

/**
 * The row-level blast radius of a SQL script. `known: false` means the
 * estimate could not be made (refused statement, no connection, timeout, an
 * unreadable plan): callers must treat it as over every ceiling.
 */
export type RowEstimate =
  | {
      readonly known: true;
      readonly statements: readonly StatementRowEstimate[];
      /** Sum of `rows` over every write (reads are not counted). */
      readonly rows: number;
      /**
       * The largest share of one table the script touches: per table, the rows
       * of all its writes that have a fraction, over its size, capped at 1.
       */
      readonly maxFraction: number;
    }
  | { readonly known: false; readonly reason: string };

/** One query as the estimator sends it: always over the extended protocol, which refuses more than one command. */
export interface RowEstimatorQuery {
  readonly text: string;
  readonly values?: unknown[];
  readonly queryMode: 'extended';
  /** Client-side bound, in ms, for a server that stops answering. */
  readonly query_timeout?: number;
}

/** The subset of pg's `PoolClient` the estimator uses. */
export interface RowEstimatorClient {
  query(query: RowEstimatorQuery): Promise<{ readonly rows: unknown[] }>;
  /** `true` destroys the connection instead of returning it to the pool. */
  release(destroy?: boolean): void;
}

/** The subset of pg's `Pool` the estimator uses; a caller's pool is never ended by `close()`. */
export interface RowEstimatorPool {
  connect(): Promise<RowEstimatorClient>;
}

interface RowEstimatorLimits {
  /** Server-side `statement_timeout` of each EXPLAIN and catalog query, in ms. Default 500. */
  readonly statementTimeoutMs?: number;
  /** How long the estimator's own pool waits to connect (or for a free connection), in ms. Default 1000. */
  readonly connectTimeoutMs?: number;
  /** Scripts with more statements are refused. Default 20. */
  readonly maxStatements?: number;
}

/**
 * Options of `createRowEstimator`: a connection string (the estimator then owns
 * a pool of at most two connections, created on first use) or a pool of the
 * caller's. EXPLAIN needs the privileges the statement would need (a SELECT-only
 * role cannot plan a DELETE: `known: false`), so connect as a dedicated role
 * with `default_transaction_read_only = on`, no CREATE and only the DML
 * grants of the tables to estimate (docs/data-governance.md).
 */
export type RowEstimatorOptions = RowEstimatorLimits &
  (
    | { readonly connectionString: string; readonly pool?: never }
    | { readonly pool: RowEstimatorPool; readonly connectionString?: never }
  );

/** Estimates how many rows a SQL script would touch, without running it. */
export interface RowEstimator {
  /** Never rejects: every failure is `{ known: false, reason }`. */
  estimate(sql: string): Promise<RowEstimate>;
  /** Ends the estimator's own pool (not a pool passed in); later estimates are `known: false`. */
  close(): Promise<void>;
}

/** Transaction control that changes no row; every other utility statement is refused. */
const NEUTRAL_TRANSACTION_KINDS = new Set([
  'TRANS_STMT_BEGIN',
  'TRANS_STMT_START',
  'TRANS_STMT_COMMIT',
  'TRANS_STMT_ROLLBACK',
  'TRANS_STMT_SAVEPOINT',
  'TRANS_STMT_RELEASE',
  'TRANS_STMT_ROLLBACK_TO',
]);

const EXPLAINED_COMMANDS: Readonly<Record<string, RowCommand>> = {
  SelectStmt: 'SELECT',
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
};

const OPERATIONS: Readonly<Record<string, RowCommand>> = {
  Insert: 'INSERT',
  Update: 'UPDATE',
  Delete: 'DELETE',
  Merge: 'MERGE',
};

/**
 * Creates a row estimator backed by PostgreSQL's planner. Each statement of a
 * script is split out with PostgreSQL's own parser (libpg-query) and planned
 * with `EXPLAIN (FORMAT JSON, VERBOSE)` — never `EXPLAIN ANALYZE` — inside a
 * `BEGIN READ ONLY` transaction that is always rolled back, so nothing is ever
 * executed. Throws CONFIG_INVALID for bad options.
 */
export function createRowEstimator(options: RowEstimatorOptions): RowEstimator {
  const config = Object.freeze({ ...options });
  const statementTimeoutMs = positiveInteger('statementTimeoutMs', config.statementTimeoutMs ?? 500);
  const connectTimeoutMs = positiveInteger('connectTimeoutMs', config.connectTimeoutMs ?? 1000);
  const maxStatements = positiveInteger('maxStatements', config.maxStatements ?? 20);
  const connectionString = config.connectionString;
  if (config.pool === undefined && (typeof connectionString !== 'string' || connectionString === '')) {
    throw new GovernorError('CONFIG_INVALID', 'createRowEstimator needs a connectionString or a pool');
  }

  let owned: pg.Pool | undefined;
  let closed = false;

  const pool = (): RowEstimatorPool => {
    if (config.pool !== undefined) return config.pool;
    owned ??= createPool(connectionString as string, connectTimeoutMs, statementTimeoutMs);
    return owned;
  };

  return {
    async estimate(sql: string): Promise<RowEstimate> {
      if (closed) return unknown('the row estimator is closed');
      try {
        const split = await splitScript(sql, maxStatements);
        if (!split.ok) return unknown(split.reason);
        if (split.steps.length === 0) return unknown('the script holds no statement whose rows can be estimated');
        // close() may have run while the parser loaded; a pool created now would never be ended.
        if (closed) return unknown('the row estimator is closed');
        return await explainScript(pool(), split.steps, statementTimeoutMs);
      } catch (err) {
        return unknown(`the estimate failed: ${message(err)}`);
      }
    },
    async close(): Promise<void> {
      closed = true;
      const ending = owned;
      owned = undefined;
      await ending?.end();
    },
  };
}

function createPool(connectionString: string, connectTimeoutMs: number, statementTimeoutMs: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: 2,
    connectionTimeoutMillis: connectTimeoutMs,
    query_timeout: statementTimeoutMs + 1000,
    application_name: 'governor-row-estimator',
    allowExitOnIdle: true,
  });
  // An idle connection dropped by the server must not crash the process; the next estimate reconnects.
  pool.on('error', () => undefined);
  return pool;
}

/** One statement to plan: explained (reads and DML) or sized (TRUNCATE). */
type Step =
  | { readonly kind: 'explain'; readonly index: number; readonly command: RowCommand; readonly text: string }
  | { readonly kind: 'truncate'; readonly index: number; readonly relations: readonly string[] };

type SplitResult = { readonly ok: true; readonly steps: readonly Step[] } | { readonly ok: false; readonly reason: string };

let parserLoaded: Promise<void> | undefined;

function loadParser(): Promise<void> {
  parserLoaded ??= loadModule().catch((err: unknown) => {
    parserLoaded = undefined;
    throw err;
  });
  return parserLoaded;
}

interface RawStatement {
  readonly stmt?: Record<string, unknown>;
  readonly stmt_location?: number;
  readonly stmt_len?: number;
}

/**
 * Splits a script with PostgreSQL's parser. Statement boundaries are the
 * parser's `stmt_location`/`stmt_len`, which count UTF-8 bytes, not UTF-16
 * code units; each piece is parsed again to prove it is exactly one statement
 * of the same kind before it is ever sent to the server.
 */
async function splitScript(sql: string, maxStatements: number): Promise<SplitResult> {
  if (typeof sql !== 'string') return { ok: false, reason: 'the script is not a string' };
  await loadParser();
  const parsed = parse(sql);
  if (!parsed.ok) return { ok: false, reason: `the script does not parse: ${parsed.reason}` };
  const raw = parsed.statements;
  if (raw.length > maxStatements) {
    return { ok: false, reason: `the script holds ${raw.length} statements, more than the ${maxStatements} allowed` };
  }
  const bytes = Buffer.from(sql, 'utf8');
  const steps: Step[] = [];
  for (const [index, statement] of raw.entries()) {
    const [kind, node] = onlyEntry(statement.stmt);
    if (kind === undefined || node === undefined) return { ok: false, reason: `statement at index ${index} has no parse tree` };
    const start = statement.stmt_location ?? 0;
    const end = statement.stmt_len === undefined || statement.stmt_len === 0 ? bytes.length : start + statement.stmt_len;
    const text = bytes.subarray(start, end).toString('utf8');
    const refused = refusal(kind, node);
    if (refused !== undefined) return { ok: false, reason: `statement at index ${index} (${kind}) cannot be estimated: ${refused}` };
    if (kind === 'TransactionStmt') continue;

    const again = parse(text);
    const [againKind] = again.ok && again.statements.length === 1 ? onlyEntry(again.statements[0]?.stmt) : [];
    if (againKind !== kind) return { ok: false, reason: `statement at index ${index} could not be isolated from the script` };

    if (kind === 'TruncateStmt') {
      steps.push({ kind: 'truncate', index, relations: relationsOf(node) });
      continue;
    }
    const command = EXPLAINED_COMMANDS[kind];
    if (command === undefined) return { ok: false, reason: `statement at index ${index} (${kind}) cannot be estimated` };
    steps.push({ kind: 'explain', index, command, text });
  }
  return { ok: true, steps };
}

function parse(sql: string): { ok: true; statements: readonly RawStatement[] } | { ok: false; reason: string } {
  try {
    const tree = parseSync(sql) as { stmts?: unknown };
    return { ok: true, statements: Array.isArray(tree.stmts) ? (tree.stmts as RawStatement[]) : [] };
  } catch (err) {
    return { ok: false, reason: message(err) };
  }
}

/** Why a statement is refused, or undefined when it can be estimated. */
function refusal(kind: string, node: Record<string, unknown>): string | undefined {
  switch (kind) {
    case 'SelectStmt':
      return node['intoClause'] === undefined ? undefined : 'SELECT INTO creates a table';
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
      return undefined;
    case 'TruncateStmt':
      // CASCADE also empties every table that references these, which the script does not name.
      return node['behavior'] === 'DROP_CASCADE' ? 'TRUNCATE ... CASCADE empties tables it does not name' : undefined;
    case 'TransactionStmt':
      return NEUTRAL_TRANSACTION_KINDS.has(String(node['kind'])) ? undefined : 'it acts on prepared transactions';
    case 'DoStmt':
      return 'a DO block runs code the planner cannot see';
    default:
      return 'only SELECT, INSERT, UPDATE, DELETE, MERGE, TRUNCATE and transaction control are estimated';
  }
}

/** Quoted, qualified names of a TRUNCATE's relations, as the server would resolve them. */
function relationsOf(node: Record<string, unknown>): string[] {
  const relations = Array.isArray(node['relations']) ? (node['relations'] as unknown[]) : [];
  return relations.map((entry) => {
    const range = (entry as { RangeVar?: Record<string, unknown> }).RangeVar ?? {};
    return ['catalogname', 'schemaname', 'relname']
      .map((part) => range[part])
      .filter((part): part is string => typeof part === 'string')
      .map(quoteIdentifier)
      .join('.');
  });
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function onlyEntry(node: unknown): [string | undefined, Record<string, unknown> | undefined] {
  if (typeof node !== 'object' || node === null) return [undefined, undefined];
  const entries = Object.entries(node);
  const [first] = entries;
  if (entries.length !== 1 || first === undefined || typeof first[1] !== 'object' || first[1] === null) return [undefined, undefined];
  return [first[0], first[1] as Record<string, unknown>];
}

/** Plans every step in one read-only transaction on one connection, then rolls it back. */
async function explainScript(pool: RowEstimatorPool, steps: readonly Step[], statementTimeoutMs: number): Promise<RowEstimate> {
  let client: RowEstimatorClient;
  try {
    client = await pool.connect();
  } catch (err) {
    return unknown(`the database could not be reached: ${message(err)}`);
  }
  const query = async (text: string, values?: unknown[]): Promise<unknown[]> => {
    const sent: RowEstimatorQuery = { text, queryMode: 'extended', query_timeout: statementTimeoutMs + 1000, ...(values === undefined ? {} : { values }) };
    return (await client.query(sent)).rows;
  };
  let reusable = false;
  try {
    await query('BEGIN TRANSACTION READ ONLY');
    await query(`SELECT pg_catalog.set_config('statement_timeout', $1, true)`, [String(statementTimeoutMs)]);
    const result = await estimateSteps(query, steps);
    await query('ROLLBACK');
    reusable = true;
    return result;
  } catch (err) {
    return unknown(message(err));
  } finally {
    // After a failure the session's state is unknown (a client-side timeout may
    // leave a query running): destroying it also rolls the transaction back.
    client.release(!reusable);
  }
}

type Query = (text: string, values?: unknown[]) => Promise<unknown[]>;

interface Write {
  readonly command: RowCommand;
  readonly schema: string;
  readonly relation: string;
  readonly rows: number;
  /** An INSERT that may update existing rows (ON CONFLICT DO UPDATE). */
  readonly updates: boolean;
}

async function estimateSteps(query: Query, steps: readonly Step[]): Promise<RowEstimate> {
  const statements: StatementRowEstimate[] = [];
  const sizes = new Map<string, number>();
  const sizeOf = async (qualifiedName: string): Promise<{ table: string; rows: number }> => {
    const table = await resolveTable(query, qualifiedName);
    let rows = sizes.get(table.name);
    if (rows === undefined) {
      rows = table.reltuples >= 0 ? Math.round(table.reltuples) : await plannedSize(query, table.quoted);
      sizes.set(table.name, rows);
    }
    return { table: table.name, rows };
  };

  for (const step of steps) {
    if (step.kind === 'truncate') {
      for (const relation of step.relations) {
        const { table, rows } = await sizeOf(relation);
        statements.push({ index: step.index, command: 'TRUNCATE', table, rows, tableRows: rows, fraction: 1 });
      }
      continue;
    }
    const plans = await explain(query, step);
    const writes = plans.flatMap(writesOf);
    if (writes.length === 0) {
      if (step.command !== 'SELECT') throw new Error(`statement at index ${step.index} is a ${step.command}, but its plan shows no write`);
      statements.push({ index: step.index, command: 'SELECT', rows: planRows(plans[0]?.['Plan']) });
      continue;
    }
    for (const write of writes) {
      const { table, rows: tableRows } = await sizeOf(`${quoteIdentifier(write.schema)}.${quoteIdentifier(write.relation)}`);
      const entry = { index: step.index, command: write.command, table, rows: write.rows, tableRows };
      statements.push(write.command === 'INSERT' && !write.updates ? entry : { ...entry, fraction: share(write.rows, tableRows) });
    }
  }

  let rows = 0;
  const touched = new Map<string, number>();
  for (const entry of statements) {
    if (entry.command === 'SELECT') continue;
    rows += entry.rows;
    if (entry.fraction !== undefined && entry.table !== undefined) touched.set(entry.table, (touched.get(entry.table) ?? 0) + entry.rows);
  }
  let maxFraction = 0;
  for (const [table, tableRows] of touched) maxFraction = Math.max(maxFraction, share(tableRows, sizes.get(table) ?? 0));
  return { known: true, statements, rows, maxFraction };
}

function share(rows: number, tableRows: number): number {
  if (tableRows <= 0) return rows > 0 ? 1 : 0;
  return Math.min(1, rows / tableRows);
}

type PlanNode = Record<string, unknown>;

async function explain(query: Query, step: Extract<Step, { kind: 'explain' }>): Promise<PlanNode[]> {
  let result: unknown[];
  try {
    result = await query(`EXPLAIN (FORMAT JSON, VERBOSE) ${step.text}`);
  } catch (err) {
    throw new Error(`statement at index ${step.index} could not be planned: ${message(err)}`, { cause: err });
  }
  const document = (result[0] as Record<string, unknown> | undefined)?.['QUERY PLAN'];
  // A statement rewritten by rules has one plan per resulting query.
  if (!Array.isArray(document) || document.length === 0 || !document.every((plan) => isObject(plan) && isObject(plan['Plan']))) {
    throw new Error(`the plan of statement at index ${step.index} cannot be read`);
  }
  return document as PlanNode[];
}

/** Every ModifyTable node of one plan, with the rows its input feeds it. */
function writesOf(plan: PlanNode): Write[] {
  const writes: Write[] = [];
  const pending: unknown[] = [plan['Plan']];
  while (pending.length > 0) {
    const node = pending.pop();
    if (!isObject(node)) throw new Error('the plan holds a node that cannot be read');
    const children = node['Plans'] ?? [];
    if (!Array.isArray(children)) throw new Error('the plan holds a node that cannot be read');
    pending.push(...children);
    if (node['Node Type'] !== 'ModifyTable') continue;
    const command = OPERATIONS[String(node['Operation'])];
    const schema = node['Schema'];
    const relation = node['Relation Name'];
    const input = children.find((child) => isObject(child) && child['Parent Relationship'] === 'Outer');
    if (command === undefined || typeof schema !== 'string' || typeof relation !== 'string' || input === undefined) {
      throw new Error('the plan holds a write whose target or input cannot be read');
    }
    writes.push({ command, schema, relation, rows: planRows(input), updates: node['Conflict Resolution'] === 'UPDATE' });
  }
  return writes;
}

function planRows(node: unknown): number {
  const rows = isObject(node) ? node['Plan Rows'] : undefined;
  if (typeof rows !== 'number' || !Number.isFinite(rows) || rows < 0) throw new Error('the plan holds no readable row estimate');
  return Math.round(rows);
}

async function resolveTable(query: Query, qualifiedName: string): Promise<{ name: string; quoted: string; reltuples: number }> {
  const rows = await query(
    `SELECT n.nspname, c.relname, c.reltuples::float8 AS reltuples
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = pg_catalog.to_regclass($1)`,
    [qualifiedName],
  );
  const row = rows[0] as { nspname?: unknown; relname?: unknown; reltuples?: unknown } | undefined;
  if (row === undefined || typeof row.nspname !== 'string' || typeof row.relname !== 'string' || typeof row.reltuples !== 'number') {
    throw new Error(`relation ${qualifiedName} does not exist`);
  }
  return { name: `${row.nspname}.${row.relname}`, quoted: `${quoteIdentifier(row.nspname)}.${quoteIdentifier(row.relname)}`, reltuples: row.reltuples };
}

/** The planner's size of a never-analyzed table (reltuples = -1), from its current pages. */
async function plannedSize(query: Query, quoted: string): Promise<number> {
  const rows = await query(`EXPLAIN (FORMAT JSON) SELECT 1 FROM ${quoted}`);
  const document = (rows[0] as Record<string, unknown> | undefined)?.['QUERY PLAN'];
  const [plan] = Array.isArray(document) ? document : [];
  return planRows(isObject(plan) ? plan['Plan'] : undefined);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unknown(reason: string): RowEstimate {
  return { known: false, reason };
}

function message(err: unknown): string {
  // Connecting to a name with several addresses fails with an AggregateError whose own message is empty.
  if (err instanceof AggregateError && err.message === '') return err.errors.map(message).join('; ');
  if (err instanceof Error) return err.message !== '' ? err.message : String((err as { code?: unknown }).code ?? err.name);
  return String(err);
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new GovernorError('CONFIG_INVALID', `${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

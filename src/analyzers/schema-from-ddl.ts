import { loadModule, parseSync, type RawStmt } from 'libpg-query';
import { GovernorError, type Issue, type ParseResult } from '../core/errors.js';
import { applyDdl, type ApplyDdlOptions, type ApplyDdlResult } from '../impact/schema/apply-ddl.js';
import { ddlDrift, type DdlDriftReport } from '../impact/schema/drift.js';
import { emptySchema, type DatabaseSchema } from '../impact/schema/schema.js';

let loading: Promise<void> | undefined;

/** Loads the PostgreSQL parser (WebAssembly) once; every function here awaits it. */
export function loadDdlParser(): Promise<void> {
  loading ??= loadModule().catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  return loading;
}

/** Parses a script with PostgreSQL's own parser (version 17 grammar). A syntax error is an issue with its line. */
export async function parseDdl(sql: string): Promise<ParseResult<readonly RawStmt[]>> {
  await loadDdlParser();
  return parseDdlSync(sql);
}

/** {@link parseDdl} once {@link loadDdlParser} has resolved (before that it throws INTERNAL). */
export function parseDdlSync(sql: string): ParseResult<readonly RawStmt[]> {
  try {
    const tree = parseSync(sql) as { stmts?: RawStmt[] };
    return { ok: true, value: tree.stmts ?? [] };
  } catch (err) {
    // The parser reports syntax errors with their position; anything else is a fault of ours.
    if (!hasPosition(err)) throw new GovernorError('INTERNAL', `the SQL parser failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    return { ok: false, issues: [syntaxIssue(sql, err)] };
  }
}

function hasPosition(err: unknown): boolean {
  return typeof (err as { sqlDetails?: { cursorPosition?: unknown } } | null)?.sqlDetails?.cursorPosition === 'number';
}

/** Options of {@link schemaFromDdl}. */
export interface SchemaFromDdlOptions extends Omit<ApplyDdlOptions, 'sql'> {
  /** The schema the script runs on; empty by default. */
  readonly base?: DatabaseSchema;
}

/**
 * The schema a DDL script builds (on an empty database, or on `base`): a
 * baseline taken from migration files rather than a live database. A syntax
 * error fails like anything else the model cannot follow (`ok: false`).
 */
export async function schemaFromDdl(sql: string, options: SchemaFromDdlOptions = {}): Promise<ApplyDdlResult> {
  const base = options.base ?? emptySchema();
  const parsed = await parseDdl(sql);
  if (!parsed.ok) return { ok: false, schema: base, lineage: { tables: {} }, issues: parsed.issues };
  return applyDdl(base, parsed.value, { ...withoutBase(options), sql });
}

/**
 * The drift a migration script would cause on a database whose schema is
 * `baseline`. A syntax error is drift (fail closed), like any statement the
 * model cannot follow.
 */
export async function sqlDrift(baseline: DatabaseSchema, sql: string, options: Omit<ApplyDdlOptions, 'sql'> = {}): Promise<DdlDriftReport> {
  const parsed = await parseDdl(sql);
  if (!parsed.ok) return { ok: false, drifting: true, changes: [], issues: parsed.issues, schema: baseline };
  return ddlDrift(baseline, parsed.value, { ...options, sql });
}

function withoutBase(options: SchemaFromDdlOptions): Omit<ApplyDdlOptions, 'sql'> {
  return options.searchPath === undefined ? {} : { searchPath: options.searchPath };
}

function syntaxIssue(sql: string, err: unknown): Issue {
  const details = (err as { sqlDetails?: { message?: string; cursorPosition?: number } } | null)?.sqlDetails;
  const message = details?.message ?? (err instanceof Error ? err.message : String(err));
  const position = details?.cursorPosition;
  if (position === undefined || position < 0) return { path: 'sql', message: `syntax error: ${message}` };
  const line = Buffer.from(sql, 'utf8').subarray(0, position).toString('utf8').split('\n').length;
  return { path: 'sql', message: `syntax error: ${message}`, line };
}

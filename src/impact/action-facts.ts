import type { Issue } from '../core/errors.js';
import type { Action, DriftChangeImpact, DriftImpact, Impact, RowEstimateImpact, SqlImpact, SqlStatementImpact, StatementRowsImpact } from '../core/types.js';
import type { ToolSpec } from '../policy/policy.js';
import type { DdlStatement } from './schema/apply-ddl.js';
import { ddlDrift } from './schema/drift.js';
import { clipUtf8, MAX_IDENTIFIER_BYTES, utf8Length } from './schema/pg-object-names.js';
import type { DatabaseSchema } from './schema/schema.js';
import type { SqlAnalysis } from './sql/classify-sql.js';
import { severity } from './sql/statement-class.js';

/*
 * Facts: what the analyzers (src/analyzers/action-analyzers.ts) learned about
 * an action before the pure evaluation runs — the classification of its SQL,
 * the drift from the baseline, the planner's row estimate, the drift of a
 * configuration document — and the time of the decision. The evaluation only
 * reads them; anything missing counts as the worst case (fail closed).
 */

/** What the analyzers found out about one action, and when it is decided. */
export interface ActionFacts {
  /** The decision's time, ms since the epoch: change freezes need it. Without it a freeze in scope counts as in force. */
  readonly now?: number;
  /** Set when the analyzers failed (a fault or a timeout): the impact is unknown, and the action is denied. */
  readonly failure?: string;
  readonly sql?: SqlFacts;
  readonly config?: ConfigFacts;
}

/** What is known about the action's SQL. */
export interface SqlFacts {
  /** The SQL these facts describe; facts about any other SQL are ignored. */
  readonly source: string;
  readonly sql: SqlImpact;
  readonly rows: RowFacts;
  readonly drift: DriftImpact;
}

/** The planner's row estimate (the shape of `RowEstimate` from src/analyzers/explain-rows.ts). */
export type RowFacts =
  | { readonly known: true; readonly rows: number; readonly maxFraction: number; readonly statements: readonly StatementRowsImpact[] }
  | { readonly known: false; readonly reason: string };

/** What is known about a configuration tool's proposed document. */
export interface ConfigFacts {
  readonly drift: DriftImpact;
}

/** The part of an impact that the facts about data give. */
export interface DataImpact {
  readonly sql?: SqlImpact;
  readonly rows?: number;
  readonly rowFraction?: number;
  readonly rowEstimate?: RowEstimateImpact;
  readonly drift?: DriftImpact;
  /** Why the data change cannot be undone (`statement 2: DELETE without a WHERE clause removes every row of orders`). */
  readonly irreversibleBecause?: string;
}

/** Most drift changes an impact lists (breaking ones first); the verdict counts them all. */
export const MAX_DRIFT_CHANGES = 100;

const NO_DRIFT: DriftImpact = Object.freeze({ drifting: false, baselines: Object.freeze([]), changes: Object.freeze([]), issues: Object.freeze([]) });

/** The impact fields of a classified script. */
export function sqlImpactOf(analysis: SqlAnalysis, database?: string): SqlImpact {
  const statements: SqlStatementImpact[] = analysis.statements.map((s) => ({
    index: s.index,
    class: s.class,
    command: s.command,
    tables: s.tables,
    reasons: s.reasons,
    irreversible: s.irreversible,
  }));
  return {
    analyzed: true,
    ...(analysis.error === undefined ? {} : { error: analysis.error }),
    ...(database === undefined ? {} : { database }),
    class: analysis.class,
    destructive: analysis.destructive,
    writes: analysis.writes,
    ddl: analysis.ddl,
    statements,
  };
}

/**
 * The facts a recorded decision was made with, read back from its impact, at
 * `now`: for re-evaluating a held action (a policy change) without running the
 * analyzers again. SQL whose analysis was not recorded stays unanalyzed.
 */
export function recordedFacts(action: Action, impact: Impact, now: number): ActionFacts {
  const facts: { -readonly [K in keyof ActionFacts]: ActionFacts[K] } = { now };
  if (action.sql !== undefined && impact.sql?.analyzed && impact.drift) {
    const estimate = impact.rowEstimate;
    const rows: RowFacts =
      estimate?.known && impact.rows !== undefined
        ? { known: true, rows: impact.rows, maxFraction: impact.rowFraction ?? 0, statements: estimate.statements }
        : { known: false, reason: estimate?.reason ?? 'not estimated' };
    facts.sql = { source: action.sql, sql: impact.sql, rows, drift: impact.drift };
  }
  return facts;
}

/** What a baseline comparison needs: the baseline (or why there is none), the script's parse tree and its text. */
export interface SqlDriftInput {
  readonly analysis: SqlAnalysis;
  /** The parse tree of the same script (`undefined` when it did not parse). */
  readonly statements: readonly DdlStatement[] | undefined;
  readonly sql: string;
  /** The baseline and how to name it (`database orders-db, baseline v3`), or why there is none. */
  readonly baseline: { readonly label: string; readonly schema: DatabaseSchema } | { readonly missing: string };
}

/**
 * The drift a script would cause against a baseline. A script that changes no
 * schema does not drift (the baseline is not needed); one that cannot be
 * followed — a syntax error, an unanalyzable statement, a statement outside
 * the schema model, no baseline to compare with — drifts (fail closed). Pure.
 */
export function sqlDriftImpact(input: SqlDriftInput): DriftImpact {
  const { analysis } = input;
  if (!analysis.ddl) return NO_DRIFT;
  if (!analysis.ok || input.statements === undefined) {
    return { drifting: true, baselines: [], changes: [], issues: [analysis.error ?? 'the SQL does not parse'] };
  }
  if ('missing' in input.baseline) return { drifting: true, baselines: [], changes: [], issues: [input.baseline.missing] };
  const report = ddlDrift(relevantTables(input.baseline.schema, input.statements), input.statements, { sql: input.sql });
  const issues = report.issues.map(describeIssue);
  const covered = new Set(report.issues.map((i) => statementIndex(i.path)));
  for (const s of analysis.statements) {
    if (s.class === 'unanalyzable' && !covered.has(s.index)) issues.push(`statement ${s.index + 1}: ${s.reasons.join('; ')}`);
  }
  return { drifting: report.drifting || issues.length > 0, baselines: [input.baseline.label], changes: boundedChanges(report.changes), issues };
}

/**
 * The part of a baseline a script can change or needs to be checked against,
 * so the comparison costs what the script touches, not what the database
 * holds. A table is kept when any name in the script's parse tree is its
 * name, its schema's, or one of its indexes' or constraints' (every string of
 * the tree counts, so this errs on the side of keeping); then every table
 * with a foreign key to a kept table (a drop or a rename changes its keys),
 * and every table those reference (so the keys can be checked). Statements
 * that reach further without naming what they reach (`DROP OWNED`, dynamic
 * SQL) are not modeled at all, and are drift whatever the baseline.
 */
export function relevantTables(baseline: DatabaseSchema, statements: readonly DdlStatement[]): DatabaseSchema {
  const names = new Set<string>();
  // A tree too deep to walk keeps the whole baseline.
  if (!collectStrings(statements, names, 0)) return baseline;
  const named = (name: string) => names.has(name) || (utf8Length(name) >= MAX_IDENTIFIER_BYTES && [...names].some((n) => clipUtf8(n, MAX_IDENTIFIER_BYTES) === name));
  const entries = Object.entries(baseline.tables);
  const kept = new Set<string>();
  for (const [key, t] of entries) {
    if (named(t.name) || named(t.schema) || t.indexes.some((i) => named(i.name)) || constraintNames(t).some(named)) kept.add(key);
  }
  if (kept.size === entries.length) return baseline;
  const direct = new Set(kept);
  for (const [key, t] of entries) if (t.foreignKeys.some((fk) => direct.has(fk.references.table))) kept.add(key);
  for (const key of [...kept]) for (const fk of baseline.tables[key]?.foreignKeys ?? []) if (baseline.tables[fk.references.table]) kept.add(fk.references.table);
  if (kept.size === entries.length) return baseline;
  const tables: Record<string, DatabaseSchema['tables'][string]> = {};
  for (const [key, t] of entries) if (kept.has(key)) tables[key] = t;
  return { tables };
}

function constraintNames(t: DatabaseSchema['tables'][string]): string[] {
  return [...(t.primaryKey ? [t.primaryKey.name] : []), ...t.uniques.map((c) => c.name), ...t.foreignKeys.map((c) => c.name), ...t.checks.map((c) => c.name), ...t.exclusions.map((c) => c.name)];
}

/** Adds every string of a parse tree to `into`; false when the tree nests deeper than it walks. */
function collectStrings(node: unknown, into: Set<string>, depth: number): boolean {
  if (typeof node === 'string') {
    into.add(node);
    return true;
  }
  if (typeof node !== 'object' || node === null) return true;
  if (depth > 2_000) return false;
  for (const value of Array.isArray(node) ? node : Object.values(node)) if (!collectStrings(value, into, depth + 1)) return false;
  return true;
}

/** Breaking changes first, at most {@link MAX_DRIFT_CHANGES}, and a note of how many were left out. */
export function boundedChanges(changes: readonly { readonly kind: string; readonly breaking: boolean; readonly message: string }[]): DriftChangeImpact[] {
  const ordered = [...changes.filter((c) => c.breaking), ...changes.filter((c) => !c.breaking)];
  const kept = ordered.slice(0, MAX_DRIFT_CHANGES).map((c) => ({ kind: c.kind, breaking: c.breaking, message: c.message }));
  if (ordered.length > kept.length) kept.push({ kind: 'more', breaking: false, message: `and ${ordered.length - kept.length} more changes` });
  return kept;
}

/**
 * The data part of an action's impact: what its SQL does, the rows it
 * writes, its drift, and why it cannot be undone. SQL without facts about it
 * (no analyzer ran, or the facts describe other SQL) is the worst SQL:
 * unanalyzable, drifting, with an unknown row estimate. Pure.
 */
export function dataImpact(action: Action, tool: ToolSpec | undefined, facts: ActionFacts | undefined): DataImpact {
  const out: { -readonly [K in keyof DataImpact]: DataImpact[K] } = {};
  if (action.sql !== undefined) {
    const known = facts?.sql !== undefined && facts.sql.source === action.sql ? facts.sql : undefined;
    if (known) {
      out.sql = known.sql;
      out.drift = known.drift;
      if (known.rows.known) {
        out.rows = known.rows.rows;
        out.rowFraction = known.rows.maxFraction;
        out.rowEstimate = { known: true, statements: known.rows.statements };
      } else out.rowEstimate = { known: false, reason: known.rows.reason, statements: [] };
    } else {
      const why = facts?.failure ?? 'the SQL was not analyzed';
      out.sql = { analyzed: false, error: why, class: 'unanalyzable', destructive: true, writes: true, ddl: true, statements: [] };
      out.rowEstimate = { known: false, reason: why, statements: [] };
      out.drift = { drifting: true, baselines: [], changes: [], issues: [`${why}, so it counts as drift`] };
    }
    const because = irreversibleStatement(out.sql);
    if (because !== undefined) out.irreversibleBecause = because;
  }
  if (tool?.config) {
    const drift = facts?.config?.drift ?? { drifting: true, baselines: [], changes: [], issues: [facts?.failure ?? 'the configuration document was not compared with its baseline, so it counts as drift'] };
    out.drift = out.drift ? mergeDrift(out.drift, drift) : drift;
  }
  return out;
}

/** The statement that makes a script irreversible (the most severe such statement, the first on a tie), for humans. */
function irreversibleStatement(sql: SqlImpact): string | undefined {
  if (!sql.analyzed) return `${sql.error ?? 'the SQL was not analyzed'}, so it counts as irreversible`;
  let worst: SqlStatementImpact | undefined;
  for (const s of sql.statements) {
    if (s.irreversible && (worst === undefined || severity(s.class) > severity(worst.class))) worst = s;
  }
  if (worst === undefined) return undefined;
  const what = worst.reasons.length > 0 ? worst.reasons.join('; ') : `${worst.command} ${worst.tables.join(', ')}`.trim();
  return `statement ${worst.index + 1}: ${what}`;
}

function mergeDrift(a: DriftImpact, b: DriftImpact): DriftImpact {
  return { drifting: a.drifting || b.drifting, baselines: [...a.baselines, ...b.baselines], changes: [...a.changes, ...b.changes], issues: [...a.issues, ...b.issues] };
}

function statementIndex(path: string): number | undefined {
  const m = /^statements\[(\d+)\]/.exec(path);
  return m ? Number(m[1]) : undefined;
}

function describeIssue(issue: Issue): string {
  const index = statementIndex(issue.path);
  if (index === undefined) return issue.message;
  return `statement ${index + 1}${issue.line === undefined ? '' : ` (line ${issue.line})`}: ${issue.message}`;
}

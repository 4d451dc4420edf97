import { readFile } from 'node:fs/promises';
import { extname, isAbsolute, relative, resolve } from 'node:path';
import type { Action, DriftImpact } from '../core/types.js';
import { sqlDriftImpact, sqlImpactOf, boundedChanges, type ActionFacts, type ConfigFacts, type RowFacts, type SqlFacts } from '../impact/action-facts.js';
import { configDrift, type JsonSchema } from '../impact/config/config-drift.js';
import type { DataStoreSpec, Inventory } from '../impact/inventory.js';
import { normalizeAction } from '../impact/normalize-action.js';
import { classifySql, type SqlAnalysis } from '../impact/sql/classify-sql.js';
import type { SqlParser, SqlParseResult } from '../impact/sql/sql-parser.js';
import type { CompiledPolicy } from '../policy/compile-policy.js';
import type { ConfigToolSpec } from '../policy/policy.js';
import { isDatabaseId, latestBaselineVersion, loadBaseline, type Baseline } from './baseline-store.js';
import { parseConfigDocument } from './config-document.js';
import { createRowEstimator, type RowEstimate, type RowEstimator } from './explain-rows.js';
import { loadSqlParser } from './pg-parser.js';

/** Options of {@link createActionAnalyzers}. */
export interface ActionAnalyzersOptions {
  /** Schema baselines are read from `<dataDir>/baselines/<database>/`. */
  readonly dataDir: string;
  /** Configuration baselines and schemas are files relative to this directory (the policy file's). */
  readonly policyDir: string;
  /** Where the inventory's `explain.urlEnv` variables are looked up (process.env in production). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Ask the database's planner for row estimates (default true); false leaves them unknown. */
  readonly explain?: boolean;
  /** Creates the estimator of one connection URL; tests substitute their own. Default {@link createRowEstimator}. */
  readonly createEstimator?: (connectionString: string) => RowEstimator;
}

/**
 * The analyzers step of the decision path: what Governor can find out about
 * an action before the pure evaluation, with I/O (the SQL parser's
 * WebAssembly, baseline files, the database's planner, configuration files).
 */
export interface ActionAnalyzers {
  /**
   * The facts about one action: its SQL classified statement by statement,
   * the drift from the latest schema baseline of the database it targets, the
   * planner's row estimate, a configuration document's drift. Expected
   * failures (no baseline, no connection, a refused statement) are facts that
   * fail closed; a fault of the analyzer itself rejects.
   */
  analyze(policy: CompiledPolicy, action: Action): Promise<ActionFacts>;
  /**
   * Whether `analyze` has anything to do for this action (SQL, in the action
   * or in the tool's SQL parameter, or a configuration tool): most actions
   * have neither and skip the step entirely. Cheap, synchronous.
   */
  needed(policy: CompiledPolicy, action: Action): boolean;
  /** Ends the estimators' connection pools. */
  close(): Promise<void>;
}

/** Creates the analyzers. Estimators (one pool per connection URL, at most two connections each) are created on first use. */
export function createActionAnalyzers(options: ActionAnalyzersOptions): ActionAnalyzers {
  const config = Object.freeze({ ...options });
  const estimators = new Map<string, RowEstimator>();
  const baselines = new Map<string, Baseline>();
  let closed = false;

  const baselineOf = async (id: string): Promise<{ label: string; schema: Baseline['schema'] } | { missing: string }> => {
    if (!isDatabaseId(id)) return { missing: `data store id "${id}" cannot name schema baselines: give it a baseline id in the inventory (dataStores[].baseline)` };
    let version: number | undefined;
    try {
      version = await latestBaselineVersion(config.dataDir, id);
    } catch (err) {
      return { missing: `the baselines of database ${id} could not be read (${message(err)})` };
    }
    if (version === undefined) return { missing: `there is no schema baseline of database ${id} to compare with: take one with governor schema snapshot --database ${id}` };
    let baseline = baselines.get(id);
    if (baseline?.version !== version) {
      try {
        baseline = await loadBaseline(config.dataDir, id, version);
      } catch (err) {
        return { missing: `baseline v${version} of database ${id} could not be used (${message(err)})` };
      }
      baselines.set(id, baseline);
    }
    return { label: `database ${id}, baseline v${baseline.version}`, schema: baseline.schema };
  };

  const estimate = async (store: DataStoreSpec | undefined, sql: string, analysis: SqlAnalysis): Promise<RowFacts> => {
    // A script that only reads writes no row: nothing to ask the planner.
    if (analysis.ok && !analysis.writes) return { known: true, rows: 0, maxFraction: 0, statements: [] };
    if (config.explain === false) return { known: false, reason: 'row estimates are off here; governor check --explain asks the database' };
    if (!store) return { known: false, reason: 'the SQL names no data store of the inventory to estimate its rows on' };
    if (!store.explain) return { known: false, reason: `no EXPLAIN connection for data store ${store.id} (inventory: dataStores[].explain.urlEnv)` };
    const url = config.env[store.explain.urlEnv];
    if (!url) return { known: false, reason: `environment variable ${store.explain.urlEnv} (the EXPLAIN connection of data store ${store.id}) is not set` };
    if (closed) return { known: false, reason: 'the analyzers are closed' };
    let estimator = estimators.get(url);
    if (!estimator) {
      estimator = (config.createEstimator ?? ((connectionString: string) => createRowEstimator({ connectionString })))(url);
      estimators.set(url, estimator);
    }
    return rowFacts(await estimator.estimate(sql));
  };

  const analyzeSql = async (inventory: Inventory, action: Action, sql: string): Promise<SqlFacts> => {
    const parser = await loadSqlParser();
    // One parse serves both the classification and the drift; the classifier parses only what is within its bounds.
    let parsed: SqlParseResult | undefined;
    const once: SqlParser = { parse: (text) => (text === sql ? (parsed ??= parser.parse(text)) : parser.parse(text)) };
    const analysis = classifySql(once, sql);
    const tree = analysis.ok && parsed?.ok ? parsed.value.stmts : undefined;
    const target = databaseOf(inventory, action);
    const store = 'store' in target ? target.store : undefined;
    // Only a script that changes the schema (and parses) is compared with a baseline.
    const needsBaseline = analysis.ddl && analysis.ok;
    const [baseline, rows] = await Promise.all([
      !needsBaseline ? undefined : 'store' in target ? baselineOf(target.store.baseline ?? target.store.id) : { missing: target.problem },
      estimate(store, sql, analysis),
    ]);
    const drift = sqlDriftImpact({ analysis, statements: tree, sql, baseline: baseline ?? { missing: 'no baseline needed' } });
    return { source: sql, sql: sqlImpactOf(analysis, store?.id), rows, drift };
  };

  const analyzeConfig = async (spec: ConfigToolSpec, action: Action): Promise<ConfigFacts> => {
    const refused = (why: string): ConfigFacts => ({ drift: { drifting: true, baselines: [], changes: [], issues: [why] } });
    const params = action.params ?? {};
    const raw = Object.prototype.hasOwnProperty.call(params, spec.documentParam) ? params[spec.documentParam] : undefined;
    if (raw === undefined) return refused(`parameter "${spec.documentParam}" (the proposed configuration document) is missing`);
    let proposed: unknown = raw;
    if (typeof raw === 'string') {
      const parsed = parseConfigDocument(raw, spec.format);
      if (!parsed.ok) return refused(`parameter "${spec.documentParam}" is not a ${spec.format.toUpperCase()} document: ${parsed.issues.map((i) => i.message).join('; ')}`);
      proposed = parsed.value;
    }
    const baselineFile = configFile(spec.baseline, action);
    if (!baselineFile.ok) return refused(baselineFile.reason);
    const baseline = await readDocument(baselineFile.path);
    if (!baseline.ok) return refused(`the baseline ${spec.baseline} could not be read: ${baseline.reason}`);
    let schema: JsonSchema | undefined;
    if (spec.schema !== undefined) {
      const schemaFile = configFile(spec.schema, action);
      if (!schemaFile.ok) return refused(schemaFile.reason);
      const read = await readDocument(schemaFile.path);
      if (!read.ok) return refused(`the schema ${spec.schema} could not be read: ${read.reason}`);
      if (typeof read.value !== 'boolean' && (typeof read.value !== 'object' || read.value === null || Array.isArray(read.value))) return refused(`the schema ${spec.schema} is not a JSON Schema`);
      schema = read.value as JsonSchema;
    }
    const result = configDrift({ baseline: baseline.value, proposed, ...(schema === undefined ? {} : { schema }) });
    const drift: DriftImpact = { drifting: result.drifting, baselines: [`configuration ${baselineFile.label}`], changes: boundedChanges(result.changes), issues: [] };
    return { drift };
  };

  const configFile = (pattern: string, action: Action): { ok: true; path: string; label: string } | { ok: false; reason: string } => {
    let label = pattern;
    if (pattern.includes('{target}')) {
      const ids = (action.targets ?? []).map((t) => t.id);
      const id = ids[0];
      if (ids.length !== 1 || id === undefined) return { ok: false, reason: `${pattern} names the action's target, but the action has ${ids.length} targets` };
      // A target id becomes part of a path: only plain names, never a separator or "..".
      if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(id)) return { ok: false, reason: `target "${id}" cannot name a configuration file` };
      label = pattern.replaceAll('{target}', id);
    }
    const path = resolve(config.policyDir, label);
    const rel = relative(config.policyDir, path);
    if (rel.startsWith('..') || isAbsolute(rel)) return { ok: false, reason: `${label} is outside the policy's directory` };
    return { ok: true, path, label };
  };

  return {
    needed(policy, action) {
      if (action.sql !== undefined) return true;
      const tool = policy.tool(action.tool);
      return tool !== undefined && (tool.sqlParam !== undefined || tool.config !== undefined);
    },

    async analyze(policy, requested) {
      const tool = policy.tool(requested.tool);
      // The same normalization the evaluation applies: the SQL in the tool's parameter, the targets it names.
      const { action } = normalizeAction(requested, tool);
      const [sql, configFacts] = await Promise.all([
        action.sql === undefined ? undefined : analyzeSql(policy.inventory, action, action.sql),
        tool?.config ? analyzeConfig(tool.config, action) : undefined,
      ]);
      return { ...(sql ? { sql } : {}), ...(configFacts ? { config: configFacts } : {}) };
    },
    async close() {
      closed = true;
      const all = [...estimators.values()];
      estimators.clear();
      await Promise.all(all.map((e) => e.close()));
    },
  };
}

/** The one data store of the inventory an action's SQL runs on (its `database` target in the action's environment). */
function databaseOf(inventory: Inventory, action: Action): { store: DataStoreSpec } | { problem: string } {
  const ids = [...new Set((action.targets ?? []).filter((t) => t.kind === 'database').map((t) => t.id))];
  if (ids.length === 0) return { problem: 'the SQL names no database target, so there is no baseline to compare it with' };
  if (ids.length > 1) return { problem: `the SQL names ${ids.length} databases (${ids.join(', ')}); one baseline cannot describe them` };
  const store = inventory.spec.dataStores.find((d) => d.id === ids[0] && d.environment === action.environment);
  return store ? { store } : { problem: `database "${ids[0]}" is not in the inventory of environment "${action.environment}"` };
}

function rowFacts(estimate: RowEstimate): RowFacts {
  if (!estimate.known) return { known: false, reason: estimate.reason };
  return {
    known: true,
    rows: estimate.rows,
    maxFraction: estimate.maxFraction,
    statements: estimate.statements.map((s) => ({
      index: s.index,
      command: s.command,
      rows: s.rows,
      ...(s.table === undefined ? {} : { table: s.table }),
      ...(s.tableRows === undefined ? {} : { tableRows: s.tableRows }),
      ...(s.fraction === undefined ? {} : { fraction: s.fraction }),
    })),
  };
}

async function readDocument(path: string): Promise<{ ok: true; value: unknown } | { ok: false; reason: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { ok: false, reason: message(err) };
  }
  const parsed = parseConfigDocument(text, extname(path) === '.json' ? 'json' : 'yaml');
  return parsed.ok ? { ok: true, value: parsed.value } : { ok: false, reason: parsed.issues.map((i) => i.message).join('; ') };
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? 'unknown error';
}

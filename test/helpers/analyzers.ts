import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createActionAnalyzers, type ActionAnalyzers } from '../../src/analyzers/action-analyzers.js';
import { saveBaseline } from '../../src/analyzers/baseline-store.js';
import type { RowEstimate, RowEstimator } from '../../src/analyzers/explain-rows.js';
import { schemaFromDdl } from '../../src/analyzers/schema-from-ddl.js';
import type { Action, Principal } from '../../src/core/types.js';
import type { ActionFacts } from '../../src/impact/action-facts.js';
import { evaluatePolicy, type CompiledPolicy } from '../../src/policy/index.js';

/** Analyzers over a temporary data dir, with baselines built from DDL and a stand-in planner. */
export interface TestAnalyzers {
  readonly analyzers: ActionAnalyzers;
  readonly dataDir: string;
  /** The SQL each estimate was asked for. */
  readonly estimated: string[];
  /** The facts the decision service would pass for `action`, at `now`. */
  facts(policy: CompiledPolicy, action: Action, now?: number): Promise<ActionFacts>;
  /** evaluatePolicy with those facts. */
  evaluate(policy: CompiledPolicy, principal: Principal, action: Action, now?: number): Promise<ReturnType<typeof evaluatePolicy>>;
  cleanup(): Promise<void>;
}

/**
 * Analyzers for unit tests: `baselines` maps a database id to the DDL its
 * baseline is built from; `rows` is what the planner answers (an estimate, or
 * a function of the SQL); `env` names the EXPLAIN URLs (any non-empty value).
 */
export async function testAnalyzers(options: {
  readonly baselines?: Readonly<Record<string, string>>;
  readonly rows?: RowEstimate | ((sql: string) => RowEstimate);
  readonly env?: Readonly<Record<string, string>>;
  readonly policyDir?: string;
}): Promise<TestAnalyzers> {
  const dataDir = await mkdtemp(join(tmpdir(), 'governor-analyzers-'));
  for (const [database, ddl] of Object.entries(options.baselines ?? {})) {
    const built = await schemaFromDdl(ddl);
    if (!built.ok) throw new Error(`baseline DDL of ${database}: ${built.issues.map((i) => i.message).join('; ')}`);
    await saveBaseline(dataDir, database, built.schema, { source: 'ddl' });
  }
  const estimated: string[] = [];
  const rows = options.rows;
  const estimator: RowEstimator = {
    estimate: (sql) => {
      estimated.push(sql);
      return Promise.resolve(rows === undefined ? { known: false, reason: 'no planner in this test' } : typeof rows === 'function' ? rows(sql) : rows);
    },
    close: () => Promise.resolve(),
  };
  const analyzers = createActionAnalyzers({ dataDir, policyDir: options.policyDir ?? dataDir, env: options.env ?? {}, createEstimator: () => estimator });
  const facts = async (policy: CompiledPolicy, action: Action, now?: number): Promise<ActionFacts> => {
    const found = await analyzers.analyze(policy, action);
    return now === undefined ? found : { ...found, now };
  };
  return {
    analyzers,
    dataDir,
    estimated,
    facts,
    evaluate: async (policy, principal, action, now) => evaluatePolicy(policy, principal, action, await facts(policy, action, now)),
    cleanup: async () => {
      await analyzers.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createActionAnalyzers } from '../../analyzers/action-analyzers.js';
import { describeIssues, readPolicyFile } from '../../config/policy-file.js';
import type { DriftImpact, Evaluation, Impact, Principal } from '../../core/types.js';
import { parseDecisionRequest } from '../../decisions/validate-action.js';
import { defaultDataDir } from '../../main.js';
import { evaluatePolicy } from '../../policy/index.js';
import { configFlag, EXIT, parseFlags, UsageError, type Command, type Io } from '../args.js';
import { formatEvaluation } from '../format.js';

export const checkCommand: Command = {
  name: 'check',
  summary: 'evaluate an action file offline',
  help: `Usage: governor check ACTION.json [--config FILE] [--agent ID] [--role ROLE] [--task ID]
                      [--at TIME] [--data-dir DIR] [--explain] [--json]

Evaluates the action in ACTION.json ({ "action": { ... } }, optionally with a
"principal": { "agent", "role", "task" }) against the policy, without a server,
and prints the verdict, the predicted impact and the reasons.

SQL is classified statement by statement and compared with the latest schema
baseline of its database (in DIR/baselines, DIR defaulting to .governor beside
the policy file; see governor schema). Row estimates need the database:
--explain asks it (EXPLAIN, never executed) on the connection the inventory
names (dataStores[].explain.urlEnv); without it they are unknown.

--at TIME     decide as of this ISO 8601 time (change freezes); default now.

Exit code: 0 allow, 3 modify, 4 pending, 5 deny, 2 usage or invalid policy/action.`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      {
        ...configFlag,
        agent: { type: 'string' },
        role: { type: 'string' },
        task: { type: 'string' },
        at: { type: 'string' },
        'data-dir': { type: 'string' },
        explain: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
      1,
    );
    if (!positionals[0]) throw new UsageError('missing ACTION.json');
    const now = parseAt(values.at);
    const policyPath = resolve(io.cwd, values.config);
    const policy = await readPolicyFile(policyPath);
    if (!policy.ok) {
      io.err(`the policy is invalid:\n${describeIssues(policy.issues)}`);
      return EXIT.usage;
    }
    const file = resolve(io.cwd, positionals[0]);
    let body: { principal?: Partial<Principal> } & Record<string, unknown>;
    try {
      body = JSON.parse(await readFile(file, 'utf8')) as typeof body;
    } catch (err) {
      io.err(`${file}: ${(err as Error).message}`);
      return EXIT.usage;
    }
    const { principal: filePrincipal, ...request } = body ?? {};
    const action = parseDecisionRequest(request);
    if (!action.ok) {
      io.err(`${file}: invalid action:\n${action.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
      return EXIT.usage;
    }
    const task = values.task ?? filePrincipal?.task;
    const principal: Principal = {
      agent: values.agent ?? filePrincipal?.agent ?? 'cli',
      instance: 'cli',
      role: values.role ?? filePrincipal?.role ?? 'unknown',
      session: 'cli',
      ...(task ? { task } : {}),
    };
    const analyzers = createActionAnalyzers({ dataDir: dataDirOf(values['data-dir'], policyPath, io), policyDir: dirname(policyPath), env: io.env, explain: values.explain });
    let evaluation: Evaluation;
    try {
      const facts = await analyzers.analyze(policy.value, action.value);
      evaluation = evaluatePolicy(policy.value, principal, action.value, { ...facts, now });
    } finally {
      await analyzers.close();
    }
    io.out(values.json ? JSON.stringify({ ...evaluation, policy: { digest: policy.value.digest } }, null, 2) : [formatEvaluation(evaluation), ...formatDataImpact(evaluation.impact)].join('\n'));
    return exitCode(evaluation.verdict);
  },
};

/** The exit code of a verdict. */
export function exitCode(verdict: Evaluation['verdict']): number {
  return verdict === 'allow' ? EXIT.ok : verdict === 'modify' ? EXIT.modify : verdict === 'pending' ? EXIT.pending : EXIT.deny;
}

/** `--at TIME` as ms since the epoch, or now. */
export function parseAt(at: string | undefined): number {
  if (at === undefined) return Date.now();
  const ms = Date.parse(at);
  if (Number.isNaN(ms)) throw new UsageError(`--at: expected an ISO 8601 time (2026-12-24T12:00:00Z), got "${at}"`);
  return ms;
}

/** The data directory a command reads baselines from: --data-dir, or .governor beside the policy file. */
export function dataDirOf(flag: string | undefined, policyPath: string, io: Io): string {
  return flag ? resolve(io.cwd, flag) : defaultDataDir(policyPath);
}

/** What an impact says about the action's SQL, rows and drift, as lines for a terminal (none without them). */
export function formatDataImpact(impact: Impact): string[] {
  const lines: string[] = [];
  const sql = impact.sql;
  if (sql) {
    lines.push(`sql${sql.database ? ` on ${sql.database}` : ''}: ${sql.analyzed ? sql.class : `NOT ANALYZED (${sql.error ?? 'unknown'})`}`);
    if (sql.analyzed && sql.error) lines.push(`  ${sql.error}`);
    for (const s of sql.statements) {
      lines.push(`  ${s.index + 1}. ${s.command} [${s.class}]${s.tables.length > 0 ? ` ${s.tables.join(', ')}` : ''}: ${s.reasons.join('; ')}`);
    }
  }
  const rows = impact.rowEstimate;
  if (rows) {
    if (!rows.known) lines.push(`rows: unknown (${rows.reason ?? 'not estimated'})`);
    else {
      lines.push(`rows: ~${Math.round(impact.rows ?? 0)} written, at most ${Math.round((impact.rowFraction ?? 0) * 1000) / 10}% of one table`);
      for (const s of rows.statements) {
        lines.push(`  ${s.index + 1}. ${s.command}${s.table ? ` ${s.table}` : ''}: ~${Math.round(s.rows)} rows${s.tableRows === undefined ? '' : ` of ${Math.round(s.tableRows)}`}`);
      }
    }
  }
  if (impact.drift) lines.push(...formatDrift(impact.drift));
  return lines;
}

/** A drift report as lines: `drift: NONE` or `drift: DRIFTING (...)` with the changes and issues. */
export function formatDrift(drift: DriftImpact): string[] {
  const against = drift.baselines.length > 0 ? ` (${drift.baselines.join(', ')})` : '';
  const lines = [`drift: ${drift.drifting ? 'DRIFTING' : 'none'}${against}`];
  for (const c of drift.changes) lines.push(`  ${c.breaking ? '-' : '+'} ${c.message}${c.breaking ? '' : ' (not breaking)'}`);
  for (const i of drift.issues) lines.push(`  ! ${i}`);
  return lines;
}

import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { createActionAnalyzers, type ActionAnalyzers } from '../../analyzers/action-analyzers.js';
import { describeIssues, readPolicyFile } from '../../config/policy-file.js';
import type { Principal, Verdict } from '../../core/types.js';
import { parseDecisionRequest } from '../../decisions/validate-action.js';
import { evaluatePolicy } from '../../policy/index.js';
import { configFlag, EXIT, parseFlags, UsageError, type Command } from '../args.js';
import { dataDirOf, parseAt } from './check.js';

interface Case {
  readonly name?: string;
  readonly principal?: Partial<Principal>;
  readonly action?: unknown;
  /** Decide as of this ISO 8601 time (change freezes); default the run's time. */
  readonly at?: string;
  readonly expect?: { readonly verdict?: Verdict; readonly rules?: readonly string[]; readonly tier?: string; readonly shadow?: Verdict; readonly budgets?: readonly string[] };
}

export const policyCommand: Command = {
  name: 'policy',
  summary: 'test a policy against fixtures',
  help: `Usage: governor policy test DIR [--config FILE] [--at TIME] [--data-dir DIR]

Runs every fixture file (*.yaml, *.yml, *.json) in DIR against the policy, the
way 'opa test' does. A fixture file holds a list of cases:

  cases:
    - name: staging deployer cannot reach prod
      principal: { agent: bot, role: staging-deployer }
      action: { tool: http_request, environment: staging, params: { url: "https://db.prod.internal" } }
      expect: { verdict: deny, rules: [network-zones] }

expect.verdict is required; expect.rules lists rule ids that must be among the
reasons; expect.tier the approval tier; expect.shadow the shadow verdict;
expect.budgets the budget rules the action draws on.

SQL in a case is analyzed as the server would (statements, drift from the
schema baselines in --data-dir), without row estimates. A case's "at" (an ISO
8601 time) or --at sets the time of the decision (change freezes); default now.
Exit code 0 when every case passes, 1 otherwise.`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { ...configFlag, at: { type: 'string' }, 'data-dir': { type: 'string' } }, 2);
    if (positionals[0] !== 'test') throw new UsageError(positionals[0] ? `unknown subcommand "${positionals[0]}"` : 'missing subcommand: test');
    if (!positionals[1]) throw new UsageError('missing DIR');
    const now = parseAt(values.at);
    const policyPath = resolve(io.cwd, values.config);
    const policy = await readPolicyFile(policyPath);
    if (!policy.ok) {
      io.err(`the policy is invalid:\n${describeIssues(policy.issues)}`);
      return EXIT.usage;
    }
    const dir = resolve(io.cwd, positionals[1]);
    const files = (await readdir(dir)).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();
    if (files.length === 0) throw new UsageError(`no fixture files (*.yaml, *.json) in ${dir}`);
    let passed = 0;
    let failed = 0;
    const analyzers = createActionAnalyzers({ dataDir: dataDirOf(values['data-dir'], policyPath, io), policyDir: dirname(policyPath), env: io.env, explain: false });
    for (const f of files) {
      const doc = parseYaml(await readFile(join(dir, f), 'utf8')) as { cases?: Case[] } | null;
      const cases = doc?.cases;
      if (!Array.isArray(cases)) {
        io.out(`FAIL ${f}: expected a top-level "cases" list`);
        failed++;
        continue;
      }
      for (const [i, c] of cases.entries()) {
        const name = `${f} › ${c.name ?? `case ${i + 1}`}`;
        const problems = await runCase(c, policy.value, analyzers, now);
        if (problems.length === 0) {
          passed++;
          io.out(`PASS ${name}`);
        } else {
          failed++;
          io.out(`FAIL ${name}\n${problems.map((p) => `     ${p}`).join('\n')}`);
        }
      }
    }
    await analyzers.close();
    io.out(`\n${passed} passed, ${failed} failed`);
    return failed === 0 ? EXIT.ok : EXIT.failure;
  },
};

async function runCase(c: Case, policy: Parameters<typeof evaluatePolicy>[0], analyzers: ActionAnalyzers, runAt: number): Promise<string[]> {
  if (!c.expect?.verdict) return ['expect.verdict is required'];
  const action = parseDecisionRequest({ action: c.action });
  if (!action.ok) return action.issues.map((i) => `invalid action: ${i.path}: ${i.message}`);
  const now = c.at === undefined ? runAt : Date.parse(String(c.at));
  if (Number.isNaN(now)) return [`at: expected an ISO 8601 time, got ${JSON.stringify(c.at)}`];
  const p = c.principal ?? {};
  const principal: Principal = { agent: p.agent ?? 'test', instance: p.instance ?? 'test', role: p.role ?? 'unknown', session: p.session ?? 'test', ...(p.task ? { task: p.task } : {}) };
  const facts = await analyzers.analyze(policy, action.value);
  const e = evaluatePolicy(policy, principal, action.value, { ...facts, now });
  const problems: string[] = [];
  if (e.verdict !== c.expect.verdict) {
    problems.push(`verdict: expected ${c.expect.verdict}, got ${e.verdict}`);
    for (const r of e.reasons) problems.push(`  [${r.effect}] ${r.rule}: ${r.message}`);
  }
  const rules = new Set(e.reasons.map((r) => r.rule));
  for (const rule of c.expect.rules ?? []) if (!rules.has(rule)) problems.push(`expected a reason from rule "${rule}", got ${[...rules].join(', ') || 'none'}`);
  if (c.expect.tier !== undefined && e.approval?.tier !== c.expect.tier) problems.push(`tier: expected ${c.expect.tier}, got ${e.approval?.tier ?? 'none'}`);
  if (c.expect.shadow !== undefined && e.shadow.verdict !== c.expect.shadow) problems.push(`shadow verdict: expected ${c.expect.shadow}, got ${e.shadow.verdict}`);
  const drawn = new Set((e.budgets ?? []).map((b) => b.rule));
  for (const rule of c.expect.budgets ?? []) if (!drawn.has(rule)) problems.push(`expected a draw on budget "${rule}", got ${[...drawn].join(', ') || 'none'}`);
  return problems;
}

import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describeIssues, readPolicyFile } from '../../config/policy-file.js';
import type { Principal, Verdict } from '../../core/types.js';
import { parseDecisionRequest } from '../../decisions/validate-action.js';
import { evaluatePolicy } from '../../policy/index.js';
import { configFlag, EXIT, parseFlags, UsageError, type Command } from '../args.js';

interface Case {
  readonly name?: string;
  readonly principal?: Partial<Principal>;
  readonly action?: unknown;
  readonly expect?: { readonly verdict?: Verdict; readonly rules?: readonly string[]; readonly tier?: string; readonly shadow?: Verdict; readonly budgets?: readonly string[] };
}

export const policyCommand: Command = {
  name: 'policy',
  summary: 'test a policy against fixtures',
  help: `Usage: governor policy test DIR [--config FILE]

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
Exit code 0 when every case passes, 1 otherwise.`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { ...configFlag }, 2);
    if (positionals[0] !== 'test') throw new UsageError(positionals[0] ? `unknown subcommand "${positionals[0]}"` : 'missing subcommand: test');
    if (!positionals[1]) throw new UsageError('missing DIR');
    const policy = await readPolicyFile(resolve(io.cwd, values.config));
    if (!policy.ok) {
      io.err(`the policy is invalid:\n${describeIssues(policy.issues)}`);
      return EXIT.usage;
    }
    const dir = resolve(io.cwd, positionals[1]);
    const files = (await readdir(dir)).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();
    if (files.length === 0) throw new UsageError(`no fixture files (*.yaml, *.json) in ${dir}`);
    let passed = 0;
    let failed = 0;
    for (const f of files) {
      const doc = parseYaml(await readFile(join(dir, f), 'utf8')) as { cases?: Case[] } | null;
      const cases = doc?.cases;
      if (!Array.isArray(cases)) {
        io.out(`FAIL ${f}: expected a top-level "cases" list`);
        failed++;
        continue;
      }
      cases.forEach((c, i) => {
        const name = `${f} › ${c.name ?? `case ${i + 1}`}`;
        const problems = runCase(c, policy.value);
        if (problems.length === 0) {
          passed++;
          io.out(`PASS ${name}`);
        } else {
          failed++;
          io.out(`FAIL ${name}\n${problems.map((p) => `     ${p}`).join('\n')}`);
        }
      });
    }
    io.out(`\n${passed} passed, ${failed} failed`);
    return failed === 0 ? EXIT.ok : EXIT.failure;
  },
};

function runCase(c: Case, policy: Parameters<typeof evaluatePolicy>[0]): string[] {
  if (!c.expect?.verdict) return ['expect.verdict is required'];
  const action = parseDecisionRequest({ action: c.action });
  if (!action.ok) return action.issues.map((i) => `invalid action: ${i.path}: ${i.message}`);
  const p = c.principal ?? {};
  const principal: Principal = { agent: p.agent ?? 'test', instance: p.instance ?? 'test', role: p.role ?? 'unknown', session: p.session ?? 'test', ...(p.task ? { task: p.task } : {}) };
  const e = evaluatePolicy(policy, principal, action.value);
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

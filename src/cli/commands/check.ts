import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describeIssues, readPolicyFile } from '../../config/policy-file.js';
import type { Evaluation, Principal } from '../../core/types.js';
import { parseDecisionRequest } from '../../decisions/validate-action.js';
import { evaluatePolicy } from '../../policy/index.js';
import { configFlag, EXIT, parseFlags, UsageError, type Command } from '../args.js';
import { formatEvaluation } from '../format.js';

export const checkCommand: Command = {
  name: 'check',
  summary: 'evaluate an action file offline',
  help: `Usage: governor check ACTION.json [--config FILE] [--agent ID] [--role ROLE] [--task ID] [--json]

Evaluates the action in ACTION.json ({ "action": { ... } }, optionally with a
"principal": { "agent", "role", "task" }) against the policy, without a server,
and prints the verdict, the predicted impact and the reasons.

Exit code: 0 allow, 3 modify, 4 pending, 5 deny, 2 usage or invalid policy/action.`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      { ...configFlag, agent: { type: 'string' }, role: { type: 'string' }, task: { type: 'string' }, json: { type: 'boolean', default: false } },
      1,
    );
    if (!positionals[0]) throw new UsageError('missing ACTION.json');
    const policy = await readPolicyFile(resolve(io.cwd, values.config));
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
    const evaluation: Evaluation = evaluatePolicy(policy.value, principal, action.value);
    io.out(values.json ? JSON.stringify({ ...evaluation, policy: { digest: policy.value.digest } }, null, 2) : formatEvaluation(evaluation));
    return exitCode(evaluation.verdict);
  },
};

/** The exit code of a verdict. */
export function exitCode(verdict: Evaluation['verdict']): number {
  return verdict === 'allow' ? EXIT.ok : verdict === 'modify' ? EXIT.modify : verdict === 'pending' ? EXIT.pending : EXIT.deny;
}

import type { Action, Impact, Principal } from '../core/types.js';
import { createCelContext } from './cel-environment.js';
import type { CompiledPolicy, CompiledRule } from './compile-policy.js';

/** Whether an agent could ever be allowed to call a tool, and if not, why. */
export interface ToolVisibility {
  readonly visible: boolean;
  readonly reason?: string;
}

const UNKNOWN_IMPACT: Impact = { known: false, unknown: ['probe'], replicas: 0, trafficFraction: 0, totalTrafficFraction: 0, dependents: [], reversible: false, resources: [], endpoints: [] };

/**
 * Decides whether `principal` may ever call `tool` in `environment` under the
 * policy, whatever the arguments: a tool is hidden only when that is certain
 * (an unconditional deny, an identity binding the principal fails, or no allow
 * rule that could match). Conditions that read the action or its impact are
 * assumed to be able to match, so a callable tool is never hidden; hiding is a
 * convenience, every call is still decided in full. Pure.
 */
export function toolVisibility(policy: CompiledPolicy, principal: Principal, tool: string, environment: string): ToolVisibility {
  const action: Action = { tool, environment, ...(principal.task === undefined ? {} : { taskId: principal.task }) };
  const input = { principal, action, impact: UNKNOWN_IMPACT, tool: policy.tool(tool) };
  const context = createCelContext(principal, action, UNKNOWN_IMPACT);
  let mayBeAllowed = policy.fallback(environment) === 'allow';
  for (const rule of policy.rulesFor(tool, environment)) {
    if (rule.spec.mode !== 'enforce') continue;
    const applies = principalOnly(rule) ? conditionHolds(rule, context) : 'maybe';
    if (applies === false) continue;
    const kind = rule.spec.primitive.kind;
    if (applies === true && (kind === 'deny' || kind === 'identity-binding')) {
      let outcome;
      try {
        outcome = rule.evaluate(input);
      } catch {
        continue;
      }
      if (outcome?.effect === 'deny') return { visible: false, reason: `rule ${rule.spec.id}: ${outcome.message}` };
    }
    if (kind === 'allow') mayBeAllowed = true;
  }
  return mayBeAllowed ? { visible: true } : { visible: false, reason: `no rule allows ${tool} in ${environment} for role ${principal.role}` };
}

/** True when the rule's condition reads only the principal (or there is none), so it can be decided now. */
function principalOnly(rule: CompiledRule): boolean {
  if (rule.condition === undefined || rule.spec.when === undefined) return true;
  const code = rule.spec.when.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  return !/\b(action|impact)\b/.test(code);
}

function conditionHolds(rule: CompiledRule, context: ReturnType<typeof createCelContext>): boolean | 'maybe' {
  if (rule.condition === undefined) return true;
  try {
    const value = rule.condition(context);
    return value === true ? true : value === false ? false : 'maybe';
  } catch {
    return 'maybe';
  }
}

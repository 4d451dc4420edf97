import { decide } from '../core/decide.js';
import type { Action, Evaluation, Impact, Principal, Reason, Target, Tier, Verdict } from '../core/types.js';
import { normalizeAction } from '../impact/normalize-action.js';
import { predictImpact } from '../impact/predict-impact.js';
import { createCelContext } from './cel-environment.js';
import type { CompiledPolicy, CompiledRule } from './compile-policy.js';
import type { ToolSpec } from './policy.js';

interface Pass {
  readonly action: Action;
  readonly impact: Impact;
  readonly enforced: Reason[];
  readonly shadow: Reason[];
  /** Smallest scale any enforced modify reason asked for. */
  readonly scale: number;
}

/**
 * The decision function: normalizes the action through the tool catalog,
 * predicts its impact, runs every applicable rule and combines their reasons.
 * Pure: the same policy, principal and action always give the same evaluation.
 *
 * When a blast-radius bound modifies the action, the bounded step is predicted
 * and evaluated again with modification turned off, so a step that still
 * breaks any rule is denied rather than allowed.
 */
export function evaluatePolicy(policy: CompiledPolicy, principal: Principal, requested: Action): Evaluation {
  const tool = policy.tool(requested.tool);
  const first = runPass(policy, principal, requested, tool, true);
  const fallback = policy.fallback(first.action.environment);
  const shadowVerdict = decide([...first.enforced, ...first.shadow], fallback).verdict;
  const shadow = { verdict: shadowVerdict, reasons: first.shadow };
  const combined = decide(first.enforced, fallback);
  const withDefault = (reasons: Reason[], verdict: string) =>
    verdict === 'deny' && !reasons.some((r) => r.effect === 'deny') ? [...reasons, defaultDeny(first.action)] : reasons;

  if (combined.verdict !== 'modify' && !(combined.verdict === 'pending' && first.scale < 1)) {
    return result(combined.verdict, first, withDefault(first.enforced, combined.verdict), shadow, combined.tier);
  }

  const bounded = tool ? boundAction(first.action, first.impact, first.scale, tool) : undefined;
  const modifyReasons = first.enforced.filter((r) => r.effect === 'modify');
  if (!bounded) {
    const reasons = [...first.enforced.filter((r) => r.effect !== 'modify'), ...modifyReasons.map((r) => ({ ...r, effect: 'deny' as const, code: 'BLAST_RADIUS_EXCEEDED', message: `${r.message}, but no step of at least one replica fits` }))];
    return { verdict: 'deny', action: first.action, impact: first.impact, reasons, shadow };
  }
  const second = runPass(policy, principal, bounded, tool, false);
  const again = decide(second.enforced, policy.fallback(second.action.environment));
  const reasons = withDefault([...modifyReasons, ...second.enforced], again.verdict);
  const verdict = again.verdict === 'allow' ? 'modify' : again.verdict;
  return result(verdict, second, reasons, shadow, again.tier);
}

function runPass(policy: CompiledPolicy, principal: Principal, requested: Action, tool: ToolSpec | undefined, allowModify: boolean): Pass {
  const normalized = normalizeAction(requested, tool);
  const action = normalized.action;
  const impact = predictImpact(action, tool, policy.inventory, normalized.problems);
  const context = createCelContext(principal, action, impact);
  const input = { principal, action, impact, tool };
  const enforced: Reason[] = [];
  const shadow: Reason[] = [];
  let scale = 1;
  for (const rule of policy.rulesFor(action.tool, action.environment)) {
    const reason = runRule(rule, context, input, allowModify);
    if (!reason) continue;
    if (rule.spec.mode === 'shadow') {
      shadow.push(reason);
      continue;
    }
    enforced.push(reason);
    if (reason.effect === 'modify' && reason.scale !== undefined) scale = Math.min(scale, reason.scale);
  }
  return { action, impact, enforced, shadow, scale };
}

function runRule(rule: CompiledRule, context: ReturnType<typeof createCelContext>, input: Parameters<CompiledRule['evaluate']>[0], allowModify: boolean): Reason | undefined {
  const reason = (effect: Reason['effect'], message: string, code?: string): Mutable<Reason> => {
    // Built field by field: object spreads with extra keys are a slow path in V8, and this runs per rule per decision.
    const r: Mutable<Reason> = { rule: rule.spec.id, primitive: rule.primitive, mode: rule.spec.mode, effect, message };
    if (code !== undefined) r.code = code;
    return r;
  };
  try {
    if (rule.condition) {
      const matched = rule.condition(context);
      if (matched === false) return undefined;
      if (matched !== true) return reason('deny', 'the condition did not evaluate to a bool', 'POLICY_EVALUATION_FAILED');
    }
    const outcome = rule.evaluate(input);
    if (!outcome) return undefined;
    if (outcome.effect === 'modify' && !allowModify) {
      return reason('deny', `the bounded step is still over the ceiling: ${outcome.message}`, outcome.code ?? 'BLAST_RADIUS_EXCEEDED');
    }
    const r = reason(outcome.effect, outcome.message, outcome.code);
    if (outcome.tier !== undefined) r.tier = outcome.tier;
    if (outcome.scale !== undefined) r.scale = outcome.scale;
    return r;
  } catch (err) {
    // Fail closed: a rule that cannot be evaluated denies, and says why.
    return reason('deny', `the condition could not be evaluated: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`, 'POLICY_EVALUATION_FAILED');
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Scales every target of an action down to `scale` of the replicas it touches
 * (at least one replica each), in both the targets and the tool's parameters.
 * Undefined when some target would be left with no replica.
 */
function boundAction(action: Action, impact: Impact, scale: number, tool: ToolSpec): Action | undefined {
  const targets: Target[] = [];
  let smallestCount = Infinity;
  let smallestFraction = Infinity;
  for (const r of impact.resources) {
    if (r.relation !== 'target') continue;
    const count = Math.floor(r.affectedReplicas * scale + 1e-9);
    if (count < 1 || r.replicas === 0) return undefined;
    const fraction = count / r.replicas;
    targets.push({ kind: r.kind, id: r.id, count, fraction });
    smallestCount = Math.min(smallestCount, count);
    smallestFraction = Math.min(smallestFraction, fraction);
  }
  if (targets.length === 0) return undefined;
  const params: Record<string, unknown> = { ...action.params };
  const spec = tool.targets;
  const usesCount = spec?.countParam !== undefined && Object.prototype.hasOwnProperty.call(params, spec.countParam);
  if (spec?.countParam && (usesCount || !spec.fractionParam)) params[spec.countParam] = smallestCount;
  if (spec?.fractionParam && !usesCount) params[spec.fractionParam] = smallestFraction;
  return { ...action, targets, params };
}

function result(verdict: Verdict, pass: Pass, reasons: readonly Reason[], shadow: Evaluation['shadow'], tier: Tier | undefined): Evaluation {
  const evaluation: Mutable<Evaluation> = { verdict, action: pass.action, impact: pass.impact, reasons, shadow };
  if (verdict === 'pending' && tier !== undefined) {
    const rules = pass.enforced.filter((r) => r.effect === 'approve').map((r) => r.rule);
    evaluation.approval = { tier, irreversible: !pass.impact.reversible, rules };
  }
  return evaluation;
}

function defaultDeny(action: Action): Reason {
  return {
    rule: 'default',
    primitive: 'default',
    effect: 'deny',
    mode: 'enforce',
    code: 'NO_MATCHING_ALLOW',
    message: `no rule allows tool "${action.tool}" in environment "${action.environment}" (default deny)`,
  };
}

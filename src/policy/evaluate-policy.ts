import { decide } from '../core/decide.js';
import type { Action, ApprovalRequirement, BudgetDraw, Evaluation, Impact, Principal, Quorum, Reason, Target, Tier, Verdict } from '../core/types.js';
import type { ActionFacts } from '../impact/action-facts.js';
import type { Inventory } from '../impact/inventory.js';
import { normalizeAction } from '../impact/normalize-action.js';
import { predictImpact } from '../impact/predict-impact.js';
import { createCelContext } from './cel-environment.js';
import type { CompiledPolicy, CompiledRule } from './compile-policy.js';
import type { ApprovalSpec, BudgetSpec, ToolSpec } from './policy.js';
import type { PrimitiveInput } from './primitives/rule-outcome.js';

/** Defaults of an approval requirement a rule leaves unset. */
export const APPROVAL_DEFAULTS = { approvals: 1, denials: 1, expirySeconds: 3_600, vetoWindowSeconds: 900 } as const;

interface Pass {
  readonly action: Action;
  readonly impact: Impact;
  readonly enforced: Reason[];
  readonly shadow: Reason[];
  /** Smallest scale any enforced modify reason asked for. */
  readonly scale: number;
  /** How each enforced escalating rule wants the action approved. */
  readonly approvals: { readonly tier: Tier; readonly spec: ApprovalSpec }[];
  /** What the action draws on the aggregate budgets whose rules matched. */
  readonly budgets: BudgetDraw[];
}

/**
 * The decision function: normalizes the action through the tool catalog,
 * predicts its impact, runs every applicable rule and combines their reasons.
 * Pure: the same policy, principal and action always give the same evaluation.
 *
 * When a blast-radius bound modifies the action, the bounded step is predicted
 * and evaluated again with modification turned off, so a step that still
 * breaks any rule is denied rather than allowed.
 *
 * `facts` are what the analyzers found out beforehand (the action's SQL, its
 * rows and drift, a configuration document's drift) and the decision's time;
 * the evaluation stays pure. Without them, SQL counts as the worst SQL and a
 * change freeze in scope as in force. Facts that report an analyzer failure
 * deny the action (`ANALYSIS_FAILED`).
 */
export function evaluatePolicy(policy: CompiledPolicy, principal: Principal, requested: Action, facts?: ActionFacts): Evaluation {
  const tool = policy.tool(requested.tool);
  const first = runPass(policy, principal, requested, tool, true, facts);
  const fallback = policy.fallback(first.action.environment);
  const shadowVerdict = decide([...first.enforced, ...first.shadow], fallback).verdict;
  const shadow = { verdict: shadowVerdict, reasons: first.shadow };
  const combined = decide(first.enforced, fallback);
  const withDefault = (reasons: Reason[], verdict: string) =>
    verdict === 'deny' && !reasons.some((r) => r.effect === 'deny') ? [...reasons, defaultDeny(first.action)] : reasons;

  if (combined.verdict !== 'modify' && !(combined.verdict === 'pending' && first.scale < 1)) {
    return result(policy.inventory, combined.verdict, first, withDefault(first.enforced, combined.verdict), shadow, combined.tier);
  }

  const bounded = tool ? boundAction(first.action, first.impact, first.scale, tool) : undefined;
  const modifyReasons = first.enforced.filter((r) => r.effect === 'modify');
  if (!bounded) {
    const reasons = [...first.enforced.filter((r) => r.effect !== 'modify'), ...modifyReasons.map((r) => ({ ...r, effect: 'deny' as const, code: 'BLAST_RADIUS_EXCEEDED', message: `${r.message}, but no step of at least one replica fits` }))];
    return { verdict: 'deny', action: first.action, impact: first.impact, reasons, shadow };
  }
  const second = runPass(policy, principal, bounded, tool, false, facts);
  const again = decide(second.enforced, policy.fallback(second.action.environment));
  const reasons = withDefault([...modifyReasons, ...second.enforced], again.verdict);
  const verdict = again.verdict === 'allow' ? 'modify' : again.verdict;
  return result(policy.inventory, verdict, second, reasons, shadow, again.tier);
}

function runPass(policy: CompiledPolicy, principal: Principal, requested: Action, tool: ToolSpec | undefined, allowModify: boolean, facts: ActionFacts | undefined): Pass {
  const normalized = normalizeAction(requested, tool);
  const action = normalized.action;
  const impact = predictImpact(action, tool, policy.inventory, normalized.problems, facts);
  const context = createCelContext(principal, action, impact);
  const input: PrimitiveInput = facts?.now === undefined ? { principal, action, impact, tool } : { principal, action, impact, tool, now: facts.now };
  const enforced: Reason[] = [];
  if (facts?.failure !== undefined) {
    // Fail closed: an action Governor could not analyze never runs, whatever the rules say.
    enforced.push({ rule: 'governor', primitive: 'default', effect: 'deny', mode: 'enforce', code: 'ANALYSIS_FAILED', message: `${facts.failure}; denied` });
  }
  const shadow: Reason[] = [];
  const approvals: Pass['approvals'] = [];
  const budgets: BudgetDraw[] = [];
  let scale = 1;
  for (const rule of policy.rulesFor(action.tool, action.environment)) {
    if (rule.spec.primitive.kind === 'budget') {
      if (rule.spec.mode === 'enforce') {
        const applies = budgetApplies(rule, context);
        if (applies === true) budgets.push(...budgetDraws(rule.spec.id, rule.spec.primitive.spec, action, impact));
        else if (applies !== false) enforced.push(applies);
      }
      continue;
    }
    const reason = runRule(rule, context, input, allowModify);
    if (!reason) continue;
    if (rule.spec.mode === 'shadow') {
      shadow.push(reason);
      continue;
    }
    enforced.push(reason);
    if (reason.effect === 'modify' && reason.scale !== undefined) scale = Math.min(scale, reason.scale);
    if (reason.effect === 'approve' && 'approval' in rule.spec.primitive) approvals.push({ tier: reason.tier ?? 'high', spec: rule.spec.primitive.approval });
  }
  return { action, impact, enforced, shadow, scale, approvals, budgets };
}

/** True when a budget rule's condition holds (or it has none); a deny reason when it cannot be evaluated. */
function budgetApplies(rule: CompiledRule, context: ReturnType<typeof createCelContext>): boolean | Reason {
  const fail = (message: string): Reason => ({ rule: rule.spec.id, primitive: 'budget', effect: 'deny', mode: 'enforce', code: 'POLICY_EVALUATION_FAILED', message });
  if (!rule.condition) return true;
  try {
    const matched = rule.condition(context);
    return typeof matched === 'boolean' ? matched : fail('the condition did not evaluate to a bool');
  } catch (err) {
    return fail(`the condition could not be evaluated: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
  }
}

/**
 * What one action draws on a budget: per environment, or per target resource.
 * Unknown impact draws Infinity, which no budget holds (fail closed).
 */
function budgetDraws(rule: string, spec: BudgetSpec, action: Action, impact: Impact): BudgetDraw[] {
  const draw = (key: string, scope: string, amount: number): BudgetDraw => ({ rule, key, amount: impact.known ? amount : Infinity, max: spec.max, windowSeconds: spec.windowSeconds, scope: `${spec.metric} of ${scope}` });
  // Rows come from the SQL's row estimate: an action without a known estimate draws Infinity (never fits).
  const rows = impact.rows;
  if (spec.scope === 'environment') {
    const amount = spec.metric === 'trafficFraction' ? impact.trafficFraction : spec.metric === 'replicas' ? impact.replicas : (rows ?? Infinity);
    return [draw(`${rule}|${action.environment}`, action.environment, amount)];
  }
  const targets = impact.resources.filter((r) => r.relation === 'target');
  if (targets.length === 0) return impact.known ? [] : [draw(`${rule}|${action.environment}|unknown`, `${action.environment}/unknown targets`, Infinity)];
  return targets.map((r) =>
    draw(
      `${rule}|${r.environment}|${r.kind}:${r.id}`,
      `${r.environment}/${r.kind}:${r.id}`,
      spec.metric === 'trafficFraction' ? r.trafficFraction : spec.metric === 'replicas' ? r.affectedReplicas : (rows ?? Infinity),
    ),
  );
}

function runRule(rule: CompiledRule, context: ReturnType<typeof createCelContext>, input: PrimitiveInput, allowModify: boolean): Reason | undefined {
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

function result(inventory: Inventory, verdict: Verdict, pass: Pass, reasons: readonly Reason[], shadow: Evaluation['shadow'], tier: Tier | undefined): Evaluation {
  const evaluation: Mutable<Evaluation> = { verdict, action: pass.action, impact: pass.impact, reasons, shadow };
  if (pass.budgets.length > 0 && verdict !== 'deny') evaluation.budgets = pass.budgets;
  if (verdict === 'pending' && tier !== undefined) {
    const rules = pass.enforced.filter((r) => r.effect === 'approve').map((r) => r.rule);
    evaluation.approval = approvalRequirement(tier, !pass.impact.reversible, rules, pass.approvals, ownersOf(inventory, pass.impact));
  }
  return evaluation;
}

/**
 * Merges the approval settings of every escalating rule of the winning tier:
 * the largest quorum (most approvals, every group at its largest minimum),
 * the strictest deny threshold, the shortest expiry, the longest veto window.
 */
export function approvalRequirement(
  tier: Tier,
  irreversible: boolean,
  rules: readonly string[],
  specs: readonly { readonly tier: Tier; readonly spec: ApprovalSpec }[],
  owners: readonly string[],
): ApprovalRequirement {
  const mine = specs.filter((s) => s.tier === tier).map((s) => s.spec);
  // Sorted: the requirement must not depend on the order rules are written in.
  const base = { tier, irreversible, rules: [...rules].sort(), owners };
  if (tier === 'medium') {
    const windows = mine.map((s) => s.vetoWindowSeconds ?? APPROVAL_DEFAULTS.vetoWindowSeconds);
    return { ...base, vetoWindowSeconds: windows.length === 0 ? APPROVAL_DEFAULTS.vetoWindowSeconds : Math.max(...windows) };
  }
  const groups = new Map<string, number>();
  let approvals: number = APPROVAL_DEFAULTS.approvals;
  let denials: number = APPROVAL_DEFAULTS.denials;
  let denyGroups: Set<string> | undefined;
  let anyoneMayDeny = false;
  let expirySeconds: number = mine.length === 0 ? APPROVAL_DEFAULTS.expirySeconds : Infinity;
  for (const spec of mine) {
    for (const g of spec.groups ?? []) groups.set(g.group, Math.max(groups.get(g.group) ?? 0, g.min));
    const groupTotal = (spec.groups ?? []).reduce((n, g) => n + g.min, 0);
    approvals = Math.max(approvals, spec.approvals ?? Math.max(APPROVAL_DEFAULTS.approvals, groupTotal));
    denials = Math.min(denials, spec.denyThreshold?.count ?? APPROVAL_DEFAULTS.denials);
    if (spec.denyThreshold?.groups) {
      denyGroups ??= new Set();
      for (const g of spec.denyThreshold.groups) denyGroups.add(g);
    } else anyoneMayDeny = true;
    expirySeconds = Math.min(expirySeconds, spec.expirySeconds ?? APPROVAL_DEFAULTS.expirySeconds);
  }
  const groupList = [...groups].map(([group, min]) => ({ group, min })).sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
  approvals = Math.max(approvals, groupList.reduce((n, g) => n + g.min, 0));
  const quorum: Quorum = {
    approvals,
    groups: groupList,
    denyThreshold: { count: denials, ...(denyGroups && !anyoneMayDeny ? { groups: [...denyGroups].sort() } : {}) },
  };
  return { ...base, quorum, expirySeconds };
}

/** Owners of the resources an action touches (targets and dependents), from the inventory. */
function ownersOf(inventory: Inventory, impact: Impact): string[] {
  const owners = new Set<string>();
  for (const r of impact.resources) for (const o of inventory.find(r.environment, r.kind, r.id)?.owners ?? []) owners.add(o);
  return [...owners].sort();
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

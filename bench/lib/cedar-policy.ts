import type { AuthorizationAnswer, Context, EntityJson, StatefulAuthorizationCall } from '@cedar-policy/cedar-wasm/nodejs';
import type { Action, Impact, Principal, Tier, Verdict } from '../../src/core/types.js';
import type { RuleSpec, ToolSpec } from '../../src/policy/index.js';
import { GENERATED_CONDITIONS, type Condition } from './synthetic-policy.js';

/*
 * Governor rules written as Cedar policies, as close as Cedar allows. Every
 * rule of the compiled policy (the example's and the generated ones) is
 * translated from its RuleSpec:
 *
 * - `match.tools` is the action scope (`action in [Action::"deploy", ...]`),
 *   `match.environments` a condition on `resource.environment`, and `when:`
 *   the same condition over the principal's attributes and the request context
 *   (from the table below: CEL is not translated in general).
 * - allow, risk tiers and reversibility are `permit`s; deny, identity binding,
 *   network boundary and over-the-ceiling blast radius are `forbid`s. Cedar has
 *   no "approve" or "modify" effect, so those permits are tagged here (like
 *   annotations) and the verdict is derived from the satisfied policies Cedar
 *   reports, the way Governor combines reasons: any forbid denies; no satisfied
 *   allow denies; an approval of medium or high tier holds; a modify modifies.
 * - Cedar has no floating point: fractions are passed in parts per million.
 * - Cedar gets the predicted impact (replicas, traffic, dependents, zones)
 *   precomputed in its context, outside the timed call; Governor predicts it
 *   inside every timed decision. Shadow rules are left out of Cedar (it has no
 *   shadow mode). Both favour Cedar.
 * - Governor re-evaluates a bounded step and denies it when no step of at
 *   least one replica fits; Cedar cannot, so it answers modify there.
 */

/** The Cedar form of each condition the benchmark's policies use. */
const CEL_TO_CEDAR: ReadonlyMap<string, string> = new Map(
  [
    ...GENERATED_CONDITIONS,
    // The example policy's conditions (examples/governor.yaml).
    { cel: 'principal.role == "staging-deployer" || principal.role == "deployer"', cedar: 'principal.role == "staging-deployer" || principal.role == "deployer"' },
    { cel: 'principal.role == "dba" || principal.role == "deployer"', cedar: 'principal.role == "dba" || principal.role == "deployer"' },
    { cel: '!impact.known', cedar: '!context.known' },
    { cel: 'impact.totalTrafficFraction > 0.02', cedar: 'context.totalTrafficPpm > 20000' },
  ].map((c: Condition) => [c.cel, c.cedar]),
);

/** What a satisfied Cedar policy means for the verdict. */
export interface CedarEffect {
  readonly effect: 'allow' | 'deny' | 'modify' | 'approve';
  readonly tier?: Tier;
}

/** A Cedar policy set, the meaning of each policy id, and the rules Cedar could not be given. */
export interface CedarPolicySet {
  readonly policies: Readonly<Record<string, string>>;
  readonly effects: ReadonlyMap<string, CedarEffect>;
  /** Enforced rules left out: their `when:` has no Cedar form in the table. */
  readonly untranslated: readonly string[];
}

const str = (s: string) => JSON.stringify(s);
const set = (xs: readonly string[]) => `[${xs.map(str).join(', ')}]`;
const ppm = (x: number) => Math.round(x * 1e6);
const any = (xs: readonly string[]) => (xs.length === 1 ? (xs[0] as string) : `(${xs.join(' || ')})`);

interface CedarPolicy {
  readonly id: string;
  readonly text: string;
  readonly meaning: CedarEffect;
}

/** The Cedar policies of one enforced rule, or undefined when its condition has no Cedar form. */
export function ruleToCedar(rule: RuleSpec): CedarPolicy[] | undefined {
  const cedarCondition = rule.when === undefined ? undefined : CEL_TO_CEDAR.get(rule.when);
  if (rule.when !== undefined && cedarCondition === undefined) return undefined;
  const tools = rule.match?.tools;
  const environments = rule.match?.environments;
  const scope = !tools ? 'principal, action, resource' : tools.length === 1 ? `principal, action == Action::${str(tools[0] as string)}, resource` : `principal, action in [${tools.map((t) => `Action::${str(t)}`).join(', ')}], resource`;
  const guards = [
    ...(environments ? [environments.length === 1 ? `resource.environment == ${str(environments[0] as string)}` : `${set(environments)}.contains(resource.environment)`] : []),
    ...(cedarCondition === undefined ? [] : [`(${cedarCondition})`]),
  ];
  const policy = (effect: 'permit' | 'forbid', extra: string[] = []) => {
    const conditions = [...guards, ...extra];
    return `${effect}(${scope})${conditions.length > 0 ? ` when { ${conditions.join(' && ')} }` : ''};`;
  };
  const p = rule.primitive;
  switch (p.kind) {
    case 'allow':
      return [{ id: rule.id, text: policy('permit'), meaning: { effect: 'allow' } }];
    case 'deny':
      return [{ id: rule.id, text: policy('forbid'), meaning: { effect: 'deny' } }];
    case 'risk-tier':
      return [{ id: rule.id, text: policy('permit'), meaning: { effect: 'approve', tier: p.tier } }];
    case 'reversible-by-default':
      return [{ id: rule.id, text: policy('permit', ['!context.reversible']), meaning: { effect: 'approve', tier: p.tier } }];
    case 'identity-binding': {
      const refused = [
        ...(p.roles ? [`!${set(p.roles)}.contains(principal.role)`] : []),
        ...(p.agents ? [`!${set(p.agents)}.contains(principal.agent)`] : []),
        '(principal.task != "" && context.taskId != "" && principal.task != context.taskId)',
        ...(p.requireTask ? ['principal.task == ""'] : []),
      ];
      return [{ id: rule.id, text: policy('forbid', [any(refused)]), meaning: { effect: 'deny' } }];
    }
    case 'network-boundary': {
      const roles = Object.entries(p.spec.roles ?? {});
      const others = p.spec.defaultZones;
      const refused = [
        // Unclassified endpoints are the zone "", which no list holds.
        ...roles.map(([role, zones]) => `(principal.role == ${str(role)} && !${set(zones)}.containsAll(context.zones))`),
        ...(p.spec.roles && !others ? [`(!${set(roles.map(([role]) => role))}.contains(principal.role) && context.endpoints > 0)`] : []),
        ...(others ? [`(!${set(roles.map(([role]) => role))}.contains(principal.role) && !${set(others)}.containsAll(context.zones))`] : []),
        ...(!p.spec.roles && !others ? ['context.zones.contains("")'] : []),
        ...(p.spec.sameEnvironment ? ['![resource.environment].containsAll(context.zoneEnvironments)'] : []),
      ];
      return [{ id: rule.id, text: policy('forbid', [any(refused)]), meaning: { effect: 'deny' } }];
    }
    case 'blast-radius': {
      const s = p.spec;
      const over = any([
        ...(s.maxTrafficFraction === undefined ? [] : [`context.trafficPpm > ${ppm(s.maxTrafficFraction)}`]),
        ...(s.maxTotalTrafficFraction === undefined ? [] : [`context.totalTrafficPpm > ${ppm(s.maxTotalTrafficFraction)}`]),
        ...(s.maxReplicas === undefined ? [] : [`context.replicas > ${s.maxReplicas}`]),
        ...(s.maxFraction === undefined ? [] : [`context.maxFractionPpm > ${ppm(s.maxFraction)}`]),
        ...(s.maxDependents === undefined ? [] : [`context.dependents > ${s.maxDependents}`]),
      ]);
      if (s.onExceed === 'deny') return [{ id: rule.id, text: policy('forbid', [`(!context.known || ${over})`]), meaning: { effect: 'deny' } }];
      // A bound a smaller step cannot meet (tool not batchable, too many dependents) denies.
      const unscalable = any(['!context.batchable', ...(s.maxDependents === undefined ? [] : [`context.dependents > ${s.maxDependents}`])]);
      return [
        { id: rule.id, text: policy('forbid', [`(!context.known || (${over} && ${unscalable}))`]), meaning: { effect: 'deny' } },
        { id: `${rule.id}#modify`, text: policy('permit', ['context.known', over, `!${unscalable}`]), meaning: { effect: 'modify' } },
      ];
    }
    case 'budget':
      // Budgets need state across decisions: Cedar has no form for them.
      return undefined;
    case 'schema-drift':
    case 'destructive-sql':
    case 'freeze':
      // They read the analyzers' facts (SQL, drift) and the time: outside what this translation models.
      return undefined;
  }
}

/** The Cedar policy set of a policy's enforced rules. */
export function cedarPolicySet(rules: readonly RuleSpec[]): CedarPolicySet {
  const policies: Record<string, string> = {};
  const effects = new Map<string, CedarEffect>();
  const untranslated: string[] = [];
  for (const rule of rules) {
    if (rule.mode === 'shadow') continue;
    const translated = ruleToCedar(rule);
    if (!translated) {
      untranslated.push(rule.id);
      continue;
    }
    for (const { id, text, meaning } of translated) {
      policies[id] = text;
      effects.set(id, meaning);
    }
  }
  return { policies, effects, untranslated };
}

/**
 * The Cedar request for a decision: the principal and the target as entities,
 * the tool as the action, and what Governor knows about the action (its
 * normalized form and predicted impact) as the context.
 */
export function cedarRequest(principal: Principal, action: Action, impact: Impact, tool: ToolSpec | undefined, policySetId: string): StatefulAuthorizationCall {
  const target = action.targets?.[0]?.id ?? '*';
  const resourceUid = { type: 'Target', id: `${action.environment}/${target}` };
  const principalUid = { type: 'Agent', id: principal.agent };
  const entities: EntityJson[] = [
    { uid: principalUid, attrs: { agent: principal.agent, role: principal.role, task: principal.task ?? '' }, parents: [] },
    { uid: resourceUid, attrs: { environment: action.environment }, parents: [] },
  ];
  const targetFractions = impact.resources.filter((r) => r.relation === 'target').map((r) => r.fraction);
  const params = action.params ?? {};
  const context: Context = {
    known: impact.known,
    batchable: tool?.batchable === true,
    reversible: impact.reversible,
    trafficPpm: ppm(impact.trafficFraction),
    totalTrafficPpm: ppm(impact.totalTrafficFraction),
    maxFractionPpm: ppm(Math.max(0, ...targetFractions)),
    replicas: impact.replicas,
    dependents: impact.dependents.length,
    endpoints: impact.endpoints.length,
    zones: [...new Set(impact.endpoints.map((e) => e.zone ?? ''))],
    zoneEnvironments: [...new Set(impact.endpoints.flatMap((e) => (e.zoneEnvironment === null ? [] : [e.zoneEnvironment])))],
    operation: action.operation ?? action.tool,
    intent: action.intent ?? '',
    taskId: action.taskId ?? '',
    force: Object.prototype.hasOwnProperty.call(params, 'force') && params.force === true,
  };
  return { principal: principalUid, action: { type: 'Action', id: action.tool }, resource: resourceUid, context, entities, preparsedPolicySetId: policySetId };
}

const TIER_RANK: Readonly<Record<Tier, number>> = { low: 0, medium: 1, high: 2 };

/** Governor's verdict from a Cedar answer, combining the satisfied policies as Governor combines reasons. */
export function cedarVerdict(answer: AuthorizationAnswer, effects: ReadonlyMap<string, CedarEffect>): Verdict {
  // Governor denies when a condition cannot be evaluated; Cedar skips the policy and reports it.
  if (answer.type !== 'success' || answer.response.diagnostics.errors.length > 0) return 'deny';
  if (answer.response.decision === 'deny') return 'deny';
  let allowed = false;
  let modified = false;
  let tier = -1;
  for (const id of answer.response.diagnostics.reason) {
    const meaning = effects.get(id);
    if (meaning === undefined) continue;
    if (meaning.effect === 'allow') allowed = true;
    else if (meaning.effect === 'modify') modified = true;
    else if (meaning.effect === 'approve') tier = Math.max(tier, TIER_RANK[meaning.tier ?? 'high']);
  }
  if (!allowed) return 'deny';
  if (tier >= TIER_RANK.medium) return 'pending';
  return modified ? 'modify' : 'allow';
}

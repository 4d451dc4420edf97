import type { AuthorizationAnswer, Context, EntityJson, StatefulAuthorizationCall } from '@cedar-policy/cedar-wasm/nodejs';
import type { Action, Impact, Principal, Tier, Verdict } from '../../src/core/types.js';
import type { ToolSpec } from '../../src/policy/index.js';
import type { RuleDraft } from './synthetic-policy.js';

/*
 * Governor rules written as Cedar policies, as close as Cedar allows:
 *
 * - `match.tools` is the action scope (`action in [Action::"deploy", ...]`),
 *   `match.environments` a condition on `resource.environment`, `when:` the
 *   same condition over the principal's attributes and the request context.
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
 */

/** What a satisfied Cedar policy means for the verdict. */
export interface CedarEffect {
  readonly effect: 'allow' | 'deny' | 'modify' | 'approve';
  readonly tier?: Tier;
}

/** A Cedar policy set with the meaning of each policy id. */
export interface CedarPolicySet {
  readonly policies: Readonly<Record<string, string>>;
  readonly effects: ReadonlyMap<string, CedarEffect>;
}

/**
 * The example policy's rules as drafts, so they are written in Cedar by the
 * same code as the generated ones. Keep in step with examples/governor.yaml:
 * the Cedar benchmark reports example rules that have no draft here, and
 * verdicts that differ from Governor's.
 */
export const EXAMPLE_DRAFTS: readonly RuleDraft[] = [
  { id: 'known-roles', mode: 'enforce', primitive: { kind: 'identity-binding', roles: ['deployer', 'staging-deployer', 'dba'], requireTask: false } },
  { id: 'prod-needs-task', mode: 'enforce', environments: ['prod'], primitive: { kind: 'identity-binding', requireTask: true } },
  { id: 'read-anything', mode: 'enforce', tools: ['read_logs'], primitive: { kind: 'allow' } },
  {
    id: 'staging-deployers-in-staging',
    mode: 'enforce',
    environments: ['staging'],
    condition: { cel: 'principal.role == "staging-deployer" || principal.role == "deployer"', cedar: 'principal.role == "staging-deployer" || principal.role == "deployer"' },
    primitive: { kind: 'allow' },
  },
  {
    id: 'deployers-operate-prod',
    mode: 'enforce',
    environments: ['prod'],
    tools: ['restart_service', 'scale_service', 'deploy', 'rollback', 'http_request'],
    condition: { cel: 'principal.role == "deployer"', cedar: 'principal.role == "deployer"' },
    primitive: { kind: 'allow' },
  },
  {
    id: 'dbas-run-sql',
    mode: 'enforce',
    tools: ['run_sql'],
    condition: { cel: 'principal.role == "dba" || principal.role == "deployer"', cedar: 'principal.role == "dba" || principal.role == "deployer"' },
    primitive: { kind: 'allow' },
  },
  { id: 'prod-blast-radius', mode: 'enforce', environments: ['prod'], tools: ['restart_service', 'scale_service', 'rollback'], primitive: { kind: 'blast-radius', maxFraction: 0.05, maxTrafficFraction: 0.05, onExceed: 'modify' } },
  { id: 'prod-impact-must-be-known', mode: 'enforce', environments: ['prod'], condition: { cel: '!impact.known', cedar: '!context.known' }, primitive: { kind: 'deny', message: 'the blast radius of this action cannot be predicted' } },
  {
    id: 'network-zones',
    mode: 'enforce',
    primitive: { kind: 'network-boundary', roles: { 'staging-deployer': ['staging-internal', 'public-apis'], deployer: ['prod-internal', 'staging-internal', 'public-apis'], dba: ['prod-internal', 'staging-internal'] } },
  },
  { id: 'irreversible-needs-approval', mode: 'enforce', primitive: { kind: 'reversible-by-default', tier: 'high' } },
  { id: 'prod-deploys-are-medium-risk', mode: 'enforce', environments: ['prod'], tools: ['deploy'], primitive: { kind: 'risk-tier', tier: 'medium' } },
];

const str = (s: string) => JSON.stringify(s);
const set = (xs: readonly string[]) => `[${xs.map(str).join(', ')}]`;
const ppm = (x: number) => Math.round(x * 1e6);
const any = (xs: readonly string[]) => (xs.length === 1 ? (xs[0] as string) : `(${xs.join(' || ')})`);

/** The Cedar policies of one rule (none for a shadow rule), with their ids. */
export function draftToCedar(d: RuleDraft): { id: string; text: string; meaning: CedarEffect }[] {
  if (d.mode === 'shadow') return [];
  const scope = !d.tools ? 'principal, action, resource' : d.tools.length === 1 ? `principal, action == Action::${str(d.tools[0] as string)}, resource` : `principal, action in [${d.tools.map((t) => `Action::${str(t)}`).join(', ')}], resource`;
  const guards = [
    ...(d.environments ? [d.environments.length === 1 ? `resource.environment == ${str(d.environments[0] as string)}` : `${set(d.environments)}.contains(resource.environment)`] : []),
    ...(d.condition ? [`(${d.condition.cedar})`] : []),
  ];
  const policy = (effect: 'permit' | 'forbid', extra: string[] = []) => {
    const conditions = [...guards, ...extra];
    return `${effect}(${scope})${conditions.length > 0 ? ` when { ${conditions.join(' && ')} }` : ''};`;
  };
  const p = d.primitive;
  switch (p.kind) {
    case 'allow':
      return [{ id: d.id, text: policy('permit'), meaning: { effect: 'allow' } }];
    case 'deny':
      return [{ id: d.id, text: policy('forbid'), meaning: { effect: 'deny' } }];
    case 'risk-tier':
      return [{ id: d.id, text: policy('permit'), meaning: { effect: 'approve', tier: p.tier } }];
    case 'reversible-by-default':
      return [{ id: d.id, text: policy('permit', ['!context.reversible']), meaning: { effect: 'approve', tier: p.tier } }];
    case 'identity-binding': {
      const refused = [
        ...(p.roles ? [`!${set(p.roles)}.contains(principal.role)`] : []),
        '(principal.task != "" && context.taskId != "" && principal.task != context.taskId)',
        ...(p.requireTask ? ['principal.task == ""'] : []),
      ];
      return [{ id: d.id, text: policy('forbid', [any(refused)]), meaning: { effect: 'deny' } }];
    }
    case 'network-boundary': {
      const roles = Object.entries(p.roles);
      const refused = [
        ...roles.map(([role, zones]) => `(principal.role == ${str(role)} && !${set(zones)}.containsAll(context.zones))`),
        `(!${set(roles.map(([role]) => role))}.contains(principal.role) && context.endpoints > 0)`,
        '![resource.environment].containsAll(context.zoneEnvironments)',
      ];
      return [{ id: d.id, text: policy('forbid', [any(refused)]), meaning: { effect: 'deny' } }];
    }
    case 'blast-radius': {
      const over = any([
        ...(p.maxTrafficFraction === undefined ? [] : [`context.trafficPpm > ${ppm(p.maxTrafficFraction)}`]),
        ...(p.maxReplicas === undefined ? [] : [`context.replicas > ${p.maxReplicas}`]),
        ...(p.maxFraction === undefined ? [] : [`context.maxFractionPpm > ${ppm(p.maxFraction)}`]),
        ...(p.maxDependents === undefined ? [] : [`context.dependents > ${p.maxDependents}`]),
      ]);
      if (p.onExceed === 'deny') return [{ id: d.id, text: policy('forbid', [`(!context.known || ${over})`]), meaning: { effect: 'deny' } }];
      // A bound that cannot be met by a smaller step (not batchable, too many dependents) denies.
      const unscalable = any(['!context.batchable', ...(p.maxDependents === undefined ? [] : [`context.dependents > ${p.maxDependents}`])]);
      return [
        { id: d.id, text: policy('forbid', [`(!context.known || (${over} && ${unscalable}))`]), meaning: { effect: 'deny' } },
        { id: `${d.id}#modify`, text: policy('permit', ['context.known', over, `!${unscalable}`]), meaning: { effect: 'modify' } },
      ];
    }
  }
}

/** A Cedar policy set from rule drafts. */
export function cedarPolicySet(drafts: readonly RuleDraft[]): CedarPolicySet {
  const policies: Record<string, string> = {};
  const effects = new Map<string, CedarEffect>();
  for (const d of drafts) {
    for (const { id, text, meaning } of draftToCedar(d)) {
      policies[id] = text;
      effects.set(id, meaning);
    }
  }
  return { policies, effects };
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
    { uid: principalUid, attrs: { role: principal.role, task: principal.task ?? '' }, parents: [] },
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

import type { Action, Decision, Evaluation, Outcome, Principal, Reason } from '../core/types.js';
import type { TrustSpec } from '../policy/policy.js';
import type { DecisionConditions } from '../store/store.js';
import type { ConditionFailure } from '../store/budget-request.js';
import type { TrustLevel } from './agents.js';
import type { AgentRegistry } from './agents.js';
import type { Breakers } from './breakers.js';
import type { Grants } from './grants.js';
import type { KillSwitch } from './kill-switch.js';

/** What the decision service asks of the control plane around the pure evaluation. */
export interface Controls {
  /** A reason to deny at once, whatever the policy says: a kill in scope, or stale kill state (strict). Synchronous, in memory. */
  gate(principal: Principal, action: Action): Reason | undefined;
  /**
   * For an action that would run or be held: the agent's card and trust level,
   * a grant when its level does not cover the environment, and the aggregate
   * budgets it draws on. A deny reason; or the grant it runs under and the
   * conditions to store the decision with (the grant's use, the budget draws),
   * which the store commits with the decision or refuses as a whole.
   */
  admit(principal: Principal, evaluation: Evaluation, now: number): Promise<{ readonly deny?: Reason; readonly grant?: string; readonly conditions?: DecisionConditions }>;
  /** The deny reason of a decision whose conditions the store refused (CONDITION_FAILED details). */
  refusal(principal: Principal, evaluation: Evaluation, details: ConditionFailure): Reason;
  /** A decision was recorded: breakers and the agent's record count it. */
  decided(decision: Decision, requestDigest: string): void;
  /** An outcome was recorded. */
  outcome(decision: Decision, outcome: Outcome): void;
}

function noGrantReason(principal: Principal, action: Action, level: TrustLevel, trust: TrustSpec): Reason {
  const environments = level === 'new' ? [] : trust.levels[level];
  const why = level === 'new' ? 'a new agent acts only under a grant' : `trust level ${level} covers ${environments.join(', ') || 'no environment'} without a grant`;
  return {
    rule: 'trust',
    primitive: 'sandbox-grant',
    effect: 'deny',
    mode: 'enforce',
    code: 'NO_GRANT',
    message: `agent ${principal.agent} is at trust level ${level}: ${why}, and no active grant for task ${principal.task ?? '(none)'} covers ${action.tool} in ${action.environment}${(action.targets ?? []).length ? ` on ${(action.targets ?? []).map((t) => t.id).join(', ')}` : ''}`,
  };
}

const CONTROL_CODES = new Set(['NO_GRANT', 'NO_AGENT_CARD', 'BUDGET_EXCEEDED', 'KILLED', 'KILL_STATE_STALE', 'CONTROL_STATE_UNAVAILABLE']);

/** Wires the kill switch, agent cards and trust, grants, budgets and breakers into `Controls`. */
export function createControls(options: {
  readonly killSwitch: KillSwitch;
  readonly agents: AgentRegistry;
  readonly grants: Grants;
  readonly breakers: Breakers;
  readonly trust: () => TrustSpec;
}): Controls {
  const { killSwitch, agents, grants, breakers } = options;
  const deny = (primitive: Reason['primitive'], code: string, message: string, rule: string = primitive): Reason => ({ rule, primitive, effect: 'deny', mode: 'enforce', code, message });

  return {
    gate: (principal, action) => killSwitch.check(principal, action),

    async admit(principal, evaluation, now) {
      const action = evaluation.action;
      // Cached; a miss (a card registered by another process moments ago) reads the store.
      const card = agents.card(principal.agent) ?? (await agents.get(principal.agent));
      const trust = options.trust();
      let needsGrant = false;
      if (!card) {
        if (trust.unregistered === 'deny') {
          return { deny: deny('identity-binding', 'NO_AGENT_CARD', `agent ${principal.agent} has no agent card: register it (governor agents register) before it acts`, 'agent-card') };
        }
      } else {
        const environments = card.trust === 'new' ? [] : trust.levels[card.trust];
        needsGrant = !environments.includes('*') && !environments.includes(action.environment);
      }
      const noGrant = () => ({ deny: noGrantReason(principal, action, card?.trust ?? 'new', trust) });
      // Nothing is written here: the grant's use and the budget draws are the
      // decision's conditions, committed with it in one transaction (or not at all).
      const candidate = needsGrant ? await grants.find(principal, action) : undefined;
      if (needsGrant && !candidate) return noGrant();
      const budgets = evaluation.budgets ?? [];
      const conditions: { -readonly [K in keyof DecisionConditions]: DecisionConditions[K] } = {};
      if (budgets.length > 0) conditions.budgets = budgets.map((b) => ({ key: b.key, amount: b.amount, max: b.max, since: now - b.windowSeconds * 1000 }));
      if (candidate) conditions.update = grants.useOf(candidate, now);
      return { ...(candidate ? { grant: candidate.id } : {}), ...(Object.keys(conditions).length > 0 ? { conditions } : {}) };
    },

    refusal(principal, evaluation, details) {
      if (details.kind === 'update') return noGrantReason(principal, evaluation.action, agents.card(principal.agent)?.trust ?? 'new', options.trust());
      const draw = (evaluation.budgets ?? []).find((b) => b.key === details.key);
      const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 10000) / 100}` : 'unknown');
      const fraction = draw?.scope.startsWith('trafficFraction') ?? false;
      const show = (x: number) => (fraction ? `${pct(x)}%` : Number.isFinite(x) ? String(x) : 'unknown');
      return deny(
        'budget',
        'BUDGET_EXCEEDED',
        `aggregate budget ${draw?.rule ?? details.key}: ${draw?.scope ?? details.key} over ${draw?.windowSeconds ?? '?'}s is ${show(details.used)} used by all agents; this action needs ${show(details.amount)}, more than the ${show(details.max)} budget`,
        draw?.rule ?? 'budget',
      );
    },

    decided(decision, requestDigest) {
      // Only the policy's own denials count against an agent (breaker, record), not the controls' (no grant, budget, kill):
      // an agent that keeps retrying those is caught by the loop breaker.
      const denied = decision.verdict === 'deny' && decision.reasons.some((r) => r.effect === 'deny' && r.mode === 'enforce' && !CONTROL_CODES.has(r.code ?? ''));
      // A killed agent's own attempts do not count: it is already locked.
      if (!decision.reasons.some((r) => r.code === 'KILLED' || r.code === 'KILL_STATE_STALE')) breakers.decision(decision.principal.agent, requestDigest, denied);
      if (denied) agents.observe(decision.principal.agent, 'denial');
    },

    outcome(decision, outcome) {
      breakers.outcome(decision.principal.agent, outcome.status === 'failed');
      agents.observe(decision.principal.agent, outcome.status === 'failed' ? 'failure' : decision.grant ? 'grant-success' : 'success');
    },
  };
}

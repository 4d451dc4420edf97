import { canonicalJson } from '../core/canonical-json.js';
import { GovernorError } from '../core/errors.js';
import type { Action, Decision, DecisionState, Evaluation, Outcome, Principal, Verdict } from '../core/types.js';
import { evaluatePolicy, type CompiledPolicy } from '../policy/index.js';
import { decisionLeaf, outcomeLeaf } from '../audit/audit-leaf.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuditCrypto } from '../audit/pure/audit-crypto.js';
import type { Store } from '../store/store.js';

/** What the decision service needs from outside. */
export interface DecisionServiceOptions {
  /** The policy in force now (hot reload swaps it). */
  readonly policy: () => CompiledPolicy;
  readonly store: Store;
  readonly clock: () => number;
  readonly newId: () => string;
  readonly sha256Hex: (text: string) => string;
  /** Every decision and outcome becomes a leaf of this log, durable before the answer. */
  readonly audit: { readonly crypto: AuditCrypto; readonly log: AuditLog };
  /** Called with faults the service turned into denials, for the log. */
  readonly onFault?: (err: unknown, context: string) => void;
}

/** The enforcement path shared by every interception adapter (HTTP API, MCP proxy, SDK). */
export interface DecisionService {
  /** Evaluates and durably records a decision; resolves only once it is stored. */
  decide(principal: Principal, action: Action): Promise<Decision>;
  get(id: string): Promise<Decision | undefined>;
  recordOutcome(principal: Principal, id: string, outcome: Omit<Outcome, 'at'>): Promise<Decision>;
}

const STATE_OF: Readonly<Record<Verdict, DecisionState>> = { allow: 'allowed', modify: 'allowed', pending: 'pending', deny: 'denied' };

/**
 * Creates the decision service: evaluate (pure), then record, then answer.
 * Fails closed: an evaluation that throws is recorded as a deny with its reason;
 * a decision that cannot be stored is never returned (STORE_UNAVAILABLE).
 */
export function createDecisionService(options: DecisionServiceOptions): DecisionService {
  const { store, clock, newId, sha256Hex } = options;

  return {
    async decide(principal, action) {
      const requestDigest = sha256Hex(canonicalJson(action));
      const policy = options.policy();
      let evaluation: Evaluation;
      try {
        evaluation = evaluatePolicy(policy, principal, action);
      } catch (err) {
        options.onFault?.(err, 'policy evaluation');
        evaluation = failedEvaluation(action, err);
      }
      const requestedChanged = evaluation.verdict === 'modify';
      const decision: Decision = {
        id: newId(),
        verdict: evaluation.verdict,
        state: STATE_OF[evaluation.verdict],
        action: evaluation.action,
        ...(requestedChanged ? { requestedAction: action } : {}),
        impact: evaluation.impact,
        reasons: evaluation.reasons,
        shadow: evaluation.shadow,
        ...(evaluation.approval ? { approval: evaluation.approval } : {}),
        principal,
        policy: { digest: policy.digest },
        createdAt: new Date(clock()).toISOString(),
      };
      const result = await store.decisions.insert({
        decision,
        requestDigest,
        leaf: decisionLeaf(options.audit.crypto, decision, requestDigest),
        ...(action.idempotencyKey === undefined ? {} : { idempotencyKey: action.idempotencyKey }),
      });
      if (result.created) options.audit.log.appended(1);
      if (!result.created && result.requestDigest !== requestDigest) {
        throw new GovernorError('IDEMPOTENCY_CONFLICT', `idempotency key "${action.idempotencyKey}" was already used for a different action (decision ${result.decision.id})`);
      }
      return result.decision;
    },

    get: (id) => store.decisions.get(id),

    async recordOutcome(principal, id, outcome) {
      const decision = await store.decisions.get(id);
      if (!decision || decision.principal.agent !== principal.agent) throw new GovernorError('NOT_FOUND', `no decision ${id} for this agent`);
      if (decision.state !== 'allowed' && decision.state !== 'approved') {
        throw new GovernorError('CONFLICT', `decision ${id} is ${decision.state}: only an allowed or approved action can have an outcome`);
      }
      const recorded: Outcome = { ...outcome, at: new Date(clock()).toISOString() };
      const updated = await store.decisions.recordOutcome(id, recorded, outcomeLeaf(options.audit.crypto, decision, recorded));
      options.audit.log.appended(1);
      return updated;
    },
  };
}

function failedEvaluation(action: Action, err: unknown): Evaluation {
  const message = `the policy could not be evaluated (${err instanceof Error ? err.message.split('\n')[0] : 'unknown error'}); denied`;
  const reason = { rule: 'governor', primitive: 'default', effect: 'deny', mode: 'enforce', code: 'POLICY_EVALUATION_FAILED', message } as const;
  return {
    verdict: 'deny',
    action,
    impact: { known: false, unknown: ['evaluation failed'], replicas: 0, trafficFraction: 0, totalTrafficFraction: 0, dependents: [], reversible: false, resources: [], endpoints: [] },
    reasons: [reason],
    shadow: { verdict: 'deny', reasons: [] },
  };
}

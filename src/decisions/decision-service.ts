import { canonicalJson } from '../core/canonical-json.js';
import { GovernorError } from '../core/errors.js';
import type { Action, ApprovalRequirement, BreakGlassUse, Decision, DecisionState, Evaluation, Outcome, Principal, Reason, Verdict } from '../core/types.js';
import { evaluatePolicy, type CompiledPolicy } from '../policy/index.js';
import { decisionLeaf, outcomeLeaf } from '../audit/audit-leaf.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuditCrypto } from '../audit/pure/audit-crypto.js';
import type { DecisionConditions, Store } from '../store/store.js';
import type { Controls } from '../control/controls.js';
import type { ConditionFailure } from '../store/budget-request.js';
import type { ActionFacts } from '../impact/action-facts.js';

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
  /** Told of every held (pending) decision once it is stored: timers, streams, notifications. */
  readonly onHeld?: (decision: Decision) => void;
  /** Open break-glass overrides: an action in scope is allowed, and flagged as such. */
  readonly breakGlass?: { covering(principal: Principal, action: Action): BreakGlassUse | undefined };
  /** The kill switch, trust levels, grants, budgets and breakers. */
  readonly controls?: Controls;
  /**
   * What is found out about an action before it is evaluated (its SQL, rows,
   * schema and configuration drift). A fault or a timeout denies the action.
   */
  readonly analyzers?: { analyze(policy: CompiledPolicy, action: Action): Promise<ActionFacts>; needed(policy: CompiledPolicy, action: Action): boolean };
  /** Longest the analyzers may take for one action, ms (default 5000). */
  readonly analyzerTimeoutMs?: number;
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
  const analyzerTimeoutMs = options.analyzerTimeoutMs ?? 5000;

  /** The analyzers' facts; a fault or a timeout becomes a failure fact, which denies (fail closed). */
  const analyze = async (policy: CompiledPolicy, action: Action): Promise<ActionFacts> => {
    const analyzers = options.analyzers;
    // Most actions carry no SQL and change no configuration: no timer, no promise.
    if (!analyzers?.needed(policy, action)) return {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the analyzers took longer than ${analyzerTimeoutMs} ms`)), analyzerTimeoutMs);
      });
      return await Promise.race([analyzers.analyze(policy, action), timeout]);
    } catch (err) {
      options.onFault?.(err, 'analyzing an action');
      return { failure: `the action could not be analyzed (${err instanceof Error ? err.message.split('\n')[0] : 'unknown error'}), so its impact is unknown` };
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    async decide(principal, action) {
      const requestDigest = sha256Hex(canonicalJson(action));
      const policy = options.policy();
      const facts = await analyze(policy, action);
      const now = clock();
      let evaluation: Evaluation;
      try {
        evaluation = evaluatePolicy(policy, principal, action, { ...facts, now });
      } catch (err) {
        options.onFault?.(err, 'policy evaluation');
        evaluation = failedEvaluation(action, err);
      }
      const id = newId();
      const requestedChanged = evaluation.verdict === 'modify' || (evaluation.verdict === 'pending' && evaluation.reasons.some((r) => r.effect === 'modify'));
      let verdict = evaluation.verdict;
      let reasons = evaluation.reasons;
      let approval = evaluation.approval && held(evaluation.approval, sha256Hex(canonicalJson(evaluation.action)), now);
      let grant: string | undefined;
      let conditions: DecisionConditions | undefined;
      // The kill switch wins over everything, break-glass included.
      const killed = options.controls?.gate(principal, evaluation.action);
      const breakGlass = killed ? undefined : options.breakGlass?.covering(principal, evaluation.action);
      if (killed) {
        reasons = [killed, ...reasons];
        verdict = 'deny';
        approval = undefined;
      } else if (breakGlass && (verdict === 'deny' || verdict === 'pending')) {
        // The override allows what policy refused or held; every reason stays on record.
        reasons = [overrideReason(breakGlass, verdict), ...reasons];
        verdict = 'allow';
        approval = undefined;
      } else if (verdict !== 'deny' && options.controls) {
        let admitted: Awaited<ReturnType<Controls['admit']>>;
        try {
          admitted = await options.controls.admit(principal, evaluation, now);
        } catch (err) {
          // Fail closed: a grant or budget that cannot be checked denies.
          options.onFault?.(err, 'grants and budgets');
          admitted = { deny: { rule: 'governor', primitive: 'default', effect: 'deny', mode: 'enforce', code: 'CONTROL_STATE_UNAVAILABLE', message: `grants and budgets could not be checked (${err instanceof Error ? err.message.split('\n')[0] : 'unknown error'}); denied` } };
        }
        grant = admitted.grant;
        conditions = admitted.conditions;
        if (admitted.deny) {
          reasons = [...reasons, admitted.deny];
          verdict = 'deny';
          approval = undefined;
        }
      }
      const build = (): Decision => ({
        id,
        verdict,
        state: STATE_OF[verdict],
        action: evaluation.action,
        ...(requestedChanged ? { requestedAction: action } : {}),
        impact: evaluation.impact,
        reasons,
        shadow: evaluation.shadow,
        ...(approval ? { approval } : {}),
        principal,
        policy: { digest: policy.digest },
        createdAt: new Date(now).toISOString(),
        ...(breakGlass ? { breakGlass } : {}),
        ...(grant ? { grant } : {}),
      });
      const insert = (decision: Decision, with_?: DecisionConditions) =>
        store.decisions.insert({
          decision,
          requestDigest,
          leaf: decisionLeaf(options.audit.crypto, decision, requestDigest),
          ...(action.idempotencyKey === undefined ? {} : { idempotencyKey: action.idempotencyKey }),
          ...(with_ ? { conditions: with_ } : {}),
        });
      let result: Awaited<ReturnType<typeof insert>>;
      try {
        result = await insert(build(), conditions);
      } catch (err) {
        if (!(err instanceof GovernorError && err.code === 'CONDITION_FAILED' && options.controls)) throw err;
        // A budget filled up or the grant's last use went to another decision meanwhile: nothing was written; record the deny.
        reasons = [...reasons, options.controls.refusal(principal, evaluation, err.details as ConditionFailure)];
        verdict = 'deny';
        approval = undefined;
        grant = undefined;
        result = await insert(build());
      }
      if (result.created) options.audit.log.appended(1);
      if (!result.created && result.requestDigest !== requestDigest) {
        throw new GovernorError('IDEMPOTENCY_CONFLICT', `idempotency key "${action.idempotencyKey}" was already used for a different action (decision ${result.decision.id})`);
      }
      if (result.created) options.controls?.decided(result.decision, requestDigest);
      if (result.created && result.decision.state === 'pending') {
        try {
          options.onHeld?.(result.decision);
        } catch (err) {
          // The decision is stored and durable; its timer is re-armed by the next sweep.
          options.onFault?.(err, 'announcing a held decision');
        }
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
      options.controls?.outcome(updated, recorded);
      return updated;
    },
  };
}

/** A held action's requirement with the times it resolves at and the digest votes must name. */
function held(requirement: ApprovalRequirement, actionDigest: string, now: number): ApprovalRequirement {
  return {
    ...requirement,
    actionDigest,
    ...(requirement.expirySeconds === undefined ? {} : { expiresAt: new Date(now + requirement.expirySeconds * 1000).toISOString() }),
    ...(requirement.vetoWindowSeconds === undefined ? {} : { releaseAt: new Date(now + requirement.vetoWindowSeconds * 1000).toISOString() }),
  };
}

function overrideReason(session: BreakGlassUse, overridden: Verdict): Reason {
  return {
    rule: `break-glass/${session.id}`,
    primitive: 'break-glass',
    effect: 'allow',
    mode: 'enforce',
    code: 'BREAK_GLASS',
    message: `break-glass override by ${session.by} until ${session.expiresAt} (${session.reason}); the policy said ${overridden}`,
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

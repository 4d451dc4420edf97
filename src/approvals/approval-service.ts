import { canonicalJson } from '../core/canonical-json.js';
import { GovernorError } from '../core/errors.js';
import type { Decision, DecisionState, Operator, Resolution, Verdict } from '../core/types.js';
import { eventLeaf } from '../audit/audit-leaf.js';
import type { AuditCrypto } from '../audit/pure/audit-crypto.js';
import type { Notifier } from '../notify/notifier.js';
import { evaluatePolicy, type CompiledPolicy } from '../policy/index.js';
import { recordedFacts } from '../impact/action-facts.js';
import type { ControlRecord, Store } from '../store/store.js';
import type { ApprovalEvents } from './approval-events.js';
import { ineligibility, tallyVotes, type CountedVote, type Tally } from './quorum.js';

/** A human's vote as submitted. */
export interface Ballot {
  readonly vote: 'approve' | 'deny';
  readonly reason: string;
  /** The action digest the voter was shown (`decision.approval.actionDigest`). */
  readonly actionDigest: string;
  /** The policy digest the voter was shown (`decision.policy.digest`). */
  readonly policyDigest: string;
  /** Required to approve an irreversible action. */
  readonly acknowledgeIrreversible?: boolean;
}

/** A vote as recorded and listed. */
export interface VoteView {
  readonly voter: string;
  readonly groups: readonly string[];
  readonly vote: 'approve' | 'deny';
  readonly reason: string;
  readonly acknowledgeIrreversible: boolean;
  readonly at: string;
  readonly audit?: { readonly index: number; readonly leafHash: string };
}

/** A held (or once held) action with its votes and where they stand. */
export interface ApprovalView {
  readonly decision: Decision;
  readonly votes: readonly VoteView[];
  readonly tally: Tally;
}

/** What the approval service needs from outside. */
export interface ApprovalServiceOptions {
  readonly store: Store;
  readonly clock: () => number;
  readonly crypto: AuditCrypto;
  /** Told of every leaf appended (checkpoint cadence). */
  readonly audit: { appended(count: number): void };
  readonly policy: () => CompiledPolicy;
  readonly sha256Hex: (text: string) => string;
  readonly events: ApprovalEvents;
  readonly notifier: Notifier;
  /** How often held actions are re-read from the store to arm their timers (other replicas', missed ones), ms. Default 5000. */
  readonly sweepIntervalMs?: number;
  /** Where operators act, for notifications (e.g. `https://governor.example.com`). */
  readonly publicUrl?: string;
  readonly onFault?: (err: unknown, context: string) => void;
}

/** Human oversight of held actions: votes, quorum, veto windows, expiry. */
export interface ApprovalService {
  /** A pending decision was just stored: arm its timer, tell the streams, notify its owners. */
  held(decision: Decision): void;
  vote(operator: Operator, id: string, ballot: Ballot): Promise<{ readonly decision: Decision; readonly vote: VoteView; readonly tally: Tally }>;
  get(id: string): Promise<ApprovalView | undefined>;
  list(options: { readonly state?: DecisionState; readonly limit: number }): Promise<readonly ApprovalView[]>;
  /** Cancels held actions `match` selects (a kill in scope): deny, recorded. Resolves to how many. */
  cancel(match: (decision: Decision) => boolean, reason: string, by: string): Promise<number>;
  /** Re-arms the timers of every held action in the store (after a restart) and starts the periodic sweep. */
  start(): Promise<void>;
  stop(): void;
}

const VOTE = 'vote';
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Creates the approval service. Every vote and every resolution is an audit
 * leaf appended in the same transaction as the record it describes. A held
 * action is resolved exactly once, whichever replica or timer gets there
 * first (compare-and-set on its state).
 */
export function createApprovalService(options: ApprovalServiceOptions): ApprovalService {
  const { store, clock, crypto, events, notifier } = options;
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  let sweeper: ReturnType<typeof setInterval> | undefined;
  let stopped = false;
  const iso = () => new Date(clock()).toISOString();
  const fault = (err: unknown, context: string) => options.onFault?.(err, context);

  const votesOf = async (id: string): Promise<VoteView[]> =>
    (await store.records.list({ kind: VOTE, parent: id, limit: 1000 })).map(toVoteView);

  const view = async (decision: Decision): Promise<ApprovalView> => {
    const votes = await votesOf(decision.id);
    return { decision, votes, tally: decision.approval ? tallyVotes(decision.approval, votes.map(counted)) : { state: 'open', approvals: 0, denials: 0, missing: [] } };
  };

  /** Moves a held decision out of `pending`, with its leaf; undefined when another resolution got there first. */
  const resolve = async (decision: Decision, to: DecisionState, verdict: Verdict, reason: string, by: readonly string[], tally?: Tally): Promise<Decision | undefined> => {
    const at = iso();
    const resolution: Omit<Resolution, 'audit'> = { state: to, at, reason, by };
    const leaf = eventLeaf(crypto, {
      type: 'resolution',
      time: at,
      decisionId: decision.id,
      from: 'pending',
      state: to,
      verdict,
      reason,
      by,
      ...(tally ? { tally: { approvals: tally.approvals, denials: tally.denials } } : {}),
      actionDigest: decision.approval?.actionDigest ?? null,
      policyDigest: options.policy().digest,
    });
    const updated = await store.decisions.transition(decision.id, 'pending', to, { verdict, resolution, leaf });
    if (updated === undefined) return undefined;
    options.audit.appended(1);
    disarm(decision.id);
    events.publish({ type: 'resolved', decision: updated });
    notifier.notify({
      id: `${decision.id}/resolution`,
      type: 'approval.resolved',
      at,
      title: `${describe(updated)}: ${to}`,
      text: reason,
      recipients: recipients(updated),
      ...link(decision.id),
      data: { decisionId: decision.id, state: to, verdict, reason, by },
    });
    return updated;
  };

  /**
   * When the policy changed since the action was held, re-evaluates it: the
   * held decision stands only if the new policy holds it the same way (same
   * action, tier, quorum). Otherwise it is rejected and the caller learns why.
   */
  const stillHeld = async (decision: Decision): Promise<{ ok: true } | { ok: false; reason: string; decision: Decision | undefined }> => {
    const policy = options.policy();
    if (policy.digest === decision.policy.digest) return { ok: true };
    let same = false;
    let now = 'an evaluation error';
    try {
      // The facts the action was held with (SQL classes, drift, rows), so the new policy judges the same action.
      const again = evaluatePolicy(policy, decision.principal, decision.requestedAction ?? decision.action, recordedFacts(decision.action, decision.impact, clock()));
      now = again.verdict;
      same =
        again.verdict === 'pending' &&
        options.sha256Hex(canonicalJson(again.action)) === decision.approval?.actionDigest &&
        canonicalJson(requirementShape(again.approval)) === canonicalJson(requirementShape(decision.approval));
    } catch (err) {
      fault(err, 're-evaluation of a held action');
    }
    if (same) return { ok: true };
    const reason = `the policy changed (${decision.policy.digest.slice(0, 12)} -> ${policy.digest.slice(0, 12)}) and now gives ${now === 'pending' ? 'another approval requirement' : now}; a fresh decision and approval are needed`;
    return { ok: false, reason, decision: await resolve(decision, 'rejected', 'deny', reason, []) };
  };

  const fire = async (id: string): Promise<void> => {
    timers.delete(id);
    const decision = await store.decisions.get(id);
    if (decision?.state !== 'pending' || !decision.approval) return;
    const due = dueAt(decision);
    if (due !== undefined && due > clock()) {
      arm(decision);
      return;
    }
    if (decision.approval.tier === 'high') {
      await resolve(decision, 'expired', 'deny', `no quorum within ${decision.approval.expirySeconds ?? 0}s: expired`, []);
      return;
    }
    const held = await stillHeld(decision);
    if (!held.ok) return;
    await resolve(decision, 'approved', releasedVerdict(decision), `veto window of ${decision.approval.vetoWindowSeconds ?? 0}s ended without a veto: released`, []);
  };

  const arm = (decision: Decision): void => {
    if (stopped || timers.has(decision.id)) return;
    const due = dueAt(decision);
    if (due === undefined) return;
    const timer = setTimeout(() => {
      fire(decision.id).catch((err: unknown) => fault(err, `timer of held decision ${decision.id}`));
    }, Math.min(MAX_TIMER_MS, Math.max(0, due - clock())));
    timer.unref?.();
    timers.set(decision.id, timer);
  };

  const disarm = (id: string): void => {
    const timer = timers.get(id);
    if (timer !== undefined) clearTimeout(timer);
    timers.delete(id);
  };

  const sweep = async (): Promise<void> => {
    const pending = await store.decisions.list({ state: 'pending', limit: 1000, order: 'oldest' });
    for (const decision of pending) {
      const due = dueAt(decision);
      if (due !== undefined && due <= clock()) {
        disarm(decision.id);
        await fire(decision.id);
      } else arm(decision);
    }
  };

  return {
    held(decision) {
      arm(decision);
      events.publish({ type: 'held', decision });
      const approval = decision.approval;
      if (!approval) return;
      const high = approval.tier === 'high';
      const quorum = approval.quorum;
      notifier.notify({
        id: `${decision.id}/held`,
        type: high ? 'approval.requested' : 'veto-window.opened',
        at: decision.createdAt,
        title: `${describe(decision)} ${high ? 'held for approval (high risk)' : `proceeds at ${approval.releaseAt ?? '?'} unless vetoed (medium risk)`}`,
        text: [
          ...decision.reasons.filter((r) => r.effect === 'approve').map((r) => `${r.rule}: ${r.message}`),
          ...(high && quorum ? [`needs ${quorum.approvals} approval(s)${quorum.groups.length ? ` incl. ${quorum.groups.map((g) => `${g.min} from ${g.group}`).join(' and ')}` : ''}, expires ${approval.expiresAt ?? '?'}`] : []),
          ...(approval.irreversible ? ['irreversible: approval must acknowledge it cannot be undone'] : []),
          `requested by ${decision.principal.agent} (${decision.principal.role})`,
        ].join('\n'),
        recipients: recipients(decision),
        ...link(decision.id),
        data: { decisionId: decision.id, action: decision.action, impact: { trafficFraction: decision.impact.trafficFraction, replicas: decision.impact.replicas, dependents: decision.impact.dependents, reversible: decision.impact.reversible }, approval, principal: decision.principal },
      });
    },

    async vote(operator, id, ballot) {
      const decision = await store.decisions.get(id);
      if (!decision) throw new GovernorError('NOT_FOUND', `no decision ${id}`);
      if (decision.state !== 'pending' || !decision.approval) {
        throw new GovernorError('NOT_PENDING', `decision ${id} is ${decision.state}${decision.resolution ? ` (${decision.resolution.reason})` : ''}: only a held action takes votes`);
      }
      const approval = decision.approval;
      // Only humans vote (the route takes operator credentials only), and never for themselves.
      if (operator.name === decision.principal.agent) {
        throw new GovernorError('SELF_APPROVAL', `${operator.name} requested this action and cannot vote on it`);
      }
      if (ballot.actionDigest !== approval.actionDigest) {
        throw new GovernorError('VOTE_MISMATCH', `the vote is for action ${short(ballot.actionDigest)}, but decision ${id} holds action ${short(approval.actionDigest)}: a vote cannot be moved to another or a modified action`);
      }
      if (ballot.policyDigest !== decision.policy.digest) {
        throw new GovernorError('VOTE_MISMATCH', `the vote was cast under policy ${short(ballot.policyDigest)}, but decision ${id} was held under policy ${short(decision.policy.digest)}`);
      }
      const due = dueAt(decision);
      if (approval.tier === 'high' && due !== undefined && due <= clock()) {
        await fire(id);
        throw new GovernorError('NOT_PENDING', `decision ${id} expired at ${approval.expiresAt ?? '?'} without its quorum`);
      }
      if (ballot.vote === 'approve' && approval.irreversible && ballot.acknowledgeIrreversible !== true) {
        throw new GovernorError('ACKNOWLEDGEMENT_REQUIRED', `decision ${id} is irreversible (${decision.impact.irreversibleBecause ?? 'no inverse is known'}): approve it with acknowledgeIrreversible: true to state that it cannot be undone`);
      }
      const refused = ineligibility(approval, operator, ballot.vote);
      if (refused !== undefined) throw new GovernorError('NOT_ELIGIBLE', refused);
      const held = await stillHeld(decision);
      if (!held.ok) throw new GovernorError('POLICY_CHANGED', `decision ${id} was rejected: ${held.reason}`);

      const at = iso();
      const body = {
        decisionId: id,
        voter: operator.name,
        groups: [...operator.groups],
        vote: ballot.vote,
        reason: ballot.reason,
        acknowledgeIrreversible: ballot.acknowledgeIrreversible === true,
        actionDigest: ballot.actionDigest,
        policyDigest: ballot.policyDigest,
        at,
      };
      const leaf = eventLeaf(crypto, { type: 'vote', time: at, ...body });
      const inserted = await store.records.insert({ kind: VOTE, id: `${id}/${operator.name}`, parent: id, state: ballot.vote, body, at, leaf });
      if (!inserted.created) {
        const earlier = toVoteView(inserted.record);
        throw new GovernorError('ALREADY_VOTED', `${operator.name} already voted ${earlier.vote} on decision ${id} at ${earlier.at}: one vote per person`);
      }
      options.audit.appended(1);
      const vote = toVoteView(inserted.record);
      events.publish({ type: 'vote', decision, vote });

      const votes = await votesOf(id);
      const tally = tallyVotes(approval, votes.map(counted));
      let current: Decision | undefined = decision;
      if (tally.state !== 'open') {
        const approvers = votes.filter((v) => v.vote === 'approve').map((v) => v.voter);
        const deniers = votes.filter((v) => v.vote === 'deny').map((v) => v.voter);
        current =
          tally.state === 'approved'
            ? await resolve(decision, 'approved', releasedVerdict(decision), approval.tier === 'high' ? `quorum met: approved by ${approvers.join(', ')}` : `released before its veto window ended by ${approvers.join(', ')}`, approvers, tally)
            : await resolve(decision, 'rejected', 'deny', approval.tier === 'high' ? `denied by ${deniers.join(', ')}` : `vetoed by ${deniers.join(', ')}: ${ballot.reason}`, deniers, tally);
      }
      return { decision: current ?? (await store.decisions.get(id)) ?? decision, vote, tally };
    },

    async get(id) {
      const decision = await store.decisions.get(id);
      return decision?.approval ? view(decision) : undefined;
    },

    async list({ state = 'pending', limit }) {
      const decisions = await store.decisions.list({ state, limit, order: 'oldest' });
      return Promise.all(decisions.filter((d) => d.approval !== undefined).map(view));
    },

    async cancel(match, reason, by) {
      let count = 0;
      for (const decision of await store.decisions.list({ state: 'pending', limit: 1000, order: 'oldest' })) {
        if (match(decision) && (await resolve(decision, 'cancelled', 'deny', reason, [by]))) count++;
      }
      return count;
    },

    async start() {
      stopped = false;
      await sweep();
      sweeper = setInterval(() => {
        sweep().catch((err: unknown) => fault(err, 'sweep of held actions'));
      }, options.sweepIntervalMs ?? 5000);
      sweeper.unref?.();
    },

    stop() {
      stopped = true;
      if (sweeper !== undefined) clearInterval(sweeper);
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
    },
  };

  function link(id: string): { url?: string } {
    return options.publicUrl ? { url: `${options.publicUrl.replace(/\/$/, '')}/v1/approvals/${id}` } : {};
  }
}

/** When a held decision's timer is due: its expiry (high) or the end of its veto window (medium). */
function dueAt(decision: Decision): number | undefined {
  const at = decision.approval?.tier === 'high' ? decision.approval.expiresAt : decision.approval?.releaseAt;
  const time = at === undefined ? Number.NaN : Date.parse(at);
  return Number.isNaN(time) ? undefined : time;
}

/** The verdict a held decision resolves to when it may run: modify when a bound changed the action, else allow. */
function releasedVerdict(decision: Decision): Verdict {
  return decision.requestedAction ? 'modify' : 'allow';
}

/** The parts of an approval requirement that must not change for votes to keep counting. */
function requirementShape(approval: Decision['approval']): unknown {
  if (!approval) return null;
  return { tier: approval.tier, irreversible: approval.irreversible, quorum: approval.quorum ?? null };
}

function counted(v: VoteView): CountedVote {
  return { voter: v.voter, groups: v.groups, vote: v.vote };
}

function toVoteView(record: ControlRecord): VoteView {
  const b = record.body as { voter: string; groups: string[]; vote: 'approve' | 'deny'; reason: string; acknowledgeIrreversible: boolean; at: string };
  return { voter: b.voter, groups: b.groups, vote: b.vote, reason: b.reason, acknowledgeIrreversible: b.acknowledgeIrreversible, at: b.at, ...(record.audit ? { audit: record.audit } : {}) };
}

function recipients(decision: Decision): string[] {
  const groups = decision.approval?.quorum?.groups.map((g) => g.group) ?? [];
  return [...new Set([...(decision.approval?.owners ?? []), ...groups])];
}

function describe(decision: Decision): string {
  const targets = (decision.action.targets ?? []).map((t) => t.id).join(', ');
  return `${decision.action.tool}${targets ? ` ${targets}` : ''} in ${decision.action.environment}`;
}

function short(digest: string | undefined): string {
  return typeof digest === 'string' ? digest.slice(0, 12) : String(digest);
}

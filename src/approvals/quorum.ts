import type { ApprovalRequirement } from '../core/types.js';

/** A human's vote on a held action, as counted. */
export interface CountedVote {
  readonly voter: string;
  /** The voter's groups when they voted. */
  readonly groups: readonly string[];
  readonly vote: 'approve' | 'deny';
}

/** Where a held action stands after its votes. */
export interface Tally {
  readonly state: 'approved' | 'rejected' | 'open';
  readonly approvals: number;
  readonly denials: number;
  /** What is still missing, for people (empty once decided). */
  readonly missing: readonly string[];
}

/**
 * Counts the votes on a held action.
 *
 * High tier: approved when at least `quorum.approvals` distinct people approved
 * and every group's minimum is met by distinct members (one person fills one
 * group slot only, so a member of two groups cannot satisfy both alone: AND,
 * never OR); rejected when the deny threshold is reached (checked first: a
 * deny wins a tie). Medium tier: one veto rejects; an owner's approval
 * releases it early. Pure.
 */
export function tallyVotes(requirement: ApprovalRequirement, votes: readonly CountedVote[]): Tally {
  const approvers = distinct(votes.filter((v) => v.vote === 'approve'));
  const deniers = distinct(votes.filter((v) => v.vote === 'deny'));
  if (requirement.tier !== 'high') {
    if (deniers.length > 0) return { state: 'rejected', approvals: approvers.length, denials: deniers.length, missing: [] };
    if (approvers.length > 0) return { state: 'approved', approvals: approvers.length, denials: 0, missing: [] };
    return { state: 'open', approvals: 0, denials: 0, missing: ['no veto yet: released when the veto window ends'] };
  }
  const quorum = requirement.quorum ?? { approvals: 1, groups: [], denyThreshold: { count: 1 } };
  const counting = quorum.denyThreshold.groups;
  const denials = counting === undefined ? deniers.length : deniers.filter((v) => v.groups.some((g) => counting.includes(g))).length;
  if (denials >= quorum.denyThreshold.count) return { state: 'rejected', approvals: approvers.length, denials, missing: [] };

  const missing: string[] = [];
  if (approvers.length < quorum.approvals) missing.push(`${quorum.approvals - approvers.length} more approval(s) of ${quorum.approvals}`);
  const unfilled = unfilledGroups(quorum.groups, approvers);
  for (const { group, short } of unfilled) missing.push(`${short} more from group ${group}`);
  return { state: missing.length === 0 ? 'approved' : 'open', approvals: approvers.length, denials, missing };
}

/**
 * Why `voter` may not cast `vote` on a held action, or undefined when they may.
 * High tier: with groups, only their members vote; a deny threshold with its
 * own groups limits who may deny. Medium tier: anyone may veto; only an owner
 * (when the resources have owners) may release early.
 */
export function ineligibility(requirement: ApprovalRequirement, voter: { readonly groups: readonly string[] }, vote: 'approve' | 'deny'): string | undefined {
  const inAny = (groups: readonly string[]) => voter.groups.some((g) => groups.includes(g));
  if (requirement.tier !== 'high') {
    const owners = requirement.owners ?? [];
    if (vote === 'approve' && owners.length > 0 && !inAny(owners)) {
      return `only an owner (${owners.join(', ')}) may release a medium-risk action before its veto window ends`;
    }
    return undefined;
  }
  const groups = (requirement.quorum?.groups ?? []).map((g) => g.group);
  const denyGroups = requirement.quorum?.denyThreshold.groups;
  if (vote === 'deny' && denyGroups !== undefined) {
    return inAny(denyGroups) || inAny(groups) ? undefined : `only members of ${[...new Set([...denyGroups, ...groups])].join(', ')} may deny this action`;
  }
  if (groups.length > 0 && !inAny(groups)) return `only members of ${groups.join(', ')} may vote on this action`;
  return undefined;
}

function distinct(votes: readonly CountedVote[]): CountedVote[] {
  const seen = new Map<string, CountedVote>();
  for (const v of votes) if (!seen.has(v.voter)) seen.set(v.voter, v);
  return [...seen.values()];
}

/**
 * Groups whose minimum distinct members cannot be met: a maximum bipartite
 * matching of approvers to group slots (Kuhn's augmenting paths; quorums are
 * small). Reports, per group, how many slots stayed empty.
 */
function unfilledGroups(groups: readonly { readonly group: string; readonly min: number }[], approvers: readonly CountedVote[]): { group: string; short: number }[] {
  const slots: string[] = groups.flatMap((g) => Array.from({ length: g.min }, () => g.group));
  const slotOwner: (number | undefined)[] = slots.map(() => undefined);
  const tryAssign = (voter: number, seen: boolean[]): boolean => {
    for (let s = 0; s < slots.length; s++) {
      if (seen[s] || !(approvers[voter] as CountedVote).groups.includes(slots[s] as string)) continue;
      seen[s] = true;
      const owner = slotOwner[s];
      if (owner === undefined || tryAssign(owner, seen)) {
        slotOwner[s] = voter;
        return true;
      }
    }
    return false;
  };
  for (let v = 0; v < approvers.length; v++) tryAssign(v, slots.map(() => false));
  const short = new Map<string, number>();
  slots.forEach((group, s) => {
    if (slotOwner[s] === undefined) short.set(group, (short.get(group) ?? 0) + 1);
  });
  return [...short].map(([group, n]) => ({ group, short: n }));
}

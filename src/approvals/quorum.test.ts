import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ApprovalRequirement } from '../core/types.js';
import { ineligibility, tallyVotes, type CountedVote } from './quorum.js';

const high = (quorum: NonNullable<ApprovalRequirement['quorum']>): ApprovalRequirement => ({ tier: 'high', irreversible: false, rules: ['r'], quorum });
const dbaAndLead = high({ approvals: 2, groups: [{ group: 'dba', min: 1 }, { group: 'sre-lead', min: 1 }], denyThreshold: { count: 1 } });
const approve = (voter: string, ...groups: string[]): CountedVote => ({ voter, groups, vote: 'approve' });
const deny = (voter: string, ...groups: string[]): CountedVote => ({ voter, groups, vote: 'deny' });

describe('tallyVotes', () => {
  it('needs every group (AND): two DBAs do not meet a dba + sre-lead quorum', () => {
    const tally = tallyVotes(dbaAndLead, [approve('ann', 'dba'), approve('ben', 'dba')]);
    expect(tally.state).toBe('open');
    expect(tally.missing).toEqual(['1 more from group sre-lead']);
    expect(tallyVotes(dbaAndLead, [approve('ann', 'dba'), approve('cat', 'sre-lead')]).state).toBe('approved');
  });

  it('does not let one person in both groups fill both slots', () => {
    const tally = tallyVotes(dbaAndLead, [approve('dee', 'dba', 'sre-lead')]);
    expect(tally.state).toBe('open');
    expect(tally.missing).toContain('1 more approval(s) of 2');
    // A second person in either group completes it: the matching moves dee to the other slot.
    expect(tallyVotes(dbaAndLead, [approve('dee', 'dba', 'sre-lead'), approve('eve', 'dba')]).state).toBe('approved');
    expect(tallyVotes(dbaAndLead, [approve('eve', 'dba'), approve('dee', 'dba', 'sre-lead')]).state).toBe('approved');
  });

  it('counts a person once however many votes they appear with', () => {
    expect(tallyVotes(dbaAndLead, [approve('ann', 'dba'), approve('ann', 'dba'), approve('ann', 'sre-lead')]).state).toBe('open');
  });

  it('rejects at the deny threshold, before counting approvals', () => {
    expect(tallyVotes(dbaAndLead, [approve('ann', 'dba'), approve('cat', 'sre-lead'), deny('fay', 'dba')]).state).toBe('rejected');
    const twoDenials = high({ approvals: 1, groups: [], denyThreshold: { count: 2, groups: ['dba'] } });
    expect(tallyVotes(twoDenials, [deny('fay', 'dba'), deny('gus', 'web')]).state).toBe('open');
    expect(tallyVotes(twoDenials, [deny('fay', 'dba'), deny('hal', 'dba')]).state).toBe('rejected');
  });

  it('medium tier: one veto rejects, an approval releases early', () => {
    const medium: ApprovalRequirement = { tier: 'medium', irreversible: false, rules: ['r'], vetoWindowSeconds: 600 };
    expect(tallyVotes(medium, []).state).toBe('open');
    expect(tallyVotes(medium, [deny('ann')]).state).toBe('rejected');
    expect(tallyVotes(medium, [approve('ann')]).state).toBe('approved');
  });

  it('is approved exactly when a matching exists (property, against brute force)', () => {
    const groupNames = ['a', 'b', 'c'];
    fc.assert(
      fc.property(
        fc.array(fc.subarray(groupNames), { maxLength: 5 }),
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 3, maxLength: 3 }),
        (voterGroups, mins) => {
          const groups = groupNames.map((group, i) => ({ group, min: mins[i] as number })).filter((g) => g.min > 0);
          const total = groups.reduce((n, g) => n + g.min, 0);
          const requirement = high({ approvals: Math.max(1, total), groups, denyThreshold: { count: 1 } });
          const votes = voterGroups.map((gs, i) => approve(`v${i}`, ...gs));
          const expected = votes.length >= Math.max(1, total) && bruteForce(groups, votes);
          expect(tallyVotes(requirement, votes).state === 'approved').toBe(expected);
        },
      ),
    );
  });
});

describe('ineligibility', () => {
  it('only lets group members vote when the quorum names groups', () => {
    expect(ineligibility(dbaAndLead, { groups: ['web'] }, 'approve')).toMatch(/only members of dba, sre-lead/);
    expect(ineligibility(dbaAndLead, { groups: ['dba'] }, 'approve')).toBeUndefined();
    expect(ineligibility(high({ approvals: 1, groups: [], denyThreshold: { count: 1 } }), { groups: [] }, 'approve')).toBeUndefined();
  });

  it('medium tier: anyone may veto, only owners release early', () => {
    const medium: ApprovalRequirement = { tier: 'medium', irreversible: false, rules: ['r'], owners: ['team-checkout'] };
    expect(ineligibility(medium, { groups: [] }, 'deny')).toBeUndefined();
    expect(ineligibility(medium, { groups: ['web'] }, 'approve')).toMatch(/only an owner/);
    expect(ineligibility(medium, { groups: ['team-checkout'] }, 'approve')).toBeUndefined();
  });
});

/** Is there an assignment of distinct voters to every group slot? Tries every assignment. */
function bruteForce(groups: { group: string; min: number }[], votes: CountedVote[]): boolean {
  const slots = groups.flatMap((g) => Array.from({ length: g.min }, () => g.group));
  const used = new Set<number>();
  const fill = (s: number): boolean => {
    if (s === slots.length) return true;
    for (let v = 0; v < votes.length; v++) {
      if (used.has(v) || !(votes[v] as CountedVote).groups.includes(slots[s] as string)) continue;
      used.add(v);
      if (fill(s + 1)) return true;
      used.delete(v);
    }
    return false;
  };
  return fill(0);
}

import type { Reason, Tier, Verdict } from './types.js';

const TIER_RANK: Readonly<Record<Tier, number>> = { low: 0, medium: 1, high: 2 };

/** The combined verdict of a set of rule reasons. */
export interface Combined {
  readonly verdict: Verdict;
  /** The highest tier any approval reason asked for, when one did. */
  readonly tier?: Tier;
}

/**
 * Combines the reasons of every rule that matched into one verdict, the same
 * whatever their order:
 * any deny wins; otherwise, if no allow matched, the fallback applies (default
 * deny); otherwise an approval of medium or high tier holds the action
 * (`pending`, highest tier wins); otherwise a modification gives `modify`;
 * otherwise `allow`. Low-tier approvals only record that the action was logged.
 */
export function decide(reasons: readonly Reason[], fallback: 'allow' | 'deny'): Combined {
  let allowed = false;
  let modified = false;
  let tier: Tier | undefined;
  for (const reason of reasons) {
    switch (reason.effect) {
      case 'deny':
        return { verdict: 'deny' };
      case 'allow':
        allowed = true;
        break;
      case 'modify':
        modified = true;
        break;
      case 'approve': {
        const t = reason.tier ?? 'high';
        if (tier === undefined || TIER_RANK[t] > TIER_RANK[tier]) tier = t;
        break;
      }
    }
  }
  if (!allowed && fallback === 'deny') return { verdict: 'deny' };
  if (tier !== undefined && tier !== 'low') return { verdict: 'pending', tier };
  if (modified) return { verdict: 'modify', ...(tier ? { tier } : {}) };
  return tier ? { verdict: 'allow', tier } : { verdict: 'allow' };
}

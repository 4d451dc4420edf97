import type { Tier } from '../../core/types.js';
import type { PrimitiveInput, RuleOutcome } from './rule-outcome.js';

/**
 * Reversible by default: an action that cannot be shown reversible is escalated
 * to `tier`, and the approval states that it cannot be undone.
 */
export function evaluateReversibility(tier: Tier, { impact }: PrimitiveInput): RuleOutcome | undefined {
  if (impact.reversible) return undefined;
  return { effect: 'approve', tier, code: 'IRREVERSIBLE', message: `irreversible: ${impact.irreversibleBecause ?? 'no inverse is known'}; this action cannot be undone` };
}

import { GovernorError } from '../core/errors.js';
import type { BudgetDemand } from './store.js';

/** Most demands one reservation may carry. */
export const MAX_BUDGET_DEMANDS = 64;

/** A validated reservation, demands sorted by key (a fixed lock order across replicas). */
export interface BudgetRequest {
  readonly demands: readonly BudgetDemand[];
  readonly decisionId: string;
  readonly at: number;
}

/** Validates a reservation before it is queued; BAD_REQUEST for what cannot be a budget. */
export function toBudgetRequest(request: { readonly demands: readonly BudgetDemand[]; readonly decisionId: string; readonly at: number }): BudgetRequest {
  const { demands, decisionId, at } = request ?? {};
  if (!Array.isArray(demands) || demands.length === 0 || demands.length > MAX_BUDGET_DEMANDS) {
    throw new GovernorError('BAD_REQUEST', `a reservation needs 1 to ${MAX_BUDGET_DEMANDS} demands`);
  }
  if (typeof decisionId !== 'string' || decisionId === '' || !Number.isSafeInteger(at)) throw new GovernorError('BAD_REQUEST', 'a reservation needs a decision id and a time');
  const merged = new Map<string, BudgetDemand>();
  for (const d of demands) {
    if (typeof d?.key !== 'string' || d.key === '' || d.key.length > 512) throw new GovernorError('BAD_REQUEST', 'a budget key must be 1 to 512 characters');
    // NaN or negative amounts would let a reservation pass for free: refused. Infinity (unknown impact) is allowed and never fits.
    if (typeof d.amount !== 'number' || Number.isNaN(d.amount) || d.amount < 0) throw new GovernorError('BAD_REQUEST', `budget ${d.key}: amount must be a non-negative number`);
    if (typeof d.max !== 'number' || !Number.isFinite(d.max) || d.max < 0) throw new GovernorError('BAD_REQUEST', `budget ${d.key}: max must be a non-negative number`);
    if (!Number.isSafeInteger(d.since)) throw new GovernorError('BAD_REQUEST', `budget ${d.key}: since must be a time in ms`);
    const earlier = merged.get(d.key);
    merged.set(d.key, earlier ? { ...earlier, amount: earlier.amount + d.amount, max: Math.min(earlier.max, d.max), since: Math.min(earlier.since, d.since) } : { ...d });
  }
  return { demands: [...merged.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)), decisionId, at };
}

/** Float sums of fractions drift (0.1 + 0.2 > 0.3): a budget is met within a part per billion. */
export function fits(used: number, amount: number, max: number): boolean {
  return used + amount <= max + 1e-9;
}

/**
 * The bucket width of a demand's key: a hundredth of its window, at least one
 * second. A window's oldest bucket is counted whole, so a budget is checked
 * over a window up to one bucket longer than asked: stricter, never looser.
 */
export function bucketMs(demand: { readonly since: number }, at: number): number {
  return Math.max(1000, Math.ceil((at - demand.since) / 100));
}

/** Which of a decision's conditions failed: the `details` of a CONDITION_FAILED error. */
export type ConditionFailure = { readonly kind: 'budget'; readonly key: string; readonly used: number; readonly amount: number; readonly max: number } | { readonly kind: 'update'; readonly id: string };

/** The error of a decision whose conditions did not hold (nothing of it was written). */
export function conditionFailed(details: ConditionFailure): GovernorError {
  const message = details.kind === 'budget' ? `budget ${details.key} is full (${details.used} used, ${details.amount} asked, ${details.max} allowed)` : `record ${details.id} changed before its update`;
  return new GovernorError('CONDITION_FAILED', message, { details });
}

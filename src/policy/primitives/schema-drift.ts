import type { DriftImpact, Tier } from '../../core/types.js';
import type { PrimitiveInput, RuleOutcome } from './rule-outcome.js';

/** Most changes and issues one reason spells out; the rest are counted. */
const MAX_LISTED = 5;

/**
 * Schema-drift refusal: a change that drifts from its known-good baseline (a
 * dropped or retyped column, a removed constraint, a removed configuration
 * key) is denied, or held for approval at `tier`. What cannot be compared —
 * unparsable or dynamic SQL, SQL that was not analyzed, no baseline — is
 * drift too (fail closed). An action that changes no schema or configuration
 * has nothing to say here.
 */
export function evaluateSchemaDrift(spec: { readonly onDrift: 'deny' | 'approve'; readonly tier: Tier }, { impact }: PrimitiveInput): RuleOutcome | undefined {
  const drift = impact.drift;
  if (!drift?.drifting) return undefined;
  const message = `drifts from its baseline: ${describeDrift(drift)}`;
  if (spec.onDrift === 'deny') return { effect: 'deny', code: 'SCHEMA_DRIFT', message };
  return { effect: 'approve', tier: spec.tier, code: 'SCHEMA_DRIFT', message: `${message}; held for approval` };
}

/** The breaking changes and the issues of a drift report, for a reason: `drops column public.users.email (text, NOT NULL) (database orders-db, baseline v3)`. */
export function describeDrift(drift: DriftImpact): string {
  const items = [...drift.changes.filter((c) => c.breaking).map((c) => c.message), ...drift.issues];
  const listed = items.slice(0, MAX_LISTED).join('; ');
  const more = items.length > MAX_LISTED ? `; and ${items.length - MAX_LISTED} more` : '';
  const against = drift.baselines.length > 0 ? ` (${drift.baselines.join(', ')})` : '';
  return `${listed || 'a change the baseline cannot follow'}${more}${against}`;
}

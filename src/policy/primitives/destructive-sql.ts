import type { Tier } from '../../core/types.js';
import type { FlaggedSqlClass } from '../policy.js';
import type { PrimitiveInput, RuleOutcome } from './rule-outcome.js';

const MAX_LISTED = 5;

/**
 * Destructive-SQL gate: statements of the flagged classes (by default
 * destructive — DROP, TRUNCATE, DELETE or UPDATE of every row, dropped or
 * retyped columns —, privilege changes, and unanalyzable SQL, which is always
 * flagged) are denied or held for approval, with a reason naming each
 * statement. SQL that was not analyzed counts as unanalyzable (fail closed).
 */
export function evaluateDestructiveSql(
  spec: { readonly onDestructive: 'deny' | 'approve'; readonly classes: readonly FlaggedSqlClass[]; readonly tier: Tier },
  { impact }: PrimitiveInput,
): RuleOutcome | undefined {
  const sql = impact.sql;
  if (!sql) return undefined;
  const found = sql.analyzed
    ? sql.statements.filter((s) => (spec.classes as readonly string[]).includes(s.class)).map((s) => `statement ${s.index + 1} (${s.command}, ${s.class}): ${s.reasons.join('; ')}`)
    : [`the SQL could not be analyzed (${sql.error ?? 'no analysis'}), so it counts as destructive`];
  if (found.length === 0) return undefined;
  const more = found.length > MAX_LISTED ? `; and ${found.length - MAX_LISTED} more` : '';
  const message = `${found.slice(0, MAX_LISTED).join('; ')}${more}`;
  if (spec.onDestructive === 'deny') return { effect: 'deny', code: 'DESTRUCTIVE_SQL', message };
  return { effect: 'approve', tier: spec.tier, code: 'DESTRUCTIVE_SQL', message: `${message}; held for approval` };
}

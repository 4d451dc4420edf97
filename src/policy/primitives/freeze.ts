import type { FreezeSpec } from '../policy.js';
import type { PrimitiveInput, RuleOutcome } from './rule-outcome.js';

/**
 * Change freeze: from `start` (inclusive) to `end` (exclusive), every change
 * in scope is denied (`FREEZE`): SQL that writes or changes the schema, and
 * any tool the catalog does not mark read-only. Reads go on. The time comes
 * from the caller (facts.now); without it a freeze in scope counts as in
 * force (fail closed). Only a break-glass override lets a change through.
 */
export function evaluateFreeze(spec: FreezeSpec, { action, impact, tool, now }: PrimitiveInput): RuleOutcome | undefined {
  if (!inScope(spec.scope, action.environment, action.targets ?? [])) return undefined;
  const change = describeChange(action.sql !== undefined, impact, tool?.readOnly === true);
  if (change === undefined) return undefined;
  const window = `${spec.start} to ${spec.end}`;
  if (now === undefined) {
    return { effect: 'deny', code: 'FREEZE', message: `change freeze ${window} (${spec.reason}): the time of the decision is unknown, so the freeze counts as in force; ${change}` };
  }
  if (now < Date.parse(spec.start) || now >= Date.parse(spec.end)) return undefined;
  return { effect: 'deny', code: 'FREEZE', message: `change freeze in force until ${spec.end} (${spec.reason}): ${change} in ${action.environment} is not allowed` };
}

function inScope(scope: FreezeSpec['scope'], environment: string, targets: readonly { readonly kind: string; readonly id: string }[]): boolean {
  if (scope.environments && !scope.environments.includes(environment)) return false;
  if (!scope.dataStores && !scope.services) return true;
  // An action that names no target cannot be shown to be outside the frozen resources.
  if (targets.length === 0) return true;
  return targets.some((t) => (t.kind === 'database' ? scope.dataStores : t.kind === 'service' ? scope.services : undefined)?.includes(t.id) === true);
}

/** What the action changes, for the reason; undefined for a read. */
function describeChange(hasSql: boolean, impact: PrimitiveInput['impact'], readOnly: boolean): string | undefined {
  if (!hasSql) return readOnly ? undefined : 'a change';
  const sql = impact.sql;
  if (sql?.analyzed && !sql.writes) return undefined;
  const statements = sql?.statements.filter((s) => s.class !== 'read').map((s) => `statement ${s.index + 1}: ${s.command}${s.tables.length > 0 ? ` on ${s.tables.join(', ')}` : ''}`) ?? [];
  const what = sql?.analyzed ? `SQL that ${sql.ddl ? 'changes the schema' : 'writes'} (${statements.slice(0, 5).join('; ')})` : 'SQL that could not be analyzed';
  const rows = impact.rowEstimate?.known && impact.rows !== undefined ? `, writing an estimated ${Math.round(impact.rows)} rows` : impact.rowEstimate ? `, rows written unknown (${impact.rowEstimate.reason ?? 'not estimated'})` : '';
  return `${what}${rows}`;
}

import type { NetworkBoundarySpec } from '../policy.js';
import type { PrimitiveInput, RuleOutcome } from './rule-outcome.js';

/**
 * Network-boundary gate: every endpoint must fall in a zone the principal's
 * role may reach. An endpoint that could not be parsed or classified is outside
 * every zone, so it is denied; with `sameEnvironment`, a zone that belongs to
 * another environment is denied too (staging cannot reach prod).
 */
export function evaluateNetworkBoundary(spec: NetworkBoundarySpec, { principal, action, impact }: PrimitiveInput): RuleOutcome | undefined {
  const permitted = spec.roles ? (spec.roles[principal.role] ?? spec.defaultZones ?? []) : spec.defaultZones;
  const refused: string[] = [];
  for (const e of impact.endpoints) {
    if (e.zone === null) refused.push(`${e.input} is outside every zone${e.host === null ? ' (unparseable)' : ` (host ${e.host})`}`);
    else if (permitted && !permitted.includes(e.zone)) refused.push(`${e.input} is in zone "${e.zone}", which role "${principal.role}" may not reach`);
    else if (spec.sameEnvironment && e.zoneEnvironment !== null && e.zoneEnvironment !== action.environment) {
      refused.push(`${e.input} is in zone "${e.zone}" of environment "${e.zoneEnvironment}", not "${action.environment}"`);
    }
  }
  if (refused.length === 0) return undefined;
  return { effect: 'deny', code: 'ZONE_NOT_PERMITTED', message: refused.join('; ') };
}

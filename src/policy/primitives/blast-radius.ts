import type { BlastRadiusSpec } from '../policy.js';
import type { PrimitiveInput, RuleOutcome } from './rule-outcome.js';

/**
 * Blast-radius bound: the predicted impact must stay under every ceiling.
 * Unknown impact is over every ceiling and is denied; so is an unknown row
 * estimate when the bound has a row ceiling (`maxRows`, `maxTableFraction`).
 * Over a ceiling, a batchable tool is bounded into a first step (`modify`
 * with the scale that fits); anything that scaling cannot fix (rows among
 * it), or a tool that cannot be batched, is denied.
 */
export function evaluateBlastRadius(spec: BlastRadiusSpec, { impact, tool }: PrimitiveInput): RuleOutcome | undefined {
  if (!impact.known) {
    return { effect: 'deny', code: 'UNKNOWN_IMPACT', message: `impact unknown, which counts as over every ceiling: ${impact.unknown.join('; ')}` };
  }
  const over: string[] = [];
  let scale = 1;
  let scalable = true;
  const check = (name: string | (() => string), value: number, ceiling: number | undefined, canScale: boolean) => {
    if (ceiling === undefined || value <= ceiling + 1e-12) return;
    over.push(`${typeof name === 'string' ? name : name()} ${round(value)} > ${ceiling}`);
    if (!canScale || value === 0) scalable = false;
    else scale = Math.min(scale, ceiling / value);
  };
  check('traffic fraction', impact.trafficFraction, spec.maxTrafficFraction, true);
  check('total traffic fraction (with dependents)', impact.totalTrafficFraction, spec.maxTotalTrafficFraction, true);
  check('replicas', impact.replicas, spec.maxReplicas, true);
  for (const r of impact.resources) {
    if (r.relation === 'target') check(() => `share of ${r.id} replicas`, r.fraction, spec.maxFraction, true);
  }
  check('dependent services', impact.dependents.length, spec.maxDependents, false);
  // Row ceilings apply to SQL (which names the rows it writes); they cannot be met by a smaller batch of replicas.
  const rowCeilings = spec.maxRows !== undefined || spec.maxTableFraction !== undefined;
  if (rowCeilings && impact.rowEstimate && !impact.rowEstimate.known) {
    const also = over.length > 0 ? `; also over: ${over.join(', ')}` : '';
    return { effect: 'deny', code: 'UNKNOWN_IMPACT', message: `row estimate unknown (${impact.rowEstimate.reason ?? 'not estimated'}), which counts as over every row ceiling${also}` };
  }
  if (rowCeilings && impact.rowEstimate) {
    const before = over.length;
    check('estimated rows written', impact.rows ?? 0, spec.maxRows, false);
    if (over.length > before) over[before] += rowDetail(impact);
    check('largest share of one table written', impact.rowFraction ?? 0, spec.maxTableFraction, false);
  }
  if (over.length === 0) return undefined;

  const summary = over.join(', ');
  if (spec.onExceed === 'deny') return { effect: 'deny', code: 'BLAST_RADIUS_EXCEEDED', message: `predicted impact over the ceiling: ${summary}` };
  if (!tool?.batchable) {
    return { effect: 'deny', code: 'BLAST_RADIUS_EXCEEDED', message: `predicted impact over the ceiling: ${summary}; tool "${tool?.name ?? 'unknown'}" cannot be split into batches` };
  }
  if (!scalable || scale <= 0) return { effect: 'deny', code: 'BLAST_RADIUS_EXCEEDED', message: `predicted impact over the ceiling: ${summary}; no smaller step fits` };
  return { effect: 'modify', scale, message: `predicted impact over the ceiling: ${summary}; bounded to a first step` };
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

/** Which writes the estimate is made of: ` (statement 1: DELETE 1204 of 5000 rows of public.customers)`. */
function rowDetail(impact: PrimitiveInput['impact']): string {
  const writes = (impact.rowEstimate?.statements ?? []).filter((s) => s.command !== 'SELECT');
  if (writes.length === 0) return '';
  const parts = writes.slice(0, 3).map((s) => `statement ${s.index + 1}: ${s.command} ${Math.round(s.rows)}${s.tableRows === undefined ? '' : ` of ${Math.round(s.tableRows)}`} rows${s.table ? ` of ${s.table}` : ''}`);
  return ` (${parts.join('; ')}${writes.length > 3 ? `; and ${writes.length - 3} more` : ''})`;
}

import type { BlastRadiusSpec } from '../policy.js';
import type { PrimitiveInput, RuleOutcome } from './rule-outcome.js';

/**
 * Blast-radius bound: the predicted impact must stay under every ceiling.
 * Unknown impact is over every ceiling and is denied. Over a ceiling, a
 * batchable tool is bounded into a first step (`modify` with the scale that
 * fits); anything that scaling cannot fix, or a tool that cannot be batched,
 * is denied.
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

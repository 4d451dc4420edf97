import type { Evaluation } from '../core/types.js';

const pct = (x: number) => `${(Math.round(x * 10_000) / 100).toString()}%`;

/** A human-readable rendering of an evaluation: verdict, impact, reasons. */
export function formatEvaluation(e: Evaluation): string {
  const lines: string[] = [];
  lines.push(`verdict: ${e.verdict.toUpperCase()}${e.approval ? ` (tier ${e.approval.tier}${e.approval.irreversible ? ', irreversible' : ''})` : ''}`);
  const i = e.impact;
  lines.push('impact:');
  if (!i.known) lines.push(`  UNKNOWN: ${i.unknown.join('; ')}`);
  lines.push(`  replicas ${i.replicas}, traffic ${pct(i.trafficFraction)}, with dependents ${pct(i.totalTrafficFraction)}`);
  if (i.dependents.length > 0) lines.push(`  dependents: ${i.dependents.join(', ')}`);
  lines.push(`  reversible: ${i.reversible ? 'yes' : `no (${i.irreversibleBecause ?? 'unknown'})`}`);
  for (const r of i.resources) lines.push(`  - ${r.relation} ${r.kind} ${r.id}: ${r.affectedReplicas}/${r.replicas} replicas, ${pct(r.trafficFraction)} of traffic`);
  for (const ep of i.endpoints) lines.push(`  - endpoint ${ep.input}: ${ep.zone ? `zone ${ep.zone}` : 'outside every zone'}`);
  if (e.verdict === 'modify') lines.push(`modified action: ${JSON.stringify({ targets: e.action.targets, params: e.action.params })}`);
  lines.push('reasons:');
  for (const r of e.reasons) lines.push(`  - [${r.effect}] ${r.rule} (${r.primitive}): ${r.message}`);
  if (e.shadow.reasons.length > 0) {
    lines.push(`shadow (not enforced) would give: ${e.shadow.verdict.toUpperCase()}`);
    for (const r of e.shadow.reasons) lines.push(`  - [${r.effect}] ${r.rule} (${r.primitive}): ${r.message}`);
  }
  return lines.join('\n');
}

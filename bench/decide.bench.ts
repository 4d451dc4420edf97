import type { Verdict } from '../src/core/types.js';
import type { CompiledPolicy } from '../src/policy/index.js';
import { implementation } from './lib/governor.js';
import { heapUsedMiB, measureCalls, summarize, timerOverheadNs, type LatencySummary } from './lib/measure.js';
import type { Bench, BenchReport, TargetCheck } from './lib/report.js';
import type { BenchCase } from './lib/synthetic-policy.js';
import { loadWorkload, meanApplicableRules, unindexed, verdictCounts, type Workload } from './lib/workload.js';

/*
 * In-process decision latency: `evaluatePolicy()` (normalize, predict impact,
 * run the applicable rules, combine) with the example policy scaled to 10, 100
 * and 1,000 rules, against the same policy scanned without its index.
 */

const CALLS = 50_000;
const WARMUP_CALLS = 20_000;
/** The unindexed 1,000-rule scan is slow; it stops after this long with fewer calls. */
const MAX_MS = 4_000;
const VERDICTS: readonly Verdict[] = ['allow', 'modify', 'pending', 'deny'];

interface SizeResult {
  readonly size: number;
  readonly rules: number;
  readonly applicableRules: number;
  readonly compileMs: number;
  readonly policyHeapMiB: number;
  readonly verdicts: Record<Verdict, number>;
  readonly indexed: LatencySummary & { readonly heapUsedMiB: number; readonly p50ByVerdictUs: Record<Verdict, number> };
  readonly scan: LatencySummary & { readonly heapUsedMiB: number };
  /** The index and the scan gave the same evaluation (verdict, reasons, action, impact) for every case. */
  readonly identical: boolean;
}

function measure(w: Workload, policy: CompiledPolicy) {
  const { cases, evaluatePolicy } = w;
  const n = cases.length;
  const run = measureCalls(
    (i) => {
      const c = cases[i % n] as BenchCase;
      return evaluatePolicy(policy, c.principal, c.action);
    },
    { calls: CALLS, maxMs: MAX_MS, warmupCalls: WARMUP_CALLS },
  );
  return { ...run, heapUsedMiB: heapUsedMiB() };
}

async function run(): Promise<BenchReport> {
  const w = await loadWorkload();
  const { cases, evaluatePolicy } = w;
  const timerNs = timerOverheadNs();
  const results: SizeResult[] = [];

  for (const sp of w.policies) {
    const scanPolicy = unindexed(sp.policy);
    const identical = cases.every((c) => JSON.stringify(evaluatePolicy(sp.policy, c.principal, c.action)) === JSON.stringify(evaluatePolicy(scanPolicy, c.principal, c.action)));
    const verdictOf = cases.map((c) => evaluatePolicy(sp.policy, c.principal, c.action).verdict);
    const indexed = measure(w, sp.policy);
    const scan = measure(w, scanPolicy);
    // p50 per verdict, from the same samples: a modify runs the rules twice.
    const p50ByVerdictUs = Object.fromEntries(
      VERDICTS.map((v) => {
        const mine = indexed.samplesNs.filter((_, i) => verdictOf[i % cases.length] === v);
        return [v, mine.length === 0 ? Number.NaN : summarize(mine, 0).p50Us];
      }),
    ) as Record<Verdict, number>;
    results.push({
      size: sp.size,
      rules: sp.policy.rules.length,
      applicableRules: meanApplicableRules(w, sp.policy),
      compileMs: sp.compileMs,
      policyHeapMiB: sp.heapMiB,
      verdicts: verdictCounts(w, sp.policy),
      indexed: { ...indexed.summary, heapUsedMiB: indexed.heapUsedMiB, p50ByVerdictUs },
      scan: { ...scan.summary, heapUsedMiB: scan.heapUsedMiB },
      identical,
    });
  }

  const bySize = (size: number) => results.find((r) => r.size === size) as SizeResult;
  const small = bySize(10);
  const mid = bySize(100);
  const large = bySize(1000);
  const targets: TargetCheck[] = [
    { name: 'p99 at 100 rules', target: '≤ 20 µs', actual: `${mid.indexed.p99Us.toFixed(1)} µs`, met: mid.indexed.p99Us <= 20 },
    {
      name: '1,000-rule p50 vs 10-rule p50',
      target: '≤ 2.0×',
      actual: `${(large.indexed.p50Us / small.indexed.p50Us).toFixed(2)}× (${large.indexed.p50Us.toFixed(1)} / ${small.indexed.p50Us.toFixed(1)} µs)`,
      met: large.indexed.p50Us <= 2 * small.indexed.p50Us,
    },
    { name: 'index = scan (same evaluations)', target: 'identical', actual: results.every((r) => r.identical) ? 'identical' : 'DIFFERENT', met: results.every((r) => r.identical) },
  ];

  // A straight line through the 10- and 1,000-rule p50s: fixed cost per decision plus cost per rule run.
  const perRuleUs = (large.indexed.p50Us - small.indexed.p50Us) / (large.applicableRules - small.applicableRules);
  const fixedUs = small.indexed.p50Us - perRuleUs * small.applicableRules;
  const verdictMix = (r: SizeResult) => VERDICTS.map((v) => `${r.verdicts[v]} ${v}`).join(', ');
  return {
    name: 'decide',
    targets,
    data: { implementation: implementation().kind, costModel: { fixedUs, perRuleUs }, timerOverheadNs: timerNs, cases: cases.length, callsPerVariant: CALLS, warmupCalls: WARMUP_CALLS, results },
    tables: [
      {
        title: `decide: evaluatePolicy() in process (${implementation().kind}), ${cases.length} actions in rotation, up to ${CALLS.toLocaleString('en-US')} timed calls per row`,
        columns: ['rules', 'variant', 'rules run/decision', 'calls', 'p50 µs', 'p90 µs', 'p99 µs', 'max µs', 'decisions/s', 'heap used MiB'],
        rows: results.flatMap((r) => [
          [r.rules, 'indexed', r.applicableRules, r.indexed.calls, r.indexed.p50Us, r.indexed.p90Us, r.indexed.p99Us, r.indexed.maxUs, r.indexed.throughputPerSec, r.indexed.heapUsedMiB],
          [r.rules, 'scan (no index)', r.applicableRules, r.scan.calls, r.scan.p50Us, r.scan.p90Us, r.scan.p99Us, r.scan.maxUs, r.scan.throughputPerSec, r.scan.heapUsedMiB],
        ]),
        notes: [
          `timer overhead (hrtime.bigint pair) ≈ ${Math.round(timerNs)} ns per call, included in every figure`,
          'rules run/decision: mean rules one pass runs (a modify runs a second pass on the bounded step); the scan checks every rule\'s match first',
          `p50 ≈ ${fixedUs.toFixed(2)} µs + ${perRuleUs.toFixed(2)} µs × rules run; the 2× target needs ≤ ${(small.indexed.p50Us / (large.applicableRules - small.applicableRules)).toFixed(2)} µs per rule run at this spread of rules`,
          ...results.map((r) => `${r.rules} rules: index speed-up p50 ${(r.scan.p50Us / r.indexed.p50Us).toFixed(1)}×, p99 ${(r.scan.p99Us / r.indexed.p99Us).toFixed(1)}×; verdicts ${verdictMix(r)}`),
        ],
      },
      {
        title: 'decide: policy size, compile time and p50 by verdict (indexed)',
        columns: ['rules', 'compile ms', 'policy heap MiB', 'allow p50 µs', 'modify p50 µs', 'pending p50 µs', 'deny p50 µs'],
        rows: results.map((r) => [r.rules, r.compileMs, r.policyHeapMiB, ...VERDICTS.map((v) => r.indexed.p50ByVerdictUs[v])]),
      },
    ],
  };
}

/** The in-process decision benchmark. */
export const decideBench: Bench = { name: 'decide', description: 'evaluatePolicy() at 10/100/1,000 rules, indexed vs scan', run };

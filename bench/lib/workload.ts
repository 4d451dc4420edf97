import type { Verdict } from '../../src/core/types.js';
import { evaluatePolicy, type CompiledPolicy } from '../../src/policy/index.js';
import { heapUsedMiB } from './measure.js';
import { buildPolicyTexts, compileTexts, createRandom, EXAMPLE_CASES, syntheticCandidates, type BenchCase, type PolicyTexts } from './synthetic-policy.js';

/** The policy sizes of the issue: ~10 (the example itself), 100 and 1,000 rules. */
export const SIZES = [10, 100, 1000] as const;

/** Generated actions per verdict in the mix (the example's own actions come on top). */
const PER_VERDICT = 12;
const VERDICTS: readonly Verdict[] = ['allow', 'modify', 'pending', 'deny'];

/** A compiled policy of one size, with what it cost to build. */
export interface SizedPolicy {
  /** The nominal size (10, 100, 1000). */
  readonly size: number;
  readonly texts: PolicyTexts;
  readonly policy: CompiledPolicy;
  readonly compileMs: number;
  /** Heap the compiled policy keeps alive, MiB (measured after full collections). */
  readonly heapMiB: number;
}

let sized: readonly SizedPolicy[] | undefined;
let mix: readonly BenchCase[] | undefined;

/** The policies of every size, compiled once per process. */
export function sizedPolicies(): readonly SizedPolicy[] {
  sized ??= SIZES.map((size) => {
    const texts = buildPolicyTexts(size);
    const before = heapUsedMiB(true);
    const started = performance.now();
    const policy = compileTexts(texts);
    const compileMs = performance.now() - started;
    return { size, texts, policy, compileMs, heapMiB: heapUsedMiB(true) - before };
  });
  return sized;
}

/**
 * The actions every size is measured with: the example's own actions, plus
 * generated actions on the synthetic tools chosen so that, against the largest
 * policy, each verdict has the same share. The same list at every size (a
 * smaller policy allows fewer of the generated ones), in a fixed shuffled order.
 */
export function workloadMix(): readonly BenchCase[] {
  if (mix) return mix;
  const largest = sizedPolicies().at(-1) as SizedPolicy;
  const buckets = new Map<Verdict, BenchCase[]>(VERDICTS.map((v) => [v, []]));
  for (const c of syntheticCandidates(4000)) {
    const bucket = buckets.get(evaluatePolicy(largest.policy, c.principal, c.action).verdict) as BenchCase[];
    if (bucket.length < PER_VERDICT) bucket.push(c);
  }
  const chosen = [...EXAMPLE_CASES, ...VERDICTS.flatMap((v) => buckets.get(v) ?? [])];
  const rnd = createRandom(5);
  for (let i = chosen.length - 1; i > 0; i--) {
    const j = Math.floor(rnd.next() * (i + 1));
    [chosen[i], chosen[j]] = [chosen[j] as BenchCase, chosen[i] as BenchCase];
  }
  mix = chosen;
  return mix;
}

/** The same policy without its index: every decision runs every rule (the baseline the index is measured against). */
export function unindexed(policy: CompiledPolicy): CompiledPolicy {
  return {
    spec: policy.spec,
    inventory: policy.inventory,
    digest: policy.digest,
    rules: policy.rules,
    tool: (name) => policy.tool(name),
    rulesFor: () => policy.rules,
    fallback: (environment) => policy.fallback(environment),
  };
}

/** How many of each verdict a policy gives the cases. */
export function verdictCounts(policy: CompiledPolicy, cases: readonly BenchCase[]): Record<Verdict, number> {
  const counts: Record<Verdict, number> = { allow: 0, modify: 0, pending: 0, deny: 0 };
  for (const c of cases) counts[evaluatePolicy(policy, c.principal, c.action).verdict]++;
  return counts;
}

/** Mean number of rules the index hands a decision for the cases. */
export function meanApplicableRules(policy: CompiledPolicy, cases: readonly BenchCase[]): number {
  return cases.reduce((sum, c) => sum + policy.rulesFor(c.action.tool, c.action.environment).length, 0) / cases.length;
}

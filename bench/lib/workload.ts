import { createHash } from 'node:crypto';
import type { Verdict } from '../../src/core/types.js';
import type { CompiledPolicy, CompiledRule } from '../../src/policy/index.js';
import { loadPolicyApi } from './governor.js';
import { heapUsedMiB } from './measure.js';
import { buildPolicyTexts, createRandom, EXAMPLE_CASES, syntheticCandidates, type BenchCase, type PolicyTexts } from './synthetic-policy.js';

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
  /** Parse, validate, compile the conditions and build the index. */
  readonly compileMs: number;
  /** Heap the compiled policy keeps alive, MiB (measured after full collections). */
  readonly heapMiB: number;
}

/** The policies and actions every in-process benchmark uses. */
export interface Workload {
  readonly policies: readonly SizedPolicy[];
  readonly cases: readonly BenchCase[];
  readonly evaluatePolicy: Awaited<ReturnType<typeof loadPolicyApi>>['evaluatePolicy'];
}

let workload: Promise<Workload> | undefined;

/** Builds the workload once per process (compiling the 1,000-rule policy takes a while). */
export function loadWorkload(): Promise<Workload> {
  workload ??= build();
  return workload;
}

async function build(): Promise<Workload> {
  const { loadPolicy, evaluatePolicy } = await loadPolicyApi();
  const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');
  const policies = SIZES.map((size): SizedPolicy => {
    const texts = buildPolicyTexts(size);
    const before = heapUsedMiB(true);
    const started = performance.now();
    const result = loadPolicy({ policy: { file: 'bench-policy.yaml', text: texts.policy }, inventory: { file: 'bench-inventory.yaml', text: texts.inventory } }, { sha256Hex });
    const compileMs = performance.now() - started;
    if (!result.ok) throw new Error(`the generated ${size}-rule policy is invalid:\n${result.issues.map((i) => `${i.file}:${i.line ?? '?'} ${i.path}: ${i.message}`).join('\n')}`);
    return { size, texts, policy: result.value, compileMs, heapMiB: heapUsedMiB(true) - before };
  });

  // The generated actions are chosen against the largest policy so that each
  // verdict has the same share there; the same list is used at every size.
  const largest = policies.at(-1) as SizedPolicy;
  const buckets = new Map<Verdict, BenchCase[]>(VERDICTS.map((v) => [v, []]));
  for (const c of syntheticCandidates(4000)) {
    const bucket = buckets.get(evaluatePolicy(largest.policy, c.principal, c.action).verdict) as BenchCase[];
    if (bucket.length < PER_VERDICT) bucket.push(c);
  }
  const cases = [...EXAMPLE_CASES, ...VERDICTS.flatMap((v) => buckets.get(v) ?? [])];
  const rnd = createRandom(5);
  for (let i = cases.length - 1; i > 0; i--) {
    const j = Math.floor(rnd.next() * (i + 1));
    [cases[i], cases[j]] = [cases[j] as BenchCase, cases[i] as BenchCase];
  }
  return { policies, cases, evaluatePolicy };
}

/**
 * The same policy without its index: each decision scans every rule and keeps
 * those whose `match` names the tool and environment (as the index would have),
 * then runs them. Handing every rule to the evaluator unfiltered would not be a
 * baseline: `evaluatePolicy` relies on the index for `match`, so rules for other
 * tools and environments would fire and change the verdicts.
 */
export function unindexed(policy: CompiledPolicy): CompiledPolicy {
  const applies = (r: CompiledRule, tool: string, environment: string) =>
    (!r.spec.match?.tools || r.spec.match.tools.includes(tool)) && (!r.spec.match?.environments || r.spec.match.environments.includes(environment));
  return {
    spec: policy.spec,
    inventory: policy.inventory,
    digest: policy.digest,
    rules: policy.rules,
    tool: (name) => policy.tool(name),
    rulesFor: (tool, environment) => policy.rules.filter((r) => applies(r, tool, environment)),
    fallback: (environment) => policy.fallback(environment),
  };
}

/** How many of each verdict a policy gives the cases. */
export function verdictCounts(w: Workload, policy: CompiledPolicy): Record<Verdict, number> {
  const counts: Record<Verdict, number> = { allow: 0, modify: 0, pending: 0, deny: 0 };
  for (const c of w.cases) counts[w.evaluatePolicy(policy, c.principal, c.action).verdict]++;
  return counts;
}

/** Mean number of rules the index hands one pass of a decision. */
export function meanApplicableRules(w: Workload, policy: CompiledPolicy): number {
  return w.cases.reduce((sum, c) => sum + policy.rulesFor(c.action.tool, c.action.environment).length, 0) / w.cases.length;
}

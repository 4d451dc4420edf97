import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { Action, Principal, Tier } from '../../src/core/types.js';

/*
 * The example policy (examples/governor.yaml, read as it is) scaled up with
 * generated rules. The catalog and inventory are the same at every size: the
 * example's 7 tools and 2 environments plus 50 synthetic tools and 3 synthetic
 * environments, so only the number of rules changes between sizes. Rules are
 * generated from a seeded PRNG, one after the other, so the 100-rule policy's
 * generated rules are a prefix of the 1,000-rule policy's.
 *
 * Every generated condition comes with its Cedar form (`Condition`), so
 * bench/lib/cedar-policy.ts can give Cedar the same rules.
 */

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
/** The example policy and inventory, verbatim. */
export const EXAMPLE_POLICY = readFileSync(`${examples}governor.yaml`, 'utf8');
export const EXAMPLE_INVENTORY = readFileSync(`${examples}inventory.yaml`, 'utf8');
/** Rules in the example policy (read from the file: the example evolves). */
export const EXAMPLE_RULE_COUNT = (parseYaml(EXAMPLE_POLICY) as { rules: unknown[] }).rules.length;

/** Environments added to the inventory; generated rules are spread over them. */
export const SYNTHETIC_ENVIRONMENTS = ['dev', 'qa', 'canary'] as const;
const NOUNS = ['cache', 'queue', 'worker', 'gateway', 'index'] as const;
const REPLICAS = [3, 6, 10, 20, 40] as const;

/** What a synthetic tool's verb implies for the catalog. */
interface Verb {
  readonly name: string;
  readonly reversible: boolean;
  readonly batchable: boolean;
  readonly inverse?: 'self' | 'rollback';
  readonly endpoints?: boolean;
}

const VERBS: readonly Verb[] = [
  { name: 'restart', reversible: true, batchable: true },
  { name: 'drain', reversible: true, batchable: true },
  { name: 'flush', reversible: false, batchable: true },
  { name: 'scale', reversible: true, batchable: false, inverse: 'self' },
  { name: 'resize', reversible: true, batchable: false, inverse: 'self' },
  { name: 'deploy', reversible: true, batchable: false, inverse: 'rollback' },
  { name: 'rollback', reversible: true, batchable: false },
  { name: 'rotate', reversible: true, batchable: false, endpoints: true },
  { name: 'migrate', reversible: false, batchable: false },
  { name: 'purge', reversible: false, batchable: false },
];

/** A tool of the synthetic catalog: `<verb>_<noun>`, targeting the services `<noun>-1..3`. */
export interface SyntheticTool {
  readonly name: string;
  readonly noun: string;
  readonly verb: Verb;
}

/** The 50 synthetic tools (10 verbs × 5 nouns). */
export const SYNTHETIC_TOOLS: readonly SyntheticTool[] = VERBS.flatMap((verb) => NOUNS.map((noun) => ({ name: `${verb.name}_${noun}`, noun, verb })));

/** The principals of the benchmark; the roles are the example's. */
export const PRINCIPALS = {
  deployer: { agent: 'deploy-bot', instance: 'i-1', role: 'deployer', session: 's-1', task: 'T-1' },
  stagingDeployer: { agent: 'staging-bot', instance: 'i-2', role: 'staging-deployer', session: 's-2', task: 'T-2' },
  dba: { agent: 'dba-bot', instance: 'i-3', role: 'dba', session: 's-3', task: 'T-3' },
} as const satisfies Record<string, Principal>;

/** One decision to make: who asks for what. */
export interface BenchCase {
  readonly label: string;
  readonly principal: Principal;
  readonly action: Action;
}

/** Actions on the example's own tools, one or more per verdict (what the example policy answers is in the label). */
export const EXAMPLE_CASES: readonly BenchCase[] = [
  { label: 'example: restart 1 search replica (allow)', principal: PRINCIPALS.deployer, action: { tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 }, taskId: 'T-1' } },
  { label: 'example: restart 40% of payments (modify)', principal: PRINCIPALS.deployer, action: { tool: 'restart_service', environment: 'prod', params: { service: 'payments', fraction: 0.4 } } },
  { label: 'example: prod deploy (pending, medium)', principal: PRINCIPALS.deployer, action: { tool: 'deploy', environment: 'prod', params: { service: 'checkout' }, intent: 'release 2.4.1' } },
  { label: 'example: irreversible SQL (pending, high)', principal: PRINCIPALS.dba, action: { tool: 'run_sql', environment: 'prod', params: { database: 'orders-db' }, sql: 'DELETE FROM carts WHERE age > 30' } },
  { label: 'example: metadata endpoint (deny)', principal: PRINCIPALS.deployer, action: { tool: 'http_request', environment: 'prod', params: { url: 'http://169.254.169.254/latest/meta-data' } } },
  { label: 'example: staging role in prod (deny)', principal: PRINCIPALS.stagingDeployer, action: { tool: 'restart_service', environment: 'prod', params: { service: 'checkout', count: 1 } } },
  { label: 'example: read staging logs (allow)', principal: PRINCIPALS.stagingDeployer, action: { tool: 'read_logs', environment: 'staging', params: { service: 'checkout' } } },
  { label: 'example: staging call to a public API (allow)', principal: PRINCIPALS.stagingDeployer, action: { tool: 'http_request', environment: 'staging', params: { url: 'https://api.github.com/repos' } } },
];

/** A CEL condition and the same condition over the Cedar request built by bench/cedar.bench.ts. */
export interface Condition {
  readonly cel: string;
  readonly cedar: string;
}

/** The primitive of a generated rule. */
export type DraftPrimitive =
  | { readonly kind: 'allow' }
  | { readonly kind: 'deny'; readonly message: string }
  | {
      readonly kind: 'blast-radius';
      readonly maxFraction?: number;
      readonly maxTrafficFraction?: number;
      readonly maxReplicas?: number;
      readonly maxDependents?: number;
      readonly onExceed: 'modify' | 'deny';
    }
  | { readonly kind: 'network-boundary'; readonly roles: Readonly<Record<string, readonly string[]>> }
  | { readonly kind: 'risk-tier'; readonly tier: Tier }
  | { readonly kind: 'identity-binding'; readonly requireTask: boolean };

/** A generated rule, before it is written as Governor YAML. */
export interface RuleDraft {
  readonly id: string;
  readonly tools?: readonly string[];
  readonly environments?: readonly string[];
  readonly mode: 'enforce' | 'shadow';
  readonly condition?: Condition;
  readonly primitive: DraftPrimitive;
}

// Conditions the generator draws from, by what they are for. Fractions are
// passed to Cedar in parts per million (Cedar has no floating point).
const ALLOW_CONDITIONS: readonly Condition[] = [
  { cel: 'principal.role == "deployer"', cedar: 'principal.role == "deployer"' },
  { cel: 'principal.role in ["deployer", "staging-deployer"]', cedar: '["deployer", "staging-deployer"].contains(principal.role)' },
  { cel: 'principal.role == "dba" && action.operation in ["migrate", "purge", "flush"]', cedar: 'principal.role == "dba" && ["migrate", "purge", "flush"].contains(context.operation)' },
  { cel: 'principal.role != "staging-deployer" && principal.task != ""', cedar: 'principal.role != "staging-deployer" && principal.task != ""' },
  { cel: 'principal.role == "staging-deployer" && action.environment != "canary"', cedar: 'principal.role == "staging-deployer" && resource.environment != "canary"' },
];
const DENY_CONDITIONS: readonly Condition[] = [
  { cel: 'has(action.params.force) && action.params.force == true', cedar: 'context.force' },
  { cel: 'impact.dependents.size() > 3', cedar: 'context.dependents > 3' },
  { cel: 'impact.replicas > 30.0', cedar: 'context.replicas > 30' },
  { cel: 'action.intent.startsWith("experiment")', cedar: 'context.intent like "experiment*"' },
  { cel: 'principal.role == "staging-deployer" && impact.trafficFraction > 0.2', cedar: 'principal.role == "staging-deployer" && context.trafficPpm > 200000' },
  { cel: 'impact.totalTrafficFraction > 0.5', cedar: 'context.totalTrafficPpm > 500000' },
];
const RISK_CONDITIONS: readonly Condition[] = [
  { cel: 'impact.trafficFraction > 0.15', cedar: 'context.trafficPpm > 150000' },
  { cel: 'action.operation == "deploy" && impact.replicas > 4.0', cedar: 'context.operation == "deploy" && context.replicas > 4' },
  { cel: 'impact.dependents.size() > 1', cedar: 'context.dependents > 1' },
  { cel: 'principal.role == "staging-deployer" && impact.replicas > 2.0', cedar: 'principal.role == "staging-deployer" && context.replicas > 2' },
];
const BLAST_CONDITIONS: readonly Condition[] = [
  { cel: 'principal.role != "deployer"', cedar: 'principal.role != "deployer"' },
  { cel: 'action.operation != "rollback"', cedar: 'context.operation != "rollback"' },
];
const SHADOW_CONDITIONS: readonly Condition[] = [...DENY_CONDITIONS, { cel: 'impact.trafficFraction > 0.01', cedar: 'context.trafficPpm > 10000' }];

/** Every condition the generator writes, with its Cedar form. */
export const GENERATED_CONDITIONS: readonly Condition[] = [...ALLOW_CONDITIONS, ...DENY_CONDITIONS, ...RISK_CONDITIONS, ...BLAST_CONDITIONS, ...SHADOW_CONDITIONS];

/** A small deterministic PRNG (mulberry32), so every run generates the same policy. */
export function createRandom(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const sample = <T>(list: readonly T[], n: number): T[] => {
    const pool = [...list];
    const out: T[] = [];
    while (out.length < n && pool.length > 0) out.push(pool.splice(Math.floor(next() * pool.length), 1)[0] as T);
    return out;
  };
  /** Picks a key of `weights` with probability proportional to its weight. */
  const weighted = <K extends string>(weights: Readonly<Record<K, number>>): K => {
    const entries = Object.entries(weights) as [K, number][];
    let r = next() * entries.reduce((s, [, w]) => s + w, 0);
    for (const [k, w] of entries) {
      r -= w;
      if (r < 0) return k;
    }
    return (entries[entries.length - 1] as [K, number])[0];
  };
  return { next, pick, sample, weighted };
}

/**
 * The mix of generated rules. Most name 1–3 tools and 1–2 environments (like
 * the example's rules); a few restrict only the environment, so they apply to
 * every tool there, and a few only the tools.
 */
const SCOPE_WEIGHTS = { toolsAndEnvironments: 95, environmentOnly: 2, toolsOnly: 3 } as const;
const KIND_WEIGHTS = { allow: 35, deny: 12, blastRadius: 20, networkBoundary: 8, riskTier: 15, identity: 3, shadow: 7 } as const;

/** The first `count` generated rules (a prefix of any longer run with the same seed). */
export function generateRules(count: number, seed = 20_240_601): RuleDraft[] {
  const rnd = createRandom(seed);
  const drafts: RuleDraft[] = [];
  for (let i = 0; i < count; i++) {
    const scope = rnd.weighted(SCOPE_WEIGHTS);
    const toolCount = rnd.weighted({ '1': 60, '2': 25, '3': 15 });
    const envCount = rnd.weighted({ '1': 70, '2': 20, '0': 10 });
    const tools = scope === 'environmentOnly' ? undefined : rnd.sample(SYNTHETIC_TOOLS, Number(toolCount)).map((t) => t.name);
    const environments =
      scope === 'toolsOnly' ? undefined : scope === 'environmentOnly' ? [rnd.pick(SYNTHETIC_ENVIRONMENTS)] : envCount === '0' ? undefined : rnd.sample(SYNTHETIC_ENVIRONMENTS, Number(envCount));
    const kind = rnd.weighted(KIND_WEIGHTS);
    const id = `gen-${String(i + 1).padStart(4, '0')}-${kind}`;
    const base = { id, mode: 'enforce' as const, ...(tools ? { tools } : {}), ...(environments ? { environments } : {}) };
    switch (kind) {
      case 'allow':
        drafts.push({ ...base, primitive: { kind: 'allow' }, ...(rnd.next() < 0.8 ? { condition: rnd.pick(ALLOW_CONDITIONS) } : {}) });
        break;
      case 'deny':
        drafts.push({ ...base, primitive: { kind: 'deny', message: `generated deny ${i + 1}` }, condition: rnd.pick(DENY_CONDITIONS) });
        break;
      case 'blastRadius': {
        const ceilings: { maxFraction?: number; maxTrafficFraction?: number; maxReplicas?: number; maxDependents?: number } = {};
        if (rnd.next() < 0.7) ceilings.maxFraction = rnd.pick([0.1, 0.25, 0.5]);
        if (rnd.next() < 0.5) ceilings.maxTrafficFraction = rnd.pick([0.02, 0.05, 0.1]);
        if (rnd.next() < 0.3) ceilings.maxReplicas = rnd.pick([5, 10, 20]);
        if (rnd.next() < 0.1) ceilings.maxDependents = rnd.pick([2, 4]);
        if (Object.keys(ceilings).length === 0) ceilings.maxFraction = 0.25;
        const onExceed = rnd.next() < 0.7 ? 'modify' : 'deny';
        drafts.push({ ...base, primitive: { kind: 'blast-radius', ...ceilings, onExceed }, ...(rnd.next() < 0.3 ? { condition: rnd.pick(BLAST_CONDITIONS) } : {}) });
        break;
      }
      case 'networkBoundary': {
        const zone = () => rnd.sample(['public-apis', ...SYNTHETIC_ENVIRONMENTS.map((e) => `${e}-internal`)], 1 + Math.floor(rnd.next() * 3));
        drafts.push({ ...base, primitive: { kind: 'network-boundary', roles: { deployer: zone(), 'staging-deployer': ['public-apis'], dba: zone() } } });
        break;
      }
      case 'riskTier':
        drafts.push({ ...base, primitive: { kind: 'risk-tier', tier: rnd.weighted({ low: 20, medium: 50, high: 30 }) }, condition: rnd.pick(RISK_CONDITIONS) });
        break;
      case 'identity':
        drafts.push({ ...base, primitive: { kind: 'identity-binding', requireTask: true } });
        break;
      case 'shadow':
        drafts.push({ ...base, mode: 'shadow', primitive: { kind: 'deny', message: `trial ${i + 1}` }, condition: rnd.pick(SHADOW_CONDITIONS) });
        break;
    }
  }
  return drafts;
}

const list = (xs: readonly string[]) => `[${xs.join(', ')}]`;

/** A generated rule as a YAML list item of the policy file. */
export function ruleYaml(d: RuleDraft): string {
  const lines = [`  - id: ${d.id}`];
  if (d.mode === 'shadow') lines.push('    mode: shadow');
  const match = [...(d.tools ? [`tools: ${list(d.tools)}`] : []), ...(d.environments ? [`environments: ${list(d.environments)}`] : [])];
  if (match.length > 0) lines.push(`    match: { ${match.join(', ')} }`);
  if (d.condition) lines.push(`    when: ${JSON.stringify(d.condition.cel)}`);
  const p = d.primitive;
  switch (p.kind) {
    case 'allow':
      lines.push('    allow: {}');
      break;
    case 'deny':
      lines.push(`    deny: { message: ${JSON.stringify(p.message)} }`);
      break;
    case 'blast-radius': {
      const fields = (['maxFraction', 'maxTrafficFraction', 'maxReplicas', 'maxDependents'] as const).filter((k) => p[k] !== undefined).map((k) => `${k}: ${p[k]}`);
      lines.push(`    blastRadius: { ${[...fields, `onExceed: ${p.onExceed}`].join(', ')} }`);
      break;
    }
    case 'network-boundary':
      lines.push('    networkBoundary:', `      roles: { ${Object.entries(p.roles).map(([role, zones]) => `${role}: ${list(zones)}`).join(', ')} }`, '      sameEnvironment: true');
      break;
    case 'risk-tier':
      lines.push(`    riskTier: { tier: ${p.tier} }`);
      break;
    case 'identity-binding':
      lines.push(`    identity: { requireTask: ${p.requireTask} }`);
      break;
  }
  return lines.join('\n');
}

function toolYaml(t: SyntheticTool): string {
  const v = t.verb;
  const lines = [`  ${t.name}:`, `    operation: ${v.name}`];
  lines.push(v.batchable ? '    targets: { param: service, kind: service, fractionParam: fraction, countParam: count }' : '    targets: { param: service, kind: service }');
  if (v.endpoints) lines.push('    endpointsParam: url');
  lines.push(`    reversible: ${v.reversible}`);
  if (v.batchable) lines.push('    batchable: true');
  if (v.inverse === 'self') lines.push(`    inverse: { tool: ${t.name} }`);
  if (v.inverse === 'rollback') lines.push(`    inverse: { tool: rollback_${t.noun} }`);
  return lines.join('\n');
}

/** The inventory: the example's plus 15 services and one zone in each synthetic environment. */
export function inventoryYaml(seed = 7): string {
  const rnd = createRandom(seed);
  const doc = parseYaml(EXAMPLE_INVENTORY) as { services: object[]; zones: object[] };
  SYNTHETIC_ENVIRONMENTS.forEach((environment, e) => {
    const services = NOUNS.flatMap((noun) => [1, 2, 3].map((k) => ({ noun, k, weight: 0.2 + rnd.next() })));
    const total = services.reduce((s, x) => s + x.weight, 0);
    for (const { noun, k, weight } of services) {
      const dependsOn = noun === 'gateway' ? [`worker-${k}`] : noun === 'worker' ? [`queue-${k}`, `cache-${k}`] : noun === 'index' ? [`cache-${k}`] : [];
      doc.services.push({ id: `${noun}-${k}`, environment, replicas: rnd.pick(REPLICAS), traffic: Math.round((weight / total) * 0.95 * 10_000) / 10_000, ...(dependsOn.length ? { dependsOn } : {}), owners: [`team-${noun}`] });
    }
    doc.zones.push({ name: `${environment}-internal`, environment, cidrs: [`10.${30 + e}.0.0/16`], hosts: [`${environment}.internal`] });
  });
  return stringifyYaml(doc);
}

/** The policy and inventory texts of one size. */
export interface PolicyTexts {
  readonly policy: string;
  readonly inventory: string;
  /** Rules in the policy (at least the example's). */
  readonly ruleCount: number;
}

/** The example policy with the synthetic catalog and enough generated rules to make `totalRules` (none below the example's count). */
export function buildPolicyTexts(totalRules: number): PolicyTexts {
  const drafts = generateRules(Math.max(0, totalRules - EXAMPLE_RULE_COUNT));
  const at = EXAMPLE_POLICY.indexOf('\nrules:');
  const head = EXAMPLE_POLICY.slice(0, at).trimEnd();
  const exampleRules = EXAMPLE_POLICY.slice(at).trimEnd();
  const policy = [head, '', '  # Synthetic catalog (bench/lib/synthetic-policy.ts)', ...SYNTHETIC_TOOLS.map(toolYaml), exampleRules, '', '  # Generated rules', ...drafts.map(ruleYaml), ''].join('\n');
  return { policy, inventory: inventoryYaml(), ruleCount: EXAMPLE_RULE_COUNT + drafts.length };
}

/** A deterministic pool of actions on synthetic tools, of every shape the tools accept. */
export function syntheticCandidates(count: number, seed = 99): BenchCase[] {
  const rnd = createRandom(seed);
  const principals = Object.values(PRINCIPALS);
  const cases: BenchCase[] = [];
  for (let i = 0; i < count; i++) {
    const tool = rnd.pick(SYNTHETIC_TOOLS);
    const e = Math.floor(rnd.next() * SYNTHETIC_ENVIRONMENTS.length);
    const environment = SYNTHETIC_ENVIRONMENTS[e] as string;
    const principal = rnd.pick(principals);
    const params: Record<string, unknown> = { service: `${tool.noun}-${1 + Math.floor(rnd.next() * 3)}` };
    if (tool.verb.batchable) {
      const shape = rnd.weighted({ fraction: 50, count: 30, whole: 20 });
      if (shape === 'fraction') params.fraction = rnd.pick([0.05, 0.1, 0.25, 0.5, 1]);
      if (shape === 'count') params.count = rnd.pick([1, 2, 5, 10]);
    }
    if (tool.verb.endpoints) {
      params.url = rnd.pick(['https://api.github.com/app/installations', 'https://hooks.slack.com/services/T0/B0/x', `http://vault.${environment}.internal/v1/rotate`, `http://10.${30 + e}.4.2:8200/`, 'http://10.10.0.7/', 'http://metadata.google.internal/']);
    }
    if (rnd.next() < 0.1) params.force = true;
    const r = rnd.next();
    const intent = r < 0.1 ? 'experiment: cold cache' : r < 0.4 ? 'routine maintenance' : undefined;
    const action: Action = { tool: tool.name, environment, params, ...(intent ? { intent } : {}), ...(rnd.next() < 0.5 && principal.task ? { taskId: principal.task } : {}) };
    cases.push({ label: `generated: ${principal.role} ${tool.name} in ${environment}`, principal, action });
  }
  return cases;
}

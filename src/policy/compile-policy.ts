import type { Environment } from '@marcbachmann/cel-js';
import { canonicalJson } from '../core/canonical-json.js';
import type { Issue, ParseResult } from '../core/errors.js';
import type { Primitive } from '../core/types.js';
import type { Inventory } from '../impact/inventory.js';
import { createCelCompiler, type CelCompiler } from './cel-compile.js';
import { createCelEnvironment, type CelContext } from './cel-environment.js';
import type { PolicySpec, RuleSpec, ToolSpec } from './policy.js';
import { evaluateBlastRadius } from './primitives/blast-radius.js';
import { evaluateDestructiveSql } from './primitives/destructive-sql.js';
import { evaluateFreeze } from './primitives/freeze.js';
import { evaluateSchemaDrift } from './primitives/schema-drift.js';
import { evaluateIdentityBinding } from './primitives/identity-binding.js';
import { evaluateNetworkBoundary } from './primitives/network-boundary.js';
import { evaluateReversibility } from './primitives/reversible-by-default.js';
import type { PrimitiveInput, RuleOutcome } from './primitives/rule-outcome.js';

/** A rule ready to run: its condition compiled once, its primitive bound. */
export interface CompiledRule {
  readonly spec: RuleSpec;
  /** Position in the policy file; reasons are reported in this order. */
  readonly index: number;
  readonly primitive: Primitive;
  /** The compiled `when:` condition, or undefined when the rule always applies. */
  readonly condition: ((context: CelContext) => unknown) | undefined;
  readonly evaluate: (input: PrimitiveInput) => RuleOutcome | undefined;
}

/** A validated policy with its inventory, indexed for the decision path. */
export interface CompiledPolicy {
  readonly spec: PolicySpec;
  readonly inventory: Inventory;
  /** Hex SHA-256 of the canonical JSON of the policy and the inventory together. */
  readonly digest: string;
  readonly rules: readonly CompiledRule[];
  tool(name: string): ToolSpec | undefined;
  /** The rules that can apply to a tool in an environment, in file order. */
  rulesFor(tool: string, environment: string): readonly CompiledRule[];
  /** What happens when no allow rule matches in an environment. */
  fallback(environment: string): 'allow' | 'deny';
}

/** What compiling needs from outside: a SHA-256, which the pure core does not implement. */
export interface CompileDeps {
  readonly sha256Hex: (text: string) => string;
}

const WILDCARD = '*';
/** Above this many (tool, environment) pairs the index is built lazily. */
const MAX_PRECOMPUTED_PAIRS = 50_000;

let sharedEnvironment: Environment | undefined;
let sharedCompiler: CelCompiler | undefined;

/**
 * Compiles a validated policy against an inventory: checks every condition in
 * the typed CEL environment (a misspelled attribute or a type error is an issue
 * here, never at decision time), checks references to tools and zones, and
 * indexes the rules by tool and environment.
 */
export function compilePolicy(spec: PolicySpec, inventory: Inventory, deps: CompileDeps, file = 'governor.yaml'): ParseResult<CompiledPolicy> {
  sharedEnvironment ??= createCelEnvironment();
  const env = sharedEnvironment;
  sharedCompiler ??= createCelCompiler(env);
  const compiler = sharedCompiler;
  const issues: Issue[] = [];
  const fail = (rule: RuleSpec, i: number, path: string, message: string) =>
    issues.push({ file, path: `rules[${i}]${path}`, message: `rule "${rule.id}": ${message}`, ...(rule.line === undefined ? {} : { line: rule.line }) });
  const zoneNames = new Set(inventory.zones.zones.map((z) => z.name));

  const rules: CompiledRule[] = [];
  spec.rules.forEach((rule, i) => {
    let condition: CompiledRule['condition'];
    if (rule.when !== undefined) {
      try {
        const checked = env.check(rule.when);
        if (!checked.valid) fail(rule, i, '.when', `invalid condition: ${firstLine(checked.error?.message)}`);
        else if (checked.type !== 'bool') fail(rule, i, '.when', `the condition must be a bool, but it is a ${checked.type}`);
        // Checked above, so the closure fast path may run it; cel-js still evaluates anything outside that subset.
        else condition = compiler.condition(env.parse(rule.when));
      } catch (err) {
        fail(rule, i, '.when', `invalid condition: ${firstLine((err as Error).message)}`);
      }
    }
    for (const t of rule.match?.tools ?? []) {
      if (!spec.tools[t]) fail(rule, i, '.match.tools', `tool "${t}" is not in the tool catalog`);
    }
    const p = rule.primitive;
    if (p.kind === 'network-boundary') {
      const named = [...Object.values(p.spec.roles ?? {}).flat(), ...(p.spec.defaultZones ?? [])];
      for (const z of named) if (!zoneNames.has(z)) fail(rule, i, '.networkBoundary', `zone "${z}" is not in the inventory`);
    }
    if (p.kind === 'freeze') {
      const stores = new Set(inventory.spec.dataStores.map((d) => d.id));
      const services = new Set(inventory.spec.services.map((d) => d.id));
      for (const d of p.spec.scope.dataStores ?? []) if (!stores.has(d)) fail(rule, i, '.freeze.scope.dataStores', `data store "${d}" is not in the inventory`);
      for (const d of p.spec.scope.services ?? []) if (!services.has(d)) fail(rule, i, '.freeze.scope.services', `service "${d}" is not in the inventory`);
    }
    rules.push({ spec: rule, index: i, primitive: p.kind, condition, evaluate: bindPrimitive(rule) });
  });
  if (issues.length > 0) return { ok: false, issues };

  const digest = deps.sha256Hex(canonicalJson({ policy: stripLines(spec), inventory: inventory.spec }));
  const index = buildIndex(spec, inventory, rules);
  return {
    ok: true,
    value: {
      spec,
      inventory,
      digest,
      rules,
      tool: (name) => (Object.prototype.hasOwnProperty.call(spec.tools, name) ? spec.tools[name] : undefined),
      rulesFor: index,
      fallback: (environment) => (Object.prototype.hasOwnProperty.call(spec.defaults.environments, environment) ? spec.defaults.environments[environment] : undefined) ?? spec.defaults.verdict,
    },
  };
}

function bindPrimitive(rule: RuleSpec): CompiledRule['evaluate'] {
  const p = rule.primitive;
  switch (p.kind) {
    case 'allow':
      return () => ({ effect: 'allow', message: p.message ?? 'allowed' });
    case 'deny':
      return () => ({ effect: 'deny', code: 'DENIED_BY_RULE', message: p.message });
    case 'blast-radius':
      return (input) => evaluateBlastRadius(p.spec, input);
    case 'network-boundary':
      return (input) => evaluateNetworkBoundary(p.spec, input);
    case 'reversible-by-default':
      return (input) => evaluateReversibility(p.tier, input);
    case 'identity-binding':
      return (input) => evaluateIdentityBinding(p, input);
    case 'risk-tier':
      return () => ({ effect: 'approve', tier: p.tier, code: 'RISK_TIER', message: p.message ?? `risk tier ${p.tier}` });
    case 'budget':
      // Budgets say nothing about one action alone: evaluatePolicy turns them into draws the decision service reserves.
      return () => undefined;
    case 'schema-drift':
      return (input) => evaluateSchemaDrift(p, input);
    case 'destructive-sql':
      return (input) => evaluateDestructiveSql(p, input);
    case 'freeze':
      return (input) => evaluateFreeze(p.spec, input);
  }
}

/**
 * Index: for every (tool, environment) pair the policy or inventory names, the
 * applicable rules in file order. A tool or environment no rule names sees only
 * the rules that do not restrict it, which is what the wildcard entry holds.
 */
function buildIndex(spec: PolicySpec, inventory: Inventory, rules: readonly CompiledRule[]): (tool: string, environment: string) => readonly CompiledRule[] {
  const tools = new Set<string>([WILDCARD, ...Object.keys(spec.tools)]);
  const envs = new Set<string>([WILDCARD, ...inventory.environments, ...Object.keys(spec.defaults.environments)]);
  for (const r of rules) {
    for (const t of r.spec.match?.tools ?? []) tools.add(t);
    for (const e of r.spec.match?.environments ?? []) envs.add(e);
  }
  const applies = (r: CompiledRule, tool: string, env: string) =>
    (!r.spec.match?.tools || r.spec.match.tools.includes(tool)) && (!r.spec.match?.environments || r.spec.match.environments.includes(env));
  const select = (tool: string, env: string) => rules.filter((r) => applies(r, tool, env));

  const table = new Map<string, Map<string, readonly CompiledRule[]>>();
  const eager = tools.size * envs.size <= MAX_PRECOMPUTED_PAIRS;
  if (eager) {
    for (const t of tools) {
      const row = new Map<string, readonly CompiledRule[]>();
      for (const e of envs) row.set(e, select(t, e));
      table.set(t, row);
    }
  }
  return (tool, env) => {
    const t = tools.has(tool) ? tool : WILDCARD;
    const e = envs.has(env) ? env : WILDCARD;
    if (!eager) return select(t, e);
    return table.get(t)?.get(e) ?? select(t, e);
  };
}

function stripLines(spec: PolicySpec): unknown {
  return { ...spec, rules: spec.rules.map(({ line: _line, ...rest }) => rest) };
}

function firstLine(message: string | undefined): string {
  return (message ?? 'unknown error').split('\n')[0] ?? '';
}

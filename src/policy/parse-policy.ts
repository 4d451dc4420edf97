import type { ParseResult } from '../core/errors.js';
import type { RuleMode, Tier } from '../core/types.js';
import type { BlastRadiusSpec, NetworkBoundarySpec, PolicySpec, PrimitiveSpec, RuleMatch, RuleSpec, ToolSpec } from './policy.js';
import { IDENTIFIER, IDENTIFIER_NAME, Reader, type YamlSource } from './yaml-source.js';

/** Most rules a policy may hold. */
export const MAX_RULES = 10_000;
/** Longest CEL condition accepted. */
export const MAX_CONDITION_LENGTH = 4096;

/** The YAML key of each primitive. */
const PRIMITIVE_KEYS = {
  allow: 'allow',
  deny: 'deny',
  blastRadius: 'blast-radius',
  networkBoundary: 'network-boundary',
  reversibility: 'reversible-by-default',
  identity: 'identity-binding',
  riskTier: 'risk-tier',
} as const;
type PrimitiveKey = keyof typeof PRIMITIVE_KEYS;
const PRIMITIVE_KEY_LIST = Object.keys(PRIMITIVE_KEYS) as PrimitiveKey[];
const TIERS: readonly Tier[] = ['low', 'medium', 'high'];
const MODES: readonly RuleMode[] = ['enforce', 'shadow'];
const id = { pattern: IDENTIFIER, patternName: IDENTIFIER_NAME };

/** Validates the structure of a policy file. CEL conditions are checked later, at compile time. */
export function parsePolicy(source: YamlSource): ParseResult<PolicySpec> {
  const r = new Reader(source);
  const root = r.object([], source.value, ['version', 'name', 'inventory', 'defaults', 'tools', 'rules']);
  if (!root) return { ok: false, issues: r.issues };
  if (root.version !== 1) r.fail(['version'], `expected version: 1, got ${JSON.stringify(root.version ?? null)}`);
  const name = root.name === undefined ? 'governor' : r.string(['name'], root.name, id);
  const inventory = r.string(['inventory'], root.inventory ?? 'inventory.yaml', { max: 1024 });

  const defaults = r.object(['defaults'], root.defaults ?? {}, ['verdict', 'environments']) ?? {};
  const verdict = r.oneOf(['defaults', 'verdict'], defaults.verdict ?? 'deny', ['allow', 'deny'] as const) ?? 'deny';
  const environments: Record<string, 'allow' | 'deny'> = {};
  const envs = r.object(['defaults', 'environments'], defaults.environments ?? {});
  for (const [env, v] of Object.entries(envs ?? {})) {
    if (r.string(['defaults', 'environments', env], env, id) === undefined) continue;
    const value = r.oneOf(['defaults', 'environments', env], v, ['allow', 'deny'] as const);
    if (value) environments[env] = value;
  }

  const tools: Record<string, ToolSpec> = {};
  for (const [toolName, raw] of Object.entries(r.object(['tools'], root.tools ?? {}) ?? {})) {
    const tool = parseTool(r, toolName, raw);
    if (tool) tools[toolName] = tool;
  }

  const rules: RuleSpec[] = [];
  const seen = new Set<string>();
  (r.array(['rules'], root.rules ?? [], MAX_RULES) ?? []).forEach((raw, i) => {
    const rule = parseRule(r, source, i, raw);
    if (!rule) return;
    if (seen.has(rule.id)) r.fail(['rules', i, 'id'], `duplicate rule id "${rule.id}"`);
    seen.add(rule.id);
    rules.push(rule);
  });

  if (r.issues.length > 0 || name === undefined || inventory === undefined) return { ok: false, issues: r.issues };
  return { ok: true, value: { version: 1, name, inventory, defaults: { verdict, environments }, tools, rules } };
}

function parseTool(r: Reader, toolName: string, raw: unknown): ToolSpec | undefined {
  const p = ['tools', toolName];
  if (r.string(p, toolName, id) === undefined) return undefined;
  const o = r.object(p, raw, ['operation', 'targets', 'endpointsParam', 'reversible', 'inverse', 'batchable', 'description']);
  if (!o) return undefined;
  const operation = r.string([...p, 'operation'], o.operation ?? toolName, id);
  let targets: ToolSpec['targets'];
  if (o.targets !== undefined) {
    const t = r.object([...p, 'targets'], o.targets, ['param', 'kind', 'fractionParam', 'countParam']);
    const param = t && r.string([...p, 'targets', 'param'], t.param, id);
    const kind = t && r.string([...p, 'targets', 'kind'], t.kind ?? 'service', id);
    const fractionParam = t?.fractionParam === undefined ? undefined : r.string([...p, 'targets', 'fractionParam'], t.fractionParam, id);
    const countParam = t?.countParam === undefined ? undefined : r.string([...p, 'targets', 'countParam'], t.countParam, id);
    if (param && kind) targets = { param, kind, ...(fractionParam ? { fractionParam } : {}), ...(countParam ? { countParam } : {}) };
  }
  const endpointsParam = o.endpointsParam === undefined ? undefined : r.string([...p, 'endpointsParam'], o.endpointsParam, id);
  const reversible = r.boolean([...p, 'reversible'], o.reversible ?? false);
  const batchable = r.boolean([...p, 'batchable'], o.batchable ?? false);
  let inverse: ToolSpec['inverse'];
  if (o.inverse !== undefined) {
    const inv = r.object([...p, 'inverse'], o.inverse, ['tool', 'params']);
    const tool = inv && r.string([...p, 'inverse', 'tool'], inv.tool, id);
    const params = inv?.params === undefined ? undefined : r.object([...p, 'inverse', 'params'], inv.params);
    if (tool) inverse = { tool, ...(params ? { params } : {}) };
    if (reversible === false) r.fail([...p, 'inverse'], 'an inverse only makes sense on a reversible tool (reversible: true)');
  }
  if (operation === undefined || reversible === undefined || batchable === undefined) return undefined;
  if (batchable && !targets?.fractionParam && !targets?.countParam) {
    r.fail([...p, 'batchable'], 'a batchable tool needs targets.fractionParam or targets.countParam, so a bounded step can be passed to it');
  }
  return {
    name: toolName,
    operation,
    reversible,
    batchable,
    ...(targets ? { targets } : {}),
    ...(endpointsParam ? { endpointsParam } : {}),
    ...(inverse ? { inverse } : {}),
  };
}

function parseRule(r: Reader, source: YamlSource, i: number, raw: unknown): RuleSpec | undefined {
  const p = ['rules', i];
  const before = r.issues.length;
  const rawId = typeof raw === 'object' && raw !== null && typeof (raw as { id?: unknown }).id === 'string' ? (raw as { id: string }).id : undefined;
  try {
    return parseRuleBody(r, source, p, i, raw);
  } finally {
    // Name the rule in every issue found inside it, not only its position.
    if (rawId !== undefined) r.prefix(before, `rule "${rawId.slice(0, 128)}": `);
  }
}

function parseRuleBody(r: Reader, source: YamlSource, p: (string | number)[], i: number, raw: unknown): RuleSpec | undefined {
  const o = r.object(p, raw, ['id', 'description', 'when', 'match', 'mode', ...PRIMITIVE_KEY_LIST]);
  if (!o) return undefined;
  const ruleId = r.string([...p, 'id'], o.id, id);
  const where = ruleId ? `rule "${ruleId}"` : `rule ${i}`;
  const description = o.description === undefined ? undefined : r.string([...p, 'description'], o.description, { max: 1024 });
  const when = o.when === undefined ? undefined : r.string([...p, 'when'], o.when, { max: MAX_CONDITION_LENGTH });
  const mode = r.oneOf([...p, 'mode'], o.mode ?? 'enforce', MODES);
  let match: RuleMatch | undefined;
  if (o.match !== undefined) {
    const m = r.object([...p, 'match'], o.match, ['tools', 'environments']);
    const tools = m?.tools === undefined ? undefined : r.stringList([...p, 'match', 'tools'], m.tools, id);
    const environments = m?.environments === undefined ? undefined : r.stringList([...p, 'match', 'environments'], m.environments, id);
    match = { ...(tools ? { tools } : {}), ...(environments ? { environments } : {}) };
  }
  const present = PRIMITIVE_KEY_LIST.filter((k) => o[k] !== undefined);
  if (present.length !== 1) {
    r.fail(p, `${where} must have exactly one primitive (${PRIMITIVE_KEY_LIST.join(', ')}), found ${present.length === 0 ? 'none' : present.join(', ')}`);
    return undefined;
  }
  const key = present[0] as PrimitiveKey;
  const primitive = parsePrimitive(r, [...p, key], key, o[key]);
  if (!ruleId || !mode || !primitive) return undefined;
  const line = source.lineOf(p);
  return {
    id: ruleId,
    mode,
    primitive,
    ...(description ? { description } : {}),
    ...(when ? { when } : {}),
    ...(match ? { match } : {}),
    ...(line === undefined ? {} : { line }),
  };
}

function parsePrimitive(r: Reader, p: (string | number)[], key: PrimitiveKey, raw: unknown): PrimitiveSpec | undefined {
  const o = r.object(p, raw === null ? {} : raw);
  if (!o) return undefined;
  const only = (allowed: string[]) => r.object(p, o, allowed);
  const tier = (value: unknown, fallback: Tier) => r.oneOf([...p, 'tier'], value ?? fallback, TIERS);
  switch (key) {
    case 'allow': {
      only(['message']);
      const message = o.message === undefined ? undefined : r.string([...p, 'message'], o.message, { max: 1024 });
      return { kind: 'allow', ...(message ? { message } : {}) };
    }
    case 'deny': {
      only(['message']);
      const message = r.string([...p, 'message'], o.message, { max: 1024 });
      return message ? { kind: 'deny', message } : undefined;
    }
    case 'blastRadius': {
      only(['maxTrafficFraction', 'maxTotalTrafficFraction', 'maxReplicas', 'maxFraction', 'maxDependents', 'onExceed']);
      const spec: { -readonly [K in keyof BlastRadiusSpec]?: BlastRadiusSpec[K] } = {};
      for (const k of ['maxTrafficFraction', 'maxTotalTrafficFraction', 'maxFraction'] as const) {
        const v = o[k] === undefined ? undefined : r.number([...p, k], o[k], { min: 0, max: 1 });
        if (v !== undefined) spec[k] = v;
      }
      for (const k of ['maxReplicas', 'maxDependents'] as const) {
        const v = o[k] === undefined ? undefined : r.number([...p, k], o[k], { min: 0, integer: true });
        if (v !== undefined) spec[k] = v;
      }
      if (Object.keys(spec).length === 0) r.fail(p, 'a blast-radius bound needs at least one ceiling (maxTrafficFraction, maxTotalTrafficFraction, maxReplicas, maxFraction, maxDependents)');
      const onExceed = r.oneOf([...p, 'onExceed'], o.onExceed ?? 'modify', ['modify', 'deny'] as const);
      return onExceed ? { kind: 'blast-radius', spec: { ...spec, onExceed } as BlastRadiusSpec } : undefined;
    }
    case 'networkBoundary': {
      only(['roles', 'defaultZones', 'sameEnvironment']);
      let roles: Record<string, readonly string[]> | undefined;
      if (o.roles !== undefined) {
        roles = {};
        for (const [role, zones] of Object.entries(r.object([...p, 'roles'], o.roles) ?? {})) {
          const list = r.stringList([...p, 'roles', role], zones, id);
          if (list) roles[role] = list;
        }
      }
      const defaultZones = o.defaultZones === undefined ? undefined : r.stringList([...p, 'defaultZones'], o.defaultZones, id);
      const sameEnvironment = r.boolean([...p, 'sameEnvironment'], o.sameEnvironment ?? true);
      if (sameEnvironment === undefined) return undefined;
      const spec: NetworkBoundarySpec = { sameEnvironment, ...(roles ? { roles } : {}), ...(defaultZones ? { defaultZones } : {}) };
      return { kind: 'network-boundary', spec };
    }
    case 'reversibility': {
      only(['tier']);
      const t = tier(o.tier, 'high');
      return t ? { kind: 'reversible-by-default', tier: t } : undefined;
    }
    case 'identity': {
      only(['requireTask', 'roles', 'agents']);
      const requireTask = r.boolean([...p, 'requireTask'], o.requireTask ?? false);
      const roles = o.roles === undefined ? undefined : r.stringList([...p, 'roles'], o.roles, id);
      const agents = o.agents === undefined ? undefined : r.stringList([...p, 'agents'], o.agents, id);
      if (requireTask === undefined) return undefined;
      return { kind: 'identity-binding', requireTask, ...(roles ? { roles } : {}), ...(agents ? { agents } : {}) };
    }
    case 'riskTier': {
      only(['tier', 'message']);
      const t = tier(o.tier, 'high');
      const message = o.message === undefined ? undefined : r.string([...p, 'message'], o.message, { max: 1024 });
      return t ? { kind: 'risk-tier', tier: t, ...(message ? { message } : {}) } : undefined;
    }
  }
}

import type { ParseResult } from '../core/errors.js';
import type { RuleMode, Tier } from '../core/types.js';
import { parseDuration } from '../identity/parse-duration.js';
import type {
  ApprovalSpec,
  BlastRadiusSpec,
  BreakerSpec,
  BreakGlassSpec,
  ConfigToolSpec,
  FlaggedSqlClass,
  FreezeSpec,
  KillSwitchSpec,
  TrustSpec,
  NetworkBoundarySpec,
  PolicySpec,
  PrimitiveSpec,
  RuleMatch,
  RuleSpec,
  ToolSpec,
} from './policy.js';
import { IDENTIFIER, IDENTIFIER_NAME, Reader, type YamlSource } from './yaml-source.js';

/** Most rules a policy may hold. */
export const MAX_RULES = 10_000;
/** Longest CEL condition accepted. */
export const MAX_CONDITION_LENGTH = 4096;
/** Longest a held action may wait for its quorum: 7 days. */
export const MAX_EXPIRY_SECONDS = 7 * 86_400;
/** Longest veto window: 1 day. */
export const MAX_VETO_WINDOW_SECONDS = 86_400;
/** Longest break-glass override a policy may allow: 24 hours. */
export const MAX_BREAK_GLASS_SECONDS = 86_400;
/** Most approvals a quorum may ask for. */
export const MAX_APPROVALS = 16;
const APPROVAL_KEYS = ['approvals', 'groups', 'denyThreshold', 'expiry', 'vetoWindow'];

/** The YAML key of each primitive. */
const PRIMITIVE_KEYS = {
  allow: 'allow',
  deny: 'deny',
  blastRadius: 'blast-radius',
  networkBoundary: 'network-boundary',
  reversibility: 'reversible-by-default',
  identity: 'identity-binding',
  riskTier: 'risk-tier',
  budget: 'budget',
  schemaDrift: 'schema-drift',
  destructiveSql: 'destructive-sql',
  freeze: 'freeze',
} as const;
type PrimitiveKey = keyof typeof PRIMITIVE_KEYS;
const PRIMITIVE_KEY_LIST = Object.keys(PRIMITIVE_KEYS) as PrimitiveKey[];
const TIERS: readonly Tier[] = ['low', 'medium', 'high'];
const MODES: readonly RuleMode[] = ['enforce', 'shadow'];
const id = { pattern: IDENTIFIER, patternName: IDENTIFIER_NAME };

/** Validates the structure of a policy file. CEL conditions are checked later, at compile time. */
export function parsePolicy(source: YamlSource): ParseResult<PolicySpec> {
  const r = new Reader(source);
  const root = r.object([], source.value, ['version', 'name', 'inventory', 'defaults', 'tools', 'rules', 'breakGlass', 'trust', 'killSwitch', 'breakers']);
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

  const breakGlass = parseBreakGlass(r, root.breakGlass ?? {});
  const trust = parseTrust(r, root.trust ?? {});
  const killSwitch = parseKillSwitch(r, root.killSwitch ?? {});
  const breakers = parseBreakers(r, root.breakers ?? {});

  if (r.issues.length > 0 || name === undefined || inventory === undefined || !breakGlass || !trust || !killSwitch || !breakers) return { ok: false, issues: r.issues };
  return { ok: true, value: { version: 1, name, inventory, defaults: { verdict, environments }, tools, rules, breakGlass, trust, killSwitch, breakers } };
}

const LEVELS = ['sandbox', 'staging', 'production'] as const;
const DEFAULT_LEVEL_ENVIRONMENTS: Record<(typeof LEVELS)[number], string[]> = { sandbox: ['sandbox', 'dev'], staging: ['sandbox', 'dev', 'staging'], production: ['*'] };
const DEFAULT_PROMOTION: Record<(typeof LEVELS)[number], number> = { sandbox: 3, staging: 10, production: 25 };

function parseTrust(r: Reader, raw: unknown): TrustSpec | undefined {
  const p = ['trust'];
  const o = r.object(p, raw, ['levels', 'promotion', 'unregistered']);
  if (!o) return undefined;
  const levelsRaw = r.object([...p, 'levels'], o.levels ?? {}, [...LEVELS]) ?? {};
  const promotionRaw = r.object([...p, 'promotion'], o.promotion ?? {}, [...LEVELS]) ?? {};
  const levels = {} as Record<(typeof LEVELS)[number], readonly string[]>;
  const promotion = {} as Record<(typeof LEVELS)[number], { successes: number; maxDenials: number }>;
  for (const level of LEVELS) {
    const l = r.object([...p, 'levels', level], levelsRaw[level] ?? {}, ['environments']);
    const envs = l?.environments === undefined ? DEFAULT_LEVEL_ENVIRONMENTS[level] : r.stringList([...p, 'levels', level, 'environments'], l.environments, { pattern: /^(\*|[A-Za-z0-9._:@-]{1,128})$/, patternName: 'an environment or *' });
    if (envs) levels[level] = envs;
    const c = r.object([...p, 'promotion', level], promotionRaw[level] ?? {}, ['successes', 'maxDenials']);
    const successes = r.number([...p, 'promotion', level, 'successes'], c?.successes ?? DEFAULT_PROMOTION[level], { min: 0, integer: true });
    const maxDenials = r.number([...p, 'promotion', level, 'maxDenials'], c?.maxDenials ?? 0, { min: 0, integer: true });
    if (successes !== undefined && maxDenials !== undefined) promotion[level] = { successes, maxDenials };
  }
  const unregistered = r.oneOf([...p, 'unregistered'], o.unregistered ?? 'deny', ['deny', 'production'] as const);
  if (!unregistered || Object.keys(levels).length !== 3 || Object.keys(promotion).length !== 3) return undefined;
  return { levels, promotion, unregistered };
}

function parseKillSwitch(r: Reader, raw: unknown): KillSwitchSpec | undefined {
  const p = ['killSwitch'];
  const o = r.object(p, raw, ['maxStaleness', 'mode']);
  if (!o) return undefined;
  const seconds = duration(r, [...p, 'maxStaleness'], o.maxStaleness ?? '5s', 1, 3600);
  const mode = r.oneOf([...p, 'mode'], o.mode ?? 'strict', ['strict', 'best-effort'] as const);
  return seconds === undefined || !mode ? undefined : { maxStalenessMs: seconds * 1000, mode };
}

function parseBreakers(r: Reader, raw: unknown): BreakerSpec | undefined {
  const p = ['breakers'];
  const o = r.object(p, raw, ['denials', 'failureRatio', 'loop']);
  if (!o) return undefined;
  const spec: { -readonly [K in keyof BreakerSpec]: BreakerSpec[K] } = {};
  const before = r.issues.length;
  for (const key of ['denials', 'loop'] as const) {
    if (o[key] === undefined) continue;
    const b = r.object([...p, key], o[key], ['max', 'window']);
    const max = b && r.number([...p, key, 'max'], b.max, { min: 1, integer: true });
    const windowSeconds = b && duration(r, [...p, key, 'window'], b.window ?? '1m', 1, 86_400);
    if (max !== undefined && windowSeconds !== undefined) spec[key] = { max, windowSeconds };
  }
  if (o.failureRatio !== undefined) {
    const b = r.object([...p, 'failureRatio'], o.failureRatio, ['max', 'minOutcomes', 'window']);
    const max = b && r.number([...p, 'failureRatio', 'max'], b.max, { min: 0, max: 1 });
    const minOutcomes = b && r.number([...p, 'failureRatio', 'minOutcomes'], b.minOutcomes ?? 10, { min: 1, integer: true });
    const windowSeconds = b && duration(r, [...p, 'failureRatio', 'window'], b.window ?? '10m', 1, 86_400);
    if (max !== undefined && minOutcomes !== undefined && windowSeconds !== undefined) spec.failureRatio = { max, minOutcomes, windowSeconds };
  }
  return r.issues.length > before ? undefined : spec;
}

function parseBreakGlass(r: Reader, raw: unknown): BreakGlassSpec | undefined {
  const p = ['breakGlass'];
  const o = r.object(p, raw, ['groups', 'maxTtl']);
  if (!o) return undefined;
  const groups = r.stringList([...p, 'groups'], o.groups ?? ['break-glass'], id);
  const maxTtlSeconds = duration(r, [...p, 'maxTtl'], o.maxTtl ?? '1h', 1, MAX_BREAK_GLASS_SECONDS);
  if (!groups || maxTtlSeconds === undefined) return undefined;
  if (groups.length === 0) return r.fail([...p, 'groups'], 'at least one operator group must be allowed to open a break-glass override');
  return { groups, maxTtlSeconds };
}

/** A duration (`90s`, `15m`, `1h`, `1d` or seconds) within [min, max] seconds. */
function duration(r: Reader, p: (string | number)[], raw: unknown, min: number, max: number): number | undefined {
  const parsed = parseDuration(raw as string | number);
  if (!parsed.ok) return r.fail(p, parsed.issues.map((i) => i.message).join('; '));
  if (parsed.value < min || parsed.value > max) return r.fail(p, `expected a duration from ${min}s to ${max}s, got ${parsed.value}s`);
  return parsed.value;
}

function parseApproval(r: Reader, p: (string | number)[], o: Record<string, unknown>, tier: Tier): ApprovalSpec | undefined {
  const spec: { -readonly [K in keyof ApprovalSpec]: ApprovalSpec[K] | undefined } = {};
  const before = r.issues.length;
  if (tier !== 'high') {
    for (const k of ['approvals', 'groups', 'denyThreshold', 'expiry']) {
      if (o[k] !== undefined) r.fail([...p, k], `${k} applies to tier high only (a ${tier}-tier action ${tier === 'medium' ? 'waits out a veto window' : 'proceeds, logged'})`);
    }
  }
  if (tier !== 'medium' && o.vetoWindow !== undefined) r.fail([...p, 'vetoWindow'], 'vetoWindow applies to tier medium only');
  if (o.vetoWindow !== undefined) spec.vetoWindowSeconds = duration(r, [...p, 'vetoWindow'], o.vetoWindow, 1, MAX_VETO_WINDOW_SECONDS);
  if (o.expiry !== undefined) spec.expirySeconds = duration(r, [...p, 'expiry'], o.expiry, 1, MAX_EXPIRY_SECONDS);
  if (o.groups !== undefined) {
    const groups = r.array([...p, 'groups'], o.groups, 32) ?? [];
    const seen = new Set<string>();
    spec.groups = groups.flatMap((raw, i) => {
      const g = r.object([...p, 'groups', i], raw, ['group', 'min']);
      const group = g && r.string([...p, 'groups', i, 'group'], g.group, id);
      const min = g && r.number([...p, 'groups', i, 'min'], g.min ?? 1, { min: 1, max: MAX_APPROVALS, integer: true });
      if (!group || min === undefined) return [];
      if (seen.has(group)) r.fail([...p, 'groups', i, 'group'], `group "${group}" is listed twice`);
      seen.add(group);
      return [{ group, min }];
    });
  }
  const groupTotal = (spec.groups ?? []).reduce((n, g) => n + g.min, 0);
  if (o.approvals !== undefined) {
    spec.approvals = r.number([...p, 'approvals'], o.approvals, { min: 1, max: MAX_APPROVALS, integer: true });
    if (spec.approvals !== undefined && spec.approvals < groupTotal) {
      r.fail([...p, 'approvals'], `approvals (${spec.approvals}) is less than the group minimums together (${groupTotal}); every group must be met by distinct people`);
    }
  }
  if (o.denyThreshold !== undefined) {
    const d = r.object([...p, 'denyThreshold'], o.denyThreshold, ['count', 'groups']);
    const count = d && r.number([...p, 'denyThreshold', 'count'], d.count ?? 1, { min: 1, max: MAX_APPROVALS, integer: true });
    const groups = d?.groups === undefined ? undefined : r.stringList([...p, 'denyThreshold', 'groups'], d.groups, id);
    if (count !== undefined) spec.denyThreshold = { count, ...(groups ? { groups } : {}) };
  }
  if (r.issues.length > before) return undefined;
  return Object.fromEntries(Object.entries(spec).filter(([, v]) => v !== undefined)) as ApprovalSpec;
}

function parseTool(r: Reader, toolName: string, raw: unknown): ToolSpec | undefined {
  const p = ['tools', toolName];
  if (r.string(p, toolName, id) === undefined) return undefined;
  const o = r.object(p, raw, ['operation', 'targets', 'endpointsParam', 'reversible', 'inverse', 'batchable', 'description', 'sqlParam', 'snapshot', 'readOnly', 'config']);
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
  const sqlParam = o.sqlParam === undefined ? undefined : r.string([...p, 'sqlParam'], o.sqlParam, id);
  const snapshot = r.boolean([...p, 'snapshot'], o.snapshot ?? false);
  const readOnly = r.boolean([...p, 'readOnly'], o.readOnly ?? false);
  if (snapshot && reversible === false) r.fail([...p, 'snapshot'], 'a snapshot step makes sense only on a reversible tool (reversible: true): it is what makes the tool\'s changes reversible');
  if (readOnly && sqlParam) r.fail([...p, 'readOnly'], 'a tool that runs SQL is read-only or not by what its SQL does: leave readOnly out');
  const config = o.config === undefined ? undefined : parseConfigTool(r, [...p, 'config'], o.config);
  if (operation === undefined || reversible === undefined || batchable === undefined || snapshot === undefined || readOnly === undefined) return undefined;
  if (batchable && !targets?.fractionParam && !targets?.countParam) {
    r.fail([...p, 'batchable'], 'a batchable tool needs targets.fractionParam or targets.countParam, so a bounded step can be passed to it');
  }
  // Optional fields are left out when unset, so adding them did not change the digest of existing policies.
  return {
    name: toolName,
    operation,
    reversible,
    batchable,
    ...(targets ? { targets } : {}),
    ...(endpointsParam ? { endpointsParam } : {}),
    ...(inverse ? { inverse } : {}),
    ...(sqlParam ? { sqlParam } : {}),
    ...(snapshot ? { snapshot: true as const } : {}),
    ...(readOnly ? { readOnly: true as const } : {}),
    ...(config ? { config } : {}),
  };
}

/** A file path relative to the policy file: no absolute paths, no `..`, `{target}` allowed. */
const RELATIVE_FILE = /^(?!\/)(?!.*(^|\/)\.\.(\/|$))[A-Za-z0-9_.{}\/-]{1,512}$/;

function parseConfigTool(r: Reader, p: (string | number)[], raw: unknown): ConfigToolSpec | undefined {
  const o = r.object(p, raw, ['documentParam', 'format', 'baseline', 'schema']);
  if (!o) return undefined;
  const documentParam = r.string([...p, 'documentParam'], o.documentParam, id);
  const format = r.oneOf([...p, 'format'], o.format ?? 'yaml', ['json', 'yaml'] as const);
  const file = { pattern: RELATIVE_FILE, patternName: 'a file path relative to the policy file (no "..")' };
  const baseline = r.string([...p, 'baseline'], o.baseline, file);
  const schema = o.schema === undefined ? undefined : r.string([...p, 'schema'], o.schema, file);
  if (!documentParam || !format || !baseline) return undefined;
  return { documentParam, format, baseline, ...(schema ? { schema } : {}) };
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
      only(['maxTrafficFraction', 'maxTotalTrafficFraction', 'maxReplicas', 'maxFraction', 'maxDependents', 'maxRows', 'maxTableFraction', 'onExceed']);
      const spec: { -readonly [K in keyof BlastRadiusSpec]?: BlastRadiusSpec[K] } = {};
      for (const k of ['maxTrafficFraction', 'maxTotalTrafficFraction', 'maxFraction', 'maxTableFraction'] as const) {
        const v = o[k] === undefined ? undefined : r.number([...p, k], o[k], { min: 0, max: 1 });
        if (v !== undefined) spec[k] = v;
      }
      for (const k of ['maxReplicas', 'maxDependents', 'maxRows'] as const) {
        const v = o[k] === undefined ? undefined : r.number([...p, k], o[k], { min: 0, integer: true });
        if (v !== undefined) spec[k] = v;
      }
      if (Object.keys(spec).length === 0) r.fail(p, 'a blast-radius bound needs at least one ceiling (maxTrafficFraction, maxTotalTrafficFraction, maxReplicas, maxFraction, maxDependents, maxRows, maxTableFraction)');
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
      only(['tier', ...APPROVAL_KEYS]);
      const t = tier(o.tier, 'high');
      const approval = t && parseApproval(r, p, o, t);
      return t && approval ? { kind: 'reversible-by-default', tier: t, approval } : undefined;
    }
    case 'identity': {
      only(['requireTask', 'roles', 'agents']);
      const requireTask = r.boolean([...p, 'requireTask'], o.requireTask ?? false);
      const roles = o.roles === undefined ? undefined : r.stringList([...p, 'roles'], o.roles, id);
      const agents = o.agents === undefined ? undefined : r.stringList([...p, 'agents'], o.agents, id);
      if (requireTask === undefined) return undefined;
      return { kind: 'identity-binding', requireTask, ...(roles ? { roles } : {}), ...(agents ? { agents } : {}) };
    }
    case 'budget': {
      only(['scope', 'metric', 'max', 'window']);
      const scope = r.oneOf([...p, 'scope'], o.scope ?? 'service', ['environment', 'service'] as const);
      const metric = r.oneOf([...p, 'metric'], o.metric, ['trafficFraction', 'replicas', 'rows'] as const);
      const max = r.number([...p, 'max'], o.max, { min: 0, ...(metric === 'trafficFraction' ? { max: 1 } : {}) });
      const windowSeconds = duration(r, [...p, 'window'], o.window ?? '10m', 1, 7 * 86_400);
      if (!scope || !metric || max === undefined || windowSeconds === undefined) return undefined;
      return { kind: 'budget', spec: { scope, metric, max, windowSeconds } };
    }
    case 'schemaDrift': {
      only(['onDrift', 'tier', ...APPROVAL_KEYS]);
      const onDrift = r.oneOf([...p, 'onDrift'], o.onDrift ?? 'deny', ['deny', 'approve'] as const);
      const escalation = onDrift && escalationOf(r, p, o, onDrift === 'approve', 'onDrift');
      return onDrift && escalation ? { kind: 'schema-drift', onDrift, ...escalation } : undefined;
    }
    case 'destructiveSql': {
      only(['onDestructive', 'classes', 'tier', ...APPROVAL_KEYS]);
      const onDestructive = r.oneOf([...p, 'onDestructive'], o.onDestructive ?? 'deny', ['deny', 'approve'] as const);
      const classes = parseFlaggedClasses(r, [...p, 'classes'], o.classes);
      const escalation = onDestructive && escalationOf(r, p, o, onDestructive === 'approve', 'onDestructive');
      return onDestructive && classes && escalation ? { kind: 'destructive-sql', onDestructive, classes, ...escalation } : undefined;
    }
    case 'freeze': {
      only(['start', 'end', 'scope', 'reason']);
      const spec = parseFreeze(r, p, o);
      return spec ? { kind: 'freeze', spec } : undefined;
    }
    case 'riskTier': {
      only(['tier', 'message', ...APPROVAL_KEYS]);
      const t = tier(o.tier, 'high');
      const message = o.message === undefined ? undefined : r.string([...p, 'message'], o.message, { max: 1024 });
      const approval = t && parseApproval(r, p, o, t);
      return t && approval ? { kind: 'risk-tier', tier: t, approval, ...(message ? { message } : {}) } : undefined;
    }
  }
}

/** The tier and approval settings of a rule that denies or escalates; approval settings only with `approve`. */
function escalationOf(r: Reader, p: (string | number)[], o: Record<string, unknown>, approve: boolean, effectKey: string): { tier: Tier; approval: ApprovalSpec } | undefined {
  if (!approve) {
    for (const k of ['tier', ...APPROVAL_KEYS]) if (o[k] !== undefined) r.fail([...p, k], `${k} applies only with ${effectKey}: approve`);
  }
  const tier = r.oneOf([...p, 'tier'], o.tier ?? 'high', TIERS);
  const approval = tier && parseApproval(r, p, o, tier);
  return tier && approval ? { tier, approval } : undefined;
}

const FLAGGED_CLASSES: readonly FlaggedSqlClass[] = ['privilege', 'destructive', 'unanalyzable'];

function parseFlaggedClasses(r: Reader, p: (string | number)[], raw: unknown): readonly FlaggedSqlClass[] | undefined {
  if (raw === undefined) return FLAGGED_CLASSES;
  const list = r.stringList(p, raw);
  if (!list) return undefined;
  if (list.length === 0) return r.fail(p, 'list at least one class: privilege, destructive, unanalyzable');
  const before = r.issues.length;
  const classes = new Set<FlaggedSqlClass>(list.flatMap((c, i) => r.oneOf([...p, i], c, FLAGGED_CLASSES) ?? []));
  // SQL nobody can analyze could be anything, a destructive statement included: it is always flagged.
  classes.add('unanalyzable');
  return r.issues.length > before ? undefined : FLAGGED_CLASSES.filter((c) => classes.has(c));
}

/** ISO 8601 date and time with seconds optional, fraction optional and a mandatory zone (Z or ±hh:mm). */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function parseFreeze(r: Reader, p: (string | number)[], o: Record<string, unknown>): FreezeSpec | undefined {
  const before = r.issues.length;
  const time = (key: 'start' | 'end'): string | undefined => {
    const v = r.string([...p, key], o[key], { max: 64 });
    if (v === undefined) return undefined;
    if (!ISO_TIME.test(v) || Number.isNaN(Date.parse(v))) return r.fail([...p, key], `expected an ISO 8601 time with a time zone (2025-12-20T00:00:00Z), got ${JSON.stringify(v)}`);
    return v;
  };
  const start = time('start');
  const end = time('end');
  if (start !== undefined && end !== undefined && Date.parse(end) <= Date.parse(start)) r.fail([...p, 'end'], `the freeze ends (${end}) before it starts (${start})`);
  const s = r.object([...p, 'scope'], o.scope ?? {}, ['environments', 'dataStores', 'services']);
  const scope: { -readonly [K in keyof FreezeSpec['scope']]: FreezeSpec['scope'][K] } = {};
  for (const k of ['environments', 'dataStores', 'services'] as const) {
    if (s?.[k] === undefined) continue;
    const list = r.stringList([...p, 'scope', k], s[k], id);
    if (list) scope[k] = list;
  }
  const reason = r.string([...p, 'reason'], o.reason, { max: 1024 });
  if (r.issues.length > before || start === undefined || end === undefined || reason === undefined) return undefined;
  return { start, end, scope, reason };
}

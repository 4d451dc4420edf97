import type { Action, Target } from '../core/types.js';
import type { ToolSpec } from '../policy/policy.js';

/** Most targets and endpoints one action may name (the API enforces the same bounds). */
export const MAX_TARGETS = 64;
export const MAX_ENDPOINTS = 32;
/** Longest SQL an action may carry (the API bounds `sql` the same way). */
export const MAX_SQL_LENGTH = 65_536;

/** An action with the catalog's facts applied, plus what could not be read from it. */
export interface NormalizedAction {
  readonly action: Action;
  /** Problems that make the impact unknown (a missing or malformed target argument). */
  readonly problems: readonly string[];
}

/**
 * Applies the tool catalog to an action: the catalog's operation wins over the
 * agent's, targets and endpoints named in parameters are added to the declared
 * ones (a target named twice keeps its largest share), and the agent can only
 * make reversibility stricter. Never throws on hostile parameters.
 */
export function normalizeAction(input: Action, tool: ToolSpec | undefined): NormalizedAction {
  const problems: string[] = [];
  const targets = new Map<string, Target>();
  const addTarget = (t: Target) => {
    const key = `${t.kind}\u0000${t.id}`;
    const prev = targets.get(key);
    targets.set(key, prev ? widest(prev, t) : t);
  };
  for (const t of input.targets ?? []) addTarget(t);

  const params = input.params ?? {};
  if (tool?.targets) {
    const spec = tool.targets;
    const raw = own(params, spec.param);
    const ids = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : undefined;
    let share: { fraction?: number; count?: number } = {};
    if (spec.fractionParam && own(params, spec.fractionParam) !== undefined) {
      const f = own(params, spec.fractionParam);
      if (typeof f === 'number' && f > 0 && f <= 1) share = { fraction: f };
      else problems.push(`parameter "${spec.fractionParam}" must be a number in (0, 1]`);
    }
    if (spec.countParam && own(params, spec.countParam) !== undefined) {
      const c = own(params, spec.countParam);
      if (typeof c === 'number' && Number.isInteger(c) && c >= 1) share = { ...share, count: c };
      else problems.push(`parameter "${spec.countParam}" must be a positive integer`);
    }
    if (raw === undefined) {
      if (targets.size === 0) problems.push(`tool "${tool.name}" names its target in parameter "${spec.param}", which is missing`);
    } else if (!ids || ids.length === 0 || ids.length > MAX_TARGETS || !ids.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 128)) {
      problems.push(`parameter "${spec.param}" must be a target id or a list of at most ${MAX_TARGETS} ids`);
    } else {
      for (const targetId of ids as string[]) addTarget({ kind: spec.kind, id: targetId, ...share });
    }
  }
  if (targets.size > MAX_TARGETS) problems.push(`at most ${MAX_TARGETS} targets may be named`);

  const endpoints = new Set(input.endpoints ?? []);
  if (tool?.endpointsParam) {
    const raw = own(params, tool.endpointsParam);
    const list = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : raw === undefined ? [] : undefined;
    if (!list || !list.every((x) => typeof x === 'string')) problems.push(`parameter "${tool.endpointsParam}" must be a URL or a list of URLs`);
    else for (const e of list as string[]) endpoints.add(e);
  }
  if (endpoints.size > MAX_ENDPOINTS) problems.push(`at most ${MAX_ENDPOINTS} endpoints may be named`);

  // The SQL a tool runs is the one in its parameter: that is what reaches the database.
  let sql = input.sql;
  if (tool?.sqlParam) {
    const raw = own(params, tool.sqlParam);
    if (typeof raw === 'string') {
      if (raw.length > MAX_SQL_LENGTH) problems.push(`parameter "${tool.sqlParam}" holds more than ${MAX_SQL_LENGTH} characters of SQL`);
      else {
        if (sql !== undefined && sql !== raw) problems.push(`the action's sql differs from parameter "${tool.sqlParam}", which is what tool "${tool.name}" runs`);
        sql = raw;
      }
    } else if (raw !== undefined) problems.push(`parameter "${tool.sqlParam}" must be the SQL text`);
    else if (sql === undefined) problems.push(`tool "${tool.name}" runs the SQL in parameter "${tool.sqlParam}", which is missing`);
  }

  const reversible = tool?.reversible === true && input.reversible !== false;
  const inverse = reversible ? (tool?.inverse ?? input.inverse) : undefined;
  // Built field by field: an object spread followed by extra keys is a slow path in V8, and this runs on every decision.
  const action: Mutable<Action> = {
    tool: input.tool,
    operation: tool?.operation ?? input.operation ?? input.tool,
    environment: input.environment,
    targets: targets.size > MAX_TARGETS ? [...targets.values()].slice(0, MAX_TARGETS) : [...targets.values()],
    endpoints: endpoints.size > MAX_ENDPOINTS ? [...endpoints].slice(0, MAX_ENDPOINTS) : [...endpoints],
    reversible,
  };
  if (input.params !== undefined) action.params = input.params;
  if (sql !== undefined) action.sql = sql;
  if (inverse !== undefined) action.inverse = inverse;
  if (input.taskId !== undefined) action.taskId = input.taskId;
  if (input.intent !== undefined) action.intent = input.intent;
  if (input.idempotencyKey !== undefined) action.idempotencyKey = input.idempotencyKey;
  return { action, problems };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The larger of two claims on the same target: a missing share means the whole resource. */
function widest(a: Target, b: Target): Target {
  const whole = (t: Target) => t.fraction === undefined && t.count === undefined;
  if (whole(a)) return a;
  if (whole(b)) return b;
  return {
    kind: a.kind,
    id: a.id,
    ...(a.fraction !== undefined || b.fraction !== undefined ? { fraction: Math.max(a.fraction ?? 0, b.fraction ?? 0) } : {}),
    ...(a.count !== undefined || b.count !== undefined ? { count: Math.max(a.count ?? 0, b.count ?? 0) } : {}),
  };
}

/** Own enumerable property only: `constructor`, `__proto__` and friends are never read from the prototype. */
function own(record: Readonly<Record<string, unknown>>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined;
}

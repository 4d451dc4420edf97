/**
 * JSON Schemas of the request bodies. Every string, list and map an agent can
 * send is bounded; unknown fields are rejected rather than ignored.
 */

const id = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:/@-]*$' } as const;
const text = (max: number) => ({ type: 'string', minLength: 1, maxLength: max }) as const;

/** Bounds on an action, shared with the documentation. */
export const ACTION_LIMITS = { targets: 64, endpoints: 32, params: 64, endpointLength: 2048, sqlLength: 65_536, intentLength: 2048, paramsDepth: 8 } as const;

export const targetSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'id'],
  properties: {
    kind: id,
    id,
    fraction: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
    count: { type: 'integer', minimum: 1, maximum: 1_000_000 },
  },
} as const;

export const actionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['tool', 'environment'],
  properties: {
    tool: id,
    operation: id,
    environment: id,
    targets: { type: 'array', maxItems: ACTION_LIMITS.targets, items: targetSchema },
    endpoints: { type: 'array', maxItems: ACTION_LIMITS.endpoints, items: text(ACTION_LIMITS.endpointLength) },
    params: { type: 'object', maxProperties: ACTION_LIMITS.params },
    sql: text(ACTION_LIMITS.sqlLength),
    reversible: { type: 'boolean' },
    inverse: {
      type: 'object',
      additionalProperties: false,
      required: ['tool'],
      properties: { tool: id, params: { type: 'object', maxProperties: ACTION_LIMITS.params } },
    },
    taskId: id,
    intent: text(ACTION_LIMITS.intentLength),
    idempotencyKey: text(256),
  },
} as const;

export const decisionRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['action'],
  properties: { action: actionSchema },
} as const;

export const outcomeSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['status'],
  properties: {
    status: { type: 'string', enum: ['succeeded', 'failed'] },
    detail: {},
  },
} as const;

export const credentialRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['role'],
  properties: {
    role: id,
    ttl: { type: 'string', minLength: 1, maxLength: 16 },
    task: id,
    instance: id,
    session: id,
  },
} as const;

export const idParamSchema = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@-]+$' } },
} as const;

/** Depth of nested objects and lists in a JSON value (JSON Schema cannot bound it). */
export function jsonDepth(value: unknown, limit: number): number {
  if (typeof value !== 'object' || value === null) return 0;
  if (limit <= 0) return 1;
  let deepest = 0;
  for (const child of Array.isArray(value) ? value : Object.values(value)) {
    deepest = Math.max(deepest, jsonDepth(child, limit - 1));
    if (deepest >= limit) break;
  }
  return deepest + 1;
}

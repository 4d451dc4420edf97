import { Ajv } from 'ajv';
import type { ParseResult } from '../core/errors.js';
import type { Action } from '../core/types.js';
import { ACTION_LIMITS, decisionRequestSchema, jsonDepth } from './schemas.js';

const ajv = new Ajv({ allErrors: true, strict: true });
const validateRequest = ajv.compile<{ action: Action }>(decisionRequestSchema);

/**
 * Validates a decision request (`{ "action": ... }`) the way the HTTP API does,
 * for adapters that do not get Fastify's validation (CLI, MCP proxy).
 */
export function parseDecisionRequest(value: unknown): ParseResult<Action> {
  if (!validateRequest(value)) {
    return { ok: false, issues: (validateRequest.errors ?? []).map((e) => ({ path: e.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(root)', message: e.message ?? 'invalid' })) };
  }
  const action = value.action;
  if (jsonDepth(action.params, ACTION_LIMITS.paramsDepth + 1) > ACTION_LIMITS.paramsDepth) {
    return { ok: false, issues: [{ path: 'action.params', message: `nests deeper than ${ACTION_LIMITS.paramsDepth} levels` }] };
  }
  return { ok: true, value: action };
}

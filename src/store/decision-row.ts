import { GovernorError } from '../core/errors.js';
import type { Outcome } from '../core/types.js';
import { jsonWithoutAudit } from './audit-leaf.js';
import type { ListDecisionsOptions, NewDecision } from './store.js';
import { toBudgetRequest, type BudgetRequest } from './budget-request.js';
import { toRecordRow, type RecordRow } from './record-row.js';

/** A decision's conditions, checked and flattened before they are queued. */
export interface InsertConditions {
  readonly budget?: BudgetRequest | undefined;
  readonly update?: RecordRow | undefined;
}

/** Most decisions one `list` call returns, whatever limit the caller asks for. */
export const MAX_LIST_LIMIT = 1000;

/**
 * A decision as both adapters store it: the indexed columns next to the full
 * JSON body. Built once, before the write is queued, so a decision the store
 * cannot hold fails on its own and never inside a shared batch.
 */
export interface DecisionRow {
  readonly id: string;
  /** `createdAt` normalized to UTC `YYYY-MM-DDTHH:mm:ss.sssZ`, so text order is time order. */
  readonly createdAt: string;
  readonly agent: string;
  readonly idempotencyKey: string | null;
  readonly requestDigest: string;
  readonly state: string;
  readonly verdict: string;
  /**
   * JSON of the decision. For a decision with an audit leaf, without `audit`:
   * the batch adds it (`withAuditRef`) once the leaf has its index.
   */
  readonly body: string;
}

/** Validates and flattens `entry`; rejects with BAD_REQUEST what no engine could store faithfully. */
export function toDecisionRow(entry: NewDecision): DecisionRow {
  const { decision } = entry;
  if (typeof decision.id !== 'string' || decision.id === '') {
    throw new GovernorError('BAD_REQUEST', 'decision.id must be a non-empty string');
  }
  const agent = decision.principal?.agent;
  if (typeof agent !== 'string' || agent === '') {
    throw new GovernorError('BAD_REQUEST', 'decision.principal.agent must be a non-empty string');
  }
  const time = typeof decision.createdAt === 'string' ? Date.parse(decision.createdAt) : Number.NaN;
  if (Number.isNaN(time)) {
    throw new GovernorError('BAD_REQUEST', `decision.createdAt is not a timestamp: ${String(decision.createdAt)}`);
  }
  if (typeof entry.requestDigest !== 'string' || entry.requestDigest === '') {
    throw new GovernorError('BAD_REQUEST', 'requestDigest must be a non-empty string');
  }
  if (entry.idempotencyKey !== undefined && typeof entry.idempotencyKey !== 'string') {
    throw new GovernorError('BAD_REQUEST', 'idempotencyKey must be a string');
  }
  return {
    id: decision.id,
    createdAt: new Date(time).toISOString(),
    agent,
    idempotencyKey: entry.idempotencyKey ?? null,
    requestDigest: entry.requestDigest,
    state: decision.state,
    verdict: decision.verdict,
    body: entry.leaf === undefined ? toJson(decision, 'decision') : jsonWithoutAudit(decision, 'decision'),
  };
}

/**
 * JSON of an outcome; rejects with BAD_REQUEST when it has no JSON form. With
 * an audit leaf, without `audit`: the batch adds it once the leaf has its index.
 */
export function toOutcomeJson(outcome: Outcome, audited = false): string {
  return audited ? jsonWithoutAudit(outcome, 'outcome') : toJson(outcome, 'outcome');
}

/**
 * JSON of a transition's resolution; rejects with BAD_REQUEST when it is not a
 * JSON object. With an audit leaf, without `audit`: the batch adds it.
 */
export function toResolutionJson(resolution: object, audited: boolean): string {
  if (typeof resolution !== 'object' || resolution === null || Array.isArray(resolution)) {
    throw new GovernorError('BAD_REQUEST', 'a resolution must be a JSON object');
  }
  return audited ? jsonWithoutAudit(resolution, 'resolution') : toJson(resolution, 'resolution');
}

/** The effective limit of a listing: an integer in [0, MAX_LIST_LIMIT]. */
export function listLimit(options: ListDecisionsOptions): number {
  const { limit } = options;
  if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
    throw new GovernorError('BAD_REQUEST', `limit must be a non-negative number, got ${String(limit)}`);
  }
  return Math.min(Math.floor(limit), MAX_LIST_LIMIT);
}

function toJson(value: unknown, what: string): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new GovernorError('BAD_REQUEST', `the ${what} cannot be stored as JSON`, { cause: err });
  }
  if (json === undefined) throw new GovernorError('BAD_REQUEST', `the ${what} cannot be stored as JSON`);
  return json;
}

/** Validates a decision's conditions before they are queued; undefined when it has none. */
export function toInsertConditions(entry: NewDecision): InsertConditions | undefined {
  const c = entry.conditions;
  if (!c || ((!c.budgets || c.budgets.length === 0) && !c.update)) return undefined;
  const at = Date.parse(entry.decision.createdAt);
  const budget = c.budgets && c.budgets.length > 0 ? toBudgetRequest({ demands: c.budgets, decisionId: entry.decision.id, at: Number.isNaN(at) ? 0 : at }) : undefined;
  const update = c.update ? toRecordRow(c.update) : undefined;
  return { ...(budget ? { budget } : {}), ...(update ? { update } : {}) };
}

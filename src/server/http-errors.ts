import type { ErrorCode } from '../core/errors.js';

/** The HTTP status of each error code; anything not here is a 500. */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  BAD_REQUEST: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  IDEMPOTENCY_CONFLICT: 409,
  SELF_APPROVAL: 403,
  NOT_ELIGIBLE: 403,
  ALREADY_VOTED: 409,
  VOTE_MISMATCH: 409,
  POLICY_CHANGED: 409,
  ACKNOWLEDGEMENT_REQUIRED: 400,
  NOT_PENDING: 409,
  CONDITION_FAILED: 409,
  POLICY_INVALID: 500,
  INVENTORY_INVALID: 500,
  CONFIG_INVALID: 500,
  POLICY_EVALUATION_FAILED: 500,
  TOKEN_INVALID: 401,
  KEY_INVALID: 500,
  STORE_UNAVAILABLE: 503,
  STORE_CONFLICT: 409,
  AUDIT_UNAVAILABLE: 503,
  AUDIT_INVALID: 500,
  RATE_LIMITED: 429,
  SANDBOX_UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** The JSON error body of DESIGN.md. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly requestId?: string; readonly details?: unknown };
  /** Present on the decision path: a request that failed there is never an allow. */
  readonly verdict?: 'deny';
}

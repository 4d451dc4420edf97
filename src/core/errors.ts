/**
 * Every fault Governor raises is a `GovernorError` with one of these codes.
 * Expected outcomes (a deny, a parse failure) are values, not errors.
 * Each code is documented in docs/errors.md; a test keeps the two in step.
 */
export const ERROR_CODES = [
  'BAD_REQUEST',
  'PAYLOAD_TOO_LARGE',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'IDEMPOTENCY_CONFLICT',
  'SELF_APPROVAL',
  'NOT_ELIGIBLE',
  'ALREADY_VOTED',
  'VOTE_MISMATCH',
  'POLICY_CHANGED',
  'ACKNOWLEDGEMENT_REQUIRED',
  'NOT_PENDING',
  'CONDITION_FAILED',
  'POLICY_INVALID',
  'INVENTORY_INVALID',
  'CONFIG_INVALID',
  'POLICY_EVALUATION_FAILED',
  'TOKEN_INVALID',
  'KEY_INVALID',
  'STORE_UNAVAILABLE',
  'STORE_CONFLICT',
  'AUDIT_UNAVAILABLE',
  'AUDIT_INVALID',
  'RATE_LIMITED',
  'SANDBOX_UNAVAILABLE',
  'INTERNAL',
] as const;

/** A fault code: stable, SCREAMING_SNAKE, listed in docs/errors.md. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The one error class Governor throws. */
export class GovernorError extends Error {
  readonly code: ErrorCode;
  /** Structured detail safe to show to the caller (never secrets). */
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GovernorError';
    this.code = code;
    this.details = options.details;
  }
}

/** True when `err` is a GovernorError, optionally with the given code. */
export function isGovernorError(err: unknown, code?: ErrorCode): err is GovernorError {
  return err instanceof GovernorError && (code === undefined || err.code === code);
}

/** The result of parsing or validating untrusted input. */
export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly issues: readonly Issue[] };

/** One problem with an input: where it is and what was expected. */
export interface Issue {
  /** The file the problem is in, when the input came from one. */
  readonly file?: string;
  /** Dotted path into the input, e.g. `rules[3].when`. */
  readonly path: string;
  readonly message: string;
  /** 1-based line in the source file, when known. */
  readonly line?: number;
}

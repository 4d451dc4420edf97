import { GovernorError, isGovernorError } from '../core/errors.js';

/** The error every operation on a closed store rejects with. */
export function storeClosed(): GovernorError {
  return new GovernorError('STORE_UNAVAILABLE', 'the store is closed');
}

/** Wraps a fault in STORE_UNAVAILABLE, keeping it as the cause; a STORE_UNAVAILABLE error passes through. */
export function storeUnavailable(message: string, err: unknown): GovernorError {
  if (isGovernorError(err, 'STORE_UNAVAILABLE')) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new GovernorError('STORE_UNAVAILABLE', `${message}: ${detail}`, { cause: err });
}

/**
 * The error a write carrying an audit leaf rejects with when its batch did not
 * become durable: AUDIT_UNAVAILABLE, with the batch error's cause (the driver's
 * error) as its own, so the decision path can deny with the right reason.
 */
export function auditUnavailable(error: GovernorError): GovernorError {
  return new GovernorError('AUDIT_UNAVAILABLE', `the audit leaf did not become durable: ${error.message}`, {
    cause: error.cause ?? error,
  });
}

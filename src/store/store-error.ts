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

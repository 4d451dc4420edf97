import { createHmac, timingSafeEqual } from 'node:crypto';
import { GovernorError } from '../core/errors.js';

/** The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. */
export const SIGNATURE_HEADER = 'X-Governor-Signature';
/** The header carrying the notification's type. */
export const EVENT_HEADER = 'X-Governor-Event';
/** The header carrying the notification's id, the same on every attempt. */
export const DELIVERY_HEADER = 'X-Governor-Delivery';

/** Shortest accepted webhook secret, in bytes (UTF-8). */
export const MIN_SECRET_BYTES = 16;
/** Default accepted distance between the signature's timestamp and now. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** What a receiver checks a delivery with. */
export interface VerifyWebhookSignatureOptions {
  /** The shared secret; several while rotating (any one may match). */
  readonly secret: string | readonly string[];
  /** The `X-Governor-Signature` header as received. */
  readonly header: string | null | undefined;
  /** The raw request body, exactly as received (not re-serialized JSON). */
  readonly body: string | Uint8Array;
  /** The receiver's time, ms since the epoch. */
  readonly now: number;
  /** Largest accepted distance between `t` and `now`, either way. Default 300. */
  readonly toleranceSeconds?: number;
}

/** Why a signature was refused. */
export type SignatureFailure = 'MISSING_HEADER' | 'MALFORMED_HEADER' | 'TIMESTAMP_OUT_OF_TOLERANCE' | 'SIGNATURE_MISMATCH';

/** The outcome of checking a delivery's signature. */
export type VerifyWebhookSignatureResult = { readonly ok: true } | { readonly ok: false; readonly reason: SignatureFailure };

const TIMESTAMP = /^[0-9]{1,12}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

/**
 * Computes the signature header value for a body sent at `timestampSeconds`:
 * `t=<seconds>,v1=<hex HMAC-SHA256(secret, "<seconds>.<body>")>`.
 */
export function signWebhookBody(secret: string, body: string | Uint8Array, timestampSeconds: number): string {
  return `t=${timestampSeconds},v1=${hmacHex(secret, timestampSeconds, body)}`;
}

/**
 * Checks a delivery's `X-Governor-Signature` against the raw body, in
 * constant time, and refuses a timestamp further than `toleranceSeconds` from
 * `now` (a replay). Unknown schemes in the header (`v0=`...) are ignored;
 * several `v1=` values are accepted (any one may match). Throws CONFIG_INVALID
 * for a secret shorter than 16 bytes: that is the receiver's fault, not the
 * sender's.
 */
export function verifyWebhookSignature(options: VerifyWebhookSignatureOptions): VerifyWebhookSignatureResult {
  const secrets = typeof options.secret === 'string' ? [options.secret] : options.secret;
  if (secrets.length === 0) throw new GovernorError('CONFIG_INVALID', 'webhook verification needs at least one secret');
  for (const secret of secrets) assertSecret(secret);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0) throw new GovernorError('CONFIG_INVALID', `toleranceSeconds must be a number >= 0, got ${tolerance}`);

  if (options.header === null || options.header === undefined || options.header.trim() === '') return fail('MISSING_HEADER');
  let timestamp: string | undefined;
  const signatures: Buffer[] = [];
  for (const part of options.header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return fail('MALFORMED_HEADER');
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !TIMESTAMP.test(value)) return fail('MALFORMED_HEADER');
      timestamp = value;
    } else if (key === 'v1') {
      if (!HEX_SHA256.test(value)) return fail('MALFORMED_HEADER');
      signatures.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestamp === undefined || signatures.length === 0) return fail('MALFORMED_HEADER');

  const t = Number(timestamp);
  if (Math.abs(options.now / 1000 - t) > tolerance) return fail('TIMESTAMP_OUT_OF_TOLERANCE');

  let matched = false;
  for (const secret of secrets) {
    const expected = Buffer.from(hmacHex(secret, t, options.body), 'hex');
    // No early exit: the time taken does not depend on which candidate matched.
    for (const candidate of signatures) matched = timingSafeEqual(expected, candidate) || matched;
  }
  return matched ? { ok: true } : fail('SIGNATURE_MISMATCH');
}

/** Throws CONFIG_INVALID unless `secret` is a string of at least 16 bytes. */
export function assertSecret(secret: unknown): asserts secret is string {
  if (typeof secret !== 'string' || Buffer.byteLength(secret, 'utf8') < MIN_SECRET_BYTES) {
    throw new GovernorError('CONFIG_INVALID', `a webhook secret must be at least ${MIN_SECRET_BYTES} bytes`);
  }
}

function hmacHex(secret: string, timestampSeconds: number, body: string | Uint8Array): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.`).update(body).digest('hex');
}

function fail(reason: SignatureFailure): VerifyWebhookSignatureResult {
  return { ok: false, reason };
}

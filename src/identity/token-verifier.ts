/**
 * Verifies credentials of one audience. Every check is explicit and runs in a fixed
 * order — size, structure, header, signature, then claims — so nothing an attacker
 * controls is interpreted before it is bounded, and no claim before it is signed.
 */
import type { KeyObject } from 'node:crypto';
import { GovernorError, type Issue } from '../core/errors.js';
import { MAX_TOKEN_TTL_SECONDS, isIdentifier, isIssuerName, isTokenAudience, validateClaims, type ClaimsFor, type TokenAudience } from './claims.js';
import { SIGNATURE_BYTES, decodeSegment, parseJsonObject, verifyJws } from './jws.js';
import { assertEd25519, keyId } from './keys.js';

/** Why a credential was refused. */
export const TOKEN_FAILURE_REASONS = [
  'TOKEN_MALFORMED',
  'TOKEN_ALG',
  'TOKEN_SIGNATURE',
  'TOKEN_ISSUER',
  'TOKEN_AUDIENCE',
  'TOKEN_EXPIRED',
  'TOKEN_NOT_YET_VALID',
  'TOKEN_LIFETIME',
  'TOKEN_REVOKED',
] as const;

/** A reason code from {@link TOKEN_FAILURE_REASONS}. */
export type TokenFailureReason = (typeof TOKEN_FAILURE_REASONS)[number];

/**
 * The outcome of verifying a credential. The failure branch carries `issues` as well as
 * a `reason`, so it is also a `ParseResult` failure.
 */
export type VerifyTokenResult<C> =
  | { readonly ok: true; readonly value: C }
  | { readonly ok: false; readonly reason: TokenFailureReason; readonly issues: readonly Issue[] };

/** Configuration of a token verifier. Copied and frozen; the caller's object is not kept. */
export interface TokenVerifierConfig<A extends TokenAudience> {
  /** Ed25519 public keys of this audience only; several during a rotation (at most 16). */
  readonly publicKeys: readonly KeyObject[];
  /** The exact `iss` expected. */
  readonly issuer: string;
  /** The exact `aud` expected; also selects the claims schema. */
  readonly audience: A;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
  /** Clock skew tolerated on exp, nbf and iat, in [0, 300] seconds. Default 30. */
  readonly leewaySeconds?: number;
  /** Longest token accepted, checked before any parsing, in [256, 65536]. Default 4096. */
  readonly maxTokenBytes?: number;
  /** Longest lifetime (exp - iat) accepted, in (0, 86400] seconds. Default 86400. */
  readonly maxTtlSeconds?: number;
  /**
   * Called last, with fully verified claims; true refuses the token (`TOKEN_REVOKED`).
   * Whatever it throws propagates: the caller's fault path, which fails closed.
   */
  readonly isRevoked?: (claims: ClaimsFor<A>) => boolean;
  /**
   * How many verified tokens to remember (default 10,000; 0 turns it off). A
   * remembered token skips only the work that cannot change for the same bytes
   * (parsing, signature, issuer, audience, claim shapes); expiry, not-before,
   * lifetime and revocation are checked again on every use.
   */
  readonly cacheSize?: number;
}

/** Verifies credentials of one audience. */
export interface TokenVerifier<A extends TokenAudience> {
  readonly audience: A;
  /** Ids of the accepted keys. */
  readonly kids: readonly string[];
  /** Verifies `token`. Returns a failure (never throws) for any input, unless `isRevoked` throws. */
  verify(token: string): VerifyTokenResult<ClaimsFor<A>>;
}

const MAX_KEYS = 16;
const TOKEN_SHAPE = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$/;
const HEADER_KEYS = new Set(['alg', 'typ', 'kid']);

/**
 * Creates a verifier. Throws `KEY_INVALID` for a key that is not an Ed25519 public key
 * (a private key is refused) or a repeated key, and `CONFIG_INVALID` for other bad options.
 */
export function createTokenVerifier<A extends TokenAudience>(config: TokenVerifierConfig<A>): TokenVerifier<A> {
  const { issuer, audience, clock, isRevoked } = config;
  const leewaySeconds = config.leewaySeconds ?? 30;
  const maxTokenBytes = config.maxTokenBytes ?? 4096;
  const maxTtlSeconds = config.maxTtlSeconds ?? MAX_TOKEN_TTL_SECONDS;
  const bad = (message: string): never => {
    throw new GovernorError('CONFIG_INVALID', `token verifier: ${message}`);
  };
  if (!isIssuerName(issuer)) bad('issuer must be 1-256 printable ASCII characters without spaces');
  if (!isTokenAudience(audience)) bad(`unknown audience ${JSON.stringify(audience)}`);
  if (typeof clock !== 'function') bad('clock must be a function');
  if (isRevoked !== undefined && typeof isRevoked !== 'function') bad('isRevoked must be a function');
  if (!isWhole(leewaySeconds, 0, 300)) bad('leewaySeconds must be a whole number in [0, 300]');
  if (!isWhole(maxTokenBytes, 256, 65_536)) bad('maxTokenBytes must be a whole number in [256, 65536]');
  if (!isWhole(maxTtlSeconds, 1, MAX_TOKEN_TTL_SECONDS)) bad(`maxTtlSeconds must be a whole number in (0, ${MAX_TOKEN_TTL_SECONDS}]`);
  if (!Array.isArray(config.publicKeys) || config.publicKeys.length === 0 || config.publicKeys.length > MAX_KEYS) {
    bad(`publicKeys must hold 1 to ${MAX_KEYS} keys`);
  }

  const keys = new Map<string, KeyObject>();
  config.publicKeys.forEach((key, i) => {
    assertEd25519(key, `token verifier publicKeys[${i}]`, 'public');
    const kid = keyId(key);
    if (keys.has(kid)) throw new GovernorError('KEY_INVALID', `token verifier publicKeys[${i}]: key ${kid} is listed twice`);
    keys.set(kid, key);
  });
  const allKeys = [...keys.values()];
  const leewayMs = leewaySeconds * 1000;
  const cacheSize = config.cacheSize ?? 10_000;
  if (!isWhole(cacheSize, 0, 1_000_000)) bad('cacheSize must be a whole number in [0, 1000000]');
  // Insertion-ordered, so the oldest entry is evicted first when it is full.
  const verified = new Map<string, ClaimsFor<A>>();

  const checkTime = (claims: ClaimsFor<A>): VerifyTokenResult<ClaimsFor<A>> => {
    const now = clock();
    // Written so that a NaN clock fails every comparison and so refuses the token.
    if (!(now < claims.exp * 1000 + leewayMs)) return fail('TOKEN_EXPIRED', 'payload.exp', 'the token has expired');
    if (!(claims.nbf * 1000 <= now + leewayMs)) return fail('TOKEN_NOT_YET_VALID', 'payload.nbf', 'the token is not valid yet');
    if (!(claims.iat * 1000 <= now + leewayMs)) return fail('TOKEN_NOT_YET_VALID', 'payload.iat', 'issued in the future');
    if (claims.exp - claims.iat > maxTtlSeconds) return fail('TOKEN_LIFETIME', 'payload.exp', `lifetime exceeds ${maxTtlSeconds} seconds`);
    if (isRevoked !== undefined && isRevoked(claims)) return fail('TOKEN_REVOKED', 'payload.jti', 'the token has been revoked');
    return { ok: true, value: claims };
  };

  const verify = (token: string): VerifyTokenResult<ClaimsFor<A>> => {
    const known = typeof token === 'string' ? verified.get(token) : undefined;
    if (known !== undefined) {
      const result = checkTime(known);
      if (!result.ok) verified.delete(token);
      return result;
    }
    const result = verifyFully(token);
    if (result.ok && cacheSize > 0) {
      if (verified.size >= cacheSize) verified.delete(verified.keys().next().value as string);
      verified.set(token, result.value);
    }
    return result;
  };

  const verifyFully = (token: string): VerifyTokenResult<ClaimsFor<A>> => {
    // 1. Size, before anything reads the token.
    if (typeof token !== 'string') return fail('TOKEN_MALFORMED', '', 'expected a string');
    if (token.length > maxTokenBytes) return fail('TOKEN_MALFORMED', '', `longer than ${maxTokenBytes} bytes`);

    // 2. Structure: exactly three unpadded base64url segments.
    const shape = TOKEN_SHAPE.exec(token);
    if (shape === null) return fail('TOKEN_MALFORMED', '', 'expected three base64url segments separated by dots');
    const [, headerSegment = '', payloadSegment = '', signatureSegment = ''] = shape;

    // 3. Header: a strict JSON object, alg exactly EdDSA, nothing we do not understand.
    const headerBytes = decodeSegment(headerSegment);
    const header = headerBytes === undefined ? undefined : parseJsonObject(headerBytes);
    if (header === undefined) return fail('TOKEN_MALFORMED', 'header', 'not canonical base64url of a JSON object');
    if (header['alg'] !== 'EdDSA') return fail('TOKEN_ALG', 'header.alg', 'only EdDSA is accepted');
    for (const name of Object.keys(header)) {
      if (!HEADER_KEYS.has(name)) return fail('TOKEN_MALFORMED', `header.${name}`, 'unsupported header parameter');
    }
    if (header['typ'] !== undefined && header['typ'] !== 'JWT') return fail('TOKEN_MALFORMED', 'header.typ', 'expected "JWT"');
    const kid = header['kid'];
    if (kid !== undefined && !isIdentifier(kid)) return fail('TOKEN_MALFORMED', 'header.kid', 'expected an identifier');

    // 4. Signature, with the key the kid names, or each key when there is no kid.
    const signature = decodeSegment(signatureSegment);
    if (signature === undefined || signature.length !== SIGNATURE_BYTES) {
      return fail('TOKEN_SIGNATURE', 'signature', `expected ${SIGNATURE_BYTES} bytes of canonical base64url`);
    }
    const signingInput = token.slice(0, headerSegment.length + 1 + payloadSegment.length);
    if (kid !== undefined) {
      const key = keys.get(kid);
      if (key === undefined) return fail('TOKEN_SIGNATURE', 'header.kid', 'no trusted key has this id');
      if (!verifyJws(signingInput, signature, key)) return fail('TOKEN_SIGNATURE', 'signature', 'does not verify');
    } else if (!allKeys.some((key) => verifyJws(signingInput, signature, key))) {
      return fail('TOKEN_SIGNATURE', 'signature', 'does not verify with any trusted key');
    }

    // 5. Claims: issuer and audience exact, then shape, then time, then revocation.
    const payloadBytes = decodeSegment(payloadSegment);
    const payload = payloadBytes === undefined ? undefined : parseJsonObject(payloadBytes);
    if (payload === undefined) return fail('TOKEN_MALFORMED', 'payload', 'not canonical base64url of a JSON object');
    if (payload['iss'] !== issuer) return fail('TOKEN_ISSUER', 'payload.iss', 'not the expected issuer');
    if (payload['aud'] !== audience) return fail('TOKEN_AUDIENCE', 'payload.aud', `expected "${audience}"`);
    const checked = validateClaims(audience, payload);
    if (!checked.ok) {
      return { ok: false, reason: 'TOKEN_MALFORMED', issues: checked.issues.map((i) => ({ path: `payload.${i.path}`, message: i.message })) };
    }
    return checkTime(checked.value);
  };

  return Object.freeze({ audience, kids: Object.freeze([...keys.keys()]), verify });
}

function fail(reason: TokenFailureReason, path: string, message: string): { ok: false; reason: TokenFailureReason; issues: readonly Issue[] } {
  return { ok: false, reason, issues: [{ path, message }] };
}

function isWhole(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
}

/**
 * Operator (human) credentials from an OpenID Connect provider the configuration
 * trusts: ID tokens or JWT access tokens, verified against the keys the provider
 * publishes (its JWKS). Checks run in a fixed order — size, structure, header, key,
 * signature, then claims — so nothing is interpreted before it is bounded and no
 * claim before it is signed. Every refusal, an unreachable provider included, is a
 * value: after construction nothing here throws.
 */
import { constants, createPublicKey, verify as verifySignature, type JsonWebKey, type KeyObject } from 'node:crypto';
import { GovernorError, type Issue, type ParseResult } from '../core/errors.js';
import type { Operator } from '../core/types.js';
import { AGENT_AUDIENCE, MAX_GROUPS, isIdentifier } from './claims.js';
import { decodeSegment } from './jws.js';

/** Configuration of an OIDC verifier. Copied and frozen; the caller's object is not kept. */
export interface OidcOptions {
  /** The exact `iss` expected: an https URL (http only for 127.0.0.1, ::1 or localhost). */
  readonly issuer: string;
  /** The `aud` required (a string claim equal to it, or a list claim containing it). Never `governor:agent`. */
  readonly audience: string;
  /** Where the keys are. Default: `jwks_uri` of `${issuer}/.well-known/openid-configuration`, fetched on first use. */
  readonly jwksUri?: string;
  /** Top-level claim holding the groups: a list of strings or a space-separated string. Default `groups`. */
  readonly groupsClaim?: string;
  /** Top-level claim holding the user name. Default `sub`; usually `email` or `preferred_username`. No fallbacks. */
  readonly usernameClaim?: string;
  /** IdP group -> Governor group. When given, only mapped groups are kept. */
  readonly groupMap?: Readonly<Record<string, string>>;
  /** Prepended to every user name, so an IdP user cannot take a local operator's name. Non-empty; default `oidc:`. */
  readonly namePrefix?: string;
  /** Accepted `alg` values. Default RS256, ES256, EdDSA, PS256. `none` and HS* are refused. */
  readonly algorithms?: readonly string[];
  /** Clock skew tolerated on exp, nbf and iat, in [0, 300] seconds. Default 60. */
  readonly clockSkewSeconds?: number;
  /** When set, tokens must carry `iat` and be at most this old (seconds). */
  readonly maxTokenAgeSeconds?: number;
  /** How long fetched keys are trusted, in ms (default 10 minutes). Expired keys are never used. */
  readonly cacheTtlMs?: number;
  /** Timeout of each fetch, body included, in ms. Default 3000. */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
  /** Milliseconds since the epoch. Default `Date.now`. */
  readonly clock?: () => number;
}

/** Verifies operator credentials from one OIDC provider. */
export interface OidcVerifier {
  readonly issuer: string;
  /**
   * Verifies `token` and maps it to an Operator named `${namePrefix}${username}`.
   * Never rejects: a bad token or an unreachable provider is `ok: false` (the
   * latter with path `jwks`).
   */
  verify(token: string): Promise<ParseResult<Operator>>;
  /**
   * Cheap check, without verifying anything: does this token claim to be from this
   * issuer? Lets the server route a bearer token to the right verifier.
   */
  claims(token: string): boolean;
}

type KeyKind = 'rsa' | 'rsa-pss' | 'ec' | 'ed25519';

interface AlgorithmSpec {
  readonly kind: KeyKind;
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null;
  /** For EC: the curve, as JOSE and as Node name it, and the raw (r || s) signature size. */
  readonly curve?: { readonly jose: string; readonly node: string; readonly signatureBytes: number };
}

const ALGORITHMS: Readonly<Record<string, AlgorithmSpec>> = Object.freeze({
  RS256: { kind: 'rsa', hash: 'sha256' },
  RS384: { kind: 'rsa', hash: 'sha384' },
  RS512: { kind: 'rsa', hash: 'sha512' },
  PS256: { kind: 'rsa-pss', hash: 'sha256' },
  PS384: { kind: 'rsa-pss', hash: 'sha384' },
  PS512: { kind: 'rsa-pss', hash: 'sha512' },
  ES256: { kind: 'ec', hash: 'sha256', curve: { jose: 'P-256', node: 'prime256v1', signatureBytes: 64 } },
  ES384: { kind: 'ec', hash: 'sha384', curve: { jose: 'P-384', node: 'secp384r1', signatureBytes: 96 } },
  ES512: { kind: 'ec', hash: 'sha512', curve: { jose: 'P-521', node: 'secp521r1', signatureBytes: 132 } },
  EdDSA: { kind: 'ed25519', hash: null },
});
const DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'PS256'];

const MAX_TOKEN_CHARS = 8192;
const MAX_USERNAME_CHARS = 256;
const MAX_KID_CHARS = 256;
const MIN_RSA_BITS = 2048;
const MAX_JWKS_KEYS = 100;
const MAX_DOCUMENT_BYTES = 256 * 1024;
/** A kid missing from fresh keys refetches them at most this often. */
const UNKNOWN_KID_REFETCH_MS = 30_000;
/** After a failed fetch, requests fail at once for this long instead of fetching again. */
const RETRY_AFTER_FAILURE_MS = 5_000;
const TOKEN_SHAPE = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$/;
const ACCEPTED_TYP = new Set(['jwt', 'at+jwt', 'application/jwt', 'application/at+jwt']);
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const MAX_NUMERIC_DATE = 253_402_300_799;

/**
 * Creates a verifier. Throws `CONFIG_INVALID` for bad options: an issuer or JWKS URL
 * that is not https (or http on loopback), an empty audience or `governor:agent`, an
 * algorithm that is unknown, `none` or HMAC, an empty name prefix, a group map onto
 * names that are not identifiers, or numbers out of range. Fetches nothing.
 */
export function createOidcVerifier(options: OidcOptions): OidcVerifier {
  return Object.freeze(new OidcTokenVerifier(checkOptions(options)));
}

interface Settings {
  readonly issuer: string;
  readonly audience: string;
  readonly jwksUri: string | undefined;
  readonly groupsClaim: string;
  readonly usernameClaim: string;
  readonly groupMap: ReadonlyMap<string, string> | undefined;
  readonly namePrefix: string;
  readonly algorithms: ReadonlySet<string>;
  readonly skewMs: number;
  readonly maxAgeMs: number | undefined;
  readonly cacheTtlMs: number;
  readonly timeoutMs: number;
  readonly fetch: typeof fetch;
  readonly clock: () => number;
}

/** A verification key from the JWKS, with what the JWK said about it. */
interface TrustedKey {
  readonly kid: string | undefined;
  readonly alg: string | undefined;
  readonly key: KeyObject;
}

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

class OidcTokenVerifier implements OidcVerifier {
  readonly issuer: string;
  readonly #settings: Settings;
  readonly #keys: JwksCache;

  constructor(settings: Settings) {
    this.issuer = settings.issuer;
    this.#settings = settings;
    this.#keys = new JwksCache(settings);
  }

  // Arrow properties, so `verifier.verify` can be passed around unbound.
  readonly verify = async (token: string): Promise<ParseResult<Operator>> => {
    try {
      return await this.#verify(token);
    } catch {
      // Nothing below should throw; if something does, refuse rather than let it escape.
      return refuse('', 'the token could not be verified');
    }
  };

  readonly claims = (token: string): boolean => {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS) return false;
    const shape = TOKEN_SHAPE.exec(token);
    const payload = shape === null ? undefined : parseSegment(shape[2] ?? '');
    return payload !== undefined && payload['iss'] === this.#settings.issuer;
  };

  async #verify(token: string): Promise<ParseResult<Operator>> {
    // 1. Size, before anything reads the token.
    if (typeof token !== 'string') return refuse('', 'expected a string');
    if (token.length > MAX_TOKEN_CHARS) return refuse('', `longer than ${MAX_TOKEN_CHARS} characters`);

    // 2. Structure: a compact JWS, three base64url segments (so never a JWE or JSON serialization).
    const shape = TOKEN_SHAPE.exec(token);
    if (shape === null) return refuse('', 'expected a compact JWS: three base64url segments separated by dots');
    const [, headerSegment = '', payloadSegment = '', signatureSegment = ''] = shape;
    const header = parseSegment(headerSegment);
    if (header === undefined) return refuse('header', 'not base64url of a JSON object');
    const payload = parseSegment(payloadSegment);
    if (payload === undefined) return refuse('payload', 'not base64url of a JSON object');

    // 3. Header: an accepted algorithm, no extensions we would have to understand.
    const alg = header['alg'];
    if (typeof alg !== 'string' || !this.#settings.algorithms.has(alg)) {
      return refuse('header.alg', `not an accepted algorithm (accepted: ${[...this.#settings.algorithms].join(', ')})`);
    }
    if (header['crit'] !== undefined) return refuse('header.crit', 'no critical header extensions are supported');
    const typ = header['typ'];
    if (typ !== undefined && (typeof typ !== 'string' || !ACCEPTED_TYP.has(typ.toLowerCase()))) {
      return refuse('header.typ', 'expected JWT or at+jwt');
    }
    const kid = header['kid'];
    if (kid !== undefined && (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_CHARS)) {
      return refuse('header.kid', `expected a string of 1 to ${MAX_KID_CHARS} characters`);
    }
    const signature = decodeSegment(signatureSegment);
    if (signature === undefined || signature.length === 0) return refuse('signature', 'missing or not canonical base64url');

    // 4. Key: the provider's key with this kid (refetched once if unknown), of the algorithm's type.
    const keys = await this.#keys.select(kid, alg);
    if (!keys.ok) return keys;

    // 5. Signature, over the exact bytes received.
    const signingInput = Buffer.from(token.slice(0, headerSegment.length + 1 + payloadSegment.length), 'ascii');
    if (!keys.value.some((key) => checkSignature(alg, signingInput, signature, key))) {
      return refuse('signature', 'does not verify');
    }

    // 6. Claims.
    return this.#operatorFrom(payload);
  }

  #operatorFrom(p: Readonly<Record<string, unknown>>): ParseResult<Operator> {
    const s = this.#settings;
    if (p['iss'] !== s.issuer) return refuse('payload.iss', 'not the expected issuer');

    const aud = p['aud'];
    const audiences = typeof aud === 'string' ? [aud] : isStringList(aud) ? aud : undefined;
    if (audiences === undefined) return refuse('payload.aud', 'missing; expected a string or a list of strings');
    if (audiences.includes(AGENT_AUDIENCE)) return refuse('payload.aud', 'an agent credential is never accepted as an operator credential');
    if (!audiences.includes(s.audience)) return refuse('payload.aud', `does not contain "${s.audience}"`);

    const exp = p['exp'];
    const nbf = p['nbf'];
    const iat = p['iat'];
    if (exp === undefined) return refuse('payload.exp', 'missing; expected seconds since the epoch');
    if (!isNumericDate(exp)) return refuse('payload.exp', 'expected seconds since the epoch');
    if (nbf !== undefined && !isNumericDate(nbf)) return refuse('payload.nbf', 'expected seconds since the epoch');
    if (iat !== undefined && !isNumericDate(iat)) return refuse('payload.iat', 'expected seconds since the epoch');
    const now = s.clock();
    // Written so that a NaN clock fails every comparison and so refuses the token.
    if (!(now < exp * 1000 + s.skewMs)) return refuse('payload.exp', 'the token has expired');
    if (nbf !== undefined && !(nbf * 1000 <= now + s.skewMs)) return refuse('payload.nbf', 'the token is not valid yet');
    if (iat !== undefined && !(iat * 1000 <= now + s.skewMs)) return refuse('payload.iat', 'issued in the future');
    if (s.maxAgeMs !== undefined) {
      if (iat === undefined) return refuse('payload.iat', 'missing; required to bound the token age');
      if (!(now - iat * 1000 <= s.maxAgeMs + s.skewMs)) return refuse('payload.iat', `issued more than ${s.maxAgeMs / 1000} seconds ago`);
    }

    const usernamePath = `payload.${s.usernameClaim}`;
    const username = p[s.usernameClaim];
    if (typeof username !== 'string' || username.length === 0) return refuse(usernamePath, 'missing; expected a non-empty string');
    if (username.length > MAX_USERNAME_CHARS) return refuse(usernamePath, `longer than ${MAX_USERNAME_CHARS} characters`);
    const name = `${s.namePrefix}${username}`;
    if (!isIdentifier(name)) {
      return refuse(usernamePath, 'not usable as an operator name (letters, digits and . _ : @ - only, at most 128 characters with the prefix)');
    }
    // An address the provider has not verified may be anyone's.
    const emailVerified = p['email_verified'];
    if (s.usernameClaim === 'email' && (emailVerified === false || emailVerified === 'false')) {
      return refuse('payload.email_verified', 'the provider has not verified this email address');
    }

    const groupsPath = `payload.${s.groupsClaim}`;
    const raw = p[s.groupsClaim];
    const listed = raw === undefined ? [] : typeof raw === 'string' ? raw.split(/\s+/).filter((g) => g !== '') : isStringList(raw) ? raw : undefined;
    if (listed === undefined) return refuse(groupsPath, 'expected a list of strings or a space-separated string');
    const map = s.groupMap;
    const groups = new Set<string>();
    for (const group of listed) {
      const mapped = map === undefined ? (isIdentifier(group) ? group : undefined) : map.get(group);
      if (mapped !== undefined) groups.add(mapped);
    }
    // Refused rather than truncated: which groups survive a cut would be arbitrary.
    if (groups.size > MAX_GROUPS) return refuse(groupsPath, `more than ${MAX_GROUPS} groups; configure a group map`);

    return { ok: true, value: Object.freeze({ name, groups: Object.freeze([...groups]) }) };
  }
}

/**
 * The provider's keys: fetched on first use and kept for `cacheTtlMs`; never used
 * once expired. Concurrent callers share one in-flight fetch. An unknown kid
 * refetches at most once per {@link UNKNOWN_KID_REFETCH_MS}, so a flood of forged
 * kids cannot turn Governor into a load generator against the provider.
 */
class JwksCache {
  readonly #settings: Settings;
  #keys: { readonly keys: readonly TrustedKey[]; readonly fetchedAt: number } | undefined;
  #inflight: Promise<void> | undefined;
  #lastAttemptAt = Number.NEGATIVE_INFINITY;
  #lastError: string | undefined;
  #discoveredJwksUri: string | undefined;

  constructor(settings: Settings) {
    this.#settings = settings;
  }

  /** The keys that may have signed a token with this kid and alg, or why there are none. */
  async select(kid: string | undefined, alg: string): Promise<ParseResult<readonly KeyObject[]>> {
    const loaded = await this.#fresh();
    if (!loaded.ok) return refuse('jwks', `the provider's keys are unavailable: ${loaded.message}`);
    let keys = loaded.value;
    let candidates = matching(keys, kid);
    if (candidates.length === 0 && kid !== undefined) {
      await this.#refetchForUnknownKid();
      keys = this.#current() ?? keys;
      candidates = matching(keys, kid);
    }
    if (candidates.length === 0) {
      return kid === undefined
        ? refuse('header.kid', `missing, and the provider publishes ${keys.length} usable keys (a token without kid needs exactly one)`)
        : refuse('header.kid', 'no key of the provider has this id');
    }
    const usable = candidates.filter((key) => keyMismatch(alg, key) === undefined);
    if (usable.length === 0) return refuse('header.alg', `${alg} does not fit the key: ${keyMismatch(alg, candidates[0] as TrustedKey) ?? ''}`);
    return { ok: true, value: usable.map((key) => key.key) };
  }

  #current(): readonly TrustedKey[] | undefined {
    const cached = this.#keys;
    return cached !== undefined && this.#settings.clock() - cached.fetchedAt < this.#settings.cacheTtlMs ? cached.keys : undefined;
  }

  async #fresh(): Promise<Outcome<readonly TrustedKey[]>> {
    const current = this.#current();
    if (current !== undefined) return { ok: true, value: current };
    if (this.#inflight !== undefined) {
      await this.#inflight;
    } else if (this.#lastError !== undefined && this.#settings.clock() - this.#lastAttemptAt < RETRY_AFTER_FAILURE_MS) {
      return { ok: false, message: this.#lastError };
    } else {
      await this.#refresh();
    }
    const keys = this.#current();
    return keys === undefined ? { ok: false, message: this.#lastError ?? 'no keys' } : { ok: true, value: keys };
  }

  async #refetchForUnknownKid(): Promise<void> {
    if (this.#inflight !== undefined) return this.#inflight;
    if (this.#settings.clock() - this.#lastAttemptAt < UNKNOWN_KID_REFETCH_MS) return undefined;
    return this.#refresh();
  }

  #refresh(): Promise<void> {
    this.#lastAttemptAt = this.#settings.clock();
    const run = async (): Promise<void> => {
      const result = await this.#download();
      if (result.ok) {
        this.#keys = { keys: result.value, fetchedAt: this.#settings.clock() };
        this.#lastError = undefined;
      } else {
        // Keys still within their TTL stay usable; expired ones are never used either way.
        this.#lastError = result.message;
      }
    };
    const inflight = run().finally(() => {
      this.#inflight = undefined;
    });
    this.#inflight = inflight;
    return inflight;
  }

  async #download(): Promise<Outcome<readonly TrustedKey[]>> {
    const s = this.#settings;
    let jwksUri = s.jwksUri ?? this.#discoveredJwksUri;
    if (jwksUri === undefined) {
      const url = `${s.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      const doc = await getJson(s, url, 'discovery document');
      if (!doc.ok) return doc;
      const meta = isPlainObject(doc.value) ? doc.value : {};
      // OIDC Discovery 1.0 §4.3: the document must name exactly the issuer it was fetched for.
      if (meta['issuer'] !== s.issuer) return { ok: false, message: `the discovery document at ${url} names another issuer` };
      const found = meta['jwks_uri'];
      if (typeof found !== 'string' || urlProblem(found) !== undefined) {
        return { ok: false, message: `the discovery document at ${url} has no https jwks_uri` };
      }
      jwksUri = found;
      this.#discoveredJwksUri = found;
    }
    const doc = await getJson(s, jwksUri, 'JWKS');
    if (!doc.ok) {
      // The provider may have moved its keys: discover again next time.
      this.#discoveredJwksUri = undefined;
      return doc;
    }
    return importJwks(doc.value, jwksUri);
  }
}

function matching(keys: readonly TrustedKey[], kid: string | undefined): readonly TrustedKey[] {
  if (kid === undefined) return keys.length === 1 ? keys : [];
  return keys.filter((key) => key.kid === kid);
}

/** Why `alg` cannot be verified with `key`, or undefined when it can. */
function keyMismatch(alg: string, trusted: TrustedKey): string | undefined {
  const spec = ALGORITHMS[alg];
  if (spec === undefined) return 'unknown algorithm';
  if (trusted.alg !== undefined && trusted.alg !== alg) return `the key is published for ${trusted.alg}`;
  const type = trusted.key.asymmetricKeyType;
  const details = trusted.key.asymmetricKeyDetails ?? {};
  switch (spec.kind) {
    case 'rsa':
    case 'rsa-pss':
      if (type !== 'rsa') return `${alg} needs an RSA key, this is ${type ?? 'unknown'}`;
      if ((details.modulusLength ?? 0) < MIN_RSA_BITS) return `the RSA key has fewer than ${MIN_RSA_BITS} bits`;
      return undefined;
    case 'ec':
      if (type !== 'ec' || details.namedCurve !== spec.curve?.node) return `${alg} needs an EC ${spec.curve?.jose ?? ''} key, this is ${type ?? 'unknown'}`;
      return undefined;
    case 'ed25519':
      return type === 'ed25519' ? undefined : `${alg} needs an Ed25519 key, this is ${type ?? 'unknown'}`;
  }
}

/** Verifies a signature; false (never a throw) for any malformed input. The key already fits `alg`. */
function checkSignature(alg: string, input: Buffer, signature: Buffer, key: KeyObject): boolean {
  const spec = ALGORITHMS[alg];
  if (spec === undefined) return false;
  try {
    switch (spec.kind) {
      case 'rsa':
      case 'rsa-pss': {
        const modulusBytes = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
        if (signature.length !== modulusBytes) return false;
        if (spec.kind === 'rsa') return verifySignature(spec.hash, input, key, signature);
        // JWA §3.5: the salt is as long as the hash.
        return verifySignature(spec.hash, input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
      }
      case 'ec':
        // JWS signatures are raw r || s (IEEE P1363), not DER.
        if (signature.length !== spec.curve?.signatureBytes) return false;
        return verifySignature(spec.hash, input, { key, dsaEncoding: 'ieee-p1363' }, signature);
      case 'ed25519':
        return signature.length === 64 && verifySignature(null, input, key, signature);
    }
  } catch {
    return false;
  }
}

/**
 * The signing keys of a JWKS document. JWKs for other uses (`use` other than `sig`,
 * `key_ops` without `verify`), of other types (`oct` among them) or malformed are
 * skipped; only public members are imported, so a published private key is never used as one.
 */
function importJwks(doc: unknown, url: string): Outcome<readonly TrustedKey[]> {
  const list = isPlainObject(doc) ? doc['keys'] : undefined;
  if (!Array.isArray(list)) return { ok: false, message: `the JWKS at ${url} is not {"keys": [...]}` };
  if (list.length > MAX_JWKS_KEYS) return { ok: false, message: `the JWKS at ${url} has more than ${MAX_JWKS_KEYS} keys` };
  const keys: TrustedKey[] = [];
  for (const jwk of list) {
    if (!isPlainObject(jwk)) continue;
    const { use, key_ops: ops, kid, alg } = jwk;
    if (use !== undefined && use !== 'sig') continue;
    if (ops !== undefined && !(Array.isArray(ops) && ops.includes('verify'))) continue;
    if (kid !== undefined && typeof kid !== 'string') continue;
    if (alg !== undefined && typeof alg !== 'string') continue;
    const members = publicMembers(jwk);
    if (members === undefined) continue;
    try {
      keys.push({ kid, alg, key: createPublicKey({ key: members, format: 'jwk' }) });
    } catch {
      continue;
    }
  }
  return { ok: true, value: Object.freeze(keys) };
}

function publicMembers(jwk: Readonly<Record<string, unknown>>): JsonWebKey | undefined {
  const strings = (...names: string[]): boolean => names.every((n) => typeof jwk[n] === 'string' && jwk[n] !== '');
  switch (jwk['kty']) {
    case 'RSA':
      return strings('n', 'e') ? { kty: 'RSA', n: jwk['n'] as string, e: jwk['e'] as string } : undefined;
    case 'EC':
      return strings('crv', 'x', 'y') ? { kty: 'EC', crv: jwk['crv'] as string, x: jwk['x'] as string, y: jwk['y'] as string } : undefined;
    case 'OKP':
      return jwk['crv'] === 'Ed25519' && strings('x') ? { kty: 'OKP', crv: 'Ed25519', x: jwk['x'] as string } : undefined;
    default:
      return undefined;
  }
}

class FetchTimeout extends Error {}

/** GETs a JSON document; every failure is a message, never a throw. */
async function getJson(s: Settings, url: string, what: string): Promise<Outcome<unknown>> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  // The timer bounds the whole exchange even when an injected fetch ignores the signal.
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new FetchTimeout();
      controller.abort(error);
      reject(error);
    }, s.timeoutMs);
  });
  const exchange = (async (): Promise<Outcome<unknown>> => {
    // No redirects: the keys come from the configured or discovered URL and nowhere else.
    const response = await s.fetch(url, { signal: controller.signal, redirect: 'error', headers: { accept: 'application/json' } });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      return { ok: false, message: `GET ${what} ${url}: HTTP ${response.status}` };
    }
    const text = await readLimited(response, MAX_DOCUMENT_BYTES);
    if (text === undefined) return { ok: false, message: `GET ${what} ${url}: larger than ${MAX_DOCUMENT_BYTES} bytes` };
    try {
      return { ok: true, value: JSON.parse(text) as unknown };
    } catch {
      return { ok: false, message: `GET ${what} ${url}: not JSON` };
    }
  })();
  // If the timeout wins, the abandoned exchange may still reject; that is expected.
  exchange.catch(() => undefined);
  try {
    return await Promise.race([exchange, timeout]);
  } catch (error) {
    return { ok: false, message: `GET ${what} ${url}: ${describeFetchError(error, s.timeoutMs)}` };
  } finally {
    clearTimeout(timer);
  }
}

async function readLimited(response: Response, limit: number): Promise<string | undefined> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    return undefined;
  }
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  if (error instanceof FetchTimeout || (error instanceof Error && error.name === 'TimeoutError')) return `timed out after ${timeoutMs} ms`;
  if (!(error instanceof Error)) return 'failed';
  const cause: unknown = error.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${error.message} (${typeof code === 'string' ? code : cause.message})`;
  }
  return error.message;
}

function checkOptions(options: OidcOptions): Settings {
  const bad = (message: string): never => {
    throw new GovernorError('CONFIG_INVALID', `oidc: ${message}`);
  };
  if (typeof options !== 'object' || options === null) bad('expected an options object');
  const { issuer, audience, jwksUri } = options;
  if (typeof issuer !== 'string') return bad('issuer must be a URL');
  const issuerProblem = urlProblem(issuer);
  if (issuerProblem !== undefined) bad(`issuer ${issuerProblem}`);
  if (typeof audience !== 'string' || audience.length === 0 || audience.length > 256) bad('audience must be a string of 1 to 256 characters');
  if (audience === AGENT_AUDIENCE) bad(`audience must not be "${AGENT_AUDIENCE}": an agent credential is never an operator credential`);
  if (jwksUri !== undefined) {
    const problem = typeof jwksUri === 'string' ? urlProblem(jwksUri) : 'must be a URL';
    if (problem !== undefined) bad(`jwksUri ${problem}`);
  }
  const groupsClaim = options.groupsClaim ?? 'groups';
  const usernameClaim = options.usernameClaim ?? 'sub';
  if (!isClaimName(groupsClaim)) bad('groupsClaim must be a claim name of 1 to 128 characters');
  if (!isClaimName(usernameClaim)) bad('usernameClaim must be a claim name of 1 to 128 characters');
  const namePrefix = options.namePrefix ?? 'oidc:';
  if (typeof namePrefix !== 'string' || !/^[A-Za-z0-9._:@-]{1,64}$/.test(namePrefix)) {
    bad('namePrefix must be 1 to 64 of letters, digits and . _ : @ - (it keeps provider users apart from local operators)');
  }

  let groupMap: Map<string, string> | undefined;
  if (options.groupMap !== undefined) {
    if (!isPlainObject(options.groupMap)) bad('groupMap must be an object of IdP group to Governor group');
    groupMap = new Map();
    for (const [from, to] of Object.entries(options.groupMap)) {
      if (from.length === 0 || from.length > 256) bad('groupMap keys must be 1 to 256 characters');
      if (!isIdentifier(to)) bad(`groupMap[${JSON.stringify(from)}] must be a Governor group name (letters, digits and . _ : @ -, at most 128)`);
      groupMap.set(from, to);
    }
    if (groupMap.size > 1024) bad('groupMap may hold at most 1024 entries');
  }

  const algorithms = options.algorithms ?? DEFAULT_ALGORITHMS;
  if (!Array.isArray(algorithms) || algorithms.length === 0) bad('algorithms must be a non-empty list');
  for (const alg of algorithms) {
    if (typeof alg === 'string' && (alg.toLowerCase() === 'none' || /^HS/i.test(alg))) bad(`algorithm ${alg} is never accepted`);
    if (typeof alg !== 'string' || ALGORITHMS[alg] === undefined) bad(`unknown algorithm ${String(alg)} (supported: ${Object.keys(ALGORITHMS).join(', ')})`);
  }

  const skew = options.clockSkewSeconds ?? 60;
  if (!isWhole(skew, 0, 300)) bad('clockSkewSeconds must be a whole number in [0, 300]');
  const maxAge = options.maxTokenAgeSeconds;
  if (maxAge !== undefined && !isWhole(maxAge, 1, 31_536_000)) bad('maxTokenAgeSeconds must be a whole number in [1, 31536000]');
  const cacheTtlMs = options.cacheTtlMs ?? 600_000;
  if (!isWhole(cacheTtlMs, 1000, 86_400_000)) bad('cacheTtlMs must be a whole number in [1000, 86400000]');
  const timeoutMs = options.timeoutMs ?? 3000;
  if (!isWhole(timeoutMs, 1, 60_000)) bad('timeoutMs must be a whole number in [1, 60000]');
  const fetchFn = options.fetch ?? globalThis.fetch;
  if (typeof fetchFn !== 'function') bad('fetch must be a function');
  const clock = options.clock ?? Date.now;
  if (typeof clock !== 'function') bad('clock must be a function');

  return Object.freeze({
    issuer,
    audience,
    jwksUri,
    groupsClaim,
    usernameClaim,
    groupMap,
    namePrefix,
    algorithms: new Set(algorithms),
    skewMs: skew * 1000,
    maxAgeMs: maxAge === undefined ? undefined : maxAge * 1000,
    cacheTtlMs,
    timeoutMs,
    fetch: fetchFn,
    clock,
  });
}

/** Why `value` is not an acceptable provider URL, or undefined. */
function urlProblem(value: string): string | undefined {
  if (value.length > 2048) return 'must be at most 2048 characters';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) return 'must use https (http only on 127.0.0.1, ::1 or localhost)';
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must use https';
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  if (url.search !== '' || url.hash !== '') return 'must not have a query or fragment';
  return undefined;
}

function parseSegment(segment: string): Record<string, unknown> | undefined {
  const bytes = decodeSegment(segment);
  if (bytes === undefined) return undefined;
  // Plain JSON.parse, not the canonical check of jws.ts: providers do not write JSON byte for byte as we do.
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  return isPlainObject(value) ? value : undefined;
}

function refuse(path: string, message: string): { readonly ok: false; readonly issues: readonly Issue[] } {
  return { ok: false, issues: [{ path, message }] };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isClaimName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 128;
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= MAX_NUMERIC_DATE;
}

function isWhole(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
}

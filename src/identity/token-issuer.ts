/**
 * Mints short-lived Ed25519-signed credentials. One issuer serves one audience with
 * one key: the agent issuer cannot mint operator credentials and vice versa.
 */
import { createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import { GovernorError, type Issue } from '../core/errors.js';
import {
  AGENT_AUDIENCE,
  MAX_GROUPS,
  MAX_TOKEN_TTL_SECONDS,
  isIdentifier,
  isIssuerName,
  isTokenAudience,
  validateClaims,
  type AgentClaims,
  type ClaimsFor,
  type OperatorClaims,
  type TokenAudience,
} from './claims.js';
import { signJws } from './jws.js';
import { assertEd25519, keyId } from './keys.js';

/** Configuration of a token issuer. Copied and frozen; the caller's object is not kept. */
export interface TokenIssuerConfig<A extends TokenAudience> {
  /** The Ed25519 private key of this audience (agent and operator keys must differ). */
  readonly privateKey: KeyObject;
  /** The `iss` claim; verifiers must expect exactly this. */
  readonly issuer: string;
  readonly audience: A;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
  /** Longest lifetime this issuer grants, in (0, 86400] seconds. Default 86400 (24 h). */
  readonly maxTtlSeconds?: number;
}

/** What to put in an agent credential. */
export interface AgentTokenRequest {
  readonly agent: string;
  readonly role: string;
  /** Defaults to a random UUID. */
  readonly instance?: string;
  /** Defaults to a random UUID. */
  readonly session?: string;
  readonly task?: string;
  /** Lifetime in whole seconds, in (0, maxTtlSeconds]. See `parseDuration`. */
  readonly ttlSeconds: number;
}

/** What to put in an operator credential. */
export interface OperatorTokenRequest {
  readonly operator: string;
  readonly groups: readonly string[];
  /** Lifetime in whole seconds, in (0, maxTtlSeconds]. See `parseDuration`. */
  readonly ttlSeconds: number;
}

/** The request type of an audience. */
export type TokenRequestFor<A extends TokenAudience> = A extends typeof AGENT_AUDIENCE ? AgentTokenRequest : OperatorTokenRequest;

/** A minted credential and the claims it carries. */
export interface IssuedToken<C> {
  readonly token: string;
  readonly claims: C;
}

/** Mints credentials of one audience. */
export interface TokenIssuer<A extends TokenAudience> {
  readonly audience: A;
  readonly issuer: string;
  /** The `kid` written into every token header. */
  readonly kid: string;
  /** The public key verifiers need. */
  readonly publicKey: KeyObject;
  /**
   * Mints a credential valid from now (`iat = nbf = now`) for `ttlSeconds`. Throws
   * `BAD_REQUEST` (details: `{ issues }`) when the request is invalid.
   */
  issue(request: TokenRequestFor<A>): IssuedToken<ClaimsFor<A>>;
}

/**
 * Creates an issuer. Throws `KEY_INVALID` unless `privateKey` is an Ed25519 private key,
 * and `CONFIG_INVALID` for a bad issuer name, audience or maximum TTL.
 */
export function createTokenIssuer<A extends TokenAudience>(config: TokenIssuerConfig<A>): TokenIssuer<A> {
  assertEd25519(config.privateKey, 'token issuer privateKey', 'private');
  const { privateKey, issuer, audience, clock } = config;
  const maxTtlSeconds = config.maxTtlSeconds ?? MAX_TOKEN_TTL_SECONDS;
  if (!isIssuerName(issuer)) throw new GovernorError('CONFIG_INVALID', 'token issuer: issuer must be 1-256 printable ASCII characters without spaces');
  if (!isTokenAudience(audience)) throw new GovernorError('CONFIG_INVALID', `token issuer: unknown audience ${JSON.stringify(audience)}`);
  if (typeof clock !== 'function') throw new GovernorError('CONFIG_INVALID', 'token issuer: clock must be a function');
  if (!isTtl(maxTtlSeconds, MAX_TOKEN_TTL_SECONDS)) {
    throw new GovernorError('CONFIG_INVALID', `token issuer: maxTtlSeconds must be a whole number in (0, ${MAX_TOKEN_TTL_SECONDS}]`);
  }
  const publicKey = createPublicKey(privateKey);
  const kid = keyId(publicKey);
  const header = Object.freeze({ alg: 'EdDSA', typ: 'JWT', kid } as const);

  const issue = (request: TokenRequestFor<A>): IssuedToken<ClaimsFor<A>> => {
    const issues: Issue[] = [];
    if (!isTtl(request.ttlSeconds, maxTtlSeconds)) {
      issues.push({ path: 'ttlSeconds', message: `expected a whole number of seconds in (0, ${maxTtlSeconds}]` });
    }
    const body = audience === AGENT_AUDIENCE ? agentBody(request as AgentTokenRequest, issues) : operatorBody(request as OperatorTokenRequest, issues);
    if (issues.length > 0) {
      throw new GovernorError('BAD_REQUEST', `invalid credential request: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
        details: { issues },
      });
    }
    const now = clock();
    if (!Number.isFinite(now) || now < 0) throw new GovernorError('INTERNAL', `token issuer: clock returned ${String(now)}`);
    const iat = Math.floor(now / 1000);
    const payload = { iss: issuer, aud: audience, ...body, iat, nbf: iat, exp: iat + request.ttlSeconds, jti: randomUUID() };
    // The verifier's own validator: a token we mint is a token it accepts.
    const checked = validateClaims(audience, payload);
    if (!checked.ok) {
      throw new GovernorError('INTERNAL', `token issuer produced invalid claims: ${checked.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    }
    return Object.freeze({ token: signJws(header, checked.value, privateKey), claims: checked.value });
  };

  return Object.freeze({ audience, issuer, kid, publicKey, issue });
}

type AgentBody = Pick<AgentClaims, 'sub' | 'inst' | 'role' | 'sid' | 'task'>;

function agentBody(request: AgentTokenRequest, issues: Issue[]): AgentBody {
  const id = (path: string, value: unknown): void => {
    if (!isIdentifier(value)) issues.push({ path, message: 'expected an identifier: 1-128 of A-Z a-z 0-9 . _ : @ -' });
  };
  id('agent', request.agent);
  id('role', request.role);
  if (request.instance !== undefined) id('instance', request.instance);
  if (request.session !== undefined) id('session', request.session);
  if (request.task !== undefined) id('task', request.task);
  return {
    sub: request.agent,
    inst: request.instance ?? randomUUID(),
    role: request.role,
    sid: request.session ?? randomUUID(),
    ...(request.task === undefined ? {} : { task: request.task }),
  };
}

function operatorBody(request: OperatorTokenRequest, issues: Issue[]): Pick<OperatorClaims, 'sub' | 'groups'> {
  if (!isIdentifier(request.operator)) issues.push({ path: 'operator', message: 'expected an identifier: 1-128 of A-Z a-z 0-9 . _ : @ -' });
  const groups: unknown = request.groups;
  if (!Array.isArray(groups) || groups.length > MAX_GROUPS) {
    issues.push({ path: 'groups', message: `expected a list of at most ${MAX_GROUPS} identifiers` });
    return { sub: request.operator, groups: [] };
  }
  groups.forEach((g, i) => {
    if (!isIdentifier(g)) issues.push({ path: `groups[${i}]`, message: 'expected an identifier: 1-128 of A-Z a-z 0-9 . _ : @ -' });
  });
  if (new Set(groups).size !== groups.length) issues.push({ path: 'groups', message: 'must not repeat a group' });
  return { sub: request.operator, groups: [...(groups as string[])] };
}

function isTtl(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 && value <= max;
}

/**
 * The claims Governor's credentials carry, per audience, and the one validator both
 * the issuer and the verifier use, so a token the issuer mints is exactly a token
 * the verifier accepts.
 */
import type { Issue } from '../core/errors.js';

/** Audience of agent credentials. */
export const AGENT_AUDIENCE = 'governor:agent';
/** Audience of operator (human) credentials. */
export const OPERATOR_AUDIENCE = 'governor:operator';
/** The two kinds of credentials; each is signed by its own key. */
export type TokenAudience = typeof AGENT_AUDIENCE | typeof OPERATOR_AUDIENCE;

/** Upper bound on any credential's lifetime (exp - iat), in seconds: 24 hours. */
export const MAX_TOKEN_TTL_SECONDS = 86_400;
/** Identifiers (agent, instance, role, session, task, operator, group, jti, kid). */
export const ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;
/** Issuer names: printable ASCII without spaces, at most 256 characters. */
export const ISSUER_PATTERN = /^[\x21-\x7e]{1,256}$/;
/** Most groups an operator credential may carry. */
export const MAX_GROUPS = 64;
// NumericDate bound: 9999-12-31T23:59:59Z. Keeps every `seconds * 1000` exact.
const MAX_NUMERIC_DATE = 253_402_300_799;

/** Claims every credential carries. Times are NumericDate (seconds since the epoch). */
export interface BaseClaims {
  readonly iss: string;
  readonly sub: string;
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  /** Unique token id, for revocation and audit. */
  readonly jti: string;
}

/** Claims of an agent credential (`aud: governor:agent`). */
export interface AgentClaims extends BaseClaims {
  readonly aud: typeof AGENT_AUDIENCE;
  /** The agent id. */
  readonly sub: string;
  /** The running instance of the agent. */
  readonly inst: string;
  readonly role: string;
  /** The session id. */
  readonly sid: string;
  readonly task?: string;
}

/** Claims of an operator credential (`aud: governor:operator`). */
export interface OperatorClaims extends BaseClaims {
  readonly aud: typeof OPERATOR_AUDIENCE;
  /** The operator's name. */
  readonly sub: string;
  readonly groups: readonly string[];
}

/** The claims type of an audience. */
export type ClaimsFor<A extends TokenAudience> = A extends typeof AGENT_AUDIENCE ? AgentClaims : OperatorClaims;

/** The result of validating a claims object. */
export type ClaimsCheck<C> = { readonly ok: true; readonly value: C } | { readonly ok: false; readonly issues: readonly Issue[] };

const BASE_KEYS = ['iss', 'aud', 'sub', 'iat', 'nbf', 'exp', 'jti'];
const ALLOWED_KEYS: Readonly<Record<TokenAudience, ReadonlySet<string>>> = {
  [AGENT_AUDIENCE]: new Set([...BASE_KEYS, 'inst', 'role', 'sid', 'task']),
  [OPERATOR_AUDIENCE]: new Set([...BASE_KEYS, 'groups']),
};

/** True for a string matching {@link ID_PATTERN}. */
export function isIdentifier(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/** True for a string matching {@link ISSUER_PATTERN}. */
export function isIssuerName(value: unknown): value is string {
  return typeof value === 'string' && ISSUER_PATTERN.test(value);
}

/** True for one of the two audiences. */
export function isTokenAudience(value: unknown): value is TokenAudience {
  return value === AGENT_AUDIENCE || value === OPERATOR_AUDIENCE;
}

/**
 * Checks the shape of a claims object for `audience`: exactly the known claim names,
 * each of its type (identifiers per {@link ID_PATTERN}, times as whole non-negative
 * seconds, `iat <= nbf < exp`, no duplicate groups). It does not check issuer,
 * audience value, the clock or lifetime: the verifier does, each with its own reason.
 */
export function validateClaims<A extends TokenAudience>(audience: A, payload: Readonly<Record<string, unknown>>): ClaimsCheck<ClaimsFor<A>> {
  const issues: Issue[] = [];
  const allowed = ALLOWED_KEYS[audience];
  for (const key of Object.keys(payload)) {
    if (!allowed.has(key)) issues.push({ path: key, message: `unknown claim for ${audience}` });
  }
  const need = (key: string, ok: (v: unknown) => boolean, expected: string): void => {
    const value = payload[key];
    if (value === undefined) issues.push({ path: key, message: `missing; expected ${expected}` });
    else if (!ok(value)) issues.push({ path: key, message: `expected ${expected}` });
  };
  need('iss', isIssuerName, 'an issuer name');
  need('aud', (v) => v === audience, `"${audience}"`);
  need('sub', isIdentifier, 'an identifier');
  need('jti', isIdentifier, 'an identifier');
  for (const key of ['iat', 'nbf', 'exp']) need(key, isNumericDate, 'whole seconds since the epoch');
  if (audience === AGENT_AUDIENCE) {
    need('inst', isIdentifier, 'an identifier');
    need('role', isIdentifier, 'an identifier');
    need('sid', isIdentifier, 'an identifier');
    if (payload['task'] !== undefined) need('task', isIdentifier, 'an identifier');
  } else {
    need('groups', isGroupList, `a list of at most ${MAX_GROUPS} distinct identifiers`);
  }
  if (issues.length === 0) {
    const { iat, nbf, exp } = payload as { iat: number; nbf: number; exp: number };
    if (nbf < iat) issues.push({ path: 'nbf', message: 'must not be before iat' });
    if (exp <= nbf) issues.push({ path: 'exp', message: 'must be after nbf' });
  }
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, value: copyClaims(audience, payload) };
}

// A frozen copy in the issuer's claim order, so callers never share the parsed object.
function copyClaims<A extends TokenAudience>(audience: A, p: Readonly<Record<string, unknown>>): ClaimsFor<A> {
  const head = { iss: p['iss'], aud: p['aud'], sub: p['sub'] };
  const tail = { iat: p['iat'], nbf: p['nbf'], exp: p['exp'], jti: p['jti'] };
  const body =
    audience === AGENT_AUDIENCE
      ? { inst: p['inst'], role: p['role'], sid: p['sid'], ...(p['task'] === undefined ? {} : { task: p['task'] }) }
      : { groups: Object.freeze([...(p['groups'] as string[])]) };
  return Object.freeze({ ...head, ...body, ...tail }) as unknown as ClaimsFor<A>;
}

function isNumericDate(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_NUMERIC_DATE;
}

function isGroupList(value: unknown): boolean {
  return Array.isArray(value) && value.length <= MAX_GROUPS && value.every(isIdentifier) && new Set(value).size === value.length;
}

import { createHmac, sign, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { isGovernorError } from '../core/errors.js';
import { AGENT_AUDIENCE, OPERATOR_AUDIENCE, type AgentClaims, type OperatorClaims } from './claims.js';
import { assertDistinctKeys, generateSigningKeyPair } from './keys.js';
import { principalFromClaims } from './principal.js';
import { createTokenIssuer } from './token-issuer.js';
import { createTokenVerifier, type TokenFailureReason, type VerifyTokenResult } from './token-verifier.js';

const ISSUER = 'governor.test';
const T0 = Date.UTC(2030, 0, 1, 12, 0, 0); // ms
const agentKeys = generateSigningKeyPair();
const operatorKeys = generateSigningKeyPair();

function clockAt(ms: number): () => number {
  return () => ms;
}

const agentIssuer = createTokenIssuer({ privateKey: agentKeys.privateKey, issuer: ISSUER, audience: AGENT_AUDIENCE, clock: clockAt(T0) });
const operatorIssuer = createTokenIssuer({ privateKey: operatorKeys.privateKey, issuer: ISSUER, audience: OPERATOR_AUDIENCE, clock: clockAt(T0) });

function agentVerifier(options: { now?: number; keys?: KeyObject[]; maxTtlSeconds?: number; isRevoked?: (c: AgentClaims) => boolean } = {}) {
  return createTokenVerifier({
    publicKeys: options.keys ?? [agentKeys.publicKey],
    issuer: ISSUER,
    audience: AGENT_AUDIENCE,
    clock: clockAt(options.now ?? T0),
    ...(options.maxTtlSeconds === undefined ? {} : { maxTtlSeconds: options.maxTtlSeconds }),
    ...(options.isRevoked === undefined ? {} : { isRevoked: options.isRevoked }),
  });
}

function operatorVerifier(keys: KeyObject[] = [operatorKeys.publicKey]) {
  return createTokenVerifier({ publicKeys: keys, issuer: ISSUER, audience: OPERATOR_AUDIENCE, clock: clockAt(T0) });
}

const agentToken = agentIssuer.issue({ agent: 'deploy-bot', role: 'deployer', instance: 'i-1', session: 's-1', task: 'T-42', ttlSeconds: 900 });

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A token with any header and payload text, signed by `key` (Ed25519) over the signing input. */
function forge(header: unknown, payload: unknown, key: KeyObject = agentKeys.privateKey): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
}

const now = Math.floor(T0 / 1000);
const goodHeader = { alg: 'EdDSA', typ: 'JWT', kid: agentKeys.kid };
const goodPayload = {
  iss: ISSUER,
  aud: AGENT_AUDIENCE,
  sub: 'deploy-bot',
  inst: 'i-1',
  role: 'deployer',
  sid: 's-1',
  iat: now,
  nbf: now,
  exp: now + 900,
  jti: 'j-1',
};

function expectFailure(result: VerifyTokenResult<unknown>, reason: TokenFailureReason): void {
  expect(result.ok ? 'ok' : result.reason).toBe(reason);
}

describe('round trips', () => {
  it('an agent credential verifies to its claims and principal', () => {
    const result = agentVerifier().verify(agentToken.token);
    expect(result).toEqual({ ok: true, value: agentToken.claims });
    expect(agentToken.claims).toEqual({
      iss: ISSUER,
      aud: AGENT_AUDIENCE,
      sub: 'deploy-bot',
      inst: 'i-1',
      role: 'deployer',
      sid: 's-1',
      task: 'T-42',
      iat: now,
      nbf: now,
      exp: now + 900,
      jti: agentToken.claims.jti,
    });
    if (!result.ok) return;
    expect(principalFromClaims(result.value)).toEqual({ agent: 'deploy-bot', instance: 'i-1', role: 'deployer', session: 's-1', task: 'T-42' });
  });

  it('writes the header the verifier expects', () => {
    const [header] = agentToken.token.split('.');
    expect(JSON.parse(Buffer.from(header ?? '', 'base64url').toString())).toEqual({ alg: 'EdDSA', typ: 'JWT', kid: agentKeys.kid });
  });

  it('defaults instance and session to fresh random ids and omits an absent task', () => {
    const a = agentIssuer.issue({ agent: 'a', role: 'r', ttlSeconds: 60 });
    const b = agentIssuer.issue({ agent: 'a', role: 'r', ttlSeconds: 60 });
    expect(a.claims.inst).not.toBe(b.claims.inst);
    expect(a.claims.sid).not.toBe(b.claims.sid);
    expect(a.claims.jti).not.toBe(b.claims.jti);
    expect(a.claims).not.toHaveProperty('task');
    const verified = agentVerifier().verify(a.token);
    expect(verified.ok).toBe(true);
    if (verified.ok) expect(principalFromClaims(verified.value)).not.toHaveProperty('task');
  });

  it('an operator credential verifies to its claims', () => {
    const issued = operatorIssuer.issue({ operator: 'alice@example.com', groups: ['sre', 'db-owners'], ttlSeconds: 3_600 });
    const result = operatorVerifier().verify(issued.token);
    expect(result).toEqual({ ok: true, value: issued.claims });
    expect(issued.claims).toMatchObject({ aud: OPERATOR_AUDIENCE, sub: 'alice@example.com', groups: ['sre', 'db-owners'] });
  });

  it('accepts every key of a rotation, and a kid-less token signed by any of them', () => {
    const next = generateSigningKeyPair();
    const nextIssuer = createTokenIssuer({ privateKey: next.privateKey, issuer: ISSUER, audience: AGENT_AUDIENCE, clock: clockAt(T0) });
    const verifier = agentVerifier({ keys: [agentKeys.publicKey, next.publicKey] });
    expect(verifier.kids).toEqual([agentKeys.kid, next.kid]);
    expect(verifier.verify(agentToken.token).ok).toBe(true);
    expect(verifier.verify(nextIssuer.issue({ agent: 'a', role: 'r', ttlSeconds: 60 }).token).ok).toBe(true);
    expect(verifier.verify(forge({ alg: 'EdDSA', typ: 'JWT' }, goodPayload, next.privateKey)).ok).toBe(true);
    expect(verifier.verify(forge({ alg: 'EdDSA' }, goodPayload)).ok).toBe(true);
    // Once the old key is retired, its tokens stop verifying.
    expectFailure(agentVerifier({ keys: [next.publicKey] }).verify(agentToken.token), 'TOKEN_SIGNATURE');
  });
});

describe('algorithm', () => {
  it('refuses alg none with an empty signature', () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(goodPayload)}.`;
    expectFailure(agentVerifier().verify(token), 'TOKEN_ALG');
  });

  it('refuses HS256 keyed with the public key (algorithm confusion)', () => {
    const pem = agentKeys.publicKey.export({ format: 'pem', type: 'spki' });
    const raw = agentKeys.publicKey.export({ format: 'der', type: 'spki' });
    for (const secret of [pem, raw]) {
      const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: agentKeys.kid })}.${b64(goodPayload)}`;
      const token = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
      expectFailure(agentVerifier().verify(token), 'TOKEN_ALG');
    }
    // Same MAC under a header claiming EdDSA: 32 bytes is not an Ed25519 signature.
    const input = `${b64(goodHeader)}.${b64(goodPayload)}`;
    const token = `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
    expectFailure(agentVerifier().verify(token), 'TOKEN_SIGNATURE');
  });

  it.each(['eddsa', 'EDDSA', 'Ed25519', 'ES256', 'RS256', 'EdDSA ', '', null, 1, ['EdDSA']])('refuses alg %j even when the signature is valid', (alg) => {
    expectFailure(agentVerifier().verify(forge({ ...goodHeader, alg }, goodPayload)), 'TOKEN_ALG');
  });

  it('refuses a header without alg', () => {
    expectFailure(agentVerifier().verify(forge({ typ: 'JWT', kid: agentKeys.kid }, goodPayload)), 'TOKEN_ALG');
  });
});

describe('signature and keys', () => {
  it('refuses a token signed by another key, with or without its kid', () => {
    const other = generateSigningKeyPair();
    expectFailure(agentVerifier().verify(forge(goodHeader, goodPayload, other.privateKey)), 'TOKEN_SIGNATURE');
    expectFailure(agentVerifier().verify(forge({ ...goodHeader, kid: other.kid }, goodPayload, other.privateKey)), 'TOKEN_SIGNATURE');
    expectFailure(agentVerifier().verify(forge({ alg: 'EdDSA' }, goodPayload, other.privateKey)), 'TOKEN_SIGNATURE');
  });

  it('refuses a tampered payload byte and a tampered signature byte', () => {
    const [h, p, s] = agentToken.token.split('.') as [string, string, string];
    const payload = Buffer.from(p, 'base64url');
    payload[payload.indexOf('deployer')] = 'D'.charCodeAt(0);
    expectFailure(agentVerifier().verify(`${h}.${payload.toString('base64url')}.${s}`), 'TOKEN_SIGNATURE');
    const signature = Buffer.from(s, 'base64url');
    signature[10] = (signature[10] ?? 0) ^ 1;
    expectFailure(agentVerifier().verify(`${h}.${p}.${signature.toString('base64url')}`), 'TOKEN_SIGNATURE');
  });

  it('refuses a non-canonical encoding of the same signature bytes', () => {
    const [h, p, s] = agentToken.token.split('.') as [string, string, string];
    // 64 bytes → 86 characters; the last one carries 2 bits and 4 unused ones.
    const last = s.at(-1) ?? 'A';
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = alphabet[alphabet.indexOf(last) ^ 1] ?? 'A';
    const variant = `${s.slice(0, -1)}${twin}`;
    expect(Buffer.from(variant, 'base64url').equals(Buffer.from(s, 'base64url'))).toBe(true);
    expectFailure(agentVerifier().verify(`${h}.${p}.${variant}`), 'TOKEN_SIGNATURE');
  });

  it('refuses a kid no trusted key has', () => {
    expectFailure(agentVerifier().verify(forge({ ...goodHeader, kid: 'unknownkid1' }, goodPayload)), 'TOKEN_SIGNATURE');
  });
});

describe('audience separation', () => {
  const operatorToken = operatorIssuer.issue({ operator: 'alice', groups: ['sre'], ttlSeconds: 600 }).token;

  it('an operator token fails on the agent verifier and vice versa', () => {
    expectFailure(agentVerifier().verify(operatorToken), 'TOKEN_SIGNATURE');
    expectFailure(operatorVerifier().verify(agentToken.token), 'TOKEN_SIGNATURE');
  });

  it('still fails on audience when a verifier is misconfigured with the other key', () => {
    expectFailure(agentVerifier({ keys: [agentKeys.publicKey, operatorKeys.publicKey] }).verify(operatorToken), 'TOKEN_AUDIENCE');
    expectFailure(operatorVerifier([operatorKeys.publicKey, agentKeys.publicKey]).verify(agentToken.token), 'TOKEN_AUDIENCE');
  });

  it('an agent-key-signed token claiming the operator audience is refused by the operator verifier', () => {
    const forged = forge(goodHeader, { ...goodPayload, aud: OPERATOR_AUDIENCE, groups: ['sre'] }, agentKeys.privateKey);
    expectFailure(operatorVerifier().verify(forged), 'TOKEN_SIGNATURE');
  });

  it('the wiring check refuses one key for both audiences', () => {
    expect(() => assertDistinctKeys([agentKeys.publicKey], [operatorKeys.publicKey])).not.toThrow();
    expect(() => assertDistinctKeys([agentKeys.publicKey], [agentKeys.publicKey])).toThrow(/different keys/);
  });

  it('refuses aud as an array or a wrong issuer', () => {
    expectFailure(agentVerifier().verify(forge(goodHeader, { ...goodPayload, aud: [AGENT_AUDIENCE] })), 'TOKEN_AUDIENCE');
    expectFailure(agentVerifier().verify(forge(goodHeader, { ...goodPayload, iss: 'someone-else' })), 'TOKEN_ISSUER');
    expectFailure(agentVerifier().verify(forge(goodHeader, { ...goodPayload, iss: `${ISSUER} ` })), 'TOKEN_ISSUER');
  });
});

describe('time', () => {
  const exp = (now + 900) * 1000;

  it('expires at exp plus the leeway, not before', () => {
    expect(agentVerifier({ now: exp + 29_999 }).verify(agentToken.token).ok).toBe(true);
    expectFailure(agentVerifier({ now: exp + 30_000 }).verify(agentToken.token), 'TOKEN_EXPIRED');
    expectFailure(agentVerifier({ now: exp + 86_400_000 }).verify(agentToken.token), 'TOKEN_EXPIRED');
  });

  it('is not valid before nbf minus the leeway', () => {
    expect(agentVerifier({ now: T0 - 30_000 }).verify(agentToken.token).ok).toBe(true);
    expectFailure(agentVerifier({ now: T0 - 30_001 }).verify(agentToken.token), 'TOKEN_NOT_YET_VALID');
    expectFailure(agentVerifier().verify(forge(goodHeader, { ...goodPayload, nbf: now + 60, exp: now + 600 })), 'TOKEN_NOT_YET_VALID');
    expectFailure(agentVerifier().verify(forge(goodHeader, { ...goodPayload, iat: now + 60, nbf: now + 60 })), 'TOKEN_NOT_YET_VALID');
  });

  it('refuses a lifetime above the maximum', () => {
    expectFailure(agentVerifier().verify(forge(goodHeader, { ...goodPayload, exp: now + 86_401 })), 'TOKEN_LIFETIME');
    expect(agentVerifier().verify(forge(goodHeader, { ...goodPayload, exp: now + 86_400 })).ok).toBe(true);
    expectFailure(agentVerifier({ maxTtlSeconds: 600 }).verify(agentToken.token), 'TOKEN_LIFETIME');
  });

  it('fails closed when the clock is broken', () => {
    expectFailure(agentVerifier({ now: Number.NaN }).verify(agentToken.token), 'TOKEN_EXPIRED');
  });
});

describe('structure', () => {
  it.each([
    ['two segments', () => agentToken.token.split('.').slice(0, 2).join('.')],
    ['four segments', () => `${agentToken.token}.AAAA`],
    ['an empty trailing segment', () => `${agentToken.token}.`],
    ['padding', () => agentToken.token.replace('.', '=.')],
    ['standard base64', () => agentToken.token.replace(/^./, '+')],
    ['whitespace', () => ` ${agentToken.token}`],
    ['a trailing newline', () => `${agentToken.token}\n`],
    ['an empty string', () => ''],
    ['only dots', () => '..'],
    ['a non-ASCII character', () => agentToken.token.replace(/^./, 'é')],
  ])('refuses %s', (_name, make) => {
    expectFailure(agentVerifier().verify(make()), 'TOKEN_MALFORMED');
  });

  it('refuses a non-string', () => {
    expectFailure(agentVerifier().verify(42 as unknown as string), 'TOKEN_MALFORMED');
    expectFailure(agentVerifier().verify(null as unknown as string), 'TOKEN_MALFORMED');
  });

  it('bounds the length before parsing anything', () => {
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const huge = forge(goodHeader, { ...goodPayload, pad: 'x'.repeat(5_000) });
      const result = agentVerifier().verify(huge);
      expectFailure(result, 'TOKEN_MALFORMED');
      expect(result.ok ? '' : result.issues[0]?.message).toMatch(/longer than 4096/);
      expect(parse).not.toHaveBeenCalled();
      expectFailure(agentVerifier().verify('a'.repeat(10_000_000)), 'TOKEN_MALFORMED');
    } finally {
      parse.mockRestore();
    }
  });

  it.each([
    ['not JSON', 'not json'],
    ['a JSON array', '["EdDSA"]'],
    ['a JSON string', '"EdDSA"'],
    ['JSON with whitespace', '{ "alg": "EdDSA" }'],
    ['JSON with an escaped key', '{"\\u0061lg":"EdDSA"}'],
    ['a duplicate alg', '{"alg":"none","alg":"EdDSA"}'],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])],
  ])('refuses a header that is %s', (_name, header) => {
    const input = `${Buffer.from(header).toString('base64url')}.${b64(goodPayload)}`;
    const token = `${input}.${sign(null, Buffer.from(input), agentKeys.privateKey).toString('base64url')}`;
    expectFailure(agentVerifier().verify(token), 'TOKEN_MALFORMED');
  });

  it.each([
    ['crit', { ...goodHeader, crit: ['exp'] }],
    ['jwk', { ...goodHeader, jwk: { kty: 'OKP' } }],
    ['jku', { ...goodHeader, jku: 'https://evil.example/keys' }],
    ['typ jwt', { ...goodHeader, typ: 'jwt' }],
    ['typ at+jwt', { ...goodHeader, typ: 'at+jwt' }],
    ['a kid with a slash', { ...goodHeader, kid: '../../etc/passwd' }],
  ])('refuses a header with %s', (_name, header) => {
    expectFailure(agentVerifier().verify(forge(header, goodPayload)), 'TOKEN_MALFORMED');
  });
});

describe('claims', () => {
  it('refuses a payload with duplicate claims, even when validly signed', () => {
    const text = JSON.stringify(goodPayload).replace('"role":"deployer"', '"role":"deployer","role":"admin"');
    expectFailure(agentVerifier().verify(forge(goodHeader, text)), 'TOKEN_MALFORMED');
  });

  it('refuses a payload that is not canonical JSON', () => {
    expectFailure(agentVerifier().verify(forge(goodHeader, JSON.stringify(goodPayload, null, 1))), 'TOKEN_MALFORMED');
    expectFailure(agentVerifier().verify(forge(goodHeader, JSON.stringify(goodPayload).replace(`${now + 900}`, `${now + 900}.0`))), 'TOKEN_MALFORMED');
    expectFailure(agentVerifier().verify(forge(goodHeader, '[1]')), 'TOKEN_MALFORMED');
  });

  it.each([
    ['exp as a string', { exp: String(now + 900) }],
    ['exp fractional', { exp: now + 900.5 }],
    ['exp negative', { iat: -10, nbf: -10, exp: -1 }],
    ['exp missing', { exp: undefined }],
    ['iat missing', { iat: undefined }],
    ['jti missing', { jti: undefined }],
    ['nbf before iat', { nbf: now - 1 }],
    ['exp not after nbf', { exp: now }],
    ['sub with a space', { sub: 'deploy bot' }],
    ['sub empty', { sub: '' }],
    ['sub too long', { sub: 'a'.repeat(129) }],
    ['sub as a number', { sub: 7 }],
    ['role as an array', { role: ['admin'] }],
    ['role missing', { role: undefined }],
    ['inst as null', { inst: null }],
    ['task as a number', { task: 1 }],
    ['an unknown claim', { admin: true }],
    ['operator groups on an agent token', { groups: ['sre'] }],
    ['a __proto__ claim', JSON.parse('{"__proto__":{"admin":true}}') as object],
  ])('refuses %s', (_name, change) => {
    const payload: Record<string, unknown> = { ...goodPayload, ...change };
    const result = agentVerifier().verify(forge(goodHeader, payload));
    expectFailure(result, 'TOKEN_MALFORMED');
  });

  it.each([
    ['groups missing', { groups: undefined }],
    ['groups a string', { groups: 'sre' }],
    ['a duplicate group', { groups: ['sre', 'sre'] }],
    ['a group with a space', { groups: ['s re'] }],
    ['too many groups', { groups: Array.from({ length: 65 }, (_, i) => `g${i}`) }],
    ['agent claims on an operator token', { role: 'admin' }],
  ])('refuses an operator token with %s', (_name, change) => {
    const payload = { iss: ISSUER, aud: OPERATOR_AUDIENCE, sub: 'alice', groups: ['sre'], iat: now, nbf: now, exp: now + 60, jti: 'j', ...change };
    const header = { alg: 'EdDSA', typ: 'JWT', kid: operatorKeys.kid };
    expect(operatorVerifier().verify(forge(header, { ...payload, groups: ['sre'], role: undefined }, operatorKeys.privateKey)).ok).toBe(true);
    expectFailure(operatorVerifier().verify(forge(header, payload, operatorKeys.privateKey)), 'TOKEN_MALFORMED');
  });

  it('returns a frozen copy of the claims', () => {
    const result = operatorVerifier().verify(operatorIssuer.issue({ operator: 'alice', groups: ['sre'], ttlSeconds: 60 }).token);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const claims: OperatorClaims = result.value;
    expect(Object.isFrozen(claims)).toBe(true);
    expect(Object.isFrozen(claims.groups)).toBe(true);
  });
});

describe('revocation', () => {
  it('asks isRevoked last, with verified claims, and refuses what it revokes', () => {
    const isRevoked = vi.fn((claims: AgentClaims) => claims.jti === agentToken.claims.jti);
    const verifier = agentVerifier({ isRevoked });
    expectFailure(verifier.verify(agentToken.token), 'TOKEN_REVOKED');
    expect(isRevoked).toHaveBeenCalledWith(agentToken.claims);
    expect(verifier.verify(agentIssuer.issue({ agent: 'deploy-bot', role: 'deployer', ttlSeconds: 60 }).token).ok).toBe(true);
    isRevoked.mockClear();
    expectFailure(verifier.verify(forge(goodHeader, goodPayload, generateSigningKeyPair().privateKey)), 'TOKEN_SIGNATURE');
    expectFailure(agentVerifier({ now: T0 + 3_600_000, isRevoked }).verify(agentToken.token), 'TOKEN_EXPIRED');
    expect(isRevoked).not.toHaveBeenCalled();
  });

  it('lets a failing revocation check throw rather than accept', () => {
    const verifier = agentVerifier({
      isRevoked: () => {
        throw new Error('store unavailable');
      },
    });
    expect(() => verifier.verify(agentToken.token)).toThrow(/store unavailable/);
  });
});

describe('any single change to a valid token is refused', () => {
  const verifier = agentVerifier();
  const token = agentToken.token;

  it('replacing one character with any other byte value', () => {
    fc.assert(
      fc.property(fc.nat(token.length - 1), fc.integer({ min: 0, max: 255 }), (index, code) => {
        fc.pre(token.charCodeAt(index) !== code);
        const mutated = token.slice(0, index) + String.fromCharCode(code) + token.slice(index + 1);
        expect(verifier.verify(mutated).ok).toBe(false);
      }),
      { numRuns: 5_000 },
    );
  });

  it('replacing one character with another base64url character, at every position', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let index = 0; index < token.length; index++) {
      if (token[index] === '.') continue;
      for (const c of alphabet) {
        if (c === token[index]) continue;
        const mutated = token.slice(0, index) + c + token.slice(index + 1);
        if (verifier.verify(mutated).ok) expect.fail(`accepted ${mutated}`);
      }
    }
  });

  it('deleting or inserting one character', () => {
    fc.assert(
      fc.property(fc.nat(token.length), fc.integer({ min: 0, max: 255 }), fc.boolean(), (index, code, insert) => {
        const mutated = insert ? token.slice(0, index) + String.fromCharCode(code) + token.slice(index) : token.slice(0, index) + token.slice(index + 1);
        fc.pre(mutated !== token);
        expect(verifier.verify(mutated).ok).toBe(false);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('issuer', () => {
  function badRequest(fn: () => unknown, path: string): void {
    try {
      fn();
      expect.fail('expected BAD_REQUEST');
    } catch (err) {
      expect(isGovernorError(err, 'BAD_REQUEST')).toBe(true);
      expect((err as { details: { issues: { path: string }[] } }).details.issues.map((i) => i.path)).toContain(path);
    }
  }

  it.each([0, -60, 1.5, 86_401, Number.NaN])('refuses ttlSeconds %d', (ttlSeconds) => {
    badRequest(() => agentIssuer.issue({ agent: 'a', role: 'r', ttlSeconds }), 'ttlSeconds');
  });

  it('bounds the TTL by its own maximum', () => {
    const short = createTokenIssuer({ privateKey: agentKeys.privateKey, issuer: ISSUER, audience: AGENT_AUDIENCE, clock: clockAt(T0), maxTtlSeconds: 3_600 });
    expect(short.issue({ agent: 'a', role: 'r', ttlSeconds: 3_600 }).claims.exp).toBe(now + 3_600);
    badRequest(() => short.issue({ agent: 'a', role: 'r', ttlSeconds: 3_601 }), 'ttlSeconds');
  });

  it('refuses identifiers outside the charset', () => {
    badRequest(() => agentIssuer.issue({ agent: 'a b', role: 'r', ttlSeconds: 60 }), 'agent');
    badRequest(() => agentIssuer.issue({ agent: 'a', role: '', ttlSeconds: 60 }), 'role');
    badRequest(() => agentIssuer.issue({ agent: 'a', role: 'r', instance: 'x/y', ttlSeconds: 60 }), 'instance');
    badRequest(() => agentIssuer.issue({ agent: 'a', role: 'r', session: 'ü', ttlSeconds: 60 }), 'session');
    badRequest(() => agentIssuer.issue({ agent: 'a', role: 'r', task: 'x'.repeat(129), ttlSeconds: 60 }), 'task');
    badRequest(() => operatorIssuer.issue({ operator: 'alice', groups: ['ok', 'not ok'], ttlSeconds: 60 }), 'groups[1]');
    badRequest(() => operatorIssuer.issue({ operator: 'alice', groups: ['sre', 'sre'], ttlSeconds: 60 }), 'groups');
  });

  it('refuses bad configuration', () => {
    const base = { privateKey: agentKeys.privateKey, issuer: ISSUER, audience: AGENT_AUDIENCE, clock: clockAt(T0) } as const;
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn();
        return undefined;
      } catch (err) {
        return isGovernorError(err) ? err.code : 'not a GovernorError';
      }
    };
    expect(code(() => createTokenIssuer({ ...base, privateKey: agentKeys.publicKey }))).toBe('KEY_INVALID');
    expect(code(() => createTokenIssuer({ ...base, issuer: 'has space' }))).toBe('CONFIG_INVALID');
    expect(code(() => createTokenIssuer({ ...base, maxTtlSeconds: 86_401 }))).toBe('CONFIG_INVALID');
    expect(code(() => createTokenIssuer({ ...base, audience: 'governor:admin' as typeof AGENT_AUDIENCE }))).toBe('CONFIG_INVALID');
    const verifierBase = { publicKeys: [agentKeys.publicKey], issuer: ISSUER, audience: AGENT_AUDIENCE, clock: clockAt(T0) } as const;
    expect(code(() => createTokenVerifier({ ...verifierBase, publicKeys: [agentKeys.privateKey] }))).toBe('KEY_INVALID');
    expect(code(() => createTokenVerifier({ ...verifierBase, publicKeys: [agentKeys.publicKey, agentKeys.publicKey] }))).toBe('KEY_INVALID');
    expect(code(() => createTokenVerifier({ ...verifierBase, publicKeys: [] }))).toBe('CONFIG_INVALID');
    expect(code(() => createTokenVerifier({ ...verifierBase, leewaySeconds: -1 }))).toBe('CONFIG_INVALID');
    expect(code(() => createTokenVerifier({ ...verifierBase, maxTokenBytes: 10 }))).toBe('CONFIG_INVALID');
    expect(code(() => createTokenVerifier({ ...verifierBase, maxTtlSeconds: 0 }))).toBe('CONFIG_INVALID');
  });
});

describe('verified-token cache', () => {
  it('re-checks expiry and revocation on every use of a remembered token', () => {
    let now = T0;
    const revoked = new Set<string>();
    const verifier = createTokenVerifier({
      publicKeys: [agentKeys.publicKey],
      issuer: ISSUER,
      audience: AGENT_AUDIENCE,
      clock: () => now,
      leewaySeconds: 0,
      isRevoked: (c) => revoked.has(c.jti),
    });
    const first = verifier.verify(agentToken.token);
    expect(first.ok).toBe(true);
    expect(verifier.verify(agentToken.token).ok).toBe(true);
    revoked.add(agentToken.claims.jti);
    expectFailure(verifier.verify(agentToken.token), 'TOKEN_REVOKED');
    revoked.clear();
    now = T0 + 901_000;
    expectFailure(verifier.verify(agentToken.token), 'TOKEN_EXPIRED');
  });
});

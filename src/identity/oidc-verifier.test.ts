import { constants, createHmac, generateKeyPairSync, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isGovernorError, type ParseResult } from '../core/errors.js';
import type { Operator } from '../server/authenticator.js';
import { createOidcVerifier, type OidcOptions, type OidcVerifier } from './oidc-verifier.js';

const AUDIENCE = 'governor-prod';
const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
const NOW = Math.floor(T0 / 1000);

// Keys are generated once: RSA generation is slow.
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa2 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaSmall = generateKeyPairSync('rsa', { modulusLength: 1024 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');

function jwk(publicKey: KeyObject, kid: string, extra: Record<string, unknown> = {}): JsonWebKey {
  return { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', ...extra };
}

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** Signs a token the way a provider would, with any header (so also with lies in it). */
function signToken(alg: string, header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject): string {
  const input = `${b64({ alg, typ: 'JWT', ...header })}.${b64(payload)}`;
  const data = Buffer.from(input);
  let signature: Buffer;
  if (alg.startsWith('RS')) signature = sign(`sha${alg.slice(2)}`, data, key);
  else if (alg.startsWith('PS')) signature = sign(`sha${alg.slice(2)}`, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  else if (alg === 'ES256') signature = sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
  else if (alg === 'EdDSA') signature = sign(null, data, key);
  else throw new Error(`test helper cannot sign ${alg}`);
  return `${input}.${signature.toString('base64url')}`;
}

// ---- A real OIDC provider on 127.0.0.1 ----

interface Idp {
  readonly issuer: string;
  keys: JsonWebKey[];
  /** Status of /jwks; 0 means never answer. */
  jwksStatus: number;
  discoveryIssuer: string | undefined;
  readonly hits: { discovery: number; jwks: number };
  close(): Promise<void>;
}

async function startIdp(keys: JsonWebKey[]): Promise<Idp> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const idp: Idp = {
    issuer,
    keys,
    jwksStatus: 200,
    discoveryIssuer: undefined,
    hits: { discovery: 0, jwks: 0 },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('request', (req, res) => {
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.url === '/.well-known/openid-configuration') {
      idp.hits.discovery++;
      json(200, { issuer: idp.discoveryIssuer ?? issuer, jwks_uri: `${issuer}/jwks`, id_token_signing_alg_values_supported: ['RS256'] });
    } else if (req.url === '/jwks') {
      idp.hits.jwks++;
      if (idp.jwksStatus === 0) return; // hang
      json(idp.jwksStatus, idp.jwksStatus === 200 ? { keys: idp.keys } : { error: 'down' });
    } else {
      json(404, { error: 'not found' });
    }
  });
  return idp;
}

const STANDARD_KEYS = (): JsonWebKey[] => [
  jwk(rsa.publicKey, 'rsa-1', { alg: 'RS256' }),
  jwk(ec.publicKey, 'ec-1'),
  jwk(ed.publicKey, 'ed-1'),
  jwk(rsaSmall.publicKey, 'rsa-small'),
];

let idp: Idp;
let now: number;

beforeAll(async () => {
  idp = await startIdp(STANDARD_KEYS());
});
afterAll(async () => {
  await idp.close();
});
beforeEach(() => {
  now = T0;
  idp.keys = STANDARD_KEYS();
  idp.jwksStatus = 200;
  idp.discoveryIssuer = undefined;
  idp.hits.discovery = 0;
  idp.hits.jwks = 0;
});

function verifier(options: Partial<OidcOptions> = {}): OidcVerifier {
  return createOidcVerifier({ issuer: idp.issuer, audience: AUDIENCE, clock: () => now, ...options });
}

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: idp.issuer, aud: AUDIENCE, sub: 'alice', email: 'alice@example.com', groups: ['sre', 'db-admins'], iat: NOW, nbf: NOW, exp: NOW + 300, ...extra };
}

const rsaToken = (extra: Record<string, unknown> = {}, header: Record<string, unknown> = { kid: 'rsa-1' }): string =>
  signToken('RS256', header, claims(extra), rsa.privateKey);

function refusal(result: ParseResult<Operator>): { path: string; message: string } {
  expect(result.ok).toBe(false);
  if (result.ok) throw new Error('unreachable');
  const [issue] = result.issues;
  if (issue === undefined) throw new Error('no issue');
  return { path: issue.path, message: issue.message };
}

describe('createOidcVerifier: accepted tokens', () => {
  it('maps a valid RS256 token to an Operator with the prefixed name and its groups', async () => {
    const result = await verifier().verify(rsaToken());
    expect(result).toEqual({ ok: true, value: { name: 'oidc:alice', groups: ['sre', 'db-admins'] } });
    expect(idp.hits).toEqual({ discovery: 1, jwks: 1 });
  });

  it('accepts ES256, EdDSA and PS256 tokens, each with its own key', async () => {
    const v = verifier({ usernameClaim: 'email' });
    const es = await v.verify(signToken('ES256', { kid: 'ec-1' }, claims(), ec.privateKey));
    expect(es).toEqual({ ok: true, value: { name: 'oidc:alice@example.com', groups: ['sre', 'db-admins'] } });
    const eddsa = await v.verify(signToken('EdDSA', { kid: 'ed-1' }, claims({ email: 'bob@example.com' }), ed.privateKey));
    expect(eddsa.ok && eddsa.value.name).toBe('oidc:bob@example.com');
    idp.keys = [...idp.keys, jwk(rsa2.publicKey, 'rsa-pss')];
    now += 31_000; // past the refetch rate limit, so the new kid is fetched
    const ps = await v.verify(signToken('PS256', { kid: 'rsa-pss' }, claims({ exp: NOW + 600 }), rsa2.privateKey));
    expect(ps.ok).toBe(true);
  });

  it('accepts the other supported algorithms only when configured', async () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    idp.keys = [jwk(p384.publicKey, 'ec-384')];
    const input = `${b64({ alg: 'ES384', kid: 'ec-384' })}.${b64(claims())}`;
    const token = `${input}.${sign('sha384', Buffer.from(input), { key: p384.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    expect(refusal(await verifier().verify(token))).toMatchObject({ path: 'header.alg' });
    expect((await verifier({ algorithms: ['ES384'] }).verify(token)).ok).toBe(true);
    // A P-256 signature under ES384 does not fit the P-384 key.
    const es256 = signToken('ES256', { kid: 'ec-384' }, claims(), ec.privateKey);
    expect(refusal(await verifier({ algorithms: ['ES256', 'ES384'] }).verify(es256))).toMatchObject({ path: 'header.alg' });
  });

  it('can be called unbound', async () => {
    const { verify, claims: claimsOf } = verifier();
    expect(claimsOf(rsaToken())).toBe(true);
    expect((await verify(rsaToken())).ok).toBe(true);
  });

  it('maps groups through groupMap, keeping only mapped ones', async () => {
    const v = verifier({ groupMap: { '/Platform Team': 'sre', 'db-admins': 'dba', 'cn=approvers,ou=x': 'dba' } });
    const result = await v.verify(rsaToken({ groups: ['/Platform Team', 'db-admins', 'cn=approvers,ou=x', 'sre', 'marketing'] }));
    expect(result).toEqual({ ok: true, value: { name: 'oidc:alice', groups: ['sre', 'dba'] } });
  });

  it('does not map inherited object properties', async () => {
    const v = verifier({ groupMap: { admins: 'ops' } });
    const result = await v.verify(rsaToken({ groups: ['constructor', '__proto__', 'toString', 'admins'] }));
    expect(result.ok && result.value.groups).toEqual(['ops']);
  });

  it('drops unmapped groups that are not identifiers, and accepts a space-separated string', async () => {
    const a = await verifier().verify(rsaToken({ groups: ['sre', 'has space', '/slash', 'x'.repeat(129), 'ok.group'] }));
    expect(a.ok && a.value.groups).toEqual(['sre', 'ok.group']);
    const b = await verifier({ groupsClaim: 'roles' }).verify(rsaToken({ roles: 'viewer  approver ' }));
    expect(b.ok && b.value.groups).toEqual(['viewer', 'approver']);
    const c = await verifier().verify(rsaToken({ groups: undefined }));
    expect(c.ok && c.value.groups).toEqual([]);
  });

  it('accepts an aud list containing the audience, and a custom prefix', async () => {
    const result = await verifier({ namePrefix: 'corp:' }).verify(rsaToken({ aud: ['other-api', AUDIENCE] }));
    expect(result.ok && result.value.name).toBe('corp:alice');
  });

  it('uses the only key when the token has no kid, and refuses a kid-less token when there are several', async () => {
    idp.keys = [jwk(ed.publicKey, 'ed-1')];
    const single = await verifier().verify(signToken('EdDSA', {}, claims(), ed.privateKey));
    expect(single.ok).toBe(true);
    idp.keys = STANDARD_KEYS();
    expect(refusal(await verifier().verify(signToken('EdDSA', {}, claims(), ed.privateKey)))).toMatchObject({ path: 'header.kid' });
  });

  it('tolerates the clock skew on exp and nbf, and no more', async () => {
    const v = verifier({ clockSkewSeconds: 60 });
    expect((await v.verify(rsaToken({ exp: NOW - 59 }))).ok).toBe(true);
    expect((await v.verify(rsaToken({ nbf: NOW + 59, iat: NOW + 59 }))).ok).toBe(true);
    expect((await v.verify(rsaToken({ exp: NOW - 60 }))).ok).toBe(false);
  });

  it('skips discovery when jwksUri is given', async () => {
    const result = await verifier({ jwksUri: `${idp.issuer}/jwks` }).verify(rsaToken());
    expect(result.ok).toBe(true);
    expect(idp.hits).toEqual({ discovery: 0, jwks: 1 });
  });
});

describe('createOidcVerifier: refused tokens', () => {
  it('refuses a wrong issuer', async () => {
    expect(refusal(await verifier().verify(rsaToken({ iss: 'https://evil.example' })))).toMatchObject({ path: 'payload.iss' });
    expect(refusal(await verifier().verify(rsaToken({ iss: `${idp.issuer}/` })))).toMatchObject({ path: 'payload.iss' });
  });

  it('refuses a wrong or missing audience', async () => {
    expect(refusal(await verifier().verify(rsaToken({ aud: 'another-client' })))).toMatchObject({ path: 'payload.aud' });
    expect(refusal(await verifier().verify(rsaToken({ aud: ['a', 'b'] })))).toMatchObject({ path: 'payload.aud' });
    expect(refusal(await verifier().verify(rsaToken({ aud: undefined })))).toMatchObject({ path: 'payload.aud' });
  });

  it("refuses a token for Governor's agent audience even when it also names the operator audience", async () => {
    const r = refusal(await verifier().verify(rsaToken({ aud: [AUDIENCE, 'governor:agent'] })));
    expect(r).toMatchObject({ path: 'payload.aud' });
    expect(r.message).toMatch(/agent credential/);
    expect(() => createOidcVerifier({ issuer: idp.issuer, audience: 'governor:agent' })).toThrow(/agent/);
  });

  it('refuses expired, not yet valid, future-issued, exp-less and too old tokens', async () => {
    const v = verifier();
    expect(refusal(await v.verify(rsaToken({ exp: NOW - 3600 })))).toEqual({ path: 'payload.exp', message: 'the token has expired' });
    expect(refusal(await v.verify(rsaToken({ nbf: NOW + 3600 })))).toEqual({ path: 'payload.nbf', message: 'the token is not valid yet' });
    expect(refusal(await v.verify(rsaToken({ iat: NOW + 3600 })))).toMatchObject({ path: 'payload.iat' });
    expect(refusal(await v.verify(rsaToken({ exp: undefined })))).toMatchObject({ path: 'payload.exp' });
    expect(refusal(await v.verify(rsaToken({ exp: String(NOW + 300) })))).toMatchObject({ path: 'payload.exp' });
    const aged = verifier({ maxTokenAgeSeconds: 600 });
    expect((await aged.verify(rsaToken({ iat: NOW - 500 }))).ok).toBe(true);
    expect(refusal(await aged.verify(rsaToken({ iat: NOW - 3600 })))).toMatchObject({ path: 'payload.iat' });
    expect(refusal(await aged.verify(rsaToken({ iat: undefined })))).toMatchObject({ path: 'payload.iat' });
  });

  it('refuses alg none', async () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`;
    expect(refusal(await verifier().verify(token))).toMatchObject({ path: 'header.alg' });
    const withKid = `${b64({ alg: 'none', kid: 'rsa-1' })}.${b64(claims())}.`;
    expect(refusal(await verifier().verify(withKid))).toMatchObject({ path: 'header.alg' });
    expect(() => verifier({ algorithms: ['RS256', 'none'] })).toThrow(/never accepted/);
  });

  it('refuses HS256 signed with the RSA public key bytes as the secret (algorithm confusion)', async () => {
    const v = verifier();
    const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' });
    for (const header of [{ alg: 'HS256', kid: 'rsa-1' }, { alg: 'HS256' }]) {
      const input = `${b64(header)}.${b64(claims())}`;
      const token = `${input}.${createHmac('sha256', publicPem).update(input).digest('base64url')}`;
      expect(refusal(await v.verify(token))).toMatchObject({ path: 'header.alg' });
    }
    expect(() => verifier({ algorithms: ['HS256'] })).toThrow(/never accepted/);
    expect(() => verifier({ algorithms: ['RS256', 'XY999'] })).toThrow(/unknown algorithm/);
  });

  it('refuses an alg that does not match the key type', async () => {
    const v = verifier({ algorithms: ['RS256', 'ES256', 'EdDSA', 'PS256'] });
    // An EC signature presented under the RSA key's kid.
    const esUnderRsa = refusal(await v.verify(signToken('ES256', { kid: 'rsa-1' }, claims(), ec.privateKey)));
    expect(esUnderRsa.path).toBe('header.alg');
    // An RSA signature presented under the EC key's kid.
    expect(refusal(await v.verify(signToken('RS256', { kid: 'ec-1' }, claims(), rsa.privateKey)))).toMatchObject({ path: 'header.alg' });
    // EdDSA under the RSA kid.
    expect(refusal(await v.verify(signToken('EdDSA', { kid: 'rsa-1' }, claims(), ed.privateKey)))).toMatchObject({ path: 'header.alg' });
    // A JWK published with alg RS256 is not used for PS256 even though it is RSA.
    const ps = refusal(await v.verify(signToken('PS256', { kid: 'rsa-1' }, claims(), rsa.privateKey)));
    expect(ps).toMatchObject({ path: 'header.alg' });
    expect(ps.message).toMatch(/published for RS256/);
  });

  it('refuses RSA keys under 2048 bits', async () => {
    const r = refusal(await verifier().verify(signToken('RS256', { kid: 'rsa-small' }, claims(), rsaSmall.privateKey)));
    expect(r.message).toMatch(/2048/);
  });

  it('refuses an ES256 signature in DER encoding', async () => {
    const input = `${b64({ alg: 'ES256', kid: 'ec-1' })}.${b64(claims())}`;
    const der = sign('sha256', Buffer.from(input), ec.privateKey);
    expect(refusal(await verifier().verify(`${input}.${der.toString('base64url')}`))).toMatchObject({ path: 'signature' });
  });

  it('refuses a tampered payload or signature', async () => {
    const token = rsaToken();
    const [h, , s] = token.split('.') as [string, string, string];
    const forged = `${h}.${b64(claims({ sub: 'root' }))}.${s}`;
    expect(refusal(await verifier().verify(forged))).toEqual({ path: 'signature', message: 'does not verify' });
    const sig = Buffer.from(s, 'base64url');
    sig[10] = (sig[10] ?? 0) ^ 1;
    expect(refusal(await verifier().verify(`${h}.${token.split('.')[1]}.${sig.toString('base64url')}`))).toMatchObject({ path: 'signature' });
  });

  it('refuses an oversized or malformed token before fetching anything', async () => {
    const v = verifier();
    const big = rsaToken({ padding: 'x'.repeat(9000) });
    expect(refusal(await v.verify(big)).message).toMatch(/longer than 8192/);
    expect(refusal(await v.verify('a.b'))).toMatchObject({ path: '' });
    expect(refusal(await v.verify(`${rsaToken()}.extra`))).toMatchObject({ path: '' });
    expect(refusal(await v.verify(42 as unknown as string))).toMatchObject({ path: '' });
    expect(refusal(await v.verify(`${b64('[1]')}.${b64(claims())}.AAAA`))).toMatchObject({ path: 'header' });
    expect(refusal(await v.verify(rsaToken({}, { kid: 'rsa-1', crit: ['exp'] })))).toMatchObject({ path: 'header.crit' });
    expect(refusal(await v.verify(rsaToken({}, { kid: 'rsa-1', typ: 'logout+jwt' })))).toMatchObject({ path: 'header.typ' });
    expect(idp.hits).toEqual({ discovery: 0, jwks: 0 });
  });

  it('refuses a missing, empty, too long or badly formed username', async () => {
    expect(refusal(await verifier().verify(rsaToken({ sub: undefined })))).toMatchObject({ path: 'payload.sub' });
    expect(refusal(await verifier({ usernameClaim: 'preferred_username' }).verify(rsaToken()))).toMatchObject({ path: 'payload.preferred_username' });
    expect(refusal(await verifier().verify(rsaToken({ sub: '' })))).toMatchObject({ path: 'payload.sub' });
    expect(refusal(await verifier().verify(rsaToken({ sub: 7 })))).toMatchObject({ path: 'payload.sub' });
    expect(refusal(await verifier().verify(rsaToken({ sub: 'a'.repeat(257) }))).message).toMatch(/256/);
    // Fits 256 but not the 128-character operator name with its prefix: refused, not cut.
    expect(refusal(await verifier().verify(rsaToken({ sub: 'a'.repeat(124) }))).message).toMatch(/operator name/);
    for (const sub of ['alice smith', 'bob/../admin', 'eve\u0000', 'zoë', 'a,b']) {
      expect(refusal(await verifier().verify(rsaToken({ sub })))).toMatchObject({ path: 'payload.sub' });
    }
  });

  it('refuses an email the provider has not verified when the username is the email', async () => {
    const v = verifier({ usernameClaim: 'email' });
    expect(refusal(await v.verify(rsaToken({ email_verified: false })))).toMatchObject({ path: 'payload.email_verified' });
    expect((await v.verify(rsaToken({ email_verified: true }))).ok).toBe(true);
  });

  it('refuses malformed groups and more than 64 groups', async () => {
    expect(refusal(await verifier().verify(rsaToken({ groups: [1, 2] })))).toMatchObject({ path: 'payload.groups' });
    expect(refusal(await verifier().verify(rsaToken({ groups: { admin: true } })))).toMatchObject({ path: 'payload.groups' });
    const many = Array.from({ length: 65 }, (_, i) => `g${i}`);
    expect(refusal(await verifier().verify(rsaToken({ groups: many }))).message).toMatch(/64/);
    expect((await verifier().verify(rsaToken({ groups: many.slice(0, 64) }))).ok).toBe(true);
  });
});

describe('createOidcVerifier: the key set', () => {
  it('refuses an unknown kid, and a flood of unknown kids refetches at most once per 30 s', async () => {
    const v = verifier();
    expect((await v.verify(rsaToken())).ok).toBe(true);
    expect(idp.hits.jwks).toBe(1);
    now += 31_000;
    const flood = Array.from({ length: 50 }, (_, i) => rsaToken({}, { kid: `forged-${i}` }));
    const results = await Promise.all(flood.map((t) => v.verify(t)));
    for (const r of results) expect(refusal(r)).toEqual({ path: 'header.kid', message: 'no key of the provider has this id' });
    expect(idp.hits.jwks).toBe(2);
    for (const t of flood) refusal(await v.verify(t));
    now += 29_000;
    for (const t of flood) refusal(await v.verify(t));
    expect(idp.hits.jwks).toBe(2);
    now += 2_000;
    refusal(await v.verify(flood[0] as string));
    expect(idp.hits.jwks).toBe(3);
    expect(idp.hits.discovery).toBe(1);
  });

  it('shares one in-flight fetch between concurrent verifications', async () => {
    const v = verifier();
    const results = await Promise.all(Array.from({ length: 20 }, () => v.verify(rsaToken())));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(idp.hits).toEqual({ discovery: 1, jwks: 1 });
  });

  it('accepts a rotated-in key after a refetch, and stops accepting a rotated-out key once the cache expires', async () => {
    const v = verifier({ cacheTtlMs: 600_000 });
    expect((await v.verify(rsaToken())).ok).toBe(true);
    const rotated = (): string => signToken('RS256', { kid: 'rsa-2' }, claims({ exp: Math.floor(now / 1000) + 300 }), rsa2.privateKey);
    // Not published yet.
    expect(refusal(await v.verify(rotated()))).toMatchObject({ path: 'header.kid' });
    idp.keys = [jwk(rsa2.publicKey, 'rsa-2'), ...STANDARD_KEYS()];
    now += 31_000;
    expect((await v.verify(rotated())).ok).toBe(true);
    // The old key is withdrawn: still trusted until the cache expires, never after.
    idp.keys = [jwk(rsa2.publicKey, 'rsa-2')];
    const old = (): string => rsaToken({ exp: Math.floor(now / 1000) + 300 });
    expect((await v.verify(old())).ok).toBe(true);
    now += 600_000;
    expect(refusal(await v.verify(old()))).toMatchObject({ path: 'header.kid' });
    expect((await v.verify(rotated())).ok).toBe(true);
  });

  it('skips JWKs for encryption or without the verify operation', async () => {
    idp.keys = [jwk(rsa.publicKey, 'rsa-1', { use: 'enc' }), jwk(ec.publicKey, 'ec-1', { key_ops: ['encrypt'] }), jwk(ed.publicKey, 'ed-1', { key_ops: ['verify'] })];
    const v = verifier();
    expect(refusal(await v.verify(rsaToken()))).toMatchObject({ path: 'header.kid' });
    expect(refusal(await v.verify(signToken('ES256', { kid: 'ec-1' }, claims(), ec.privateKey)))).toMatchObject({ path: 'header.kid' });
    expect((await v.verify(signToken('EdDSA', { kid: 'ed-1' }, claims(), ed.privateKey))).ok).toBe(true);
  });

  it('ignores a symmetric JWK, so the RSA modulus can never become an HMAC secret', async () => {
    idp.keys = [{ kty: 'oct', k: b64('secret'), kid: 'rsa-1' }];
    const v = verifier({ algorithms: ['RS256'] });
    expect(refusal(await v.verify(rsaToken()))).toMatchObject({ path: 'header.kid' });
  });

  it('fails closed, without throwing, when the provider is down', async () => {
    const down = await startIdp(STANDARD_KEYS());
    const issuer = down.issuer;
    await down.close();
    const v = createOidcVerifier({ issuer, audience: AUDIENCE, clock: () => now });
    const r = refusal(await v.verify(signToken('RS256', { kid: 'rsa-1' }, claims({ iss: issuer }), rsa.privateKey)));
    expect(r.path).toBe('jwks');
    expect(r.message).toMatch(/the provider's keys are unavailable: GET discovery document .*ECONNREFUSED/);
  });

  it('fails closed on an HTTP error, retries after 5 s, and never uses expired keys', async () => {
    const v = verifier({ cacheTtlMs: 60_000 });
    idp.jwksStatus = 503;
    expect(refusal(await v.verify(rsaToken())).message).toMatch(/HTTP 503/);
    idp.jwksStatus = 200;
    // Within the retry delay the failure is remembered rather than refetched.
    expect(refusal(await v.verify(rsaToken()))).toMatchObject({ path: 'jwks' });
    expect(idp.hits.jwks).toBe(1);
    now += 5_000;
    expect((await v.verify(rsaToken())).ok).toBe(true);
    idp.jwksStatus = 500;
    now += 60_000;
    const expired = refusal(await v.verify(rsaToken({ exp: Math.floor(now / 1000) + 300 })));
    expect(expired).toMatchObject({ path: 'jwks' });
  });

  it('fails closed when the provider does not answer in time', async () => {
    idp.jwksStatus = 0;
    const started = Date.now();
    const r = refusal(await verifier({ timeoutMs: 200 }).verify(rsaToken()));
    expect(r.message).toMatch(/timed out after 200 ms/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('refuses a discovery document that names another issuer', async () => {
    idp.discoveryIssuer = 'https://evil.example';
    expect(refusal(await verifier().verify(rsaToken())).message).toMatch(/names another issuer/);
    expect(idp.hits.jwks).toBe(0);
  });

  it('refuses a JWKS that is not a key set', async () => {
    const jwksUri = `${idp.issuer}/jwks`;
    const v = verifier({ jwksUri, fetch: async () => new Response('{"not":"keys"}', { status: 200 }) });
    expect(refusal(await v.verify(rsaToken())).message).toMatch(/not \{"keys"/);
    const huge = verifier({ jwksUri, fetch: async () => new Response('x'.repeat(300 * 1024), { status: 200 }) });
    expect(refusal(await huge.verify(rsaToken())).message).toMatch(/larger than/);
    const notJson = verifier({ jwksUri, fetch: async () => new Response('<html>', { status: 200 }) });
    expect(refusal(await notJson.verify(rsaToken())).message).toMatch(/not JSON/);
    const thrower = verifier({ jwksUri, fetch: () => Promise.reject(new Error('boom')) });
    expect(refusal(await thrower.verify(rsaToken())).message).toMatch(/boom/);
  });
});

describe('OidcVerifier.claims', () => {
  it('says whether a token claims this issuer, without verifying it', () => {
    const v = verifier();
    expect(v.claims(rsaToken())).toBe(true);
    // Unsigned garbage still "claims" the issuer: claims() only routes, verify() decides.
    expect(v.claims(`${b64({ alg: 'none' })}.${b64({ iss: idp.issuer })}.`)).toBe(true);
    expect(v.claims(rsaToken({ iss: 'https://other.example' }))).toBe(false);
    expect(v.claims('not-a-token')).toBe(false);
    expect(v.claims(`${b64({ alg: 'RS256' })}.${b64('[]')}.x`)).toBe(false);
    expect(v.claims(rsaToken({ padding: 'x'.repeat(9000) }))).toBe(false);
    expect(v.claims(undefined as unknown as string)).toBe(false);
    expect(idp.hits).toEqual({ discovery: 0, jwks: 0 });
  });
});

describe('createOidcVerifier: options', () => {
  const base = { audience: AUDIENCE };
  const invalid = (options: Partial<OidcOptions>): void => {
    let error: unknown;
    try {
      createOidcVerifier({ issuer: 'https://idp.example', ...base, ...options });
    } catch (e) {
      error = e;
    }
    expect(isGovernorError(error, 'CONFIG_INVALID'), JSON.stringify(options)).toBe(true);
  };

  it('accepts https issuers and loopback http', () => {
    expect(() => createOidcVerifier({ issuer: 'https://idp.example/realms/ops', ...base })).not.toThrow();
    expect(() => createOidcVerifier({ issuer: 'http://localhost:8080', ...base })).not.toThrow();
    expect(() => createOidcVerifier({ issuer: 'http://[::1]:8080', ...base })).not.toThrow();
  });

  it('refuses bad options at construction', () => {
    invalid({ issuer: 'http://idp.example' });
    invalid({ issuer: 'idp.example' });
    invalid({ issuer: 'https://idp.example?x=1' });
    invalid({ jwksUri: 'http://keys.example/jwks' });
    invalid({ audience: '' });
    invalid({ namePrefix: '' });
    invalid({ namePrefix: 'bad prefix' });
    invalid({ groupMap: { admins: 'not a group' } });
    invalid({ algorithms: [] });
    invalid({ algorithms: ['HS512'] });
    invalid({ clockSkewSeconds: 301 });
    invalid({ cacheTtlMs: 10 });
    invalid({ timeoutMs: 0 });
    invalid({ maxTokenAgeSeconds: 0 });
    invalid({ usernameClaim: '' });
  });

  it('does not keep or change the caller’s options', async () => {
    const groupMap: Record<string, string> = { sre: 'ops' };
    const options = { issuer: idp.issuer, audience: AUDIENCE, groupMap, clock: () => now };
    const v = createOidcVerifier(options);
    groupMap['sre'] = 'root';
    groupMap['db-admins'] = 'root';
    const result = await v.verify(rsaToken());
    expect(result.ok && result.value.groups).toEqual(['ops']);
    expect(Object.isFrozen(v)).toBe(true);
  });
});

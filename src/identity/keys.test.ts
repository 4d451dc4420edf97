import { createHash, generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGovernorError } from '../core/errors.js';
import {
  assertDistinctKeys,
  generateSigningKeyPair,
  keyId,
  loadPrivateKey,
  loadPublicKey,
  parsePrivateKeyPem,
  parsePublicKeyPem,
  rawPublicKey,
  writeKeyPair,
} from './keys.js';

const posix = process.platform !== 'win32';
let dir: string;
let paths: { privateKeyPath: string; publicKeyPath: string };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'governor-keys-'));
  paths = { privateKeyPath: join(dir, 'keys', 'agent.key'), publicKeyPath: join(dir, 'keys', 'agent.pub') };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (err: unknown) => err,
  );
}

describe('keyId', () => {
  it('is base64url of the first 8 bytes of SHA-256 over the raw public key', () => {
    const { privateKey, publicKey, kid } = generateSigningKeyPair();
    const raw = rawPublicKey(publicKey);
    expect(raw).toHaveLength(32);
    expect(kid).toBe(createHash('sha256').update(raw).digest().subarray(0, 8).toString('base64url'));
    expect(kid).toMatch(/^[A-Za-z0-9_-]{11}$/);
    expect(keyId(privateKey)).toBe(kid);
    expect(generateSigningKeyPair().kid).not.toBe(kid);
  });

  it('refuses non-Ed25519 keys', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => keyId(rsa.publicKey)).toThrow(/Ed25519/);
  });
});

describe('writeKeyPair', () => {
  it('writes PKCS#8 with mode 0600 and SPKI with mode 0644, and they load back', async () => {
    const pair = generateSigningKeyPair();
    await writeKeyPair(pair, paths);
    if (posix) {
      expect((await stat(paths.privateKeyPath)).mode & 0o777).toBe(0o600);
      expect((await stat(paths.publicKeyPath)).mode & 0o777).toBe(0o644);
    }
    expect(await readFile(paths.privateKeyPath, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(await readFile(paths.publicKeyPath, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(keyId(await loadPrivateKey(paths.privateKeyPath))).toBe(pair.kid);
    expect(keyId(await loadPublicKey(paths.publicKeyPath))).toBe(pair.kid);
  });

  it('never overwrites an existing private key', async () => {
    await writeKeyPair(generateSigningKeyPair(), paths);
    const before = await readFile(paths.privateKeyPath, 'utf8');
    const other = { privateKeyPath: paths.privateKeyPath, publicKeyPath: join(dir, 'other.pub') };
    const err = await rejection(writeKeyPair(generateSigningKeyPair(), other));
    expect(isGovernorError(err, 'CONFLICT')).toBe(true);
    expect((err as Error).message).toContain(paths.privateKeyPath);
    expect(await readFile(paths.privateKeyPath, 'utf8')).toBe(before);
    await expect(stat(other.publicKeyPath)).rejects.toThrow(/ENOENT/);
  });

  it('writes nothing when only the public key exists', async () => {
    await mkdir(join(dir, 'keys'));
    await writeFile(paths.publicKeyPath, 'existing');
    const err = await rejection(writeKeyPair(generateSigningKeyPair(), paths));
    expect(isGovernorError(err, 'CONFLICT')).toBe(true);
    expect((err as Error).message).toContain(paths.publicKeyPath);
    await expect(stat(paths.privateKeyPath)).rejects.toThrow(/ENOENT/);
    expect(await readFile(paths.publicKeyPath, 'utf8')).toBe('existing');
  });

  it('refuses a public key that is not the private key’s', async () => {
    const a = generateSigningKeyPair();
    const b = generateSigningKeyPair();
    const err = await rejection(writeKeyPair({ privateKey: a.privateKey, publicKey: b.publicKey }, paths));
    expect(isGovernorError(err, 'KEY_INVALID')).toBe(true);
    await expect(stat(paths.privateKeyPath)).rejects.toThrow(/ENOENT/);
  });
});

describe('loadPrivateKey / loadPublicKey', () => {
  async function keyError(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
    const err = await rejection(promise);
    expect(isGovernorError(err, 'KEY_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(pattern);
  }

  it('names a missing file', async () => {
    await keyError(loadPrivateKey(join(dir, 'nope.key')), /private key file .*nope\.key does not exist/);
    await keyError(loadPublicKey(join(dir, 'nope.pub')), /public key file .*nope\.pub does not exist/);
  });

  it('refuses a directory', async () => {
    await keyError(loadPublicKey(dir), /is not a regular file/);
  });

  it.runIf(posix)('refuses a private key that group or others can read, unless allowed', async () => {
    const pair = generateSigningKeyPair();
    await writeKeyPair(pair, paths);
    await chmod(paths.privateKeyPath, 0o640);
    await keyError(loadPrivateKey(paths.privateKeyPath), /mode 0640.*chmod 600/);
    expect(keyId(await loadPrivateKey(paths.privateKeyPath, { allowGroupOrOtherAccess: true }))).toBe(pair.kid);
  });

  it('refuses the wrong kind of PEM in either direction', async () => {
    await writeKeyPair(generateSigningKeyPair(), paths);
    const swapped = join(dir, 'swapped.key');
    await writeFile(swapped, await readFile(paths.publicKeyPath), { mode: 0o600 });
    await keyError(loadPrivateKey(swapped), /swapped\.key: expected one unencrypted PKCS#8 PEM block/);
    // createPublicKey would happily derive a public key from a private one; we refuse.
    await keyError(loadPublicKey(paths.privateKeyPath), /agent\.key: expected one SPKI PEM block/);
  });

  it('refuses garbage, truncated, huge, encrypted and non-Ed25519 keys', async () => {
    const file = async (name: string, text: string | Buffer): Promise<string> => {
      const path = join(dir, name);
      await writeFile(path, text, { mode: 0o600 });
      return path;
    };
    await keyError(loadPrivateKey(await file('garbage.key', 'hello')), /garbage\.key: expected one unencrypted PKCS#8/);
    const pem = generateSigningKeyPair().privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    // Cut 8 base64 characters off the body, whatever they are.
    const end = pem.indexOf('\n-----END');
    await keyError(loadPrivateKey(await file('truncated.key', pem.slice(0, end - 8) + pem.slice(end))), /not a valid private key/);
    await keyError(loadPrivateKey(await file('huge.key', Buffer.alloc(20_000, 'A'))), /20000 bytes/);
    const encrypted = generateKeyPairSync('ed25519', {
      privateKeyEncoding: { format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'secret' },
      publicKeyEncoding: { format: 'pem', type: 'spki' },
    });
    await keyError(loadPrivateKey(await file('encrypted.key', encrypted.privateKey)), /unencrypted/);
    const ec = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      privateKeyEncoding: { format: 'pem', type: 'pkcs8' },
      publicKeyEncoding: { format: 'pem', type: 'spki' },
    });
    await keyError(loadPrivateKey(await file('ec.key', ec.privateKey)), /ec\.key: expected an Ed25519 key, got ec/);
    await keyError(loadPublicKey(await file('ec.pub', ec.publicKey)), /ec\.pub: expected an Ed25519 key, got ec/);
  });

  it('parses PEM text directly', () => {
    const pair = generateSigningKeyPair();
    const priv = parsePrivateKeyPem(pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
    const pub = parsePublicKeyPem(pair.publicKey.export({ format: 'pem', type: 'spki' }).toString());
    expect(keyId(priv)).toBe(pair.kid);
    expect(keyId(pub)).toBe(pair.kid);
    expect(() => parsePublicKeyPem('', 'GOVERNOR_PUBLIC_KEY')).toThrow(/^GOVERNOR_PUBLIC_KEY: expected one SPKI PEM block/);
  });
});

describe('assertDistinctKeys', () => {
  it('refuses a key used for both audiences, whether given as private or public', () => {
    const agent = generateSigningKeyPair();
    const operator = generateSigningKeyPair();
    expect(() => assertDistinctKeys([agent.publicKey], [operator.publicKey])).not.toThrow();
    expect(() => assertDistinctKeys([agent.publicKey, operator.publicKey], [operator.privateKey])).toThrow(/both agent and operator/);
    expect(() => assertDistinctKeys([agent.privateKey], [agent.publicKey])).toThrow(/both agent and operator/);
  });
});

/**
 * Ed25519 signing keys for credentials: generation, key files (PKCS#8 / SPKI PEM),
 * loading with errors that name the file and what is wrong, and key ids.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GovernorError } from '../core/errors.js';

/** An Ed25519 key pair and the id of its public key. */
export interface SigningKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly kid: string;
}

/** Where a key pair's files live. */
export interface KeyFilePaths {
  readonly privateKeyPath: string;
  readonly publicKeyPath: string;
}

/** Options for loading a private key file. */
export interface LoadPrivateKeyOptions {
  /**
   * Accept a private key file that group or others may read. Off by default: such a
   * file is refused, the way ssh refuses one. Only for mounts whose mode cannot be set.
   */
  readonly allowGroupOrOtherAccess?: boolean;
}

const PRIVATE_KEY_MODE = 0o600;
const PUBLIC_KEY_MODE = 0o644;
// A PEM Ed25519 key is about 120 bytes; anything near this bound is not one.
const MAX_KEY_FILE_BYTES = 16 * 1024;
const PRIVATE_PEM = /^-----BEGIN PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PRIVATE KEY-----\s*$/;
const PUBLIC_PEM = /^-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PUBLIC KEY-----\s*$/;

/** Generates a fresh Ed25519 key pair in memory. */
export function generateSigningKeyPair(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, kid: keyId(publicKey) };
}

/**
 * The id of an Ed25519 key: base64url of the first 8 bytes of SHA-256 over the raw
 * 32-byte public key (11 characters). A private key yields the id of its public key.
 * Throws `KEY_INVALID` for any other kind of key.
 */
export function keyId(key: KeyObject): string {
  assertEd25519(key, 'key');
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(rawPublicKey(publicKey)).digest().subarray(0, 8).toString('base64url');
}

/** The raw 32-byte Ed25519 public key (RFC 8032 encoding). */
export function rawPublicKey(publicKey: KeyObject): Buffer {
  assertEd25519(publicKey, 'public key', 'public');
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new GovernorError('KEY_INVALID', 'Ed25519 public key has no x coordinate');
  return Buffer.from(jwk.x, 'base64url');
}

/**
 * Writes a key pair as files: the private key as PKCS#8 PEM with mode 0600, the public
 * key as SPKI PEM with mode 0644, creating missing parent directories (mode 0700).
 * Never overwrites: if either file exists, nothing is written and `CONFLICT` is thrown.
 * If writing fails midway, the files this call created are removed.
 */
export async function writeKeyPair(keyPair: Pick<SigningKeyPair, 'privateKey' | 'publicKey'>, paths: KeyFilePaths): Promise<void> {
  assertEd25519(keyPair.privateKey, 'private key', 'private');
  assertEd25519(keyPair.publicKey, 'public key', 'public');
  if (!rawPublicKey(createPublicKey(keyPair.privateKey)).equals(rawPublicKey(keyPair.publicKey))) {
    throw new GovernorError('KEY_INVALID', 'the public key does not belong to the private key');
  }
  if (paths.privateKeyPath === paths.publicKeyPath) {
    throw new GovernorError('CONFIG_INVALID', `private and public key paths must differ, both are ${paths.privateKeyPath}`);
  }
  const privatePem = keyPair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const publicPem = keyPair.publicKey.export({ format: 'pem', type: 'spki' }).toString();

  const created: string[] = [];
  const handles: FileHandle[] = [];
  try {
    // Claim both paths exclusively before writing either, so an existing public key
    // never ends up next to a private key it does not match.
    for (const [path, mode] of [
      [paths.privateKeyPath, PRIVATE_KEY_MODE],
      [paths.publicKeyPath, PUBLIC_KEY_MODE],
    ] as const) {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      handles.push(await createExclusive(path, mode));
      created.push(path);
    }
    const [privateHandle, publicHandle] = handles as [FileHandle, FileHandle];
    for (const [handle, pem, mode] of [
      [privateHandle, privatePem, PRIVATE_KEY_MODE],
      [publicHandle, publicPem, PUBLIC_KEY_MODE],
    ] as const) {
      // The umask may have narrowed the mode; set it exactly.
      await handle.chmod(mode);
      await handle.writeFile(pem, 'utf8');
      await handle.sync();
    }
  } catch (err) {
    await Promise.allSettled(handles.map((h) => h.close()));
    handles.length = 0;
    await Promise.allSettled(created.map((p) => unlink(p)));
    throw err;
  } finally {
    await Promise.allSettled(handles.map((h) => h.close()));
  }
}

async function createExclusive(path: string, mode: number): Promise<FileHandle> {
  try {
    return await open(path, 'wx', mode);
  } catch (err) {
    if (errorCode(err) === 'EEXIST') {
      throw new GovernorError('CONFLICT', `key file ${path} already exists; refusing to overwrite it`, { cause: err, details: { path } });
    }
    throw new GovernorError('KEY_INVALID', `cannot create key file ${path}: ${describe(err)}`, { cause: err, details: { path } });
  }
}

/**
 * Loads an Ed25519 private key from a PKCS#8 PEM file. Throws `KEY_INVALID`, naming the
 * file, when it is missing, unreadable, not a regular file, readable by group or others
 * (unless allowed), not a single unencrypted PKCS#8 PEM block, or not Ed25519.
 */
export async function loadPrivateKey(path: string, options: LoadPrivateKeyOptions = {}): Promise<KeyObject> {
  const text = await readKeyFile(path, 'private', options.allowGroupOrOtherAccess === true);
  return parsePrivateKeyPem(text, path);
}

/**
 * Loads an Ed25519 public key from an SPKI PEM file. Throws `KEY_INVALID`, naming the
 * file, when it is missing, unreadable, not a regular file, not a single SPKI PEM block
 * (a private key is refused, not silently turned into its public half), or not Ed25519.
 */
export async function loadPublicKey(path: string): Promise<KeyObject> {
  return parsePublicKeyPem(await readKeyFile(path, 'public', true), path);
}

/** Parses an unencrypted PKCS#8 PEM Ed25519 private key; `source` names it in errors. */
export function parsePrivateKeyPem(pem: string, source = 'private key'): KeyObject {
  if (!PRIVATE_PEM.test(pem)) {
    throw new GovernorError('KEY_INVALID', `${source}: expected one unencrypted PKCS#8 PEM block (-----BEGIN PRIVATE KEY-----)`, { details: { source } });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new GovernorError('KEY_INVALID', `${source}: not a valid private key: ${describe(err)}`, { cause: err, details: { source } });
  }
  assertEd25519(key, source, 'private');
  return key;
}

/** Parses an SPKI PEM Ed25519 public key; `source` names it in errors. */
export function parsePublicKeyPem(pem: string, source = 'public key'): KeyObject {
  if (!PUBLIC_PEM.test(pem)) {
    throw new GovernorError('KEY_INVALID', `${source}: expected one SPKI PEM block (-----BEGIN PUBLIC KEY-----)`, { details: { source } });
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new GovernorError('KEY_INVALID', `${source}: not a valid public key: ${describe(err)}`, { cause: err, details: { source } });
  }
  assertEd25519(key, source, 'public');
  return key;
}

/**
 * Throws `KEY_INVALID` unless `key` is an Ed25519 key (of the given type, when given).
 * Used wherever a KeyObject enters from configuration.
 */
export function assertEd25519(key: unknown, what: string, type?: 'private' | 'public'): asserts key is KeyObject {
  const k = key as Partial<KeyObject> | null;
  if (typeof k !== 'object' || k === null || typeof k.type !== 'string' || typeof k.export !== 'function') {
    throw new GovernorError('KEY_INVALID', `${what}: expected a crypto KeyObject`);
  }
  if (k.asymmetricKeyType !== 'ed25519') {
    throw new GovernorError('KEY_INVALID', `${what}: expected an Ed25519 key, got ${k.asymmetricKeyType ?? k.type}`);
  }
  if (type !== undefined && k.type !== type) {
    throw new GovernorError('KEY_INVALID', `${what}: expected a ${type} key, got a ${k.type} key`);
  }
}

/**
 * Throws `KEY_INVALID` if any public key appears in both lists. Agent and operator
 * credentials must be signed by different keys, so that neither issuer can mint the
 * other's tokens; call this where both verifiers are configured.
 */
export function assertDistinctKeys(a: readonly KeyObject[], b: readonly KeyObject[]): void {
  const ids = new Set(a.map((k) => rawPublicKey(k.type === 'private' ? createPublicKey(k) : k).toString('hex')));
  for (const k of b) {
    if (ids.has(rawPublicKey(k.type === 'private' ? createPublicKey(k) : k).toString('hex'))) {
      throw new GovernorError('KEY_INVALID', `key ${keyId(k)} is configured for both agent and operator credentials; they must use different keys`);
    }
  }
}

async function readKeyFile(path: string, kind: 'private' | 'public', allowShared: boolean): Promise<string> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    const what = errorCode(err) === 'ENOENT' ? 'does not exist' : `cannot be read: ${describe(err)}`;
    throw new GovernorError('KEY_INVALID', `${kind} key file ${path} ${what}`, { cause: err, details: { path } });
  }
  try {
    // Checks and read go through one handle, so the file checked is the file read.
    const info = await handle.stat();
    if (!info.isFile()) throw new GovernorError('KEY_INVALID', `${kind} key file ${path} is not a regular file`, { details: { path } });
    if (info.size > MAX_KEY_FILE_BYTES) {
      throw new GovernorError('KEY_INVALID', `${kind} key file ${path} is ${info.size} bytes; an Ed25519 PEM key is far smaller`, { details: { path } });
    }
    // POSIX permissions mean nothing on Windows, where fs reports 0666.
    if (!allowShared && process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
      throw new GovernorError('KEY_INVALID', `private key file ${path} has mode ${mode}: group or others can access it; run chmod 600 ${path}`, {
        details: { path, mode },
      });
    }
    return await handle.readFile('utf8');
  } catch (err) {
    if (err instanceof GovernorError) throw err;
    throw new GovernorError('KEY_INVALID', `${kind} key file ${path} cannot be read: ${describe(err)}`, { cause: err, details: { path } });
  } finally {
    await handle.close();
  }
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

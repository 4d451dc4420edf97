import { chmod, open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GovernorError } from '../core/errors.js';
import { nodeAuditCrypto, generateEd25519Seed } from './node-crypto.js';
import { formatSignerKey, formatVerifierKey, isValidKeyName, parseSignerKey, type NoteSigner } from './pure/note.js';
import { parseNoteVerifier } from './pure/note-verifier.js';
import type { NoteVerifier } from './pure/note.js';

/** A log signing key: the signer, and its public verifier key text (`name+hash+base64`). */
export interface LogKey {
  readonly file: string;
  readonly signer: NoteSigner;
  readonly vkey: string;
}

const KEY_FILE = /^log(-[0-9]{8}T[0-9]{6}Z)?\.key$/;

/**
 * Creates a log signing key under `<dataDir>/keys` (C2SP signer-key text, mode
 * 0600, never overwriting) with its verifier key beside it, and returns it.
 * The first key is `log.key`; rotated keys are `log-<UTC time>.key`.
 */
export async function createLogKey(dataDir: string, origin: string, options: { rotated?: Date } = {}): Promise<LogKey> {
  if (!isValidKeyName(origin)) throw new GovernorError('CONFIG_INVALID', `audit origin "${origin}" cannot name a key: no spaces, no "+"`);
  const seed = generateEd25519Seed();
  const stamp = options.rotated ? `-${options.rotated.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}` : '';
  const file = join(dataDir, 'keys', `log${stamp}.key`);
  const skey = formatSignerKey(nodeAuditCrypto, origin, seed);
  const vkey = formatVerifierKey(nodeAuditCrypto, origin, nodeAuditCrypto.ed25519PublicKey(seed));
  const handle = await open(file, 'wx', 0o600).catch((err: NodeJS.ErrnoException) => {
    throw new GovernorError(err.code === 'EEXIST' ? 'CONFLICT' : 'KEY_INVALID', `cannot create ${file}: ${err.message}`, { cause: err });
  });
  try {
    await handle.writeFile(skey + '\n');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(file, 0o600);
  const vfile = file.replace(/\.key$/, '.vkey');
  const vhandle = await open(vfile, 'wx', 0o644);
  await vhandle.writeFile(vkey + '\n');
  await vhandle.close();
  const signer = parseSignerKey(nodeAuditCrypto, skey);
  if (!signer.ok) throw new GovernorError('KEY_INVALID', 'generated log key does not parse');
  return { file, signer: signer.value, vkey };
}

/**
 * Loads every log signing key under `<dataDir>/keys` whose name is the origin
 * (by default the name of the first key, which `createLogKey` set to the origin).
 * Every loaded key signs each checkpoint, so during a rotation the old and the
 * new key both vouch for the same tree heads. Refuses keys readable by others.
 */
export async function loadLogKeys(dataDir: string, origin?: string): Promise<LogKey[]> {
  const dir = join(dataDir, 'keys');
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => KEY_FILE.test(n)).sort();
  const keys: LogKey[] = [];
  for (const name of names) {
    const file = join(dir, name);
    const info = await stat(file);
    if ((info.mode & 0o077) !== 0) throw new GovernorError('KEY_INVALID', `${file} is readable by group or others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`);
    const parsed = parseSignerKey(nodeAuditCrypto, (await readFile(file, 'utf8')).trim());
    if (!parsed.ok) throw new GovernorError('KEY_INVALID', `${file}: not a signer key: ${parsed.issues.map((i) => i.message).join('; ')}`);
    origin ??= parsed.value.name;
    if (parsed.value.name !== origin) continue;
    const vkey = (await readFile(file.replace(/\.key$/, '.vkey'), 'utf8')).trim();
    keys.push({ file, signer: parsed.value, vkey });
  }
  return keys;
}

/** Parses verifier keys given on a command line or in a file, with clear errors. */
export function parseVerifierKeys(vkeys: readonly string[]): NoteVerifier[] {
  return vkeys.map((vkey) => {
    const parsed = parseNoteVerifier(nodeAuditCrypto, vkey.trim());
    if (!parsed.ok) throw new GovernorError('KEY_INVALID', `not a verifier key (name+hash+base64): ${parsed.issues.map((i) => i.message).join('; ')}`);
    return parsed.value;
  });
}

/** Loads the log keys, creating the first one (named `origin`) when there is none. */
export async function ensureLogKeys(dataDir: string, origin: string): Promise<LogKey[]> {
  const existing = await loadLogKeys(dataDir);
  if (existing.length > 0) return existing;
  return [await createLogKey(dataDir, origin)];
}

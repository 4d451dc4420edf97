import { chmod, open, readFile, stat } from 'node:fs/promises';
import { GovernorError } from '../core/errors.js';
import { generateEd25519Seed, nodeAuditCrypto } from '../audit/node-crypto.js';
import { decodeBase64 } from '../audit/pure/bytes.js';
import { createCosignatureSigner } from '../audit/pure/cosignature.js';
import { COSIGNATURE_KEY_TYPE, formatSignerKey, formatVerifierKey, isValidKeyName, parseSignerKey, type NoteSigner } from '../audit/pure/note.js';

/** A witness's key: its cosignature signer and the verifier key logs and verifiers need. */
export interface WitnessKey {
  readonly file: string;
  readonly name: string;
  /** Signs tlog-cosignature/v1 cosignatures, stamped with the current time. */
  readonly signer: NoteSigner;
  /** The cosignature verifier key `name+hash+base64(0x04 ‖ public key)`. */
  readonly vkey: string;
  /** True when this call created the key file. */
  readonly created: boolean;
}

/**
 * Loads the witness key in `file`, creating it first when the file does not
 * exist (C2SP signer-key text `PRIVATE+KEY+name+hash+base64(0x01 ‖ seed)`,
 * mode 0600, never overwriting). The key file names the witness: a new key is
 * named `name`, else `defaultName`; an existing key must agree with `name`
 * when it is given. Refuses key files readable by others. `now` is the
 * cosignature clock, in seconds.
 */
export async function ensureWitnessKey(
  file: string,
  options: { readonly name?: string; readonly defaultName?: string; readonly now?: () => number } = {},
): Promise<WitnessKey> {
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  let created = false;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
    const info = await stat(file);
    if ((info.mode & 0o077) !== 0) {
      throw new GovernorError('KEY_INVALID', `${file} is readable by group or others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const name = options.name ?? options.defaultName ?? 'governor-witness';
    if (!isValidKeyName(name)) throw new GovernorError('CONFIG_INVALID', `witness name ${JSON.stringify(name)} cannot name a key: no spaces, no "+"`);
    text = formatSignerKey(nodeAuditCrypto, name, generateEd25519Seed()) + '\n';
    await writeNew(file, text);
    created = true;
  }
  const skey = text.trim();
  const parsed = parseSignerKey(nodeAuditCrypto, skey);
  if (!parsed.ok) throw new GovernorError('KEY_INVALID', `${file}: not a signer key: ${parsed.issues.map((i) => i.message).join('; ')}`);
  const { name } = parsed.value;
  if (options.name !== undefined && options.name !== name) {
    throw new GovernorError('CONFIG_INVALID', `${file} is the key of witness ${JSON.stringify(name)}, not ${JSON.stringify(options.name)}`);
  }
  // parseSignerKey checked the form PRIVATE+KEY+name+hash+base64(0x01 ‖ seed); names hold no '+', base64 may.
  const rest = skey.slice('PRIVATE+KEY+'.length);
  const seed = (decodeBase64(rest.slice(rest.indexOf('+', rest.indexOf('+') + 1) + 1)) as Uint8Array).subarray(1);
  const vkey = formatVerifierKey(nodeAuditCrypto, name, nodeAuditCrypto.ed25519PublicKey(seed), COSIGNATURE_KEY_TYPE);
  return { file, name, signer: createCosignatureSigner(nodeAuditCrypto, name, seed, now), vkey, created };
}

async function writeNew(file: string, text: string): Promise<void> {
  const handle = await open(file, 'wx', 0o600).catch((err: NodeJS.ErrnoException) => {
    throw new GovernorError(err.code === 'EEXIST' ? 'CONFLICT' : 'KEY_INVALID', `cannot create ${file}: ${err.message}`, { cause: err });
  });
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(file, 0o600);
}

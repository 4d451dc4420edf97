import { GovernorError } from '../../core/errors.js';
import type { AuditCrypto } from './audit-crypto.js';
import { concatBytes, encodeUtf8 } from './bytes.js';
import { COSIGNATURE_KEY_TYPE, computeKeyId, isValidKeyName, type NoteSignature, type NoteSigner, type NoteVerifier } from './note.js';

/**
 * C2SP tlog-cosignature/v1 (https://c2sp.org/tlog-cosignature), Ed25519 type:
 * a witness's note signature over a checkpoint, with key ID type byte 0x04 and
 * signature bytes `timestamp (u64 big-endian) ‖ Ed25519 signature` over
 * `cosignature/v1\ntime <timestamp>\n<checkpoint text>`.
 */

const HEADER = 'cosignature/v1\ntime ';
const SIGNATURE_SIZE = 8 + 64;

/**
 * The message a v1 cosignature signs: the header line, the timestamp line and
 * the whole checkpoint note text. Throws BAD_REQUEST for a timestamp that is
 * not an integer in [0, 2^53).
 */
export function cosignatureMessage(checkpointText: string, timestamp: number): Uint8Array {
  checkTimestamp(timestamp);
  return encodeUtf8(`${HEADER}${timestamp}\n${checkpointText}`);
}

/**
 * A note signer that cosigns checkpoint texts with a 32-byte Ed25519 seed.
 * `now` returns the POSIX time in seconds to put in each cosignature.
 */
export function createCosignatureSigner(crypto: AuditCrypto, name: string, seed: Uint8Array, now: () => number): NoteSigner {
  checkKey(name, seed, 'seed');
  const secret = seed.slice();
  const keyId = computeKeyId(crypto, name, COSIGNATURE_KEY_TYPE, crypto.ed25519PublicKey(secret));
  return Object.freeze({
    name,
    keyId,
    sign(text: Uint8Array): Uint8Array {
      const timestamp = now();
      checkTimestamp(timestamp);
      const message = concatBytes(encodeUtf8(`${HEADER}${timestamp}\n`), text);
      const out = new Uint8Array(SIGNATURE_SIZE);
      writeUint64(out, timestamp);
      out.set(crypto.ed25519Sign(secret, message), 8);
      return out;
    },
  });
}

/**
 * A note verifier for v1 cosignatures by a 32-byte Ed25519 public key. It
 * rejects timestamps beyond 2^53 - 1 seconds (the spec lets verifiers reject
 * future timestamps; that one is 285 million years away).
 */
export function createCosignatureVerifier(crypto: AuditCrypto, name: string, publicKey: Uint8Array): NoteVerifier {
  checkKey(name, publicKey, 'public key');
  const key = publicKey.slice();
  const keyId = computeKeyId(crypto, name, COSIGNATURE_KEY_TYPE, key);
  return Object.freeze({
    name,
    keyId,
    verify(text: Uint8Array, signature: Uint8Array): boolean {
      const timestamp = cosignatureTimestamp(signature);
      if (timestamp === undefined) return false;
      const message = concatBytes(encodeUtf8(`${HEADER}${timestamp}\n`), text);
      return crypto.ed25519Verify(key, message, signature.subarray(8));
    },
  });
}

/**
 * The timestamp (POSIX seconds) in a cosignature's signature bytes, or
 * undefined when they are not 72 bytes or the time exceeds 2^53 - 1.
 */
export function cosignatureTimestamp(signature: NoteSignature | Uint8Array): number | undefined {
  const bytes = signature instanceof Uint8Array ? signature : signature.signature;
  if (bytes.length !== SIGNATURE_SIZE) return undefined;
  const hi = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  const lo = ((bytes[4]! << 24) | (bytes[5]! << 16) | (bytes[6]! << 8) | bytes[7]!) >>> 0;
  if (hi >= 2 ** 21) return undefined;
  return hi * 2 ** 32 + lo;
}

function writeUint64(out: Uint8Array, value: number): void {
  const hi = Math.floor(value / 2 ** 32);
  const lo = value >>> 0;
  out[0] = hi >>> 24;
  out[1] = (hi >>> 16) & 0xff;
  out[2] = (hi >>> 8) & 0xff;
  out[3] = hi & 0xff;
  out[4] = lo >>> 24;
  out[5] = (lo >>> 16) & 0xff;
  out[6] = (lo >>> 8) & 0xff;
  out[7] = lo & 0xff;
}

function checkTimestamp(timestamp: number): void {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new GovernorError('BAD_REQUEST', `cosignature timestamp must be an integer in [0, 2^53), got ${timestamp}`);
  }
}

function checkKey(name: string, key: Uint8Array, what: string): void {
  if (!isValidKeyName(name)) throw new GovernorError('KEY_INVALID', `invalid key name ${JSON.stringify(name)}`);
  if (key.length !== 32) throw new GovernorError('KEY_INVALID', `Ed25519 ${what} must be 32 bytes`);
}

import { createPrivateKey, createPublicKey, hash, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import type { AuditCrypto } from './pure/audit-crypto.js';

// DER prefixes that wrap a raw 32-byte Ed25519 key (RFC 8410): PKCS#8 for the
// seed, SubjectPublicKeyInfo for the public key.
const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
const SPKI_ED25519_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

/**
 * `AuditCrypto` backed by `node:crypto` (OpenSSL): one-shot SHA-256 and
 * RFC 8032 Ed25519. Verification follows OpenSSL, which rejects non-canonical
 * S (S ≥ L) and, like every Wycheproof `invalid` case, malformed encodings.
 */
export const nodeAuditCrypto: AuditCrypto = Object.freeze({
  sha256(data: Uint8Array): Uint8Array {
    // A 'binary' (latin1) digest string plus a small on-heap array is about twice as fast
    // as a 'buffer' digest, whose off-heap backing store dominates the cost of
    // hashing 65-byte tree nodes.
    const digest = hash('sha256', data, 'binary');
    const out = new Uint8Array(32);
    for (let i = 0; i < 32; i++) out[i] = digest.charCodeAt(i);
    return out;
  },
  ed25519PublicKey(seed: Uint8Array): Uint8Array {
    const jwk = createPublicKey(privateKeyFromSeed(seed)).export({ format: 'jwk' });
    if (typeof jwk.x !== 'string') throw new Error('Ed25519 public key export returned no x');
    return toUint8Array(Buffer.from(jwk.x, 'base64url'));
  },
  ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
    return toUint8Array(sign(null, message, privateKeyFromSeed(seed)));
  },
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      return verify(null, message, publicKeyFromRaw(publicKey), signature);
    } catch {
      return false;
    }
  },
});

/** A fresh random 32-byte Ed25519 seed from the operating system's CSPRNG. */
export function generateEd25519Seed(): Uint8Array {
  return toUint8Array(randomBytes(32));
}

function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new RangeError('an Ed25519 seed must be 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

function publicKeyFromRaw(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

// Plain Uint8Array views, so callers never hold a Buffer (whose equality and
// slice semantics differ).
function toUint8Array(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

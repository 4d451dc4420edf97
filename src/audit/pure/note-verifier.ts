import type { ParseResult } from '../../core/errors.js';
import type { AuditCrypto } from './audit-crypto.js';
import { createCosignatureVerifier } from './cosignature.js';
import { ED25519_KEY_TYPE, createEd25519Verifier, parseVerifierKey, type NoteVerifier } from './note.js';

/**
 * Turns a verifier key text into a note verifier: type 0x01 keys verify plain
 * Ed25519 note signatures (a log's own key), type 0x04 keys verify v1
 * cosignatures (witnesses). Malformed keys, unknown types and key IDs that do
 * not match are issues.
 */
export function parseNoteVerifier(crypto: AuditCrypto, vkey: string): ParseResult<NoteVerifier> {
  const parsed = parseVerifierKey(crypto, vkey);
  if (!parsed.ok) return parsed;
  const { name, type, publicKey } = parsed.value;
  const verifier =
    type === ED25519_KEY_TYPE ? createEd25519Verifier(crypto, name, publicKey) : createCosignatureVerifier(crypto, name, publicKey);
  return { ok: true, value: verifier };
}

/**
 * The hash and signature primitives the audit core needs, injected so the core
 * stays pure. `src/audit/node-crypto.ts` implements it with `node:crypto`.
 *
 * Implementations must be deterministic, must not retain or mutate the byte
 * arrays they are given, and must return fresh arrays.
 */
export interface AuditCrypto {
  /** SHA-256 of `data` (32 bytes). */
  sha256(data: Uint8Array): Uint8Array;
  /** The 32-byte Ed25519 public key of a 32-byte private seed (RFC 8032). */
  ed25519PublicKey(seed: Uint8Array): Uint8Array;
  /** The 64-byte Ed25519 signature of `message` with a 32-byte private seed (RFC 8032, deterministic). */
  ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array;
  /**
   * True when `signature` is a valid Ed25519 signature of `message` under the
   * 32-byte `publicKey`. Never throws: malformed keys or signatures are false.
   */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

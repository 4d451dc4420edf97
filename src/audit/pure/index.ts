/**
 * The pure cryptographic core of the audit log: RFC 6962 tree arithmetic and
 * proofs, C2SP signed notes, checkpoints, cosignatures and tlog-proofs, and the
 * offline verifier. Hash and signature primitives come in through `AuditCrypto`.
 */
export type { AuditCrypto } from './audit-crypto.js';
export { bytesEqual, concatBytes, decodeBase64, decodeHex, encodeBase64, encodeHex } from './bytes.js';
export * from './merkle.js';
export * from './memory-tree.js';
export * from './compact-range.js';
export * from './note.js';
export * from './note-verifier.js';
export * from './checkpoint.js';
export * from './cosignature.js';
export * from './tlog-proof.js';
export * from './verify-log.js';

import { GovernorError } from '../core/errors.js';
import type { AuditRef } from '../core/types.js';
import type { AuditCrypto } from '../audit/pure/audit-crypto.js';
import { bytesEqual, encodeHex } from '../audit/pure/bytes.js';
import { HASH_SIZE, hashLeaf, type SubtreeId } from '../audit/pure/merkle.js';
import type { NewLeaf } from './store.js';

/**
 * Largest leaf the store accepts, in bytes: far above any decision record,
 * and small enough that the leaves of a full batch (512) stay under
 * PostgreSQL's 1 GiB limit on one value.
 */
export const MAX_LEAF_BYTES = 1024 * 1024;

/** Most leaves one `AuditRepository.leaves` call returns. */
export const MAX_LEAVES_PER_READ = 1000;

/** Most checkpoints one `AuditRepository.checkpoints` call returns. */
export const MAX_CHECKPOINTS_PER_READ = 1000;

/**
 * A leaf checked and copied before it is queued: its hash is the RFC 6962 leaf
 * hash of its bytes, so a batch never integrates a leaf the tree would not
 * verify, and a caller mutating its arrays afterwards changes nothing.
 */
export interface CheckedLeaf {
  readonly bytes: Uint8Array;
  readonly hash: Uint8Array;
  /** Hex of `hash`, as `AuditRef.leafHash`. */
  readonly hex: string;
}

/**
 * Checks and copies `leaf`. Rejects with BAD_REQUEST when its hash is not
 * SHA-256(0x00 ‖ bytes), and PAYLOAD_TOO_LARGE beyond `MAX_LEAF_BYTES`.
 */
export function checkLeaf(crypto: AuditCrypto, leaf: NewLeaf): CheckedLeaf {
  return verifyLeaf(crypto, copyLeaf(leaf));
}

/**
 * The first half of `checkLeaf`, for a store that verifies hashes where it
 * writes (the SQLite writer thread): a copy of `leaf`, so a caller mutating
 * its arrays afterwards changes nothing, with a 32-byte hash not yet checked
 * against the bytes. Rejects with BAD_REQUEST when it is not a leaf, and
 * PAYLOAD_TOO_LARGE beyond `MAX_LEAF_BYTES`.
 */
export function copyLeaf(leaf: NewLeaf): NewLeaf {
  const { bytes, hash } = leaf ?? {};
  if (!(bytes instanceof Uint8Array) || !(hash instanceof Uint8Array)) {
    throw new GovernorError('BAD_REQUEST', 'an audit leaf needs bytes and hash as Uint8Arrays');
  }
  if (bytes.length > MAX_LEAF_BYTES) {
    throw new GovernorError('PAYLOAD_TOO_LARGE', `the audit leaf has ${bytes.length} bytes, more than ${MAX_LEAF_BYTES}`);
  }
  if (hash.length !== HASH_SIZE) throw badLeafHash();
  // Buffer copies: small ones come from Node's pool, not a backing store of their own.
  return { bytes: Buffer.from(bytes), hash: Buffer.from(hash) };
}

/** The second half of `checkLeaf`: `leaf` (a copy) with its hash checked; BAD_REQUEST when it is not SHA-256(0x00 ‖ bytes). */
export function verifyLeaf(crypto: AuditCrypto, leaf: NewLeaf): CheckedLeaf {
  const expected = hashLeaf(crypto, leaf.bytes);
  if (leaf.hash.length !== HASH_SIZE || !bytesEqual(leaf.hash, expected)) throw badLeafHash();
  return { bytes: leaf.bytes, hash: expected, hex: encodeHex(expected) };
}

function badLeafHash(): GovernorError {
  return new GovernorError('BAD_REQUEST', 'the audit leaf hash is not SHA-256(0x00 ‖ leaf bytes)');
}

/**
 * `json` (the JSON of an object) with `"audit": ref` as its last member. The
 * object must not already have an `audit` member (see `jsonWithoutAudit`).
 */
export function withAuditRef(json: string, ref: AuditRef): string {
  const member = `"audit":{"index":${ref.index},"leafHash":"${ref.leafHash}"}`;
  return json === '{}' ? `{${member}}` : `${json.slice(0, -1)},${member}}`;
}

/** JSON of `value` without its `audit` member, ready for `withAuditRef`; BAD_REQUEST when it is not a JSON object. */
export function jsonWithoutAudit(value: object, what: string): string {
  let json: string | undefined;
  try {
    json = JSON.stringify((value as { audit?: unknown }).audit === undefined ? value : { ...value, audit: undefined });
  } catch (err) {
    throw new GovernorError('BAD_REQUEST', `the ${what} cannot be stored as JSON`, { cause: err });
  }
  if (json === undefined || !json.startsWith('{') || !json.endsWith('}')) {
    throw new GovernorError('BAD_REQUEST', `the ${what} is not a JSON object`);
  }
  return json;
}

/** The key `AuditRepository.subtrees` uses for a subtree: `level/index`. */
export function subtreeKey(level: number, index: number): string {
  return `${level}/${index}`;
}

/** Validates subtree ids; rejects with BAD_REQUEST one that cannot name a subtree of a tree below 2^53 leaves. */
export function checkSubtreeIds(ids: readonly SubtreeId[]): void {
  if (!Array.isArray(ids)) throw new GovernorError('BAD_REQUEST', 'subtree ids must be an array');
  for (const id of ids) {
    const level = id?.level;
    const index = id?.index;
    if (
      !Number.isInteger(level) ||
      level < 0 ||
      level > 52 ||
      !Number.isSafeInteger(index) ||
      index < 0 ||
      !Number.isSafeInteger(index * 2 ** level)
    ) {
      throw new GovernorError('BAD_REQUEST', `not a subtree id: ${JSON.stringify(id)}`);
    }
  }
}

/** The error for subtrees a store does not hold. */
export function missingSubtrees(missing: readonly SubtreeId[]): GovernorError {
  const names = missing.slice(0, 8).map((id) => subtreeKey(id.level, id.index));
  const more = missing.length > names.length ? ` (and ${missing.length - names.length} more)` : '';
  return new GovernorError('AUDIT_INVALID', `the audit log holds no subtree ${names.join(', ')}${more}`, {
    details: { missing: names },
  });
}

/** Validates a leaf range and caps it at `MAX_LEAVES_PER_READ` leaves (the tree size cap is the adapter's). */
export function leafRange(start: number, end: number): { readonly start: number; readonly end: number } {
  if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(end) || end < 0) {
    throw new GovernorError('BAD_REQUEST', `a leaf range needs non-negative integers, got [${String(start)}, ${String(end)})`);
  }
  return { start, end: Math.max(start, Math.min(end, start + MAX_LEAVES_PER_READ)) };
}

/** Validates a checkpoint before it is queued. */
export function checkCheckpoint(checkpoint: { readonly size: number; readonly note: string }): { size: number; note: string } {
  const { size, note } = checkpoint ?? {};
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new GovernorError('BAD_REQUEST', `checkpoint size must be a non-negative integer, got ${String(size)}`);
  }
  if (typeof note !== 'string' || note === '') {
    throw new GovernorError('BAD_REQUEST', 'checkpoint note must be a non-empty string');
  }
  return { size, note };
}

/** The effective limit of a checkpoint listing. */
export function checkpointRange(afterSize: number, limit: number): { readonly afterSize: number; readonly limit: number } {
  if (!Number.isSafeInteger(afterSize)) {
    throw new GovernorError('BAD_REQUEST', `afterSize must be an integer, got ${String(afterSize)}`);
  }
  if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
    throw new GovernorError('BAD_REQUEST', `limit must be a non-negative number, got ${String(limit)}`);
  }
  return { afterSize, limit: Math.min(Math.floor(limit), MAX_CHECKPOINTS_PER_READ) };
}

/** The error for a checkpoint of a size the log has not reached. */
export function checkpointBeyondTree(size: number, treeSize: number): GovernorError {
  return new GovernorError('BAD_REQUEST', `cannot store a checkpoint for size ${size}: the log holds ${treeSize} leaves`);
}

/** A plain Uint8Array copy of a driver's Buffer, so callers never hold a Buffer or a view of a shared pool. */
export function toBytes(value: Uint8Array): Uint8Array {
  return new Uint8Array(value);
}

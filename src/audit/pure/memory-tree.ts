import { GovernorError } from '../../core/errors.js';
import type { AuditCrypto } from './audit-crypto.js';
import { HASH_SIZE, consistencyProof, hashLeaf, hashNode, inclusionProof, rootAt, type HashReader } from './merkle.js';

/**
 * An append-only RFC 6962 tree held in memory. It keeps the hash of every
 * complete subtree (about 2n hashes for n leaves, in flat buffers), so it
 * answers roots and proofs at any past size with O(log n) hashing, exactly as
 * a store holding the same hashes would. Used by tests, the offline verifier
 * and benchmarks.
 */
export class MemoryTree implements HashReader {
  readonly #crypto: AuditCrypto;
  /** levels[l] holds the complete subtrees of 2^l leaves, 32 bytes each, back to back. */
  #levels: Uint8Array[] = [];
  #counts: number[] = [];
  #size = 0;

  constructor(crypto: AuditCrypto) {
    this.#crypto = crypto;
  }

  /** Number of leaves appended so far. */
  get size(): number {
    return this.#size;
  }

  /** Hashes `leaf` as an RFC 6962 leaf and appends it; returns its index. */
  appendLeaf(leaf: Uint8Array): number {
    return this.append(hashLeaf(this.#crypto, leaf));
  }

  /** Appends a 32-byte leaf hash and integrates every subtree it completes; returns its index. */
  append(leafHash: Uint8Array): number {
    if (leafHash.length !== HASH_SIZE) {
      throw new GovernorError('BAD_REQUEST', `leaf hash has ${leafHash.length} bytes, want ${HASH_SIZE}`);
    }
    const index = this.#size;
    this.#push(0, leafHash);
    let level = 0;
    let i = index;
    // A subtree completes at each level where the new node is a right child.
    while (i % 2 === 1) {
      const parent = hashNode(this.#crypto, this.#at(level, i - 1), this.#at(level, i));
      level++;
      i = (i - 1) / 2;
      this.#push(level, parent);
    }
    this.#size = index + 1;
    return index;
  }

  /** A copy of the hash of the complete subtree of 2^level leaves starting at leaf index·2^level. */
  subtree(level: number, index: number): Uint8Array {
    const count = this.#counts[level] ?? 0;
    if (!Number.isInteger(level) || !Number.isInteger(index) || index < 0 || index >= count) {
      throw new GovernorError('NOT_FOUND', `subtree ${level}/${index} is not complete in a tree of ${this.#size} leaves`);
    }
    return this.#at(level, index).slice();
  }

  /** The root at `size` (default: the current size). */
  root(size: number = this.#size): Uint8Array {
    this.#checkSize(size);
    return rootAt(this.#crypto, this, size);
  }

  /** Inclusion proof for leaf `index` in the tree of `size` leaves (default: the current size). */
  inclusionProof(index: number, size: number = this.#size): Uint8Array[] {
    this.#checkSize(size);
    return inclusionProof(this.#crypto, this, index, size);
  }

  /** Consistency proof from `size1` to `size2` (default: the current size). */
  consistencyProof(size1: number, size2: number = this.#size): Uint8Array[] {
    this.#checkSize(size2);
    return consistencyProof(this.#crypto, this, size1, size2);
  }

  #checkSize(size: number): void {
    if (size > this.#size) throw new GovernorError('BAD_REQUEST', `tree size ${size} is beyond the ${this.#size} leaves appended`);
  }

  #at(level: number, index: number): Uint8Array {
    const offset = index * HASH_SIZE;
    return this.#levels[level]!.subarray(offset, offset + HASH_SIZE);
  }

  #push(level: number, hash: Uint8Array): void {
    let buf = this.#levels[level];
    const count = this.#counts[level] ?? 0;
    if (buf === undefined || (count + 1) * HASH_SIZE > buf.length) {
      const grown = new Uint8Array(Math.max(64, count * 2) * HASH_SIZE);
      if (buf !== undefined) grown.set(buf);
      buf = grown;
      this.#levels[level] = buf;
    }
    buf.set(hash, count * HASH_SIZE);
    this.#counts[level] = count + 1;
  }
}

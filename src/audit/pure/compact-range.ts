import { GovernorError } from '../../core/errors.js';
import type { AuditCrypto } from './audit-crypto.js';
import { HASH_SIZE, emptyRoot, hashNode, rootPlan, type SubtreeId } from './merkle.js';

/** A complete subtree together with its hash. */
export interface Subtree extends SubtreeId {
  readonly hash: Uint8Array;
}

/** Called for each complete subtree an append creates (the new leaf itself included, at level 0). */
export type SubtreeSink = (level: number, index: number, hash: Uint8Array) => void;

/**
 * The right-edge frontier of a tree (a compact range [0, size)): one complete
 * subtree per set bit of `size`, largest first. That is all a writer needs to
 * integrate new leaves: each append costs amortized one node hash, reports the
 * complete subtrees it creates (so a store can persist them for proofs), and
 * the root folds the frontier in O(log n).
 */
export class CompactRange {
  readonly #crypto: AuditCrypto;
  #size: number;
  readonly #levels: number[] = [];
  readonly #hashes: Uint8Array[] = [];

  /**
   * Starts from a tree of `size` leaves whose frontier is `frontier`, as read
   * from a store with the ids `rootPlan(size)` names. Throws AUDIT_INVALID when
   * the frontier is not exactly that.
   */
  constructor(crypto: AuditCrypto, size = 0, frontier: readonly Subtree[] = []) {
    this.#crypto = crypto;
    const want = rootPlan(size);
    const ok =
      frontier.length === want.length &&
      frontier.every((s, i) => s.level === want[i]!.level && s.index === want[i]!.index && s.hash.length === HASH_SIZE);
    if (!ok) {
      throw new GovernorError('AUDIT_INVALID', `frontier does not match a tree of ${size} leaves`, {
        details: { want: want.map((id) => `${id.level}/${id.index}`), got: frontier.map((s) => `${s.level}/${s.index}`) },
      });
    }
    this.#size = size;
    for (const s of frontier) {
      this.#levels.push(s.level);
      this.#hashes.push(s.hash.slice());
    }
  }

  /** Number of leaves covered. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends one 32-byte leaf hash. `sink` receives the leaf and every parent it
   * completes, in creation order (lower levels first).
   */
  append(leafHash: Uint8Array, sink?: SubtreeSink): void {
    if (leafHash.length !== HASH_SIZE) {
      throw new GovernorError('BAD_REQUEST', `leaf hash has ${leafHash.length} bytes, want ${HASH_SIZE}`);
    }
    let index = this.#size;
    let level = 0;
    // Copied: the frontier keeps it, and the caller may reuse its buffer.
    let hash: Uint8Array = leafHash.slice();
    sink?.(level, index, hash);
    const levels = this.#levels;
    const hashes = this.#hashes;
    while (levels.length > 0 && levels[levels.length - 1] === level) {
      levels.pop();
      hash = hashNode(this.#crypto, hashes.pop()!, hash);
      level++;
      index = (index - 1) / 2;
      sink?.(level, index, hash);
    }
    levels.push(level);
    hashes.push(hash);
    this.#size++;
  }

  /** The current frontier, largest subtree first (copies). */
  frontier(): Subtree[] {
    let start = 0;
    return this.#levels.map((level, i) => {
      const width = 2 ** level;
      const s: Subtree = { level, index: start / width, hash: this.#hashes[i]!.slice() };
      start += width;
      return s;
    });
  }

  /** The RFC 6962 root of the leaves covered. */
  root(): Uint8Array {
    const hashes = this.#hashes;
    if (hashes.length === 0) return emptyRoot(this.#crypto);
    let root = hashes[hashes.length - 1]!;
    for (let i = hashes.length - 2; i >= 0; i--) root = hashNode(this.#crypto, hashes[i]!, root);
    return root.slice();
  }
}

/** What integrating a batch of leaves produces. */
export interface AppendLeavesResult {
  /** Tree size after the batch. */
  readonly size: number;
  /** The new frontier, largest subtree first. */
  readonly frontier: readonly Subtree[];
  /** Every complete subtree the batch created, leaves included: what the store must persist. */
  readonly stored: readonly Subtree[];
  /** Root at the new size. */
  readonly root: Uint8Array;
}

/**
 * Integrates a batch of leaf hashes into a tree of `size` leaves given its
 * frontier (read with `rootPlan(size)`): O(batch + log n) hashes, no other reads.
 */
export function appendLeaves(
  crypto: AuditCrypto,
  frontier: readonly Subtree[],
  size: number,
  leafHashes: Iterable<Uint8Array>,
): AppendLeavesResult {
  const range = new CompactRange(crypto, size, frontier);
  const stored: Subtree[] = [];
  const sink: SubtreeSink = (level, index, hash) => stored.push({ level, index, hash });
  for (const leafHash of leafHashes) range.append(leafHash, sink);
  return { size: range.size, frontier: range.frontier(), stored, root: range.root() };
}

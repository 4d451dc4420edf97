import { GovernorError } from '../core/errors.js';
import type { AuditRef } from '../core/types.js';
import type { AuditCrypto } from '../audit/pure/audit-crypto.js';
import { CompactRange, type Subtree } from '../audit/pure/compact-range.js';
import type { CheckedLeaf } from './audit-leaf.js';

/**
 * The audit log as the writes of one batch transaction see it: consecutive
 * indices, handed out in batch order. A write takes a leaf only once it knows
 * its record is created (never for an idempotent duplicate), as its last step.
 */
export interface BatchLog {
  /** The index the next `take` assigns. */
  readonly next: number;
  /** Adds `leaf` to the batch; its place in the log, durable once the batch commits. */
  take(leaf: CheckedLeaf): AuditRef;
}

/** A tree size with its frontier (the subtrees `rootPlan(size)` names) and root. */
export interface TreeState {
  readonly size: number;
  readonly frontier: readonly Subtree[];
  readonly root: Uint8Array;
}

/** What a batch writes: its leaves from index `start`, the complete subtrees above them, and the tree after it. */
export interface IntegratedBatch {
  readonly start: number;
  readonly leaves: readonly CheckedLeaf[];
  /** Every complete subtree of level 1 and above the leaves complete (level 0 is the leaf hash, stored with the leaf). */
  readonly subtrees: readonly Subtree[];
  readonly tree: TreeState;
}

/**
 * The leaves one batch transaction appends, on top of the tree read (or
 * remembered) under the transaction's lock. Taking is O(1); `integrate` hashes
 * the new subtrees once, just before they are written.
 */
export class LeafBatch implements BatchLog {
  readonly #start: TreeState;
  readonly #range: CompactRange;
  readonly #leaves: CheckedLeaf[] = [];
  #integrated = false;

  /** Starts from `tree`; throws AUDIT_INVALID when its frontier does not match its size. */
  constructor(crypto: AuditCrypto, tree: TreeState) {
    // Built now, so a damaged log fails the batch before any of its writes.
    this.#range = new CompactRange(crypto, tree.size, tree.frontier);
    this.#start = tree;
  }

  /** The tree the batch started from. */
  get base(): TreeState {
    return this.#start;
  }

  get next(): number {
    return this.#start.size + this.#leaves.length;
  }

  /** Leaves taken so far. */
  get length(): number {
    return this.#leaves.length;
  }

  take(leaf: CheckedLeaf): AuditRef {
    if (this.#integrated) throw new GovernorError('INTERNAL', 'a leaf was taken after its batch was integrated');
    const index = this.next;
    this.#leaves.push(leaf);
    return { index, leafHash: leaf.hex };
  }

  /** Forgets the leaves taken after the first `length` (their write was rolled back to a savepoint). */
  truncate(length: number): void {
    this.#leaves.length = Math.min(this.#leaves.length, length);
  }

  /** Integrates the leaves taken into the tree; once, when the batch is about to write them. */
  integrate(): IntegratedBatch {
    if (this.#integrated) throw new GovernorError('INTERNAL', 'a batch of leaves is integrated once');
    this.#integrated = true;
    const range = this.#range;
    const subtrees: Subtree[] = [];
    const sink = (level: number, index: number, hash: Uint8Array): void => {
      if (level > 0) subtrees.push({ level, index, hash });
    };
    for (const leaf of this.#leaves) range.append(leaf.hash, sink);
    return {
      start: this.#start.size,
      leaves: this.#leaves.slice(),
      subtrees,
      tree: { size: range.size, frontier: range.frontier(), root: range.root() },
    };
  }
}

/** The tree state of `size` leaves from its frontier; throws AUDIT_INVALID when the frontier does not match. */
export function treeState(crypto: AuditCrypto, size: number, frontier: readonly Subtree[]): TreeState {
  const range = new CompactRange(crypto, size, frontier);
  return { size, frontier: range.frontier(), root: range.root() };
}

/**
 * The last tree state this process knows to be committed. Keyed by size: the
 * leaves below a committed size never change, so a state is valid for as long
 * as the log's head is at its size, and callers always compare the size they
 * read (under the head lock, for writers) before using it.
 */
export class FrontierCache {
  #state: TreeState | undefined;

  /** The remembered state when it is of `size` leaves. */
  get(size: number): TreeState | undefined {
    return this.#state?.size === size ? this.#state : undefined;
  }

  /** Remembers a committed state, unless a larger one is already known. */
  set(state: TreeState): void {
    if (this.#state === undefined || state.size >= this.#state.size) this.#state = state;
  }

  /** Forgets the state, so the next batch reads the log from the store (after a failed batch: trust nothing remembered). */
  clear(): void {
    this.#state = undefined;
  }
}

/** Fails with INTERNAL: a write that appends leaves ran in a batch not opened for them. */
export const NO_BATCH_LOG: BatchLog = Object.freeze({
  get next(): number {
    throw new GovernorError('INTERNAL', 'this batch was not opened for audit leaves');
  },
  take(): AuditRef {
    throw new GovernorError('INTERNAL', 'this batch was not opened for audit leaves');
  },
});

import { GovernorError } from '../../core/errors.js';
import type { AuditCrypto } from '../../audit/pure/audit-crypto.js';
import type { Subtree } from '../../audit/pure/compact-range.js';
import { rootPlan, type SubtreeId } from '../../audit/pure/merkle.js';
import { missingSubtrees, toBytes } from '../audit-leaf.js';
import { FrontierCache, LeafBatch, treeState, type TreeState } from '../leaf-batch.js';
import type { SqliteDatabase, SqliteStatement } from './sqlite-connection.js';
import type { SqliteBatchLog } from './sqlite-writer.js';

interface HashRow {
  readonly hash: Uint8Array;
}

/**
 * The audit tree on one SQLite connection: the head, the stored subtree
 * hashes, and the integration of a batch's leaves inside the batch
 * transaction. Every method is synchronous. The store's request thread and its
 * writer thread each have one over their own connection; both only ever see
 * committed batches (a transaction's own writes aside), and the frontier
 * cache holds committed tree states only, keyed by size, so it is right
 * whichever connection committed them.
 */
export class SqliteAuditLog implements SqliteBatchLog {
  readonly #crypto: AuditCrypto;
  readonly #cache = new FrontierCache();
  readonly #head: SqliteStatement;
  readonly #leafHash: SqliteStatement;
  readonly #subtree: SqliteStatement;
  readonly #insertLeaf: SqliteStatement;
  readonly #insertSubtree: SqliteStatement;
  readonly #advance: SqliteStatement;

  constructor(db: SqliteDatabase, crypto: AuditCrypto) {
    this.#crypto = crypto;
    this.#head = db.prepare('SELECT size FROM audit_head WHERE id = 1');
    this.#leafHash = db.prepare('SELECT leaf_hash AS hash FROM audit_leaves WHERE idx = ?');
    this.#subtree = db.prepare('SELECT hash FROM audit_subtrees WHERE level = ? AND idx = ?');
    this.#insertLeaf = db.prepare('INSERT INTO audit_leaves (idx, leaf, leaf_hash) VALUES (?, ?, ?)');
    this.#insertSubtree = db.prepare('INSERT INTO audit_subtrees (level, idx, hash) VALUES (?, ?, ?)');
    this.#advance = db.prepare('UPDATE audit_head SET size = @size WHERE id = 1 AND size = @from');
  }

  /** The committed tree size. */
  size(): number {
    const row = this.#head.get() as { size: number } | undefined;
    if (row === undefined) throw new GovernorError('AUDIT_INVALID', 'the audit log has no head row');
    return row.size;
  }

  /** The tree of `size` leaves (a committed size): remembered, or read from its frontier. */
  tree(size: number): TreeState {
    const cached = this.#cache.get(size);
    if (cached !== undefined) return cached;
    const ids = rootPlan(size);
    const { found, missing } = this.subtrees(ids);
    if (missing.length > 0) throw missingSubtrees(missing);
    const frontier: Subtree[] = ids.map((id) => ({ ...id, hash: found.get(id) as Uint8Array }));
    const state = treeState(this.#crypto, size, frontier);
    this.#cache.set(state);
    return state;
  }

  /** The stored hashes of `ids` (level 0 from the leaves), and the ids the store does not hold. */
  subtrees(ids: readonly SubtreeId[]): { found: Map<SubtreeId, Uint8Array>; missing: SubtreeId[] } {
    const found = new Map<SubtreeId, Uint8Array>();
    const missing: SubtreeId[] = [];
    for (const id of ids) {
      const row = (id.level === 0 ? this.#leafHash.get(id.index) : this.#subtree.get(id.level, id.index)) as HashRow | undefined;
      if (row === undefined) missing.push(id);
      else found.set(id, toBytes(row.hash));
    }
    return { found, missing };
  }

  open(): LeafBatch {
    return new LeafBatch(this.#crypto, this.tree(this.size()));
  }

  persist(batch: LeafBatch): TreeState {
    const { start, leaves, subtrees, tree } = batch.integrate();
    leaves.forEach((leaf, i) => this.#insertLeaf.run(start + i, leaf.bytes, leaf.hash));
    for (const s of subtrees) this.#insertSubtree.run(s.level, s.index, s.hash);
    if (this.#advance.run({ size: tree.size, from: start }).changes !== 1) {
      throw new GovernorError('AUDIT_INVALID', `the audit log head moved from ${start} inside a write transaction`);
    }
    return tree;
  }

  committed(tree: TreeState): void {
    this.#cache.set(tree);
  }

  abandoned(): void {
    this.#cache.clear();
  }
}

import { GovernorError } from '../../core/errors.js';
import type { AuditCrypto } from '../../audit/pure/audit-crypto.js';
import type { Subtree } from '../../audit/pure/compact-range.js';
import { rootPlan, type SubtreeId } from '../../audit/pure/merkle.js';
import { missingSubtrees, toBytes } from '../audit-leaf.js';
import { FrontierCache, LeafBatch, treeState, type TreeState } from '../leaf-batch.js';
import type { TableName } from './migrations.js';
import type { PostgresBatchLog, PostgresQueryable } from './postgres-connection.js';

interface HashRow {
  readonly ord: string;
  readonly hash: Uint8Array | null;
}

/**
 * The audit tree on PostgreSQL: the head, the stored subtree hashes, and the
 * integration of a batch's leaves inside the batch transaction.
 *
 * Writers on every replica lock the one head row (`SELECT … FOR UPDATE`), so
 * they append one after the other with dense indices. The frontier of the last
 * size this process committed is remembered, so a batch following its own
 * reads only the (locked) head; after another replica's append it reads the
 * O(log n) frontier subtrees once.
 */
export class PostgresAuditLog implements PostgresBatchLog {
  readonly #crypto: AuditCrypto;
  readonly #cache = new FrontierCache();
  readonly #sql: {
    readonly size: string;
    readonly lock: string;
    readonly subtrees: string;
    readonly persist: string;
  };

  constructor(table: TableName, crypto: AuditCrypto) {
    this.#crypto = crypto;
    const head = table('audit_head');
    const leaves = table('audit_leaves');
    const subtrees = table('audit_subtrees');
    this.#sql = {
      size: `SELECT size FROM ${head}`,
      lock: `SELECT size FROM ${head} FOR UPDATE`,
      // One row per requested id, in request order; hash is null when missing.
      subtrees: `
        SELECT q.ord, coalesce(l.leaf_hash, s.hash) AS hash
        FROM unnest($1::smallint[], $2::bigint[]) WITH ORDINALITY AS q(level, idx, ord)
        LEFT JOIN ${leaves} l ON q.level = 0 AND l.idx = q.idx
        LEFT JOIN ${subtrees} s ON q.level > 0 AND s.level = q.level AND s.idx = q.idx`,
      // Leaves, subtrees and head in one round trip. Bytes travel as one
      // binary parameter per column (node-postgres sends a Buffer as binary),
      // cut by offset and length: no hex text to encode, escape and parse.
      // The head moves only from the size locked at open, which the row count
      // confirms.
      persist: `
        WITH leaves AS (
          INSERT INTO ${leaves} (idx, leaf, leaf_hash)
          SELECT $1::bigint + n - 1, substring($4::bytea FROM o + 1 FOR l), substring($5::bytea FROM (n::int - 1) * 32 + 1 FOR 32)
          FROM unnest($2::int[], $3::int[]) WITH ORDINALITY AS t(l, o, n)
        ), subtrees AS (
          INSERT INTO ${subtrees} (level, idx, hash)
          SELECT level, idx, substring($8::bytea FROM (n::int - 1) * 32 + 1 FOR 32)
          FROM unnest($6::smallint[], $7::bigint[]) WITH ORDINALITY AS t(level, idx, n)
        )
        UPDATE ${head} SET size = $9 WHERE size = $1`,
    };
  }

  /** The committed tree size. */
  async size(q: PostgresQueryable): Promise<number> {
    return headSize((await q.query(this.#sql.size)).rows);
  }

  /** The tree of `size` leaves (a committed size): remembered, or read from its frontier. */
  async tree(q: PostgresQueryable, size: number): Promise<TreeState> {
    const cached = this.#cache.get(size);
    if (cached !== undefined) return cached;
    const ids = rootPlan(size);
    const { found, missing } = await this.subtrees(q, ids);
    if (missing.length > 0) throw missingSubtrees(missing);
    const frontier: Subtree[] = ids.map((id, i) => ({ ...id, hash: found[i] as Uint8Array }));
    const state = treeState(this.#crypto, size, frontier);
    this.#cache.set(state);
    return state;
  }

  /** The stored hashes of `ids` in one query (level 0 from the leaves), in order, and the ids the store does not hold. */
  async subtrees(
    q: PostgresQueryable,
    ids: readonly SubtreeId[],
  ): Promise<{ found: (Uint8Array | undefined)[]; missing: SubtreeId[] }> {
    const found: (Uint8Array | undefined)[] = Array.from({ length: ids.length }, () => undefined);
    if (ids.length > 0) {
      const { rows } = await q.query(this.#sql.subtrees, [ids.map((id) => id.level), ids.map((id) => id.index)]);
      for (const row of rows as HashRow[]) {
        if (row.hash !== null) found[Number(row.ord) - 1] = toBytes(row.hash);
      }
    }
    return { found, missing: ids.filter((_, i) => found[i] === undefined) };
  }

  async open(client: PostgresQueryable): Promise<LeafBatch> {
    const size = headSize((await client.query(this.#sql.lock)).rows);
    return new LeafBatch(this.#crypto, await this.tree(client, size));
  }

  async persist(client: PostgresQueryable, batch: LeafBatch): Promise<TreeState> {
    const { start, leaves, subtrees, tree } = batch.integrate();
    const lengths = leaves.map((leaf) => leaf.bytes.length);
    const { rowCount } = await client.query(this.#sql.persist, [
      start,
      lengths,
      offsets(lengths),
      concat(leaves.map((leaf) => leaf.bytes)),
      concat(leaves.map((leaf) => leaf.hash)),
      subtrees.map((s) => s.level),
      subtrees.map((s) => s.index),
      concat(subtrees.map((s) => s.hash)),
      tree.size,
    ]);
    if (rowCount !== 1) throw new GovernorError('AUDIT_INVALID', `the audit log head moved from ${start} while locked`);
    return tree;
  }

  committed(tree: TreeState): void {
    this.#cache.set(tree);
  }

  abandoned(): void {
    this.#cache.clear();
  }
}

/** Where each part starts when parts of these lengths are back to back. */
function offsets(lengths: readonly number[]): number[] {
  let at = 0;
  return lengths.map((length) => {
    const start = at;
    at += length;
    return start;
  });
}

/** The arrays back to back, as a Buffer so node-postgres sends it in binary. */
function concat(parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

function headSize(rows: unknown[]): number {
  const row = rows[0] as { size: string | number } | undefined;
  if (row === undefined) throw new GovernorError('AUDIT_INVALID', 'the audit log has no head row');
  return Number(row.size);
}

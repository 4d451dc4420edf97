import { GovernorError } from '../../core/errors.js';
import type { AuditCrypto } from '../../audit/pure/audit-crypto.js';
import {
  checkCheckpoint,
  checkLeaf,
  checkpointBeyondTree,
  checkpointRange,
  checkSubtreeIds,
  leafRange,
  missingSubtrees,
  subtreeKey,
  toBytes,
  type CheckedLeaf,
} from '../audit-leaf.js';
import type { Settled } from '../group-commit.js';
import type { AuditRepository, NewLeaf, StoredCheckpoint, StoredLeaf } from '../store.js';
import type { PostgresAuditLog } from './audit-log.js';
import type { TableName } from './migrations.js';
import type { PostgresConnection, PostgresQueryable, PostgresWriteKind } from './postgres-connection.js';

interface LeafRow {
  readonly size: string;
  readonly idx: string | null;
  readonly leaf: Uint8Array | null;
}

interface CheckpointRow {
  readonly size: string;
  readonly note: string;
  readonly created_at: Date;
}

interface CheckpointItem {
  readonly size: number;
  readonly note: string;
}

/** The audit log on PostgreSQL. Appends are group-committed with every other write of the store. */
export class PostgresAuditRepository implements AuditRepository {
  readonly #connection: PostgresConnection;
  readonly #log: PostgresAuditLog;
  readonly #crypto: AuditCrypto;
  readonly #appendKind: PostgresWriteKind<CheckedLeaf, { readonly index: number }>;
  readonly #checkpointKind: PostgresWriteKind<CheckpointItem, undefined>;
  readonly #sql: { readonly leaves: string; readonly latest: string; readonly checkpoints: string };

  constructor(connection: PostgresConnection, log: PostgresAuditLog, table: TableName, crypto: AuditCrypto) {
    this.#connection = connection;
    this.#log = log;
    this.#crypto = crypto;
    this.#appendKind = {
      name: 'audit.append',
      audited: () => true,
      write: async (_client, items, batchLog) => items.map((leaf) => ({ ok: true, value: { index: batchLog.take(leaf).index } })),
    };
    const checkpoints = table('audit_checkpoints');
    this.#checkpointKind = {
      name: 'audit.saveCheckpoint',
      write: (client, items) => saveCheckpoints(client, log, checkpoints, items),
    };
    this.#sql = {
      // The head row comes back even when no leaf is in range.
      leaves: `
        SELECT h.size, l.idx, l.leaf
        FROM ${table('audit_head')} h
        LEFT JOIN ${table('audit_leaves')} l ON l.idx >= $1 AND l.idx < least($2::bigint, h.size)
        ORDER BY l.idx`,
      latest: `SELECT size, note, created_at FROM ${checkpoints} ORDER BY size DESC LIMIT 1`,
      checkpoints: `SELECT size, note, created_at FROM ${checkpoints} WHERE size > $1 ORDER BY size LIMIT $2`,
    };
  }

  async append(leaf: NewLeaf): Promise<{ readonly index: number }> {
    return this.#connection.write(this.#appendKind, checkLeaf(this.#crypto, leaf));
  }

  async treeHead(): Promise<{ readonly size: number; readonly rootHash: Uint8Array }> {
    const tree = await this.#log.tree(this.#connection, await this.#log.size(this.#connection));
    return { size: tree.size, rootHash: tree.root.slice() };
  }

  async subtrees(ids: readonly { readonly level: number; readonly index: number }[]): Promise<ReadonlyMap<string, Uint8Array>> {
    checkSubtreeIds(ids);
    const { found, missing } = await this.#log.subtrees(this.#connection, ids);
    if (missing.length > 0) throw missingSubtrees(missing);
    const out = new Map<string, Uint8Array>();
    ids.forEach((id, i) => out.set(subtreeKey(id.level, id.index), found[i] as Uint8Array));
    return out;
  }

  async leaves(start: number, end: number): Promise<readonly StoredLeaf[]> {
    const range = leafRange(start, end);
    if (range.end <= range.start) return [];
    const { rows } = await this.#connection.query(this.#sql.leaves, [range.start, range.end]);
    const found = (rows as LeafRow[]).filter((row) => row.idx !== null);
    const size = Number((rows[0] as LeafRow | undefined)?.size ?? 0);
    const stop = Math.min(range.end, size);
    if (found.length !== Math.max(0, stop - range.start)) {
      throw new GovernorError('AUDIT_INVALID', `the audit log is missing leaves in [${range.start}, ${stop})`);
    }
    return found.map((row) => ({ index: Number(row.idx), bytes: toBytes(row.leaf as Uint8Array) }));
  }

  async saveCheckpoint(checkpoint: { readonly size: number; readonly note: string }): Promise<void> {
    await this.#connection.write(this.#checkpointKind, checkCheckpoint(checkpoint));
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const { rows } = await this.#connection.query(this.#sql.latest);
    const row = rows[0] as CheckpointRow | undefined;
    return row === undefined ? undefined : toCheckpoint(row);
  }

  async checkpoints(afterSize: number, limit: number): Promise<readonly StoredCheckpoint[]> {
    const range = checkpointRange(afterSize, limit);
    const { rows } = await this.#connection.query(this.#sql.checkpoints, [range.afterSize, range.limit]);
    return (rows as CheckpointRow[]).map(toCheckpoint);
  }
}

async function saveCheckpoints(
  client: PostgresQueryable,
  log: PostgresAuditLog,
  table: string,
  items: readonly CheckpointItem[],
): Promise<Settled<undefined>[]> {
  const treeSize = await log.size(client);
  const results: Settled<undefined>[] = [];
  for (const { size, note } of items) {
    if (size > treeSize) {
      results.push({ ok: false, error: checkpointBeyondTree(size, treeSize) });
      continue;
    }
    await client.query(`INSERT INTO ${table} (size, note) VALUES ($1, $2) ON CONFLICT (size) DO NOTHING`, [size, note]);
    results.push({ ok: true, value: undefined });
  }
  return results;
}

function toCheckpoint(row: CheckpointRow): StoredCheckpoint {
  return { size: Number(row.size), note: row.note, createdAt: row.created_at.toISOString() };
}

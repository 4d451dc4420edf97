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
} from '../audit-leaf.js';
import type { AuditRepository, NewLeaf, StoredCheckpoint, StoredLeaf } from '../store.js';
import type { SqliteAuditLog } from './audit-log.js';
import type { SqliteConnection, SqliteStatement } from './sqlite-connection.js';

interface LeafRow {
  readonly idx: number;
  readonly leaf: Uint8Array;
}

interface CheckpointRow {
  readonly size: number;
  readonly note: string;
  readonly created_at: string;
}

/** The audit log on SQLite. Appends are group-committed with every other write of the store. */
export class SqliteAuditRepository implements AuditRepository {
  readonly #connection: SqliteConnection;
  readonly #log: SqliteAuditLog;
  readonly #crypto: AuditCrypto;
  readonly #leaves: SqliteStatement;
  readonly #saveCheckpoint: SqliteStatement;
  readonly #latestCheckpoint: SqliteStatement;
  readonly #checkpoints: SqliteStatement;

  constructor(connection: SqliteConnection, log: SqliteAuditLog, crypto: AuditCrypto) {
    this.#connection = connection;
    this.#log = log;
    this.#crypto = crypto;
    this.#leaves = connection.prepare('SELECT idx, leaf FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx');
    // The existence test keeps the first checkpoint of a size without tripping
    // the trigger that refuses replacing one.
    this.#saveCheckpoint = connection.prepare(`
      INSERT INTO audit_checkpoints (size, note, created_at)
      SELECT @size, @note, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
      WHERE NOT EXISTS (SELECT 1 FROM audit_checkpoints WHERE size = @size)
    `);
    this.#latestCheckpoint = connection.prepare(
      'SELECT size, note, created_at FROM audit_checkpoints ORDER BY size DESC LIMIT 1',
    );
    this.#checkpoints = connection.prepare(
      'SELECT size, note, created_at FROM audit_checkpoints WHERE size > ? ORDER BY size LIMIT ?',
    );
  }

  async append(leaf: NewLeaf): Promise<{ readonly index: number }> {
    const checked = checkLeaf(this.#crypto, leaf);
    return this.#connection.write((log) => ({ index: log.take(checked).index }), { audited: true });
  }

  treeHead(): Promise<{ readonly size: number; readonly rootHash: Uint8Array }> {
    return this.#connection.read(() => {
      const tree = this.#log.tree(this.#log.size());
      return { size: tree.size, rootHash: tree.root.slice() };
    });
  }

  async subtrees(ids: readonly { readonly level: number; readonly index: number }[]): Promise<ReadonlyMap<string, Uint8Array>> {
    checkSubtreeIds(ids);
    const { found, missing } = await this.#connection.read(() => this.#log.subtrees(ids));
    if (missing.length > 0) throw missingSubtrees(missing);
    const out = new Map<string, Uint8Array>();
    for (const [id, hash] of found) out.set(subtreeKey(id.level, id.index), hash);
    return out;
  }

  async leaves(start: number, end: number): Promise<readonly StoredLeaf[]> {
    const range = leafRange(start, end);
    return this.#connection.read(() => {
      const stop = Math.min(range.end, this.#log.size());
      if (stop <= range.start) return [];
      const rows = this.#leaves.all(range.start, stop) as LeafRow[];
      if (rows.length !== stop - range.start) {
        throw new GovernorError('AUDIT_INVALID', `the audit log is missing leaves in [${range.start}, ${stop})`);
      }
      return rows.map((row) => ({ index: row.idx, bytes: toBytes(row.leaf) }));
    });
  }

  async saveCheckpoint(checkpoint: { readonly size: number; readonly note: string }): Promise<void> {
    const { size, note } = checkCheckpoint(checkpoint);
    await this.#connection.write(() => {
      const treeSize = this.#log.size();
      if (size > treeSize) throw checkpointBeyondTree(size, treeSize);
      this.#saveCheckpoint.run({ size, note });
    });
  }

  latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    return this.#connection.read(() => {
      const row = this.#latestCheckpoint.get() as CheckpointRow | undefined;
      return row === undefined ? undefined : toCheckpoint(row);
    });
  }

  async checkpoints(afterSize: number, limit: number): Promise<readonly StoredCheckpoint[]> {
    const range = checkpointRange(afterSize, limit);
    return this.#connection.read(() =>
      (this.#checkpoints.all(range.afterSize, range.limit) as CheckpointRow[]).map(toCheckpoint),
    );
  }
}

function toCheckpoint(row: CheckpointRow): StoredCheckpoint {
  return { size: row.size, note: row.note, createdAt: row.created_at };
}

import { GovernorError } from '../../core/errors.js';
import {
  checkCheckpoint,
  copyLeaf,
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
import type { SqliteConnection, SqliteDatabase, SqliteStatement } from './sqlite-connection.js';

interface LeafRow {
  readonly idx: number;
  readonly leaf: Uint8Array;
}

interface CheckpointRow {
  readonly size: number;
  readonly note: string;
  readonly created_at: string;
}

/**
 * The audit log on SQLite. Reads run on the store's connection (`log` is the
 * tree as that connection reads it); appends and checkpoints are queued as
 * commands and group-committed with every other write of the store.
 */
export class SqliteAuditRepository implements AuditRepository {
  readonly #connection: SqliteConnection;
  readonly #log: SqliteAuditLog;
  readonly #leaves: SqliteStatement;
  readonly #latestCheckpoint: SqliteStatement;
  readonly #checkpoints: SqliteStatement;

  constructor(connection: SqliteConnection, log: SqliteAuditLog) {
    this.#connection = connection;
    this.#log = log;
    this.#leaves = connection.prepare('SELECT idx, leaf FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx');
    this.#latestCheckpoint = connection.prepare(
      'SELECT size, note, created_at FROM audit_checkpoints ORDER BY size DESC LIMIT 1',
    );
    this.#checkpoints = connection.prepare(
      'SELECT size, note, created_at FROM audit_checkpoints WHERE size > ? ORDER BY size LIMIT ?',
    );
  }

  async append(leaf: NewLeaf): Promise<{ readonly index: number }> {
    return { index: await this.#connection.write({ op: 'append', leaf: copyLeaf(leaf) }) };
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
    await this.#connection.write({ op: 'checkpoint', size, note });
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

/** The writes of the audit log besides leaves (which `SqliteWriter` appends), run inside a batch transaction. */
export class SqliteAuditWrites {
  readonly #log: SqliteAuditLog;
  readonly #saveCheckpoint: SqliteStatement;

  constructor(db: SqliteDatabase, log: SqliteAuditLog) {
    this.#log = log;
    // The existence test keeps the first checkpoint of a size without tripping
    // the trigger that refuses replacing one.
    this.#saveCheckpoint = db.prepare(`
      INSERT INTO audit_checkpoints (size, note, created_at)
      SELECT @size, @note, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
      WHERE NOT EXISTS (SELECT 1 FROM audit_checkpoints WHERE size = @size)
    `);
  }

  /** Stores the checkpoint unless one of its size exists; BAD_REQUEST beyond the tree (read under the write lock). */
  saveCheckpoint(size: number, note: string): undefined {
    const treeSize = this.#log.size();
    if (size > treeSize) throw checkpointBeyondTree(size, treeSize);
    this.#saveCheckpoint.run({ size, note });
    return undefined;
  }
}

function toCheckpoint(row: CheckpointRow): StoredCheckpoint {
  return { size: row.size, note: row.note, createdAt: row.created_at };
}

import type { AuditRef } from '../../core/types.js';
import { copyLeaf, type CheckedLeaf } from '../audit-leaf.js';
import type { BatchLog } from '../leaf-batch.js';
import { fromRecordRow, recordListLimit, toRecordRow, type RecordRow, type StoredRecordRow } from '../record-row.js';
import type { ControlRecord, ListRecordsOptions, NewRecord, RecordRepository, RecordUpdate } from '../store.js';
import type { SqliteConnection, SqliteDatabase, SqliteStatement } from './sqlite-connection.js';

/** What a record insert returns from its batch: the stored row, and whether this write created it. */
export interface RecordInsertResult {
  readonly created: boolean;
  readonly row: StoredRecordRow;
}

const COLUMNS = 'kind, id, parent, state, version, body, created_at, updated_at, audit';

/**
 * Control-plane records on SQLite. Writes are queued as commands and
 * group-committed with the decisions of the same batch; a record's audit
 * leaf is appended in the same transaction, only when the record is written.
 */
export class SqliteRecordRepository implements RecordRepository {
  readonly #connection: SqliteConnection;
  readonly #get: SqliteStatement;
  readonly #list: Readonly<Record<string, SqliteStatement>>;

  constructor(connection: SqliteConnection) {
    this.#connection = connection;
    this.#get = connection.prepare(`SELECT ${COLUMNS} FROM records WHERE kind = ? AND id = ?`);
    const list: Record<string, SqliteStatement> = {};
    for (const parent of [false, true]) {
      for (const state of [false, true]) {
        for (const order of ['ASC', 'DESC']) {
          const where = ['kind = @kind', ...(parent ? ['parent = @parent'] : []), ...(state ? ['state = @state'] : [])].join(' AND ');
          list[`${parent}/${state}/${order}`] = connection.prepare(
            `SELECT ${COLUMNS} FROM records WHERE ${where} ORDER BY created_at ${order}, seq ${order} LIMIT @limit`,
          );
        }
      }
    }
    this.#list = list;
  }

  async insert(record: NewRecord): Promise<{ readonly created: boolean; readonly record: ControlRecord }> {
    const row = toRecordRow(record);
    const leaf = record.leaf === undefined ? undefined : copyLeaf(record.leaf);
    const result = await this.#connection.write({ op: 'record-insert', row, leaf });
    return { created: result.created, record: fromRecordRow(result.row) };
  }

  async update(change: RecordUpdate): Promise<ControlRecord | undefined> {
    const row = toRecordRow(change);
    const leaf = change.leaf === undefined ? undefined : copyLeaf(change.leaf);
    const stored = await this.#connection.write({ op: 'record-update', row, leaf });
    return stored === undefined ? undefined : fromRecordRow(stored);
  }

  get(kind: string, id: string): Promise<ControlRecord | undefined> {
    return this.#connection.read(() => {
      const row = this.#get.get(kind, id) as StoredRecordRow | undefined;
      return row === undefined ? undefined : fromRecordRow(row);
    });
  }

  list(options: ListRecordsOptions): Promise<readonly ControlRecord[]> {
    const limit = recordListLimit(options);
    const statement = this.#list[`${options.parent !== undefined}/${options.state !== undefined}/${options.order === 'newest' ? 'DESC' : 'ASC'}`] as SqliteStatement;
    const params = {
      kind: options.kind,
      limit,
      ...(options.parent === undefined ? {} : { parent: options.parent }),
      ...(options.state === undefined ? {} : { state: options.state }),
    };
    return this.#connection.read(() => (statement.all(params) as StoredRecordRow[]).map(fromRecordRow));
  }
}

/** The writes of records, run inside a batch transaction by `SqliteWriter`. */
export class SqliteRecordWrites {
  readonly #insert: SqliteStatement;
  readonly #get: SqliteStatement;
  readonly #update: SqliteStatement;

  constructor(db: SqliteDatabase) {
    this.#insert = db.prepare(`
      INSERT INTO records (kind, id, seq, parent, state, version, body, created_at, updated_at, audit)
      VALUES (@kind, @id, (SELECT coalesce(max(seq), 0) + 1 FROM records), @parent, @state, 1, @body, @at, @at, @audit)
      ON CONFLICT DO NOTHING
      RETURNING ${COLUMNS}
    `);
    this.#get = db.prepare(`SELECT ${COLUMNS} FROM records WHERE kind = ? AND id = ?`);
    this.#update = db.prepare(`
      UPDATE records SET state = @state, version = @version, body = @body, updated_at = @at, audit = coalesce(@audit, audit)
      WHERE kind = @kind AND id = @id AND version = @version - 1
      RETURNING ${COLUMNS}
    `);
  }

  insert(row: RecordRow, leaf: CheckedLeaf | undefined, log: BatchLog): RecordInsertResult {
    const audit = leaf === undefined ? null : auditJson({ index: log.next, leafHash: leaf.hex });
    const inserted = this.#insert.get({ ...row, audit }) as StoredRecordRow | undefined;
    if (inserted !== undefined) {
      if (leaf !== undefined) log.take(leaf);
      return { created: true, row: inserted };
    }
    return { created: false, row: this.#get.get(row.kind, row.id) as StoredRecordRow };
  }

  update(row: RecordRow, leaf: CheckedLeaf | undefined, log: BatchLog): StoredRecordRow | undefined {
    const audit = leaf === undefined ? null : auditJson({ index: log.next, leafHash: leaf.hex });
    const updated = this.#update.get({ ...row, audit }) as StoredRecordRow | undefined;
    if (updated !== undefined && leaf !== undefined) log.take(leaf);
    return updated;
  }
}

function auditJson(ref: AuditRef): string {
  return JSON.stringify({ index: ref.index, leafHash: ref.leafHash });
}

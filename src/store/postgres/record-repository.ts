import type { AuditCrypto } from '../../audit/pure/audit-crypto.js';
import { checkLeaf, type CheckedLeaf } from '../audit-leaf.js';
import type { Settled } from '../group-commit.js';
import { fromRecordRow, recordListLimit, toRecordRow, type RecordRow, type StoredRecordRow } from '../record-row.js';
import type { ControlRecord, ListRecordsOptions, NewRecord, RecordRepository, RecordUpdate } from '../store.js';
import type { TableName } from './migrations.js';
import type { PostgresConnection, PostgresWriteKind } from './postgres-connection.js';

interface RecordItem {
  readonly row: RecordRow;
  readonly leaf: CheckedLeaf | undefined;
}

const COLUMNS = 'kind, id, parent, state, version, body, created_at, updated_at, audit';

/**
 * Control-plane records on PostgreSQL: group-committed with the decisions of
 * the same batch; a record's audit leaf is appended in the same transaction,
 * only when the record is written.
 */
export class PostgresRecordRepository implements RecordRepository {
  readonly #connection: PostgresConnection;
  readonly #crypto: AuditCrypto;
  readonly #table: string;
  readonly #insertKind: PostgresWriteKind<RecordItem, { created: boolean; record: ControlRecord }>;
  readonly #updateKind: PostgresWriteKind<RecordItem, ControlRecord | undefined>;

  constructor(connection: PostgresConnection, table: TableName, crypto: AuditCrypto) {
    this.#connection = connection;
    this.#crypto = crypto;
    const records = table('records');
    this.#table = records;
    this.#insertKind = {
      name: 'records.insert',
      audited: (item) => item.leaf !== undefined,
      write: (client, items, log) => each(items, async ({ row, leaf }) => {
        const audit = leaf === undefined ? null : JSON.stringify({ index: log.next, leafHash: leaf.hex });
        const { rows } = await client.query(
          `INSERT INTO ${records} (kind, id, parent, state, version, body, created_at, updated_at, audit)
           VALUES ($1, $2, $3, $4, 1, $5::jsonb, $6, $6, $7::jsonb)
           ON CONFLICT DO NOTHING
           RETURNING ${COLUMNS}`,
          [row.kind, row.id, row.parent, row.state, row.body, row.at, audit],
        );
        const inserted = rows[0] as StoredRecordRow | undefined;
        if (inserted !== undefined) {
          if (leaf !== undefined) log.take(leaf);
          return { created: true, record: fromRecordRow(inserted) };
        }
        const existing = await client.query(`SELECT ${COLUMNS} FROM ${records} WHERE kind = $1 AND id = $2`, [row.kind, row.id]);
        return { created: false, record: fromRecordRow(existing.rows[0] as StoredRecordRow) };
      }),
    };
    this.#updateKind = {
      name: 'records.update',
      audited: (item) => item.leaf !== undefined,
      write: (client, items, log) => each(items, async ({ row, leaf }) => {
        const audit = leaf === undefined ? null : JSON.stringify({ index: log.next, leafHash: leaf.hex });
        const { rows } = await client.query(
          `UPDATE ${records} SET state = $3, version = $4, body = $5::jsonb, updated_at = $6, audit = coalesce($7::jsonb, audit)
           WHERE kind = $1 AND id = $2 AND version = $4 - 1
           RETURNING ${COLUMNS}`,
          [row.kind, row.id, row.state, row.version, row.body, row.at, audit],
        );
        const updated = rows[0] as StoredRecordRow | undefined;
        if (updated !== undefined && leaf !== undefined) log.take(leaf);
        return updated === undefined ? undefined : fromRecordRow(updated);
      }),
    };
  }

  async insert(record: NewRecord): Promise<{ readonly created: boolean; readonly record: ControlRecord }> {
    const row = toRecordRow(record);
    const leaf = record.leaf === undefined ? undefined : checkLeaf(this.#crypto, record.leaf);
    return this.#connection.write(this.#insertKind, { row, leaf });
  }

  async update(change: RecordUpdate): Promise<ControlRecord | undefined> {
    const row = toRecordRow(change);
    const leaf = change.leaf === undefined ? undefined : checkLeaf(this.#crypto, change.leaf);
    return this.#connection.write(this.#updateKind, { row, leaf });
  }

  async get(kind: string, id: string): Promise<ControlRecord | undefined> {
    const { rows } = await this.#connection.query(`SELECT ${COLUMNS} FROM ${this.#table} WHERE kind = $1 AND id = $2`, [kind, id]);
    const row = rows[0] as StoredRecordRow | undefined;
    return row === undefined ? undefined : fromRecordRow(row);
  }

  async list(options: ListRecordsOptions): Promise<readonly ControlRecord[]> {
    const limit = recordListLimit(options);
    const values: unknown[] = [options.kind];
    const where = ['kind = $1'];
    if (options.parent !== undefined) {
      values.push(options.parent);
      where.push(`parent = $${values.length}`);
    }
    if (options.state !== undefined) {
      values.push(options.state);
      where.push(`state = $${values.length}`);
    }
    values.push(limit);
    const order = options.order === 'newest' ? 'DESC' : 'ASC';
    const { rows } = await this.#connection.query(
      `SELECT ${COLUMNS} FROM ${this.#table} WHERE ${where.join(' AND ')} ORDER BY created_at ${order}, seq ${order} LIMIT $${values.length}`,
      values,
    );
    return (rows as StoredRecordRow[]).map(fromRecordRow);
  }
}

/** Runs `write` for each item in order; an error fails the batch (the connection decides what is retried). */
async function each<I, R>(items: readonly I[], write: (item: I) => Promise<R>): Promise<Settled<R>[]> {
  const results: Settled<R>[] = [];
  for (const item of items) results.push({ ok: true, value: await write(item) });
  return results;
}

import { GovernorError } from '../core/errors.js';
import type { AuditRef } from '../core/types.js';
import { jsonWithoutAudit } from './audit-leaf.js';
import type { ControlRecord, ListRecordsOptions, NewRecord, RecordUpdate } from './store.js';

/** Most records one `list` call returns. */
export const MAX_RECORD_LIST = 1000;
/** Largest record body, bytes of JSON. */
export const MAX_RECORD_BYTES = 256 * 1024;
const NAME = /^[\x21-\x7e]{1,512}$/;

/** A record as both adapters write it: indexed columns next to the JSON body. */
export interface RecordRow {
  readonly kind: string;
  readonly id: string;
  readonly parent: string | null;
  readonly state: string;
  /** The version written: 1 for an insert; the expected version + 1 for an update. */
  readonly version: number;
  readonly body: string;
  /** The write's time, normalized to UTC ISO 8601. */
  readonly at: string;
}

/** A stored record as read back, columns as text. */
export interface StoredRecordRow {
  readonly kind: string;
  readonly id: string;
  readonly parent: string | null;
  readonly state: string;
  readonly version: number | string;
  readonly body: string | object;
  readonly created_at: string | Date;
  readonly updated_at: string | Date;
  readonly audit: string | object | null;
}

/** Validates a new record; BAD_REQUEST for what no engine could store faithfully. */
export function toRecordRow(record: NewRecord | RecordUpdate): RecordRow {
  const { kind, id, state } = record ?? {};
  for (const [name, value] of [
    ['kind', kind],
    ['id', id],
    ['state', state],
  ] as const) {
    if (typeof value !== 'string' || !NAME.test(value)) throw new GovernorError('BAD_REQUEST', `record ${name} must be 1 to 512 printable ASCII characters`);
  }
  const parent = 'parent' in record && record.parent !== undefined ? record.parent : null;
  if (parent !== null && (typeof parent !== 'string' || !NAME.test(parent))) {
    throw new GovernorError('BAD_REQUEST', 'record parent must be 1 to 512 printable ASCII characters');
  }
  const time = typeof record.at === 'string' ? Date.parse(record.at) : Number.NaN;
  if (Number.isNaN(time)) throw new GovernorError('BAD_REQUEST', `record time is not a timestamp: ${String(record.at)}`);
  let version = 1;
  if ('version' in record) {
    if (!Number.isSafeInteger(record.version) || record.version < 1) throw new GovernorError('BAD_REQUEST', 'record version must be a positive integer');
    version = record.version + 1;
  }
  if (typeof record.body !== 'object' || record.body === null || Array.isArray(record.body)) {
    throw new GovernorError('BAD_REQUEST', 'record body must be a JSON object');
  }
  const body = jsonWithoutAudit(record.body, 'record body');
  if (body.length > MAX_RECORD_BYTES) throw new GovernorError('PAYLOAD_TOO_LARGE', `the record body has ${body.length} bytes, more than ${MAX_RECORD_BYTES}`);
  return { kind, id, parent, state, version, body, at: new Date(time).toISOString() };
}

/** The record a stored row holds. */
export function fromRecordRow(row: StoredRecordRow): ControlRecord {
  const time = (t: string | Date) => (t instanceof Date ? t.toISOString() : t);
  const audit = row.audit === null ? undefined : ((typeof row.audit === 'string' ? JSON.parse(row.audit) : row.audit) as AuditRef);
  return {
    kind: row.kind,
    id: row.id,
    parent: row.parent,
    state: row.state,
    version: Number(row.version),
    body: typeof row.body === 'string' ? (JSON.parse(row.body) as unknown) : row.body,
    createdAt: time(row.created_at),
    updatedAt: time(row.updated_at),
    ...(audit === undefined ? {} : { audit }),
  };
}

/** The effective limit of a record listing. */
export function recordListLimit(options: ListRecordsOptions): number {
  const { limit } = options;
  if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
    throw new GovernorError('BAD_REQUEST', `limit must be a non-negative number, got ${String(limit)}`);
  }
  if (typeof options.kind !== 'string' || !NAME.test(options.kind)) throw new GovernorError('BAD_REQUEST', 'record kind must be 1 to 512 printable ASCII characters');
  return Math.min(Math.floor(limit), MAX_RECORD_LIST);
}

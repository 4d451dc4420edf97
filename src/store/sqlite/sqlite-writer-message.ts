import { GovernorError, isGovernorError, type ErrorCode } from '../../core/errors.js';
import { HASH_SIZE } from '../../audit/pure/merkle.js';
import type { Settled } from '../group-commit.js';
import type { TreeState } from '../leaf-batch.js';
import type { NewLeaf } from '../store.js';
import type { SqliteBatchResult, SqliteWriteCommand } from './sqlite-writer.js';

/** What the writer thread is started with (its `workerData`). */
export interface WriterThreadConfig {
  readonly path: string;
  readonly busyTimeoutMs: number;
}

/**
 * A batch on its way to the writer thread: one message per batch. The leaves'
 * bytes and hashes are packed into one transferred buffer (no copy when it is
 * posted); a write names its leaf by its slot: slot `i` is the bytes from
 * `ends[i - 1]` (0 for the first) to `ends[i] - 32`, then the 32-byte hash.
 */
export interface BatchMessage {
  readonly type: 'batch';
  readonly id: number;
  readonly writes: readonly SqliteWriteCommand<number>[];
  readonly leaves: ArrayBuffer;
  readonly ends: readonly number[];
}

/** Asks the writer thread to close its connection and exit. */
export interface CloseMessage {
  readonly type: 'close';
}

/** Main thread → writer thread. */
export type WriterRequest = BatchMessage | CloseMessage;

/** Writer thread → main thread. */
export type WriterReply =
  | { readonly type: 'ready' }
  /** The writer could not open the database; it exits. */
  | { readonly type: 'start-failed'; readonly error: WireError }
  /** The batch committed: one result per write, in order, and the audit tree after it when the batch opened the log. */
  | { readonly type: 'committed'; readonly id: number; readonly results: readonly WireSettled[]; readonly tree?: TreeState | undefined }
  /**
   * The batch failed as a whole: rolled back, so nothing of it is stored; or,
   * rarely, committed but its results could not be posted. Either way none of
   * its writes is reported durable.
   */
  | { readonly type: 'batch-failed'; readonly id: number; readonly error: WireError };

/** A per-write result with its error in wire form. */
export type WireSettled = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: WireError };

/**
 * An error in a form that crosses threads with its code: structured clone
 * keeps neither a GovernorError's class nor a driver error's `code`.
 */
export type WireError =
  | {
      readonly kind: 'governor';
      readonly code: ErrorCode;
      readonly message: string;
      readonly details?: unknown;
      readonly stack?: string | undefined;
      readonly cause?: WireError | undefined;
    }
  | {
      readonly kind: 'error';
      readonly name: string;
      readonly message: string;
      readonly code?: string | undefined;
      readonly stack?: string | undefined;
      readonly cause?: WireError | undefined;
    }
  | { readonly kind: 'value'; readonly text: string };

/** Packs `batch` into one message and the buffer to transfer with it. */
export function encodeBatch(id: number, batch: readonly SqliteWriteCommand[]): { message: BatchMessage; transfer: ArrayBuffer[] } {
  let size = 0;
  for (const write of batch) if ('leaf' in write && write.leaf !== undefined) size += write.leaf.bytes.length + HASH_SIZE;
  const packed = new Uint8Array(size);
  const ends: number[] = [];
  let at = 0;
  const writes = batch.map((write): SqliteWriteCommand<number> => {
    if (!('leaf' in write) || write.leaf === undefined) return write as SqliteWriteCommand<never>;
    packed.set(write.leaf.bytes, at);
    at += write.leaf.bytes.length;
    packed.set(write.leaf.hash, at);
    at += HASH_SIZE;
    ends.push(at);
    return { ...write, leaf: ends.length - 1 };
  });
  return { message: { type: 'batch', id, writes, leaves: packed.buffer, ends }, transfer: [packed.buffer] };
}

/** The writes of a batch message, their leaves as views of its buffer. */
export function decodeBatch(message: BatchMessage): SqliteWriteCommand[] {
  const packed = Buffer.from(message.leaves);
  const leaves = message.ends.map(
    (end, i): NewLeaf => ({
      bytes: packed.subarray(i === 0 ? 0 : (message.ends[i - 1] as number), end - HASH_SIZE),
      hash: packed.subarray(end - HASH_SIZE, end),
    }),
  );
  return message.writes.map((write): SqliteWriteCommand => {
    if (!('leaf' in write) || write.leaf === undefined) return write as SqliteWriteCommand<never>;
    const leaf = leaves[write.leaf];
    if (leaf === undefined) throw new GovernorError('INTERNAL', `a write names leaf slot ${write.leaf} of ${leaves.length}`);
    return { ...write, leaf };
  });
}

/** The reply for a committed batch. */
export function encodeCommitted(id: number, result: SqliteBatchResult): WriterReply {
  const results = result.results.map((r): WireSettled => (r.ok ? r : { ok: false, error: encodeError(r.error) }));
  return { type: 'committed', id, results, tree: result.tree };
}

/** The batch result a `committed` reply carries. */
export function decodeCommitted(reply: Extract<WriterReply, { type: 'committed' }>): SqliteBatchResult {
  const results = reply.results.map((r): Settled<unknown> => (r.ok ? r : { ok: false, error: decodeError(r.error) }));
  return { results, tree: reply.tree };
}

const MAX_CAUSE_DEPTH = 4;

/** `err` in wire form, with its chain of causes (a few deep). */
export function encodeError(err: unknown, depth = 0): WireError {
  if (!(err instanceof Error)) return { kind: 'value', text: String(err) };
  const cause = err.cause === undefined || depth >= MAX_CAUSE_DEPTH ? undefined : encodeError(err.cause, depth + 1);
  if (isGovernorError(err)) {
    return { kind: 'governor', code: err.code, message: err.message, details: cloneable(err.details), stack: err.stack, cause };
  }
  const code = (err as { code?: unknown }).code;
  return { kind: 'error', name: err.name, message: err.message, code: typeof code === 'string' ? code : undefined, stack: err.stack, cause };
}

/** The error `wire` describes: a GovernorError with its code, or an Error with the driver's `code`. */
export function decodeError(wire: WireError): Error {
  if (wire.kind === 'value') return new Error(wire.text);
  const cause = wire.cause === undefined ? undefined : decodeError(wire.cause);
  let error: Error;
  if (wire.kind === 'governor') {
    error = new GovernorError(wire.code, wire.message, {
      ...(cause === undefined ? {} : { cause }),
      ...(wire.details === undefined ? {} : { details: wire.details }),
    });
  } else {
    error = new Error(wire.message, cause === undefined ? undefined : { cause });
    error.name = wire.name;
    if (wire.code !== undefined) Object.assign(error, { code: wire.code });
  }
  if (wire.stack !== undefined) error.stack = wire.stack;
  return error;
}

/** Details as JSON data: what structured clone is sure to copy. */
function cloneable(details: unknown): unknown {
  if (details === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(details)) as unknown;
  } catch {
    return undefined;
  }
}

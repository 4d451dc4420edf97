import { GroupCommitter, type BatchInfo, type Settled } from '../group-commit.js';
import { NO_BATCH_LOG, type BatchLog, type LeafBatch, type TreeState } from '../leaf-batch.js';
import { auditUnavailable, storeClosed, storeUnavailable } from '../store-error.js';

/** A query result, as much of pg's `QueryResult` as the store reads. */
export interface PostgresResult {
  readonly rows: unknown[];
  readonly rowCount: number | null;
}

/** Anything that runs a parameterized query (pg `Pool`, `PoolClient`, `Client`). */
export interface PostgresQueryable {
  query(text: string, values?: unknown[]): Promise<PostgresResult>;
}

/** The subset of pg's `PoolClient` the store uses. */
export interface PostgresPoolClient extends PostgresQueryable {
  release(err?: Error | boolean): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
}

/**
 * The subset of pg's `Pool` the store uses. Declared here, not imported, so only
 * the factory depends on the driver (Kysely's `PostgresPool`).
 */
export interface PostgresPool extends PostgresQueryable {
  connect(): Promise<PostgresPoolClient>;
  end(): Promise<void>;
}

/**
 * A kind of write. Writes of the same kind that are adjacent in a batch are
 * handed over together, so a kind can write them in one statement (a multi-row
 * INSERT); it returns one result per item, in order. It runs inside the batch
 * transaction and must throw on a database error, so the batch can isolate it.
 */
export interface PostgresWriteKind<I, R> {
  readonly name: string;
  /**
   * True when `item` may append an audit leaf: its batch locks the log's head
   * before its first write, and the item rejects with AUDIT_UNAVAILABLE when
   * the batch fails.
   */
  readonly audited?: (item: I) => boolean;
  /** `log` hands out leaf indices; it is open only in a batch holding an audited item. */
  write(client: PostgresQueryable, items: readonly I[], log: BatchLog): Promise<readonly Settled<R>[]>;
}

/**
 * The audit log's part in a batch transaction (`PostgresAuditLog`): opened
 * after BEGIN when the batch holds an audited write, persisted after its last
 * write and before COMMIT, told how the attempt ended.
 */
export interface PostgresBatchLog {
  /** Locks the head (every replica's writers queue on it) and reads the frontier it needs. */
  open(client: PostgresQueryable): Promise<LeafBatch>;
  /** Writes the leaves taken, the subtrees they complete and the new head; returns the tree after them. */
  persist(client: PostgresQueryable, batch: LeafBatch): Promise<TreeState>;
  /** The attempt committed with the log at `tree`. */
  committed(tree: TreeState): void;
  /** The attempt failed (or its COMMIT has an unknown outcome). */
  abandoned(): void;
}

/** Batching limits of the write path, and the audit log taking part in batches. */
export interface PostgresConnectionOptions {
  readonly maxBatchSize?: number;
  readonly maxPendingWrites?: number;
  readonly onBatch?: (info: BatchInfo) => void;
  readonly log?: PostgresBatchLog;
}

interface QueuedWrite {
  readonly kind: PostgresWriteKind<unknown, unknown>;
  readonly item: unknown;
  readonly audited: boolean;
}

/** Where in the batch transaction an attempt failed. */
type AttemptStage = 'writes' | 'log' | 'commit';

/** A failed attempt at a batch, and where it failed (during COMMIT: outcome unknown). */
class AttemptError extends Error {
  constructor(
    readonly failure: unknown,
    readonly stage: AttemptStage,
  ) {
    super('batch attempt failed', { cause: failure });
  }
}

/**
 * A pg pool shared by every repository: reads go to the pool, writes are
 * group-committed, one `BEGIN … COMMIT` on one pooled connection per batch.
 *
 * Failure handling, all bounded by the pool's connection and query timeouts:
 * a connection lost before COMMIT was sent retries the batch once on a fresh
 * connection (nothing was committed, so this is safe); a data error (a value
 * PostgreSQL refuses, such as a NUL character) re-runs the batch with one
 * savepoint per write so only the offending write fails; anything else, and a
 * failure during COMMIT, rejects the whole batch with STORE_UNAVAILABLE.
 *
 * A batch holding writes that append audit leaves locks the log's head right
 * after BEGIN (always the first lock it takes, so it cannot deadlock on it),
 * and writes the leaves and their subtrees after its last write, in the same
 * transaction: if they cannot be written nothing of the batch is, and its
 * audited writes reject with AUDIT_UNAVAILABLE.
 */
export class PostgresConnection {
  readonly #pool: PostgresPool;
  readonly #committer: GroupCommitter<QueuedWrite, unknown>;
  readonly #log: PostgresBatchLog | undefined;
  #closing: Promise<void> | undefined;

  constructor(pool: PostgresPool, options: PostgresConnectionOptions = {}) {
    this.#pool = pool;
    this.#log = options.log;
    this.#committer = new GroupCommitter<QueuedWrite, unknown>({
      commit: (batch) => this.#commitBatch(batch),
      failure: (write, error) => (write.audited ? auditUnavailable(error) : error),
      ...(options.maxBatchSize === undefined ? {} : { maxBatchSize: options.maxBatchSize }),
      ...(options.maxPendingWrites === undefined ? {} : { maxPending: options.maxPendingWrites }),
      ...(options.onBatch === undefined ? {} : { onBatch: options.onBatch }),
    });
  }

  /** Runs a read on any pooled connection; rejects with STORE_UNAVAILABLE on failure or when closed. */
  async query(text: string, values?: unknown[]): Promise<PostgresResult> {
    if (this.#closing !== undefined) throw storeClosed();
    try {
      return await this.#pool.query(text, values);
    } catch (err) {
      throw storeUnavailable('PostgreSQL query failed', err);
    }
  }

  /** Queues a write; resolves once the batch holding it committed durably. */
  write<I, R>(kind: PostgresWriteKind<I, R>, item: I): Promise<R> {
    if (this.#closing !== undefined) return Promise.reject(storeClosed());
    const audited = kind.audited?.(item) === true;
    return this.#committer.enqueue({ kind: kind as PostgresWriteKind<unknown, unknown>, item, audited }) as Promise<R>;
  }

  /** Flushes queued writes, then ends the pool. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#committer
      .close()
      .then(() => this.#pool.end())
      .catch((err: unknown) => {
        throw storeUnavailable('closing the PostgreSQL pool failed', err);
      });
    return this.#closing;
  }

  async #commitBatch(batch: readonly QueuedWrite[]): Promise<readonly Settled<unknown>[]> {
    let isolate = false;
    let retried = false;
    for (;;) {
      try {
        return await this.#attempt(batch, isolate);
      } catch (err) {
        if (!(err instanceof AttemptError)) throw err;
        const { failure, stage } = err;
        if (stage === 'writes' && !isolate && isDataError(failure)) {
          if (batch.length === 1) {
            return [{ ok: false, error: storeUnavailable('PostgreSQL refused the write', failure) }];
          }
          isolate = true;
          continue;
        }
        if (stage !== 'commit' && !retried && isConnectionLoss(failure)) {
          retried = true;
          continue;
        }
        const what =
          stage === 'commit' ? 'COMMIT failed, outcome unknown' : stage === 'log' ? 'writing the audit log failed' : 'PostgreSQL write failed';
        throw storeUnavailable(what, failure);
      }
    }
  }

  async #attempt(batch: readonly QueuedWrite[], isolate: boolean): Promise<readonly Settled<unknown>[]> {
    const client = await this.#pool.connect();
    let failure: unknown;
    // A checked-out pg client with no 'error' listener crashes the process when
    // its connection drops between queries.
    const onError = (err: Error): void => {
      failure ??= err;
    };
    client.on('error', onError);
    const batchLog = this.#log;
    let leaves: LeafBatch | undefined;
    let stage: AttemptStage = 'writes';
    try {
      await client.query('BEGIN');
      if (batchLog !== undefined && batch.some((w) => w.audited)) {
        stage = 'log';
        leaves = await batchLog.open(client);
        stage = 'writes';
      }
      const results = isolate
        ? await writeIsolated(client, batch, leaves)
        : await writeRuns(client, batch, leaves ?? NO_BATCH_LOG);
      let tree: TreeState | undefined;
      if (leaves !== undefined && batchLog !== undefined) {
        stage = 'log';
        tree = leaves.length === 0 ? leaves.base : await batchLog.persist(client, leaves);
      }
      stage = 'commit';
      await client.query('COMMIT');
      if (tree !== undefined) batchLog?.committed(tree);
      return results;
    } catch (err) {
      failure ??= err;
      if (leaves !== undefined) batchLog?.abandoned();
      if (stage !== 'commit') {
        await client.query('ROLLBACK').catch(() => undefined);
      }
      throw new AttemptError(failure, stage);
    } finally {
      client.off('error', onError);
      // A connection that saw any failure is not trusted again.
      client.release(failure === undefined ? undefined : failure instanceof Error ? failure : true);
    }
  }
}

async function writeRuns(client: PostgresQueryable, batch: readonly QueuedWrite[], log: BatchLog): Promise<Settled<unknown>[]> {
  const results: Settled<unknown>[] = [];
  let start = 0;
  while (start < batch.length) {
    const kind = (batch[start] as QueuedWrite).kind;
    let end = start + 1;
    while (end < batch.length && (batch[end] as QueuedWrite).kind === kind) end++;
    const items = batch.slice(start, end).map((w) => w.item);
    const settled = await kind.write(client, items, log);
    if (settled.length !== items.length) {
      throw new Error(`write kind ${kind.name} returned ${settled.length} results for ${items.length} writes`);
    }
    results.push(...settled);
    start = end;
  }
  return results;
}

async function writeIsolated(
  client: PostgresQueryable,
  batch: readonly QueuedWrite[],
  leaves: LeafBatch | undefined,
): Promise<Settled<unknown>[]> {
  const results: Settled<unknown>[] = [];
  for (const { kind, item } of batch) {
    const taken = leaves?.length ?? 0;
    await client.query('SAVEPOINT governor_write');
    try {
      const [settled] = await kind.write(client, [item], leaves ?? NO_BATCH_LOG);
      if (settled === undefined) throw new Error(`write kind ${kind.name} returned no result`);
      await client.query('RELEASE SAVEPOINT governor_write');
      results.push(settled);
    } catch (err) {
      if (!isDataError(err)) throw err;
      leaves?.truncate(taken);
      await client.query('ROLLBACK TO SAVEPOINT governor_write');
      await client.query('RELEASE SAVEPOINT governor_write');
      results.push({ ok: false, error: storeUnavailable('PostgreSQL refused the write', err) });
    }
  }
  return results;
}

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * A value PostgreSQL refuses for this write alone: data exceptions (22: NUL
 * characters, invalid JSON escapes, bad encodings), integrity violations (23)
 * and program limits (54: a value too large).
 */
function isDataError(err: unknown): boolean {
  const state = sqlState(err);
  return state !== undefined && (state.startsWith('22') || state.startsWith('23') || state.startsWith('54'));
}

/**
 * The connection, not the statement, failed: a socket error, a server-side
 * termination (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect
 * now) or a connection exception (08).
 */
function isConnectionLoss(err: unknown): boolean {
  const state = sqlState(err);
  if (state !== undefined) return state.startsWith('08') || state === '57P01' || state === '57P02' || state === '57P03';
  const message = err instanceof Error ? err.message : '';
  const code = (err as { code?: unknown } | null)?.code;
  return (
    /Connection terminated|not queryable|ECONNRESET|EPIPE/i.test(message) ||
    code === 'ECONNRESET' ||
    code === 'EPIPE'
  );
}

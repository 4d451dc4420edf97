import { GovernorError } from '../core/errors.js';
import { storeUnavailable } from './store-error.js';

/** The per-item result of a committed batch: a value, or an error for that item alone. */
export type Settled<R> = { readonly ok: true; readonly value: R } | { readonly ok: false; readonly error: unknown };

/** What one flush wrote; for metrics and tests. */
export interface BatchInfo {
  /** Items in the batch. */
  readonly size: number;
  /** True when the transaction committed. */
  readonly committed: boolean;
  readonly durationMs: number;
}

/** Configuration of a `GroupCommitter`. */
export interface GroupCommitOptions<T, R> {
  /**
   * Writes `batch` in one transaction and returns one result per item, in order.
   * Must resolve only once the transaction is durable and throw when it is not;
   * an item that fails on its own (a conflict, a value the engine refuses) is an
   * `{ ok: false }` result and does not fail the others.
   */
  readonly commit: (batch: readonly T[]) => Promise<readonly Settled<R>[]> | readonly Settled<R>[];
  /** Most items written in one transaction. Default 512. */
  readonly maxBatchSize?: number;
  /** High-water mark: items waiting beyond this are refused with STORE_UNAVAILABLE. Default 8192. */
  readonly maxPending?: number;
  /** Called after every flush, committed or not. Must not throw. */
  readonly onBatch?: (info: BatchInfo) => void;
  /**
   * The error the write `item` rejects with when its batch failed, given the
   * STORE_UNAVAILABLE error of the batch (the default), e.g. AUDIT_UNAVAILABLE
   * for a write that carried an audit leaf. Must not throw.
   */
  readonly failure?: (item: T, error: GovernorError) => unknown;
}

interface Waiter<T, R> {
  readonly item: T;
  readonly resolve: (value: R) => void;
  readonly reject: (error: unknown) => void;
}

const DEFAULT_MAX_BATCH_SIZE = 512;
const DEFAULT_MAX_PENDING = 8192;

/**
 * Group commit: callers enqueue writes and get a promise; everything enqueued in
 * the same event-loop turn, or while a flush is in progress, is written in one
 * transaction by the next flush. At most one flush runs at a time, so the cost of
 * a durable commit (one fsync) is shared by every write in the batch.
 *
 * Guarantees: a promise resolves only after the transaction holding its item
 * committed; it rejects with STORE_UNAVAILABLE when that transaction failed
 * (or with what `failure` maps that to), when the queue is over its
 * high-water mark, or when the committer is closed.
 */
export class GroupCommitter<T, R> {
  readonly #commit: GroupCommitOptions<T, R>['commit'];
  readonly #maxBatchSize: number;
  readonly #maxPending: number;
  readonly #onBatch: ((info: BatchInfo) => void) | undefined;
  readonly #failure: ((item: T, error: GovernorError) => unknown) | undefined;
  #queue: Waiter<T, R>[] = [];
  #flushing = false;
  #scheduled = false;
  #closed = false;
  #idle: (() => void)[] = [];

  constructor(options: GroupCommitOptions<T, R>) {
    const maxBatchSize = options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
    const maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
      throw new GovernorError('CONFIG_INVALID', `maxBatchSize must be a positive integer, got ${String(maxBatchSize)}`);
    }
    if (!Number.isInteger(maxPending) || maxPending < 1) {
      throw new GovernorError('CONFIG_INVALID', `maxPending must be a positive integer, got ${String(maxPending)}`);
    }
    this.#commit = options.commit;
    this.#maxBatchSize = maxBatchSize;
    this.#maxPending = maxPending;
    this.#onBatch = options.onBatch;
    this.#failure = options.failure;
  }

  /** Items waiting for a flush (not counting the batch being written). */
  get pending(): number {
    return this.#queue.length;
  }

  /** Queues `item` for the next batch; resolves once that batch committed. */
  enqueue(item: T): Promise<R> {
    if (this.#closed) {
      return Promise.reject(new GovernorError('STORE_UNAVAILABLE', 'the store is closed'));
    }
    if (this.#queue.length >= this.#maxPending) {
      return Promise.reject(
        new GovernorError('STORE_UNAVAILABLE', `the store is overloaded: ${this.#queue.length} writes are waiting`),
      );
    }
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  /** Resolves when every item enqueued so far has been written (or has failed). */
  flush(): Promise<void> {
    if (!this.#flushing && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Refuses new items and resolves once the queued ones are written. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    return this.flush();
  }

  #schedule(): void {
    if (this.#scheduled || this.#flushing) return;
    this.#scheduled = true;
    // setImmediate, not a microtask: requests whose I/O completed in the same
    // loop turn all reach enqueue() before the batch is cut.
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    if (this.#flushing) return;
    const batch = this.#queue.splice(0, this.#maxBatchSize);
    if (batch.length === 0) {
      this.#settleIdle();
      return;
    }
    this.#flushing = true;
    const started = performance.now();
    let committed = false;
    try {
      let results: readonly Settled<R>[];
      try {
        results = await this.#commit(batch.map((w) => w.item));
        if (results.length !== batch.length) {
          throw new Error(`commit returned ${results.length} results for ${batch.length} writes`);
        }
      } catch (err) {
        const error = storeUnavailable(`the write did not become durable (batch of ${batch.length})`, err);
        for (const w of batch) w.reject(this.#failure === undefined ? error : this.#failure(w.item, error));
        return;
      }
      committed = true;
      batch.forEach((w, i) => {
        const result = results[i];
        if (result === undefined) w.reject(new GovernorError('INTERNAL', 'the batch commit returned no result for this write'));
        else if (result.ok) w.resolve(result.value);
        else w.reject(result.error);
      });
    } finally {
      this.#flushing = false;
      try {
        this.#onBatch?.({ size: batch.length, committed, durationMs: performance.now() - started });
      } catch {
        // A metrics hook must not break the write path.
      }
      if (this.#queue.length > 0) this.#schedule();
      else this.#settleIdle();
    }
  }

  #settleIdle(): void {
    if (this.#flushing || this.#queue.length > 0 || this.#scheduled) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }
}

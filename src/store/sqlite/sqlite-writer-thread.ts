import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { GovernorError } from '../../core/errors.js';
import { storeClosed, storeUnavailable } from '../store-error.js';
import type { SqliteBatchResult, SqliteBatchWriter, SqliteWriteCommand } from './sqlite-writer.js';
import {
  decodeCommitted,
  decodeError,
  encodeBatch,
  type WriterReply,
  type WriterRequest,
  type WriterThreadConfig,
} from './sqlite-writer-message.js';

/**
 * Writes batches on a worker thread (`sqlite-writer.worker`) with its own
 * connection, so a batch's SQLite work and its fsync run beside the request
 * thread instead of stopping it. One message per batch carries its writes as
 * data and its leaves in one transferred buffer; the reply, posted after
 * COMMIT returned, carries one result per write.
 *
 * Failure: when the thread dies (an uncaught error, a failed clone, being
 * terminated) every batch it holds rejects with STORE_UNAVAILABLE, whether or
 * not its COMMIT happened: a write is reported durable only on a reply sent
 * after COMMIT. The next batch starts a new thread (which reads the audit
 * tree afresh); if that cannot open the database, that batch rejects, and the
 * one after tries again.
 */
export class SqliteWriterThread implements SqliteBatchWriter {
  readonly #config: WriterThreadConfig;
  #current: WriterWorker | undefined;
  #starting: Promise<WriterWorker> | undefined;
  #closing: Promise<void> | undefined;

  private constructor(config: WriterThreadConfig) {
    this.#config = config;
  }

  /**
   * Starts the writer thread on the database at `config.path`, which must
   * exist with a current schema; `ready` tells when it opened it.
   */
  static start(config: WriterThreadConfig): SqliteWriterThread {
    const thread = new SqliteWriterThread(Object.freeze({ path: config.path, busyTimeoutMs: config.busyTimeoutMs }));
    void thread.#worker().catch(() => {
      // Reported by `ready`, or by the first batch.
    });
    return thread;
  }

  /** Resolves once the thread opened the database; rejects with STORE_UNAVAILABLE when it cannot. */
  async ready(): Promise<void> {
    await this.#worker();
  }

  async commit(batch: readonly SqliteWriteCommand[]): Promise<SqliteBatchResult> {
    if (this.#closing !== undefined) throw storeClosed();
    return (await this.#worker()).commit(batch);
  }

  /** Lets the thread finish what it was sent, close its connection and exit. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const worker = this.#current ?? (await this.#starting?.catch(() => undefined));
      await worker?.close();
    })();
    return this.#closing;
  }

  /** The running thread, or a new one when there is none or it stopped. */
  #worker(): Promise<WriterWorker> {
    const current = this.#current;
    if (current !== undefined && !current.stopped) return Promise.resolve(current);
    this.#starting ??= WriterWorker.start(this.#config).then(
      (worker) => {
        this.#current = worker;
        this.#starting = undefined;
        return worker;
      },
      (err: unknown) => {
        this.#starting = undefined;
        throw err;
      },
    );
    return this.#starting;
  }
}

interface Pending<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
}

/** One worker thread and the batches it holds. Once stopped it stays stopped. */
class WriterWorker {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending<SqliteBatchResult>>();
  readonly #exited: Promise<void>;
  #ready: Pending<void> | undefined;
  #stopped: GovernorError | undefined;
  #nextId = 0;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (reply: WriterReply) => this.#receive(reply));
    worker.on('error', (err) => this.#stop('the SQLite writer thread failed', err));
    worker.on('messageerror', (err) => {
      this.#stop('a reply of the SQLite writer thread could not be read', err);
      void worker.terminate();
    });
    this.#exited = new Promise((resolve) => {
      worker.once('exit', (code) => {
        this.#stop('the SQLite writer thread stopped', new Error(`the thread exited with code ${code}`));
        resolve();
      });
    });
  }

  /** Starts a thread; resolves once it opened the database. */
  static start(config: WriterThreadConfig): Promise<WriterWorker> {
    const worker = new WriterWorker(new Worker(workerEntry(), { workerData: config }));
    return new Promise((resolve, reject) => {
      worker.#ready = { resolve: () => resolve(worker), reject };
    });
  }

  /** True once the thread died or was closed: it takes no more batches. */
  get stopped(): boolean {
    return this.#stopped !== undefined;
  }

  commit(batch: readonly SqliteWriteCommand[]): Promise<SqliteBatchResult> {
    if (this.#stopped !== undefined) return Promise.reject(this.#stopped);
    const id = ++this.#nextId;
    const { message, transfer } = encodeBatch(id, batch);
    return new Promise<SqliteBatchResult>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      // Keep the process alive while a batch is out, not while the thread idles.
      if (this.#pending.size === 1) this.#worker.ref();
      try {
        this.#worker.postMessage(message, transfer);
      } catch (err) {
        this.#take(id)?.reject(err);
      }
    });
  }

  close(): Promise<void> {
    if (this.#stopped === undefined) {
      this.#worker.ref();
      this.#worker.postMessage({ type: 'close' } satisfies WriterRequest);
    }
    return this.#exited;
  }

  #receive(reply: WriterReply): void {
    switch (reply.type) {
      case 'ready':
        if (this.#pending.size === 0) this.#worker.unref();
        this.#ready?.resolve();
        this.#ready = undefined;
        return;
      case 'start-failed':
        this.#stop('the SQLite writer thread cannot open the database', decodeError(reply.error));
        return;
      case 'committed':
        this.#take(reply.id)?.resolve(decodeCommitted(reply));
        return;
      case 'batch-failed':
        this.#take(reply.id)?.reject(decodeError(reply.error));
        return;
    }
  }

  #take(id: number): Pending<SqliteBatchResult> | undefined {
    const pending = this.#pending.get(id);
    this.#pending.delete(id);
    if (this.#pending.size === 0 && this.#stopped === undefined) this.#worker.unref();
    return pending;
  }

  /** Fails everything the thread holds; the first cause is the one reported. */
  #stop(message: string, cause: unknown): void {
    if (this.#stopped !== undefined) return;
    const error = storeUnavailable(message, cause);
    this.#stopped = error;
    this.#ready?.reject(error);
    this.#ready = undefined;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

/**
 * The writer thread's module, beside this one: compiled JavaScript in dist/;
 * TypeScript when running from src/ (vitest, tsx), loaded through tsx, which
 * a small bootstrap registers in the thread first (on Node 20, neither
 * `--import tsx` in a worker's execArgv nor tsx's own entry registers its hooks
 * in a worker). tsx is resolved from here, whatever the working directory.
 */
function workerEntry(): URL {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new URL('./sqlite-writer.worker.js', here);
  // tsx/esm/api's "import" entry: require.resolve finds its "require" twin
  // (index.cjs), whose register() resolves its hooks wrongly from ESM.
  const api = pathToFileURL(createRequire(here).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const entry = new URL('./sqlite-writer.worker.ts', here).href;
  const bootstrap = `import { register } from ${JSON.stringify(api)};\nregister();\nawait import(${JSON.stringify(entry)});\n`;
  return new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`);
}

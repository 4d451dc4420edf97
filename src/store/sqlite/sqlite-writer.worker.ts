import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { nodeAuditCrypto } from '../../audit/node-crypto.js';
import { openSqliteDatabase } from './open-sqlite-database.js';
import type { SqliteDatabase } from './sqlite-connection.js';
import { SqliteWriter } from './sqlite-writer.js';
import {
  decodeBatch,
  encodeCommitted,
  encodeError,
  type WriterReply,
  type WriterRequest,
  type WriterThreadConfig,
} from './sqlite-writer-message.js';

/*
 * The writer thread (`SqliteWriterThread` starts it): its own connection to
 * the store's database, a `SqliteWriter` on it, one batch transaction per
 * message, in the order they arrive. Every reply is posted after COMMIT (or
 * ROLLBACK) returned. It exits when asked to close, or when it cannot open the
 * database.
 */

function serve(port: MessagePort, config: WriterThreadConfig): void {
  const opened = open(config);
  if (!opened.ok) {
    post(port, { type: 'start-failed', error: encodeError(opened.error) });
    port.close();
    return;
  }
  const { db, writer } = opened;
  port.on('message', (request: WriterRequest) => {
    if (request.type === 'close') {
      try {
        db.close();
      } finally {
        port.close();
      }
      return;
    }
    let reply: WriterReply;
    try {
      reply = encodeCommitted(request.id, writer.commit(decodeBatch(request)));
    } catch (err) {
      reply = { type: 'batch-failed', id: request.id, error: encodeError(err) };
    }
    try {
      port.postMessage(reply);
    } catch (err) {
      // A result that cannot be cloned: the batch committed, but the request
      // thread cannot be told what it returned, so its writes fail (a write
      // is never reported durable without its result).
      post(port, { type: 'batch-failed', id: request.id, error: encodeError(err) });
    }
  });
  post(port, { type: 'ready' });
}

/** The writer's connection: the request thread created and migrated the file before starting us. */
function open(
  config: WriterThreadConfig,
): { readonly ok: true; readonly db: SqliteDatabase; readonly writer: SqliteWriter } | { readonly ok: false; readonly error: unknown } {
  let db: SqliteDatabase | undefined;
  try {
    db = openSqliteDatabase(config.path, { readonly: false, mustExist: true, busyTimeoutMs: config.busyTimeoutMs });
    return { ok: true, db, writer: SqliteWriter.open(db, nodeAuditCrypto) };
  } catch (error) {
    try {
      db?.close();
    } catch {
      // The open error is the one to report.
    }
    return { ok: false, error };
  }
}

function post(port: MessagePort, reply: WriterReply): void {
  port.postMessage(reply);
}

if (parentPort === null) throw new Error('sqlite-writer.worker runs as a worker thread (see SqliteWriterThread)');
serve(parentPort, workerData as WriterThreadConfig);

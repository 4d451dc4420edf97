import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Witness, WitnessRefusal } from './witness.js';

/** What the witness HTTP adapter is wired to. */
export interface WitnessServerOptions {
  readonly witness: Witness;
  /** Largest request body, bytes. Default 64 KiB (a checkpoint and 63 proof hashes need about 3 KiB). */
  readonly bodyLimit?: number;
  readonly logger?: boolean | { level: string };
}

/** The tlog-witness status of each refusal. */
export const WITNESS_HTTP_STATUS: Readonly<Record<WitnessRefusal, number>> = {
  malformed: 400,
  'unknown-log': 404,
  unverified: 403,
  conflict: 409,
  inconsistent: 422,
};

/**
 * The C2SP tlog-witness HTTP interface (https://c2sp.org/tlog-witness):
 * `POST /add-checkpoint` answers 200 with the cosignature line(s) as
 * `text/plain`, or the protocol's status with a one-line reason; a 409 carries
 * the last cosigned size as `text/x.tlog.size`. `GET /healthz` names the
 * witness and its logs. There is no authentication: the log's signature on the
 * checkpoint is the credential.
 */
export function createWitnessServer(options: WitnessServerOptions): FastifyInstance {
  const bodyLimit = options.bodyLimit ?? 64 * 1024;
  const { witness } = options;
  const app = Fastify({
    bodyLimit,
    logger: options.logger ?? false,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    requestIdHeader: false,
    genReqId: () => crypto.randomUUID(),
  });
  // The protocol fixes the body format, not its Content-Type: take any (or none) as bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, request, reply) => {
    const text = (status: number, message: string) => reply.status(status).type('text/plain; charset=utf-8').send(message + '\n');
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return text(413, `request body is larger than ${bodyLimit} bytes`);
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) return text(err.statusCode, err.message);
    request.log.error({ err }, 'add-checkpoint failed');
    return text(500, `internal error (request ${request.id})`);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).type('text/plain; charset=utf-8').send(`no route ${request.method} ${request.url.split('?')[0]}\n`),
  );

  app.post('/add-checkpoint', async (request, reply) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const result = await witness.addCheckpoint(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    if (result.ok) {
      request.log.info({ origin: result.checkpoint.origin, size: result.checkpoint.size }, 'cosigned');
      return reply.status(200).type('text/plain; charset=utf-8').send(result.cosignatures);
    }
    const status = WITNESS_HTTP_STATUS[result.refusal];
    request.log.warn({ refusal: result.refusal, reason: result.message }, 'checkpoint refused');
    if (result.refusal === 'conflict' && result.size !== undefined) {
      return reply.status(status).type('text/x.tlog.size').send(`${result.size}\n`);
    }
    return reply.status(status).type('text/plain; charset=utf-8').send(result.message + '\n');
  });

  app.get('/healthz', async () => ({ ok: true, witness: witness.name, logs: witness.origins }));
  return app;
}

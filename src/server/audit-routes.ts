import type { FastifyInstance, onRequestAsyncHookHandler } from 'fastify';
import type { AuditLog } from '../audit/audit-log.js';
import { GovernorError } from '../core/errors.js';

/** Largest page of `GET /v1/audit/entries`. */
export const MAX_ENTRIES_PAGE = 1000;

const count = { type: 'string', pattern: '^(0|[1-9][0-9]{0,15})$' } as const;
const query = (...names: string[]) => ({ type: 'object', additionalProperties: false, required: names, properties: Object.fromEntries(names.map((n) => [n, count])) });
const num = (s: string, name: string) => {
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new GovernorError('BAD_REQUEST', `${name} is too large`);
  return n;
};
const base64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/**
 * The transparency-log API for outside verifiers (docs/audit.md): checkpoints,
 * entries and proofs. Reading needs any valid credential; signing on demand
 * needs an operator.
 */
export function registerAuditRoutes(app: FastifyInstance, audit: AuditLog, guards: { reader: onRequestAsyncHookHandler; operator: onRequestAsyncHookHandler }): void {
  app.get('/v1/audit/checkpoint', { onRequest: guards.reader }, async (_request, reply) => {
    const checkpoint = await audit.latest();
    return reply.type('text/plain; charset=utf-8').send(checkpoint.note);
  });

  app.post('/v1/audit/checkpoint', { onRequest: guards.operator }, async (_request, reply) => {
    const checkpoint = await audit.checkpoint();
    return reply.type('text/plain; charset=utf-8').send(checkpoint.note);
  });

  app.get<{ Querystring: { start: string; end: string } }>('/v1/audit/entries', { schema: { querystring: query('start', 'end') }, onRequest: guards.reader }, async (request) => {
    const start = num(request.query.start, 'start');
    const end = num(request.query.end, 'end');
    if (end <= start) throw new GovernorError('BAD_REQUEST', `end (${end}) must be greater than start (${start})`);
    const leaves = await audit.entries(start, Math.min(end, start + MAX_ENTRIES_PAGE));
    return { entries: leaves.map((l) => ({ index: l.index, leaf: base64(l.bytes) })) };
  });

  app.get<{ Querystring: { index: string; size: string } }>('/v1/audit/proofs/inclusion', { schema: { querystring: query('index', 'size') }, onRequest: guards.reader }, async (request) => {
    const index = num(request.query.index, 'index');
    const size = num(request.query.size, 'size');
    if (index >= size) throw new GovernorError('BAD_REQUEST', `index (${index}) must be below size (${size})`);
    const hashes = await audit.inclusionProof(index, size);
    return { index, size, hashes: hashes.map(base64) };
  });

  app.get<{ Querystring: { from: string; to: string } }>('/v1/audit/proofs/consistency', { schema: { querystring: query('from', 'to') }, onRequest: guards.reader }, async (request) => {
    const from = num(request.query.from, 'from');
    const to = num(request.query.to, 'to');
    if (from < 1 || from > to) throw new GovernorError('BAD_REQUEST', `need 1 <= from <= to, got from=${from} to=${to}`);
    const hashes = await audit.consistencyProof(from, to);
    return { from, to, hashes: hashes.map(base64) };
  });

  app.get<{ Querystring: { index: string } }>('/v1/audit/proof', { schema: { querystring: query('index') }, onRequest: guards.reader }, async (request, reply) => {
    const proof = await audit.tlogProof(num(request.query.index, 'index'));
    return reply.type('text/plain; charset=utf-8').send(proof);
  });
}

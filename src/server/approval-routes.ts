import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { ServerResponse } from 'node:http';
import { GovernorError } from '../core/errors.js';
import type { DecisionState, Operator } from '../core/types.js';
import type { ApprovalEvent, ApprovalEvents } from '../approvals/approval-events.js';
import type { ApprovalService, Ballot } from '../approvals/approval-service.js';
import type { BreakGlassScope, BreakGlassService } from '../approvals/break-glass.js';
import { parseDuration } from '../identity/parse-duration.js';
import { idParamSchema } from '../decisions/schemas.js';

/** Most operator event streams open at once. */
export const MAX_STREAMS = 100;
/** Comment line sent on idle streams so proxies keep them open, ms. */
const HEARTBEAT_MS = 15_000;
/** Most buffered bytes of a slow stream before it is closed. */
const MAX_STREAM_BUFFER = 1024 * 1024;

const identifier = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@-]+$' } as const;
const digest = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
const reason = { type: 'string', minLength: 1, maxLength: 1024 } as const;

const voteSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['vote', 'reason', 'actionDigest', 'policyDigest'],
  properties: {
    vote: { type: 'string', enum: ['approve', 'deny'] },
    reason,
    actionDigest: digest,
    policyDigest: digest,
    acknowledgeIrreversible: { type: 'boolean' },
  },
} as const;

const breakGlassSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['scope', 'ttl', 'reason'],
  properties: {
    scope: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: { environment: identifier, agent: identifier, tool: identifier, target: identifier },
    },
    ttl: { anyOf: [{ type: 'string', maxLength: 32 }, { type: 'integer', minimum: 1 }] },
    reason,
  },
} as const;

const STATES = ['pending', 'approved', 'rejected', 'expired', 'cancelled'] as const;

/**
 * Human oversight over HTTP: held actions and their votes, the operators'
 * event stream, and break-glass overrides. Every route takes operator
 * (human) credentials only: an agent credential never votes.
 */
export function registerApprovalRoutes(
  app: FastifyInstance,
  services: { readonly approvals: ApprovalService; readonly breakGlass: BreakGlassService; readonly events: ApprovalEvents },
  guards: { readonly operator: onRequestAsyncHookHandler },
): void {
  const { approvals, breakGlass, events } = services;
  const operatorOf = (request: FastifyRequest): Operator => request.operator as Operator;

  app.get<{ Querystring: { state?: (typeof STATES)[number]; limit?: string } }>(
    '/v1/approvals',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { state: { type: 'string', enum: STATES }, limit: { type: 'string', pattern: '^([1-9][0-9]{0,2}|1000)$' } },
        },
      },
      onRequest: guards.operator,
    },
    async (request) => ({ approvals: await approvals.list({ state: (request.query.state ?? 'pending') as DecisionState, limit: Number(request.query.limit ?? 100) }) }),
  );

  // Registered before /:id so that "stream" is not taken for an id.
  app.get('/v1/approvals/stream', { onRequest: guards.operator }, (request, reply) => {
    if (events.size >= MAX_STREAMS + 1000) throw new GovernorError('RATE_LIMITED', 'too many open streams');
    if (streams.size >= MAX_STREAMS) throw new GovernorError('RATE_LIMITED', `at most ${MAX_STREAMS} approval streams may be open at once`);
    const res = reply.raw;
    reply.hijack();
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const stream = openStream(res, operatorOf(request));
    streams.add(stream);
    const close = () => {
      stream.close();
      streams.delete(stream);
    };
    request.raw.on('close', close);
    res.on('error', close);
  });

  app.get<{ Params: { id: string } }>('/v1/approvals/:id', { schema: { params: idParamSchema }, onRequest: guards.operator }, async (request) => {
    const found = await approvals.get(request.params.id);
    if (!found) throw new GovernorError('NOT_FOUND', `no held action ${request.params.id}`);
    return found;
  });

  app.post<{ Params: { id: string }; Body: Ballot }>(
    '/v1/approvals/:id/votes',
    { schema: { params: idParamSchema, body: voteSchema }, onRequest: guards.operator },
    async (request, reply) => reply.status(201).send(await approvals.vote(operatorOf(request), request.params.id, request.body)),
  );

  app.post<{ Body: { scope: BreakGlassScope; ttl: string | number; reason: string } }>(
    '/v1/break-glass',
    { schema: { body: breakGlassSchema }, onRequest: guards.operator },
    async (request, reply) => {
      const ttl = parseDuration(request.body.ttl);
      if (!ttl.ok) throw new GovernorError('BAD_REQUEST', `ttl: ${ttl.issues.map((i) => i.message).join('; ')}`);
      const session = await breakGlass.open(operatorOf(request), { scope: request.body.scope, ttlSeconds: ttl.value, reason: request.body.reason });
      return reply.status(201).send(session);
    },
  );

  app.get<{ Querystring: { state?: 'open' | 'closed' | 'expired' } }>(
    '/v1/break-glass',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { state: { type: 'string', enum: ['open', 'closed', 'expired'] } } } }, onRequest: guards.operator },
    async (request) => ({ sessions: await breakGlass.list(request.query.state) }),
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/v1/break-glass/:id/close',
    { schema: { params: idParamSchema, body: { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason } } }, onRequest: guards.operator },
    async (request) => breakGlass.close(operatorOf(request), request.params.id, request.body.reason),
  );

  const streams = new Set<{ close(): void }>();
  app.addHook('onClose', async () => {
    for (const stream of streams) stream.close();
    streams.clear();
  });

  /** A server-sent-events stream of held actions, votes, resolutions and overrides. */
  function openStream(res: ServerResponse, operator: Operator): { close(): void } {
    let closed = false;
    const send = (text: string) => {
      if (closed) return;
      // A reader that does not keep up is cut off rather than buffered without bound.
      if (res.writableLength > MAX_STREAM_BUFFER) {
        close();
        return;
      }
      res.write(text);
    };
    const unsubscribe = events.subscribe((event: ApprovalEvent) => {
      const data = event.type === 'break-glass' ? event.session : event.type === 'vote' ? { decisionId: event.decision.id, vote: event.vote } : event.decision;
      const id = event.type === 'break-glass' ? event.session.id : event.decision.id;
      send(`event: ${event.type}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`);
    });
    const heartbeat = setInterval(() => send(': keep-alive\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    send(`retry: 3000\nevent: ready\ndata: ${JSON.stringify({ operator: operator.name })}\n\n`);
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
      res.end();
    };
    return { close };
  }
}

import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { GovernorError } from '../core/errors.js';
import type { Operator, Principal } from '../core/types.js';
import type { AgentCardRequest, AgentRegistry } from '../control/agents.js';
import type { Breakers } from '../control/breakers.js';
import type { GrantScope, Grants } from '../control/grants.js';
import type { KillScope, KillSwitch } from '../control/kill-switch.js';
import { parseDuration } from '../identity/parse-duration.js';
import { idParamSchema } from '../decisions/schemas.js';

const identifier = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@-]+$' } as const;
const reason = { type: 'string', minLength: 1, maxLength: 1024 } as const;
const reasonBody = { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason } } as const;
const idList = { type: 'array', maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@*-]+$' } } as const;

const killSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['scope', 'reason'],
  properties: {
    scope: {
      type: 'object',
      additionalProperties: false,
      required: ['kind'],
      properties: { kind: { type: 'string', enum: ['global', 'environment', 'agent', 'role', 'tool', 'session'] }, value: identifier },
    },
    reason,
  },
} as const;

const cardSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'owner', 'purpose'],
  properties: {
    id: identifier,
    owner: { type: 'string', minLength: 1, maxLength: 128 },
    purpose: { type: 'string', minLength: 1, maxLength: 1024 },
    tools: idList,
    dataAccess: idList,
    autonomy: { type: 'string', enum: ['suggest', 'supervised', 'autonomous'] },
    riskTier: { type: 'string', enum: ['low', 'medium', 'high'] },
    trust: { type: 'string', enum: ['new', 'sandbox', 'staging', 'production'] },
  },
} as const;

const grantSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['agent', 'taskId', 'scope', 'ttl', 'maxUses'],
  properties: {
    agent: identifier,
    taskId: identifier,
    scope: { type: 'object', additionalProperties: false, required: ['environments', 'tools'], properties: { environments: idList, tools: idList, targets: idList } },
    ttl: { anyOf: [{ type: 'string', maxLength: 32 }, { type: 'integer', minimum: 1 }] },
    maxUses: { type: 'integer', minimum: 1, maximum: 100000 },
    reason: { type: 'string', maxLength: 1024 },
  },
} as const;

/** Most agent watch streams open at once. */
const MAX_WATCHERS = 10_000;

/**
 * The operators' controls: the kill switch (never gated by policy, only by
 * the operator credential), agent cards and trust, sandbox grants; and the
 * stream through which proxies learn that their agent was killed.
 */
export function registerControlRoutes(
  app: FastifyInstance,
  services: { readonly killSwitch: KillSwitch; readonly agents: AgentRegistry; readonly grants: Grants; readonly breakers: Breakers },
  guards: { readonly agent: onRequestAsyncHookHandler; readonly operator: onRequestAsyncHookHandler; readonly anyone: onRequestAsyncHookHandler },
): void {
  const { killSwitch, agents, grants, breakers } = services;
  const operatorOf = (request: FastifyRequest): Operator => request.operator as Operator;

  app.post<{ Body: { scope: KillScope; reason: string } }>('/v1/kill', { schema: { body: killSchema }, onRequest: guards.operator }, async (request, reply) =>
    reply.status(201).send(await killSwitch.kill(operatorOf(request), request.body)),
  );

  app.get<{ Querystring: { all?: 'true' | 'false' } }>(
    '/v1/kill',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { all: { type: 'string', enum: ['true', 'false'] } } } }, onRequest: guards.operator },
    async (request) => ({ kills: await killSwitch.list(request.query.all === 'true'), freshness: killSwitch.freshness() }),
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>('/v1/kill/:id/lift', { schema: { params: idParamSchema, body: reasonBody }, onRequest: guards.operator }, async (request) =>
    killSwitch.lift(operatorOf(request), request.params.id, request.body.reason),
  );

  app.post<{ Body: AgentCardRequest }>('/v1/agents', { schema: { body: cardSchema }, onRequest: guards.operator }, async (request, reply) =>
    reply.status(201).send(await agents.register(operatorOf(request), request.body)),
  );

  app.get('/v1/agents', { onRequest: guards.operator }, async () => ({ agents: await agents.list() }));

  app.get<{ Params: { id: string } }>('/v1/agents/:id', { schema: { params: idParamSchema }, onRequest: guards.anyone }, async (request) => {
    const id = request.params.id;
    if (request.principal && request.principal.agent !== id) throw new GovernorError('NOT_FOUND', `no agent ${id}`);
    const card = await agents.get(id);
    if (!card) throw new GovernorError('NOT_FOUND', `no agent ${id}`);
    const killed = (await killSwitch.list()).filter((k) => k.scope.kind === 'global' || (k.scope.kind === 'agent' && k.scope.value === id));
    return { card, breaker: breakers.state(id), locked: killed.length > 0, kills: killed, grants: (await grants.list(id)).filter((g) => g.state === 'active') };
  });

  app.post<{ Params: { id: string }; Body: { reason: string } }>('/v1/agents/:id/promote', { schema: { params: idParamSchema, body: reasonBody }, onRequest: guards.operator }, async (request) =>
    agents.promote(operatorOf(request), request.params.id, request.body.reason),
  );

  app.post<{ Body: { agent: string; taskId: string; scope: GrantScope; ttl: string | number; maxUses: number; reason?: string } }>(
    '/v1/grants',
    { schema: { body: grantSchema }, onRequest: guards.operator },
    async (request, reply) => {
      const ttl = parseDuration(request.body.ttl);
      if (!ttl.ok) throw new GovernorError('BAD_REQUEST', `ttl: ${ttl.issues.map((i) => i.message).join('; ')}`);
      if (!(await agents.get(request.body.agent))) throw new GovernorError('NOT_FOUND', `no agent card for ${request.body.agent}: register the agent first`);
      const { ttl: _ttl, ...rest } = request.body;
      return reply.status(201).send(await grants.create(operatorOf(request), { ...rest, ttlSeconds: ttl.value }));
    },
  );

  app.get<{ Querystring: { agent?: string } }>(
    '/v1/grants',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { agent: identifier } } }, onRequest: guards.operator },
    async (request) => ({ grants: await grants.list(request.query.agent) }),
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>('/v1/grants/:id/revoke', { schema: { params: idParamSchema, body: reasonBody }, onRequest: guards.operator }, async (request) =>
    grants.revoke(operatorOf(request).name, request.params.id, request.body.reason),
  );

  // The hook for proxies and long-running agents: the stream ends with a
  // `killed` event the moment a kill touches this credential's principal.
  let watchers = 0;
  const closers = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const close of closers) close();
  });
  app.get('/v1/sessions/watch', { onRequest: guards.agent }, (request, reply) => {
    if (watchers >= MAX_WATCHERS) throw new GovernorError('RATE_LIMITED', 'too many watch streams');
    const principal = request.principal as Principal;
    const res = reply.raw;
    reply.hijack();
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    watchers++;
    let closed = false;
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    heartbeat.unref();
    const close = (event?: string) => {
      if (closed) return;
      closed = true;
      watchers--;
      clearInterval(heartbeat);
      unsubscribe();
      closers.delete(close);
      if (event) res.write(event);
      res.end();
    };
    const killedEvent = (kill: { id: string; reason: string; by: string }) => `event: killed\ndata: ${JSON.stringify({ kill: kill.id, by: kill.by, reason: kill.reason })}\n\n`;
    const unsubscribe = killSwitch.subscribe((kill) => {
      if (killSwitch.touching(principal)?.id === kill.id) close(killedEvent(kill));
    });
    closers.add(close);
    request.raw.on('close', () => close());
    res.write(`event: ready\ndata: ${JSON.stringify({ principal })}\n\n`);
    const already = killSwitch.touching(principal);
    if (already) close(killedEvent(already));
  });
}

import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { GovernorError, isGovernorError } from '../core/errors.js';
import type { Action, Principal } from '../core/types.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { DecisionService } from '../decisions/decision-service.js';
import { registerAuditRoutes } from './audit-routes.js';
import { registerApprovalRoutes } from './approval-routes.js';
import { registerMcpRoutes } from './mcp-routes.js';
import { registerControlRoutes } from './control-routes.js';
import { registerSandboxRoutes } from './sandbox-routes.js';
import type { Metrics } from './metrics.js';
import type { SandboxRequest, SandboxResult } from '../sandbox/run-sandboxed.js';
import type { AgentRegistry } from '../control/agents.js';
import type { Breakers } from '../control/breakers.js';
import type { Grants } from '../control/grants.js';
import type { KillSwitch } from '../control/kill-switch.js';
import type { ToolPins } from '../control/tool-pins.js';
import type { CompiledPolicy } from '../policy/index.js';
import type { ApprovalEvents } from '../approvals/approval-events.js';
import type { ApprovalService } from '../approvals/approval-service.js';
import type { BreakGlassService } from '../approvals/break-glass.js';
import type { Authenticator, CredentialIssuer, Operator } from './authenticator.js';
import { HTTP_STATUS, type ErrorBody } from './http-errors.js';
import { ACTION_LIMITS, credentialRequestSchema, decisionRequestSchema, idParamSchema, jsonDepth, outcomeSchema } from '../decisions/schemas.js';

/** What the HTTP adapter is wired to. It translates; it does not decide. */
export interface ServerOptions {
  readonly decisions: DecisionService;
  readonly audit: AuditLog;
  readonly auth: Authenticator;
  readonly credentials: CredentialIssuer;
  readonly approvals: ApprovalService;
  readonly breakGlass: BreakGlassService;
  readonly events: ApprovalEvents;
  readonly toolPins: ToolPins;
  readonly killSwitch: KillSwitch;
  readonly agents: AgentRegistry;
  readonly grants: Grants;
  readonly breakers: Breakers;
  /** Served at `GET /metrics` (Prometheus text format). */
  readonly metrics?: Metrics;
  /** Runs an allowed `sandbox.exec` isolated. */
  readonly sandbox: (request: SandboxRequest) => Promise<SandboxResult>;
  /** The policy in force (tool visibility for the MCP proxy). */
  readonly policy: () => CompiledPolicy;
  /** Longest long-poll of `GET /v1/decisions/:id?wait=`, seconds. Default 60. */
  readonly maxWaitSeconds?: number;
  /** Health of the parts the server depends on; `ok: false` gives 503. */
  readonly health: () => Promise<{ ok: boolean; [key: string]: unknown }>;
  /** Largest request body, bytes. Default 64 KiB. */
  readonly bodyLimit?: number;
  readonly logger?: boolean | { level: string };
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    operator?: Operator;
  }
}

/** Creates the `/v1` HTTP API. Call `listen()` on the result, or `inject()` in tests. */
export function createServer(options: ServerOptions): FastifyInstance {
  const app = Fastify({
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    logger: options.logger ?? false,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    requestIdHeader: false,
    genReqId: () => crypto.randomUUID(),
  });

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number; validation?: unknown }, request, reply) => {
    const onDecisionPath = request.routeOptions.url === '/v1/decisions' && request.method === 'POST';
    const body = (code: string, message: string, extra: object = {}): ErrorBody => ({
      error: { code, message, ...extra },
      ...(onDecisionPath ? { verdict: 'deny' as const } : {}),
    });
    if (isGovernorError(err)) {
      const status = HTTP_STATUS[err.code];
      if (status >= 500) request.log.error({ err }, 'request failed');
      return reply.status(status).send(body(err.code, err.message, status >= 500 ? { requestId: request.id } : {}));
    }
    if (err.validation) return reply.status(400).send(body('BAD_REQUEST', err.message));
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.status(413).send(body('PAYLOAD_TOO_LARGE', `request body is larger than ${options.bodyLimit ?? 65536} bytes`));
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.status(415).send(body('BAD_REQUEST', 'expected Content-Type: application/json'));
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.status(err.statusCode).send(body('BAD_REQUEST', err.message));
    }
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send(body('INTERNAL', 'internal error', { requestId: request.id }));
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` } }),
  );

  // The require* guards run as onRequest hooks, before the body is read or
  // validated: an unauthenticated caller costs no parsing and learns nothing
  // about the request schema. No identity, no action.
  const bearer = (request: FastifyRequest): string => {
    const header = request.headers.authorization;
    if (!header) throw new GovernorError('UNAUTHENTICATED', 'missing credential: send Authorization: Bearer <token>');
    const match = /^Bearer ([A-Za-z0-9._~+/=-]{1,8192})$/.exec(header);
    if (!match?.[1]) throw new GovernorError('UNAUTHENTICATED', 'malformed Authorization header: expected Bearer <token>');
    return match[1];
  };
  const requireAgent = async (request: FastifyRequest) => {
    // On the decision endpoint a killed agent's credential still identifies it, so its attempt is recorded as a KILLED deny.
    const onDecisionPath = request.method === 'POST' && (request.routeOptions.url === '/v1/decisions' || request.routeOptions.url === '/v1/sandbox/exec');
    const result = options.auth.agent(bearer(request), { whileKilled: onDecisionPath });
    if (!result.ok) throw new GovernorError('UNAUTHENTICATED', `agent credential refused: ${result.issues.map((i) => i.message).join('; ')}`);
    request.principal = result.value;
  };
  const requireOperator = async (request: FastifyRequest) => {
    const result = await options.auth.operator(bearer(request));
    if (!result.ok) throw new GovernorError('UNAUTHENTICATED', `operator credential refused: ${result.issues.map((i) => i.message).join('; ')}`);
    request.operator = result.value;
  };
  /** Either kind of caller; an agent sees only its own records. */
  const requireAnyone = async (request: FastifyRequest) => {
    const token = bearer(request);
    const asAgent = options.auth.agent(token);
    if (asAgent.ok) {
      request.principal = asAgent.value;
      return;
    }
    const asOperator = await options.auth.operator(token);
    if (asOperator.ok) {
      request.operator = asOperator.value;
      return;
    }
    throw new GovernorError('UNAUTHENTICATED', `credential refused: ${asAgent.issues.map((i) => i.message).join('; ')}`);
  };

  // Infrastructure reads these without a credential, like /healthz: counts, never secrets.
  app.get('/metrics', async (_request, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(options.metrics?.render() ?? ''));

  app.get('/healthz', async (_request, reply: FastifyReply) => {
    const health = await options.health().catch((err: unknown) => ({ ok: false, error: err instanceof Error ? err.message : String(err) }));
    return reply.status(health.ok ? 200 : 503).send(health);
  });

  app.post<{ Body: { action: Action }; Querystring: { checkpoint?: 'wait' } }>(
    '/v1/decisions',
    {
      schema: { body: decisionRequestSchema, querystring: { type: 'object', additionalProperties: false, properties: { checkpoint: { type: 'string', enum: ['wait'] } } } },
      onRequest: requireAgent,
    },
    async (request, reply) => {
    const { action } = request.body;
    if (jsonDepth(action.params, ACTION_LIMITS.paramsDepth + 1) > ACTION_LIMITS.paramsDepth || jsonDepth(action.inverse, ACTION_LIMITS.paramsDepth + 2) > ACTION_LIMITS.paramsDepth + 1) {
      throw new GovernorError('BAD_REQUEST', `action.params nests deeper than ${ACTION_LIMITS.paramsDepth} levels`);
    }
    const decision = await options.decisions.decide(request.principal as Principal, action);
    if (request.query.checkpoint === 'wait' && decision.audit) {
      // The agent asked for the signed checkpoint that covers its decision.
      const checkpoint = await options.audit.covering(decision.audit.index);
      return reply.status(200).send({ ...decision, audit: { ...decision.audit, checkpoint: checkpoint.note } });
    }
    return reply.status(200).send(decision);
    },
  );

  const maxWait = options.maxWaitSeconds ?? 60;
  // Long-polls end (answering with the current state) when the server closes, so a restart never hangs on them.
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());
  app.get<{ Params: { id: string }; Querystring: { wait?: string } }>(
    '/v1/decisions/:id',
    {
      schema: {
        params: idParamSchema,
        querystring: { type: 'object', additionalProperties: false, properties: { wait: { type: 'string', pattern: '^[0-9]{1,6}$' } } },
      },
      onRequest: requireAnyone,
    },
    async (request) => {
      const read = async () => {
        const decision = await options.decisions.get(request.params.id);
        if (!decision || (request.principal && decision.principal.agent !== request.principal.agent)) {
          throw new GovernorError('NOT_FOUND', `no decision ${request.params.id}`);
        }
        return decision;
      };
      const wait = Number(request.query.wait ?? 0);
      if (wait > maxWait) throw new GovernorError('BAD_REQUEST', `wait is at most ${maxWait} seconds, got ${wait}; poll again to wait longer`);
      let decision = await read();
      // Long-poll: wait for a held decision to resolve, up to `wait` seconds. The
      // store is re-read every second too, for resolutions on other replicas.
      const deadline = Date.now() + wait * 1000;
      const gone = new AbortController();
      const abort = () => gone.abort();
      request.raw.once('close', abort);
      closing.signal.addEventListener('abort', abort, { once: true });
      try {
        while (decision.state === 'pending' && Date.now() < deadline && !gone.signal.aborted) {
          await options.events.resolution(decision.id, Math.min(1000, deadline - Date.now()), gone.signal);
          decision = await read();
        }
      } finally {
        request.raw.off('close', abort);
        closing.signal.removeEventListener('abort', abort);
      }
      return decision;
    },
  );

  app.post<{ Params: { id: string }; Body: { status: 'succeeded' | 'failed'; detail?: unknown } }>(
    '/v1/decisions/:id/outcome',
    { schema: { params: idParamSchema, body: outcomeSchema }, onRequest: requireAgent },
    async (request) => {
      const { status, detail } = request.body;
      if (detail !== undefined && jsonDepth(detail, 9) > 8) throw new GovernorError('BAD_REQUEST', 'outcome detail nests deeper than 8 levels');
      return options.decisions.recordOutcome(request.principal as Principal, request.params.id, { status, ...(detail === undefined ? {} : { detail }) });
    },
  );

  app.post<{ Params: { id: string }; Body: { role: string; ttl?: string; task?: string; instance?: string; session?: string } }>(
    '/v1/agents/:id/credentials',
    { schema: { params: idParamSchema, body: credentialRequestSchema }, onRequest: requireOperator },
    async (request, reply) => {
      if (!(await options.agents.get(request.params.id))) {
        throw new GovernorError('NOT_FOUND', `no agent card for ${request.params.id}: register it with POST /v1/agents (or governor agents register) first`);
      }
      const issued = options.credentials.issueAgent({ agent: request.params.id, ...request.body });
      return reply.status(201).send(issued);
    },
  );

  registerAuditRoutes(app, options.audit, { reader: requireAnyone, operator: requireOperator });
  registerApprovalRoutes(app, options, { operator: requireOperator });
  registerMcpRoutes(app, options, { agent: requireAgent, operator: requireOperator, anyone: requireAnyone });
  registerControlRoutes(app, options, { agent: requireAgent, operator: requireOperator, anyone: requireAnyone });
  registerSandboxRoutes(app, { decisions: options.decisions, run: options.sandbox }, { agent: requireAgent });

  return app;
}

import type { FastifyInstance, onRequestAsyncHookHandler } from 'fastify';
import type { Principal } from '../core/types.js';
import type { DecisionService } from '../decisions/decision-service.js';
import type { SandboxRequest, SandboxResult } from '../sandbox/run-sandboxed.js';

/** The tool name a sandboxed execution is decided under. */
export const SANDBOX_TOOL = 'sandbox.exec';

const execSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['command'],
  properties: {
    command: { type: 'array', minItems: 1, maxItems: 256, items: { type: 'string', maxLength: 8192 } },
    stdin: { type: 'string', maxLength: 1024 * 1024 },
    env: { type: 'object', maxProperties: 64, additionalProperties: { type: 'string', maxLength: 4096 } },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        wallTimeMs: { type: 'integer', minimum: 1 },
        cpuSeconds: { type: 'integer', minimum: 1 },
        memoryBytes: { type: 'integer', minimum: 1 },
        processes: { type: 'integer', minimum: 1 },
        outputBytes: { type: 'integer', minimum: 1 },
        fileSizeBytes: { type: 'integer', minimum: 1 },
      },
    },
    environment: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@-]+$' },
    taskId: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@-]+$' },
    intent: { type: 'string', maxLength: 1024 },
  },
} as const;

interface ExecBody {
  readonly command: string[];
  readonly stdin?: string;
  readonly env?: Record<string, string>;
  readonly limits?: SandboxRequest['limits'];
  readonly environment?: string;
  readonly taskId?: string;
  readonly intent?: string;
}

/**
 * `POST /v1/sandbox/exec` (agent): agent-supplied code runs only after the
 * decision path allows the `sandbox.exec` action (policy, kill switch, grants,
 * budgets, audit), and then only isolated; its result, limits hit included, is
 * recorded as the decision's outcome. A refused action never runs.
 */
export function registerSandboxRoutes(
  app: FastifyInstance,
  services: { readonly decisions: DecisionService; readonly run: (request: SandboxRequest) => Promise<SandboxResult> },
  guards: { readonly agent: onRequestAsyncHookHandler },
): void {
  app.post<{ Body: ExecBody }>('/v1/sandbox/exec', { schema: { body: execSchema }, onRequest: guards.agent, bodyLimit: 2 * 1024 * 1024 }, async (request, reply) => {
    const principal = request.principal as Principal;
    const body = request.body;
    const decision = await services.decisions.decide(principal, {
      tool: SANDBOX_TOOL,
      operation: 'exec',
      environment: body.environment ?? 'sandbox',
      params: { command: body.command, ...(body.limits ? { limits: body.limits } : {}) },
      ...(body.taskId ? { taskId: body.taskId } : {}),
      ...(body.intent ? { intent: body.intent } : {}),
    });
    if (decision.verdict !== 'allow' && decision.verdict !== 'modify') return reply.status(200).send({ decision });
    let result: SandboxResult;
    try {
      result = await services.run({ command: body.command, ...(body.stdin === undefined ? {} : { stdin: body.stdin }), ...(body.env ? { env: body.env } : {}), ...(body.limits ? { limits: body.limits } : {}) });
    } catch (err) {
      // Isolation unavailable (or a bad request): recorded, and nothing ran.
      await services.decisions.recordOutcome(principal, decision.id, { status: 'failed', detail: { error: err instanceof Error ? err.message : String(err), ran: false } });
      throw err;
    }
    const detail = {
      exitCode: result.exitCode,
      signal: result.signal,
      limitsHit: result.limitsHit,
      truncated: result.truncated,
      durationMs: result.durationMs,
      limits: result.limits,
      stdoutBytes: Buffer.byteLength(result.stdout),
      stderrBytes: Buffer.byteLength(result.stderr),
    };
    const recorded = await services.decisions.recordOutcome(principal, decision.id, { status: result.exitCode === 0 && result.limitsHit.length === 0 ? 'succeeded' : 'failed', detail });
    return reply.status(200).send({ decision: recorded, result });
  });
}

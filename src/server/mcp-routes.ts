import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { GovernorError } from '../core/errors.js';
import type { Operator, Principal } from '../core/types.js';
import type { ToolDefinition, ToolPins } from '../control/tool-pins.js';
import type { CompiledPolicy } from '../policy/index.js';
import { toolVisibility } from '../policy/tool-visibility.js';
import { jsonDepth } from '../decisions/schemas.js';

/** Most tools one upstream may list. */
export const MAX_TOOLS = 1000;
/** Deepest tool input schema accepted. */
export const MAX_SCHEMA_DEPTH = 32;

const name = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' } as const;

const toolsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['server', 'environment', 'tools'],
  properties: {
    server: name,
    environment: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:@-]+$' },
    tools: {
      type: 'array',
      maxItems: MAX_TOOLS,
      items: {
        type: 'object',
        required: ['name'],
        properties: { name, description: { type: 'string', maxLength: 16384 }, inputSchema: { type: 'object' }, annotations: { type: 'object' } },
      },
    },
  },
} as const;

/**
 * What the MCP proxy asks of the server: who its credential is, which tools
 * the agent may see and whether their definitions still match their pins;
 * and the operators' side of pinning.
 */
export function registerMcpRoutes(
  app: FastifyInstance,
  services: { readonly policy: () => CompiledPolicy; readonly toolPins: ToolPins },
  guards: { readonly agent: onRequestAsyncHookHandler; readonly operator: onRequestAsyncHookHandler; readonly anyone: onRequestAsyncHookHandler },
): void {
  app.get('/v1/whoami', { onRequest: guards.anyone }, async (request: FastifyRequest) =>
    request.principal ? { kind: 'agent', principal: request.principal } : { kind: 'operator', operator: request.operator },
  );

  app.post<{ Body: { server: string; environment: string; tools: ToolDefinition[] } }>(
    '/v1/mcp/tools',
    { schema: { body: toolsSchema }, onRequest: guards.agent, bodyLimit: 4 * 1024 * 1024 },
    async (request) => {
      const principal = request.principal as Principal;
      const { server, environment, tools } = request.body;
      const names = new Set<string>();
      for (const t of tools) {
        if (names.has(t.name)) throw new GovernorError('BAD_REQUEST', `tool "${t.name}" is listed twice`);
        // Hashing walks the schema: an upstream cannot make it recurse without bound.
        if (jsonDepth(t.inputSchema, MAX_SCHEMA_DEPTH + 1) > MAX_SCHEMA_DEPTH) throw new GovernorError('BAD_REQUEST', `the input schema of tool "${t.name}" nests deeper than ${MAX_SCHEMA_DEPTH} levels`);
        names.add(t.name);
      }
      const pins = await services.toolPins.check(principal, server, tools);
      const policy = services.policy();
      return {
        tools: pins.map((pin) => {
          const seen = toolVisibility(policy, principal, pin.name, environment);
          return {
            ...pin,
            visible: seen.visible,
            ...(pin.blocked ? { reason: `the definition of ${pin.name} changed since it was pinned; an operator must approve it: governor mcp approve-tool --server ${server} --tool ${pin.name} --hash ${pin.hash}` } : seen.reason ? { reason: seen.reason } : {}),
          };
        }),
      };
    },
  );

  app.get<{ Querystring: { state?: 'approved' | 'changed' } }>(
    '/v1/mcp/pins',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { state: { type: 'string', enum: ['approved', 'changed'] } } } }, onRequest: guards.operator },
    async (request) => ({ pins: await services.toolPins.list(request.query.state) }),
  );

  app.post<{ Body: { server: string; tool: string; hash: string } }>(
    '/v1/mcp/pins/approve',
    {
      schema: { body: { type: 'object', additionalProperties: false, required: ['server', 'tool', 'hash'], properties: { server: name, tool: name, hash: { type: 'string', pattern: '^[0-9a-f]{64}$' } } } },
      onRequest: guards.operator,
    },
    async (request) => services.toolPins.approve(request.operator as Operator, request.body.server, request.body.tool, request.body.hash),
  );
}

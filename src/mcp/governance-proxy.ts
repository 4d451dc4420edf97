/**
 * The MCP governance proxy, independent of transports: it relays the protocol
 * between an unmodified MCP client (the downstream `Server` it answers) and an
 * unmodified MCP server (the upstream `Client` it calls), and puts every
 * `tools/call` through Governor's decision API first. It translates and does
 * not decide: the verdict, the bounded arguments and the reasons all come
 * from the server; whatever the proxy could not get a verdict for is refused.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  CompleteRequestSchema,
  CompleteResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  GetPromptResultSchema,
  ListPromptsRequestSchema,
  ListPromptsResultSchema,
  ListResourcesRequestSchema,
  ListResourcesResultSchema,
  ListResourceTemplatesRequestSchema,
  ListResourceTemplatesResultSchema,
  ListToolsRequestSchema,
  ListToolsResultSchema,
  LoggingMessageNotificationSchema,
  McpError,
  PromptListChangedNotificationSchema,
  ReadResourceRequestSchema,
  ReadResourceResultSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  ToolListChangedNotificationSchema,
  UnsubscribeRequestSchema,
  EmptyResultSchema,
  type CallToolRequest,
  type CallToolResult,
  type Implementation,
  type ServerCapabilities,
  type ServerNotification,
  type ServerRequest,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { GovernorClient, WireAction, WireDecision, WireReason, WireToolCheck } from './governor-client.js';

/** What one governed session needs to know. */
export interface GovernanceConfig {
  /** The environment every action of this session runs in (e.g. `prod`). */
  readonly environment: string;
  /** A stable name of the upstream server: tool pins are kept per server name. */
  readonly serverName: string;
  /** How long a held (`pending`) call waits for humans before it is refused, ms. Default 5 min. */
  readonly pendingTimeoutMs?: number;
  /** Time limit of one upstream request, ms. Default 60 s. */
  readonly callTimeoutMs?: number;
  /** Largest `tools/call` arguments, as JSON bytes. Default 4 MiB. */
  readonly maxArgumentBytes?: number;
  /** Most tool calls in flight at once in one session. Default 32. */
  readonly maxConcurrentCalls?: number;
}

/** The optional limits of a session config, from proxy options that may leave them unset. */
export function sessionLimits(options: Partial<Pick<GovernanceConfig, 'pendingTimeoutMs' | 'callTimeoutMs' | 'maxArgumentBytes' | 'maxConcurrentCalls'>>): Partial<GovernanceConfig> {
  const limits: { -readonly [K in keyof GovernanceConfig]?: GovernanceConfig[K] } = {};
  for (const key of ['pendingTimeoutMs', 'callTimeoutMs', 'maxArgumentBytes', 'maxConcurrentCalls'] as const) {
    const value = options[key];
    if (value !== undefined) limits[key] = value;
  }
  return limits;
}

/** The proxy's name towards upstream servers. */
export const PROXY_INFO = { name: 'governor-mcp-proxy', version: '0.1.0' } as const;

/** The defaults of `GovernanceConfig`. */
export const GOVERNANCE_DEFAULTS = {
  pendingTimeoutMs: 5 * 60_000,
  callTimeoutMs: 60_000,
  maxArgumentBytes: 4 * 1024 * 1024,
  maxConcurrentCalls: 32,
} as const;

/** Where the proxy logs. Never standard output: on stdio that is the protocol channel. */
export type ProxyLog = (level: 'info' | 'warn' | 'error', message: string) => void;

/** What `createGovernanceSession` wires together. */
export interface GovernanceSessionOptions {
  /** A connected client of the real MCP server. */
  readonly upstream: Client;
  /** The decision API, authenticated as the session's agent. */
  readonly governor: GovernorClient;
  readonly config: GovernanceConfig;
  /** A server to answer the MCP client with, not yet connected; one is created when absent. */
  readonly downstream?: Server;
  readonly log?: ProxyLog;
}

/** One governed MCP session: connect `server` to the client's transport. */
export interface GovernanceSession {
  /** The MCP server the client talks to. */
  readonly server: Server;
  /** Resolves with the reason once the session has ended. */
  readonly closed: Promise<string>;
  /** Why the session ended, once it has. */
  readonly closedReason: string | undefined;
  /**
   * Ends the session: every further call is refused, calls in flight end
   * with an error, outcomes still being recorded are flushed, the upstream
   * and the client connection are closed. Idempotent. The kill switch uses it.
   */
  close(reason: string): Promise<void>;
}

/** Text and metadata of a tool as listed to the client, and what Governor said about it. */
interface CatalogEntry {
  readonly tool: Tool;
  readonly check: WireToolCheck;
}

interface Catalog {
  readonly entries: ReadonlyMap<string, CatalogEntry>;
  /** What the client sees in tools/list. */
  readonly listed: readonly Tool[];
  readonly at: number;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

const MAX_TOOL_PAGES = 50;
const MAX_TOOLS = 1000;
const CLOSE_DRAIN_MS = 2000;
const BLOCKED_SCHEMA = { type: 'object' as const, properties: {} };

/**
 * Creates a governed session between `options.upstream` (connected) and a
 * downstream server mirroring the upstream's capabilities. Tools calls are
 * decided by Governor; tools/list is checked against tool pins and the
 * policy; resources, prompts, completions and logging pass through.
 */
export function createGovernanceSession(options: GovernanceSessionOptions): GovernanceSession {
  const { upstream, governor } = options;
  const config = {
    ...GOVERNANCE_DEFAULTS,
    ...Object.fromEntries(Object.entries(options.config).filter(([, v]) => v !== undefined)),
  } as Required<GovernanceConfig>;
  Object.freeze(config);
  const log: ProxyLog = options.log ?? (() => {});
  const label = `${config.serverName} (${config.environment})`;

  const upstreamCaps = upstream.getServerCapabilities() ?? {};
  const capabilities: ServerCapabilities = {
    tools: { ...(upstreamCaps.tools?.listChanged ? { listChanged: true } : {}) },
    ...(upstreamCaps.resources ? { resources: { ...upstreamCaps.resources } } : {}),
    ...(upstreamCaps.prompts ? { prompts: { ...upstreamCaps.prompts } } : {}),
    ...(upstreamCaps.completions ? { completions: {} } : {}),
    ...(upstreamCaps.logging ? { logging: {} } : {}),
  };
  const info: Implementation = upstream.getServerVersion() ?? { name: config.serverName, version: '0.0.0' };
  const instructions = upstream.getInstructions();
  let server: Server;
  if (options.downstream) {
    server = options.downstream;
    server.registerCapabilities(capabilities);
  } else {
    server = new Server({ name: info.name, version: info.version }, { capabilities, ...(instructions === undefined ? {} : { instructions }) });
  }

  // Everything the session started and must stop: the catalog fetch, calls in flight, outcome reports.
  const lifetime = new AbortController();
  const inFlight = new Set<AbortController>();
  let drained: (() => void) | undefined;
  const outcomes = new Set<Promise<void>>();
  let closedReason: string | undefined;
  let closing: Promise<void> | undefined;
  let resolveClosed!: (reason: string) => void;
  const closed = new Promise<string>((resolve) => (resolveClosed = resolve));

  let catalog: Catalog | undefined;
  let stale = true;
  let refreshing: Promise<Catalog> | undefined;

  async function fetchCatalog(): Promise<Catalog> {
    const signal = lifetime.signal;
    const tools: Tool[] = [];
    if (upstreamCaps.tools) {
      let cursor: string | undefined;
      for (let page = 0; page < MAX_TOOL_PAGES; page++) {
        const result = await upstream.request({ method: 'tools/list', params: cursor === undefined ? {} : { cursor } }, ListToolsResultSchema, {
          signal,
          timeout: config.callTimeoutMs,
        });
        tools.push(...result.tools);
        if (tools.length > MAX_TOOLS) throw new McpError(ErrorCode.InternalError, `the upstream server lists more than ${MAX_TOOLS} tools`);
        cursor = result.nextCursor;
        if (cursor === undefined) break;
      }
    }
    const names = new Set<string>();
    for (const t of tools) {
      if (names.has(t.name)) throw new McpError(ErrorCode.InternalError, `the upstream server lists tool "${t.name}" twice; refusing its tool list`);
      names.add(t.name);
    }
    const checked = await governor.checkTools(
      {
        server: config.serverName,
        environment: config.environment,
        tools: tools.map((t) => ({
          name: t.name,
          ...(t.description === undefined ? {} : { description: t.description }),
          inputSchema: t.inputSchema,
          ...(t.annotations === undefined ? {} : { annotations: t.annotations }),
        })),
      },
      signal,
    );
    if (!checked.ok) throw new McpError(ErrorCode.InternalError, `Governor could not check the tool list of ${config.serverName} (fail closed, no tool is available): ${checked.message}`);
    const checks = new Map(checked.value.map((c) => [c.name, c]));
    const entries = new Map<string, CatalogEntry>();
    const listed: Tool[] = [];
    for (const tool of tools) {
      // A tool Governor said nothing about is treated as one it refused.
      const check = checks.get(tool.name) ?? { name: tool.name, hash: '', pin: 'changed', blocked: true, visible: false, reason: 'Governor did not check this tool' };
      entries.set(tool.name, { tool, check });
      if (!check.visible) continue;
      // A changed definition may itself be the attack (instructions hidden in a description or schema): the
      // client sees a neutral stand-in until an operator approves it.
      listed.push(check.blocked ? { name: tool.name, description: blockedText(tool.name, check, config.serverName), inputSchema: BLOCKED_SCHEMA } : tool);
      if (check.blocked) log('warn', `${label}: tool ${tool.name} is blocked: its definition changed (hash ${check.hash}); approve with governor mcp approve-tool --server ${config.serverName} --tool ${tool.name} --hash ${check.hash}`);
    }
    return { entries, listed, at: Date.now() };
  }

  /** The current catalog, fetched again when stale or when `force`; concurrent callers share one fetch. */
  async function currentCatalog(force = false): Promise<Catalog> {
    if (catalog && !stale && !force) return catalog;
    if (!refreshing) {
      stale = false;
      refreshing = fetchCatalog().then(
        (c) => {
          catalog = c;
          refreshing = undefined;
          return c;
        },
        (err: unknown) => {
          stale = true;
          refreshing = undefined;
          throw err;
        },
      );
    }
    return refreshing;
  }

  function recordOutcome(decision: WireDecision, status: 'succeeded' | 'failed', detail: Record<string, unknown>): void {
    const p = governor.recordOutcome(decision.id, { status, detail: { via: 'mcp-proxy', server: config.serverName, ...detail } }).then((r) => {
      if (!r.ok) log('warn', `${label}: could not record the outcome of decision ${decision.id}: ${r.message}`);
    });
    outcomes.add(p);
    void p.finally(() => outcomes.delete(p));
  }

  async function forward(request: CallToolRequest['params'], args: Record<string, unknown> | undefined, decision: WireDecision, signal: AbortSignal, extra: Extra): Promise<CallToolResult> {
    const progressToken = request._meta?.progressToken;
    const meta = request._meta ? Object.fromEntries(Object.entries(request._meta).filter(([k]) => k !== 'progressToken')) : undefined;
    let result: CallToolResult;
    try {
      result = await upstream.request(
        {
          method: 'tools/call',
          params: { name: request.name, ...(args === undefined ? {} : { arguments: args }), ...(meta && Object.keys(meta).length > 0 ? { _meta: meta } : {}) },
        },
        CallToolResultSchema,
        {
          signal,
          timeout: config.callTimeoutMs,
          ...(progressToken === undefined
            ? {}
            : { onprogress: (p) => void extra.sendNotification({ method: 'notifications/progress', params: { ...p, progressToken } }).catch(() => {}) }),
        },
      );
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      recordOutcome(decision, 'failed', { error: truncate(message, 1000) });
      if (closedReason !== undefined) {
        throw new McpError(ErrorCode.InternalError, `${request.name} did not complete: ${closedReason}; Governor recorded it as failed (decision ${decision.id})`);
      }
      if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) {
        log('warn', `${label}: ${request.name} timed out after ${config.callTimeoutMs} ms (decision ${decision.id})`);
        throw new McpError(ErrorCode.RequestTimeout, `the upstream server did not answer ${request.name} within ${config.callTimeoutMs} ms; Governor recorded it as failed (decision ${decision.id})`);
      }
      throw new McpError(err instanceof McpError ? err.code : ErrorCode.InternalError, `upstream server failed on ${request.name}: ${message} (decision ${decision.id})`, err instanceof McpError ? err.data : undefined);
    }
    recordOutcome(decision, result.isError ? 'failed' : 'succeeded', result.isError ? { isError: true, error: truncate(textOf(result), 1000) } : {});
    return result;
  }

  async function call(request: CallToolRequest['params'], extra: Extra): Promise<CallToolResult> {
    const tool = request.name;
    const env = config.environment;
    if (closedReason !== undefined) return refusal(`Governor refused ${tool}: this session is closed (${closedReason}).`);
    if (inFlight.size >= config.maxConcurrentCalls) return refusal(`Governor refused ${tool}: more than ${config.maxConcurrentCalls} calls are in flight in this session; wait for some to finish.`);
    const args = request.arguments;
    const size = Buffer.byteLength(JSON.stringify(args ?? {}));
    if (size > config.maxArgumentBytes) return refusal(`Governor refused ${tool}: its arguments are ${size} bytes of JSON, over the limit of ${config.maxArgumentBytes}. It was not forwarded.`);

    const own = new AbortController();
    const signal = AbortSignal.any([extra.signal, own.signal]);
    inFlight.add(own);
    try {
      let cat: Catalog;
      try {
        cat = await currentCatalog();
      } catch (err) {
        return refusal(`Governor could not decide on ${tool} in ${env} (fail closed): ${(err as Error).message}. It was not forwarded.`);
      }
      let entry = cat.entries.get(tool);
      if (entry?.check.blocked && entry.check.visible) {
        // An operator may have approved the new definition since the last list.
        try {
          entry = (await currentCatalog(true)).entries.get(tool);
        } catch (err) {
          return refusal(`Governor could not decide on ${tool} in ${env} (fail closed): ${(err as Error).message}. It was not forwarded.`);
        }
      }
      if (!entry || !entry.check.visible) return refusal(`Governor refused ${tool}: it is not a tool this session offers (see tools/list). It was not forwarded.`);
      if (entry.check.blocked) return refusal(blockedText(tool, entry.check, config.serverName));

      const annotations = entry.tool.annotations;
      // Annotations are the upstream's claims: they may only make an action stricter, never looser.
      const irreversibleHint = annotations?.destructiveHint !== false && annotations?.readOnlyHint !== true;
      const action: WireAction = { tool, environment: env, ...(args === undefined ? {} : { params: args }), ...(irreversibleHint ? { reversible: false as const } : {}) };
      const decided = await governor.decide(action, signal);
      if (signal.aborted) return aborted(tool);
      if (!decided.ok) {
        log('error', `${label}: no decision for ${tool}, refused (fail closed): ${decided.message}`);
        return refusal(`Governor could not decide on ${tool} in ${env} (fail closed): ${decided.message}. It was not forwarded.`);
      }
      let decision = decided.value;
      log('info', `${label}: ${tool} -> ${decision.verdict} (decision ${decision.id})`);
      let heldNote: string | undefined;
      if (decision.verdict === 'pending') {
        const waited = await awaitResolution(decision, signal, extra);
        if (!waited.ok) return waited.result;
        decision = waited.decision;
        heldNote = approvalNote(decision);
      }
      if (decision.verdict === 'deny') {
        if (isKilled(decision)) {
          log('warn', `${label}: the kill switch is on for this agent (decision ${decision.id}); closing the session`);
          void close(`killed by an operator: ${killReason(decision)}`);
        }
        return refusal(denyText(tool, env, decision));
      }
      if (decision.verdict !== 'allow' && decision.verdict !== 'modify') {
        return refusal(`Governor could not decide on ${tool} in ${env} (fail closed): unexpected verdict ${decision.verdict} in state ${decision.state}. It was not forwarded.`);
      }
      if (closedReason !== undefined || signal.aborted) {
        // Permitted but never run: the audit log says so.
        recordOutcome(decision, 'failed', { error: `not run: ${closedReason ?? 'the call was cancelled'}` });
        return closedReason !== undefined ? refusal(`Governor refused ${tool}: this session is closed (${closedReason}).`) : aborted(tool);
      }
      const modified = decision.verdict === 'modify';
      const forwardArgs = modified && decision.action.params !== undefined ? { ...decision.action.params } : args;
      const result = await forward(request, forwardArgs, decision, signal, extra);
      const notes = [heldNote, modified ? modifyNote(tool, args, forwardArgs, decision) : undefined].filter((n): n is string => n !== undefined);
      return notes.length === 0 ? result : { ...result, content: [...result.content, ...notes.map((text) => ({ type: 'text' as const, text }))] };
    } finally {
      inFlight.delete(own);
      if (inFlight.size === 0) drained?.();
    }
  }

  async function awaitResolution(
    held: WireDecision,
    signal: AbortSignal,
    extra: Extra,
  ): Promise<{ ok: true; decision: WireDecision } | { ok: false; result: CallToolResult }> {
    const tool = held.action.tool;
    const started = Date.now();
    const deadline = started + config.pendingTimeoutMs;
    const progressToken = extra._meta?.progressToken;
    const why = held.reasons.filter(enforced).filter((r) => r.effect === undefined || r.effect === 'approve').map(describeReason).join('; ');
    log('info', `${label}: ${tool} is held for approval (decision ${held.id}); waiting up to ${config.pendingTimeoutMs} ms`);
    if (progressToken !== undefined) {
      await extra
        .sendNotification({ method: 'notifications/progress', params: { progressToken, progress: 0, message: `Governor is holding ${tool} for human approval (decision ${held.id})${why ? `: ${why}` : ''}` } })
        .catch(() => {});
    }
    let current = held;
    let polls = 0;
    while (current.state === 'pending') {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const pollSignal = AbortSignal.any([signal, AbortSignal.timeout(remaining)]);
      const polled = await governor.decision(held.id, Math.min(60, Math.ceil(remaining / 1000)), pollSignal);
      if (signal.aborted) return { ok: false, result: aborted(tool) };
      if (polled.ok) {
        current = polled.value;
      } else if (pollSignal.aborted) {
        break;
      } else if (polled.status !== undefined && polled.status >= 400 && polled.status < 500) {
        return { ok: false, result: refusal(`Governor could not decide on ${tool} in ${config.environment} (fail closed): waiting for decision ${held.id} failed: ${polled.message}. It was not forwarded.`) };
      } else {
        // The server may be restarting: held decisions survive it, so try again shortly.
        log('warn', `${label}: waiting for decision ${held.id}: ${polled.message}; retrying`);
        await sleep(Math.min(1000 * 2 ** Math.min(polls, 3), Math.max(0, deadline - Date.now())), signal);
      }
      polls++;
    }
    if (signal.aborted) return { ok: false, result: aborted(tool) };
    if (current.state === 'pending') {
      log('warn', `${label}: ${tool} still held after ${config.pendingTimeoutMs} ms (decision ${held.id}); refused`);
      return {
        ok: false,
        result: refusal(
          `Governor is still holding ${tool} in ${config.environment} for human approval after ${Math.round((Date.now() - started) / 1000)} s (decision ${held.id})${why ? `: ${why}` : ''}. It was not run. An operator can review it with governor approvals; ask again later.`,
        ),
      };
    }
    return { ok: true, decision: current };
  }

  async function close(reason: string): Promise<void> {
    if (closing) return closing;
    closedReason = reason;
    closing = (async () => {
      log(reason.startsWith('the MCP client') ? 'info' : 'warn', `${label}: session closed: ${reason}`);
      lifetime.abort();
      for (const c of inFlight) c.abort();
      if (inFlight.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, CLOSE_DRAIN_MS);
          drained = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      // Let the answers of the calls that just ended reach the transport before it closes.
      await new Promise((resolve) => setImmediate(resolve));
      await withTimeout(Promise.allSettled([...outcomes]), CLOSE_DRAIN_MS);
      await upstream.close().catch((err: unknown) => log('warn', `${label}: closing the upstream: ${(err as Error).message}`));
      await server.close().catch((err: unknown) => log('warn', `${label}: closing the client connection: ${(err as Error).message}`));
      resolveClosed(reason);
    })();
    return closing;
  }

  // tools
  server.setRequestHandler(ListToolsRequestSchema, async () => {
    if (closedReason !== undefined) throw new McpError(ErrorCode.ConnectionClosed, `this session is closed: ${closedReason}`);
    const c = await currentCatalog(true);
    return { tools: [...c.listed] };
  });
  server.setRequestHandler(CallToolRequestSchema, (request, extra) => call(request.params, extra));

  // Pass-through of what Governor does not govern (reads and protocol plumbing).
  const relay = <R>(method: string, params: unknown, schema: Parameters<Client['request']>[1], extra: Extra): Promise<R> => {
    if (closedReason !== undefined) throw new McpError(ErrorCode.ConnectionClosed, `this session is closed: ${closedReason}`);
    return upstream.request({ method, params } as Parameters<Client['request']>[0], schema, { signal: extra.signal, timeout: config.callTimeoutMs }) as Promise<R>;
  };
  if (upstreamCaps.resources) {
    server.setRequestHandler(ListResourcesRequestSchema, (r, extra) => relay(r.method, r.params, ListResourcesResultSchema, extra));
    server.setRequestHandler(ListResourceTemplatesRequestSchema, (r, extra) => relay(r.method, r.params, ListResourceTemplatesResultSchema, extra));
    server.setRequestHandler(ReadResourceRequestSchema, (r, extra) => relay(r.method, r.params, ReadResourceResultSchema, extra));
    if (upstreamCaps.resources.subscribe) {
      server.setRequestHandler(SubscribeRequestSchema, (r, extra) => relay(r.method, r.params, EmptyResultSchema, extra));
      server.setRequestHandler(UnsubscribeRequestSchema, (r, extra) => relay(r.method, r.params, EmptyResultSchema, extra));
    }
    upstream.setNotificationHandler(ResourceListChangedNotificationSchema, () => server.sendResourceListChanged().catch(() => {}));
    upstream.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => server.sendResourceUpdated(n.params).catch(() => {}));
  }
  if (upstreamCaps.prompts) {
    server.setRequestHandler(ListPromptsRequestSchema, (r, extra) => relay(r.method, r.params, ListPromptsResultSchema, extra));
    server.setRequestHandler(GetPromptRequestSchema, (r, extra) => relay(r.method, r.params, GetPromptResultSchema, extra));
    upstream.setNotificationHandler(PromptListChangedNotificationSchema, () => server.sendPromptListChanged().catch(() => {}));
  }
  if (upstreamCaps.completions) {
    server.setRequestHandler(CompleteRequestSchema, (r, extra) => relay(r.method, r.params, CompleteResultSchema, extra));
  }
  if (upstreamCaps.logging) {
    server.setRequestHandler(SetLevelRequestSchema, (r, extra) => relay(r.method, r.params, EmptyResultSchema, extra));
    upstream.setNotificationHandler(LoggingMessageNotificationSchema, (n) => server.sendLoggingMessage(n.params).catch(() => {}));
  }
  upstream.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    // A changed list is checked again before the next call, so a definition swapped under a pin never runs unnoticed.
    stale = true;
    if (capabilities.tools?.listChanged) void server.sendToolListChanged().catch(() => {});
  });

  const previousUpstreamClose = upstream.onclose;
  upstream.onclose = () => {
    previousUpstreamClose?.();
    void close('the upstream MCP server closed the connection (it exited or crashed)');
  };
  const previousUpstreamError = upstream.onerror;
  upstream.onerror = (err) => {
    previousUpstreamError?.(err);
    log('warn', `${label}: upstream: ${err.message}`);
  };
  const previousClose = server.onclose;
  server.onclose = () => {
    previousClose?.();
    void close('the MCP client disconnected');
  };
  const previousError = server.onerror;
  server.onerror = (err) => {
    previousError?.(err);
    log('warn', `${label}: from the client: ${err.message}`);
  };

  return {
    server,
    closed,
    get closedReason() {
      return closedReason;
    },
    close,
  };
}

function refusal(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

function aborted(tool: string): CallToolResult {
  return refusal(`${tool} was cancelled before it ran.`);
}

function enforced(r: WireReason): boolean {
  return r.mode === undefined || r.mode === 'enforce';
}

function describeReason(r: WireReason): string {
  return `rule ${r.rule} (${r.primitive}): ${r.message}`;
}

function denyText(tool: string, env: string, d: WireDecision): string {
  const reasons = d.reasons.filter(enforced);
  const denying = reasons.filter((r) => r.effect === 'deny');
  const shown = (denying.length > 0 ? denying : reasons).map(describeReason).join('; ');
  if (d.resolution && d.state !== 'denied') {
    const by = d.resolution.by && d.resolution.by.length > 0 ? ` by ${d.resolution.by.join(', ')}` : '';
    return `Governor denied ${tool} in ${env}: it was held for approval and ${d.state}${by}: ${d.resolution.reason ?? 'no reason given'} (decision ${d.id}). It was not run.`;
  }
  return `Governor denied ${tool} in ${env}: ${shown || 'no reason given'} (decision ${d.id}). It was not run.`;
}

function approvalNote(d: WireDecision): string | undefined {
  if (d.verdict !== 'allow' && d.verdict !== 'modify') return undefined;
  const by = d.resolution?.by && d.resolution.by.length > 0 ? ` by ${d.resolution.by.join(', ')}` : '';
  return `Governor held this call for human approval; it was ${d.state}${by}${d.resolution?.reason ? `: ${d.resolution.reason}` : ''} (decision ${d.id}).`;
}

function modifyNote(tool: string, requested: Record<string, unknown> | undefined, ran: Record<string, unknown> | undefined, d: WireDecision): string {
  const reasons = d.reasons.filter(enforced).filter((r) => r.effect === 'modify');
  const changes: string[] = [];
  const keys = new Set([...Object.keys(requested ?? {}), ...Object.keys(ran ?? {})]);
  for (const key of keys) {
    const before = JSON.stringify(requested?.[key]);
    const after = JSON.stringify(ran?.[key]);
    if (before !== after) changes.push(`${key}: ${truncate(before ?? 'absent', 200)} -> ${truncate(after ?? 'absent', 200)}`);
  }
  return `Governor modified this call to ${tool} before it ran: ${reasons.map(describeReason).join('; ') || 'bounded by policy'}. It ran with ${changes.length > 0 ? changes.join(', ') : 'the arguments Governor allowed'} (decision ${d.id}).`;
}

function blockedText(tool: string, check: WireToolCheck, serverName: string): string {
  const how = `governor mcp approve-tool --server ${serverName} --tool ${tool} --hash ${check.hash}`;
  if (check.reason) return `Governor blocked ${tool}: ${check.reason}`;
  return `Governor blocked ${tool}: its definition changed since it was pinned (hash ${check.hash}); calls are refused until an operator reviews and approves it (${how}).`;
}

function isKilled(d: WireDecision): boolean {
  return d.reasons.some((r) => r.code === 'KILLED');
}

function killReason(d: WireDecision): string {
  return d.reasons.find((r) => r.code === 'KILLED')?.message ?? 'kill switch';
}

function textOf(result: CallToolResult): string {
  return result.content
    .filter((c): c is { type: 'text'; text: string } => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Waits for `promise`, at most `ms`; the timer never outlives the wait. */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A server name the tool-pin API accepts, from an untrusted or free-form one. */
export function safeServerName(name: string): string {
  const safe = name.replace(/[^\x21-\x7e]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 128);
  return safe.length > 0 ? safe : 'mcp-server';
}

/**
 * `governor mcp serve --upstream URL`: a Streamable HTTP MCP server in front
 * of a remote Streamable HTTP MCP server. Each MCP session is governed as the
 * agent whose credential (`Authorization: Bearer …`) opened it: the credential
 * is checked with `GET /v1/whoami` before anything else, and it never reaches
 * the upstream.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createGovernanceSession, GOVERNANCE_DEFAULTS, PROXY_INFO, safeServerName, sessionLimits, type GovernanceConfig, type GovernanceSession, type ProxyLog } from './governance-proxy.js';
import { createGovernorClient, verifyAgentCredential } from './governor-client.js';

/** How to run the HTTP proxy. */
export interface HttpProxyOptions extends Omit<GovernanceConfig, 'serverName'> {
  /** The remote MCP server's Streamable HTTP endpoint. */
  readonly upstreamUrl: string;
  readonly governorUrl: string;
  /** The upstream's stable name; default its host and path. */
  readonly serverName?: string;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
  /** Most sessions at once. Default 100. */
  readonly maxSessions?: number;
  /** A session idle this long is closed, ms. Default 30 min. */
  readonly idleTimeoutMs?: number;
  readonly log: ProxyLog;
}

/** One governed session of the HTTP proxy. */
export interface HttpProxySession {
  readonly id: string;
  readonly agent: string;
  readonly session: GovernanceSession;
}

/** A running HTTP proxy. */
export interface HttpProxy {
  /** The MCP endpoint clients connect to, e.g. `http://127.0.0.1:8090/mcp`. */
  readonly url: string;
  /** The open sessions (the kill switch closes the ones in its scope with `session.close`). */
  sessions(): readonly HttpProxySession[];
  close(): Promise<void>;
}

interface Entry {
  readonly id: string;
  readonly agent: string;
  token: string;
  lastSeen: number;
  readonly transport: StreamableHTTPServerTransport;
  readonly session: GovernanceSession;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** Starts the HTTP proxy and resolves once it listens. */
export async function startHttpProxy(options: HttpProxyOptions): Promise<HttpProxy> {
  const { log } = options;
  const upstreamUrl = new URL(options.upstreamUrl);
  const serverName = options.serverName ?? safeServerName(`${upstreamUrl.host}${upstreamUrl.pathname}`.replace(/\/+$/, ''));
  const maxSessions = options.maxSessions ?? 100;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30 * 60_000;
  const maxArgumentBytes = options.maxArgumentBytes ?? GOVERNANCE_DEFAULTS.maxArgumentBytes;
  const host = options.host ?? '127.0.0.1';
  const entries = new Map<string, Entry>();
  // Sessions being opened count towards the limit before they have an id.
  let opening = 0;
  let allowedHosts: string[] | undefined;

  const reject = (res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}) => {
    if (res.headersSent) return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
  };
  const bearer = (req: IncomingMessage): string | undefined => /^Bearer ([A-Za-z0-9._~+/=-]{1,8192})$/.exec(req.headers.authorization ?? '')?.[1];

  async function openSession(req: IncomingMessage, res: ServerResponse, token: string): Promise<void> {
    // Set once the transport has a session id; the credential then follows the entry (it may be rotated).
    let entry: Entry | undefined;
    const governor = createGovernorClient({ url: options.governorUrl, token: () => entry?.token ?? token });
    const verified = await verifyAgentCredential(governor);
    if (!verified.ok) return verified.refused ? reject(res, 401, verified.message, { 'www-authenticate': 'Bearer realm="governor"' }) : reject(res, 503, verified.message);
    const upstream = new Client({ ...PROXY_INFO }, { capabilities: {} });
    try {
      await upstream.connect(new StreamableHTTPClientTransport(upstreamUrl), { timeout: options.callTimeoutMs ?? GOVERNANCE_DEFAULTS.callTimeoutMs });
    } catch (err) {
      await upstream.close().catch(() => {});
      log('error', `cannot reach the upstream MCP server ${upstreamUrl.href}: ${(err as Error).message}`);
      return reject(res, 502, `cannot reach the upstream MCP server: ${(err as Error).message}`);
    }
    const session = createGovernanceSession({
      upstream,
      governor,
      log,
      config: { ...sessionLimits(options), environment: options.environment, serverName, maxArgumentBytes },
    });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      maxRequestBodySize: maxArgumentBytes + 64 * 1024,
      ...(allowedHosts ? { enableDnsRebindingProtection: true, allowedHosts } : {}),
      onsessioninitialized: (id) => {
        entry = { id, agent: verified.principal.agent, token, lastSeen: Date.now(), transport, session };
        entries.set(id, entry);
        log('info', `session ${id} opened for agent ${verified.principal.agent} (role ${verified.principal.role})`);
      },
    });
    // The kill switch closes this session the moment a kill touches its agent, not at its next call.
    const stopWatching = governor.watchKills((reason) => void session.close(reason));
    void session.closed.then(() => {
      stopWatching();
      if (entry) entries.delete(entry.id);
    });
    await session.server.connect(transport);
    await transport.handleRequest(req, res);
    // Anything but an initialize request leaves no session behind.
    if (!entry) await session.close('the first request of a session must be initialize');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/mcp') return reject(res, 404, 'not found: the MCP endpoint is /mcp');
    const token = bearer(req);
    if (!token) return reject(res, 401, 'missing or malformed credential: send Authorization: Bearer <agent token>', { 'www-authenticate': 'Bearer realm="governor"' });
    const header = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    if (sessionId !== undefined) {
      const entry = entries.get(sessionId);
      if (!entry) return reject(res, 404, 'session not found: initialize a new one');
      if (token !== entry.token) {
        // A rotated credential may continue the session, but only for the same agent.
        const verified = await verifyAgentCredential(createGovernorClient({ url: options.governorUrl, token }));
        if (!verified.ok) return verified.refused ? reject(res, 401, verified.message, { 'www-authenticate': 'Bearer realm="governor"' }) : reject(res, 503, verified.message);
        if (verified.principal.agent !== entry.agent) return reject(res, 403, 'this session belongs to another agent');
        entry.token = token;
      }
      entry.lastSeen = Date.now();
      return entry.transport.handleRequest(req, res);
    }
    if (req.method !== 'POST') return reject(res, 400, 'no session: send initialize first');
    if (entries.size + opening >= maxSessions) return reject(res, 503, `too many sessions (${maxSessions})`);
    opening++;
    try {
      await openSession(req, res, token);
    } finally {
      opening--;
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log('error', `request failed: ${(err as Error).message}`);
      reject(res, 500, 'internal error');
    });
  });
  await new Promise<void>((resolve, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', rejectListen);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  // Browsers on this machine must not reach a loopback proxy through a rebound DNS name.
  if (LOOPBACK.has(host)) allowedHosts = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const entry of entries.values()) {
      if (now - entry.lastSeen > idleTimeoutMs) void entry.session.close(`idle for more than ${Math.round(idleTimeoutMs / 1000)} s`);
    }
  }, Math.min(60_000, idleTimeoutMs));
  sweep.unref();
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/mcp`;
  log('info', `MCP proxy listening on ${url}, governing ${upstreamUrl.href} as "${serverName}" in ${options.environment} via ${options.governorUrl}`);

  return {
    url,
    sessions: () => [...entries.values()].map((e) => ({ id: e.id, agent: e.agent, session: e.session })),
    async close() {
      clearInterval(sweep);
      await Promise.allSettled([...entries.values()].map((e) => e.session.close('the proxy is shutting down')));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/**
 * `governor mcp wrap -- <server command…>`: the MCP client launches the
 * proxy instead of the server; the proxy launches the real server as its
 * child (stdio) and serves the client on its own stdin/stdout. Standard
 * output is the protocol channel: every log line goes to standard error.
 */
import type { Readable, Writable } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createGovernanceSession, PROXY_INFO, safeServerName, sessionLimits, type GovernanceConfig, type GovernanceSession, type ProxyLog } from './governance-proxy.js';
import { createGovernorClient, verifyAgentCredential, type AgentPrincipal } from './governor-client.js';

/** How to run one stdio proxy. */
export interface StdioProxyOptions extends Omit<GovernanceConfig, 'serverName'> {
  readonly governorUrl: string;
  /** The agent credential every decision is made for. */
  readonly token: string;
  /** The upstream's stable name; default: the name the upstream reports, made safe. */
  readonly serverName?: string;
  /** The real MCP server's command and arguments. */
  readonly command: string;
  readonly args: readonly string[];
  /** The upstream's environment; default: ours without `GOVERNOR_*` variables (the credential stays here). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  /** The client's side; default the process's stdin and stdout. */
  readonly stdin?: Readable;
  readonly stdout?: Writable;
  readonly log: ProxyLog;
}

/** A running stdio proxy, or why it did not start (`exitCode` 2: the credential was refused; 1: anything else). */
export type StdioProxyStart =
  | { readonly ok: true; readonly session: GovernanceSession; readonly principal: AgentPrincipal; readonly serverName: string }
  | { readonly ok: false; readonly exitCode: 1 | 2; readonly message: string };

/** Starts the proxy: verifies the credential, launches the upstream, then serves the client. */
export async function startStdioProxy(options: StdioProxyOptions): Promise<StdioProxyStart> {
  const { log } = options;
  const governor = createGovernorClient({ url: options.governorUrl, token: options.token });
  const verified = await verifyAgentCredential(governor);
  if (!verified.ok) return { ok: false, exitCode: verified.refused ? 2 : 1, message: verified.message };
  const { principal } = verified;

  const env = Object.fromEntries(
    Object.entries(options.env ?? process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('GOVERNOR_')),
  );
  const transport = new StdioClientTransport({
    command: options.command,
    args: [...options.args],
    env,
    // The upstream's own diagnostics go where ours go; never to our stdout.
    stderr: 'inherit',
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  const upstream = new Client({ ...PROXY_INFO }, { capabilities: {} });
  try {
    await upstream.connect(transport, { timeout: options.callTimeoutMs ?? 60_000 });
  } catch (err) {
    await upstream.close().catch(() => {});
    return { ok: false, exitCode: 1, message: `cannot start the MCP server "${[options.command, ...options.args].join(' ')}": ${(err as Error).message}` };
  }
  const serverName = options.serverName ?? safeServerName(upstream.getServerVersion()?.name ?? options.command);
  if (options.serverName === undefined) log('info', `no --server-name given: tool pins are kept under "${serverName}", the name the server reports`);

  const session = createGovernanceSession({
    upstream,
    governor,
    log,
    config: { ...sessionLimits(options), environment: options.environment, serverName },
  });
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  // The SDK's stdio transport does not notice the client going away: end of input is a disconnect.
  const onEnd = () => void session.close('the MCP client disconnected');
  stdin.once('end', onEnd);
  stdin.once('close', onEnd);
  const onOutputError = (err: Error) => void session.close(`cannot write to the MCP client: ${err.message}`);
  stdout.once('error', onOutputError);
  // The kill switch closes this session the moment a kill touches its agent, not at its next call.
  const stopWatching = governor.watchKills((reason) => void session.close(reason));
  void session.closed.then(() => {
    stopWatching();
    stdin.off('end', onEnd);
    stdin.off('close', onEnd);
    stdout.off('error', onOutputError);
  });
  // A buffer larger than the argument limit, so an oversized call is answered with a clear refusal.
  const maxBufferSize = Math.max(10 * 1024 * 1024, 2 * (options.maxArgumentBytes ?? 4 * 1024 * 1024));
  await session.server.connect(new StdioServerTransport(stdin, stdout, { maxBufferSize }));
  log('info', `governing ${serverName} in ${options.environment} for agent ${principal.agent} (role ${principal.role}${principal.task ? `, task ${principal.task}` : ''}) via ${governor.url}`);
  return { ok: true, session, principal, serverName };
}

import { resolve } from 'node:path';
import type { ToolPin } from '../../control/tool-pins.js';
import { startHttpProxy } from '../../mcp/http-proxy.js';
import { ENVIRONMENT, HTTP_URL, loadProxyConfig, SERVER_NAME, type ProxyConfig } from '../../mcp/proxy-config.js';
import { startStdioProxy } from '../../mcp/stdio-proxy.js';
import type { ProxyLog } from '../../mcp/governance-proxy.js';
import { apiClient, SERVER_FLAGS_HELP, serverFlags } from '../api-client.js';
import { parseFlags, UsageError, type Io } from '../args.js';
import type { Command } from '../args.js';

const DEFAULT_URL = 'http://127.0.0.1:8080';

const WRAP_HELP = `Usage: governor mcp wrap [--config FILE] [--url URL] [--token TOKEN] [--environment ENV]
                         [--server-name NAME] [--quiet] -- <server command> [args...]

Launches the MCP server <server command> and serves it to the MCP client on
standard input and output, with every tools/call decided by Governor first:
allowed calls are forwarded, modified ones run with the bounded arguments,
held ones wait for human approval, denied ones come back to the model as an
error naming the rule and the reason. Logs go to standard error only.

  --config FILE       proxy configuration (YAML): governor.url, environment,
                      serverName, pendingTimeoutMs, callTimeoutMs, maxArgumentBytes
  --url URL           the Governor server (default: the config's, GOVERNOR_URL, ${DEFAULT_URL})
  --token TOKEN       the agent credential (default GOVERNOR_AGENT_TOKEN; prefer the
                      variable: a flag is visible to other users in the process list)
  --environment ENV   the environment the server acts on (overrides the config)
  --server-name NAME  the server's stable name for tool pins (default: the config's,
                      else the name the server reports)
  --quiet             log only warnings and errors`;

const SERVE_HELP = `Usage: governor mcp serve --upstream URL [--port P] [--host ADDR] [--environment ENV]
                          [--url GOVERNOR_URL] [--config FILE] [--server-name NAME] [--quiet]

Serves Streamable HTTP MCP at http://ADDR:P/mcp in front of the remote MCP
server at URL. Each client session is governed as the agent whose credential
it sends (Authorization: Bearer <agent token>), checked with Governor when the
session opens; the credential is never passed upstream.

  --upstream URL      the remote server's Streamable HTTP endpoint
  --port P            port (default 8090)
  --host ADDR         address to bind (default 127.0.0.1)
  --environment ENV   the environment the server acts on (overrides the config)
  --url URL           the Governor server (default: the config's, GOVERNOR_URL, ${DEFAULT_URL})
  --config FILE       proxy configuration (YAML), as for wrap
  --server-name NAME  the server's stable name for tool pins (default: its host and path)
  --quiet             log only warnings and errors`;

const PINS_HELP = `Usage: governor mcp pins [--state approved|changed] [--url URL] [--token TOKEN] [--json]

Lists the pinned MCP tool definitions; a changed definition is blocked until
an operator approves it with governor mcp approve-tool.

  --state STATE     only pins in this state
${SERVER_FLAGS_HELP}`;

const APPROVE_HELP = `Usage: governor mcp approve-tool --server NAME --tool TOOL --hash HASH [--url URL] [--token TOKEN] [--json]

Approves the changed definition of TOOL on server NAME, named by its SHA-256
HASH (as governor mcp pins shows it): it becomes the pinned definition and
calls to it are no longer blocked. Review the definition first.

  --server NAME     the upstream server's name
  --tool TOOL       the tool
  --hash HASH       the hash of the definition you reviewed
${SERVER_FLAGS_HELP}`;

export const mcpCommand: Command = {
  name: 'mcp',
  summary: 'govern MCP servers: wrap, serve, pins, approve-tool',
  help: `Usage: governor mcp <subcommand> [options]

Governs an unmodified MCP client and server: every tools/call passes through
Governor's decision API before it reaches the server.

Subcommands:
  wrap -- CMD...     wrap a stdio MCP server (configure the client to launch this)
  serve              proxy a remote Streamable HTTP MCP server
  pins               list pinned tool definitions (operator)
  approve-tool       approve a changed tool definition (operator)

${WRAP_HELP}

${SERVE_HELP}

${PINS_HELP}

${APPROVE_HELP}`,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'wrap':
        return wrap(rest, io);
      case 'serve':
        return serve(rest, io);
      case 'pins':
        return pins(rest, io);
      case 'approve-tool':
        return approveTool(rest, io);
      default:
        throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'missing subcommand: wrap, serve, pins or approve-tool');
    }
  },
};

/** Logs to standard error, as `governor mcp: …`. */
function stderrLog(io: Io, quiet: boolean): ProxyLog {
  return (level, message) => {
    if (quiet && level === 'info') return;
    io.err(`governor mcp: ${level === 'info' ? '' : `${level}: `}${message}`);
  };
}

/** The settings common to wrap and serve: flags over the config file over the environment. */
async function settings(values: { config?: string | undefined; url?: string | undefined; environment?: string | undefined; 'server-name'?: string | undefined }, io: Io) {
  const file: ProxyConfig | undefined = values.config === undefined ? undefined : await loadProxyConfig(resolve(io.cwd, values.config), values.config);
  const governorUrl = (values.url ?? file?.governorUrl ?? io.env.GOVERNOR_URL ?? DEFAULT_URL).replace(/\/+$/, '');
  if (!HTTP_URL.test(governorUrl)) throw new UsageError(`--url must be an http(s) URL, got "${governorUrl}"`);
  const environment = values.environment ?? file?.environment;
  if (environment === undefined) throw new UsageError('no environment: pass --environment ENV or set environment in --config FILE');
  if (!ENVIRONMENT.test(environment)) throw new UsageError(`--environment must be an identifier (letters, digits, . _ : @ -), got "${environment}"`);
  const serverName = values['server-name'] ?? file?.serverName;
  if (serverName !== undefined && !SERVER_NAME.test(serverName)) throw new UsageError(`--server-name must be printable characters without spaces, at most 128, got "${serverName}"`);
  return {
    governorUrl,
    environment,
    ...(serverName === undefined ? {} : { serverName }),
    ...(file?.pendingTimeoutMs === undefined ? {} : { pendingTimeoutMs: file.pendingTimeoutMs }),
    ...(file?.callTimeoutMs === undefined ? {} : { callTimeoutMs: file.callTimeoutMs }),
    ...(file?.maxArgumentBytes === undefined ? {} : { maxArgumentBytes: file.maxArgumentBytes }),
  };
}

/** Resolves when SIGINT or SIGTERM arrives or `until` settles, whichever is first. */
function untilSignal(until: Promise<unknown>, onSignal: (signal: string) => void): Promise<void> {
  return new Promise((done) => {
    const stop = (signal: NodeJS.Signals) => {
      cleanup();
      onSignal(signal);
      done();
    };
    const cleanup = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    void until.then(() => {
      cleanup();
      done();
    });
  });
}

async function wrap(argv: readonly string[], io: Io): Promise<number> {
  const split = argv.indexOf('--');
  if (split === -1) throw new UsageError('missing the server command: governor mcp wrap [options] -- <server command> [args...]');
  const [command, ...args] = argv.slice(split + 1);
  if (!command) throw new UsageError('missing the server command after --');
  const { values } = parseFlags(argv.slice(0, split), {
    config: { type: 'string', short: 'c' },
    url: { type: 'string' },
    token: { type: 'string' },
    environment: { type: 'string' },
    'server-name': { type: 'string' },
    quiet: { type: 'boolean', default: false },
  });
  const log = stderrLog(io, values.quiet);
  const token = values.token ?? io.env.GOVERNOR_AGENT_TOKEN;
  if (!token) {
    io.err('governor mcp wrap: no agent credential: set GOVERNOR_AGENT_TOKEN (or pass --token); get one with governor token issue --agent ID --role ROLE --task TASK');
    return 2;
  }
  const started = await startStdioProxy({ ...(await settings(values, io)), token, command, args, env: io.env, cwd: io.cwd, log });
  if (!started.ok) {
    io.err(`governor mcp wrap: ${started.message}`);
    return started.exitCode;
  }
  const { session } = started;
  await untilSignal(session.closed, (signal) => void session.close(`received ${signal}`));
  const reason = await session.closed;
  return reason === 'the MCP client disconnected' || reason.startsWith('received SIG') ? 0 : 1;
}

async function serve(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, {
    upstream: { type: 'string' },
    port: { type: 'string', short: 'p' },
    host: { type: 'string' },
    config: { type: 'string', short: 'c' },
    url: { type: 'string' },
    environment: { type: 'string' },
    'server-name': { type: 'string' },
    quiet: { type: 'boolean', default: false },
  });
  if (!values.upstream) throw new UsageError('--upstream URL is required: the remote MCP server');
  if (!HTTP_URL.test(values.upstream)) throw new UsageError(`--upstream must be an http(s) URL, got "${values.upstream}"`);
  const port = Number(values.port ?? 8090);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer in 0..65535, got "${values.port}"`);
  const proxy = await startHttpProxy({
    ...(await settings(values, io)),
    upstreamUrl: values.upstream,
    port,
    host: values.host ?? '127.0.0.1',
    log: stderrLog(io, values.quiet),
  });
  io.err(`governor mcp serve: listening on ${proxy.url}`);
  await untilSignal(new Promise(() => {}), () => {});
  await proxy.close();
  return 0;
}

async function pins(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, { ...serverFlags, state: { type: 'string' } });
  if (values.state !== undefined && values.state !== 'approved' && values.state !== 'changed') throw new UsageError('--state must be approved or changed');
  const { pins: list } = await apiClient(values, io).call<{ pins: ToolPin[] }>('GET', `/v1/mcp/pins${values.state ? `?state=${values.state}` : ''}`);
  if (values.json) {
    io.out(JSON.stringify(list, null, 2));
    return 0;
  }
  if (list.length === 0) {
    io.out(values.state ? `no ${values.state} pins` : 'no pinned tools yet: tools are pinned the first time a proxy lists them');
    return 0;
  }
  for (const p of list) {
    io.out(`${p.server} ${p.tool}: ${p.state}, pinned ${p.hash} (approved by ${p.approvedBy} at ${p.approvedAt})`);
    if (p.pending) {
      io.out(`  CHANGED to ${p.pending.hash}, seen ${p.pending.seenAt} by ${p.pending.seenBy}; calls are blocked`);
      if (p.pending.definition.description !== undefined) io.out(`  new description: ${JSON.stringify(p.pending.definition.description)}`);
      io.out(`  review, then: governor mcp approve-tool --server ${p.server} --tool ${p.tool} --hash ${p.pending.hash}`);
    }
  }
  return 0;
}

async function approveTool(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseFlags(argv, { ...serverFlags, server: { type: 'string' }, tool: { type: 'string' }, hash: { type: 'string' } });
  if (!values.server || !values.tool || !values.hash) throw new UsageError('--server, --tool and --hash are required (see governor mcp pins)');
  if (!/^[0-9a-f]{64}$/.test(values.hash)) throw new UsageError('--hash must be the 64 hex digits governor mcp pins shows');
  const pin = await apiClient(values, io).call<ToolPin>('POST', '/v1/mcp/pins/approve', { server: values.server, tool: values.tool, hash: values.hash });
  if (values.json) {
    io.out(JSON.stringify(pin, null, 2));
    return 0;
  }
  io.out(`approved ${values.tool} on ${values.server}: definition ${values.hash} is now pinned; calls to it are no longer blocked`);
  return 0;
}

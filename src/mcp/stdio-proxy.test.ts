/**
 * `governor mcp wrap` as an MCP client launches it: a real process speaking
 * MCP on its stdin and stdout, a real Governor, the demo infrastructure
 * server as its child.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, ROOT, SERVERS, startGovernor, textOf, type TestGovernor } from './test-fixtures.js';

// What bin/governor.js does once the command is registered, without needing dist/.
const MAIN = `
import { mcpCommand } from ${JSON.stringify(new URL('../cli/commands/mcp.ts', import.meta.url).href)};
process.exitCode = await mcpCommand.run(process.argv.slice(1), {
  out: (t) => process.stdout.write(t + '\\n'),
  err: (t) => process.stderr.write(t + '\\n'),
  cwd: process.cwd(),
  env: process.env,
});
`;

interface Wrapped {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
}

function wrap(args: readonly string[], env: Record<string, string>): Wrapped {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', MAIN, 'wrap', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, exit, stdout: () => out, stderr: () => err };
}

describe('governor mcp wrap', () => {
  let gov: TestGovernor;
  beforeAll(async () => {
    gov = await startGovernor();
  });
  afterAll(async () => gov?.close());

  it.each([
    ['no credential', {}, /no agent credential: set GOVERNOR_AGENT_TOKEN/],
    ['a forged credential', { GOVERNOR_AGENT_TOKEN: 'eyJhbGciOiJFZERTQSJ9.e30.AAAA' }, /refused the agent credential: UNAUTHENTICATED/],
  ])('refuses to start with %s: exit 2, a message on stderr, nothing on stdout', async (_name, env, message) => {
    const run = wrap(['--url', gov.url, '--environment', 'prod', '--', process.execPath, SERVERS.infra], env);
    run.child.stdin.end();
    expect((await run.exit).code).toBe(2);
    expect(run.stderr()).toMatch(message);
    expect(run.stdout()).toBe('');
  });

  it('refuses an operator credential: the proxy acts for an agent', async () => {
    const run = wrap(['--url', gov.url, '--environment', 'prod', '--', process.execPath, SERVERS.infra], { GOVERNOR_AGENT_TOKEN: gov.operator('ann', 'sre') });
    run.child.stdin.end();
    expect((await run.exit).code).toBe(2);
    expect(run.stderr()).toMatch(/is an operator's \(ann\); the MCP proxy needs an agent credential/);
  });

  it('answers malformed input with errors and carries on', async () => {
    const token = await gov.agent({ agent: 'deploy-bot', role: 'deployer', task: 'T-1' });
    const run = wrap(['--url', gov.url, '--environment', 'prod', '--server-name', 'infra-demo', '--', process.execPath, SERVERS.infra], { GOVERNOR_AGENT_TOKEN: token });
    const send = (line: string) => run.child.stdin.write(`${line}\n`);
    const answer = async (id: number) =>
      eventually(async () =>
        run
          .stdout()
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as { id?: number; result?: unknown; error?: { code: number; message: string } })
          .find((m) => m.id === id),
      );
    send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
    expect((await answer(1)).result).toMatchObject({ serverInfo: { name: 'infra-demo' } });
    send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    send('{this is not json');
    send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 42 } }));
    send(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'no/such/method', params: {} }));
    send(JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'read_logs', arguments: { service: 'search' } } }));
    expect([-32602, -32603]).toContain((await answer(2)).error?.code);
    expect((await answer(3)).error?.code).toBe(-32601);
    expect(JSON.stringify((await answer(4)).result)).toContain('search: version');
    expect(run.stderr()).toMatch(/from the client: .*JSON/);
    run.child.stdin.end();
    expect((await run.exit).code).toBe(0);
  });

  it('governs the demo infrastructure server end to end and exits cleanly when the client hangs up', async () => {
    const token = await gov.agent({ agent: 'deploy-bot', role: 'deployer', task: 'T-1' });
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', MAIN, 'wrap', '--url', gov.url, '--environment', 'prod', '--server-name', 'infra-demo', '--', process.execPath, SERVERS.infra], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', GOVERNOR_AGENT_TOKEN: token },
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // A line-delimited JSON-RPC transport over the child's pipes; anything else on its stdout is an error.
    const transport = new StdioServerTransport(child.stdout, child.stdin);
    const protocolErrors: Error[] = [];
    const client = new Client({ name: 'e2e-client', version: '1.0.0' }, { capabilities: {} });
    client.onerror = (err) => protocolErrors.push(err);
    await client.connect(transport);

    expect(client.getServerVersion()?.name).toBe('infra-demo');
    const tools = (await client.listTools()).tools.map((t) => t.name);
    expect(tools).toEqual(expect.arrayContaining(['restart_service', 'scale_service', 'deploy', 'read_logs', 'run_sql']));
    const result = await client.callTool({ name: 'restart_service', arguments: { service: 'payments', fraction: 0.4 } });
    expect(textOf(result)).toContain('Restarted 1 of 20 replicas of payments');
    expect(textOf(result)).toContain('Governor modified this call to restart_service');
    const unknown = await client.callTool({ name: 'restart_service', arguments: { service: 'billing' } });
    expect(unknown.isError).toBe(true);
    expect(textOf(unknown)).toMatch(/^Governor denied restart_service in prod: .*billing/);

    await client.close();
    child.stdin.end();
    expect(await exit).toBe(0);
    expect(protocolErrors).toEqual([]);
    expect(stderr).toContain('governing infra-demo in prod for agent deploy-bot (role deployer, task T-1)');
    expect(stderr).toContain('restart_service -> modify');
    expect(stderr).toContain('session closed: the MCP client disconnected');
  });
});

/**
 * `governor mcp serve`: Streamable HTTP in front of the everything server
 * (Streamable HTTP, a child process), one governed session per client, each
 * as the agent whose credential opened it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpProxy, type HttpProxy } from './http-proxy.js';
import { eventually, ROOT, SERVERS, startGovernor, textOf, type TestGovernor } from './test-fixtures.js';

const POLICY = `
version: 1
name: mcp-http
inventory: inventory.yaml
defaults: { verdict: deny }
tools:
  echo: { operation: read, reversible: true }
  get-sum: { operation: read, reversible: true }
rules:
  - id: reads
    match: { tools: [echo, get-sum] }
    allow: {}
  - id: sum-only-for-analysts
    match: { tools: [get-sum] }
    when: principal.role != "analyst"
    deny: { message: only analysts add numbers }
`;
const INVENTORY = `
services:
  - { id: workstation, environment: dev, replicas: 1, traffic: 0 }
`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('governor mcp serve', () => {
  let gov: TestGovernor;
  let everything: ChildProcess;
  let proxy: HttpProxy;
  const logs: string[] = [];
  const clients: Client[] = [];

  const connect = async (token: string) => {
    const client = new Client({ name: 'http-client', version: '1.0.0' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(proxy.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    clients.push(client);
    return client;
  };
  const post = (token: string | undefined, headers: Record<string, string> = {}) =>
    fetch(proxy.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });

  beforeAll(async () => {
    gov = await startGovernor({ policy: POLICY, inventory: INVENTORY });
    const port = await freePort();
    everything = spawn(process.execPath, [SERVERS.everything, 'streamableHttp'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    everything.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    everything.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    await eventually(async () => (out.includes('listening on port') ? true : undefined));
    proxy = await startHttpProxy({
      upstreamUrl: `http://127.0.0.1:${port}/mcp`,
      governorUrl: gov.url,
      environment: 'dev',
      log: (level, message) => logs.push(`${level}: ${message}`),
    });
  });
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await proxy?.close();
    everything?.kill();
    await gov?.close();
  });

  it('refuses a session without a valid agent credential', async () => {
    const none = await post(undefined);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    const forged = await post('eyJhbGciOiJFZERTQSJ9.e30.AAAA');
    expect(forged.status).toBe(401);
    expect(((await forged.json()) as { error: { message: string } }).error.message).toMatch(/refused the agent credential/);
    const operator = await post(gov.operator('ann', 'sre'));
    expect(operator.status).toBe(401);
    expect(proxy.sessions()).toEqual([]);
  });

  it('leaves no session behind when the first request is not initialize', async () => {
    const res = await fetch(proxy.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${await gov.agent({ agent: 'eager-bot' })}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    expect(res.status).toBe(400);
    expect(proxy.sessions()).toEqual([]);
  });

  it('governs each session as the agent that opened it', async () => {
    const deployer = await connect(await gov.agent({ agent: 'http-deployer', role: 'deployer' }));
    const analyst = await connect(await gov.agent({ agent: 'http-analyst', role: 'analyst' }));
    expect(proxy.sessions().map((s) => s.agent).sort()).toEqual(['http-analyst', 'http-deployer']);

    // The policy can never let the deployer add numbers: the tool is hidden from it, and refused if called anyway.
    expect((await deployer.listTools()).tools.map((t) => t.name)).toEqual(['echo']);
    expect((await analyst.listTools()).tools.map((t) => t.name).sort()).toEqual(['echo', 'get-sum']);
    expect(textOf(await deployer.callTool({ name: 'echo', arguments: { message: 'over http' } }))).toContain('over http');
    const refused = await deployer.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } });
    expect(refused.isError).toBe(true);
    expect(textOf(await analyst.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } }))).toContain('3');
    expect(logs.join('\n')).toMatch(/echo -> allow/);
  });

  it("refuses another agent's credential on an open session", async () => {
    const client = await connect(await gov.agent({ agent: 'owner-bot' }));
    await client.listTools();
    const id = proxy.sessions().find((s) => s.agent === 'owner-bot')?.id as string;
    const intruder = await fetch(proxy.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${await gov.agent({ agent: 'intruder-bot' })}`, 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} }),
    });
    expect(intruder.status).toBe(403);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'still mine' } }))).toContain('still mine');
  });

  it('closing a session (the kill hook) cuts that client off only', async () => {
    const victim = await connect(await gov.agent({ agent: 'victim-bot' }));
    const bystander = await connect(await gov.agent({ agent: 'bystander-bot' }));
    const entry = proxy.sessions().find((s) => s.agent === 'victim-bot');
    await entry?.session.close('killed by an operator: test');
    expect(proxy.sessions().some((s) => s.agent === 'victim-bot')).toBe(false);
    await expect(victim.callTool({ name: 'echo', arguments: { message: 'x' } })).rejects.toThrow();
    expect(textOf(await bystander.callTool({ name: 'echo', arguments: { message: 'fine' } }))).toContain('fine');
  });
});

/**
 * Real peers for the MCP proxy's tests: a Governor listening on a socket, MCP
 * servers as child processes, and an SDK client wired to a governed session
 * in memory. Test support only; not part of the build.
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { createGovernor, type Governor } from '../main.js';
import { createGovernanceSession, PROXY_INFO, type GovernanceConfig, type GovernanceSession } from './governance-proxy.js';
import { createGovernorClient, type GovernorClient } from './governor-client.js';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = join(ROOT, 'examples');

/** Entry points of the real MCP servers the tests run. */
export const SERVERS = {
  filesystem: join(ROOT, 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js'),
  everything: join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'),
  infra: join(EXAMPLES, 'infra-mcp-server/server.mjs'),
} as const;

/** A Governor serving HTTP on a free loopback port. */
export interface TestGovernor {
  readonly governor: Governor;
  readonly url: string;
  readonly dir: string;
  /** An agent credential; the agent gets a production agent card first (once). */
  agent(options?: { agent?: string; role?: string; task?: string }): Promise<string>;
  operator(name: string, ...groups: string[]): string;
  call(method: 'GET' | 'POST', path: string, token: string | undefined, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  /** A decision API client for an agent credential. */
  client(token: string): GovernorClient;
  close(): Promise<void>;
}

/** Starts a Governor with this policy and inventory (or the examples'). */
export async function startGovernor(files: { policy?: string; inventory?: string } = {}): Promise<TestGovernor> {
  const dir = await mkdtemp(join(tmpdir(), 'governor-mcp-'));
  await writeFile(join(dir, 'governor.yaml'), files.policy ?? (await readFile(join(EXAMPLES, 'governor.yaml'), 'utf8')));
  if (files.inventory === undefined) await copyFile(join(EXAMPLES, 'inventory.yaml'), join(dir, 'inventory.yaml'));
  else await writeFile(join(dir, 'inventory.yaml'), files.inventory);
  const governor = await createGovernor({ policyPath: join(dir, 'governor.yaml'), sweepIntervalMs: 200, checkpoint: { intervalMs: 60_000 } });
  await governor.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(governor.app.server.address() as AddressInfo).port}`;
  let closed = false;
  const registered = new Set<string>();
  const operatorToken = governor.issuers.operator.issue({ operator: 'test-admin', groups: ['admin'], ttlSeconds: 3600 }).token;
  return {
    governor,
    url,
    dir,
    async agent(o = {}) {
      const agent = o.agent ?? 'mcp-bot';
      if (!registered.has(agent)) {
        registered.add(agent);
        const res = await fetch(`${url}/v1/agents`, {
          method: 'POST',
          headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ id: agent, owner: 'team-test', purpose: 'MCP proxy tests', trust: 'production' }),
        });
        if (res.status !== 201 && res.status !== 404) throw new Error(`registering agent ${agent}: ${res.status} ${await res.text()}`);
      }
      return governor.issuers.agent.issue({ agent, role: o.role ?? 'deployer', task: o.task ?? 'T-1', ttlSeconds: 600 }).token;
    },
    operator: (name, ...groups) => governor.issuers.operator.issue({ operator: name, groups, ttlSeconds: 600 }).token,
    async call(method, path, token, body) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    client: (token) => createGovernorClient({ url, token }),
    async close() {
      if (closed) return;
      closed = true;
      await governor.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** An MCP server running as a child process, and a connected client of it. */
export interface Upstream {
  readonly client: Client;
  readonly transport: StdioClientTransport;
  /** What the server wrote to standard error. */
  stderr(): string;
}

/** Starts `node ARGS` as an MCP server over stdio. */
export async function spawnServer(args: readonly string[], env: Record<string, string> = {}): Promise<Upstream> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...args],
    cwd: ROOT,
    stderr: 'pipe',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
  });
  let err = '';
  transport.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const client = new Client({ ...PROXY_INFO }, { capabilities: {} });
  await client.connect(transport);
  return { client, transport, stderr: () => err };
}

/** Starts a server written inline (ES module source) as a child process. */
export function spawnInlineServer(source: string, env: Record<string, string> = {}): Promise<Upstream> {
  return spawnServer(['--input-type=module', '-e', source], env);
}

/** A governed session with an SDK client connected to it in memory. */
export interface Governed {
  readonly client: Client;
  readonly session: GovernanceSession;
  readonly logs: string[];
}

/** Governs `upstream` for the agent of `governor`, and connects a client to it. */
export async function govern(upstream: Client, governor: GovernorClient, config: GovernanceConfig): Promise<Governed> {
  const logs: string[] = [];
  const session = createGovernanceSession({ upstream, governor, config, log: (level, message) => logs.push(`${level}: ${message}`) });
  const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
  await session.server.connect(serverSide);
  const client = new Client({ name: 'test-client', version: '1.0.0' }, { capabilities: {} });
  await client.connect(clientSide);
  return { client, session, logs };
}

/** The text of a tool result's text items. */
export function textOf(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content
    .filter((c) => c.type === 'text')
    .map((c) => c.text ?? '')
    .join('\n');
}

/** Polls `probe` until it returns a value, at most `ms`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** True while a process with this id exists. */
export function alive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

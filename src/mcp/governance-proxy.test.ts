/**
 * The governance proxy between real peers: a Governor on a socket, the
 * official filesystem and everything servers and the demo infrastructure
 * server as child processes, and the SDK client.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GovernanceSession } from './governance-proxy.js';
import { govern, SERVERS, spawnServer, startGovernor, textOf, eventually, type TestGovernor, type Upstream } from './test-fixtures.js';

const fsPolicy = (workspace: string) => `
version: 1
name: mcp-filesystem
inventory: inventory.yaml
defaults: { verdict: deny }
tools:
  read_text_file: { operation: read, reversible: true }
  list_directory: { operation: read, reversible: true }
  list_allowed_directories: { operation: read, reversible: true }
  write_file: { operation: write, reversible: true }
  echo: { operation: read, reversible: true }
  get-sum: { operation: read, reversible: true }
rules:
  - id: reads
    match: { tools: [read_text_file, list_directory, list_allowed_directories, echo, get-sum] }
    allow: {}
  - id: writes-in-workspace
    match: { tools: [write_file] }
    when: has(action.params.path) && action.params.path.startsWith("${workspace}/")
    allow: {}
  - id: writes-confined-to-workspace
    match: { tools: [write_file] }
    when: '!(has(action.params.path) && action.params.path.startsWith("${workspace}/"))'
    deny: { message: "the agent may only write inside ${workspace}" }
  - id: irreversible-needs-approval
    reversibility: { tier: high }
`;
const INVENTORY = `
services:
  - { id: workstation, environment: dev, replicas: 1, traffic: 0 }
`;

interface ApprovalList {
  approvals: { decision: { id: string; action: { tool: string }; approval: { actionDigest: string }; policy: { digest: string } } }[];
}

describe('MCP proxy in front of the filesystem server', () => {
  let gov: TestGovernor;
  let upstream: Upstream;
  let client: Client;
  let session: GovernanceSession;
  let workspace: string;
  let outside: string;

  beforeAll(async () => {
    const base = await realpath(await import('node:os').then((os) => os.tmpdir()));
    const root = join(base, `governor-fs-${process.pid}-${Date.now()}`);
    workspace = join(root, 'workspace');
    outside = join(root, 'outside');
    await mkdir(workspace, { recursive: true });
    await mkdir(outside, { recursive: true });
    await writeFile(join(workspace, 'notes.txt'), 'hello from the workspace\n');
    gov = await startGovernor({ policy: fsPolicy(workspace), inventory: INVENTORY });
    // The server itself may write to both directories: only Governor keeps the agent out of `outside`.
    upstream = await spawnServer([SERVERS.filesystem, workspace, outside]);
    ({ client, session } = await govern(upstream.client, gov.client(await gov.agent({ agent: 'fs-bot' })), { environment: 'dev', serverName: 'filesystem', pendingTimeoutMs: 20_000 }));
  });
  afterAll(async () => {
    await client?.close();
    await session?.closed;
    await gov?.close();
  });

  it('lists only the tools the policy can ever allow', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['read_text_file', 'list_directory', 'write_file']));
    // No rule allows moving or editing files: the model never sees those tools.
    expect(names).not.toContain('move_file');
    expect(names).not.toContain('edit_file');
  });

  it('forwards an allowed read and returns the real result', async () => {
    const result = await client.callTool({ name: 'read_text_file', arguments: { path: join(workspace, 'notes.txt') } });
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toContain('hello from the workspace');
  });

  it('denies a write outside the permitted path with the rule and reason, and never forwards it', async () => {
    const target = join(outside, 'pwned.txt');
    const result = await client.callTool({ name: 'write_file', arguments: { path: target, content: 'x' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^Governor denied write_file in dev: rule writes-confined-to-workspace \(deny\): the agent may only write inside /);
    expect(existsSync(target)).toBe(false);
  });

  it('refuses a tool the session does not offer', async () => {
    const result = await client.callTool({ name: 'move_file', arguments: { source: join(workspace, 'notes.txt'), destination: join(outside, 'moved.txt') } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('not a tool this session offers');
    expect(existsSync(join(workspace, 'notes.txt'))).toBe(true);
  });

  it('holds a destructive write for approval, forwards it once an operator approves, and records the outcome', async () => {
    const target = join(workspace, 'report.md');
    const call = client.callTool({ name: 'write_file', arguments: { path: target, content: '# approved\n' } });
    const ann = gov.operator('ann', 'sre');
    const held = await eventually(async () => {
      const res = await gov.call('GET', '/v1/approvals?state=pending', ann);
      return (res.body as unknown as ApprovalList).approvals.find((a) => a.decision.action.tool === 'write_file')?.decision;
    });
    // Held, not forwarded: nothing is written before the vote.
    expect(existsSync(target)).toBe(false);
    const vote = await gov.call('POST', `/v1/approvals/${held.id}/votes`, ann, {
      vote: 'approve',
      reason: 'report is fine',
      actionDigest: held.approval.actionDigest,
      policyDigest: held.policy.digest,
      acknowledgeIrreversible: true,
    });
    expect(vote.status).toBe(201);
    const result = await call;
    expect(result.isError).toBeFalsy();
    expect(await readFile(target, 'utf8')).toBe('# approved\n');
    expect(textOf(result)).toContain(`Governor held this call for human approval; it was approved by ann`);
    const decision = await eventually(async () => {
      const d = await gov.governor.decisions.get(held.id);
      return d?.outcome ? d : undefined;
    });
    expect(decision.outcome).toMatchObject({ status: 'succeeded' });
  });
});

describe('MCP proxy in front of the everything server', () => {
  let gov: TestGovernor;
  let client: Client;
  let session: GovernanceSession;

  beforeAll(async () => {
    gov = await startGovernor({ policy: fsPolicy('/nowhere'), inventory: INVENTORY });
    const upstream = await spawnServer([SERVERS.everything, 'stdio']);
    ({ client, session } = await govern(upstream.client, gov.client(await gov.agent()), { environment: 'dev', serverName: 'everything' }));
  });
  afterAll(async () => {
    await client?.close();
    await session?.closed;
    await gov?.close();
  });

  it('passes echo and get-sum, and hides the tools no rule allows', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names.sort()).toEqual(['echo', 'get-sum']);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'hi there' } }))).toContain('hi there');
    expect(textOf(await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } }))).toContain('42');
  });

  it('relays resources and prompts it does not govern', async () => {
    const resources = await client.listResources();
    expect(resources.resources.length).toBeGreaterThan(0);
    const prompts = await client.listPrompts();
    expect(prompts.prompts.length).toBeGreaterThan(0);
  });
});

describe('MCP proxy in front of the demo infrastructure server, under the example policy', () => {
  let gov: TestGovernor;
  let client: Client;
  let session: GovernanceSession;

  beforeAll(async () => {
    gov = await startGovernor();
    const upstream = await spawnServer([SERVERS.infra]);
    ({ client, session } = await govern(upstream.client, gov.client(await gov.agent({ agent: 'deploy-bot', role: 'deployer', task: 'T-1' })), {
      environment: 'prod',
      serverName: 'infra-demo',
      pendingTimeoutMs: 300,
    }));
  });
  afterAll(async () => {
    await client?.close();
    await session?.closed;
    await gov?.close();
  });

  it('restarting 40% of payments in prod runs as a bounded first step, and says so', async () => {
    const result = await client.callTool({ name: 'restart_service', arguments: { service: 'payments', fraction: 0.4 } });
    expect(result.isError).toBeFalsy();
    const text = textOf(result);
    // The upstream restarted 1 of 20 replicas (5%), not 8.
    expect(text).toContain('Restarted 1 of 20 replicas of payments');
    expect(text).toMatch(/Governor modified this call to restart_service before it ran: rule prod-blast-radius \(blast-radius\): .*fraction: 0\.4 -> 0\.05/);
  });

  it('reads logs freely; the restart above is in them', async () => {
    const text = textOf(await client.callTool({ name: 'read_logs', arguments: { service: 'payments' } }));
    expect(text).toContain('restarted 1 replica(s)');
  });

  it('a held call that nobody approves in time is refused, not run', async () => {
    const result = await client.callTool({ name: 'run_sql', arguments: { database: 'orders-db', sql: 'DELETE FROM carts' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^Governor is still holding run_sql in prod for human approval after \d+ s \(decision [^)]+\): .*It was not run\./);
  });
});

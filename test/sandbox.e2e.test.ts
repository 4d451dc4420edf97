/** sandbox.exec over HTTP: decided first, then run isolated, the result recorded as the outcome. */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGovernor, type Governor } from '../src/main.js';
import { registerAgents } from './helpers/agents.js';

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));

describe('sandbox.exec', () => {
  let dir: string;
  let governor: Governor;
  let url: string;
  const exec = async (body: object, token = governor.issuers.agent.issue({ agent: 'code-bot', role: 'deployer', task: 'T-1', ttlSeconds: 600 }).token) => {
    const res = await fetch(`${url}/v1/sandbox/exec`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { decision: { id: string; verdict: string; reasons: { code?: string }[]; outcome?: { status: string; detail: { limitsHit: string[] } } }; result?: { exitCode: number; stdout: string; stderr: string; limitsHit: string[] } } };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'governor-sandbox-'));
    for (const f of ['governor.yaml', 'inventory.yaml']) await copyFile(join(EXAMPLES, f), join(dir, f));
    governor = await createGovernor({ policyPath: join(dir, 'governor.yaml'), checkpoint: { intervalMs: 60_000 } });
    await governor.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(governor.app.server.address() as AddressInfo).port}`;
    await registerAgents(governor, 'code-bot');
  });
  afterAll(async () => {
    await governor.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs allowed code isolated and records the result as the outcome', async () => {
    const ok = await exec({ command: ['sh', '-c', 'echo hello; exit 3'] });
    expect(ok.status).toBe(200);
    expect(ok.body.result).toMatchObject({ exitCode: 3, stdout: 'hello\n', limitsHit: [] });
    expect(ok.body.decision).toMatchObject({ verdict: 'allow', outcome: { status: 'failed' } });
  });

  it('cannot reach the network, the data dir or the host, and reports limits hit', async () => {
    const net = await exec({ command: ['node', '-e', "require('net').connect(5432,'127.0.0.1').on('error',e=>{console.log(e.code);process.exit(7)}).on('connect',()=>process.exit(0))"], limits: { memoryBytes: 1024 ** 3 } });
    expect(net.body.result?.exitCode).toBe(7);
    const keys = await exec({ command: ['sh', '-c', `cat ${join(dir, '.governor', 'keys', 'agent-issuer.key')} || echo unreadable`] });
    expect(keys.body.result?.stdout).toContain('unreadable');
    const loop = await exec({ command: ['sh', '-c', 'while true; do :; done'], limits: { wallTimeMs: 1000, cpuSeconds: 1 } });
    expect(loop.body.result?.limitsHit.length).toBeGreaterThan(0);
    expect(loop.body.decision.outcome?.detail.limitsHit.length).toBeGreaterThan(0);
  });

  it('never runs what the decision path refuses', async () => {
    const prod = await exec({ command: ['sh', '-c', 'echo ran'], environment: 'prod' });
    expect(prod.body.decision.verdict).toBe('deny');
    expect(prod.body.result).toBeUndefined();
    await registerAgents(governor, 'killed-bot');
    const token = governor.issuers.agent.issue({ agent: 'killed-bot', role: 'deployer', task: 'T-1', ttlSeconds: 600 }).token;
    await governor.killSwitch.kill({ name: 'olga', groups: [] }, { scope: { kind: 'agent', value: 'killed-bot' }, reason: 'test' });
    const killed = await exec({ command: ['sh', '-c', 'echo ran'] }, token);
    expect(killed.body.decision.reasons[0]?.code).toBe('KILLED');
    expect(killed.body.result).toBeUndefined();
  });
});

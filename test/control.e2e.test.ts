/**
 * Stopping agents without their cooperation, end to end over HTTP: the kill
 * switch, circuit breakers, aggregate budgets (real concurrency, SQLite and
 * PostgreSQL), agent cards, sandbox grants and progressive trust. Every
 * control event must be in the audit log.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGovernor, type Governor, type GovernorOptions } from '../src/main.js';
import { testDatabaseUrl } from '../src/store/test-fixtures.js';
import { registerAgents } from './helpers/agents.js';

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));

/** Example policy plus breakers and a budget rule for restarts of prod services. */
const CONTROL_POLICY = (budgetRule: string, max = 1) => (policy: string) =>
  policy
    .replace(/\nbreakers:\n(?:  .*\n)+/, '\n')
    .replace(/\ntrust:\n(?:  .*\n)+/, '\n')
    .replace(/  - id: prod-restart-budget\n(?:    .*\n)+/, '')
    .replace(
    'rules:\n',
    `breakers:\n  loop: { max: 3, window: 1m }\n  denials: { max: 5, window: 1m }\ntrust:\n  promotion:\n    sandbox: { successes: 2 }\nrules:\n  - id: ${budgetRule}\n    match: { environments: [prod], tools: [restart_service] }\n    budget: { scope: service, metric: trafficFraction, max: ${max}, window: 10m }\n`,
  );

interface Running {
  readonly governor: Governor;
  readonly url: string;
  readonly dir: string;
}

async function start(edit: (p: string) => string, extra: Partial<GovernorOptions> = {}, dir?: string): Promise<Running> {
  const root = dir ?? (await mkdtemp(join(tmpdir(), 'governor-control-')));
  if (!dir) {
    await writeFile(join(root, 'governor.yaml'), edit(await readFile(join(EXAMPLES, 'governor.yaml'), 'utf8')));
    await copyFile(join(EXAMPLES, 'inventory.yaml'), join(root, 'inventory.yaml'));
  }
  const governor = await createGovernor({ policyPath: join(root, 'governor.yaml'), checkpoint: { intervalMs: 60_000 }, sweepIntervalMs: 200, ...extra });
  await governor.app.listen({ port: 0, host: '127.0.0.1' });
  return { governor, dir: root, url: `http://127.0.0.1:${(governor.app.server.address() as AddressInfo).port}` };
}

function client(run: () => Running) {
  const call = async (method: string, path: string, token: string | undefined, body?: unknown) => {
    const res = await fetch(`${run().url}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } } };
  };
  const agent = (name: string, role = 'deployer', task = 'T-1') => run().governor.issuers.agent.issue({ agent: name, role, task, ttlSeconds: 600 }).token;
  const operator = (name = 'olga', ...groups: string[]) => run().governor.issuers.operator.issue({ operator: name, groups, ttlSeconds: 600 }).token;
  const decide = async (token: string, action: object) => {
    const res = await call('POST', '/v1/decisions', token, { action });
    return res.body as { id: string; verdict: string; state: string; grant?: string; reasons: { code?: string; rule: string; message: string }[] };
  };
  const leaves = async () => {
    const head = await run().governor.store.audit.treeHead();
    const out: Record<string, unknown>[] = [];
    for (let s = 0; s < head.size; s += 1000) for (const l of await run().governor.store.audit.leaves(s, head.size)) out.push(JSON.parse(new TextDecoder().decode(l.bytes)) as Record<string, unknown>);
    return out;
  };
  return { call, agent, operator, decide, leaves };
}

const RESTART = (service: string, count = 1, task = 'T-1') => ({ tool: 'restart_service', environment: 'prod', params: { service, count }, taskId: task });
let step = 0;
/** A staging restart; each call a distinct request (its intent), so only the loop test repeats itself. */
const STAGING_RESTART = (task = 'T-1', intent = `step ${step++}`) => ({ tool: 'restart_service', environment: 'staging', params: { service: 'checkout', count: 1 }, taskId: task, intent });

describe('kill switch', () => {
  let running: Running;
  const c = client(() => running);

  beforeAll(async () => {
    running = await start(CONTROL_POLICY('restart-budget'));
    await registerAgents(running.governor, 'deploy-bot', 'other-bot');
  });
  afterAll(async () => {
    await running.governor.close();
    await rm(running.dir, { recursive: true, force: true });
  });

  it('stops one agent: the very next decision is KILLED, held actions are cancelled, its credential is revoked', async () => {
    const token = c.agent('deploy-bot');
    const held = await c.decide(token, { tool: 'deploy', environment: 'prod', params: { service: 'checkout' }, taskId: 'T-1' });
    expect(held.verdict).toBe('pending');
    const kill = await c.call('POST', '/v1/kill', c.operator(), { scope: { kind: 'agent', value: 'deploy-bot' }, reason: 'looping on restarts' });
    expect(kill.status).toBe(201);
    const id = kill.body['id'] as string;

    const denied = await c.decide(token, RESTART('search'));
    expect(denied.verdict).toBe('deny');
    expect(denied.reasons[0]).toMatchObject({ code: 'KILLED', rule: `kill/${id}` });
    // Others are untouched.
    expect((await c.decide(c.agent('other-bot'), RESTART('search'))).verdict).toBe('allow');
    // The held deploy was cancelled.
    await expect.poll(async () => (await c.call('GET', `/v1/decisions/${held.id}`, c.operator())).body['state']).toBe('cancelled');
    // The credential is refused everywhere but on the decision path (where the attempt is recorded).
    expect((await c.call('GET', '/v1/whoami', token)).status).toBe(401);

    const lifted = await c.call('POST', `/v1/kill/${id}/lift`, c.operator(), { reason: 'fixed the loop' });
    expect(lifted.body).toMatchObject({ state: 'lifted', liftedBy: 'olga' });
    // The old credential stays revoked; a new one works.
    expect((await c.call('POST', '/v1/decisions', token, { action: RESTART('search') })).status).toBe(401);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await c.decide(c.agent('deploy-bot'), RESTART('search'))).verdict).toBe('allow');

    const leaves = await c.leaves();
    expect(leaves.filter((l) => l['id'] === id).map((l) => l['type'])).toEqual(['kill', 'kill.lifted']);
    expect(leaves.find((l) => l['type'] === 'decision' && l['id'] === denied.id)).toMatchObject({ verdict: 'deny' });
    expect(leaves.find((l) => l['type'] === 'resolution' && l['decisionId'] === held.id)).toMatchObject({ state: 'cancelled' });
  });

  it('stops an environment, or everything, and refuses kills from agents', async () => {
    expect((await c.call('POST', '/v1/kill', c.agent('deploy-bot'), { scope: { kind: 'global' }, reason: 'x' })).status).toBe(401);
    expect((await c.call('POST', '/v1/kill', c.operator(), { scope: { kind: 'agent' }, reason: 'no value' })).status).toBe(400);
    const env = await c.call('POST', '/v1/kill', c.operator(), { scope: { kind: 'environment', value: 'prod' }, reason: 'incident' });
    const token = c.agent('other-bot');
    expect((await c.decide(token, RESTART('search'))).reasons[0]?.code).toBe('KILLED');
    expect((await c.decide(token, STAGING_RESTART())).verdict).toBe('allow');
    await c.call('POST', `/v1/kill/${env.body['id'] as string}/lift`, c.operator(), { reason: 'over' });

    const all = await c.call('POST', '/v1/kill', c.operator(), { scope: { kind: 'global' }, reason: 'stop everything' });
    expect((await c.decide(token, STAGING_RESTART())).reasons[0]?.code).toBe('KILLED');
    const listed = await c.call('GET', '/v1/kill', c.operator());
    expect((listed.body['kills'] as { id: string }[]).map((k) => k.id)).toContain(all.body['id']);
    await c.call('POST', `/v1/kill/${all.body['id'] as string}/lift`, c.operator(), { reason: 'over' });
    // Credentials issued before the global kill (to the second) stay revoked: later tests take new ones.
    await new Promise((r) => setTimeout(r, 1100));
  });

  it('keeps kills across a restart', async () => {
    const kill = await c.call('POST', '/v1/kill', c.operator(), { scope: { kind: 'tool', value: 'scale_service' }, reason: 'autoscaler misbehaving' });
    await running.governor.close();
    running = await start((p) => p, {}, running.dir);
    const decided = await c.decide(c.agent('other-bot', 'deployer'), { tool: 'scale_service', environment: 'prod', params: { service: 'search', replicas: 25 }, taskId: 'T-1' });
    expect(decided.reasons[0]).toMatchObject({ code: 'KILLED', rule: `kill/${kill.body['id'] as string}` });
    await c.call('POST', `/v1/kill/${kill.body['id'] as string}/lift`, c.operator(), { reason: 'over' });
  });

  it('tells a watching proxy the moment its agent is killed', async () => {
    await registerAgents(running.governor, 'proxy-bot');
    const res = await fetch(`${running.url}/v1/sessions/watch`, { headers: { authorization: `Bearer ${c.agent('proxy-bot')}` } });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    const read = async (until: RegExp) => {
      while (!until.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
    };
    await read(/event: ready/);
    const kill = await c.call('POST', '/v1/kill', c.operator(), { scope: { kind: 'agent', value: 'proxy-bot' }, reason: 'session hijacked' });
    await read(/event: killed/);
    expect(text).toContain(`"kill":"${kill.body['id'] as string}"`);
    expect((await reader.read()).done).toBe(true);
  });
});

describe('circuit breakers', () => {
  let running: Running;
  const c = client(() => running);

  beforeAll(async () => {
    running = await start(CONTROL_POLICY('restart-budget'));
    await registerAgents(running.governor, 'loop-bot', 'deny-bot');
  });
  afterAll(async () => {
    await running.governor.close();
    await rm(running.dir, { recursive: true, force: true });
  });

  it('locks a looping agent until a human resets it, and shows it on its card', async () => {
    const token = c.agent('loop-bot');
    const verdicts: string[] = [];
    for (let i = 0; i < 5; i++) verdicts.push((await c.decide(token, STAGING_RESTART('T-1', 'the same restart'))).verdict);
    expect(verdicts.slice(0, 4)).toEqual(['allow', 'allow', 'allow', 'allow']);
    expect(verdicts[4]).toBe('deny');
    const state = await c.call('GET', '/v1/agents/loop-bot', c.operator());
    expect(state.body).toMatchObject({ locked: true, breaker: { trips: 1 }, card: { stats: { breakerTrips: 1 } } });
    const kills = state.body['kills'] as { id: string; source: string; reason: string }[];
    expect(kills[0]).toMatchObject({ source: 'breaker' });
    expect(kills[0]?.reason).toMatch(/same action asked for more than 3 times/);
    await c.call('POST', `/v1/kill/${kills[0]?.id as string}/lift`, c.operator(), { reason: 'loop fixed' });
    await new Promise((r) => setTimeout(r, 1100));
    expect((await c.decide(c.agent('loop-bot'), { ...STAGING_RESTART(), params: { service: 'payments', count: 1 } })).verdict).toBe('allow');
    const leaf = (await c.leaves()).find((l) => l['type'] === 'kill' && l['id'] === kills[0]?.id);
    expect(leaf).toMatchObject({ source: 'breaker', by: 'breaker:loop-bot' });
    const metrics = await (await fetch(`${running.url}/metrics`)).text();
    expect(metrics).toMatch(/^governor_breaker_trips_total 1$/m);
    expect(metrics).toMatch(/^governor_kills_total\{source="breaker"\} 1$/m);
    expect(metrics).toMatch(/^governor_decisions_total\{verdict="allow"\} \d+$/m);
  });

  it('locks an agent that keeps getting denied', async () => {
    const token = c.agent('deny-bot');
    for (let i = 0; i < 6; i++) await c.decide(token, { tool: 'http_request', environment: 'prod', params: { url: `http://169.254.169.254/${i}` }, taskId: 'T-1' });
    const state = await c.call('GET', '/v1/agents/deny-bot', c.operator());
    expect(state.body).toMatchObject({ locked: true });
    expect((state.body['kills'] as { reason: string }[])[0]?.reason).toMatch(/more than 5 denials/);
  });
});

describe('aggregate budgets', () => {
  for (const engine of ['sqlite', 'postgres'] as const) {
    const url = testDatabaseUrl();
    describe.skipIf(engine === 'postgres' && !url)(engine, () => {
      let running: Running;
      let admin: pg.Client | undefined;
      const schema = `control_${randomBytes(5).toString('hex')}`;
      const c = client(() => running);

      beforeAll(async () => {
        let extra: Partial<GovernorOptions> = {};
        if (engine === 'postgres' && url) {
          admin = new pg.Client({ connectionString: url });
          await admin.connect();
          await admin.query(`CREATE SCHEMA ${schema}`);
          const withSchema = new URL(url);
          withSchema.searchParams.set('options', `-c search_path=${schema}`);
          extra = { databaseUrl: withSchema.toString() };
        }
        running = await start(CONTROL_POLICY(`budget-${engine}`, 0.02), extra);
        await registerAgents(running.governor, 'agent-a', 'agent-b');
      });
      afterAll(async () => {
        await running.governor.close();
        await rm(running.dir, { recursive: true, force: true });
        if (admin) {
          await admin.query(`DROP SCHEMA ${schema} CASCADE`);
          await admin.end();
        }
      });

      it('two agents that each restart 1.5% of prod search cannot together pass a 2% budget, under concurrent load', async () => {
        const [a, b] = [c.agent('agent-a'), c.agent('agent-b')];
        const results = await Promise.all(Array.from({ length: 16 }, (_, i) => c.decide(i % 2 === 0 ? a : b, { ...RESTART('search'), intent: `restart ${i}` })));
        const allowed = results.filter((r) => r.verdict === 'allow');
        expect(allowed).toHaveLength(1);
        const refused = results.find((r) => r.reasons.some((x) => x.code === 'BUDGET_EXCEEDED'));
        expect(refused?.reasons.find((x) => x.code === 'BUDGET_EXCEEDED')?.message).toMatch(/trafficFraction of prod\/service:search over 600s is 1\.5% used by all agents; this action needs 1\.5%, more than the 2% budget/);
        // Another service has its own budget.
        expect((await c.decide(a, RESTART('payments'))).verdict).toBe('allow');
      });
    });
  }
});

describe('agent cards, sandbox grants and progressive trust', () => {
  let running: Running;
  const c = client(() => running);

  beforeAll(async () => {
    running = await start(CONTROL_POLICY('restart-budget'));
  });
  afterAll(async () => {
    await running.governor.close();
    await rm(running.dir, { recursive: true, force: true });
  });

  it('gives no credential and no decision to an agent without a card', async () => {
    const issue = await c.call('POST', '/v1/agents/ghost/credentials', c.operator(), { role: 'deployer' });
    expect(issue.status).toBe(404);
    expect(issue.body.error?.message).toMatch(/no agent card for ghost/);
    const d = await c.decide(c.agent('ghost'), STAGING_RESTART());
    expect(d.reasons.at(-1)).toMatchObject({ code: 'NO_AGENT_CARD' });
  });

  it('lets a new agent act only inside its grant, counts uses, and revokes', async () => {
    const card = await c.call('POST', '/v1/agents', c.operator(), { id: 'newbie', owner: 'team-platform', purpose: 'learning to restart staging', tools: ['restart_service'], autonomy: 'supervised', riskTier: 'low' });
    expect(card.status).toBe(201);
    expect(card.body).toMatchObject({ trust: 'new' });
    const token = c.agent('newbie', 'deployer', 'T-7');
    const before = await c.decide(token, STAGING_RESTART('T-7'));
    expect(before.reasons.at(-1)).toMatchObject({ code: 'NO_GRANT' });

    const grant = await c.call('POST', '/v1/grants', c.operator(), { agent: 'newbie', taskId: 'T-7', scope: { environments: ['staging'], tools: ['restart_service'], targets: ['checkout'] }, ttl: '10m', maxUses: 2 });
    expect(grant.status).toBe(201);
    const first = await c.decide(token, STAGING_RESTART('T-7'));
    expect(first).toMatchObject({ verdict: 'allow', grant: grant.body['id'] });
    expect((await c.call('POST', `/v1/decisions/${first.id}/outcome`, token, { status: 'succeeded' })).status).toBe(200);
    // Out of scope: another target, another tool, another task.
    expect((await c.decide(token, { ...STAGING_RESTART('T-7'), params: { service: 'payments', count: 1 } })).reasons.at(-1)?.code).toBe('NO_GRANT');
    expect((await c.decide(c.agent('newbie', 'deployer', 'T-8'), STAGING_RESTART('T-8'))).reasons.at(-1)?.code).toBe('NO_GRANT');
    const second = await c.decide(token, STAGING_RESTART('T-7'));
    expect(second.verdict).toBe('allow');
    await c.call('POST', `/v1/decisions/${second.id}/outcome`, token, { status: 'succeeded' });
    // Uses ran out.
    expect((await c.decide(token, STAGING_RESTART('T-7'))).reasons.at(-1)?.code).toBe('NO_GRANT');
    const listed = await c.call('GET', '/v1/grants?agent=newbie', c.operator());
    expect((listed.body['grants'] as { state: string; uses: number }[])[0]).toMatchObject({ state: 'exhausted', uses: 2 });

    // Two successes under grants meet the policy's sandbox criteria: an operator promotes.
    await expect.poll(async () => ((await c.call('GET', '/v1/agents/newbie', c.operator())).body['card'] as { stats: { grantSuccesses: number } }).stats.grantSuccesses).toBe(2);
    const promoted = await c.call('POST', '/v1/agents/newbie/promote', c.operator(), { reason: 'clean record' });
    expect(promoted.body.error).toBeUndefined();
    expect(promoted.body).toMatchObject({ trust: 'sandbox' });
    const again = await c.call('POST', '/v1/agents/newbie/promote', c.operator(), { reason: 'more' });
    expect(again.status).toBe(409);
    expect(again.body.error?.message).toMatch(/cannot be promoted to staging: 10 more successful action/);

    const revocable = await c.call('POST', '/v1/grants', c.operator(), { agent: 'newbie', taskId: 'T-7', scope: { environments: ['staging'], tools: ['restart_service'], targets: ['*'] }, ttl: '10m', maxUses: 5 });
    await c.call('POST', `/v1/grants/${revocable.body['id'] as string}/revoke`, c.operator(), { reason: 'task over' });
    expect((await c.decide(token, STAGING_RESTART('T-7'))).reasons.at(-1)?.code).toBe('NO_GRANT');

    const types = (await c.leaves()).map((l) => l['type']);
    expect(types).toEqual(expect.arrayContaining(['agent.registered', 'grant.created', 'grant.revoked', 'agent.trust']));
  });
});

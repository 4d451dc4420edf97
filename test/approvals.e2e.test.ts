/**
 * Human oversight end to end, over a real socket: quorum, veto windows,
 * expiry, forged and replayed votes, policy changes, restarts, break-glass.
 * Every case also checks the audit leaves it must leave.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTokenIssuer } from '../src/identity/token-issuer.js';
import { OPERATOR_AUDIENCE } from '../src/identity/claims.js';
import { registerAgents } from './helpers/agents.js';
import { createGovernor, ISSUER, type Governor } from '../src/main.js';
import { verifyWebhookSignature } from '../src/notify/verify-signature.js';

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));

interface Running {
  readonly governor: Governor;
  readonly url: string;
}

interface DecisionBody {
  readonly id: string;
  readonly verdict: string;
  readonly state: string;
  readonly reasons: readonly { rule: string; code?: string; primitive: string }[];
  readonly policy: { digest: string };
  readonly approval?: { tier: string; irreversible: boolean; actionDigest: string; quorum?: { approvals: number }; expiresAt?: string; releaseAt?: string };
  readonly resolution?: { state: string; reason: string; by: string[]; at: string; audit?: { index: number } };
  readonly breakGlass?: { id: string; by: string };
}

const SQL = { tool: 'run_sql', environment: 'prod', params: { database: 'orders-db', sql: 'UPDATE orders SET status = $1 WHERE id = 42' }, taskId: 'T-1' };
const DEPLOY = { tool: 'deploy', environment: 'prod', params: { service: 'checkout', version: '1.4.2' }, taskId: 'T-1' };

async function start(dir: string): Promise<Running> {
  const governor = await createGovernor({ policyPath: join(dir, 'governor.yaml'), sweepIntervalMs: 200, checkpoint: { intervalMs: 60_000 } });
  await governor.app.listen({ port: 0, host: '127.0.0.1' });
  await registerAgents(governor, 'sql-bot', 'deploy-bot');
  return { governor, url: `http://127.0.0.1:${(governor.app.server.address() as AddressInfo).port}` };
}

/** A data dir holding the example policy, with text replacements applied. */
async function exampleDir(edit: (policy: string) => string = (p) => p): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'governor-approvals-'));
  await writeFile(join(dir, 'governor.yaml'), edit(await readFile(join(EXAMPLES, 'governor.yaml'), 'utf8')));
  await copyFile(join(EXAMPLES, 'inventory.yaml'), join(dir, 'inventory.yaml'));
  return dir;
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
  const agent = (name = 'sql-bot', role = 'dba') => run().governor.issuers.agent.issue({ agent: name, role, task: 'T-1', ttlSeconds: 600 }).token;
  const operator = (name: string, ...groups: string[]) => run().governor.issuers.operator.issue({ operator: name, groups, ttlSeconds: 600 }).token;
  const decide = async (action: object, token = agent()) => {
    const res = await call('POST', '/v1/decisions', token, { action });
    expect(res.status).toBe(200);
    return res.body as unknown as DecisionBody;
  };
  const vote = (d: DecisionBody, token: string, vote: 'approve' | 'deny', extra: object = {}) =>
    call('POST', `/v1/approvals/${d.id}/votes`, token, { vote, reason: `${vote} in test`, actionDigest: d.approval?.actionDigest, policyDigest: d.policy.digest, ...extra });
  const leaves = async () => {
    const head = await run().governor.store.audit.treeHead();
    const out: Record<string, unknown>[] = [];
    for (let start = 0; start < head.size; start += 1000) {
      for (const leaf of await run().governor.store.audit.leaves(start, head.size)) out.push(JSON.parse(new TextDecoder().decode(leaf.bytes)) as Record<string, unknown>);
    }
    return out;
  };
  return { call, agent, operator, decide, vote, leaves };
}

describe('approvals: quorum, forgery and replay', () => {
  let dir: string;
  let running: Running;
  const c = client(() => running);

  beforeAll(async () => {
    dir = await exampleDir();
    running = await start(dir);
  });
  afterAll(async () => {
    await running.governor.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('holds production SQL until a DBA AND an SRE lead approve; the agent long-poll returns allow', async () => {
    const held = await c.decide(SQL);
    expect(held).toMatchObject({ verdict: 'pending', state: 'pending', approval: { tier: 'high', irreversible: true, quorum: { approvals: 2 } } });
    const poll = c.call('GET', `/v1/decisions/${held.id}?wait=20`, c.agent());

    const ann = await c.vote(held, c.operator('ann', 'dba'), 'approve', { acknowledgeIrreversible: true });
    expect(ann.status).toBe(201);
    expect(ann.body).toMatchObject({ tally: { state: 'open' }, decision: { state: 'pending' } });
    // A second DBA is a second approval, but the SRE-lead group is still unmet: AND, not OR.
    const ben = await c.vote(held, c.operator('ben', 'dba'), 'approve', { acknowledgeIrreversible: true });
    expect(ben.body).toMatchObject({ tally: { state: 'open', missing: ['1 more from group sre-lead'] } });
    const cat = await c.vote(held, c.operator('cat', 'sre-lead'), 'approve', { acknowledgeIrreversible: true });
    expect(cat.body).toMatchObject({ tally: { state: 'approved' }, decision: { state: 'approved', verdict: 'allow' } });

    const polled = await poll;
    expect(polled.status).toBe(200);
    expect(polled.body).toMatchObject({ id: held.id, state: 'approved', verdict: 'allow', resolution: { state: 'approved', by: ['ann', 'ben', 'cat'] } });

    const leaves = (await c.leaves()).filter((l) => l['decisionId'] === held.id || l['id'] === held.id);
    expect(leaves.map((l) => l['type'])).toEqual(['decision', 'vote', 'vote', 'vote', 'resolution']);
    expect(leaves.filter((l) => l['type'] === 'vote').map((l) => l['voter'])).toEqual(['ann', 'ben', 'cat']);
    expect(leaves.at(-1)).toMatchObject({ state: 'approved', verdict: 'allow', by: ['ann', 'ben', 'cat'] });
    expect(leaves[1]).toMatchObject({ actionDigest: held.approval?.actionDigest, policyDigest: held.policy.digest, acknowledgeIrreversible: true });
  });

  it('refuses forged votes: no token, an agent token, a token from another key, a tampered token', async () => {
    const held = await c.decide(SQL);
    const body = { vote: 'approve', reason: 'lgtm', actionDigest: held.approval?.actionDigest, policyDigest: held.policy.digest, acknowledgeIrreversible: true };
    expect((await c.call('POST', `/v1/approvals/${held.id}/votes`, undefined, body)).status).toBe(401);
    // The requesting agent's own credential, and any agent credential: never a vote.
    const asAgent = await c.call('POST', `/v1/approvals/${held.id}/votes`, c.agent(), body);
    expect(asAgent.status).toBe(401);
    expect(asAgent.body.error?.code).toBe('UNAUTHENTICATED');
    const otherKey = createTokenIssuer({ privateKey: generateKeyPairSync('ed25519').privateKey, issuer: ISSUER, audience: OPERATOR_AUDIENCE, clock: Date.now });
    const forged = otherKey.issue({ operator: 'mallory', groups: ['dba', 'sre-lead'], ttlSeconds: 600 }).token;
    expect((await c.call('POST', `/v1/approvals/${held.id}/votes`, forged, body)).status).toBe(401);
    const real = c.operator('ann', 'dba').split('.');
    const payload = JSON.parse(Buffer.from(real[1] as string, 'base64url').toString()) as { groups: string[] };
    payload.groups = ['dba', 'sre-lead', 'break-glass'];
    const tampered = [real[0], Buffer.from(JSON.stringify(payload)).toString('base64url'), real[2]].join('.');
    expect((await c.call('POST', `/v1/approvals/${held.id}/votes`, tampered, body)).status).toBe(401);
    const after = await c.call('GET', `/v1/approvals/${held.id}`, c.operator('ann', 'dba'));
    expect(after.body).toMatchObject({ votes: [], decision: { state: 'pending' } });
  });

  it('refuses self-approval, a second vote by the same person, and ineligible voters', async () => {
    const held = await c.decide(SQL, c.agent('sql-bot'));
    const self = await c.vote(held, c.operator('sql-bot', 'dba'), 'approve', { acknowledgeIrreversible: true });
    expect(self.status).toBe(403);
    expect(self.body.error?.code).toBe('SELF_APPROVAL');
    expect((await c.vote(held, c.operator('ann', 'dba'), 'approve', { acknowledgeIrreversible: true })).status).toBe(201);
    const twice = await c.vote(held, c.operator('ann', 'dba', 'sre-lead'), 'approve', { acknowledgeIrreversible: true });
    expect(twice.status).toBe(409);
    expect(twice.body.error?.code).toBe('ALREADY_VOTED');
    const outsider = await c.vote(held, c.operator('ola', 'web'), 'approve', { acknowledgeIrreversible: true });
    expect(outsider.status).toBe(403);
    expect(outsider.body.error?.code).toBe('NOT_ELIGIBLE');
    const votes = (await c.leaves()).filter((l) => l['type'] === 'vote' && l['decisionId'] === held.id);
    expect(votes.map((l) => l['voter'])).toEqual(['ann']);
  });

  it('refuses a vote for action A replayed on A′, and a vote naming another policy', async () => {
    const a = await c.decide(SQL);
    const aPrime = await c.decide({ ...SQL, params: { ...SQL.params, sql: 'DELETE FROM orders' } });
    expect(aPrime.approval?.actionDigest).not.toBe(a.approval?.actionDigest);
    const replay = await c.call('POST', `/v1/approvals/${aPrime.id}/votes`, c.operator('ann', 'dba'), {
      vote: 'approve',
      reason: 'approving A',
      actionDigest: a.approval?.actionDigest,
      policyDigest: a.policy.digest,
      acknowledgeIrreversible: true,
    });
    expect(replay.status).toBe(409);
    expect(replay.body.error?.code).toBe('VOTE_MISMATCH');
    const otherPolicy = await c.vote(a, c.operator('ann', 'dba'), 'approve', { acknowledgeIrreversible: true, policyDigest: '0'.repeat(64) });
    expect(otherPolicy.body.error?.code).toBe('VOTE_MISMATCH');
  });

  it('refuses a plain approve of an irreversible action, with a clear error', async () => {
    const held = await c.decide(SQL);
    const plain = await c.vote(held, c.operator('ann', 'dba'), 'approve');
    expect(plain.status).toBe(400);
    expect(plain.body.error?.code).toBe('ACKNOWLEDGEMENT_REQUIRED');
    expect(plain.body.error?.message).toMatch(/irreversible.*acknowledgeIrreversible: true/);
  });

  it('rejects on one denial from a listed group, and records it', async () => {
    const held = await c.decide(SQL);
    const no = await c.vote(held, c.operator('dan', 'sre-lead'), 'deny');
    expect(no.body).toMatchObject({ decision: { state: 'rejected', verdict: 'deny', resolution: { by: ['dan'] } } });
    const late = await c.vote(held, c.operator('ann', 'dba'), 'approve', { acknowledgeIrreversible: true });
    expect(late.body.error?.code).toBe('NOT_PENDING');
  });

  it('uses an approval once: one outcome, and the same action asked again is held again', async () => {
    const held = await c.decide({ ...SQL, idempotencyKey: 'migration-7' });
    await c.vote(held, c.operator('ann', 'dba'), 'approve', { acknowledgeIrreversible: true });
    await c.vote(held, c.operator('cat', 'sre-lead'), 'approve', { acknowledgeIrreversible: true });
    expect((await c.call('POST', `/v1/decisions/${held.id}/outcome`, c.agent(), { status: 'succeeded' })).status).toBe(200);
    const again = await c.call('POST', `/v1/decisions/${held.id}/outcome`, c.agent(), { status: 'succeeded' });
    expect(again.status).toBe(409);
    // The same request under its idempotency key is the same (already used) decision, not a new approval.
    const retry = await c.decide({ ...SQL, idempotencyKey: 'migration-7' });
    expect(retry).toMatchObject({ id: held.id, state: 'approved' });
    // Without the key it is a new request: held again, the earlier approval does not carry over.
    const fresh = await c.decide(SQL);
    expect(fresh.id).not.toBe(held.id);
    expect(fresh.state).toBe('pending');
    // A changed action under the approved key is refused outright.
    const changed = await c.call('POST', '/v1/decisions', c.agent(), { action: { ...SQL, params: { ...SQL.params, sql: 'DELETE FROM orders' }, idempotencyKey: 'migration-7' } });
    expect(changed.body.error?.code).toBe('IDEMPOTENCY_CONFLICT');
  });

  it('lists held actions with the action, impact, reasons and votes, to operators only', async () => {
    const held = await c.decide(SQL);
    await c.vote(held, c.operator('ann', 'dba'), 'approve', { acknowledgeIrreversible: true });
    const list = await c.call('GET', '/v1/approvals?state=pending', c.operator('ann', 'dba'));
    const item = (list.body['approvals'] as { decision: DecisionBody & { action: unknown; impact: unknown }; votes: { voter: string }[]; tally: { state: string } }[]).find((a) => a.decision.id === held.id);
    expect(item?.decision.action).toMatchObject({ tool: 'run_sql' });
    expect(item?.decision.impact).toBeDefined();
    expect(item?.decision.reasons.length).toBeGreaterThan(0);
    expect(item?.votes.map((v) => v.voter)).toEqual(['ann']);
    expect((await c.call('GET', '/v1/approvals?state=pending', c.agent())).status).toBe(401);
    expect((await c.call('GET', `/v1/decisions/${held.id}?wait=61`, c.agent())).status).toBe(400);
  });

  it('streams held actions, votes and resolutions to operators over server-sent events', async () => {
    expect((await fetch(`${running.url}/v1/approvals/stream`, { headers: { authorization: `Bearer ${c.agent()}` } })).status).toBe(401);
    const controller = new AbortController();
    const res = await fetch(`${running.url}/v1/approvals/stream`, { headers: { authorization: `Bearer ${c.operator('ann', 'dba')}` }, signal: controller.signal });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    const until = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${String(pattern)}: ${text}`);
        text += new TextDecoder().decode(value);
      }
    };
    await until(/event: ready/);
    const held = await c.decide(SQL);
    await until(new RegExp(`event: held\\nid: ${held.id}`));
    await c.vote(held, c.operator('dan', 'dba'), 'deny');
    await until(new RegExp(`event: resolved\\nid: ${held.id}`));
    expect(text).toMatch(new RegExp(`event: vote\\nid: ${held.id}`));
    controller.abort();
  });
});

describe('approvals: policy changes, expiry and veto windows', () => {
  let dir: string;
  let running: Running;
  const c = client(() => running);
  const policyPath = () => join(dir, 'governor.yaml');

  beforeAll(async () => {
    dir = await exampleDir((p) => p.replace('vetoWindow: 10m', 'vetoWindow: 2s').replace('expiry: 1h', 'expiry: 2s'));
    running = await start(dir);
  });
  afterAll(async () => {
    await running.governor.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('re-evaluates on a policy change: the same requirement keeps counting, another one needs a fresh decision', async () => {
    const held = await c.decide(SQL);
    const original = await readFile(policyPath(), 'utf8');
    // An unrelated rule: the held action is held the same way, so votes still count.
    await writeFile(policyPath(), original.replace('rules:\n', 'rules:\n  - id: unrelated\n    match: { tools: [read_logs] }\n    allow: {}\n'));
    expect(await running.governor.policy.reload()).toBe(true);
    const kept = await c.vote(held, c.operator('ann', 'dba'), 'approve', { acknowledgeIrreversible: true });
    expect(kept.status).toBe(201);

    // Now the quorum changes (three approvals): the held decision is rejected and the vote refused.
    await writeFile(policyPath(), original.replace('approvals: 2', 'approvals: 3'));
    expect(await running.governor.policy.reload()).toBe(true);
    const changed = await c.vote(held, c.operator('cat', 'sre-lead'), 'approve', { acknowledgeIrreversible: true });
    expect(changed.status).toBe(409);
    expect(changed.body.error?.code).toBe('POLICY_CHANGED');
    const after = (await c.call('GET', `/v1/decisions/${held.id}`, c.agent())).body as unknown as DecisionBody;
    expect(after).toMatchObject({ state: 'rejected', verdict: 'deny' });
    expect(after.resolution?.reason).toMatch(/policy changed/);
    const leaf = (await c.leaves()).find((l) => l['type'] === 'resolution' && l['decisionId'] === held.id);
    expect(leaf).toMatchObject({ state: 'rejected', verdict: 'deny' });
    await writeFile(policyPath(), original);
    expect(await running.governor.policy.reload()).toBe(true);
  });

  it('expires a high-tier action without its quorum: deny, recorded', async () => {
    const held = await c.decide(SQL);
    const polled = await c.call('GET', `/v1/decisions/${held.id}?wait=10`, c.agent());
    expect(polled.body).toMatchObject({ state: 'expired', verdict: 'deny' });
    const at = Date.parse((polled.body as unknown as DecisionBody).resolution?.at ?? '');
    expect(at).toBeGreaterThanOrEqual(Date.parse(held.approval?.expiresAt ?? ''));
    const late = await c.vote(held, c.operator('ann', 'dba'), 'approve', { acknowledgeIrreversible: true });
    expect(late.body.error?.code).toBe('NOT_PENDING');
    expect((await c.leaves()).filter((l) => l['decisionId'] === held.id).map((l) => [l['type'], l['state']])).toEqual([
      ['resolution', 'expired'],
    ]);
  });

  it('a veto inside the window denies; after the window the action is released as allow', async () => {
    const deployer = c.agent('deploy-bot', 'deployer');
    const vetoed = await c.decide(DEPLOY, deployer);
    expect(vetoed.approval).toMatchObject({ tier: 'medium' });
    const veto = await c.vote(vetoed, c.operator('owner', 'team-checkout'), 'deny');
    expect(veto.body).toMatchObject({ decision: { state: 'rejected', verdict: 'deny' } });

    const released = await c.decide(DEPLOY, deployer);
    const polled = await c.call('GET', `/v1/decisions/${released.id}?wait=10`, deployer);
    expect(polled.body).toMatchObject({ state: 'approved', verdict: 'allow', resolution: { state: 'approved' } });
    expect((polled.body as unknown as DecisionBody).resolution?.reason).toMatch(/veto window .* ended without a veto/);
    const late = await c.vote(released, c.operator('owner', 'team-checkout'), 'deny');
    expect(late.body.error?.code).toBe('NOT_PENDING');
    const leaves = await c.leaves();
    expect(leaves.filter((l) => l['decisionId'] === vetoed.id).map((l) => l['type'])).toEqual(['vote', 'resolution']);
    expect(leaves.filter((l) => l['decisionId'] === released.id).map((l) => [l['type'], l['state']])).toEqual([['resolution', 'approved']]);
  });
});

describe('approvals: nothing is lost across a restart', () => {
  let dir: string;
  let running: Running;
  const c = client(() => running);

  beforeAll(async () => {
    dir = await exampleDir((p) => p.replace('vetoWindow: 10m', 'vetoWindow: 3s'));
    running = await start(dir);
  });
  afterAll(async () => {
    await running.governor.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps held actions, votes and timers; a long-poll cut by the restart is picked up again', async () => {
    const deployer = c.agent('deploy-bot', 'deployer');
    const medium = await c.decide(DEPLOY, deployer);
    const high = await c.decide(SQL);
    expect((await c.vote(high, c.operator('ann', 'dba'), 'approve', { acknowledgeIrreversible: true })).status).toBe(201);
    const poll = c.call('GET', `/v1/decisions/${high.id}?wait=30`, c.agent());
    await new Promise((r) => setTimeout(r, 300));

    await running.governor.close();
    // The long-poll ends with the current state when its server closes.
    expect((await poll).body).toMatchObject({ id: high.id, state: 'pending' });
    running = await start(dir);

    // The vote survived: one more from an SRE lead completes the quorum.
    const cat = await c.vote(high, c.operator('cat', 'sre-lead'), 'approve', { acknowledgeIrreversible: true });
    expect(cat.body).toMatchObject({ decision: { state: 'approved' }, tally: { approvals: 2 } });
    // The veto window resumed with its remaining time: released at (not before) its end.
    const released = await c.call('GET', `/v1/decisions/${medium.id}?wait=10`, c.agent('deploy-bot', 'deployer'));
    expect(released.body).toMatchObject({ state: 'approved', verdict: 'allow' });
    const at = Date.parse((released.body as unknown as DecisionBody).resolution?.at ?? '');
    const due = Date.parse(medium.approval?.releaseAt ?? '');
    expect(at).toBeGreaterThanOrEqual(due);
    expect(at - due).toBeLessThan(2000);
  });
});

describe('break-glass', () => {
  let dir: string;
  let running: Running;
  const c = client(() => running);

  beforeAll(async () => {
    dir = await exampleDir((p) => p.replace('maxTtl: 1h', 'maxTtl: 10m'));
    running = await start(dir);
  });
  afterEach(() => undefined);
  afterAll(async () => {
    await running.governor.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('needs the break-glass group, a reason and a TTL within the policy cap', async () => {
    const scope = { environment: 'prod', tool: 'run_sql' };
    const plain = await c.call('POST', '/v1/break-glass', c.operator('ann', 'dba'), { scope, ttl: '5m', reason: 'orders table is corrupt' });
    expect(plain.status).toBe(403);
    const glass = c.operator('ida', 'break-glass');
    expect((await c.call('POST', '/v1/break-glass', glass, { scope, ttl: '2h', reason: 'orders table is corrupt' })).status).toBe(400);
    expect((await c.call('POST', '/v1/break-glass', glass, { scope, ttl: '5m', reason: '' })).status).toBe(400);
    expect((await c.call('POST', '/v1/break-glass', glass, { scope: {}, ttl: '5m', reason: 'orders table is corrupt' })).status).toBe(400);
    expect((await c.call('POST', '/v1/break-glass', c.agent(), { scope, ttl: '5m', reason: 'orders table is corrupt' })).status).toBe(401);
  });

  it('allows actions in scope while open, flags each in the audit log, and ends by itself', async () => {
    const glass = c.operator('ida', 'break-glass');
    const opened = await c.call('POST', '/v1/break-glass', glass, { scope: { environment: 'prod', tool: 'run_sql' }, ttl: '2s', reason: 'incident 4711: orders table is corrupt' });
    expect(opened.status).toBe(201);
    const sessionId = opened.body['id'] as string;
    const allowed = await c.decide(SQL);
    expect(allowed).toMatchObject({ verdict: 'allow', state: 'allowed', breakGlass: { id: sessionId, by: 'ida' } });
    expect(allowed.reasons[0]).toMatchObject({ primitive: 'break-glass', code: 'BREAK_GLASS' });
    // Out of scope: untouched.
    expect((await c.decide({ ...SQL, environment: 'staging' })).breakGlass).toBeUndefined();

    await new Promise((r) => setTimeout(r, 2300));
    expect((await c.decide(SQL)).verdict).toBe('pending');
    const leaves = await c.leaves();
    expect(leaves.find((l) => l['type'] === 'decision' && l['id'] === allowed.id)).toMatchObject({ verdict: 'allow', breakGlass: { id: sessionId } });
    const events = leaves.filter((l) => l['id'] === sessionId).map((l) => l['type']);
    expect(events).toEqual(['break-glass.opened', 'break-glass.expired']);
    const listed = await c.call('GET', '/v1/break-glass', glass);
    expect((listed.body['sessions'] as { id: string; state: string }[]).find((s) => s.id === sessionId)?.state).toBe('expired');
  });

  it('can be closed early, with a reason, and is recorded', async () => {
    const glass = c.operator('ida', 'break-glass');
    const opened = await c.call('POST', '/v1/break-glass', glass, { scope: { agent: 'sql-bot' }, ttl: '5m', reason: 'incident 4712: replica lag' });
    const id = opened.body['id'] as string;
    expect((await c.decide(SQL)).verdict).toBe('allow');
    const closed = await c.call('POST', `/v1/break-glass/${id}/close`, c.operator('ida', 'break-glass'), { reason: 'incident resolved' });
    expect(closed.body).toMatchObject({ state: 'closed', closedBy: 'ida' });
    expect((await c.decide(SQL)).verdict).toBe('pending');
    expect((await c.leaves()).filter((l) => l['id'] === id).map((l) => l['type'])).toEqual(['break-glass.opened', 'break-glass.closed']);
  });
});

describe('operators from an OIDC provider, and signed webhook notifications', () => {
  let dir: string;
  let running: Running;
  let idp: Server;
  let hooks: Server;
  const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
  const signingKey = generateKeyPairSync('ed25519');
  const c = client(() => running);
  const SECRET = 'a-webhook-secret-of-enough-bytes';

  const listen = async (server: Server) => {
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const oidcToken = (issuer: string, sub: string, groups: string[], key = signingKey.privateKey) => {
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const data = `${enc({ alg: 'EdDSA', typ: 'JWT', kid: 'k1' })}.${enc({ iss: issuer, aud: 'governor', sub, groups, iat: now, exp: now + 600 })}`;
    return `${data}.${sign(null, Buffer.from(data), key).toString('base64url')}`;
  };
  let issuer = '';

  beforeAll(async () => {
    idp = createHttpServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/.well-known/openid-configuration') res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
      else res.end(JSON.stringify({ keys: [{ ...signingKey.publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'EdDSA' }] }));
    });
    issuer = await listen(idp);
    hooks = createHttpServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    const hookUrl = await listen(hooks);
    dir = await exampleDir();
    const governor = await createGovernor({
      policyPath: join(dir, 'governor.yaml'),
      oidc: { issuer, audience: 'governor', usernameClaim: 'sub' },
      webhooks: [{ url: `${hookUrl}/hook`, secret: SECRET }],
      publicUrl: 'https://governor.example.com',
      checkpoint: { intervalMs: 60_000 },
    });
    await governor.app.listen({ port: 0, host: '127.0.0.1' });
    await registerAgents(governor, 'sql-bot', 'deploy-bot');
    running = { governor, url: `http://127.0.0.1:${(governor.app.server.address() as AddressInfo).port}` };
  });
  afterAll(async () => {
    await running.governor.close();
    await new Promise((done) => idp.close(done));
    await new Promise((done) => hooks.close(done));
    await rm(dir, { recursive: true, force: true });
  });

  it('counts OIDC operators as people with their mapped names and groups, and refuses other keys', async () => {
    const held = await c.decide(SQL);
    const forged = oidcToken(issuer, 'mallory', ['dba'], generateKeyPairSync('ed25519').privateKey);
    expect((await c.vote(held, forged, 'approve', { acknowledgeIrreversible: true })).status).toBe(401);
    const ann = await c.vote(held, oidcToken(issuer, 'ann', ['dba']), 'approve', { acknowledgeIrreversible: true });
    expect(ann.status).toBe(201);
    expect(ann.body).toMatchObject({ vote: { voter: 'oidc:ann', groups: ['dba'] } });
    // A Governor-issued operator and an OIDC identity are distinct people.
    const cat = await c.vote(held, c.operator('cat', 'sre-lead'), 'approve', { acknowledgeIrreversible: true });
    expect(cat.body).toMatchObject({ decision: { state: 'approved', resolution: { by: ['oidc:ann', 'cat'] } } });
  });

  it('notifies owners of a held action and its resolution, signed with the shared secret', async () => {
    const held = await c.decide(SQL);
    await c.vote(held, c.operator('dan', 'dba'), 'deny');
    const deadline = Date.now() + 5000;
    const events = () => received.filter((r) => (JSON.parse(r.body) as { data: { decisionId?: string } }).data.decisionId === held.id);
    while (events().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const [requested, resolved] = events().map((r) => ({ ...r, json: JSON.parse(r.body) as { type: string; recipients: string[]; url: string; title: string } }));
    expect(requested?.json).toMatchObject({ type: 'approval.requested', url: `https://governor.example.com/v1/approvals/${held.id}` });
    expect(requested?.json.recipients).toEqual(expect.arrayContaining(['team-dba', 'dba', 'sre-lead']));
    expect(resolved?.json.type).toBe('approval.resolved');
    for (const r of [requested, resolved]) {
      const check = verifyWebhookSignature({ secret: SECRET, header: r?.headers['x-governor-signature'] as string, body: r?.body ?? '', now: Date.now() });
      expect(check).toEqual({ ok: true });
      expect(verifyWebhookSignature({ secret: 'another-secret-of-enough-bytes', header: r?.headers['x-governor-signature'] as string, body: r?.body ?? '', now: Date.now() }).ok).toBe(false);
    }
  });
});

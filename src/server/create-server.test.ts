import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadKeyring } from '../config/keyring.js';
import type { Action, Decision } from '../core/types.js';
import { AGENT_AUDIENCE } from '../identity/claims.js';
import { generateSigningKeyPair } from '../identity/keys.js';
import { createTokenIssuer } from '../identity/token-issuer.js';
import { registerAgents, writeExamplePolicy } from '../../test/helpers/agents.js';
import { createGovernor, ISSUER, type Governor } from '../main.js';


const ACTIONS = {
  allow: { tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 }, taskId: 'T-1' },
  modify: { tool: 'restart_service', environment: 'prod', params: { service: 'payments', fraction: 0.4 } },
  pendingHigh: { tool: 'run_sql', environment: 'prod', params: { database: 'orders-db' }, sql: "DELETE FROM orders WHERE status = 'abandoned'" },
  pendingMedium: { tool: 'deploy', environment: 'prod', params: { service: 'checkout' } },
  deny: { tool: 'http_request', environment: 'prod', params: { url: 'http://169.254.169.254/' } },
} satisfies Record<string, Action>;

interface Harness {
  readonly dir: string;
  readonly governor: Governor;
}

/** A Governor on a private copy of the example policy, with its SQLite store in a temp dir. */
async function startGovernor(): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'governor-server-'));
  await writeExamplePolicy(dir, { unlimited: true });
  const governor = await createGovernor({ policyPath: join(dir, 'governor.yaml'), dataDir: join(dir, 'data') });
  await registerAgents(governor, 'deploy-bot', 'other-bot', 'fresh-bot');
  return { dir, governor };
}

async function stopGovernor(h: Harness | undefined): Promise<void> {
  if (!h) return;
  await h.governor.close();
  await rm(h.dir, { recursive: true, force: true });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const json = <T = Record<string, unknown>>(res: LightMyRequestResponse) => res.json<T>();

describe('HTTP API', () => {
  let h: Harness;
  let agentToken: string;
  let otherAgentToken: string;
  let operatorToken: string;

  const stored = async () => (await h.governor.store.decisions.list({ limit: 1000 })).length;
  const decide = (action: unknown, token = agentToken) =>
    h.governor.app.inject({ method: 'POST', url: '/v1/decisions', headers: bearer(token), payload: { action } });

  beforeAll(async () => {
    h = await startGovernor();
    agentToken = h.governor.issuers.agent.issue({ agent: 'deploy-bot', role: 'deployer', task: 'T-1', ttlSeconds: 900 }).token;
    otherAgentToken = h.governor.issuers.agent.issue({ agent: 'other-bot', role: 'deployer', task: 'T-1', ttlSeconds: 900 }).token;
    operatorToken = h.governor.issuers.operator.issue({ operator: 'alice', groups: ['sre'], ttlSeconds: 3600 }).token;
  });
  afterAll(() => stopGovernor(h));

  describe('verdicts with the example policy', () => {
    const digest = () => h.governor.policy.status().digest;

    it('allows one search replica restart in prod for a deployer bound to a task', async () => {
      const res = await decide(ACTIONS.allow);
      expect(res.statusCode).toBe(200);
      const d = json<Decision>(res);
      expect(d.verdict).toBe('allow');
      expect(d.state).toBe('allowed');
      expect(d.impact).toMatchObject({ known: true, replicas: 1 });
      expect(d.reasons).toContainEqual(expect.objectContaining({ rule: 'deployers-operate-prod', primitive: 'allow' }));
      expect(d.policy.digest).toBe(digest());
      expect(d.principal).toMatchObject({ agent: 'deploy-bot', role: 'deployer', task: 'T-1' });
      expect(d.shadow.verdict).toBe('deny');
      expect(d.shadow.reasons).toContainEqual(expect.objectContaining({ rule: 'trial-total-traffic-ceiling', mode: 'shadow' }));
    });

    it('modifies a 40% payments restart into a 5% first step', async () => {
      const res = await decide(ACTIONS.modify);
      expect(res.statusCode).toBe(200);
      const d = json<Decision>(res);
      expect(d.verdict).toBe('modify');
      expect(d.action.params).toMatchObject({ service: 'payments', fraction: 0.05 });
      expect(d.requestedAction?.params).toMatchObject({ fraction: 0.4 });
      expect(d.impact.replicas).toBe(1);
      expect(d.reasons).toContainEqual(expect.objectContaining({ rule: 'prod-blast-radius', primitive: 'blast-radius', effect: 'modify' }));
      expect(d.policy.digest).toBe(digest());
    });

    it('holds irreversible SQL in prod for a high-tier approval', async () => {
      const d = json<Decision>(await decide(ACTIONS.pendingHigh));
      expect(d.verdict).toBe('pending');
      expect(d.state).toBe('pending');
      expect(d.approval).toMatchObject({ tier: 'high', irreversible: true });
      expect(d.impact.reversible).toBe(false);
      expect(d.reasons).toContainEqual(expect.objectContaining({ rule: 'irreversible-needs-approval', primitive: 'reversible-by-default' }));
      expect(d.policy.digest).toBe(digest());
    });

    it('gives a prod deploy a medium-tier veto window', async () => {
      const d = json<Decision>(await decide(ACTIONS.pendingMedium));
      expect(d.verdict).toBe('pending');
      expect(d.approval).toMatchObject({ tier: 'medium', irreversible: false });
      expect(d.reasons).toContainEqual(expect.objectContaining({ rule: 'prod-deploys-are-medium-risk', primitive: 'risk-tier' }));
      expect(d.impact.dependents).toEqual([]);
      expect(d.policy.digest).toBe(digest());
    });

    it('denies the cloud metadata endpoint', async () => {
      const d = json<Decision>(await decide(ACTIONS.deny));
      expect(d.verdict).toBe('deny');
      expect(d.state).toBe('denied');
      expect(d.impact.endpoints).toEqual([expect.objectContaining({ input: 'http://169.254.169.254/', zone: null })]);
      expect(d.reasons).toContainEqual(expect.objectContaining({ rule: 'network-zones', primitive: 'network-boundary', effect: 'deny', code: 'ZONE_NOT_PERMITTED' }));
      expect(d.policy.digest).toBe(digest());
    });

    it('stores every decision before answering, readable by its agent and by operators only', async () => {
      const d = json<Decision>(await decide(ACTIONS.allow));
      expect(await h.governor.store.decisions.get(d.id)).toMatchObject({ id: d.id, verdict: 'allow' });

      const own = await h.governor.app.inject({ method: 'GET', url: `/v1/decisions/${d.id}`, headers: bearer(agentToken) });
      expect(own.statusCode).toBe(200);
      expect(json<Decision>(own)).toEqual(d);

      const other = await h.governor.app.inject({ method: 'GET', url: `/v1/decisions/${d.id}`, headers: bearer(otherAgentToken) });
      expect(other.statusCode).toBe(404);
      expect(json(other)).toMatchObject({ error: { code: 'NOT_FOUND' } });

      const operator = await h.governor.app.inject({ method: 'GET', url: `/v1/decisions/${d.id}`, headers: bearer(operatorToken) });
      expect(operator.statusCode).toBe(200);
      expect(json<Decision>(operator).id).toBe(d.id);

      const missing = await h.governor.app.inject({ method: 'GET', url: '/v1/decisions/no-such-decision', headers: bearer(operatorToken) });
      expect(missing.statusCode).toBe(404);
      const anonymous = await h.governor.app.inject({ method: 'GET', url: `/v1/decisions/${d.id}` });
      expect(anonymous.statusCode).toBe(401);
    });
  });

  describe('authentication', () => {
    let before: number;
    beforeEach(async () => {
      before = await stored();
    });

    const refused = async (res: LightMyRequestResponse) => {
      expect(res.statusCode).toBe(401);
      const body = json<{ error: { code: string; message: string } }>(res);
      expect(body.error.code).toBe('UNAUTHENTICATED');
      expect(typeof body.error.message).toBe('string');
      expect(body.error.message.length).toBeGreaterThan(0);
      expect(await stored()).toBe(before);
      return body;
    };
    const post = (headers: Record<string, string>, payload: string | object = { action: ACTIONS.allow }) =>
      h.governor.app.inject({ method: 'POST', url: '/v1/decisions', headers, payload });

    it('refuses a request without a credential, and says it is a deny', async () => {
      const body = await refused(await post({}));
      expect(body).toMatchObject({ verdict: 'deny' });
      expect(body.error.message).toMatch(/missing credential/);
    });

    it('refuses a malformed Authorization header', async () => {
      await refused(await post({ authorization: agentToken }));
      await refused(await post({ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }));
      await refused(await post({ authorization: 'Bearer ' }));
      await refused(await post({ authorization: `Bearer ${agentToken} extra` }));
    });

    it('refuses an expired credential', async () => {
      const keys = await loadKeyring(h.governor.dataDir);
      const hourAgo = Date.now() - 3600_000;
      const stale = createTokenIssuer({ privateKey: keys.agentIssuer.privateKey, issuer: ISSUER, audience: AGENT_AUDIENCE, clock: () => hourAgo });
      const token = stale.issue({ agent: 'deploy-bot', role: 'deployer', task: 'T-1', ttlSeconds: 60 }).token;
      const body = await refused(await post(bearer(token)));
      expect(body.error.message).toMatch(/expired/);
    });

    it('refuses an unsigned (alg: none) credential carrying valid claims', async () => {
      const [, payload] = agentToken.split('.');
      const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
      await refused(await post(bearer(`${header}.${payload}.`)));
      const withOldSignature = `${header}.${payload}.${agentToken.split('.')[2]}`;
      await refused(await post(bearer(withOldSignature)));
    });

    it('refuses a credential signed by another key', async () => {
      const foreign = createTokenIssuer({ privateKey: generateSigningKeyPair().privateKey, issuer: ISSUER, audience: AGENT_AUDIENCE, clock: Date.now });
      await refused(await post(bearer(foreign.issue({ agent: 'deploy-bot', role: 'deployer', task: 'T-1', ttlSeconds: 60 }).token)));
    });

    it('refuses a credential whose claims were altered', async () => {
      const [header, payload, signature] = agentToken.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
      const forged = Buffer.from(JSON.stringify({ ...claims, role: 'dba' })).toString('base64url');
      await refused(await post(bearer(`${header}.${forged}.${signature}`)));
    });

    it('never accepts an operator credential as an agent', async () => {
      await refused(await post(bearer(operatorToken)));
    });

    it('never accepts an agent credential as an operator', async () => {
      const res = await h.governor.app.inject({ method: 'POST', url: '/v1/agents/new-bot/credentials', headers: bearer(agentToken), payload: { role: 'deployer' } });
      expect(res.statusCode).toBe(401);
      expect(json(res)).toMatchObject({ error: { code: 'UNAUTHENTICATED', message: expect.any(String) } });
    });

    it('authenticates before it looks at the body', async () => {
      const body = await refused(await post({}, { action: { tool: 'bad tool!', environment: 'prod' }, extra: true }));
      expect(body.error.message).not.toMatch(/must/);
      await refused(await post({ 'content-type': 'application/json' }, '{not json'));
      await refused(await post({ 'content-type': 'application/json' }, JSON.stringify({ action: ACTIONS.allow, pad: 'x'.repeat(70 * 1024) })));
    });
  });

  describe('bad input is a 4xx with a code, never a 500, and stores nothing', () => {
    let before: number;
    beforeEach(async () => {
      before = await stored();
    });
    const nested = (depth: number): unknown => (depth === 0 ? 'leaf' : { next: nested(depth - 1) });
    const target = (i: number) => ({ kind: 'service', id: `svc-${i}` });

    const cases: [string, unknown][] = [
      ['a missing action', {}],
      ['an unknown top-level field', { action: ACTIONS.allow, force: true }],
      ['an unknown action field', { action: { ...ACTIONS.allow, sudo: true } }],
      ['a tool with bad characters', { action: { ...ACTIONS.allow, tool: 'restart service; rm -rf /' } }],
      ['a missing environment', { action: { tool: 'restart_service' } }],
      ['65 targets', { action: { ...ACTIONS.allow, targets: Array.from({ length: 65 }, (_, i) => target(i)) } }],
      ['33 endpoints', { action: { ...ACTIONS.deny, endpoints: Array.from({ length: 33 }, (_, i) => `https://h${i}.prod.internal/`) } }],
      ['a fraction of 1.5', { action: { ...ACTIONS.allow, targets: [{ kind: 'service', id: 'search', fraction: 1.5 }] } }],
      ['a fraction of 0', { action: { ...ACTIONS.allow, targets: [{ kind: 'service', id: 'search', fraction: 0 }] } }],
      ['params nested 20 deep', { action: { ...ACTIONS.allow, params: nested(20) } }],
      ['params that are a list', { action: { ...ACTIONS.allow, params: [1, 2] } }],
      ['a body that is a list', [ACTIONS.allow]],
    ];
    it.each(cases)('refuses %s', async (_name, payload) => {
      const res = await decide(payload as never);
      expect(res.statusCode).toBe(400);
      expect(json(res)).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.any(String) }, verdict: 'deny' });
      expect(await stored()).toBe(before);
    });

    it('accepts params nested exactly to the limit', async () => {
      const res = await decide({ ...ACTIONS.allow, params: { ...ACTIONS.allow.params, extra: nested(7) } });
      expect(res.statusCode).toBe(200);
    });

    it('refuses a body that is not JSON', async () => {
      const res = await h.governor.app.inject({ method: 'POST', url: '/v1/decisions', headers: { ...bearer(agentToken), 'content-type': 'application/json' }, payload: '{"action": {' });
      expect(res.statusCode).toBe(400);
      expect(json(res)).toMatchObject({ error: { code: 'BAD_REQUEST' } });
      expect(await stored()).toBe(before);
    });

    it('refuses a body that is not declared as JSON', async () => {
      const xml = await h.governor.app.inject({ method: 'POST', url: '/v1/decisions', headers: { ...bearer(agentToken), 'content-type': 'application/xml' }, payload: '<action/>' });
      expect(xml.statusCode).toBe(415);
      expect(json(xml)).toMatchObject({ error: { code: 'BAD_REQUEST' } });
      const text = await h.governor.app.inject({ method: 'POST', url: '/v1/decisions', headers: { ...bearer(agentToken), 'content-type': 'text/plain' }, payload: JSON.stringify({ action: ACTIONS.allow }) });
      expect(text.statusCode).toBeGreaterThanOrEqual(400);
      expect(text.statusCode).toBeLessThan(500);
      expect(json(text)).toMatchObject({ error: { code: expect.any(String) } });
      expect(await stored()).toBe(before);
    });

    it('refuses a body over 64 KiB with 413', async () => {
      const payload = JSON.stringify({ action: { ...ACTIONS.allow, intent: 'x'.repeat(2048), params: { blob: 'x'.repeat(70 * 1024) } } });
      const res = await h.governor.app.inject({ method: 'POST', url: '/v1/decisions', headers: { ...bearer(agentToken), 'content-type': 'application/json' }, payload });
      expect(res.statusCode).toBe(413);
      expect(json(res)).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' }, verdict: 'deny' });
      expect(await stored()).toBe(before);
    });

    it('answers an unknown route with a JSON 404', async () => {
      const res = await h.governor.app.inject({ method: 'GET', url: '/v1/nope?x=1', headers: bearer(agentToken) });
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(json(res)).toEqual({ error: { code: 'NOT_FOUND', message: 'no route GET /v1/nope' } });
    });

    it('refuses a malformed decision id', async () => {
      const res = await h.governor.app.inject({ method: 'GET', url: `/v1/decisions/${encodeURIComponent('../../etc/passwd')}`, headers: bearer(agentToken) });
      expect(res.statusCode).toBe(400);
      expect(json(res)).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    });
  });

  describe('idempotency', () => {
    it('answers a retry with the same decision and stores it once', async () => {
      const action = { ...ACTIONS.allow, idempotencyKey: 'retry-1' };
      const before = await stored();
      const first = json<Decision>(await decide(action));
      const second = json<Decision>(await decide(action));
      expect(second.id).toBe(first.id);
      expect(second).toEqual(first);
      expect(await stored()).toBe(before + 1);
    });

    it('refuses the same key for a different action with 409', async () => {
      await decide({ ...ACTIONS.allow, idempotencyKey: 'retry-2' });
      const before = await stored();
      const res = await decide({ ...ACTIONS.deny, idempotencyKey: 'retry-2' });
      expect(res.statusCode).toBe(409);
      expect(json(res)).toMatchObject({ error: { code: 'IDEMPOTENCY_CONFLICT' }, verdict: 'deny' });
      expect(await stored()).toBe(before);
    });

    it('scopes keys per agent', async () => {
      const action = { ...ACTIONS.allow, idempotencyKey: 'retry-3' };
      const mine = json<Decision>(await decide(action));
      const theirs = json<Decision>(await decide(action, otherAgentToken));
      expect(theirs.id).not.toBe(mine.id);
      expect(theirs.principal.agent).toBe('other-bot');
    });

    it('gives 20 concurrent requests with one key one decision', async () => {
      const before = await stored();
      const action = { ...ACTIONS.modify, idempotencyKey: 'burst-1' };
      const responses = await Promise.all(Array.from({ length: 20 }, () => decide(action)));
      expect(responses.map((r) => r.statusCode)).toEqual(Array(20).fill(200));
      expect(new Set(responses.map((r) => json<Decision>(r).id)).size).toBe(1);
      expect(await stored()).toBe(before + 1);
    });
  });

  describe('outcomes', () => {
    const outcome = (id: string, payload: object, token = agentToken) =>
      h.governor.app.inject({ method: 'POST', url: `/v1/decisions/${id}/outcome`, headers: bearer(token), payload });

    it('records the outcome of an allowed action once', async () => {
      const d = json<Decision>(await decide(ACTIONS.allow));
      const res = await outcome(d.id, { status: 'succeeded', detail: { restarted: ['search-7'] } });
      expect(res.statusCode).toBe(200);
      expect(json<Decision>(res).outcome).toMatchObject({ status: 'succeeded', detail: { restarted: ['search-7'] } });
      expect((await h.governor.store.decisions.get(d.id))?.outcome?.status).toBe('succeeded');

      const again = await outcome(d.id, { status: 'failed' });
      expect(again.statusCode).toBe(409);
      expect(json(again)).toMatchObject({ error: { code: 'CONFLICT' } });
      expect((await h.governor.store.decisions.get(d.id))?.outcome?.status).toBe('succeeded');
    });

    it('records the outcome of a modified action', async () => {
      const d = json<Decision>(await decide(ACTIONS.modify));
      expect((await outcome(d.id, { status: 'failed' })).statusCode).toBe(200);
    });

    it('refuses an outcome for a denied or a pending action', async () => {
      for (const action of [ACTIONS.deny, ACTIONS.pendingHigh]) {
        const d = json<Decision>(await decide(action));
        const res = await outcome(d.id, { status: 'succeeded' });
        expect(res.statusCode).toBe(409);
        expect(json(res)).toMatchObject({ error: { code: 'CONFLICT' } });
        expect((await h.governor.store.decisions.get(d.id))?.outcome).toBeUndefined();
      }
    });

    it('hides another agent\'s decision', async () => {
      const d = json<Decision>(await decide(ACTIONS.allow));
      const res = await outcome(d.id, { status: 'succeeded' }, otherAgentToken);
      expect(res.statusCode).toBe(404);
      expect(json(res)).toMatchObject({ error: { code: 'NOT_FOUND' } });
      expect((await h.governor.store.decisions.get(d.id))?.outcome).toBeUndefined();
    });

    it('refuses a bad outcome body and an operator credential', async () => {
      const d = json<Decision>(await decide(ACTIONS.allow));
      expect((await outcome(d.id, { status: 'done' })).statusCode).toBe(400);
      expect((await outcome(d.id, { status: 'succeeded', secret: 1 })).statusCode).toBe(400);
      expect((await outcome(d.id, { status: 'succeeded' }, operatorToken)).statusCode).toBe(401);
      expect((await h.governor.store.decisions.get(d.id))?.outcome).toBeUndefined();
    });
  });

  describe('agent credentials', () => {
    const issue = (agent: string, payload: object, token = operatorToken) =>
      h.governor.app.inject({ method: 'POST', url: `/v1/agents/${agent}/credentials`, headers: bearer(token), payload });

    it('lets an operator issue a credential that then works on /v1/decisions', async () => {
      const res = await issue('fresh-bot', { role: 'deployer', task: 'T-9', ttl: '5m' });
      expect(res.statusCode).toBe(201);
      const body = json<{ token: string; expiresAt: string; principal: Record<string, string> }>(res);
      expect(body.principal).toMatchObject({ agent: 'fresh-bot', role: 'deployer', task: 'T-9' });
      const ttl = Date.parse(body.expiresAt) - Date.now();
      expect(ttl).toBeGreaterThan(4 * 60_000);
      expect(ttl).toBeLessThanOrEqual(5 * 60_000);

      const d = await decide({ ...ACTIONS.allow, taskId: 'T-9' }, body.token);
      expect(d.statusCode).toBe(200);
      expect(json<Decision>(d)).toMatchObject({ verdict: 'allow', principal: { agent: 'fresh-bot', task: 'T-9' } });
    });

    it('refuses a bad credential request with 400', async () => {
      expect((await issue('fresh-bot', {})).statusCode).toBe(400);
      expect((await issue('fresh-bot', { role: 'deployer', ttl: '30d' })).statusCode).toBe(400);
      expect((await issue('fresh-bot', { role: 'deployer', ttl: 'soon' })).statusCode).toBe(400);
      expect((await issue('fresh-bot', { role: 'deployer', admin: true })).statusCode).toBe(400);
    });
  });

  it('reports health with the policy digest', async () => {
    const res = await h.governor.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(json(res)).toMatchObject({ ok: true, store: { engine: 'sqlite', ok: true }, policy: { digest: h.governor.policy.status().digest } });
    expect(h.governor.policy.status().digest).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('fail closed', () => {
  let h: Harness | undefined;
  afterAll(() => stopGovernor(h));

  it('denies with 503 STORE_UNAVAILABLE when the decision cannot be stored', async () => {
    h = await startGovernor();
    const token = h.governor.issuers.agent.issue({ agent: 'deploy-bot', role: 'deployer', task: 'T-1', ttlSeconds: 900 }).token;
    const ok = await h.governor.app.inject({ method: 'POST', url: '/v1/decisions', headers: bearer(token), payload: { action: ACTIONS.allow } });
    expect(json<Decision>(ok).verdict).toBe('allow');

    await h.governor.store.close();
    const res = await h.governor.app.inject({ method: 'POST', url: '/v1/decisions', headers: bearer(token), payload: { action: ACTIONS.allow } });
    expect(res.statusCode).toBe(503);
    const body = json<{ verdict: string; error: { code: string; requestId?: string } }>(res);
    expect(body.verdict).toBe('deny');
    expect(body.error.code).toBe('STORE_UNAVAILABLE');
    expect(body.error.requestId).toEqual(expect.any(String));
    expect(body).not.toHaveProperty('id');

    const health = await h.governor.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(503);
    expect(json(health)).toMatchObject({ ok: false, store: { ok: false } });
  });
});

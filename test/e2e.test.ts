/**
 * End to end: the real `governor` binary, as a user runs it, over a socket.
 * init -> token issue -> serve -> decisions over HTTP -> a broken policy edit
 * that is rejected while serving -> SIGTERM.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = join(ROOT, 'bin', 'governor.js');

/** Runs the binary to completion; throws on a non-zero exit. */
function governor(...args: string[]): string {
  return execFileSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
}

interface Served {
  readonly child: ChildProcess;
  readonly url: string;
  readonly stderr: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `governor serve --port 0` and resolves once it prints the address it listens on. */
function serve(config: string): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--config', config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stdout?.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in time; stderr:\n${stderr}`)), 20_000);
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      const match = /governor listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: match[1], stderr: () => stderr, exited });
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening; stderr:\n${stderr}`));
    });
  });
}

async function eventually<T>(probe: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface DecisionBody {
  readonly id: string;
  readonly verdict: string;
  readonly reasons: readonly { rule: string; primitive: string }[];
  readonly policy: { digest: string };
}

interface Health {
  readonly ok: boolean;
  readonly policy: { digest: string; lastError?: { message: string } };
}

describe('governor, end to end', () => {
  let dir: string;
  let config: string;
  let token: string;
  let server: Served | undefined;

  const decide = async (action: object) => {
    const res = await fetch(`${server?.url}/v1/decisions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action }),
    });
    return { status: res.status, body: (await res.json()) as DecisionBody };
  };
  const health = async () => (await (await fetch(`${server?.url}/healthz`)).json()) as Health;

  beforeAll(async () => {
    // What `npm run build` (and `npm install`, through prepare) does; a build that fails fails the suite.
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8', stdio: 'pipe', timeout: 180_000 });
    } catch (err) {
      const { stdout, stderr } = err as { stdout?: string; stderr?: string };
      throw new Error(`npx tsc -p tsconfig.build.json failed:\n${stdout ?? ''}${stderr ?? ''}`);
    }
    dir = await mkdtemp(join(tmpdir(), 'governor-e2e-'));
    config = join(dir, 'governor.yaml');
  }, 200_000);

  afterAll(async () => {
    if (!dir) return;
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('init writes a policy, an inventory and keys', () => {
    const out = governor('init', dir);
    expect(out).toContain(`wrote ${config}`);
    expect(out).toContain(`wrote ${join(dir, 'inventory.yaml')}`);
    expect(out).toContain('created key');
  });

  it('token issue prints an agent credential', () => {
    expect(governor('agents', 'register', 'deploy-bot', '--owner', 'team-platform', '--purpose', 'deploys and restarts services', '--trust', 'production', '--config', config)).toContain('registered agent deploy-bot');
    token = governor('token', 'issue', '--agent', 'deploy-bot', '--role', 'deployer', '--task', 'T-1', '--config', config).trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  });

  it('serve answers decisions over HTTP', async () => {
    server = await serve(config);
    const h = await health();
    expect(h).toMatchObject({ ok: true, policy: { digest: expect.stringMatching(/^[0-9a-f]{64}$/) } });

    const allowed = await decide({ tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 }, taskId: 'T-1' });
    expect(allowed.status).toBe(200);
    expect(allowed.body.verdict).toBe('allow');
    expect(allowed.body.policy.digest).toBe(h.policy.digest);

    const denied = await decide({ tool: 'http_request', environment: 'prod', params: { url: 'http://169.254.169.254/' } });
    expect(denied.status).toBe(200);
    expect(denied.body.verdict).toBe('deny');
    expect(denied.body.reasons).toContainEqual(expect.objectContaining({ rule: 'network-zones', primitive: 'network-boundary' }));

    const read = await fetch(`${server.url}/v1/decisions/${allowed.body.id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(read.status).toBe(200);
    expect(((await read.json()) as DecisionBody).id).toBe(allowed.body.id);

    const anonymous = await fetch(`${server.url}/v1/decisions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: {} }) });
    expect(anonymous.status).toBe(401);
  });

  it('holds production SQL until a DBA and an SRE lead approve from the CLI; the agent long-poll returns allow', async () => {
    const url = (server as Served).url;
    governor('agents', 'register', 'sql-bot', '--owner', 'team-dba', '--purpose', 'database maintenance', '--trust', 'production', '--config', config);
    const dba = governor('token', 'issue', '--agent', 'sql-bot', '--role', 'dba', '--task', 'T-9', '--config', config).trim();
    const held = await fetch(`${url}/v1/decisions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${dba}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: { tool: 'run_sql', environment: 'prod', params: { database: 'orders-db', sql: 'DELETE FROM carts WHERE age > 30' }, taskId: 'T-9' } }),
    });
    const decision = (await held.json()) as DecisionBody & { state: string };
    expect(decision.verdict).toBe('pending');
    const poll = fetch(`${url}/v1/decisions/${decision.id}?wait=30`, { headers: { authorization: `Bearer ${dba}` } });

    const ann = governor('token', 'issue', '--operator', 'ann', '--groups', 'dba', '--config', config).trim();
    const cat = governor('token', 'issue', '--operator', 'cat', '--groups', 'sre-lead', '--config', config).trim();
    const listed = governor('approvals', '--url', url, '--token', ann);
    expect(listed).toContain(decision.id);
    expect(listed).toContain('IRREVERSIBLE');
    expect(listed).toContain('quorum: 2 approval(s), 1 from dba, 1 from sre-lead');
    // A plain approve of an irreversible action is refused, with the way out.
    expect(() => governor('approve', decision.id, '--reason', 'looks fine', '--url', url, '--token', ann)).toThrow(/--acknowledge-irreversible/);
    expect(governor('approve', decision.id, '--reason', 'reviewed the query plan', '--acknowledge-irreversible', '--url', url, '--token', ann)).toContain(
      'still pending: 1 more approval(s) of 2; 1 more from group sre-lead',
    );
    expect(governor('approve', decision.id, '--reason', 'carts are disposable', '--acknowledge-irreversible', '--url', url, '--token', cat)).toContain('is now approved (allow)');
    const polled = (await (await poll).json()) as DecisionBody & { state: string };
    expect(polled).toMatchObject({ id: decision.id, state: 'approved', verdict: 'allow' });
    // An agent credential is not an operator's.
    expect(() => governor('approvals', '--url', url, '--token', dba)).toThrow(/UNAUTHENTICATED/);
  });

  it('keeps serving the last good policy when a broken edit lands on disk', async () => {
    const before = await health();
    const good = await readFile(config, 'utf8');
    const broken = good.replace('when: principal.role == "deployer"\n', 'when: action.envirnoment == "prod"\n');
    expect(broken).not.toBe(good);
    await writeFile(config, broken);

    const after = await eventually(async () => {
      const h = await health();
      return h.policy.lastError ? h : undefined;
    });
    expect(after.policy.digest).toBe(before.policy.digest);
    expect(after.policy.lastError?.message).toContain(config);
    expect(after.policy.lastError?.message).toContain('deployers-operate-prod');

    const still = await decide({ tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 } });
    expect(still.status).toBe(200);
    expect(still.body.verdict).toBe('allow');
    expect(still.body.policy.digest).toBe(before.policy.digest);
    expect(server?.stderr()).not.toContain('unhandled');

    // A fix is picked up.
    await writeFile(config, good.replace('owners are notified and may veto', 'owners may veto'));
    const fixed = await eventually(async () => {
      const h = await health();
      return h.policy.lastError === undefined && h.policy.digest !== before.policy.digest ? h : undefined;
    });
    expect((await decide({ tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 } })).body.policy.digest).toBe(fixed.policy.digest);
  });

  it('shuts down cleanly on SIGTERM', async () => {
    const s = server as Served;
    s.child.kill('SIGTERM');
    const { code, signal } = await s.exited;
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(s.stderr()).toContain('shutting down');
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
  });
});

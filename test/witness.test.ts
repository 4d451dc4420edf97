/**
 * Witness cosigning, end to end over sockets: a Governor that requires one
 * witness cosignature, and a real `governor witness` process. Checkpoints
 * are published only while the witness cosigns them; decisions never wait
 * for it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureLogKeys } from '../src/audit/log-keys.js';
import { nodeAuditCrypto } from '../src/audit/node-crypto.js';
import { openCheckpoint } from '../src/audit/pure/checkpoint.js';
import { COSIGNATURE_KEY_TYPE, formatVerifierKey, openNote } from '../src/audit/pure/note.js';
import { parseNoteVerifier } from '../src/audit/pure/note-verifier.js';
import { runCli } from '../src/cli/main.js';
import { writeExamplePolicy } from './helpers/agents.js';
import { createGovernor, type Governor } from '../src/main.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const ORIGIN = 'governor/witness-test';

interface WitnessProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly vkey: string;
  readonly exited: Promise<unknown>;
}

/** Starts `governor witness` from the sources (through tsx) and resolves once it listens. */
function startWitness(launcher: string, args: readonly string[]): Promise<WitnessProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', launcher, 'witness', ...args], {
    cwd: ROOT,
    env: { ...process.env, GOVERNOR_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise((done) => child.once('exit', done));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`witness did not start in time; stderr:\n${stderr}`)), 20_000);
    const check = () => {
      const listening = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      const vkey = stdout.split('\n')[0];
      if (listening?.[1] && vkey && stdout.includes('\n')) {
        clearTimeout(timer);
        resolve({ child, url: listening[1], vkey, exited });
      }
    };
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      check();
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      check();
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`witness exited before listening; stderr:\n${stderr}`));
    });
  });
}

async function stopWitness(w: WitnessProcess | undefined): Promise<void> {
  if (!w || w.child.exitCode !== null || w.child.signalCode !== null) return;
  w.child.kill('SIGTERM');
  await w.exited;
}

async function cli(argv: readonly string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (t) => out.push(t), err: (t) => err.push(t), cwd: ROOT, env: {} });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('witness cosigning', () => {
  let dir: string;
  let launcher: string;
  let logVkey: string;
  let witness: WitnessProcess | undefined;
  let governor: Governor | undefined;
  let url: string;
  let agent: string;
  let operator: string;
  const witnessArgs = (port = '0') => [
    '--key', join(dir, 'witness.key'),
    '--state', join(dir, 'witness-state.json'),
    '--log', logVkey,
    '--name', 'witness.test/w1',
    '--port', port,
  ];

  const decide = async (query = '') => {
    const res = await fetch(`${url}/v1/decisions${query}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: { tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 }, taskId: 'T-1' } }),
    });
    return { status: res.status, body: (await res.json()) as { verdict: string; audit?: { index: number; checkpoint?: string }; error?: { code: string; message: string } } };
  };
  const signCheckpoint = async () => {
    const res = await fetch(`${url}/v1/audit/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${operator}` } });
    return { status: res.status, text: await res.text() };
  };
  const latest = async () => {
    const res = await fetch(`${url}/v1/audit/checkpoint`, { headers: { authorization: `Bearer ${agent}` } });
    expect(res.status).toBe(200);
    return res.text();
  };
  const sizeOf = (note: string) => Number(note.split('\n')[1]);
  const verifier = (vkey: string) => {
    const v = parseNoteVerifier(nodeAuditCrypto, vkey);
    if (!v.ok) throw new Error(`bad vkey ${vkey}`);
    return v.value;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'governor-witness-it-'));
    await writeExamplePolicy(dir, { uncarded: true, unlimited: true });
    launcher = join(dir, 'launch.mjs');
    const cliUrl = pathToFileURL(join(ROOT, 'src', 'cli', 'main.ts')).href;
    await writeFile(launcher, `const { main } = await import(${JSON.stringify(cliUrl)});\nawait main();\n`);
    // The log key exists before the witness starts, so the witness can trust it.
    await mkdir(join(dir, 'data', 'keys'), { recursive: true, mode: 0o700 });
    const [logKey] = await ensureLogKeys(join(dir, 'data'), ORIGIN);
    logVkey = logKey!.vkey;
  }, 60_000);

  afterAll(async () => {
    await governor?.close();
    await stopWitness(witness);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serve refuses bad witness flags before starting', async () => {
    const config = join(dir, 'governor.yaml');
    const noWitness = await cli(['serve', '--config', config, '--witnesses-required', '1']);
    expect(noWitness.code).toBe(2);
    expect(noWitness.err).toContain('--witnesses-required must be an integer from 0 to the number of --witness flags (0)');
    const badSpec = await cli(['serve', '--config', config, '--witness', 'http://no-key.example']);
    expect(badSpec.code).toBe(2);
    expect(badSpec.err).toContain('must be VKEY@URL');
  });

  it('governor witness creates its key (0600) and prints its cosignature verifier key', async () => {
    witness = await startWitness(launcher, witnessArgs());
    expect(witness.vkey).toMatch(/^witness\.test\/w1\+[0-9a-f]{8}\+/);
    expect(Buffer.from(witness.vkey.split('+')[2]!, 'base64')[0]).toBe(COSIGNATURE_KEY_TYPE);
    expect((await stat(join(dir, 'witness.key'))).mode & 0o777).toBe(0o600);
    // The key is never replaced: --print-key reads the same one.
    const printed = await cli(['witness', '--key', join(dir, 'witness.key'), '--print-key']);
    expect(printed).toMatchObject({ code: 0, out: witness.vkey });
    const health = (await (await fetch(`${witness.url}/healthz`)).json()) as { logs: string[] };
    expect(health.logs).toEqual([ORIGIN]);
  });

  it('publishes checkpoints that verify with the log key and the witness cosignature', async () => {
    governor = await createGovernor({
      policyPath: join(dir, 'governor.yaml'),
      dataDir: join(dir, 'data'),
      witnesses: [{ url: witness!.url, vkey: witness!.vkey }],
      witnessesRequired: 1,
      witnessTimeoutMs: 2000,
      // Signing happens when the test asks, not on a timer.
      checkpoint: { intervalMs: 3_600_000 },
    });
    url = await governor.app.listen({ port: 0, host: '127.0.0.1' });
    agent = governor.issuers.agent.issue({ agent: 'deploy-bot', role: 'deployer', task: 'T-1', ttlSeconds: 600 }).token;
    operator = governor.issuers.operator.issue({ operator: 'alice', groups: ['sre'], ttlSeconds: 600 }).token;

    for (let i = 0; i < 3; i++) expect((await decide()).body.verdict).toBe('allow');
    const signed = await signCheckpoint();
    expect(signed.status).toBe(200);
    expect(sizeOf(signed.text)).toBe(3);
    expect(openCheckpoint(signed.text, [verifier(logVkey)], ORIGIN).ok).toBe(true);
    expect(openNote(signed.text, [verifier(witness!.vkey)]).ok).toBe(true);
    expect(await latest()).toBe(signed.text);

    // The witness recorded it before answering.
    const state = JSON.parse(await readFile(join(dir, 'witness-state.json'), 'utf8')) as { logs: Record<string, string> };
    expect(sizeOf(state.logs[ORIGIN]!)).toBe(3);

    // An agent asking for the covering checkpoint gets a cosigned one.
    const waited = await decide('?checkpoint=wait');
    expect(waited.status).toBe(200);
    expect(openNote(waited.body.audit!.checkpoint!, [verifier(witness!.vkey)]).ok).toBe(true);
    expect(sizeOf(waited.body.audit!.checkpoint!)).toBe(4);
  });

  it('audit verify --url requires the witness cosignature given with --witness-key', async () => {
    const args = ['audit', 'verify', '--url', url, '--key', logVkey, '--token', agent];
    const ok = await cli([...args, '--witness-key', witness!.vkey, '--state', join(dir, 'verify-state')]);
    expect(ok.err).toBe('');
    expect(ok).toMatchObject({ code: 0, out: expect.stringContaining('cosigned by witness.test/w1') });
    const stranger = formatVerifierKey(nodeAuditCrypto, 'witness.test/w2', nodeAuditCrypto.ed25519PublicKey(new Uint8Array(32).fill(3)), COSIGNATURE_KEY_TYPE);
    const missing = await cli([...args, '--witness-key', stranger, '--state', join(dir, 'verify-state-2')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/not cosigned as required: witness witness\.test\/w2/);
    const notWitnessKey = await cli([...args, '--witness-key', logVkey, '--state', join(dir, 'verify-state-3')]);
    expect(notWitnessKey.code).toBe(2);
  });

  it('with the witness down, decisions still succeed but no checkpoint is published', async () => {
    const before = await latest();
    await stopWitness(witness);

    const started = Date.now();
    for (let i = 0; i < 3; i++) expect((await decide()).body.verdict).toBe('allow');
    expect(Date.now() - started).toBeLessThan(2000);

    const refused = await signCheckpoint();
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.text)).toMatchObject({
      error: { code: 'AUDIT_UNAVAILABLE', message: expect.stringMatching(/checkpoint at size 7 not published: 0 of the 1 required witness cosignatures \(witness witness\.test\/w1 .*ECONNREFUSED/) },
    });
    expect(await latest()).toBe(before);
    expect(sizeOf(await latest())).toBe(4);

    // An agent that insists on a covering checkpoint is told why there is none.
    const waited = await decide('?checkpoint=wait');
    expect(waited.status).toBe(503);
    expect(waited.body.error).toMatchObject({ code: 'AUDIT_UNAVAILABLE', message: expect.stringContaining('not published') });
  });

  it('once the witness is back (same key, same state), the next checkpoint is cosigned from where it left off', async () => {
    // Back where the log expects it.
    witness = await startWitness(launcher, witnessArgs(new URL(witness!.url).port));
    const signed = await signCheckpoint();
    expect(signed.status).toBe(200);
    expect(sizeOf(signed.text)).toBe(8);
    expect(openNote(signed.text, [verifier(witness.vkey)]).ok).toBe(true);
    const again = await cli(['audit', 'verify', '--url', url, '--key', logVkey, '--token', agent, '--witness-key', witness.vkey, '--state', join(dir, 'verify-state')]);
    expect(again).toMatchObject({ code: 0, out: expect.stringContaining('is consistent with the last verified checkpoint') });
  });

  it('a restarted Governor learns what the witness cosigned (409) and proves consistency from there', async () => {
    await governor!.close();
    governor = await createGovernor({
      policyPath: join(dir, 'governor.yaml'),
      dataDir: join(dir, 'data'),
      witnesses: [{ url: witness!.url, vkey: witness!.vkey }],
      witnessesRequired: 1,
      checkpoint: { intervalMs: 3_600_000 },
    });
    url = await governor.app.listen({ port: 0, host: '127.0.0.1' });
    expect((await decide()).body.verdict).toBe('allow');
    const signed = await signCheckpoint();
    expect(signed.status).toBe(200);
    expect(sizeOf(signed.text)).toBe(9);
    expect(openNote(signed.text, [verifier(witness!.vkey)]).ok).toBe(true);
  });
});

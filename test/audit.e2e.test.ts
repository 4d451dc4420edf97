/**
 * The audit log end to end: decisions over HTTP become leaves, proofs served by
 * the API verify with nothing but the public key, an export verifies offline,
 * a byte changed in the database is reported with its index, and a leaf that
 * cannot be written turns the decision into a deny.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeAuditCrypto } from '../src/audit/node-crypto.js';
import { decodeBase64, decodeHex } from '../src/audit/pure/bytes.js';
import { openCheckpoint } from '../src/audit/pure/checkpoint.js';
import { hashLeaf, verifyConsistency, verifyInclusion } from '../src/audit/pure/merkle.js';
import { parseNoteVerifier } from '../src/audit/pure/note-verifier.js';
import { parseTlogProof, verifyTlogProof } from '../src/audit/pure/tlog-proof.js';
import { runCli } from '../src/cli/main.js';
import { writeExamplePolicy } from './helpers/agents.js';
import { createGovernor, type Governor } from '../src/main.js';
import { testDatabaseUrl } from '../src/store/test-fixtures.js';

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));

async function workspace(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'governor-audit-'));
  await writeExamplePolicy(dir, { uncarded: true, unlimited: true });
  return dir;
}

async function cli(cwd: string, ...args: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n'), cwd, env: {} });
  return { code, out, err };
}

const actions = ['allow', 'modify', 'pending', 'deny'];

describe('audit log over HTTP (SQLite)', () => {
  let dir: string;
  let governor: Governor;
  let token: string;
  const bodies: Record<string, unknown>[] = [];

  beforeAll(async () => {
    dir = await workspace();
    governor = await createGovernor({ policyPath: join(dir, 'governor.yaml'), auditOrigin: 'governor.test/audit', checkpoint: { intervalMs: 60_000 } });
    token = governor.issuers.agent.issue({ agent: 'deploy-bot', role: 'deployer', task: 'T-1', ttlSeconds: 600 }).token;
    for (const name of actions) {
      const action = JSON.parse(await readFile(join(EXAMPLES, 'actions', `${name}.json`), 'utf8')) as { action: unknown };
      const res = await governor.app.inject({ method: 'POST', url: '/v1/decisions', headers: { authorization: `Bearer ${token}` }, payload: action });
      expect(res.statusCode).toBe(200);
      bodies.push(res.json());
    }
  });
  afterAll(async () => {
    await governor?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const get = async (url: string) => governor.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  const verifier = () => {
    const parsed = parseNoteVerifier(nodeAuditCrypto, governor.auditKeys[0] as string);
    if (!parsed.ok) throw new Error('bad vkey');
    return parsed.value;
  };

  it('gives every decision a leaf index and hash, in order', () => {
    expect(bodies.map((b) => (b.audit as { index: number }).index)).toEqual([0, 1, 2, 3]);
  });

  it('serves leaves whose hash is the decision leaf hash, and inclusion proofs that verify against the signed checkpoint', async () => {
    const note = (await governor.app.inject({ method: 'POST', url: '/v1/audit/checkpoint', headers: { authorization: `Bearer ${governor.issuers.operator.issue({ operator: 'alice', groups: ['sre'], ttlSeconds: 600 }).token}` } })).body;
    const opened = openCheckpoint(note, [verifier()], 'governor.test/audit');
    expect(opened.ok).toBe(true);
    if (!opened.ok) return;
    const { size, root } = opened.value.checkpoint;
    expect(size).toBe(4);
    const entries = (await get('/v1/audit/entries?start=0&end=10')).json() as { entries: { index: number; leaf: string }[] };
    expect(entries.entries).toHaveLength(4);
    for (const [i, entry] of entries.entries.entries()) {
      const leaf = decodeBase64(entry.leaf) as Uint8Array;
      const leafHash = hashLeaf(nodeAuditCrypto, leaf);
      expect(Buffer.from(leafHash).toString('hex')).toBe((bodies[i]?.audit as { leafHash: string }).leafHash);
      const record = JSON.parse(new TextDecoder().decode(leaf)) as { id: string; verdict: string; policyDigest: string };
      expect(record).toMatchObject({ id: bodies[i]?.id, verdict: bodies[i]?.verdict, policyDigest: (bodies[i]?.policy as { digest: string }).digest });
      const proof = (await get(`/v1/audit/proofs/inclusion?index=${i}&size=${size}`)).json() as { hashes: string[] };
      expect(verifyInclusion(nodeAuditCrypto, leafHash, i, size, proof.hashes.map((h) => decodeBase64(h) as Uint8Array), root)).toEqual({ ok: true });
    }
    const tlog = parseTlogProof((await get('/v1/audit/proof?index=2')).body);
    expect(tlog.ok).toBe(true);
    if (tlog.ok) {
      const leafHash = decodeHex((bodies[2]?.audit as { leafHash: string }).leafHash) as Uint8Array;
      expect(verifyTlogProof(nodeAuditCrypto, tlog.value, leafHash, [verifier()], 'governor.test/audit').ok).toBe(true);
    }
  });

  it('records outcomes as leaves and keeps later checkpoints consistent with earlier ones', async () => {
    const first = openCheckpoint((await get('/v1/audit/checkpoint')).body, [verifier()], 'governor.test/audit');
    const id = bodies[0]?.id as string;
    const res = await governor.app.inject({ method: 'POST', url: `/v1/decisions/${id}/outcome`, headers: { authorization: `Bearer ${token}` }, payload: { status: 'succeeded' } });
    expect(res.statusCode).toBe(200);
    expect((res.json() as { outcome: { audit: { index: number } } }).outcome.audit.index).toBe(4);
    const waited = await governor.app.inject({ method: 'POST', url: '/v1/decisions?checkpoint=wait', headers: { authorization: `Bearer ${token}` }, payload: { action: { tool: 'read_logs', environment: 'prod', params: { service: 'search' } } } });
    const audit = (waited.json() as { audit: { index: number; checkpoint: string } }).audit;
    const second = openCheckpoint(audit.checkpoint, [verifier()], 'governor.test/audit');
    expect(first.ok && second.ok).toBe(true);
    if (!first.ok || !second.ok) return;
    expect(second.value.checkpoint.size).toBeGreaterThan(audit.index);
    const a = first.value.checkpoint;
    const b = second.value.checkpoint;
    const proof = (await get(`/v1/audit/proofs/consistency?from=${a.size}&to=${b.size}`)).json() as { hashes: string[] };
    expect(verifyConsistency(nodeAuditCrypto, a.size, b.size, proof.hashes.map((h) => decodeBase64(h) as Uint8Array), a.root, b.root)).toEqual({ ok: true });
  });

  it('rejects proof requests beyond the log and malformed ones', async () => {
    expect((await get('/v1/audit/proofs/inclusion?index=0&size=999999')).statusCode).toBe(400);
    expect((await get('/v1/audit/proofs/inclusion?index=-1&size=2')).statusCode).toBe(400);
    expect((await get('/v1/audit/entries?start=5&end=1')).statusCode).toBe(400);
    expect((await governor.app.inject({ method: 'GET', url: '/v1/audit/checkpoint' })).statusCode).toBe(401);
  });

  it('exports a log that verifies offline, and names the index of a byte changed in the database', async () => {
    await governor.audit.checkpoint();
    const vkey = governor.auditKeys[0] as string;
    const exported = await cli(dir, 'audit', 'export', join(dir, 'export'), '--config', 'governor.yaml');
    expect(exported.code, exported.err).toBe(0);
    const ok = await cli(dir, 'audit', 'verify', join(dir, 'export'), '--key', vkey);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/^OK: 6 leaves/);

    // An attacker with write access to the database file bypasses the triggers and edits leaf 2.
    const db = new Database(join(dir, '.governor', 'governor.db'));
    expect(() => db.prepare('DELETE FROM audit_leaves WHERE idx = 2').run()).toThrow(/append-only/);
    for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_leaves'").all() as { name: string }[]) db.exec(`DROP TRIGGER ${name}`);
    const row = db.prepare('SELECT leaf FROM audit_leaves WHERE idx = 2').get() as { leaf: Buffer };
    const forged = Buffer.from(row.leaf);
    forged[forged.indexOf('"verdict":"pending"') + 11] = 'a'.charCodeAt(0); // "pending" -> "aending"
    db.prepare('UPDATE audit_leaves SET leaf = ? WHERE idx = 2').run(forged);
    db.close();

    const tampered = await cli(dir, 'audit', 'export', join(dir, 'export2'), '--config', 'governor.yaml');
    expect(tampered.code).toBe(0);
    const bad = await cli(dir, 'audit', 'verify', join(dir, 'export2'), '--key', vkey);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/FAIL: leaf 2:/);
  });
});

describe.skipIf(!testDatabaseUrl())('audit log fails closed on PostgreSQL', () => {
  const url = testDatabaseUrl() as string;
  const suffix = Math.random().toString(16).slice(2, 10);
  const role = `gov_role_${suffix}`;
  const schema = `gov_audit_${suffix}`;
  let admin: pg.Client;
  let dir: string;
  let governor: Governor;

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await admin.query(`CREATE SCHEMA ${schema} AUTHORIZATION ${role}`);
    dir = await workspace();
    const roleUrl = new URL(url);
    roleUrl.username = role;
    roleUrl.searchParams.set('options', `-c search_path=${schema}`);
    governor = await createGovernor({ policyPath: join(dir, 'governor.yaml'), databaseUrl: roleUrl.toString(), auditOrigin: 'governor.test/pg' });
  });
  afterAll(async () => {
    await governor?.close().catch(() => undefined);
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    await admin.end();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('denies with AUDIT_UNAVAILABLE when PostgreSQL stops accepting the connection, and stores nothing', async () => {
    const token = governor.issuers.agent.issue({ agent: 'deploy-bot', role: 'deployer', task: 'T-1', ttlSeconds: 600 }).token;
    const request = () => governor.app.inject({ method: 'POST', url: '/v1/decisions', headers: { authorization: `Bearer ${token}` }, payload: { action: { tool: 'read_logs', environment: 'prod', params: { service: 'search' } } } });
    expect((await request()).statusCode).toBe(200);
    const before = await governor.store.audit.treeHead();

    // The database goes away for this Governor: its sessions are killed and it may not log in again.
    await admin.query(`ALTER ROLE ${role} NOLOGIN`);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
    const res = await request();
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ verdict: 'deny', error: { code: 'AUDIT_UNAVAILABLE' } });

    await admin.query(`ALTER ROLE ${role} LOGIN`);
    const after = await governor.store.audit.treeHead();
    expect(after.size).toBe(before.size);
    expect((await request()).statusCode).toBe(200);
  });
});

describe('log key rotation', () => {
  it('introduces a new key without breaking verification of the history', async () => {
    const dir = await workspace();
    const policyPath = join(dir, 'governor.yaml');
    const decide = async (g: Governor) => {
      const token = g.issuers.agent.issue({ agent: 'deploy-bot', role: 'deployer', task: 'T-1', ttlSeconds: 600 }).token;
      const res = await g.app.inject({ method: 'POST', url: '/v1/decisions', headers: { authorization: `Bearer ${token}` }, payload: { action: { tool: 'read_logs', environment: 'prod', params: { service: 'search' } } } });
      expect(res.statusCode).toBe(200);
    };
    try {
      let g = await createGovernor({ policyPath, auditOrigin: 'governor.test/rotate' });
      await decide(g);
      await g.audit.checkpoint();
      const oldKey = g.auditKeys[0] as string;
      await g.close();

      const rotated = await cli(dir, 'audit', 'key', '--rotate', '--config', 'governor.yaml');
      expect(rotated.code, rotated.err).toBe(0);
      const newKey = rotated.out.trim().split('\n').find((k) => k !== oldKey) as string;
      expect(newKey).toMatch(/^governor\.test\/rotate\+/);

      // During the rotation both keys sign.
      g = await createGovernor({ policyPath });
      expect([...g.auditKeys].sort()).toEqual([oldKey, newKey].sort());
      await decide(g);
      await g.audit.checkpoint();
      await g.close();

      // The old key is retired: only its verifier key is kept.
      await rm(join(dir, '.governor', 'keys', 'log.key'));
      g = await createGovernor({ policyPath });
      expect(g.auditKeys).toEqual([newKey]);
      await decide(g);
      await g.audit.checkpoint();
      await g.close();

      expect((await cli(dir, 'audit', 'export', join(dir, 'export'), '--config', 'governor.yaml')).code).toBe(0);
      const both = await cli(dir, 'audit', 'verify', join(dir, 'export'), '--key', oldKey, '--key', newKey);
      expect(both.code, both.err).toBe(0);
      expect(both.out).toMatch(/OK: 3 leaves, 3 checkpoints/);
      const onlyOld = await cli(dir, 'audit', 'verify', join(dir, 'export'), '--key', oldKey);
      expect(onlyOld.code).toBe(1);
      expect(onlyOld.err).toMatch(/checkpoint .*does not verify/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

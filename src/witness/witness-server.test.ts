import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeAuditCrypto as crypto } from '../audit/node-crypto.js';
import { encodeBase64, encodeUtf8 } from '../audit/pure/bytes.js';
import { signCheckpoint } from '../audit/pure/checkpoint.js';
import { MemoryTree } from '../audit/pure/memory-tree.js';
import { createEd25519Signer, createEd25519Verifier, openNote, parseNote } from '../audit/pure/note.js';
import { parseNoteVerifier } from '../audit/pure/note-verifier.js';
import { openFileWitnessState } from './file-witness-state.js';
import { createWitness } from './witness.js';
import { ensureWitnessKey } from './witness-key.js';
import { createWitnessServer } from './witness-server.js';

const ORIGIN = 'example.com/log';
const logSigner = createEd25519Signer(crypto, ORIGIN, new Uint8Array(32).fill(1));
const logVerifier = createEd25519Verifier(crypto, ORIGIN, crypto.ed25519PublicKey(new Uint8Array(32).fill(1)));
const t = new MemoryTree(crypto);
for (let i = 0; i < 16; i++) t.appendLeaf(encodeUtf8(`leaf ${i}`));
const note = (size: number) => signCheckpoint({ origin: ORIGIN, size, root: t.root(size), extensions: [] }, [logSigner]);
const body = (old: number, size: number) => `old ${old}\n${(old === 0 ? [] : t.consistencyProof(old, size)).map((h) => encodeBase64(h) + '\n').join('')}\n${note(size)}`;

describe('witness key', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'governor-witness-key-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is created once (mode 0600), then loaded, never overwritten', async () => {
    const file = join(dir, 'witness.key');
    const created = await ensureWitnessKey(file, { defaultName: 'w.example/one' });
    expect(created.created).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'utf8')).toMatch(/^PRIVATE\+KEY\+w\.example\/one\+[0-9a-f]{8}\+/);
    const loaded = await ensureWitnessKey(file, { defaultName: 'w.example/ignored' });
    expect(loaded.created).toBe(false);
    expect(loaded.vkey).toBe(created.vkey);
    expect(loaded.name).toBe('w.example/one');
    await expect(ensureWitnessKey(file, { name: 'w.example/two' })).rejects.toThrow(/not "w\.example\/two"/);
  });

  it('prints a type 0x04 verifier key that verifies its cosignatures', async () => {
    const key = await ensureWitnessKey(join(dir, 'cosign.key'), { name: 'w.example/cosign', now: () => 1234 });
    const verifier = parseNoteVerifier(crypto, key.vkey);
    if (!verifier.ok) throw new Error('vkey');
    expect(Buffer.from(key.vkey.split('+')[2]!, 'base64')[0]).toBe(0x04);
    const text = parseNote(note(3));
    if (!text.ok) throw new Error('note');
    const signature = key.signer.sign(encodeUtf8(text.value.text));
    expect(verifier.value.keyId).toBe(key.signer.keyId);
    expect(verifier.value.verify(encodeUtf8(text.value.text), signature)).toBe(true);
  });

  it('refuses a key file readable by others, and one that is not a key', async () => {
    const file = join(dir, 'open.key');
    await ensureWitnessKey(file, { name: 'w.example/open' });
    await chmod(file, 0o644);
    await expect(ensureWitnessKey(file)).rejects.toThrow(/readable by group or others/);
    const junk = join(dir, 'junk.key');
    await writeFile(junk, 'hello\n', { mode: 0o600 });
    await expect(ensureWitnessKey(junk)).rejects.toThrow(/not a signer key/);
  });
});

describe('witness HTTP adapter', () => {
  let dir: string;
  let app: ReturnType<typeof createWitnessServer>;
  let vkey: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'governor-witness-http-'));
    const key = await ensureWitnessKey(join(dir, 'w.key'), { name: 'w.example/http' });
    vkey = key.vkey;
    const witness = createWitness({ crypto, signer: key.signer, logs: [logVerifier], state: await openFileWitnessState(join(dir, 'state.json')) });
    app = createWitnessServer({ witness });
  });
  afterAll(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  const post = (payload: string | Buffer, headers: Record<string, string> = { 'content-type': 'text/plain' }) =>
    app.inject({ method: 'POST', url: '/add-checkpoint', payload, headers });

  it('answers 200 with a cosignature line as text/plain, whatever the request Content-Type', async () => {
    const res = await post(body(0, 4), {});
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const verifier = parseNoteVerifier(crypto, vkey);
    if (!verifier.ok) throw new Error('vkey');
    const text = parseNote(note(4));
    if (!text.ok) throw new Error('note');
    expect(openNote(`${text.value.text}\n${res.body}`, [verifier.value]).ok).toBe(true);
    const again = await post(body(4, 9), { 'content-type': 'application/octet-stream' });
    expect(again.statusCode).toBe(200);
  });

  it('answers 409 with text/x.tlog.size and its size when the old size is stale', async () => {
    const res = await post(body(0, 12));
    expect(res.statusCode).toBe(409);
    expect(res.headers['content-type']).toBe('text/x.tlog.size');
    expect(res.body).toBe('9\n');
  });

  it('maps every refusal to its protocol status', async () => {
    const other = createEd25519Signer(crypto, 'other.example/log', new Uint8Array(32).fill(1));
    const unknown = `old 0\n\n${signCheckpoint({ origin: 'other.example/log', size: 1, root: t.root(1), extensions: [] }, [other])}`;
    const impostor = createEd25519Signer(crypto, ORIGIN, new Uint8Array(32).fill(7));
    const forged = `old 9\n${t.consistencyProof(9, 12).map((h) => encodeBase64(h) + '\n').join('')}\n${signCheckpoint({ origin: ORIGIN, size: 12, root: t.root(12), extensions: [] }, [impostor])}`;
    const badProof = `old 9\n${t.consistencyProof(9, 12).map(() => encodeBase64(new Uint8Array(32)) + '\n').join('')}\n${note(12)}`;
    expect((await post('nonsense')).statusCode).toBe(400);
    expect((await post(unknown)).statusCode).toBe(404);
    expect((await post(forged)).statusCode).toBe(403);
    expect((await post(badProof)).statusCode).toBe(422);
    expect((await post(`old 12\n\n${note(9)}`)).statusCode).toBe(400);
  });

  it('refuses bodies over 64 KiB with 413 and unknown routes with 404', async () => {
    const res = await post('old 0\n' + 'A'.repeat(70 * 1024));
    expect(res.statusCode).toBe(413);
    expect((await app.inject({ method: 'GET', url: '/add-checkpoint' })).statusCode).toBe(404);
  });

  it('reports its health, name and logs', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true, witness: 'w.example/http', logs: [ORIGIN] });
  });
});

import { describe, expect, it } from 'vitest';
import type { AuditRepository, StoredCheckpoint } from '../store/store.js';
import { GovernorError } from '../core/errors.js';
import { createAuditLog, type AuditLogOptions } from './audit-log.js';
import { nodeAuditCrypto as crypto } from './node-crypto.js';
import { encodeUtf8 } from './pure/bytes.js';
import { openCheckpoint, parseCheckpoint } from './pure/checkpoint.js';
import { createCosignatureSigner, createCosignatureVerifier } from './pure/cosignature.js';
import { verifyConsistency } from './pure/merkle.js';
import { MemoryTree } from './pure/memory-tree.js';
import { createEd25519Signer, createEd25519Verifier, openNote, parseNote } from './pure/note.js';
import type { CosignRequest, WitnessClient } from './witness-client.js';

const ORIGIN = 'example.com/log';
const seed = (b: number) => new Uint8Array(32).fill(b);
const logSigner = createEd25519Signer(crypto, ORIGIN, seed(1));
const logVerifier = createEd25519Verifier(crypto, ORIGIN, crypto.ed25519PublicKey(seed(1)));

/** An audit repository over a MemoryTree. */
function memoryRepository(): AuditRepository & { tree: MemoryTree; saved: StoredCheckpoint[] } {
  const tree = new MemoryTree(crypto);
  const leaves: Uint8Array[] = [];
  const saved: StoredCheckpoint[] = [];
  return {
    tree,
    saved,
    async append(leaf) {
      leaves.push(leaf.bytes);
      return { index: tree.append(leaf.hash) };
    },
    async treeHead() {
      return { size: tree.size, rootHash: tree.root() };
    },
    async subtrees(ids) {
      return new Map(ids.map((id) => [`${id.level}/${id.index}`, tree.subtree(id.level, id.index)]));
    },
    async leaves(start, end) {
      return leaves.slice(start, end).map((bytes, i) => ({ index: start + i, bytes }));
    },
    async saveCheckpoint(c) {
      if (!saved.some((s) => s.size === c.size)) saved.push({ ...c, createdAt: new Date().toISOString() });
    },
    async latestCheckpoint() {
      return saved.at(-1);
    },
    async checkpoints(after, limit) {
      return saved.filter((c) => c.size > after).slice(0, limit);
    },
  };
}

/** A witness in memory that checks consistency like a real one; `down` makes it fail. */
function fakeWitness(name: string, byte: number) {
  const signer = createCosignatureSigner(crypto, name, seed(byte), () => 1_700_000_000);
  const verifier = createCosignatureVerifier(crypto, name, crypto.ed25519PublicKey(seed(byte)));
  let last: { size: number; root: Uint8Array } | undefined;
  const proofsFrom: number[] = [];
  const client: WitnessClient & { down: boolean } = {
    name,
    url: `http://${name}`,
    down: false,
    async cosign(request: CosignRequest) {
      if (client.down) throw new GovernorError('AUDIT_UNAVAILABLE', `witness ${name}: fetch failed: ECONNREFUSED`);
      const text = parseNote(request.note);
      if (!text.ok) throw new Error('note');
      const checkpoint = parseCheckpoint(text.value.text);
      if (!checkpoint.ok) throw new Error('checkpoint');
      if (last && last.size > 0 && last.size < request.size) {
        proofsFrom.push(last.size);
        const proof = await request.proof(last.size);
        const check = verifyConsistency(crypto, last.size, request.size, proof, last.root, checkpoint.value.root);
        if (!check.ok) throw new GovernorError('AUDIT_UNAVAILABLE', `witness ${name}: HTTP 422`);
      }
      last = { size: request.size, root: checkpoint.value.root };
      return { name, keyId: signer.keyId, signature: signer.sign(encodeUtf8(text.value.text)) };
    },
  };
  return { client, verifier, proofsFrom };
}

function log(repository: AuditRepository, options: Partial<AuditLogOptions> = {}) {
  const errors: unknown[] = [];
  const audit = createAuditLog({ repository, crypto, origin: ORIGIN, signers: [logSigner], onError: (err) => errors.push(err), ...options });
  return { audit, errors };
}

async function append(repository: AuditRepository & { tree: MemoryTree }, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const bytes = encodeUtf8(`leaf ${repository.tree.size}`);
    await repository.append({ bytes, hash: crypto.sha256(new Uint8Array([0, ...bytes])) });
  }
}

describe('audit log with witnesses', () => {
  it('publishes checkpoints carrying the witnesses’ cosignatures, pushing consistency proofs from the log', async () => {
    const repository = memoryRepository();
    const a = fakeWitness('w.example/a', 5);
    const b = fakeWitness('w.example/b', 6);
    const { audit } = log(repository, { witnesses: [a.client, b.client], witnessesRequired: 2 });
    await append(repository, 7);
    const first = await audit.checkpoint();
    await append(repository, 6);
    const second = await audit.checkpoint();
    expect(second.size).toBe(13);
    expect(a.proofsFrom).toEqual([7]);
    for (const v of [a.verifier, b.verifier]) expect(openNote(second.note, [v]).ok).toBe(true);
    expect(openCheckpoint(second.note, [logVerifier], ORIGIN).ok).toBe(true);
    expect(repository.saved.map((c) => c.size)).toEqual([first.size, 13]);
  });

  it('keeps the previous checkpoint when fewer than K witnesses cosign, and publishes once they do', async () => {
    const repository = memoryRepository();
    const a = fakeWitness('w.example/a', 5);
    const b = fakeWitness('w.example/b', 6);
    const { audit } = log(repository, { witnesses: [a.client, b.client], witnessesRequired: 2 });
    await append(repository, 4);
    await audit.checkpoint();
    b.client.down = true;
    await append(repository, 3);
    await expect(audit.checkpoint()).rejects.toMatchObject({
      code: 'AUDIT_UNAVAILABLE',
      message: expect.stringMatching(/checkpoint at size 7 not published: 1 of the 2 required witness cosignatures \(witness w\.example\/b: fetch failed/),
    });
    expect((await audit.latest()).size).toBe(4);
    await expect(audit.covering(5)).rejects.toThrow(/not published/);
    expect(repository.saved.map((c) => c.size)).toEqual([4]);
    b.client.down = false;
    const published = await audit.checkpoint();
    expect(published.size).toBe(7);
    expect(openNote(published.note, [b.verifier]).ok).toBe(true);
    expect((await audit.covering(5)).size).toBe(7);
  });

  it('publishes with K of N and reports the witnesses that did not cosign', async () => {
    const repository = memoryRepository();
    const a = fakeWitness('w.example/a', 5);
    const b = fakeWitness('w.example/b', 6);
    b.client.down = true;
    const { audit, errors } = log(repository, { witnesses: [a.client, b.client], witnessesRequired: 1 });
    await append(repository, 2);
    const published = await audit.checkpoint();
    expect(openNote(published.note, [a.verifier]).ok).toBe(true);
    expect(openNote(published.note, [b.verifier]).ok).toBe(false);
    expect(errors.map((e) => (e as Error).message)).toEqual([expect.stringMatching(/size 2 published without 1 witness cosignature\(s\): witness w\.example\/b/)]);
  });

  it('retries in the background after a failed attempt, without new leaves', async () => {
    const repository = memoryRepository();
    const a = fakeWitness('w.example/a', 5);
    a.client.down = true;
    const { audit, errors } = log(repository, { witnesses: [a.client], witnessesRequired: 1, intervalMs: 20 });
    audit.start();
    try {
      await append(repository, 3);
      audit.appended(3);
      for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(errors.length).toBeGreaterThan(0);
      expect(repository.saved).toEqual([]);
      a.client.down = false;
      for (let i = 0; i < 200 && repository.saved.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(repository.saved.map((c) => c.size)).toEqual([3]);
    } finally {
      await audit.stop();
    }
  });

  it('refuses to require more witnesses than it has', () => {
    const repository = memoryRepository();
    expect(() => log(repository, { witnesses: [fakeWitness('w.example/a', 5).client], witnessesRequired: 2 })).toThrow(/witnessesRequired/);
    expect(() => log(repository, { witnessesRequired: -1 })).toThrow(/witnessesRequired/);
  });
});

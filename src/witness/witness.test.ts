import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nodeAuditCrypto as crypto } from '../audit/node-crypto.js';
import { encodeBase64, encodeUtf8 } from '../audit/pure/bytes.js';
import { signCheckpoint } from '../audit/pure/checkpoint.js';
import { cosignatureTimestamp, createCosignatureSigner, createCosignatureVerifier } from '../audit/pure/cosignature.js';
import { MemoryTree } from '../audit/pure/memory-tree.js';
import { createEd25519Signer, createEd25519Verifier, openNote, parseNote, type NoteSigner } from '../audit/pure/note.js';
import { openFileWitnessState } from './file-witness-state.js';
import { createWitness, parseAddCheckpointRequest, type AddCheckpointResult, type WitnessState } from './witness.js';

const ORIGIN = 'example.com/log';
const seed = (byte: number) => new Uint8Array(32).fill(byte);
const logSigner = createEd25519Signer(crypto, ORIGIN, seed(1));
const logVerifier = createEd25519Verifier(crypto, ORIGIN, crypto.ed25519PublicKey(seed(1)));
const WITNESS = 'witness.example.com/w1';
const NOW = 1_700_000_000;
const witnessSigner = createCosignatureSigner(crypto, WITNESS, seed(9), () => NOW);
const witnessVerifier = createCosignatureVerifier(crypto, WITNESS, crypto.ed25519PublicKey(seed(9)));

/** A tree of `size` leaves; `tag` makes a different (forked) history. */
function tree(size: number, tag = 'honest'): MemoryTree {
  const t = new MemoryTree(crypto);
  for (let i = 0; i < size; i++) t.appendLeaf(encodeUtf8(`${tag} leaf ${i}`));
  return t;
}

function note(t: MemoryTree, size: number, signers: readonly NoteSigner[] = [logSigner], origin = ORIGIN): string {
  return signCheckpoint({ origin, size, root: t.root(size), extensions: [] }, signers);
}

function body(oldSize: number, proof: readonly Uint8Array[], signed: string): string {
  return `old ${oldSize}\n${proof.map((h) => encodeBase64(h) + '\n').join('')}\n${signed}`;
}

/** A request extending from `oldSize` to `size` of tree `t`, with its consistency proof. */
function extend(t: MemoryTree, oldSize: number, size: number): string {
  return body(oldSize, oldSize === 0 ? [] : t.consistencyProof(oldSize, size), note(t, size));
}

class MemoryState implements WitnessState {
  readonly notes = new Map<string, string>();
  async get(origin: string) {
    return this.notes.get(origin);
  }
  async set(origin: string, value: string) {
    this.notes.set(origin, value);
  }
}

const sizeIn = (state: MemoryState) => {
  const stored = state.notes.get(ORIGIN);
  return stored === undefined ? undefined : Number(stored.split('\n')[1]);
};

function refusal(result: AddCheckpointResult) {
  return result.ok ? 'cosigned' : result.refusal;
}

describe('witness', () => {
  let state: MemoryState;
  let witness: ReturnType<typeof createWitness>;
  const honest = tree(20);
  const forked = tree(20, 'forked');

  beforeEach(() => {
    state = new MemoryState();
    witness = createWitness({ crypto, signer: witnessSigner, logs: [logVerifier], state });
  });

  it('cosigns a first checkpoint with tlog-cosignature/v1 and records it', async () => {
    const signed = note(honest, 5);
    const result = await witness.addCheckpoint(body(0, [], signed));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.cosignatures).toMatch(/^— witness\.example\.com\/w1 [A-Za-z0-9+/=]+\n$/);
    const text = parseNote(signed);
    if (!text.ok) throw new Error('note');
    const cosigned = openNote(text.value.text + '\n' + result.cosignatures, [witnessVerifier]);
    expect(cosigned.ok).toBe(true);
    expect(cosigned.ok && cosignatureTimestamp(cosigned.value.verified[0]!)).toBe(NOW);
    expect(sizeIn(state)).toBe(5);
    // The recorded note carries the log's signature and the cosignature.
    expect(openNote(state.notes.get(ORIGIN)!, [logVerifier]).ok).toBe(true);
    expect(openNote(state.notes.get(ORIGIN)!, [witnessVerifier]).ok).toBe(true);
  });

  it('cosigns an extension proven consistent with the last cosigned checkpoint', async () => {
    expect((await witness.addCheckpoint(extend(honest, 0, 5))).ok).toBe(true);
    expect((await witness.addCheckpoint(extend(honest, 5, 13))).ok).toBe(true);
    expect(sizeIn(state)).toBe(13);
    // The same checkpoint again is cosigned again (empty proof, same root).
    expect((await witness.addCheckpoint(body(13, [], note(honest, 13)))).ok).toBe(true);
    expect((await witness.addCheckpoint(extend(honest, 13, 20))).ok).toBe(true);
    expect(sizeIn(state)).toBe(20);
  });

  it('answers 409-style conflict with its size when the old size is not the one it cosigned', async () => {
    await witness.addCheckpoint(extend(honest, 0, 8));
    const result = await witness.addCheckpoint(extend(honest, 0, 12));
    expect(result).toMatchObject({ ok: false, refusal: 'conflict', size: 8 });
    const wrongOld = await witness.addCheckpoint(extend(honest, 5, 12));
    expect(wrongOld).toMatchObject({ ok: false, refusal: 'conflict', size: 8 });
    expect(sizeIn(state)).toBe(8);
  });

  it('refuses a rollback', async () => {
    await witness.addCheckpoint(extend(honest, 0, 12));
    // Claiming the truth (old 12) about a smaller tree is malformed; lying about old is a conflict.
    expect(refusal(await witness.addCheckpoint(body(12, [], note(honest, 8))))).toBe('malformed');
    expect(await witness.addCheckpoint(extend(honest, 4, 8))).toMatchObject({ refusal: 'conflict', size: 12 });
    expect(await witness.addCheckpoint(body(0, [], note(honest, 8)))).toMatchObject({ refusal: 'conflict', size: 12 });
    expect(sizeIn(state)).toBe(12);
  });

  it('refuses a fork at the same size and a fork that grew', async () => {
    await witness.addCheckpoint(extend(honest, 0, 10));
    expect(await witness.addCheckpoint(body(10, [], note(forked, 10)))).toMatchObject({ refusal: 'conflict', size: 10 });
    // The forked tree's own proof does not connect it to the root cosigned at 10.
    expect(refusal(await witness.addCheckpoint(body(10, forked.consistencyProof(10, 15), note(forked, 15))))).toBe('inconsistent');
    expect(sizeIn(state)).toBe(10);
  });

  it('refuses a bad consistency proof', async () => {
    await witness.addCheckpoint(extend(honest, 0, 6));
    const proof = honest.consistencyProof(6, 14);
    const bad = proof.map((h) => h.slice());
    bad[0]![0]! ^= 1;
    expect(refusal(await witness.addCheckpoint(body(6, bad, note(honest, 14))))).toBe('inconsistent');
    expect(refusal(await witness.addCheckpoint(body(6, proof.slice(1), note(honest, 14))))).toBe('inconsistent');
    expect(refusal(await witness.addCheckpoint(body(6, [], note(honest, 14))))).toBe('inconsistent');
    expect(refusal(await witness.addCheckpoint(body(6, proof, note(honest, 14))))).toBe('cosigned');
  });

  it('refuses a checkpoint no trusted key signed, and one of an unknown log', async () => {
    const impostor = createEd25519Signer(crypto, ORIGIN, seed(2));
    expect(refusal(await witness.addCheckpoint(body(0, [], note(honest, 5, [impostor]))))).toBe('unverified');
    const stranger = createEd25519Signer(crypto, 'other.example/log', seed(1));
    expect(refusal(await witness.addCheckpoint(body(0, [], note(honest, 5, [stranger], 'other.example/log'))))).toBe('unknown-log');
    // A signature line that names the trusted key but does not verify.
    const signed = note(honest, 5);
    const at = signed.lastIndexOf(' ') + 20; // inside the signature, past the key ID
    const tampered = signed.slice(0, at) + (signed[at] === 'A' ? 'B' : 'A') + signed.slice(at + 1);
    expect(refusal(await witness.addCheckpoint(body(0, [], tampered)))).toBe('unverified');
    expect(state.notes.size).toBe(0);
  });

  it('ignores signatures from unknown keys and accepts any key of a rotated log', async () => {
    const rotated = createEd25519Signer(crypto, ORIGIN, seed(3));
    const both = createWitness({
      crypto,
      signer: witnessSigner,
      logs: [logVerifier, createEd25519Verifier(crypto, ORIGIN, crypto.ed25519PublicKey(seed(3)))],
      state,
    });
    const otherWitness = createCosignatureSigner(crypto, 'witness.example.com/w2', seed(8), () => NOW);
    expect((await both.addCheckpoint(body(0, [], note(honest, 5, [rotated, otherWitness])))).ok).toBe(true);
    expect(both.origins).toEqual([ORIGIN]);
  });

  it('refuses malformed requests', async () => {
    const signed = note(honest, 5);
    const cases = [
      signed,
      `old 05\n\n${signed}`,
      `old -1\n\n${signed}`,
      `old 0\nnot base64!\n\n${signed}`,
      `old 0\n${encodeBase64(new Uint8Array(31))}\n\n${signed}`,
      `old 0\n${encodeBase64(new Uint8Array(32))}\n\n${signed}`,
      `old 6\n\n${signed}`,
      `old 0\n${signed}`,
      `old 0\n\nexample.com/log\n5\nnot a root\n\n— example.com/log AAAAAAA=\n`,
      new Uint8Array([0x6f, 0x6c, 0x64, 0x20, 0x30, 0x0a, 0x0a, 0xff]),
    ];
    for (const c of cases) expect(refusal(await witness.addCheckpoint(c)), String(c).slice(0, 20)).toBe('malformed');
    const tooLong = body(4, Array.from({ length: 64 }, () => new Uint8Array(32)), signed);
    expect(parseAddCheckpointRequest(tooLong)).toMatchObject({ ok: false });
    expect(state.notes.size).toBe(0);
  });

  it('refuses a size-0 checkpoint whose root is not the empty root', async () => {
    const bogus = signCheckpoint({ origin: ORIGIN, size: 0, root: new Uint8Array(32), extensions: [] }, [logSigner]);
    expect(refusal(await witness.addCheckpoint(body(0, [], bogus)))).toBe('inconsistent');
    expect(refusal(await witness.addCheckpoint(body(0, [], note(honest, 0))))).toBe('cosigned');
    expect(refusal(await witness.addCheckpoint(extend(honest, 0, 3)))).toBe('cosigned');
  });

  it('persists the new checkpoint before it answers, and cosigns nothing when it cannot', async () => {
    let release!: () => void;
    let failNext = false;
    const slow: WitnessState = {
      get: (origin) => state.get(origin),
      set: async (origin, value) => {
        await new Promise<void>((r) => (release = r));
        if (failNext) throw new Error('disk full');
        await state.set(origin, value);
      },
    };
    const w = createWitness({ crypto, signer: witnessSigner, logs: [logVerifier], state: slow });
    let answered = false;
    const pending = w.addCheckpoint(extend(honest, 0, 5)).then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(answered).toBe(false);
    release();
    expect((await pending).ok).toBe(true);
    expect(sizeIn(state)).toBe(5);

    failNext = true;
    const failing = w.addCheckpoint(extend(honest, 5, 9));
    await new Promise((r) => setTimeout(r, 20));
    release();
    await expect(failing).rejects.toThrow('disk full');
    expect(sizeIn(state)).toBe(5);
  });

  it('handles requests for one log one at a time, so two pushes from the same old size cannot both win', async () => {
    const slow: WitnessState = {
      get: (origin) => state.get(origin),
      set: async (origin, value) => {
        await new Promise((r) => setTimeout(r, 20));
        await state.set(origin, value);
      },
    };
    const w = createWitness({ crypto, signer: witnessSigner, logs: [logVerifier], state: slow });
    await w.addCheckpoint(extend(honest, 0, 4));
    const results = await Promise.all([w.addCheckpoint(extend(honest, 4, 12)), w.addCheckpoint(extend(honest, 4, 8))]);
    expect(results.map(refusal)).toEqual(['cosigned', 'conflict']);
    expect(sizeIn(state)).toBe(12);
  });
});

describe('witness with its state in a file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'governor-witness-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('survives a restart and still refuses a fork or a rollback', async () => {
    const file = join(dir, 'state.json');
    const honest = tree(30);
    const forked = tree(30, 'forked');
    const first = createWitness({ crypto, signer: witnessSigner, logs: [logVerifier], state: await openFileWitnessState(file) });
    expect((await first.addCheckpoint(extend(honest, 0, 10))).ok).toBe(true);
    expect((await first.addCheckpoint(extend(honest, 10, 16))).ok).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['state.json']);

    // A new process over the same file.
    const restarted = createWitness({ crypto, signer: witnessSigner, logs: [logVerifier], state: await openFileWitnessState(file) });
    expect(await restarted.addCheckpoint(body(0, [], note(forked, 16)))).toMatchObject({ refusal: 'conflict', size: 16 });
    expect(await restarted.addCheckpoint(body(16, [], note(forked, 16)))).toMatchObject({ refusal: 'conflict', size: 16 });
    expect(refusal(await restarted.addCheckpoint(body(16, forked.consistencyProof(16, 24), note(forked, 24))))).toBe('inconsistent');
    expect(refusal(await restarted.addCheckpoint(body(16, [], note(honest, 10))))).toBe('malformed');
    expect(refusal(await restarted.addCheckpoint(extend(honest, 16, 24)))).toBe('cosigned');
    const saved = JSON.parse(await readFile(file, 'utf8')) as { format: string; logs: Record<string, string> };
    expect(saved.format).toBe('governor-witness-state/v1');
    expect(saved.logs[ORIGIN]?.split('\n')[1]).toBe('24');
  });

  it('refuses to start from a state file it cannot read rather than start empty', async () => {
    const file = join(dir, 'state.json');
    await writeFile(file, '{"format":"governor-witness-state/v1","logs":');
    await expect(openFileWitnessState(file)).rejects.toThrow(/not JSON/);
    await writeFile(file, '{"format":"something-else","logs":{}}');
    await expect(openFileWitnessState(file)).rejects.toThrow(/not a governor-witness-state\/v1 file/);
  });

  it('keeps every log when updates for several logs interleave', async () => {
    const file = join(dir, 'state.json');
    const other = 'other.example/log';
    const otherSigner = createEd25519Signer(crypto, other, seed(4));
    const w = createWitness({
      crypto,
      signer: witnessSigner,
      logs: [logVerifier, createEd25519Verifier(crypto, other, crypto.ed25519PublicKey(seed(4)))],
      state: await openFileWitnessState(file),
    });
    const t = tree(5);
    const results = await Promise.all([w.addCheckpoint(extend(t, 0, 5)), w.addCheckpoint(body(0, [], note(t, 3, [otherSigner], other)))]);
    expect(results.every((r) => r.ok)).toBe(true);
    const reopened = await openFileWitnessState(file);
    expect(await reopened.get(ORIGIN)).toContain('\n5\n');
    expect(await reopened.get(other)).toContain('\n3\n');
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createWitness, createWitnessServer, type WitnessState } from '../witness/index.js';
import { nodeAuditCrypto as crypto } from './node-crypto.js';
import { encodeUtf8 } from './pure/bytes.js';
import { signCheckpoint } from './pure/checkpoint.js';
import { createCosignatureSigner, createCosignatureVerifier } from './pure/cosignature.js';
import { MemoryTree } from './pure/memory-tree.js';
import { COSIGNATURE_KEY_TYPE, createEd25519Signer, createEd25519Verifier, formatNote, formatVerifierKey, openNote, parseNote } from './pure/note.js';
import { createWitnessClient, missingCosignatures, parseCosignatureVerifierKey, parseWitnessSpec } from './witness-client.js';

const ORIGIN = 'example.com/log';
const seed = (b: number) => new Uint8Array(32).fill(b);
const logSigner = createEd25519Signer(crypto, ORIGIN, seed(1));
const logVerifier = createEd25519Verifier(crypto, ORIGIN, crypto.ed25519PublicKey(seed(1)));
const WITNESS = 'w.example/one';
const witnessVkey = formatVerifierKey(crypto, WITNESS, crypto.ed25519PublicKey(seed(5)), COSIGNATURE_KEY_TYPE);

const tree = new MemoryTree(crypto);
for (let i = 0; i < 40; i++) tree.appendLeaf(encodeUtf8(`leaf ${i}`));
const note = (size: number) => signCheckpoint({ origin: ORIGIN, size, root: tree.root(size), extensions: [] }, [logSigner]);
const request = (size: number, asked: number[] = []) => ({
  note: note(size),
  size,
  proof: async (from: number) => {
    asked.push(from);
    return tree.consistencyProof(from, size);
  },
});

class MemoryState implements WitnessState {
  readonly notes = new Map<string, string>();
  async get(origin: string) {
    return this.notes.get(origin);
  }
  async set(origin: string, value: string) {
    this.notes.set(origin, value);
  }
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('witness client, against a witness over a socket', () => {
  const state = new MemoryState();
  const witness = createWitness({ crypto, signer: createCosignatureSigner(crypto, WITNESS, seed(5), () => 1_700_000_000), logs: [logVerifier], state });
  const app = createWitnessServer({ witness });
  let url: string;
  beforeAll(async () => {
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await app.close();
  });

  it('gets a verified cosignature, then pushes the next checkpoint with a consistency proof', async () => {
    const client = createWitnessClient({ crypto, url, vkey: witnessVkey });
    const asked: number[] = [];
    const first = await client.cosign(request(10, asked));
    expect(first.name).toBe(WITNESS);
    const text = parseNote(note(10));
    if (!text.ok) throw new Error('note');
    const cosigned = formatNote(text.value.text, [...text.value.signatures, first]);
    expect(openNote(cosigned, [createCosignatureVerifier(crypto, WITNESS, crypto.ed25519PublicKey(seed(5)))]).ok).toBe(true);
    expect(missingCosignatures(cosigned, [parseCosignatureVerifierKey(crypto, witnessVkey)])).toEqual([]);
    expect(asked).toEqual([]);
    await client.cosign(request(17, asked));
    expect(asked).toEqual([10]);
  });

  it('learns the size the witness cosigned from a 409 and retries once with a proof from there', async () => {
    // A fresh client (a restarted log) starts from old size 0.
    const client = createWitnessClient({ crypto, url, vkey: witnessVkey });
    const asked: number[] = [];
    await client.cosign(request(25, asked));
    expect(asked).toEqual([17]);
    expect(state.notes.get(ORIGIN)).toContain('\n25\n');
  });

  it('reports a witness that cosigned more of the log than the log holds as a rollback', async () => {
    const client = createWitnessClient({ crypto, url, vkey: witnessVkey });
    await expect(client.cosign(request(20))).rejects.toMatchObject({ code: 'AUDIT_INVALID', message: expect.stringMatching(/cosigned this log at size 25, but the log has only 20 leaves/) });
  });

  it('reports a witness that cosigned another tree of the same size as a fork', async () => {
    const other = new MemoryTree(crypto);
    for (let i = 0; i < 25; i++) other.appendLeaf(encodeUtf8(`rewritten ${i}`));
    const client = createWitnessClient({ crypto, url, vkey: witnessVkey });
    const forked = { note: signCheckpoint({ origin: ORIGIN, size: 25, root: other.root(25), extensions: [] }, [logSigner]), size: 25, proof: async () => [] };
    await expect(client.cosign(forked)).rejects.toMatchObject({ code: 'AUDIT_INVALID', message: expect.stringMatching(/different tree at size 25/) });
  });

  it('refuses an answer that does not verify with the witness key it was given', async () => {
    const wrong = formatVerifierKey(crypto, WITNESS, crypto.ed25519PublicKey(seed(6)), COSIGNATURE_KEY_TYPE);
    const client = createWitnessClient({ crypto, url, vkey: wrong });
    await expect(client.cosign(request(30))).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE', message: expect.stringMatching(/without a valid cosignature/) });
    expect(missingCosignatures(note(30), [parseCosignatureVerifierKey(crypto, wrong)])).toHaveLength(1);
  });

  it('reports a refusal with the witness status and reason', async () => {
    const impostor = createEd25519Signer(crypto, ORIGIN, seed(2));
    const client = createWitnessClient({ crypto, url, vkey: witnessVkey });
    const forged = { ...request(32), note: signCheckpoint({ origin: ORIGIN, size: 32, root: tree.root(32), extensions: [] }, [impostor]) };
    await expect(client.cosign(forged)).rejects.toThrow(/HTTP 403: checkpoint is not signed by a trusted key/);
  });
});

describe('witness client, against a witness that misbehaves', () => {
  let server: Server | undefined;
  afterEach(async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  });

  it('gives up after its timeout when the witness never answers', async () => {
    server = createServer(() => undefined);
    const url = await listen(server);
    const client = createWitnessClient({ crypto, url, vkey: witnessVkey, timeoutMs: 200 });
    const started = Date.now();
    await expect(client.cosign(request(3))).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE', message: expect.stringMatching(/no answer within 200 ms/) });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('reports an unreachable witness', async () => {
    server = createServer(() => undefined);
    const url = await listen(server);
    const closing = server;
    server = undefined;
    await new Promise((r) => closing.close(r));
    const client = createWitnessClient({ crypto, url, vkey: witnessVkey });
    await expect(client.cosign(request(3))).rejects.toThrow(/fetch failed: ECONNREFUSED/);
  });

  it('refuses an answer whose blank line would move the signed text', async () => {
    const line = (() => {
      const signer = createCosignatureSigner(crypto, WITNESS, seed(5), () => 1);
      const text = parseNote(note(3));
      if (!text.ok) throw new Error('note');
      const sig = signer.sign(encodeUtf8(text.value.text));
      return formatNote(text.value.text, [{ name: WITNESS, keyId: signer.keyId, signature: sig }]).split('\n\n')[1]!;
    })();
    server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`${line}\n${line}`));
    const url = await listen(server);
    const client = createWitnessClient({ crypto, url, vkey: witnessVkey });
    await expect(client.cosign(request(3))).rejects.toThrow(/valid cosignature|malformed signature block/);
  });
});

describe('witness specs and keys', () => {
  it('splits VKEY@URL at the first @ after the key', () => {
    expect(parseWitnessSpec(`${witnessVkey}@http://user@host:7380/w`)).toEqual({ vkey: witnessVkey, url: 'http://user@host:7380/w' });
    expect(() => parseWitnessSpec(witnessVkey)).toThrow(/VKEY@URL/);
    expect(() => parseWitnessSpec(`${witnessVkey}@ftp://host`)).toThrow(/http\(s\) URL/);
  });

  it('accepts only cosignature (0x04) keys as witness keys', () => {
    expect(parseCosignatureVerifierKey(crypto, witnessVkey).name).toBe(WITNESS);
    const logKey = formatVerifierKey(crypto, ORIGIN, crypto.ed25519PublicKey(seed(1)));
    expect(() => parseCosignatureVerifierKey(crypto, logKey)).toThrow(/type 0x04/);
    expect(() => createWitnessClient({ crypto, url: 'http://x', vkey: 'junk' })).toThrow(/not a verifier key/);
  });
});

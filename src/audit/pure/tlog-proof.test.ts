import { describe, expect, it } from 'vitest';
import { nodeAuditCrypto as crypto } from '../node-crypto.js';
import { encodeBase64, encodeUtf8 } from './bytes.js';
import { signCheckpoint } from './checkpoint.js';
import { MemoryTree } from './memory-tree.js';
import { hashLeaf } from './merkle.js';
import { createEd25519Signer, createEd25519Verifier } from './note.js';
import { TLOG_PROOF_HEADER, formatTlogProof, parseTlogProof, verifyTlogProof } from './tlog-proof.js';

const ORIGIN = 'governor.example/audit';
const seed = new Uint8Array(32).fill(6);
const signer = createEd25519Signer(crypto, ORIGIN, seed);
const verifier = createEd25519Verifier(crypto, ORIGIN, crypto.ed25519PublicKey(seed));
const leaves = Array.from({ length: 13 }, (_, i) => encodeUtf8(`{"leaf":${i}}`));
const tree = new MemoryTree(crypto);
for (const leaf of leaves) tree.appendLeaf(leaf);
const checkpoint = signCheckpoint({ origin: ORIGIN, size: tree.size, root: tree.root(), extensions: [] }, [signer]);
const proofFor = (index: number, extra?: Uint8Array): string =>
  formatTlogProof(extra === undefined ? { index, hashes: tree.inclusionProof(index), checkpoint } : { index, hashes: tree.inclusionProof(index), checkpoint, extra });

describe('tlog-proof@v1', () => {
  it('writes the C2SP layout', () => {
    const text = proofFor(5, Uint8Array.of(1, 2, 3));
    const hashes = tree.inclusionProof(5).map((h) => encodeBase64(h) + '\n').join('');
    expect(text).toBe(`${TLOG_PROOF_HEADER}\nextra AQID\nindex 5\n${hashes}\n${checkpoint}`);
  });

  it('verifies for every leaf, from text and from bytes', () => {
    for (let i = 0; i < leaves.length; i++) {
      const result = verifyTlogProof(crypto, proofFor(i), hashLeaf(crypto, leaves[i]!), [verifier], ORIGIN);
      expect(result.ok, `leaf ${i}`).toBe(true);
      expect(result.ok && result.value.checkpoint.size).toBe(13);
      expect(verifyTlogProof(crypto, encodeUtf8(proofFor(i)), hashLeaf(crypto, leaves[i]!), [verifier], ORIGIN).ok).toBe(true);
    }
  });

  it('carries unauthenticated extra data', () => {
    const result = verifyTlogProof(crypto, proofFor(2, Uint8Array.of(9)), hashLeaf(crypto, leaves[2]!), [verifier], ORIGIN);
    expect(result.ok && result.value.extra).toEqual(Uint8Array.of(9));
    expect(parseTlogProof(proofFor(2)).ok && 'extra' in (parseTlogProof(proofFor(2)) as { value: object }).value).toBe(false);
  });

  it('fails for another leaf, index, hash, key or origin', () => {
    const text = proofFor(4);
    const leafHash = hashLeaf(crypto, leaves[4]!);
    expect(verifyTlogProof(crypto, text, hashLeaf(crypto, leaves[5]!), [verifier], ORIGIN).ok).toBe(false);
    expect(verifyTlogProof(crypto, text.replace('index 4\n', 'index 5\n'), leafHash, [verifier], ORIGIN).ok).toBe(false);
    const firstHash = encodeBase64(tree.inclusionProof(4)[0]!);
    const flipped = (firstHash[0] === 'A' ? 'B' : 'A') + firstHash.slice(1);
    expect(verifyTlogProof(crypto, text.replace(firstHash, flipped), leafHash, [verifier], ORIGIN).ok).toBe(false);
    const dropped = text.replace(firstHash + '\n', '');
    expect(verifyTlogProof(crypto, dropped, leafHash, [verifier], ORIGIN).ok).toBe(false);
    const stranger = createEd25519Verifier(crypto, ORIGIN, crypto.ed25519PublicKey(new Uint8Array(32)));
    expect(verifyTlogProof(crypto, text, leafHash, [stranger], ORIGIN).ok).toBe(false);
    expect(verifyTlogProof(crypto, text, leafHash, [verifier], 'other.example/log').ok).toBe(false);
  });

  it.each([
    ['wrong header', (t: string) => t.replace(TLOG_PROOF_HEADER, 'c2sp.org/tlog-proof@v2')],
    ['missing index', (t: string) => t.replace('index 4\n', '')],
    ['leading zero index', (t: string) => t.replace('index 4\n', 'index 04\n')],
    ['index without space', (t: string) => t.replace('index 4\n', 'index4\n')],
    ['empty extra', (t: string) => t.replace('index 4\n', 'extra \nindex 4\n')],
    ['extra after index', (t: string) => t.replace('index 4\n', 'index 4\nextra AQID\n')],
    ['short hash', (t: string) => t.replace('index 4\n', `index 4\n${encodeBase64(new Uint8Array(31))}\n`)],
    ['no blank line', (t: string) => t.replace('\n\n', '\n')],
    ['unsigned checkpoint', (t: string) => t.slice(0, t.lastIndexOf('\n\n') + 1)],
    ['lone surrogate', (t: string) => t.replace('index 4', 'index 4\uD800')],
  ])('rejects a malformed proof: %s', (_, change) => {
    expect(parseTlogProof(change(proofFor(4))).ok).toBe(false);
  });

  it('handles the one-leaf tree, whose proof has no hashes', () => {
    const one = new MemoryTree(crypto);
    one.appendLeaf(leaves[0]!);
    const cp = signCheckpoint({ origin: ORIGIN, size: 1, root: one.root(), extensions: [] }, [signer]);
    const text = formatTlogProof({ index: 0, hashes: [], checkpoint: cp });
    expect(text.startsWith(`${TLOG_PROOF_HEADER}\nindex 0\n\n`)).toBe(true);
    expect(verifyTlogProof(crypto, text, hashLeaf(crypto, leaves[0]!), [verifier], ORIGIN).ok).toBe(true);
  });
});

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeAuditCrypto as crypto } from '../node-crypto.js';
import { decodeHex, encodeHex } from './bytes.js';
import { MemoryTree } from './memory-tree.js';
import {
  consistencyPlan,
  consistencyProof,
  emptyRoot,
  hashLeaf,
  hashNode,
  inclusionPlan,
  inclusionProof,
  rootAt,
  rootFromLeafHashes,
  rootPlan,
  subtreesOf,
  verifyConsistency,
  verifyInclusion,
  type HashReader,
} from './merkle.js';

const VECTORS = new URL('../../../../shared/vectors/', import.meta.url);
function loadVector<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(name, VECTORS), 'utf8')) as T;
}
const hex = (s: string): Uint8Array => {
  const b = decodeHex(s);
  if (b === undefined) throw new Error(`bad hex ${s}`);
  return b;
};

interface Rfc6962 {
  leaves: string[];
  leafHashes: string[];
  roots: { size: number; root: string }[];
  inclusion: { leafIndex: number; treeSize: number; leafHash: string; root: string; proof: string[] }[];
  consistency: { size1: number; size2: number; root1: string; root2: string; proof: string[] }[];
}
interface Probes {
  inclusion: { file: string; leafIndex: number; treeSize: number; leafHash: string; root: string; proof: string[]; desc: string; wantErr: boolean }[];
  consistency: { file: string; size1: number; size2: number; root1: string; root2: string; proof: string[]; desc: string; wantErr: boolean }[];
}

const rfc = loadVector<Rfc6962>('rfc6962.json');
const probes = loadVector<Probes>('merkle-probes.json');

function treeOf(leaves: readonly Uint8Array[]): MemoryTree {
  const tree = new MemoryTree(crypto);
  for (const leaf of leaves) tree.appendLeaf(leaf);
  return tree;
}

describe('RFC 6962 vectors', () => {
  const leaves = rfc.leaves.map(hex);
  const tree = treeOf(leaves);

  it('hashes every leaf', () => {
    expect(leaves.map((l) => encodeHex(hashLeaf(crypto, l)))).toEqual(rfc.leafHashes);
  });

  it.each(rfc.roots)('root at size $size', ({ size, root }) => {
    expect(encodeHex(tree.root(size))).toBe(root);
    expect(encodeHex(rootFromLeafHashes(crypto, rfc.leafHashes.slice(0, size).map(hex)))).toBe(root);
  });

  it('generates and verifies every inclusion proof', () => {
    expect(rfc.inclusion.length).toBe(36);
    for (const v of rfc.inclusion) {
      const proof = tree.inclusionProof(v.leafIndex, v.treeSize);
      expect(proof.map(encodeHex), `${v.leafIndex}@${v.treeSize}`).toEqual(v.proof);
      expect(verifyInclusion(crypto, hex(v.leafHash), v.leafIndex, v.treeSize, v.proof.map(hex), hex(v.root))).toEqual({ ok: true });
    }
  });

  it('generates and verifies every consistency proof', () => {
    expect(rfc.consistency.length).toBe(36);
    for (const v of rfc.consistency) {
      const proof = tree.consistencyProof(v.size1, v.size2);
      expect(proof.map(encodeHex), `${v.size1}->${v.size2}`).toEqual(v.proof);
      expect(verifyConsistency(crypto, v.size1, v.size2, v.proof.map(hex), hex(v.root1), hex(v.root2))).toEqual({ ok: true });
    }
  });
});

describe('transparency-dev/merkle probes', () => {
  it.each(probes.inclusion)('inclusion $file', (p) => {
    const result = verifyInclusion(crypto, hex(p.leafHash), p.leafIndex, p.treeSize, p.proof.map(hex), hex(p.root));
    expect(result.ok, result.ok ? p.desc : `${p.desc}: ${result.reason}`).toBe(!p.wantErr);
  });

  it.each(probes.consistency)('consistency $file', (p) => {
    const result = verifyConsistency(crypto, p.size1, p.size2, p.proof.map(hex), hex(p.root1), hex(p.root2));
    expect(result.ok, result.ok ? p.desc : `${p.desc}: ${result.reason}`).toBe(!p.wantErr);
  });

  it('covers both outcomes', () => {
    const all = [...probes.inclusion, ...probes.consistency];
    expect(all.filter((p) => !p.wantErr).length).toBeGreaterThan(10);
    expect(all.filter((p) => p.wantErr).length).toBeGreaterThan(100);
  });
});

// An independent, recursive transcription of RFC 9162 §2.1 over a plain list
// of leaf hashes, to check generation beyond the 8-leaf vectors.
function mth(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return emptyRoot(crypto);
  if (hashes.length === 1) return hashes[0]!;
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return hashNode(crypto, mth(hashes.slice(0, k)), mth(hashes.slice(k)));
}
function refPath(m: number, hashes: readonly Uint8Array[]): Uint8Array[] {
  if (hashes.length <= 1) return [];
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return m < k ? [...refPath(m, hashes.slice(0, k)), mth(hashes.slice(k))] : [...refPath(m - k, hashes.slice(k)), mth(hashes.slice(0, k))];
}
function refSubproof(m: number, hashes: readonly Uint8Array[], b: boolean): Uint8Array[] {
  if (m === hashes.length) return b ? [] : [mth(hashes)];
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return m <= k
    ? [...refSubproof(m, hashes.slice(0, k), b), mth(hashes.slice(k))]
    : [...refSubproof(m - k, hashes.slice(k), false), mth(hashes.slice(0, k))];
}

function counting(reader: HashReader): { reader: HashReader; reads: () => number } {
  let n = 0;
  return {
    reader: {
      subtree(level, index) {
        n++;
        return reader.subtree(level, index);
      },
    },
    reads: () => n,
  };
}

describe('proof generation', () => {
  const N = 70;
  const leafHashes = Array.from({ length: N }, (_, i) => hashLeaf(crypto, Uint8Array.of(i, i >> 8)));
  const tree = new MemoryTree(crypto);
  for (const h of leafHashes) tree.append(h);

  it('matches the RFC 9162 recursion for every index and size up to 70', () => {
    for (let size = 1; size <= N; size++) {
      const prefix = leafHashes.slice(0, size);
      expect(encodeHex(tree.root(size))).toBe(encodeHex(mth(prefix)));
      for (let index = 0; index < size; index++) {
        expect(tree.inclusionProof(index, size).map(encodeHex)).toEqual(refPath(index, prefix).map(encodeHex));
      }
      for (let m = 1; m <= size; m++) {
        expect(tree.consistencyProof(m, size).map(encodeHex)).toEqual(refSubproof(m, prefix, true).map(encodeHex));
      }
    }
  });

  it('reads O(log n) stored subtrees', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: N }), fc.nat(), fc.nat(), (size, a, b) => {
        const index = a % size;
        const m = 1 + (b % size);
        const log = Math.ceil(Math.log2(size + 1));
        const c1 = counting(tree);
        inclusionProof(crypto, c1.reader, index, size);
        expect(c1.reads()).toBeLessThanOrEqual(2 * log);
        const c2 = counting(tree);
        consistencyProof(crypto, c2.reader, m, size);
        expect(c2.reads()).toBeLessThanOrEqual(2 * log + 1);
        const c3 = counting(tree);
        rootAt(crypto, c3.reader, size);
        expect(c3.reads()).toBeLessThanOrEqual(log);
      }),
    );
  });

  it('plans name only complete subtrees of the tree', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.nat(), (size, a) => {
        const index = a % size;
        const ids = subtreesOf([...inclusionPlan(index, size), ...(size > 1 ? consistencyPlan(1 + (a % (size - 1)), size) : []), rootPlan(size)]);
        for (const { level, index: i } of ids) expect((i + 1) * 2 ** level).toBeLessThanOrEqual(size);
      }),
    );
  });

  it('rejects impossible requests', () => {
    expect(() => inclusionPlan(5, 5)).toThrow(/not below/);
    expect(() => consistencyPlan(0, 5)).toThrow(/empty tree/);
    expect(() => consistencyPlan(6, 5)).toThrow(/greater/);
    expect(() => rootPlan(-1)).toThrow();
    expect(() => rootPlan(2 ** 53)).toThrow();
    expect(consistencyPlan(5, 5)).toEqual([]);
    expect(() => tree.root(N + 1)).toThrow(/beyond/);
    expect(() => tree.subtree(7, 0)).toThrow();
  });
});

describe('proofs from MemoryTree always verify', () => {
  const tree = new MemoryTree(crypto);
  const leafHashes: Uint8Array[] = [];
  for (let i = 0; i < 1100; i++) {
    const h = hashLeaf(crypto, Uint8Array.of(1, i & 0xff, i >> 8));
    leafHashes.push(h);
    tree.append(h);
  }

  it('inclusion, and fails when the proof, index or root is tampered', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1100 }), fc.nat(), fc.nat(), (size, a, flip) => {
        const index = a % size;
        const root = tree.root(size);
        const proof = tree.inclusionProof(index, size);
        expect(verifyInclusion(crypto, leafHashes[index]!, index, size, proof, root)).toEqual({ ok: true });
        if (proof.length > 0) {
          const bad = proof.map((h) => h.slice());
          bad[flip % bad.length]![flip % 32]! ^= 1 << (flip % 8);
          expect(verifyInclusion(crypto, leafHashes[index]!, index, size, bad, root).ok).toBe(false);
          expect(verifyInclusion(crypto, leafHashes[index]!, (index + 1) % size, size, proof, root).ok).toBe(false);
        }
        const badRoot = root.slice();
        badRoot[flip % 32]! ^= 1;
        expect(verifyInclusion(crypto, leafHashes[index]!, index, size, proof, badRoot).ok).toBe(false);
      }),
    );
  });

  it('consistency, and fails when tampered', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1100 }), fc.integer({ min: 1, max: 1100 }), fc.nat(), (x, y, flip) => {
        const [m, n] = x <= y ? [x, y] : [y, x];
        const proof = tree.consistencyProof(m, n);
        const r1 = tree.root(m);
        const r2 = tree.root(n);
        expect(verifyConsistency(crypto, m, n, proof, r1, r2)).toEqual({ ok: true });
        if (proof.length > 0) {
          const bad = proof.map((h) => h.slice());
          bad[flip % bad.length]![flip % 32]! ^= 1 << (flip % 8);
          expect(verifyConsistency(crypto, m, n, bad, r1, r2).ok).toBe(false);
          expect(verifyConsistency(crypto, m, n, proof.slice(1), r1, r2).ok).toBe(false);
        }
        if (m < n) expect(verifyConsistency(crypto, m, n, proof, r2, r1).ok).toBe(false);
      }),
    );
  });
});

describe('sizes beyond 2^32', () => {
  // A virtual tree of up to 2^53 leaves whose leaf i is leaf (i mod 256): every
  // complete subtree of 256 leaves or more is identical, so any subtree hash is
  // cheap, yet it is a real RFC 6962 tree (proofs must verify against its
  // roots), and the low levels and the partial right edge stay distinct.
  const PERIOD_LEVEL = 8;
  const leaf = (i: number): Uint8Array => hashLeaf(crypto, Uint8Array.of(i % 256));
  const memo = new Map<string, Uint8Array>();
  const virtual: HashReader = {
    subtree(level, index) {
      const i = level >= PERIOD_LEVEL ? 0 : index % 2 ** (PERIOD_LEVEL - level);
      const key = `${level}/${i}`;
      let hash = memo.get(key);
      if (hash === undefined) {
        hash = level === 0 ? leaf(i) : hashNode(crypto, virtual.subtree(level - 1, 2 * i), virtual.subtree(level - 1, 2 * i + 1));
        memo.set(key, hash);
      }
      return hash;
    },
  };
  const bigSize = fc.integer({ min: 2 ** 32 - 5, max: Number.MAX_SAFE_INTEGER });

  it('inclusion proofs verify, and a wrong index fails', () => {
    fc.assert(
      fc.property(bigSize, fc.double({ min: 0, max: 1, noNaN: true }), (size, f) => {
        const index = Math.min(size - 1, Math.floor(f * size));
        const proof = inclusionProof(crypto, virtual, index, size);
        const root = rootAt(crypto, virtual, size);
        expect(verifyInclusion(crypto, leaf(index), index, size, proof, root)).toEqual({ ok: true });
        const other = index % 256 === 255 ? index - 1 : index + 1;
        if (other < size) expect(verifyInclusion(crypto, leaf(index), other, size, proof, root).ok).toBe(false);
      }),
    );
  });

  it('consistency proofs verify, and fail for the wrong old size', () => {
    fc.assert(
      fc.property(bigSize, fc.double({ min: 0, max: 1, noNaN: true }), (size, f) => {
        const m = Math.max(1, Math.min(size - 1, Math.floor(f * size)));
        const proof = consistencyProof(crypto, virtual, m, size);
        const r1 = rootAt(crypto, virtual, m);
        const r2 = rootAt(crypto, virtual, size);
        expect(verifyConsistency(crypto, m, size, proof, r1, r2)).toEqual({ ok: true });
        expect(verifyConsistency(crypto, m, size, proof.slice(0, -1), r1, r2).ok).toBe(false);
      }),
    );
  });

  it('rejects indices and sizes that are not safe integers', () => {
    const h = leaf(0);
    expect(verifyInclusion(crypto, h, 2 ** 53, 2 ** 53 + 2, [], h)).toMatchObject({ ok: false });
    expect(verifyConsistency(crypto, 1.5, 3, [h], h, h)).toMatchObject({ ok: false });
  });
});

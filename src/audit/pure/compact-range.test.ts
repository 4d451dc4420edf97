import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeAuditCrypto as crypto } from '../node-crypto.js';
import { encodeHex } from './bytes.js';
import { CompactRange, appendLeaves, type Subtree } from './compact-range.js';
import { MemoryTree } from './memory-tree.js';
import { emptyRoot, hashLeaf, rootPlan } from './merkle.js';

const leafHash = (i: number): Uint8Array => hashLeaf(crypto, Uint8Array.of(i & 0xff, i >> 8, 7));

describe('appendLeaves', () => {
  it('integrates batches exactly like MemoryTree: same roots, every complete subtree stored once', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 12 }), (batches) => {
        const tree = new MemoryTree(crypto);
        const store = new Map<string, Uint8Array>();
        let frontier: readonly Subtree[] = [];
        let size = 0;
        for (const count of batches) {
          const hashes = Array.from({ length: count }, (_, k) => leafHash(size + k));
          // The store reads the frontier by the ids rootPlan names.
          const ids = rootPlan(size);
          expect(ids.map((id) => ({ ...id, hash: store.get(`${id.level}/${id.index}`) }))).toEqual(frontier);
          const result = appendLeaves(crypto, frontier, size, hashes);
          for (const h of hashes) tree.append(h);
          for (const s of result.stored) {
            const key = `${s.level}/${s.index}`;
            expect(store.has(key), `${key} stored twice`).toBe(false);
            store.set(key, s.hash);
            expect(encodeHex(s.hash)).toBe(encodeHex(tree.subtree(s.level, s.index)));
          }
          expect(result.size).toBe(size + count);
          expect(encodeHex(result.root)).toBe(encodeHex(tree.root()));
          frontier = result.frontier;
          size = result.size;
        }
        // Every complete subtree of the final tree was stored.
        let complete = 0;
        for (let level = 0; 2 ** level <= size; level++) complete += Math.floor(size / 2 ** level);
        expect(store.size).toBe(complete);
      }),
    );
  });

  it('costs amortized one node hash per leaf', () => {
    let hashes = 0;
    const counting = { ...crypto, sha256: (d: Uint8Array) => (hashes++, crypto.sha256(d)) };
    const range = new CompactRange(counting);
    for (let i = 0; i < 4096; i++) range.append(leafHash(i));
    expect(hashes).toBe(4095);
  });

  it('has the empty root at size 0 and rejects a frontier that does not fit the size', () => {
    expect(encodeHex(new CompactRange(crypto).root())).toBe(encodeHex(emptyRoot(crypto)));
    const good = appendLeaves(crypto, [], 0, [leafHash(0), leafHash(1), leafHash(2)]);
    expect(() => new CompactRange(crypto, 3, good.frontier)).not.toThrow();
    expect(() => new CompactRange(crypto, 4, good.frontier)).toThrow(/frontier/);
    expect(() => new CompactRange(crypto, 3, good.frontier.slice(1))).toThrow(/frontier/);
    expect(() => new CompactRange(crypto, 3, [good.frontier[0]!, { ...good.frontier[1]!, hash: new Uint8Array(31) }])).toThrow(/frontier/);
    expect(() => new CompactRange(crypto).append(new Uint8Array(33))).toThrow(/32/);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeAuditCrypto as crypto } from '../node-crypto.js';
import { encodeUtf8 } from './bytes.js';
import { signCheckpoint } from './checkpoint.js';
import { CompactRange } from './compact-range.js';
import { hashLeaf } from './merkle.js';
import { createEd25519Signer, createEd25519Verifier, signNote } from './note.js';
import { verifyLog, type VerifyLogFailure, type VerifyLogOptions } from './verify-log.js';

const ORIGIN = 'governor.example/audit';
const seed = new Uint8Array(32).fill(8);
const signer = createEd25519Signer(crypto, ORIGIN, seed);
const verifier = createEd25519Verifier(crypto, ORIGIN, crypto.ed25519PublicKey(seed));

const leafBytes = (i: number): Uint8Array => encodeUtf8(`{"index":${i},"verdict":"allow"}`);

/** Checkpoints signed over `leaves` at each of `sizes`. */
function checkpointsAt(leaves: readonly Uint8Array[], sizes: readonly number[]): string[] {
  const range = new CompactRange(crypto);
  const roots = new Map<number, Uint8Array>([[0, range.root()]]);
  for (const leaf of leaves) {
    range.append(hashLeaf(crypto, leaf));
    roots.set(range.size, range.root());
  }
  return sizes.map((size) => signCheckpoint({ origin: ORIGIN, size, root: roots.get(size)!, extensions: [] }, [signer]));
}

function options(leaves: readonly Uint8Array[], checkpoints: readonly string[], withHashes: readonly Uint8Array[] | undefined): VerifyLogOptions {
  const base = { leaves, checkpoints, verifiers: [verifier], origin: ORIGIN };
  return withHashes === undefined ? base : { ...base, leafHashes: withHashes };
}

function failure(result: ReturnType<typeof verifyLog>): VerifyLogFailure {
  if (result.ok) throw new Error('expected a failure');
  return result;
}

describe('verifyLog', () => {
  const leaves = Array.from({ length: 50 }, (_, i) => leafBytes(i));
  const hashes = leaves.map((l) => hashLeaf(crypto, l));
  const checkpoints = checkpointsAt(leaves, [10, 25, 50]);

  it('accepts an intact log, checkpoints in any order, with or without recorded hashes', () => {
    const result = verifyLog(crypto, options(leaves, [...checkpoints].reverse(), hashes));
    expect(result).toMatchObject({ ok: true, size: 50, signedSize: 50, checkpoints: 3 });
    expect(verifyLog(crypto, options(leaves, checkpoints, undefined)).ok).toBe(true);
  });

  it('reports leaves beyond the last checkpoint as unsigned, and accepts a checkpoint of the empty tree', () => {
    const result = verifyLog(crypto, options(leaves, [...checkpointsAt(leaves, [0, 40])], hashes));
    expect(result).toMatchObject({ ok: true, size: 50, signedSize: 40, checkpoints: 2 });
  });

  it('names the changed leaf when recorded hashes are given', () => {
    const tampered = leaves.map((l, i) => (i === 41 ? encodeUtf8('{"index":41,"verdict":"deny"}') : l));
    const f = failure(verifyLog(crypto, options(tampered, checkpoints, hashes)));
    expect(f.index).toBe(41);
    expect(f.problem).toMatch(/^leaf 41 hashes to [0-9a-f]{64}, but the log recorded/);
  });

  it('places the change between checkpoints without recorded hashes', () => {
    const tampered = leaves.map((l, i) => (i === 41 ? encodeUtf8('{"index":41,"verdict":"deny"}') : l));
    const f = failure(verifyLog(crypto, options(tampered, checkpoints, undefined)));
    expect(f).toMatchObject({ checkpoint: 2, range: { from: 25, to: 50 } });
    expect(f.index).toBeUndefined();
    expect(f.problem).toMatch(/checkpoint #2 signs .*a leaf among leaves 25\.\.49 differs/);
  });

  it('says when a leaf and its recorded hash were changed together', () => {
    const tampered = leaves.map((l, i) => (i === 3 ? leafBytes(1000) : l));
    const f = failure(verifyLog(crypto, options(tampered, checkpoints, tampered.map((l) => hashLeaf(crypto, l)))));
    expect(f).toMatchObject({ checkpoint: 0, range: { from: 0, to: 10 } });
    expect(f.problem).toMatch(/changed together with its recorded hash/);
  });

  it('reports a checkpoint that does not verify, by its position', () => {
    const forged = signCheckpoint({ origin: ORIGIN, size: 25, root: new Uint8Array(32), extensions: [] }, [createEd25519Signer(crypto, ORIGIN, new Uint8Array(32))]);
    expect(failure(verifyLog(crypto, options(leaves, [checkpoints[0]!, forged], hashes)))).toMatchObject({ checkpoint: 1 });
    const elsewhere = signCheckpoint({ origin: 'other.example/log', size: 10, root: new Uint8Array(32), extensions: [] }, [signer]);
    expect(failure(verifyLog(crypto, options(leaves, [elsewhere], hashes))).problem).toMatch(/other\.example/);
    const notACheckpoint = signNote('hello\n', [signer]);
    expect(failure(verifyLog(crypto, options(leaves, [notACheckpoint], hashes))).checkpoint).toBe(0);
  });

  it('names equivocation: two signed trees of the same size', () => {
    const other = leaves.map((l, i) => (i === 7 ? leafBytes(999) : l));
    const fork = checkpointsAt(other, [10])[0]!;
    const f = failure(verifyLog(crypto, options(leaves, [...checkpoints, fork], hashes)));
    expect(f.checkpoint).toBe(3);
    expect(f.problem).toMatch(/two different trees/);
  });

  it('rejects a checkpoint larger than the log and mismatched recorded hashes', () => {
    expect(failure(verifyLog(crypto, options(leaves.slice(0, 30), checkpoints, hashes.slice(0, 30))))).toMatchObject({ checkpoint: 2, index: 30 });
    expect(failure(verifyLog(crypto, options(leaves, checkpoints, hashes.slice(0, 49))))).toMatchObject({ index: 49 });
    expect(failure(verifyLog(crypto, options(leaves.slice(0, 49), checkpointsAt(leaves, [10]), hashes)))).toMatchObject({ index: 49 });
    expect(failure(verifyLog(crypto, options(leaves, [], hashes))).problem).toMatch(/no checkpoint/);
  });

  it('a checkpoint of size 0 must sign the empty root', () => {
    const wrong = signCheckpoint({ origin: ORIGIN, size: 0, root: new Uint8Array(32), extensions: [] }, [signer]);
    expect(failure(verifyLog(crypto, options(leaves, [wrong], hashes)))).toMatchObject({ checkpoint: 0 });
  });
});

describe('verifyLog properties: any change is caught at the right place', () => {
  type Change = { kind: 'flip'; at: number; byte: number; bit: number } | { kind: 'swap'; at: number; other: number } | { kind: 'drop'; at: number } | { kind: 'insert'; at: number };
  const change: fc.Arbitrary<Change> = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('swap' as const), at: fc.nat(), other: fc.nat() }),
    fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat() }),
  );

  function apply(leaves: readonly Uint8Array[], c: Change): { changed: Uint8Array[]; first: number } {
    const n = leaves.length;
    const out: Uint8Array[] = leaves.map((l) => l.slice());
    switch (c.kind) {
      case 'flip': {
        const i = c.at % n;
        out[i]![c.byte % out[i]!.length]! ^= 1 << c.bit;
        return { changed: out, first: i };
      }
      case 'swap': {
        let i = c.at % n;
        let j = c.other % n;
        if (i === j) j = (j + 1) % n;
        if (j < i) [i, j] = [j, i];
        [out[i], out[j]] = [out[j]!, out[i]!];
        return { changed: out, first: i };
      }
      case 'drop': {
        const i = c.at % n;
        out.splice(i, 1);
        return { changed: out, first: i };
      }
      case 'insert': {
        const i = c.at % (n + 1);
        out.splice(i, 0, leafBytes(100_000 + i));
        return { changed: out, first: i };
      }
    }
  }

  const log = fc
    .record({ n: fc.integer({ min: 2, max: 120 }), cuts: fc.uniqueArray(fc.nat(), { maxLength: 5 }) })
    .map(({ n, cuts }) => ({ n, sizes: [...new Set([...cuts.map((c) => 1 + (c % n)), n])].sort((a, b) => a - b) }));

  it('with recorded hashes: fails at exactly the first changed index', () => {
    fc.assert(
      fc.property(log, change, ({ n, sizes }, c) => {
        const leaves = Array.from({ length: n }, (_, i) => leafBytes(i));
        const recorded = leaves.map((l) => hashLeaf(crypto, l));
        const checkpoints = checkpointsAt(leaves, sizes);
        const { changed, first } = apply(leaves, c);
        const f = failure(verifyLog(crypto, options(changed, checkpoints, recorded)));
        expect(f.index).toBe(first);
      }),
      { numRuns: 300 },
    );
  });

  it('without recorded hashes: fails at the first checkpoint covering the change, whose range holds it', () => {
    fc.assert(
      fc.property(log, change, ({ n, sizes }, c) => {
        const leaves = Array.from({ length: n }, (_, i) => leafBytes(i));
        const checkpoints = checkpointsAt(leaves, sizes);
        const { changed, first } = apply(leaves, c);
        const result = verifyLog(crypto, options(changed, checkpoints, undefined));
        const covering = sizes.findIndex((s) => s > first);
        if (covering < 0) {
          // A leaf appended after the last checkpoint is not signed yet: the
          // log verifies, and the result says how much of it is unsigned.
          expect(c.kind).toBe('insert');
          expect(result).toMatchObject({ ok: true, size: n + 1, signedSize: n });
          return;
        }
        const f = failure(result);
        expect(f.checkpoint).toBe(covering);
        if (f.range !== undefined) {
          expect(f.range.from).toBeLessThanOrEqual(first);
          expect(f.range.to).toBeGreaterThan(first);
        } else {
          // Only a drop can leave the log shorter than the covering checkpoint.
          expect(c.kind).toBe('drop');
          expect(f.index).toBe(changed.length);
        }
      }),
      { numRuns: 300 },
    );
  });
});

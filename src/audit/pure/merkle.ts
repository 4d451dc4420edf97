import { GovernorError } from '../../core/errors.js';
import type { AuditCrypto } from './audit-crypto.js';
import { bytesEqual } from './bytes.js';

/**
 * RFC 6962 / RFC 9162 Merkle tree arithmetic: hashing, proof generation over
 * stored subtree hashes, and proof verification.
 *
 * Tree sizes and leaf indices are JavaScript numbers limited to
 * `Number.MAX_SAFE_INTEGER` (2^53 - 1); all bit arithmetic below is exact in
 * that range (no 32-bit bitwise operators on sizes).
 */

/** Size in bytes of every tree hash (SHA-256). */
export const HASH_SIZE = 32;

// Reused input buffers: AuditCrypto.sha256 must not retain its input, and
// hashing is synchronous, so one buffer serves every call. This halves the
// allocations on the verifier's hot path.
let leafScratch = new Uint8Array(1024);
const nodeScratch = new Uint8Array(1 + 2 * HASH_SIZE);
nodeScratch[0] = 1;

/** RFC 6962 leaf hash: SHA-256(0x00 ‖ leaf). */
export function hashLeaf(crypto: AuditCrypto, leaf: Uint8Array): Uint8Array {
  if (leaf.length + 1 > leafScratch.length) leafScratch = new Uint8Array(Math.max(leaf.length + 1, 2 * leafScratch.length));
  leafScratch[0] = 0;
  leafScratch.set(leaf, 1);
  return crypto.sha256(leafScratch.subarray(0, leaf.length + 1));
}

/** RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right). */
export function hashNode(crypto: AuditCrypto, left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    const buf = new Uint8Array(1 + left.length + right.length);
    buf[0] = 1;
    buf.set(left, 1);
    buf.set(right, 1 + left.length);
    return crypto.sha256(buf);
  }
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 1 + HASH_SIZE);
  return crypto.sha256(nodeScratch);
}

/** Root of the empty tree: SHA-256 of the empty string. */
export function emptyRoot(crypto: AuditCrypto): Uint8Array {
  return crypto.sha256(new Uint8Array(0));
}

/** RFC 6962 root (MTH) of a whole list of leaf hashes, in O(n) hashes and O(log n) memory. */
export function rootFromLeafHashes(crypto: AuditCrypto, leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return emptyRoot(crypto);
  // Stack of complete subtrees along the right edge: [level, hash] pairs.
  const levels: number[] = [];
  const hashes: Uint8Array[] = [];
  for (const leaf of leafHashes) {
    let level = 0;
    let hash = leaf;
    while (levels.length > 0 && levels[levels.length - 1] === level) {
      levels.pop();
      hash = hashNode(crypto, hashes.pop()!, hash);
      level++;
    }
    levels.push(level);
    hashes.push(hash);
  }
  let root = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) root = hashNode(crypto, hashes[i]!, root);
  return root;
}

// ---------------------------------------------------------------------------
// Proof generation over stored complete subtrees
// ---------------------------------------------------------------------------

/**
 * Names one complete subtree: the 2^level leaves starting at leaf
 * `index * 2^level`. Level 0 subtrees are the leaf hashes.
 */
export interface SubtreeId {
  readonly level: number;
  readonly index: number;
}

/**
 * Read access to stored complete-subtree hashes. A store that keeps the hash of
 * every complete subtree it has integrated can serve any root or proof with
 * O(log n) reads. Throws when asked for a subtree it does not hold.
 */
export interface HashReader {
  /** The hash of the complete subtree of 2^level leaves starting at leaf index·2^level. */
  subtree(level: number, index: number): Uint8Array;
}

/**
 * One node of the RFC 6962 tree expressed as complete subtrees, left to right,
 * of strictly decreasing size. Its hash is the right fold
 * `hashNode(s0, hashNode(s1, … sk))`; a single subtree is its own hash. Nodes
 * on the right edge of a tree whose size is not a power of two need several.
 */
export type NodeRecipe = readonly SubtreeId[];

/**
 * The subtrees making up the root of a tree of `size` leaves: one per set bit
 * of `size`, largest first. This is also the tree's right-edge frontier
 * (see `CompactRange`). Empty for size 0.
 */
export function rootPlan(size: number): NodeRecipe {
  checkSize(size, 'size');
  return rangeRecipe(0, size);
}

/**
 * The nodes of the RFC 9162 §2.1.3.1 inclusion proof for leaf `index` in a
 * tree of `size` leaves, leaf-side first. At most one of them is a partial
 * right-edge node, so the plan names O(log n) subtrees.
 * Throws BAD_REQUEST unless 0 ≤ index < size.
 */
export function inclusionPlan(index: number, size: number): NodeRecipe[] {
  checkSize(size, 'size');
  checkSize(index, 'index');
  if (index >= size) throw new GovernorError('BAD_REQUEST', `leaf index ${index} is not below tree size ${size}`);
  const topDown: NodeRecipe[] = [];
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const mid = start + largestPowerOfTwoBelow(end - start);
    if (index < mid) {
      topDown.push(rangeRecipe(mid, end));
      end = mid;
    } else {
      topDown.push(rangeRecipe(start, mid));
      start = mid;
    }
  }
  return topDown.reverse();
}

/**
 * The nodes of the RFC 9162 §2.1.4.1 consistency proof from tree size `size1`
 * to `size2`, in proof order. Empty when the sizes are equal. Throws
 * BAD_REQUEST unless 0 < size1 ≤ size2 (a proof from the empty tree is
 * meaningless and verifiers reject it).
 */
export function consistencyPlan(size1: number, size2: number): NodeRecipe[] {
  checkSize(size1, 'size1');
  checkSize(size2, 'size2');
  if (size1 === 0) throw new GovernorError('BAD_REQUEST', 'a consistency proof from the empty tree is meaningless');
  if (size1 > size2) throw new GovernorError('BAD_REQUEST', `size1 ${size1} is greater than size2 ${size2}`);
  const topDown: NodeRecipe[] = [];
  if (size1 === size2) return topDown;
  let start = 0;
  let end = size2;
  let m = size1;
  let wholeOldTree = true;
  for (;;) {
    const n = end - start;
    if (m === n) {
      if (!wholeOldTree) topDown.push(rangeRecipe(start, end));
      break;
    }
    const k = largestPowerOfTwoBelow(n);
    if (m <= k) {
      topDown.push(rangeRecipe(start + k, end));
      end = start + k;
    } else {
      topDown.push(rangeRecipe(start, start + k));
      start += k;
      m -= k;
      wholeOldTree = false;
    }
  }
  return topDown.reverse();
}

/** Every distinct subtree the recipes name, in first-use order: what an async store should fetch in one batch. */
export function subtreesOf(recipes: readonly NodeRecipe[]): SubtreeId[] {
  const seen = new Set<string>();
  const out: SubtreeId[] = [];
  for (const recipe of recipes) {
    for (const id of recipe) {
      const key = `${id.level}/${id.index}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(id);
    }
  }
  return out;
}

/**
 * The hash of one planned node. An empty recipe is the empty tree's root.
 * Throws AUDIT_INVALID when the reader returns a hash that is not 32 bytes.
 */
export function resolveNode(crypto: AuditCrypto, recipe: NodeRecipe, reader: HashReader): Uint8Array {
  if (recipe.length === 0) return emptyRoot(crypto);
  let hash = readSubtree(reader, recipe[recipe.length - 1]!);
  for (let i = recipe.length - 2; i >= 0; i--) hash = hashNode(crypto, readSubtree(reader, recipe[i]!), hash);
  return hash;
}

/** The hashes of planned proof nodes, in order. */
export function resolveProof(crypto: AuditCrypto, recipes: readonly NodeRecipe[], reader: HashReader): Uint8Array[] {
  return recipes.map((recipe) => resolveNode(crypto, recipe, reader));
}

/** The root of the first `size` leaves, from O(log size) stored subtree hashes. */
export function rootAt(crypto: AuditCrypto, reader: HashReader, size: number): Uint8Array {
  return resolveNode(crypto, rootPlan(size), reader);
}

/** The inclusion proof for leaf `index` in the tree of `size` leaves, from O(log size) stored subtree hashes. */
export function inclusionProof(crypto: AuditCrypto, reader: HashReader, index: number, size: number): Uint8Array[] {
  return resolveProof(crypto, inclusionPlan(index, size), reader);
}

/** The consistency proof from tree size `size1` to `size2`, from O(log size2) stored subtree hashes. */
export function consistencyProof(crypto: AuditCrypto, reader: HashReader, size1: number, size2: number): Uint8Array[] {
  return resolveProof(crypto, consistencyPlan(size1, size2), reader);
}

function readSubtree(reader: HashReader, id: SubtreeId): Uint8Array {
  const hash = reader.subtree(id.level, id.index);
  if (hash.length !== HASH_SIZE) {
    throw new GovernorError('AUDIT_INVALID', `stored hash of subtree ${id.level}/${id.index} has ${hash.length} bytes, not ${HASH_SIZE}`);
  }
  return hash;
}

/**
 * [start, end) as complete subtrees, largest first. Callers only pass ranges
 * that are nodes of the RFC 6962 tree, where `start` is aligned to every
 * subtree in the decomposition of `end - start`.
 */
function rangeRecipe(start: number, end: number): SubtreeId[] {
  const out: SubtreeId[] = [];
  let pos = start;
  while (pos < end) {
    const level = bitLength(end - pos) - 1;
    const width = 2 ** level;
    if (pos % width !== 0) throw new GovernorError('INTERNAL', `range [${start}, ${end}) is not a tree node`);
    out.push({ level, index: pos / width });
    pos += width;
  }
  return out;
}

function checkSize(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new GovernorError('BAD_REQUEST', `${what} must be an integer in [0, 2^53), got ${value}`);
  }
}

// ---------------------------------------------------------------------------
// Proof verification (transparency-dev/merkle proof.Verify*, RFC 9162 §2.1.3.2 and §2.1.4.2)
// ---------------------------------------------------------------------------

/** The outcome of verifying a proof: ok, or why not. */
export type ProofCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** The outcome of recomputing a root from a proof. */
export type RootCheck = { readonly ok: true; readonly root: Uint8Array } | { readonly ok: false; readonly reason: string };

const OK: ProofCheck = Object.freeze({ ok: true });

function fail(reason: string): { readonly ok: false; readonly reason: string } {
  return { ok: false, reason };
}

/**
 * The root implied by an inclusion proof for `leafHash` at `index` in a tree of
 * `size` leaves, or why the proof cannot be one (index out of range, wrong
 * number of hashes, a hash that is not 32 bytes).
 */
export function rootFromInclusionProof(
  crypto: AuditCrypto,
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
): RootCheck {
  if (!isSafeSize(index) || !isSafeSize(size)) return fail('index and size must be integers in [0, 2^53)');
  if (index >= size) return fail(`leaf index ${index} is not below tree size ${size}`);
  if (leafHash.length !== HASH_SIZE) return fail(`leaf hash has ${leafHash.length} bytes, want ${HASH_SIZE}`);
  const inner = bitLength(xor(index, size - 1));
  const border = onesCount(shiftRight(index, inner));
  if (proof.length !== inner + border) return fail(`proof has ${proof.length} hashes, want ${inner + border}`);
  const bad = proof.findIndex((h) => h.length !== HASH_SIZE);
  if (bad >= 0) return fail(`proof hash ${bad} has ${proof[bad]!.length} bytes, want ${HASH_SIZE}`);
  let hash = chainInner(crypto, leafHash, proof.slice(0, inner), index);
  hash = chainBorderRight(crypto, hash, proof.slice(inner));
  return { ok: true, root: hash };
}

/**
 * Verifies an RFC 9162 inclusion proof. Library policy: the leaf hash and the
 * root must both be 32 bytes.
 */
export function verifyInclusion(
  crypto: AuditCrypto,
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): ProofCheck {
  if (root.length !== HASH_SIZE) return fail(`root has ${root.length} bytes, want ${HASH_SIZE}`);
  const computed = rootFromInclusionProof(crypto, leafHash, index, size, proof);
  if (!computed.ok) return computed;
  if (!bytesEqual(computed.root, root)) return fail(`proof for leaf ${index} leads to a different root at tree size ${size}`);
  return OK;
}

/**
 * Verifies an RFC 9162 consistency proof that the tree of `size2` leaves with
 * `root2` extends the tree of `size1` leaves with `root1`. Library policy: a
 * proof from size 0 is rejected (even 0 → 0); between equal sizes the proof
 * must be empty and the roots byte-identical (their length is not checked).
 */
export function verifyConsistency(
  crypto: AuditCrypto,
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): ProofCheck {
  if (!isSafeSize(size1) || !isSafeSize(size2)) return fail('sizes must be integers in [0, 2^53)');
  if (size1 === 0) return fail('a consistency proof from the empty tree is meaningless');
  if (size2 < size1) return fail(`size2 ${size2} is smaller than size1 ${size1}`);
  if (size1 === size2) {
    if (proof.length > 0) return fail('sizes are equal but the proof is not empty');
    return bytesEqual(root1, root2) ? OK : fail(`roots differ at equal size ${size1}`);
  }
  if (proof.length === 0) return fail('empty proof between different sizes');
  const bad = proof.findIndex((h) => h.length !== HASH_SIZE);
  if (bad >= 0) return fail(`proof hash ${bad} has ${proof[bad]!.length} bytes, want ${HASH_SIZE}`);

  const last = size1 - 1;
  let inner = bitLength(xor(last, size2 - 1));
  const border = onesCount(shiftRight(last, inner));
  const shift = trailingZeros(size1);
  inner -= shift; // shift < inner whenever size1 < size2

  // The proof starts with the root of the size-2^shift subtree holding the old
  // tree's last leaf, unless size1 is that power of two and root1 is that root.
  let seed: Uint8Array;
  let rest: readonly Uint8Array[];
  if (size1 === 2 ** shift) {
    seed = root1;
    rest = proof;
  } else {
    seed = proof[0]!;
    rest = proof.slice(1);
  }
  const want = proof.length - rest.length + inner + border;
  if (proof.length !== want) return fail(`proof has ${proof.length} hashes, want ${want}`);

  const mask = shiftRight(last, shift);
  const innerPart = rest.slice(0, inner);
  const borderPart = rest.slice(inner);
  const hash1 = chainBorderRight(crypto, chainInnerRight(crypto, seed, innerPart, mask), borderPart);
  if (!bytesEqual(hash1, root1)) return fail(`proof does not lead to root1 at size ${size1}`);
  const hash2 = chainBorderRight(crypto, chainInner(crypto, seed, innerPart, mask), borderPart);
  if (!bytesEqual(hash2, root2)) return fail(`proof does not lead to root2 at size ${size2}`);
  return OK;
}

function chainInner(crypto: AuditCrypto, seed: Uint8Array, proof: readonly Uint8Array[], index: number): Uint8Array {
  let hash = seed;
  for (let i = 0; i < proof.length; i++) {
    hash = bitAt(index, i) === 0 ? hashNode(crypto, hash, proof[i]!) : hashNode(crypto, proof[i]!, hash);
  }
  return hash;
}

function chainInnerRight(crypto: AuditCrypto, seed: Uint8Array, proof: readonly Uint8Array[], index: number): Uint8Array {
  let hash = seed;
  for (let i = 0; i < proof.length; i++) {
    if (bitAt(index, i) === 1) hash = hashNode(crypto, proof[i]!, hash);
  }
  return hash;
}

function chainBorderRight(crypto: AuditCrypto, seed: Uint8Array, proof: readonly Uint8Array[]): Uint8Array {
  let hash = seed;
  for (const h of proof) hash = hashNode(crypto, h, hash);
  return hash;
}

// ---------------------------------------------------------------------------
// Exact bit arithmetic on non-negative safe integers (JS bitwise ops are 32-bit)
// ---------------------------------------------------------------------------

const TWO_32 = 2 ** 32;

function isSafeSize(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** Number of bits needed to write `x` (0 for 0). */
export function bitLength(x: number): number {
  if (x < TWO_32) return 32 - Math.clz32(x);
  return 64 - Math.clz32(Math.floor(x / TWO_32));
}

/** 2^k for the largest k with 2^k < n; n must be at least 2. */
export function largestPowerOfTwoBelow(n: number): number {
  return 2 ** (bitLength(n - 1) - 1);
}

function xor(a: number, b: number): number {
  const hi = (Math.floor(a / TWO_32) ^ Math.floor(b / TWO_32)) >>> 0;
  const lo = ((a >>> 0) ^ (b >>> 0)) >>> 0;
  return hi * TWO_32 + lo;
}

function shiftRight(x: number, bits: number): number {
  return Math.floor(x / 2 ** bits);
}

function bitAt(x: number, bit: number): number {
  return shiftRight(x, bit) % 2;
}

function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

function onesCount(x: number): number {
  return popcount32(x >>> 0) + popcount32(Math.floor(x / TWO_32) >>> 0);
}

function trailingZeros(x: number): number {
  const lo = x >>> 0;
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = Math.floor(x / TWO_32) >>> 0;
  return 32 + 31 - Math.clz32(hi & -hi);
}

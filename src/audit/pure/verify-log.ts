import { GovernorError } from '../../core/errors.js';
import type { AuditCrypto } from './audit-crypto.js';
import { bytesEqual, encodeHex } from './bytes.js';
import { openCheckpoint } from './checkpoint.js';
import { CompactRange } from './compact-range.js';
import { consistencyPlan, hashLeaf, resolveProof, verifyConsistency, type HashReader, type NodeRecipe } from './merkle.js';
import type { NoteVerifier } from './note.js';

/** What `verifyLog` checks. */
export interface VerifyLogOptions {
  /** Every leaf of the log in order, as the bytes that were hashed (RFC 6962 leaf data). */
  readonly leaves: Iterable<Uint8Array>;
  /** Signed checkpoint notes, in any order. At least one is required. */
  readonly checkpoints: readonly (string | Uint8Array)[];
  /** The log's key (and any witness keys); each checkpoint needs a verified signature from one of them. */
  readonly verifiers: readonly NoteVerifier[];
  /** The log's origin line: every checkpoint must carry it. */
  readonly origin: string;
  /**
   * The leaf hashes as the log recorded them, one per leaf, in order. With
   * them a changed leaf is named exactly; without them a mismatch can only be
   * placed between two checkpoints.
   */
  readonly leafHashes?: Iterable<Uint8Array>;
}

/** The log verified: every checkpoint is signed, from the origin, and commits to these leaves. */
export interface VerifyLogSuccess {
  readonly ok: true;
  /** Number of leaves read. */
  readonly size: number;
  /** Root of all `size` leaves. */
  readonly root: Uint8Array;
  /** The largest checkpoint size: leaves at or beyond it are not yet covered by a signature. */
  readonly signedSize: number;
  /** Number of checkpoints verified. */
  readonly checkpoints: number;
}

/** The first problem found, in log order. */
export interface VerifyLogFailure {
  readonly ok: false;
  readonly problem: string;
  /** The exact leaf at fault, when it can be named. */
  readonly index?: number;
  /** Position in `options.checkpoints` of the checkpoint at fault. */
  readonly checkpoint?: number;
  /** When a checkpoint's root does not match: the leaves [from, to) that hold the change. */
  readonly range?: { readonly from: number; readonly to: number };
}

/** The outcome of `verifyLog`. */
export type VerifyLogResult = VerifyLogSuccess | VerifyLogFailure;

interface SignedHead {
  readonly position: number;
  readonly size: number;
  readonly root: Uint8Array;
}

/**
 * Verifies a whole exported log offline in one pass over its leaves, with
 * O(log n) memory apart from the checkpoints:
 *
 * 1. every checkpoint must verify against `verifiers` and carry `origin`
 *    (checked first, in the order given);
 * 2. the tree is recomputed leaf by leaf; if recorded leaf hashes are given,
 *    each leaf must hash to its recorded hash (a mismatch names the leaf);
 * 3. on reaching each checkpoint's size (smallest first) its root must equal
 *    the recomputed root; otherwise the change is placed in the leaves since
 *    the previous good checkpoint;
 * 4. each checkpoint must be consistent with the previous one, checked with an
 *    RFC 9162 consistency proof built from the recomputed tree (implied by 3,
 *    verified anyway so the proof machinery is exercised end to end);
 * 5. no checkpoint may be larger than the log.
 */
export function verifyLog(crypto: AuditCrypto, options: VerifyLogOptions): VerifyLogResult {
  if (options.checkpoints.length === 0) return { ok: false, problem: 'no checkpoint: nothing vouches for the leaves' };

  const heads: SignedHead[] = [];
  for (let position = 0; position < options.checkpoints.length; position++) {
    const opened = openCheckpoint(options.checkpoints[position]!, options.verifiers, options.origin);
    if (!opened.ok) {
      const why = opened.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
      return { ok: false, checkpoint: position, problem: `checkpoint #${position} does not verify: ${why}` };
    }
    heads.push({ position, size: opened.value.checkpoint.size, root: opened.value.checkpoint.root });
  }
  heads.sort((a, b) => a.size - b.size || a.position - b.position);

  // Capture the subtrees that the consistency proofs between successive
  // distinct sizes need, as the compact range creates them.
  const sizes = [...new Set(heads.map((h) => h.size))].filter((s) => s > 0);
  const plans = new Map<number, NodeRecipe[]>();
  const wanted: Map<number, Uint8Array | undefined>[] = [];
  for (let i = 1; i < sizes.length; i++) {
    const plan = consistencyPlan(sizes[i - 1]!, sizes[i]!);
    plans.set(sizes[i]!, plan);
    for (const recipe of plan) {
      for (const { level, index } of recipe) (wanted[level] ??= new Map()).set(index, undefined);
    }
  }
  const captured: HashReader = {
    subtree(level, index) {
      const hash = wanted[level]?.get(index);
      if (hash === undefined) throw new GovernorError('INTERNAL', `subtree ${level}/${index} was not captured`);
      return hash;
    },
  };
  const sink =
    wanted.length === 0
      ? undefined
      : (level: number, index: number, hash: Uint8Array): void => {
          const m = wanted[level];
          if (m !== undefined && m.has(index)) m.set(index, hash);
        };

  const range = new CompactRange(crypto);
  const recorded = options.leafHashes?.[Symbol.iterator]();
  let next = 0; // next head to check, in size order
  let goodSize = 0; // size of the last checkpoint that matched
  let goodRoot: Uint8Array | undefined;

  const checkHeadsAt = (size: number): VerifyLogFailure | undefined => {
    if (next >= heads.length || heads[next]!.size !== size) return undefined;
    const root = range.root();
    const first = heads[next]!;
    for (; next < heads.length && heads[next]!.size === size; next++) {
      const head = heads[next]!;
      if (bytesEqual(head.root, root)) continue;
      const twin = !bytesEqual(head.root, first.root) ? ` (checkpoint #${first.position} has the same size and another root: the log signed two different trees)` : '';
      if (size === 0) {
        return { ok: false, checkpoint: head.position, problem: `checkpoint #${head.position} has size 0 but does not sign the empty tree's root` };
      }
      const where = `leaves ${goodSize}..${size - 1}`;
      const how =
        recorded === undefined
          ? `a leaf among ${where} differs from what was signed`
          : `every leaf matches its recorded hash, so a leaf among ${where} was changed together with its recorded hash, or the checkpoint signs another tree`;
      return {
        ok: false,
        checkpoint: head.position,
        range: { from: goodSize, to: size },
        problem: `root of the first ${size} leaves is ${encodeHex(root)}, but checkpoint #${head.position} signs ${encodeHex(head.root)}${twin}: ${how}`,
      };
    }
    const plan = plans.get(size);
    if (plan !== undefined && goodRoot !== undefined) {
      const proof = resolveProof(crypto, plan, captured);
      const check = verifyConsistency(crypto, goodSize, size, proof, goodRoot, root);
      if (!check.ok) return { ok: false, checkpoint: first.position, problem: `checkpoint #${first.position} is not consistent with size ${goodSize}: ${check.reason}` };
    }
    goodSize = size;
    goodRoot = root;
    return undefined;
  };

  for (const leaf of options.leaves) {
    const index = range.size;
    const failure = checkHeadsAt(index);
    if (failure !== undefined) return failure;
    const hash = hashLeaf(crypto, leaf);
    if (recorded !== undefined) {
      const want = recorded.next();
      if (want.done === true) return { ok: false, index, problem: `leaf ${index} has no recorded leaf hash` };
      if (!bytesEqual(want.value, hash)) {
        return { ok: false, index, problem: `leaf ${index} hashes to ${encodeHex(hash)}, but the log recorded ${encodeHex(want.value)}` };
      }
    }
    range.append(hash, sink);
  }
  const size = range.size;
  const failure = checkHeadsAt(size);
  if (failure !== undefined) return failure;
  if (recorded !== undefined && recorded.next().done !== true) {
    return { ok: false, index: size, problem: `recorded leaf hash ${size} has no leaf: the log holds only ${size} leaves` };
  }
  if (next < heads.length) {
    const head = heads[next]!;
    return { ok: false, checkpoint: head.position, index: size, problem: `checkpoint #${head.position} is for size ${head.size}, but the log holds only ${size} leaves` };
  }
  return { ok: true, size, root: range.root(), signedSize: heads[heads.length - 1]!.size, checkpoints: heads.length };
}

import { GovernorError, type Issue, type ParseResult } from '../../core/errors.js';
import type { AuditCrypto } from './audit-crypto.js';
import { decodeBase64, decodeUtf8, encodeBase64, isValidUtf8, isWellFormedText } from './bytes.js';
import { openCheckpoint, type Checkpoint } from './checkpoint.js';
import { HASH_SIZE, verifyInclusion } from './merkle.js';
import { MAX_NOTE_SIZE, parseNote, type NoteVerifier, type OpenedNote } from './note.js';

/**
 * C2SP tlog-proof@v1 (https://c2sp.org/tlog-proof): a self-contained,
 * offline-verifiable proof that one entry is in a log:
 *
 * ```
 * c2sp.org/tlog-proof@v1
 * extra <base64>          (optional, unauthenticated)
 * index <decimal>
 * <base64 hash>           (zero or more: the RFC 6962 inclusion proof, leaf side first)
 *
 * <signed checkpoint note, verbatim>
 * ```
 */

/** First line of every v1 proof. */
export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';

/** The parts of a tlog-proof. */
export interface TlogProof {
  /** Zero-based index of the entry. */
  readonly index: number;
  /** Inclusion proof hashes (32 bytes each), leaf side first. */
  readonly hashes: readonly Uint8Array[];
  /** The signed checkpoint note the proof leads to, verbatim. */
  readonly checkpoint: string;
  /** Opaque application data; NOT authenticated by the proof. */
  readonly extra?: Uint8Array;
}

/** A tlog-proof whose checkpoint signature, origin and inclusion proof all verified. */
export interface VerifiedTlogProof {
  readonly index: number;
  readonly checkpoint: Checkpoint;
  readonly note: OpenedNote;
  /** Present when the proof carried extra data. Unauthenticated. */
  readonly extra?: Uint8Array;
}

/** A Merkle inclusion proof never has more hashes than this (trees of up to 2^64 leaves). */
const MAX_PROOF_HASHES = 64;
const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** The text of a tlog-proof. Throws BAD_REQUEST for a bad index, hash or checkpoint. */
export function formatTlogProof(proof: TlogProof): string {
  if (!Number.isSafeInteger(proof.index) || proof.index < 0) throw new GovernorError('BAD_REQUEST', `index must be an integer in [0, 2^53)`);
  if (proof.hashes.length > MAX_PROOF_HASHES || proof.hashes.some((h) => h.length !== HASH_SIZE)) {
    throw new GovernorError('BAD_REQUEST', `proof must hold at most ${MAX_PROOF_HASHES} hashes of ${HASH_SIZE} bytes`);
  }
  if (!parseNote(proof.checkpoint).ok) throw new GovernorError('BAD_REQUEST', 'checkpoint is not a signed note');
  let out = TLOG_PROOF_HEADER + '\n';
  if (proof.extra !== undefined && proof.extra.length > 0) out += `extra ${encodeBase64(proof.extra)}\n`;
  out += `index ${proof.index}\n`;
  for (const hash of proof.hashes) out += encodeBase64(hash) + '\n';
  return out + '\n' + proof.checkpoint;
}

/**
 * Parses a tlog-proof strictly (header, optional non-empty `extra`, `index`
 * without leading zeros, canonical base64 32-byte hashes, a blank line, a
 * well-formed signed note). Verifies nothing: see `verifyTlogProof`.
 */
export function parseTlogProof(input: string | Uint8Array): ParseResult<TlogProof> {
  let text: string;
  if (typeof input === 'string') {
    if (!isWellFormedText(input)) return issue('proof', 'proof is not well-formed Unicode');
    text = input;
  } else {
    if (!isValidUtf8(input)) return issue('proof', 'proof is not valid UTF-8');
    text = decodeUtf8(input);
  }
  if (text.length > 2 * MAX_NOTE_SIZE) return issue('proof', 'proof is too large');
  const blank = text.indexOf('\n\n');
  if (blank < 0) return issue('proof', 'proof has no blank line before its checkpoint');
  const lines = text.slice(0, blank).split('\n');
  const checkpoint = text.slice(blank + 2);

  if (lines[0] !== TLOG_PROOF_HEADER) return issue('proof.header', `first line must be ${TLOG_PROOF_HEADER}`);
  let at = 1;
  let extra: Uint8Array | undefined;
  if (lines[at]?.startsWith('extra ')) {
    extra = decodeBase64(lines[at]!.slice('extra '.length));
    if (extra === undefined || extra.length === 0) return issue('proof.extra', 'extra data must be non-empty canonical base64');
    at++;
  }
  const indexLine = lines[at];
  if (indexLine === undefined || !indexLine.startsWith('index ')) return issue('proof.index', 'missing index line');
  const indexText = indexLine.slice('index '.length);
  if (!DECIMAL.test(indexText)) return issue('proof.index', 'index must be a decimal number without leading zeros');
  const index = Number(indexText);
  if (!Number.isSafeInteger(index)) return issue('proof.index', 'index is larger than 2^53 - 1');
  at++;

  const hashLines = lines.slice(at);
  if (hashLines.length > MAX_PROOF_HASHES) return issue('proof.hashes', `more than ${MAX_PROOF_HASHES} proof hashes`);
  const hashes: Uint8Array[] = [];
  for (let i = 0; i < hashLines.length; i++) {
    const hash = decodeBase64(hashLines[i]!);
    if (hash === undefined || hash.length !== HASH_SIZE) return issue(`proof.hashes[${i}]`, `proof hash must be canonical base64 of ${HASH_SIZE} bytes`);
    hashes.push(hash);
  }

  const note = parseNote(checkpoint);
  if (!note.ok) return { ok: false, issues: note.issues.map((i) => ({ ...i, path: `proof.checkpoint.${i.path}` })) };
  const value: TlogProof = extra === undefined ? { index, hashes, checkpoint } : { index, hashes, checkpoint, extra };
  return { ok: true, value };
}

/**
 * Verifies a tlog-proof for the entry whose RFC 6962 leaf hash is `leafHash`:
 * the checkpoint must verify against known keys and come from `origin`, and
 * the inclusion proof must lead from the leaf at `index` to its root.
 */
export function verifyTlogProof(
  crypto: AuditCrypto,
  proof: string | Uint8Array | TlogProof,
  leafHash: Uint8Array,
  verifiers: readonly NoteVerifier[],
  origin: string,
): ParseResult<VerifiedTlogProof> {
  let parsed: TlogProof;
  if (typeof proof === 'string' || proof instanceof Uint8Array) {
    const result = parseTlogProof(proof);
    if (!result.ok) return result;
    parsed = result.value;
  } else {
    parsed = proof;
  }
  const opened = openCheckpoint(parsed.checkpoint, verifiers, origin);
  if (!opened.ok) return { ok: false, issues: opened.issues.map((i) => ({ ...i, path: `proof.${i.path}` })) };
  const { checkpoint, note } = opened.value;
  const check = verifyInclusion(crypto, leafHash, parsed.index, checkpoint.size, parsed.hashes, checkpoint.root);
  if (!check.ok) return issue('proof.hashes', `inclusion proof does not verify: ${check.reason}`);
  const value: VerifiedTlogProof =
    parsed.extra === undefined ? { index: parsed.index, checkpoint, note } : { index: parsed.index, checkpoint, note, extra: parsed.extra };
  return { ok: true, value };
}

function issue(path: string, message: string): { readonly ok: false; readonly issues: readonly Issue[] } {
  return { ok: false, issues: [{ path, message }] };
}

import { GovernorError, type Issue, type ParseResult } from '../../core/errors.js';
import { decodeBase64, encodeBase64 } from './bytes.js';
import { HASH_SIZE } from './merkle.js';
import { checkNoteText, openNote, signNote, type NoteSigner, type NoteVerifier, type OpenedNote } from './note.js';

/**
 * C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the note text
 * `<origin>\n<size>\n<base64 root>\n[<extension line>\n]*` signed as a note.
 */

/** A log's tree head at one size. */
export interface Checkpoint {
  /** The log's identity, e.g. `governor.example.com/audit`. */
  readonly origin: string;
  /** Number of leaves, at most 2^53 - 1 here (the spec allows u64). */
  readonly size: number;
  /** The 32-byte RFC 6962 root at `size`. */
  readonly root: Uint8Array;
  /** Opaque non-empty extension lines (NOT RECOMMENDED by the spec), in order. */
  readonly extensions: readonly string[];
}

/** A checkpoint whose note was verified against known keys. */
export interface OpenedCheckpoint {
  readonly checkpoint: Checkpoint;
  readonly note: OpenedNote;
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** The note text of a checkpoint. Throws BAD_REQUEST when a field cannot be written faithfully. */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  const { origin, size, root, extensions } = checkpoint;
  if (origin.length === 0 || origin.includes('\n')) throw new GovernorError('BAD_REQUEST', 'checkpoint origin must be one non-empty line');
  if (!Number.isSafeInteger(size) || size < 0) throw new GovernorError('BAD_REQUEST', `checkpoint size must be an integer in [0, 2^53), got ${size}`);
  if (root.length !== HASH_SIZE) throw new GovernorError('BAD_REQUEST', `checkpoint root must be ${HASH_SIZE} bytes`);
  for (const line of extensions) {
    if (line.length === 0 || line.includes('\n')) throw new GovernorError('BAD_REQUEST', 'checkpoint extension lines must be single non-empty lines');
  }
  const text = [origin, String(size), encodeBase64(root), ...extensions].join('\n') + '\n';
  const problem = checkNoteText(text);
  if (problem !== undefined) throw new GovernorError('BAD_REQUEST', problem);
  return text;
}

/**
 * Parses checkpoint note text strictly: at least three lines, each ending in a
 * newline and non-empty; the size decimal without leading zeros (and within
 * 2^53 - 1); the root canonical base64 of exactly 32 bytes; no control
 * characters.
 */
export function parseCheckpoint(text: string): ParseResult<Checkpoint> {
  const problem = checkNoteText(text);
  if (problem !== undefined) return issue('checkpoint', problem);
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) return issue('checkpoint', 'checkpoint needs origin, size and root hash lines');
  const empty = lines.findIndex((l) => l.length === 0);
  if (empty >= 0) return issue(`checkpoint.lines[${empty}]`, 'checkpoint lines must be non-empty');
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (!DECIMAL.test(sizeText)) return issue('checkpoint.size', 'size must be a decimal number without leading zeros');
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) return issue('checkpoint.size', 'size is larger than 2^53 - 1');
  const root = decodeBase64(rootText);
  if (root === undefined) return issue('checkpoint.root', 'root hash is not canonical base64');
  if (root.length !== HASH_SIZE) return issue('checkpoint.root', `root hash has ${root.length} bytes, want ${HASH_SIZE}`);
  return { ok: true, value: { origin, size, root, extensions } };
}

/** Formats and signs a checkpoint; returns the signed note. */
export function signCheckpoint(checkpoint: Checkpoint, signers: readonly NoteSigner[]): string {
  return signNote(formatCheckpoint(checkpoint), signers);
}

/**
 * Verifies a signed checkpoint note against known keys (see `openNote`),
 * parses its text, and checks that it is from the expected log `origin`.
 */
export function openCheckpoint(note: string | Uint8Array, verifiers: readonly NoteVerifier[], origin: string): ParseResult<OpenedCheckpoint> {
  const opened = openNote(note, verifiers);
  if (!opened.ok) return opened;
  const parsed = parseCheckpoint(opened.value.text);
  if (!parsed.ok) return parsed;
  if (parsed.value.origin !== origin) {
    return issue('checkpoint.origin', `checkpoint is from ${JSON.stringify(parsed.value.origin)}, want ${JSON.stringify(origin)}`);
  }
  return { ok: true, value: { checkpoint: parsed.value, note: opened.value } };
}

function issue(path: string, message: string): { readonly ok: false; readonly issues: readonly Issue[] } {
  return { ok: false, issues: [{ path, message }] };
}

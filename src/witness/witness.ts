import { GovernorError, type Issue, type ParseResult } from '../core/errors.js';
import type { AuditCrypto } from '../audit/pure/audit-crypto.js';
import { bytesEqual, decodeBase64, decodeUtf8, encodeUtf8, isValidUtf8 } from '../audit/pure/bytes.js';
import { parseCheckpoint, type Checkpoint } from '../audit/pure/checkpoint.js';
import { HASH_SIZE, emptyRoot, verifyConsistency } from '../audit/pure/merkle.js';
import { formatNote, formatSignatureLine, openNote, parseNote, type NoteSigner, type NoteVerifier } from '../audit/pure/note.js';

/**
 * A C2SP transparency-log witness (https://c2sp.org/tlog-witness): it cosigns
 * a log's checkpoint only when it is consistent with the last checkpoint it
 * cosigned for that log, so two witnessed checkpoints of one log never
 * disagree. The clock, keys and storage come in from the caller; this file
 * does no I/O of its own.
 */

/** Most consistency-proof lines in one request (the protocol's limit). */
export const MAX_PROOF_LINES = 63;

/** Where a witness keeps, per log origin, the last checkpoint it cosigned. */
export interface WitnessState {
  /** The last cosigned checkpoint note of `origin`, or undefined if there is none. */
  get(origin: string): Promise<string | undefined>;
  /** Records `note` as the last cosigned checkpoint of `origin`; durable when it resolves. */
  set(origin: string, note: string): Promise<void>;
}

/** How a witness is built. */
export interface WitnessOptions {
  readonly crypto: AuditCrypto;
  /** The witness's cosignature signer (`createCosignatureSigner`); it stamps each cosignature with its own clock. */
  readonly signer: NoteSigner;
  /** The log keys the witness trusts; a key's name is its log's origin (several keys per origin during a rotation). */
  readonly logs: readonly NoteVerifier[];
  readonly state: WitnessState;
}

/** Why a witness refused a checkpoint; the HTTP adapter maps each to its protocol status. */
export type WitnessRefusal =
  /** The request is not a well-formed add-checkpoint body, or its old size exceeds the checkpoint size (400). */
  | 'malformed'
  /** No trusted key for the checkpoint's origin (404). */
  | 'unknown-log'
  /** No signature by a trusted key of that origin verifies (403). */
  | 'unverified'
  /** The old size is not the size last cosigned, or the same size has another root (409, with `size`). */
  | 'conflict'
  /** The consistency proof does not verify (422). */
  | 'inconsistent';

/** The answer to one add-checkpoint request. */
export type AddCheckpointResult =
  | {
      readonly ok: true;
      /** The response body: the witness's cosignature line(s), each ending in a newline. */
      readonly cosignatures: string;
      readonly checkpoint: Checkpoint;
    }
  | {
      readonly ok: false;
      readonly refusal: WitnessRefusal;
      readonly message: string;
      /** With `conflict`: the size of the last checkpoint cosigned for the origin. */
      readonly size?: number;
    };

/** A parsed add-checkpoint request body. */
export interface AddCheckpointRequest {
  readonly oldSize: number;
  readonly proof: readonly Uint8Array[];
  /** The signed checkpoint note, as sent. */
  readonly note: string;
}

/** A witness: cosigns checkpoints of the logs it knows. */
export interface Witness {
  /** The witness's key name. */
  readonly name: string;
  /** The origins it witnesses. */
  readonly origins: readonly string[];
  /**
   * Checks and cosigns one add-checkpoint request body. Requests for one
   * origin are handled one at a time, and the new state is durable before
   * the cosignature is returned. Rejects only when the state cannot be read
   * or written (then nothing is cosigned).
   */
  addCheckpoint(body: Uint8Array | string): Promise<AddCheckpointResult>;
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/**
 * Parses an add-checkpoint body: `old <size>\n`, up to 63 base64 proof hash
 * lines, an empty line, then the signed checkpoint note.
 */
export function parseAddCheckpointRequest(body: Uint8Array | string): ParseResult<AddCheckpointRequest> {
  if (typeof body !== 'string' && !isValidUtf8(body)) return issue('body', 'body is not valid UTF-8');
  const text = typeof body === 'string' ? body : decodeUtf8(body);
  let at = text.indexOf('\n');
  if (at < 0) return issue('old', 'body must start with an "old <size>" line');
  const first = text.slice(0, at);
  if (!first.startsWith('old ') || !DECIMAL.test(first.slice(4))) return issue('old', 'first line must be "old <size>", the size in decimal without leading zeros');
  const oldSize = Number(first.slice(4));
  if (!Number.isSafeInteger(oldSize)) return issue('old', 'old size is larger than 2^53 - 1');
  const proof: Uint8Array[] = [];
  for (;;) {
    const start = at + 1;
    at = text.indexOf('\n', start);
    if (at < 0) return issue('proof', 'no empty line between the consistency proof and the checkpoint');
    const line = text.slice(start, at);
    if (line.length === 0) break;
    if (proof.length === MAX_PROOF_LINES) return issue('proof', `more than ${MAX_PROOF_LINES} consistency proof lines`);
    const hash = decodeBase64(line);
    if (hash === undefined || hash.length !== HASH_SIZE) return issue(`proof[${proof.length}]`, `proof line must be the canonical base64 of a ${HASH_SIZE}-byte hash`);
    proof.push(hash);
  }
  return { ok: true, value: { oldSize, proof, note: text.slice(at + 1) } };
}

/** Creates a witness over the given keys and state. */
export function createWitness(options: WitnessOptions): Witness {
  const { crypto, signer, state } = options;
  const keysByOrigin = new Map<string, NoteVerifier[]>();
  for (const key of options.logs) keysByOrigin.set(key.name, [...(keysByOrigin.get(key.name) ?? []), key]);
  const locks = new Map<string, Promise<unknown>>();
  const empty = emptyRoot(crypto);

  /** Runs `task` after every earlier task of the same origin settled. */
  const serialized = <T>(origin: string, task: () => Promise<T>): Promise<T> => {
    const previous = locks.get(origin) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.catch(() => undefined);
    locks.set(origin, tail);
    void tail.then(() => {
      if (locks.get(origin) === tail) locks.delete(origin);
    });
    return run;
  };

  const addCheckpoint = async (body: Uint8Array | string): Promise<AddCheckpointResult> => {
    const request = parseAddCheckpointRequest(body);
    if (!request.ok) return refuse('malformed', describe(request.issues));
    const note = parseNote(request.value.note);
    if (!note.ok) return refuse('malformed', `checkpoint note: ${describe(note.issues)}`);
    const parsed = parseCheckpoint(note.value.text);
    if (!parsed.ok) return refuse('malformed', `checkpoint: ${describe(parsed.issues)}`);
    const checkpoint = parsed.value;
    const keys = keysByOrigin.get(checkpoint.origin);
    if (!keys) return refuse('unknown-log', `unknown log ${JSON.stringify(checkpoint.origin)}`);
    const opened = openNote(request.value.note, keys);
    if (!opened.ok) return refuse('unverified', `checkpoint is not signed by a trusted key of ${checkpoint.origin}: ${describe(opened.issues)}`);
    const { oldSize, proof } = request.value;
    if (oldSize > checkpoint.size) return refuse('malformed', `old size ${oldSize} is larger than the checkpoint size ${checkpoint.size}`);
    if (oldSize === 0 && proof.length > 0) return refuse('malformed', 'the consistency proof must be empty when the old size is 0');

    return serialized(checkpoint.origin, async (): Promise<AddCheckpointResult> => {
      const last = await lastCosigned(checkpoint.origin);
      const lastSize = last?.size ?? 0;
      if (oldSize !== lastSize) {
        return refuse('conflict', `old size ${oldSize} is not the size last cosigned for ${checkpoint.origin} (${lastSize})`, lastSize);
      }
      if (checkpoint.size === 0 && !bytesEqual(checkpoint.root, empty)) return refuse('inconsistent', 'a checkpoint of size 0 must have the empty-tree root');
      if (last && checkpoint.size === last.size) {
        if (!bytesEqual(checkpoint.root, last.root)) return refuse('conflict', `fork: another root was cosigned for size ${last.size}`, lastSize);
        if (proof.length > 0) return refuse('inconsistent', 'the consistency proof between equal sizes must be empty');
      } else if (last && last.size > 0) {
        const check = verifyConsistency(crypto, last.size, checkpoint.size, proof, last.root, checkpoint.root);
        if (!check.ok) return refuse('inconsistent', `consistency proof from size ${last.size} to ${checkpoint.size} does not verify: ${check.reason}`);
      }
      const cosignature = { name: signer.name, keyId: signer.keyId, signature: signer.sign(encodeUtf8(opened.value.text)) };
      // Persist before answering: after a crash the witness must remember
      // every checkpoint it vouched for, or it could later cosign a fork.
      await state.set(checkpoint.origin, formatNote(opened.value.text, [...opened.value.verified, cosignature]));
      return { ok: true, cosignatures: formatSignatureLine(cosignature) + '\n', checkpoint };
    });
  };

  const lastCosigned = async (origin: string): Promise<Checkpoint | undefined> => {
    const note = await state.get(origin);
    if (note === undefined) return undefined;
    const split = parseNote(note);
    const parsed = split.ok ? parseCheckpoint(split.value.text) : split;
    if (!parsed.ok || parsed.value.origin !== origin) {
      throw new GovernorError('INTERNAL', `the witness state for ${origin} does not hold a checkpoint of that log: ${parsed.ok ? 'origin differs' : describe(parsed.issues)}`);
    }
    return parsed.value;
  };

  return Object.freeze({ name: signer.name, origins: Object.freeze([...keysByOrigin.keys()]), addCheckpoint });
}

function refuse(refusal: WitnessRefusal, message: string, size?: number): AddCheckpointResult {
  return size === undefined ? { ok: false, refusal, message } : { ok: false, refusal, message, size };
}

function describe(issues: readonly Issue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}

function issue(path: string, message: string): { readonly ok: false; readonly issues: readonly Issue[] } {
  return { ok: false, issues: [{ path, message }] };
}

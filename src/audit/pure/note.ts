import { GovernorError, type Issue, type ParseResult } from '../../core/errors.js';
import type { AuditCrypto } from './audit-crypto.js';
import {
  concatBytes,
  decodeBase64,
  decodeHex,
  decodeUtf8,
  encodeBase64,
  encodeUtf8,
  isValidUtf8,
  isWellFormedText,
} from './bytes.js';

/**
 * C2SP signed notes (https://c2sp.org/signed-note), compatible with
 * golang.org/x/mod/sumdb/note: text ending in a newline, a blank line, then
 * one or more lines `— <key name> base64(key ID ‖ signature)`.
 */

/** Largest note accepted, in bytes (1 MiB). */
export const MAX_NOTE_SIZE = 1 << 20;
/** Most signature lines accepted in one note. */
export const MAX_NOTE_SIGNATURES = 100;
/** Signature type byte of plain Ed25519 note signatures. */
export const ED25519_KEY_TYPE = 0x01;
/** Signature type byte of timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature). */
export const COSIGNATURE_KEY_TYPE = 0x04;

const SIGNATURE_PREFIX = '\u2014 ';
const PRIVATE_KEY_PREFIX = 'PRIVATE+KEY+';
/** Unicode White_Space, the set Go's unicode.IsSpace tests. */
const UNICODE_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/;

/** One signature line: the key it names and the signature bytes after the 4-byte key ID. */
export interface NoteSignature {
  readonly name: string;
  /** The key ID as an unsigned 32-bit integer (big-endian first four bytes). */
  readonly keyId: number;
  readonly signature: Uint8Array;
}

/** A note split into its text and signature lines; nothing verified yet. */
export interface Note {
  /** The signed text, final newline included. */
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

/** A note whose signatures were checked against known keys. */
export interface OpenedNote {
  readonly text: string;
  /** Signatures from known keys, all verified (at least one). Duplicates dropped. */
  readonly verified: readonly NoteSignature[];
  /** Signatures from keys not known to the caller, ignored. */
  readonly unverified: readonly NoteSignature[];
}

/** A key that can check note signatures made under one (name, key ID). */
export interface NoteVerifier {
  readonly name: string;
  readonly keyId: number;
  /** True when `signature` (the bytes after the key ID) is valid for `text` (the note text's UTF-8). */
  verify(text: Uint8Array, signature: Uint8Array): boolean;
}

/** A key that signs note text under one (name, key ID). */
export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  /** The signature bytes (without key ID) over `text` (the note text's UTF-8). */
  sign(text: Uint8Array): Uint8Array;
}

/** A parsed verifier key text `name+hex(keyID)+base64(type ‖ public key)`. */
export interface VerifierKey {
  readonly name: string;
  readonly keyId: number;
  /** Signature type byte: ED25519_KEY_TYPE or COSIGNATURE_KEY_TYPE. */
  readonly type: number;
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
}

/** True when `name` can name a key: non-empty, well-formed, no Unicode space, no `+`. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && isWellFormedText(name) && !UNICODE_SPACE.test(name) && !name.includes('+');
}

/** Key ID = first 4 bytes (big-endian) of SHA-256(name ‖ 0x0A ‖ type ‖ public key). */
export function computeKeyId(crypto: AuditCrypto, name: string, type: number, publicKey: Uint8Array): number {
  const digest = crypto.sha256(concatBytes(encodeUtf8(name), Uint8Array.of(0x0a, type), publicKey));
  return readUint32(digest, 0);
}

// ---------------------------------------------------------------------------
// Notes
// ---------------------------------------------------------------------------

interface SplitNote {
  readonly text: string;
  readonly textBytes: Uint8Array;
  readonly signatures: readonly NoteSignature[];
  /** Raw text of each signature line, to recognise repeats. */
  readonly lines: readonly string[];
}

/**
 * Splits a signed note into text and signature lines, checking its form:
 * at most 1 MiB, valid UTF-8, no control character but newline, a blank line
 * before one or more well-formed signature lines (valid key name, canonical
 * base64 of more than 4 bytes), at most 100 of them. Verifies nothing.
 */
export function parseNote(note: string | Uint8Array): ParseResult<Note> {
  const split = splitNote(note);
  if (!split.ok) return split;
  return { ok: true, value: { text: split.value.text, signatures: split.value.signatures } };
}

/**
 * Parses a note and verifies it against known keys. A signature line whose name
 * and key ID match a known key must verify, or the whole note is rejected;
 * lines from unknown keys are ignored; at least one known signature must
 * verify.
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): ParseResult<OpenedNote> {
  const split = splitNote(note);
  if (!split.ok) return split;
  const { text, textBytes, signatures, lines } = split.value;
  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seenVerified = new Set<string>();
  const seenUnverified = new Set<string>();
  for (let i = 0; i < signatures.length; i++) {
    const sig = signatures[i]!;
    const known = verifiers.filter((v) => v.name === sig.name && v.keyId === sig.keyId);
    if (known.length === 0) {
      if (!seenUnverified.has(lines[i]!)) unverified.push(sig);
      seenUnverified.add(lines[i]!);
      continue;
    }
    if (!known.some((v) => v.verify(textBytes, sig.signature))) {
      return issue(`signatures[${i}]`, `signature from known key ${sig.name}+${hex32(sig.keyId)} does not verify`);
    }
    const key = `${sig.name}+${sig.keyId}`;
    if (seenVerified.has(key)) continue;
    seenVerified.add(key);
    verified.push(sig);
  }
  if (verified.length === 0) return issue('signatures', 'no signature from a known key');
  return { ok: true, value: { text, verified, unverified } };
}

/**
 * Signs `text` with each signer and returns the signed note. Throws
 * BAD_REQUEST when `text` cannot be a note text (see `checkNoteText`).
 */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  const problem = checkNoteText(text);
  if (problem !== undefined) throw new GovernorError('BAD_REQUEST', problem);
  const bytes = encodeUtf8(text);
  return formatNote(
    text,
    signers.map((s) => ({ name: s.name, keyId: s.keyId, signature: s.sign(bytes) })),
  );
}

/**
 * Assembles a note from its text and signatures (for example a log's note plus
 * a witness cosignature). Throws BAD_REQUEST on an invalid text or key name,
 * or when there is no signature.
 */
export function formatNote(text: string, signatures: readonly NoteSignature[]): string {
  const problem = checkNoteText(text);
  if (problem !== undefined) throw new GovernorError('BAD_REQUEST', problem);
  if (signatures.length === 0) throw new GovernorError('BAD_REQUEST', 'a note needs at least one signature');
  return text + '\n' + signatures.map((s) => formatSignatureLine(s) + '\n').join('');
}

/** One signature line, without its newline: `— name base64(keyID ‖ signature)`. */
export function formatSignatureLine(signature: NoteSignature): string {
  if (!isValidKeyName(signature.name)) throw new GovernorError('BAD_REQUEST', `invalid key name ${JSON.stringify(signature.name)}`);
  const payload = new Uint8Array(4 + signature.signature.length);
  writeUint32(payload, 0, signature.keyId);
  payload.set(signature.signature, 4);
  return SIGNATURE_PREFIX + signature.name + ' ' + encodeBase64(payload);
}

/**
 * Why `text` cannot be signed as a note text, or undefined when it can: it
 * must be non-empty, end in a newline, be well-formed Unicode without control
 * characters other than newline, and fit in the note size limit.
 */
export function checkNoteText(text: string): string | undefined {
  if (!text.endsWith('\n')) return 'note text must end with a newline';
  if (!isWellFormedText(text)) return 'note text is not well-formed Unicode';
  if (CONTROL.test(text)) return 'note text contains a control character other than newline';
  if (encodeUtf8(text).length > MAX_NOTE_SIZE) return `note text is larger than ${MAX_NOTE_SIZE} bytes`;
  return undefined;
}

function splitNote(note: string | Uint8Array): ParseResult<SplitNote> {
  let bytes: Uint8Array;
  let all: string;
  if (typeof note === 'string') {
    if (note.length > MAX_NOTE_SIZE) return issue('note', `note is larger than ${MAX_NOTE_SIZE} bytes`);
    if (!isWellFormedText(note)) return issue('note', 'note is not well-formed Unicode');
    bytes = encodeUtf8(note);
    all = note;
  } else {
    if (!isValidUtf8(note)) return issue('note', 'note is not valid UTF-8');
    bytes = note;
    all = decodeUtf8(note);
  }
  if (bytes.length > MAX_NOTE_SIZE) return issue('note', `note is larger than ${MAX_NOTE_SIZE} bytes`);
  if (CONTROL.test(all)) return issue('note', 'note contains a control character other than newline');

  const split = all.lastIndexOf('\n\n');
  if (split < 0) return issue('note', 'note has no blank line before its signatures');
  const text = all.slice(0, split + 1);
  const sigBlock = all.slice(split + 2);
  if (sigBlock.length === 0 || !sigBlock.endsWith('\n')) return issue('note', 'note must end with signature lines, each ending in a newline');
  const lines = sigBlock.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) return issue('signatures', `note has more than ${MAX_NOTE_SIGNATURES} signatures`);

  const signatures: NoteSignature[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const path = `signatures[${i}]`;
    if (!line.startsWith(SIGNATURE_PREFIX)) return issue(path, 'signature line must start with an em dash (U+2014) and a space');
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(' ');
    if (space < 0) return issue(path, 'signature line must be a key name, a space and base64');
    const name = rest.slice(0, space);
    if (!isValidKeyName(name)) return issue(path, `invalid key name ${JSON.stringify(name)}`);
    const payload = decodeBase64(rest.slice(space + 1));
    if (payload === undefined) return issue(path, 'signature is not canonical base64');
    if (payload.length < 5) return issue(path, 'signature must hold a 4-byte key ID and at least one byte');
    signatures.push({ name, keyId: readUint32(payload, 0), signature: payload.slice(4) });
  }
  const textBytes = bytes.subarray(0, encodeUtf8(text).length);
  return { ok: true, value: { text, textBytes, signatures, lines } };
}

// ---------------------------------------------------------------------------
// Ed25519 keys
// ---------------------------------------------------------------------------

/** A note signer for a 32-byte Ed25519 seed, signature type 0x01. */
export function createEd25519Signer(crypto: AuditCrypto, name: string, seed: Uint8Array): NoteSigner {
  checkKey(name, seed, 'seed');
  const secret = seed.slice();
  const keyId = computeKeyId(crypto, name, ED25519_KEY_TYPE, crypto.ed25519PublicKey(secret));
  return Object.freeze({ name, keyId, sign: (text: Uint8Array) => crypto.ed25519Sign(secret, text) });
}

/** A note verifier for a 32-byte Ed25519 public key, signature type 0x01. */
export function createEd25519Verifier(crypto: AuditCrypto, name: string, publicKey: Uint8Array): NoteVerifier {
  checkKey(name, publicKey, 'public key');
  const key = publicKey.slice();
  const keyId = computeKeyId(crypto, name, ED25519_KEY_TYPE, key);
  return Object.freeze({
    name,
    keyId,
    verify: (text: Uint8Array, signature: Uint8Array) => signature.length === 64 && crypto.ed25519Verify(key, text, signature),
  });
}

/**
 * Parses a verifier key text `name+hex(keyID)+base64(type ‖ public key)` of
 * type 0x01 (Ed25519) or 0x04 (cosignature), checking that the key ID matches
 * the name and key.
 */
export function parseVerifierKey(crypto: AuditCrypto, vkey: string): ParseResult<VerifierKey> {
  const parts = splitKeyText(vkey);
  if (parts === undefined) return issue('vkey', 'verifier key must be name+keyid+base64key');
  const [name, hash, key64] = parts;
  if (!isValidKeyName(name)) return issue('vkey', `invalid key name ${JSON.stringify(name)}`);
  const keyId = parseKeyIdHex(hash);
  if (keyId === undefined) return issue('vkey', 'key ID must be 8 hex digits');
  const key = decodeBase64(key64);
  if (key === undefined || key.length === 0) return issue('vkey', 'key is not canonical base64');
  const type = key[0]!;
  if (type !== ED25519_KEY_TYPE && type !== COSIGNATURE_KEY_TYPE) return issue('vkey', `unsupported key type 0x${type.toString(16).padStart(2, '0')}`);
  const publicKey = key.slice(1);
  if (publicKey.length !== 32) return issue('vkey', `Ed25519 public key has ${publicKey.length} bytes, want 32`);
  if (computeKeyId(crypto, name, type, publicKey) !== keyId) return issue('vkey', 'key ID does not match the name and key');
  return { ok: true, value: { name, keyId, type, publicKey } };
}

/** The verifier key text for a 32-byte Ed25519 public key of the given type (0x01 by default). */
export function formatVerifierKey(crypto: AuditCrypto, name: string, publicKey: Uint8Array, type: number = ED25519_KEY_TYPE): string {
  checkKey(name, publicKey, 'public key');
  const keyId = computeKeyId(crypto, name, type, publicKey);
  return `${name}+${hex32(keyId)}+${encodeBase64(concatBytes(Uint8Array.of(type), publicKey))}`;
}

/** The signer key text `PRIVATE+KEY+name+hex(keyID)+base64(0x01 ‖ seed)` (golang.org/x/mod/sumdb/note format). */
export function formatSignerKey(crypto: AuditCrypto, name: string, seed: Uint8Array): string {
  checkKey(name, seed, 'seed');
  const keyId = computeKeyId(crypto, name, ED25519_KEY_TYPE, crypto.ed25519PublicKey(seed));
  return `${PRIVATE_KEY_PREFIX}${name}+${hex32(keyId)}+${encodeBase64(concatBytes(Uint8Array.of(ED25519_KEY_TYPE), seed))}`;
}

/**
 * Parses a signer key text into an Ed25519 note signer, checking that its key
 * ID matches the public key derived from the seed. Issues never echo the key.
 */
export function parseSignerKey(crypto: AuditCrypto, skey: string): ParseResult<NoteSigner> {
  if (!skey.startsWith(PRIVATE_KEY_PREFIX)) return issue('skey', 'signer key must start with PRIVATE+KEY+');
  const parts = splitKeyText(skey.slice(PRIVATE_KEY_PREFIX.length));
  if (parts === undefined) return issue('skey', 'signer key must be PRIVATE+KEY+name+keyid+base64key');
  const [name, hash, key64] = parts;
  if (!isValidKeyName(name)) return issue('skey', 'invalid key name');
  const keyId = parseKeyIdHex(hash);
  if (keyId === undefined) return issue('skey', 'key ID must be 8 hex digits');
  const key = decodeBase64(key64);
  if (key === undefined || key.length !== 33 || key[0] !== ED25519_KEY_TYPE) return issue('skey', 'key must be base64 of 0x01 and a 32-byte Ed25519 seed');
  const signer = createEd25519Signer(crypto, name, key.subarray(1));
  if (signer.keyId !== keyId) return issue('skey', 'key ID does not match the name and key');
  return { ok: true, value: signer };
}

function splitKeyText(text: string): [string, string, string] | undefined {
  const a = text.indexOf('+');
  if (a < 0) return undefined;
  const b = text.indexOf('+', a + 1);
  if (b < 0) return undefined;
  return [text.slice(0, a), text.slice(a + 1, b), text.slice(b + 1)];
}

function parseKeyIdHex(hash: string): number | undefined {
  if (hash.length !== 8) return undefined;
  const bytes = decodeHex(hash);
  return bytes === undefined ? undefined : readUint32(bytes, 0);
}

function checkKey(name: string, key: Uint8Array, what: string): void {
  if (!isValidKeyName(name)) throw new GovernorError('KEY_INVALID', `invalid key name ${JSON.stringify(name)}`);
  if (key.length !== 32) throw new GovernorError('KEY_INVALID', `Ed25519 ${what} must be 32 bytes`);
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

/** Eight lowercase hex digits of an unsigned 32-bit key ID. */
function hex32(value: number): string {
  return (value >>> 0).toString(16).padStart(8, '0');
}

function readUint32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

function writeUint32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}

function issue(path: string, message: string): { readonly ok: false; readonly issues: readonly Issue[] } {
  return { ok: false, issues: [{ path, message }] };
}


import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nodeAuditCrypto as crypto } from '../node-crypto.js';
import { openCheckpoint, parseCheckpoint } from './checkpoint.js';
import { encodeBase64, encodeHex, encodeUtf8 } from './bytes.js';
import { hashLeaf } from './merkle.js';
import {
  MAX_NOTE_SIGNATURES,
  MAX_NOTE_SIZE,
  createEd25519Signer,
  createEd25519Verifier,
  formatNote,
  formatSignerKey,
  formatVerifierKey,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  type NoteVerifier,
} from './note.js';
import { parseNoteVerifier } from './note-verifier.js';

const VECTORS = new URL('../../../../shared/vectors/', import.meta.url);

interface NoteVector {
  name: string;
  vkey?: string;
  skey?: string;
  note?: string;
  text?: string;
  valid?: boolean;
  expectedSignatureLine?: string;
  checkpoint?: { origin: string; size: number; rootBase64: string };
  signatures?: { vkey: string; line: string }[];
}
const vectors = (JSON.parse(readFileSync(new URL('signed-notes.json', VECTORS), 'utf8')) as { notes: NoteVector[] }).notes;
const vector = (name: string): NoteVector => vectors.find((v) => v.name === name)!;

function verifierOf(vkey: string): NoteVerifier {
  const parsed = parseNoteVerifier(crypto, vkey);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.value;
}

describe('signed-note vectors', () => {
  it.each(vectors.filter((v) => v.note !== undefined && v.vkey !== undefined))('$name verifies', (v) => {
    const opened = openNote(v.note!, [verifierOf(v.vkey!)]);
    expect(opened.ok).toBe(v.valid);
    // The same note as bytes.
    expect(openNote(encodeUtf8(v.note!), [verifierOf(v.vkey!)]).ok).toBe(v.valid);
  });

  it('reproduces the sumdb signature line byte for byte from the private key', () => {
    const v = vector('sumdb-note-signing');
    const signer = parseSignerKey(crypto, v.skey!);
    expect(signer.ok).toBe(true);
    if (!signer.ok) return;
    const note = signNote(v.text!, [signer.value]);
    expect(note).toBe(`${v.text!}\n${v.expectedSignatureLine!}\n`);
    expect(openNote(note, [verifierOf(v.vkey!)]).ok).toBe(true);
  });

  it('formats the sumdb key texts from the seed and public key', () => {
    const v = vector('sumdb-note-signing');
    const seed = Buffer.from(v.skey!.slice('PRIVATE+KEY+PeterNeumann+c74f20a3+'.length), 'base64').subarray(1);
    expect(seed.length).toBe(32);
    expect(formatSignerKey(crypto, 'PeterNeumann', seed)).toBe(v.skey);
    expect(formatVerifierKey(crypto, 'PeterNeumann', crypto.ed25519PublicKey(seed))).toBe(v.vkey);
    const parsed = parseVerifierKey(crypto, v.vkey!);
    expect(parsed.ok && encodeHex(parsed.value.publicKey)).toBe(encodeHex(crypto.ed25519PublicKey(seed)));
  });

  it('ignores the signature from an unknown key', () => {
    const v = vector('sumdb-note-second-signer');
    const opened = openNote(v.note!, [verifierOf(v.vkey!)]);
    expect(opened.ok).toBe(true);
    if (!opened.ok) return;
    expect(opened.value.verified.map((s) => s.name)).toEqual(['EnochRoot']);
    expect(opened.value.unverified.map((s) => s.name)).toEqual(['PeterNeumann']);
    expect(opened.value.text).toBe(vector('sumdb-note-signing').text);
  });

  it('opens the sum.golang.org checkpoint', () => {
    const v = vector('sum.golang.org-checkpoint');
    const opened = openCheckpoint(v.note!, [verifierOf(v.vkey!)], v.checkpoint!.origin);
    expect(opened.ok).toBe(true);
    if (!opened.ok) return;
    expect(opened.value.checkpoint.size).toBe(v.checkpoint!.size);
    expect(encodeBase64(opened.value.checkpoint.root)).toBe(v.checkpoint!.rootBase64);
    expect(openCheckpoint(v.note!, [verifierOf(v.vkey!)], 'go.sum database tree ').ok).toBe(false);
  });

  it('verifies each extra signer of the sum.golang.org checkpoint, and M-of-N together', () => {
    const v = vector('sum.golang.org-checkpoint-extra-signers');
    for (const s of v.signatures!) {
      expect(openNote(`${v.text!}\n${s.line}\n`, [verifierOf(s.vkey)]).ok, s.vkey).toBe(true);
    }
    const all = `${v.text!}\n${v.signatures!.map((s) => s.line + '\n').join('')}`;
    const opened = openNote(all, v.signatures!.map((s) => verifierOf(s.vkey)));
    expect(opened.ok && opened.value.verified.length).toBe(3);
  });

  it('parses the sumdb tree text, whose root is the leaf hash of "hello world"', () => {
    const parsed = parseCheckpoint(vector('sumdb-tree-format').text!);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.size).toBe(123456789012);
    expect(encodeHex(parsed.value.root)).toBe(encodeHex(hashLeaf(crypto, encodeUtf8('hello world'))));
  });

  it('rejects a bit flip in any byte of the text or of a known signature line', () => {
    const cases = [
      ...vectors.filter((v) => v.valid === true && v.note !== undefined).map((v) => ({ note: v.note!, vkey: v.vkey! })),
      ...vector('sum.golang.org-checkpoint-extra-signers').signatures!.map((s) => ({ note: `${vector('sum.golang.org-checkpoint-extra-signers').text!}\n${s.line}\n`, vkey: s.vkey })),
    ];
    let flips = 0;
    for (const { note, vkey } of cases) {
      const verifier = verifierOf(vkey);
      const bytes = encodeUtf8(note);
      // Bytes outside the known key's line are fair game only in the text.
      const known = note.indexOf(`\u2014 ${verifier.name} `);
      const lineStart = encodeUtf8(note.slice(0, known)).length;
      const lineEnd = lineStart + encodeUtf8(note.slice(known, note.indexOf('\n', known) + 1)).length;
      const textEnd = encodeUtf8(note.slice(0, note.lastIndexOf('\n\n') + 1)).length;
      for (let i = 0; i < bytes.length; i++) {
        if (i >= textEnd && (i < lineStart || i >= lineEnd)) continue;
        // One bit per byte, cycling through the bit positions.
        const bit = i % 8;
        const tampered = bytes.slice();
        tampered[i]! ^= 1 << bit;
        expect(openNote(tampered, [verifier]).ok, `byte ${i} bit ${bit} of ${verifier.name}`).toBe(false);
        flips++;
      }
    }
    expect(flips).toBeGreaterThan(900);
  });
});

describe('signed notes', () => {
  const seed = new Uint8Array(32).fill(7);
  const signer = createEd25519Signer(crypto, 'governor.example/audit', seed);
  const verifier = createEd25519Verifier(crypto, 'governor.example/audit', crypto.ed25519PublicKey(seed));
  const other = createEd25519Signer(crypto, 'other.example', new Uint8Array(32).fill(9));
  const note = signNote('hello\n\nworld\n', [signer]);

  it('round-trips text with blank lines and non-ASCII', () => {
    const text = 'line one\n\nümlaut — dash \u{1F600}\n';
    const opened = openNote(signNote(text, [signer, other]), [verifier]);
    expect(opened.ok && opened.value.text).toBe(text);
    expect(opened.ok && opened.value.unverified.length).toBe(1);
  });

  it('keeps a leading byte-order mark as part of the signed text', () => {
    const text = '\uFEFFbom\n';
    const signed = signNote(text, [signer]);
    const fromString = openNote(signed, [verifier]);
    const fromBytes = openNote(encodeUtf8(signed), [verifier]);
    expect(fromString.ok && fromString.value.text).toBe(text);
    expect(fromBytes.ok && fromBytes.value.text).toBe(text);
  });

  it('needs a verified signature from a known key', () => {
    expect(openNote(note, [verifier]).ok).toBe(true);
    const unknown = openNote(note, []);
    expect(unknown.ok).toBe(false);
    expect(!unknown.ok && unknown.issues[0]!.message).toMatch(/no signature from a known key/);
    // Same name, other key ID: ignored, so no known signature.
    expect(openNote(note, [createEd25519Verifier(crypto, 'governor.example/audit', crypto.ed25519PublicKey(new Uint8Array(32)))]).ok).toBe(false);
  });

  it('rejects the whole note when a known key signature fails, even next to a good one', () => {
    const good = parseNote(note);
    if (!good.ok) throw new Error('parse');
    const sig = good.value.signatures[0]!;
    const bad = { ...sig, signature: sig.signature.map((b, i) => (i === 0 ? b ^ 1 : b)) };
    const twice = formatNote(good.value.text, [sig, bad]);
    const opened = openNote(twice, [verifier]);
    expect(opened.ok).toBe(false);
    expect(!opened.ok && opened.issues[0]).toMatchObject({ path: 'signatures[1]' });
  });

  it('drops duplicate signatures', () => {
    const good = parseNote(note);
    if (!good.ok) throw new Error('parse');
    const dup = formatNote(good.value.text, [good.value.signatures[0]!, good.value.signatures[0]!]);
    const opened = openNote(dup, [verifier]);
    expect(opened.ok && opened.value.verified.length).toBe(1);
  });

  it.each([
    ['no blank line', 'hello\n\u2014 a AAAAAAA=\n'],
    ['no signature', 'hello\n\n'],
    ['no final newline', note.slice(0, -1)],
    ['text without newline', 'hello'],
    ['hyphen instead of em dash', note.replace('\u2014', '-')],
    ['missing space after the dash', note.replace('\u2014 ', '\u2014')],
    ['no space before the signature', note.replace('audit ', 'audit')],
    ['non-canonical base64', note.replace(/=\n$/, '\n')],
    ['too short signature', 'hello\n\n\u2014 a AAAAAA==\n'],
    ['empty key name', 'hello\n\n\u2014  AAAAAAA=\n'],
    ['plus in key name', 'hello\n\n\u2014 a+b AAAAAAA=\n'],
    ['unicode space in key name', 'hello\n\n\u2014 a\u00a0b AAAAAAA=\n'],
    ['tab in text', 'hel\tlo\n\n\u2014 a AAAAAAA=\n'],
    ['carriage return', 'hello\r\n\n\u2014 a AAAAAAA=\n'],
    ['NUL', 'hel\u0000lo\n\n\u2014 a AAAAAAA=\n'],
    ['lone surrogate', 'hel\uD800lo\n\n\u2014 a AAAAAAA=\n'],
  ])('rejects a malformed note: %s', (_, text) => {
    expect(parseNote(text).ok).toBe(false);
    expect(openNote(text, [verifier]).ok).toBe(false);
  });

  it('treats lines before the last blank line as text, so a signature line moved there breaks the signature', () => {
    const sigLine = note.slice(note.lastIndexOf('\u2014'));
    const moved = note + '\n' + sigLine;
    expect(parseNote(moved).ok && parseNote(moved)).toMatchObject({ value: { text: note } });
    expect(openNote(moved, [verifier]).ok).toBe(false);
  });

  it('rejects invalid UTF-8 bytes', () => {
    const bytes = encodeUtf8(note);
    const bad = Uint8Array.from([...bytes.subarray(0, 2), 0xff, ...bytes.subarray(2)]);
    expect(parseNote(bad).ok).toBe(false);
    const overlong = Uint8Array.from([...bytes.subarray(0, 2), 0xc0, 0xaf, ...bytes.subarray(2)]);
    expect(parseNote(overlong).ok).toBe(false);
  });

  it(`accepts ${MAX_NOTE_SIGNATURES} signatures and rejects more`, () => {
    const unknownLine = '\u2014 stranger AAAAAAA=\n';
    const limit = note + unknownLine.repeat(MAX_NOTE_SIGNATURES - 1);
    expect(openNote(limit, [verifier]).ok).toBe(true);
    const over = limit + unknownLine;
    expect(parseNote(over).ok).toBe(false);
    expect(openNote(over, [verifier]).ok).toBe(false);
  });

  it(`accepts notes up to ${MAX_NOTE_SIZE} bytes and rejects larger ones`, () => {
    const sigBlock = encodeUtf8(note.slice(note.lastIndexOf('\n\n') + 1));
    const pad = (n: number): string => 'x'.repeat(n - 1) + '\n';
    const fits = signNote(pad(MAX_NOTE_SIZE - sigBlock.length), [signer]);
    expect(encodeUtf8(fits).length).toBe(MAX_NOTE_SIZE);
    expect(openNote(fits, [verifier]).ok).toBe(true);
    const tooBig = signNote(pad(MAX_NOTE_SIZE - sigBlock.length + 1), [signer]);
    expect(openNote(tooBig, [verifier]).ok).toBe(false);
    expect(openNote(encodeUtf8(tooBig), [verifier]).ok).toBe(false);
    expect(() => signNote(pad(MAX_NOTE_SIZE + 1), [signer])).toThrow(/larger/);
  });

  it('refuses to sign text that cannot be a note', () => {
    expect(() => signNote('no newline', [signer])).toThrow(/newline/);
    expect(() => signNote('tab\there\n', [signer])).toThrow(/control/);
    expect(() => formatNote('ok\n', [])).toThrow(/at least one/);
  });
});

describe('key texts', () => {
  const seed = new Uint8Array(32).fill(3);
  const pub = crypto.ed25519PublicKey(seed);

  it('round-trip', () => {
    const skey = formatSignerKey(crypto, 'log.example/a', seed);
    const vkey = formatVerifierKey(crypto, 'log.example/a', pub);
    const signer = parseSignerKey(crypto, skey);
    expect(signer.ok).toBe(true);
    if (!signer.ok) return;
    expect(openNote(signNote('x\n', [signer.value]), [verifierOf(vkey)]).ok).toBe(true);
  });

  it.each([
    ['no key ID', 'log.example/a+AQ=='],
    ['short key ID', 'log.example/a+abc+' + encodeBase64(Uint8Array.of(1, ...pub))],
    ['non-hex key ID', 'log.example/a+zzzzzzzz+' + encodeBase64(Uint8Array.of(1, ...pub))],
    ['wrong key ID', 'log.example/a+00000000+' + encodeBase64(Uint8Array.of(1, ...pub))],
    ['unknown type', formatVerifierKey(crypto, 'log.example/a', pub, 0x02)],
    ['short key', 'log.example/a+00000000+' + encodeBase64(Uint8Array.of(1, ...pub.subarray(1)))],
    ['space in name', 'log example+00000000+' + encodeBase64(Uint8Array.of(1, ...pub))],
  ])('rejects a bad verifier key: %s', (_, vkey) => {
    expect(parseVerifierKey(crypto, vkey).ok).toBe(false);
  });

  it('rejects a bad signer key without echoing it', () => {
    const skey = formatSignerKey(crypto, 'log.example/a', seed);
    const wrongId = skey.replace(/\+[0-9a-f]{8}\+/, '+00000000+');
    const result = parseSignerKey(crypto, wrongId);
    expect(result.ok).toBe(false);
    expect(JSON.stringify(result)).not.toContain(skey.split('+').at(-1));
    expect(parseSignerKey(crypto, skey.replace('PRIVATE+KEY+', '')).ok).toBe(false);
    expect(parseSignerKey(crypto, skey.slice(0, -4) + 'AAA=').ok).toBe(false);
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nodeAuditCrypto as crypto } from '../node-crypto.js';
import { decodeHex, encodeHex, encodeUtf8 } from './bytes.js';
import { signCheckpoint, openCheckpoint } from './checkpoint.js';
import { cosignatureMessage, cosignatureTimestamp, createCosignatureSigner, createCosignatureVerifier } from './cosignature.js';
import { COSIGNATURE_KEY_TYPE, createEd25519Signer, createEd25519Verifier, formatNote, formatSignatureLine, formatVerifierKey, openNote, parseNote, parseVerifierKey, signNote } from './note.js';
import { parseNoteVerifier } from './note-verifier.js';

const VECTORS = new URL('../../../../shared/vectors/', import.meta.url);
const v = JSON.parse(readFileSync(new URL('cosignature.json', VECTORS), 'utf8')) as { vkey: string; signedMessage: string; sigHex: string; line: string };

const HEADER_LINES = 'cosignature/v1\ntime 1679315147\n';
const body = v.signedMessage.slice(HEADER_LINES.length);
// RFC 8032 §7.1 TEST 1, the key the vector was made with.
const rfc8032Seed = decodeHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60')!;

describe('tlog-cosignature/v1 vector', () => {
  it('parses the 0x04 verifier key', () => {
    const key = parseVerifierKey(crypto, v.vkey);
    expect(key.ok && key.value.type).toBe(COSIGNATURE_KEY_TYPE);
    expect(key.ok && encodeHex(key.value.publicKey)).toBe(encodeHex(crypto.ed25519PublicKey(rfc8032Seed)));
    expect(formatVerifierKey(crypto, 'witness.example.com/w1', crypto.ed25519PublicKey(rfc8032Seed), COSIGNATURE_KEY_TYPE)).toBe(v.vkey);
  });

  it('builds the signed message, whose signature is the vector signature', () => {
    expect(v.signedMessage.startsWith(HEADER_LINES)).toBe(true);
    const message = cosignatureMessage(body, 1679315147);
    expect(new TextDecoder().decode(message)).toBe(v.signedMessage);
    expect(crypto.ed25519Verify(crypto.ed25519PublicKey(rfc8032Seed), message, decodeHex(v.sigHex)!)).toBe(true);
  });

  it('verifies the cosignature line on the checkpoint and reads its timestamp', () => {
    const verifier = parseNoteVerifier(crypto, v.vkey);
    if (!verifier.ok) throw new Error('vkey');
    const opened = openNote(`${body}\n${v.line}\n`, [verifier.value]);
    expect(opened.ok).toBe(true);
    if (!opened.ok) return;
    expect(cosignatureTimestamp(opened.value.verified[0]!)).toBe(1679315147);
    expect(encodeHex(opened.value.verified[0]!.signature.subarray(8))).toBe(v.sigHex);
  });

  it('reproduces the cosignature line byte for byte', () => {
    const cosigner = createCosignatureSigner(crypto, 'witness.example.com/w1', rfc8032Seed, () => 1679315147);
    const signature = cosigner.sign(encodeUtf8(body));
    expect(formatSignatureLine({ name: cosigner.name, keyId: cosigner.keyId, signature })).toBe(v.line);
  });

  it('rejects a changed timestamp, checkpoint or signature, and a plain Ed25519 signature by the same key', () => {
    const verifier = createCosignatureVerifier(crypto, 'witness.example.com/w1', crypto.ed25519PublicKey(rfc8032Seed));
    const parsed = parseNote(`${body}\n${v.line}\n`);
    if (!parsed.ok) throw new Error('parse');
    const sig = parsed.value.signatures[0]!.signature;
    const text = encodeUtf8(body);
    expect(verifier.verify(text, sig)).toBe(true);
    for (const i of [7, 8, 71]) {
      const bad = sig.slice();
      bad[i]! ^= 1;
      expect(verifier.verify(text, bad), `byte ${i}`).toBe(false);
    }
    expect(verifier.verify(encodeUtf8(body.replace('20852163', '20852164')), sig)).toBe(false);
    expect(verifier.verify(text, sig.subarray(8))).toBe(false);
    const plain = createEd25519Signer(crypto, 'witness.example.com/w1', rfc8032Seed);
    expect(plain.keyId).not.toBe(verifier.keyId);
    expect(openNote(signNote(body, [plain]), [verifier]).ok).toBe(false);
  });
});

describe('witnessed checkpoints', () => {
  const logSeed = new Uint8Array(32).fill(1);
  const witnessSeed = new Uint8Array(32).fill(2);
  const log = createEd25519Signer(crypto, 'governor.example/audit', logSeed);
  const logVerifier = createEd25519Verifier(crypto, 'governor.example/audit', crypto.ed25519PublicKey(logSeed));
  const witness = createCosignatureSigner(crypto, 'witness.example/w', witnessSeed, () => 1_700_000_000);
  const witnessVerifier = createCosignatureVerifier(crypto, 'witness.example/w', crypto.ed25519PublicKey(witnessSeed));

  it('adds a cosignature to a log-signed checkpoint, and both verify', () => {
    const signed = signCheckpoint({ origin: 'governor.example/audit', size: 3, root: new Uint8Array(32).fill(5), extensions: [] }, [log]);
    const parsed = parseNote(signed);
    if (!parsed.ok) throw new Error('parse');
    const cosig = { name: witness.name, keyId: witness.keyId, signature: witness.sign(encodeUtf8(parsed.value.text)) };
    const witnessed = formatNote(parsed.value.text, [...parsed.value.signatures, cosig]);
    const opened = openCheckpoint(witnessed, [logVerifier, witnessVerifier], 'governor.example/audit');
    expect(opened.ok && opened.value.note.verified.map((s) => s.name)).toEqual(['governor.example/audit', 'witness.example/w']);
    // A client that only knows the log key ignores the cosignature.
    expect(openCheckpoint(witnessed, [logVerifier], 'governor.example/audit').ok).toBe(true);
  });

  it('refuses to cosign with an impossible clock', () => {
    const broken = createCosignatureSigner(crypto, 'witness.example/w', witnessSeed, () => -1);
    expect(() => broken.sign(encodeUtf8('x\n'))).toThrow(/timestamp/);
    expect(() => cosignatureMessage('x\n', 1.5)).toThrow(/timestamp/);
  });
});

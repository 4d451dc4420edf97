import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeAuditCrypto as crypto } from '../node-crypto.js';
import { encodeBase64 } from './bytes.js';
import { formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint, type Checkpoint } from './checkpoint.js';
import { createEd25519Signer, createEd25519Verifier, signNote } from './note.js';

const root = new Uint8Array(32).map((_, i) => i);
const r64 = encodeBase64(root);

describe('checkpoint text', () => {
  it('round-trips any valid checkpoint', () => {
    const line = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/[\u0000-\u001f]/.test(s) && !/[\uD800-\uDFFF]/.test(s));
    fc.assert(
      fc.property(line, fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.array(line, { maxLength: 3 }), (origin, size, r, extensions) => {
        const checkpoint: Checkpoint = { origin, size, root: r, extensions };
        const text = formatCheckpoint(checkpoint);
        expect(parseCheckpoint(text)).toEqual({ ok: true, value: checkpoint });
      }),
    );
  });

  it('writes the C2SP layout', () => {
    expect(formatCheckpoint({ origin: 'example.com/log', size: 0, root, extensions: ['ext one'] })).toBe(`example.com/log\n0\n${r64}\next one\n`);
  });

  it.each([
    ['no final newline', `o\n1\n${r64}`],
    ['two lines', `o\n1\n`],
    ['empty origin', `\n1\n${r64}\n`],
    ['leading zero', `o\n01\n${r64}\n`],
    ['sign', `o\n+1\n${r64}\n`],
    ['negative', `o\n-1\n${r64}\n`],
    ['space', `o\n 1\n${r64}\n`],
    ['hex size', `o\n0x1\n${r64}\n`],
    ['beyond 2^53', `o\n9007199254740992\n${r64}\n`],
    ['short root', `o\n1\n${encodeBase64(root.subarray(1))}\n`],
    ['unpadded root', `o\n1\n${r64.slice(0, -1)}\n`],
    ['url-safe root', `o\n1\n${encodeBase64(new Uint8Array(32).fill(0xfb))}\n`.replace(/\+/g, '-')],
    ['empty extension line', `o\n1\n${r64}\n\next\n`],
    ['control character', `o\t\n1\n${r64}\n`],
    ['carriage return', `o\r\n1\n${r64}\n`],
  ])('rejects %s', (_, text) => {
    expect(parseCheckpoint(text).ok).toBe(false);
  });

  it('refuses to format what it could not parse back', () => {
    expect(() => formatCheckpoint({ origin: '', size: 1, root, extensions: [] })).toThrow();
    expect(() => formatCheckpoint({ origin: 'a\nb', size: 1, root, extensions: [] })).toThrow();
    expect(() => formatCheckpoint({ origin: 'o', size: -1, root, extensions: [] })).toThrow();
    expect(() => formatCheckpoint({ origin: 'o', size: 1, root: root.subarray(1), extensions: [] })).toThrow();
    expect(() => formatCheckpoint({ origin: 'o', size: 1, root, extensions: [''] })).toThrow();
    expect(() => formatCheckpoint({ origin: 'o\t', size: 1, root, extensions: [] })).toThrow();
  });
});

describe('openCheckpoint', () => {
  const seed = new Uint8Array(32).fill(4);
  const signer = createEd25519Signer(crypto, 'governor.example/audit', seed);
  const verifier = createEd25519Verifier(crypto, 'governor.example/audit', crypto.ed25519PublicKey(seed));
  const signed = signCheckpoint({ origin: 'governor.example/audit', size: 42, root, extensions: [] }, [signer]);

  it('verifies signature and origin', () => {
    const opened = openCheckpoint(signed, [verifier], 'governor.example/audit');
    expect(opened.ok && opened.value.checkpoint.size).toBe(42);
    expect(openCheckpoint(signed, [verifier], 'other.example/audit')).toMatchObject({ ok: false, issues: [{ path: 'checkpoint.origin' }] });
    expect(openCheckpoint(signed.replace('\n42\n', '\n43\n'), [verifier], 'governor.example/audit').ok).toBe(false);
    expect(openCheckpoint(signed, [], 'governor.example/audit').ok).toBe(false);
  });

  it('rejects a validly signed note whose text is not a checkpoint', () => {
    const note = signNote(`governor.example/audit\n042\n${r64}\n`, [signer]);
    expect(openCheckpoint(note, [verifier], 'governor.example/audit')).toMatchObject({ ok: false, issues: [{ path: 'checkpoint.size' }] });
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase64, decodeHex, decodeUtf8, encodeBase64, encodeHex, isValidUtf8, isWellFormedText } from './bytes.js';

describe('base64', () => {
  it('matches Buffer for any bytes and round-trips', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const text = encodeBase64(bytes);
        expect(text).toBe(Buffer.from(bytes).toString('base64'));
        expect(decodeBase64(text)).toEqual(bytes);
      }),
    );
  });

  it('accepts only the canonical encoding', () => {
    expect(decodeBase64('')).toEqual(new Uint8Array(0));
    for (const bad of ['A', 'AA', 'AA=', 'AAA', 'AB==', 'AAB=', 'A===', '=AAA', 'AA=A', 'AA AA', 'AA\n==', 'AA-_', 'AAé=', 'AA==AA==']) {
      expect(decodeBase64(bad), bad).toBeUndefined();
    }
    expect(decodeBase64('AA==')).toEqual(Uint8Array.of(0));
    expect(decodeBase64('AAE=')).toEqual(Uint8Array.of(0, 1));
  });
});

describe('hex', () => {
  it('round-trips and rejects malformed text', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(decodeHex(encodeHex(bytes))).toEqual(bytes);
      }),
    );
    expect(decodeHex('0A0b')).toEqual(Uint8Array.of(10, 11));
    for (const bad of ['0', 'zz', '0x00', ' 00']) expect(decodeHex(bad), bad).toBeUndefined();
  });
});

describe('UTF-8', () => {
  const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  it('validates exactly like a fatal TextDecoder', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (bytes) => {
        let want = true;
        try {
          strict.decode(bytes);
        } catch {
          want = false;
        }
        expect(isValidUtf8(bytes)).toBe(want);
      }),
      { numRuns: 20000 },
    );
  });

  it('rejects overlong forms, surrogates and code points beyond U+10FFFF', () => {
    for (const bad of [[0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8], [0x80], [0xe2, 0x80]]) {
      expect(isValidUtf8(Uint8Array.from(bad)), bad.join(',')).toBe(false);
    }
    expect(isValidUtf8(new TextEncoder().encode('— ok \u{10FFFF}'))).toBe(true);
  });

  it('decodes a leading byte-order mark instead of dropping it', () => {
    expect(decodeUtf8(Uint8Array.of(0xef, 0xbb, 0xbf, 0x41))).toBe('\uFEFFA');
  });

  it('spots lone surrogates', () => {
    expect(isWellFormedText('a\u{1F600}b')).toBe(true);
    expect(isWellFormedText('a\uD83Db')).toBe(false);
    expect(isWellFormedText('\uDE00')).toBe(false);
  });
});

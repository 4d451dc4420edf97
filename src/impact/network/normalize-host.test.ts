import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeHost } from './normalize-host.js';

const ldh = fc.string({ unit: fc.constantFrom(...'abcxz0189-_.'), minLength: 1, maxLength: 30 });
const whatwg = (host: string): string | null => {
  try {
    return new URL(`http://${host}/`).hostname;
  } catch {
    return null;
  }
};

describe('normalizeHost', () => {
  it('agrees with the WHATWG host parser on plain names, including the ones it takes as IPv4', () => {
    fc.assert(
      fc.property(fc.oneof(ldh, ldh.map((s) => `xn--${s}`), ldh.map((s) => s.toUpperCase())), (raw) => {
        const ours = normalizeHost(raw);
        const theirs = whatwg(raw);
        if (!ours.ok) return;
        expect(theirs).not.toBeNull();
        const settled = whatwg((theirs ?? '').replace(/\.+$/, ''));
        expect(ours.value.host).toBe(settled);
      }),
      { numRuns: 5000 },
    );
  });

  it('bounds names at 253 characters and labels at 63', () => {
    expect(normalizeHost(`${'a.'.repeat(126)}a`).ok).toBe(true);
    expect(normalizeHost(`${'a.'.repeat(126)}ab`).ok).toBe(false);
    expect(normalizeHost('a'.repeat(63)).ok).toBe(true);
    expect(normalizeHost('a'.repeat(64)).ok).toBe(false);
  });

  it('takes names ending in a number as IPv4 or refuses them', () => {
    expect(normalizeHost('a.0x10').ok).toBe(false);
    expect(normalizeHost('1.0x10')).toMatchObject({ ok: true, value: { host: '1.0.0.16' } });
    expect(normalizeHost('a.1b')).toMatchObject({ ok: true, value: { host: 'a.1b', ip: null } });
  });
});

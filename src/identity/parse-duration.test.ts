import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDuration } from './parse-duration.js';

describe('parseDuration', () => {
  it.each([
    ['900', 900],
    ['0', 0],
    ['30s', 30],
    ['15m', 900],
    ['1h', 3_600],
    ['1d', 86_400],
    ['007s', 7],
    [900, 900],
    [0, 0],
  ] as const)('parses %j as %d seconds', (input, seconds) => {
    expect(parseDuration(input)).toEqual({ ok: true, value: seconds });
  });

  it.each([
    '',
    ' 15m',
    '15m ',
    '15 m',
    '1.5h',
    '+5m',
    '15M',
    '15H',
    '15min',
    '1h30m',
    '1e3',
    '0x10',
    'm',
    '15mm',
    'Infinity',
    'NaN',
    '١٥m',
    '15\n',
    '12345678901234567',
  ])('rejects junk %j', (input) => {
    const result = parseDuration(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues[0]?.message).toMatch(/expected a duration/);
  });

  it.each(['-5', '-5m', -1])('rejects negative %j', (input) => {
    const result = parseDuration(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues[0]?.message).toMatch(/negative/);
  });

  it.each(['9007199254740992', '9999999999999999d', '104249991375d'])('rejects overflow %j', (input) => {
    const result = parseDuration(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues[0]?.message).toMatch(/too large/);
  });

  it('accepts the largest safe number of seconds and no more', () => {
    expect(parseDuration(String(Number.MAX_SAFE_INTEGER))).toEqual({ ok: true, value: Number.MAX_SAFE_INTEGER });
    expect(parseDuration('104249991375d')).toMatchObject({ ok: false }); // 104249991375 * 86400 > 2^53 - 1
    expect(parseDuration('104249991374d')).toEqual({ ok: true, value: 104_249_991_374 * 86_400 });
  });

  it.each([1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])('rejects the number %d', (input) => {
    expect(parseDuration(input).ok).toBe(false);
  });

  it('keeps a long input out of the message', () => {
    const result = parseDuration('x'.repeat(10_000));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues[0]?.message.length).toBeLessThan(120);
  });

  it('is n times the unit for every n and unit', () => {
    const units = { '': 1, s: 1, m: 60, h: 3_600, d: 86_400 } as const;
    fc.assert(
      fc.property(fc.nat(10_000_000), fc.constantFrom(...(Object.keys(units) as (keyof typeof units)[])), (n, unit) => {
        expect(parseDuration(`${n}${unit}`)).toEqual({ ok: true, value: n * units[unit] });
      }),
    );
  });

  it('accepts only digits with an optional s, m, h or d', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), (input) => {
        const result = parseDuration(input);
        expect(result.ok).toBe(/^[0-9]{1,16}[smhd]?$/.test(input));
      }),
    );
  });
});

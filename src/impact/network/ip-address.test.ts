import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIp, parseIp, unmapIpv4 } from './ip-address.js';

const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 });

describe('parseIp', () => {
  it.each([
    ['10.0.0.1', [10, 0, 0, 1]],
    ['0.0.0.0', [0, 0, 0, 0]],
    ['255.255.255.255', [255, 255, 255, 255]],
    ['::', Array(16).fill(0)],
    ['::1', [...Array(15).fill(0), 1]],
    ['2001:DB8::1', [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1]],
    ['::ffff:10.0.0.1', [...Array(10).fill(0), 0xff, 0xff, 10, 0, 0, 1]],
    ['1:2:3:4:5:6:7:8', [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]],
    ['1:2:3:4:5:6:1.2.3.4', [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 2, 3, 4]],
    ['1::', [0, 1, ...Array(14).fill(0)]],
  ])('parses %s', (text, expected) => {
    expect([...(parseIp(text)?.bytes ?? [])]).toEqual(expected);
  });

  it.each([
    '', '1.2.3', '1.2.3.4.5', '256.0.0.1', '010.0.0.1', '0x7f.0.0.1', '2130706433', ' 1.2.3.4', '1.2.3.4 ',
    ':', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8::', '12345::', '::g',
    '1.2.3.4::', '::1.2.3.4:5', '::01.2.3.4', '[::1]', 'fe80::1%eth0', '::1/128',
  ])('refuses %j', (text) => {
    expect(parseIp(text)).toBeNull();
  });
});

describe('formatIp', () => {
  it.each([
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:db8::0:1', '2001:db8::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1'],
    ['1:0:0:0:1:0:0:1', '1::1:0:0:1'],
    ['FE80::ABCD', 'fe80::abcd'],
  ])('writes %s as %s (RFC 5952)', (text, expected) => {
    const ip = parseIp(text);
    expect(ip && formatIp(ip)).toBe(expected);
  });

  it('agrees with the WHATWG serializer and round-trips', () => {
    fc.assert(
      fc.property(bytes16, fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 6 }), (b, zeroWords) => {
        for (const w of zeroWords) b[w * 2] = b[w * 2 + 1] = 0;
        const text = formatIp({ version: 6, bytes: b });
        expect(new URL(`http://[${text}]/`).hostname).toBe(`[${text}]`);
        expect([...(parseIp(text)?.bytes ?? [])]).toEqual([...b]);
      }),
    );
  });
});

describe('unmapIpv4', () => {
  it('turns ::ffff:a.b.c.d into IPv4 and leaves other IPv6 alone', () => {
    const mapped = unmapIpv4(parseIp('::ffff:7f00:1')!);
    expect(mapped.version).toBe(4);
    expect(formatIp(mapped)).toBe('127.0.0.1');
    for (const other of ['::7f00:1', '64:ff9b::7f00:1', '::fffe:7f00:1', '1::ffff:7f00:1']) {
      expect(unmapIpv4(parseIp(other)!).version).toBe(6);
    }
  });
});

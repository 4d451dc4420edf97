import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cidrContains, formatCidr, parseCidr } from './cidr.js';
import { parseIp, type IpAddress } from './ip-address.js';

const bits = (b: Uint8Array) => [...b].map((x) => x.toString(2).padStart(8, '0')).join('');

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['10.1.2.3', '10.1.2.3/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['fd00::/8', 'fd00::/8'],
    ['FD00:0::/8', 'fd00::/8'],
    ['2001:db8::1', '2001:db8::1/128'],
    ['::/0', '::/0'],
    ['::ffff:10.0.0.0/104', '10.0.0.0/8'],
    ['::ffff:0:0/96', '0.0.0.0/0'],
    ['::ffff:7f00:1', '127.0.0.1/32'],
  ])('reads %s as %s', (text, canonical) => {
    const parsed = parseCidr(text);
    expect(parsed.ok && formatCidr(parsed.value)).toBe(canonical);
  });

  it.each([
    ['10.0.0.1/8', 'host bits set; did you mean 10.0.0.0/8?'],
    ['fd00::1/8', 'did you mean fd00::/8?'],
    ['10.0.0.0/33', 'invalid prefix length'],
    ['10.0.0.0/08', 'invalid prefix length'],
    ['10.0.0.0/', 'invalid prefix length'],
    ['10.0.0.0/-1', 'invalid prefix length'],
    ['fd00::/129', 'invalid prefix length'],
    ['010.0.0.0/8', 'not an IP address'],
    ['10/8', 'not an IP address'],
    ['10.0.0.0/8/8', 'invalid prefix length'],
    ['[fd00::]/8', 'not an IP address'],
    ['', 'not an IP address'],
    ['prod.internal', 'not an IP address'],
  ])('refuses %s', (text, message) => {
    const parsed = parseCidr(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues[0]?.message).toContain(message);
  });
});

describe('cidrContains', () => {
  it('contains exactly the addresses that share the prefix bits', () => {
    fc.assert(
      fc.property(fc.constantFrom(4, 16), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(128), fc.nat(128), (n, a, b, p, q) => {
        const version = n === 4 ? 4 : 6;
        const prefix = p % (n * 8 + 1);
        // Share a random number of leading bits so that both outcomes are frequent.
        const shared = q % (n * 8 + 1);
        const ipBytes = Uint8Array.from({ length: n }, (_, i) => {
          const keep = Math.min(8, Math.max(0, shared - i * 8));
          const m = (0xff << (8 - keep)) & 0xff;
          return ((a[i] ?? 0) & m) | ((b[i] ?? 0) & ~m & 0xff);
        });
        const networkBits = bits(a.slice(0, n)).slice(0, prefix).padEnd(n * 8, '0');
        const network = Uint8Array.from({ length: n }, (_, i) => parseInt(networkBits.slice(i * 8, i * 8 + 8), 2));
        const ip: IpAddress = { version, bytes: ipBytes };
        const expected = bits(ipBytes).slice(0, prefix) === networkBits.slice(0, prefix);
        expect(cidrContains({ version, bytes: network, prefix }, ip)).toBe(expected);
      }),
    );
  });

  it('never matches across IP versions', () => {
    const all4 = parseCidr('0.0.0.0/0');
    const all6 = parseCidr('::/0');
    if (!all4.ok || !all6.ok) throw new Error('fixture');
    expect(cidrContains(all4.value, parseIp('::a00:1')!)).toBe(false);
    expect(cidrContains(all6.value, parseIp('10.0.0.1')!)).toBe(false);
    expect(cidrContains(all4.value, parseIp('10.0.0.1')!)).toBe(true);
  });
});

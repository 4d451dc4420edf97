import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_ENDPOINT_LENGTH, normalizeEndpoint, type NormalizedEndpoint } from './normalize-endpoint.js';

const hostPort = (e: NormalizedEndpoint) => `${e.ip?.version === 6 ? `[${e.host}]` : e.host}${e.port === null ? '' : `:${e.port}`}`;

describe('normalizeEndpoint', () => {
  it.each([
    // [input, scheme, host, port, ip version]
    ['https://api.example.com/v1', 'https', 'api.example.com', 443, null],
    ['HTTP://API.Example.COM:8080/x?y#z', 'http', 'api.example.com', 8080, null],
    ['postgres://user:pw@db.prod.internal:5433/app', 'postgres', 'db.prod.internal', 5433, null],
    ['postgresql://db.prod.internal/app', 'postgresql', 'db.prod.internal', 5432, null],
    ['mysql://db', 'mysql', 'db', 3306, null],
    ['redis://cache.prod.internal', 'redis', 'cache.prod.internal', 6379, null],
    ['ssh://git@github.com', 'ssh', 'github.com', 22, null],
    ['tcp://10.1.2.3:9000', 'tcp', '10.1.2.3', 9000, 4],
    ['tcp://10.1.2.3', 'tcp', '10.1.2.3', null, 4],
    ['db.prod.internal', null, 'db.prod.internal', null, null],
    ['db.prod.internal:5432', null, 'db.prod.internal', 5432, null],
    ['db.prod.internal:5432/app', null, 'db.prod.internal', 5432, null],
    ['  db.prod.internal  ', null, 'db.prod.internal', null, null],
    ['\tdb.prod.internal\r\n', null, 'db.prod.internal', null, null],
    // userinfo: the host is what follows the '@'
    ['http://prod.internal@evil.com/', 'http', 'evil.com', 80, null],
    ['http://prod.internal:443@evil.com/', 'http', 'evil.com', 80, null],
    ['prod.internal@evil.com', null, 'evil.com', null, null],
    ['prod.internal:80@evil.com:8080', null, 'evil.com', 8080, null],
    ['http://evil.com%2f@prod.internal/', 'http', 'prod.internal', 80, null],
    ['http://evil.com#@prod.internal/', 'http', 'evil.com', 80, null],
    ['http://evil.com?@prod.internal/', 'http', 'evil.com', 80, null],
    // IPv4 number forms, for every scheme
    ['http://2130706433/', 'http', '127.0.0.1', 80, 4],
    ['postgres://2130706433/db', 'postgres', '127.0.0.1', 5432, 4],
    ['0177.0.0.1', null, '127.0.0.1', null, 4],
    ['0x7f.1', null, '127.0.0.1', null, 4],
    ['0x7F000001:22', null, '127.0.0.1', 22, 4],
    ['127.1', null, '127.0.0.1', null, 4],
    ['017700000001', null, '127.0.0.1', null, 4],
    ['127.0.0.1.', null, '127.0.0.1', null, 4],
    ['0x7f.1..', null, '127.0.0.1', null, 4],
    ['10.0.258', null, '10.0.1.2', null, 4],
    // IPv6, including IPv4-mapped
    ['[::1]:8080', null, '::1', 8080, 6],
    ['::1', null, '::1', null, 6],
    ['2001:DB8:0:0:1:0:0:1', null, '2001:db8::1:0:0:1', null, 6],
    ['https://[2001:db8::0:1]/', 'https', '2001:db8::1', 443, 6],
    ['redis://[fd00::5]:7000', 'redis', 'fd00::5', 7000, 6],
    ['[::ffff:127.0.0.1]:80', null, '127.0.0.1', 80, 4],
    ['::ffff:7f00:1', null, '127.0.0.1', null, 4],
    ['http://[::ffff:7f00:1]/', 'http', '127.0.0.1', 80, 4],
    ['postgres://[0:0:0:0:0:FFFF:0A00:0001]:5432', 'postgres', '10.0.0.1', 5432, 4],
    ['::7f00:1', null, '::7f00:1', null, 6],
    // names: trailing dots, case, IDNA
    ['prod.internal.', null, 'prod.internal', null, null],
    ['prod.internal..', null, 'prod.internal', null, null],
    ['PROD.Internal', null, 'prod.internal', null, null],
    ['pаypal.com', null, 'xn--pypal-4ve.com', null, null],
    ['https://pаypal.com/', 'https', 'xn--pypal-4ve.com', 443, null],
    ['postgres://pаypal.com/', 'postgres', 'xn--pypal-4ve.com', 5432, null],
    ['faß.de', null, 'xn--fa-hia.de', null, null],
    ['prod。internal', null, 'prod.internal', null, null],
    ['ＰＲＯＤ．internal', null, 'prod.internal', null, null],
    ['db.prod.internal。', null, 'db.prod.internal', null, null],
    // ports
    ['host:0', null, 'host', 0, null],
    ['host:65535', null, 'host', 65535, null],
    ['http://host:0080/', 'http', 'host', 80, null],
    ['https://host:80/', 'https', 'host', 80, null],
    ['unknown://host', 'unknown', 'host', null, null],
  ] as const)('%j → %s %s %s', (input, scheme, host, port, version) => {
    const result = normalizeEndpoint(input);
    if (!result.ok) throw new Error(result.issues[0]?.message);
    expect(result.value).toMatchObject({ input, scheme, host, port });
    expect(result.value.ip?.version ?? null).toBe(version);
    if (version === 4) expect(result.value.ip?.bytes).toHaveLength(4);
  });

  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['x'.repeat(MAX_ENDPOINT_LENGTH + 1), 'longer than'],
    ['http://', 'empty'],
    ['http:///evil.com', 'empty'],
    ['//host/', 'empty'],
    ['file:///etc/passwd', 'empty'],
    ['http://a@b@c/', "more than one '@'"],
    ['postgres://u:p@ss@db/app', "more than one '@'"],
    ['ev\til.com', 'whitespace'],
    ['http://ev il.com/', 'whitespace'],
    ['http://evil.com\u0000/', 'control'],
    ['pay\u00ADpal.com', 'invisible'],
    ['pay\u200Bpal.com', 'invisible'],
    ['\u202Eevil.com', 'invisible'],
    ['http://evil.com\\@prod.internal/', 'backslash'],
    ['http:\\\\evil.com', 'backslash'],
    ['http://ex%61mple.com/', 'not allowed in a host'],
    ['http://evil.com%40prod.internal/', 'not allowed in a host'],
    ['host:', 'not a port'],
    ['http://host:/', 'not a port'],
    ['host:65536', 'not a port'],
    ['host:-1', 'not a port'],
    ['host:+80', 'not a port'],
    ['host:8o', 'not a port'],
    ['git@github.com:org/repo.git', 'not a port'],
    ['http:evil.com', 'not a port'],
    ['http:/evil.com', 'not a port'],
    ['http:80', 'ambiguous'],
    ['HTTPS:443', 'ambiguous'],
    ['http://1.2.3.4:80:90/', "more than one ':'"],
    ['http://::1/', "more than one ':'"],
    ['::1/path', "more than one ':'"],
    ['http://[::1/', "no closing ']'"],
    ['[::1]x', "after ']'"],
    ['[1.2.3.4]', 'not an IPv6 address'],
    ['fe80::1%eth0', 'not an IPv6 address'],
    ['[fe80::1%25eth0]', 'not an IPv6 address'],
    ['256.0.0.1', 'not a valid host'],
    ['1.2.3.4.5', 'not a valid host'],
    ['foo.123', 'not a valid host'],
    ['evil.com：80', 'not a valid host'],
    ['evil.com／x', 'not a valid host'],
    ['a＠b', 'not a valid host'],
    ['xn--zz.com', 'not a valid host'],
    ['prod..internal', 'not a host name'],
    ['.prod.internal', 'not a host name'],
    ['a*b.com', 'not a host name'],
    ['a!b.com', 'not a host name'],
    [`${'a'.repeat(64)}.com`, 'not a host name'],
    [`${'a.'.repeat(127)}com`, 'longer than 253'],
    ['.', 'empty'],
    // WHATWG reads no userinfo in file URLs: parsers disagree on the host
    ['file://user@server/share', 'unambiguously'],
  ])('refuses %j (%s)', (input, message) => {
    const result = normalizeEndpoint(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.map((i) => i.message).join('; ')).toContain(message);
  });

  it('keeps Unicode lookalikes apart from the ASCII name', () => {
    const lookalike = normalizeEndpoint('pаypal.com');
    const ascii = normalizeEndpoint('paypal.com');
    expect(lookalike.ok && ascii.ok && lookalike.value.host !== ascii.value.host).toBe(true);
  });

  it('returns frozen values and never echoes credentials into host', () => {
    const result = normalizeEndpoint('postgres://admin:s3cret@db:5432/app');
    expect(result.ok && Object.isFrozen(result.value)).toBe(true);
    expect(result.ok && JSON.stringify({ ...result.value, input: '' })).not.toContain('s3cret');
  });
});

// Fragments that exercise every branch of the splitter and the host parser.
const fragment = fc.constantFrom(
  'a', 'B', 'prod', 'internal', 'xn--pypal-4ve', 'ß', 'а', '.', '..', '。', '．', '@', ':', '::', '[', ']', '80', '5432', '0', '1', '127',
  '0x7f', '0177', '2130706433', 'ffff', '%41', '-', '_', '/', '?', '#', '\\', ' ', '\t', '\u200B', '*', '１',
);
const prefix = fc.constantFrom('', 'http://', 'HTTPS://', 'postgres://', 'x-y://', 'ws://', 'file://', 'http:', 'u@', '[');
const messy = fc.tuple(prefix, fc.array(fragment, { maxLength: 12 })).map(([p, parts]) => p + parts.join(''));
const anyInput = fc.oneof(messy, fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }));

describe('normalizeEndpoint properties', () => {
  it('never throws, and every success has a canonical host', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const result = normalizeEndpoint(input);
        if (!result.ok) return;
        const { host, ip, port } = result.value;
        if (ip === null) expect(host).toMatch(/^[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*$/);
        else if (ip.version === 4) expect(host).toMatch(/^\d{1,3}(\.\d{1,3}){3}$/);
        else expect(host).toMatch(/^[0-9a-f:]+$/);
        if (port !== null) expect(port >= 0 && port <= 65535 && Number.isInteger(port)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('is idempotent: the canonical host[:port] normalizes to itself', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const first = normalizeEndpoint(input);
        if (!first.ok) return;
        const again = normalizeEndpoint(hostPort(first.value));
        if (!again.ok) throw new Error(`${hostPort(first.value)}: ${again.issues[0]?.message}`);
        expect(again.value.host).toBe(first.value.host);
        expect(again.value.ip?.version).toBe(first.value.ip?.version);
        expect([...(again.value.ip?.bytes ?? [])]).toEqual([...(first.value.ip?.bytes ?? [])]);
        if (first.value.scheme === null) expect(again.value.port).toBe(first.value.port);
      }),
      { numRuns: 5000 },
    );
  });

  it('finds the host a WHATWG parser finds for http URLs', () => {
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 12 }), (parts) => {
        const input = `http://${parts.join('')}`;
        const result = normalizeEndpoint(input);
        if (!result.ok) return;
        const whatwg = new URL(input).hostname.replace(/\.+$/, '');
        const expected = result.value.ip?.version === 6 ? `[${result.value.host}]` : result.value.host;
        // A mapped IPv6 is the one place we deliberately differ: it is given as IPv4.
        if (whatwg.startsWith('[::ffff:') && result.value.ip?.version === 4) return;
        expect(new URL(`http://${whatwg}/`).hostname).toBe(expected);
      }),
      { numRuns: 5000 },
    );
  });
});

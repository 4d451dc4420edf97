import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIp } from './ip-address.js';
import { normalizeEndpoint, type NormalizedEndpoint } from './normalize-endpoint.js';
import { compileZones, type ZoneIndex, type ZoneSpec } from './zones.js';

const SPECS: readonly ZoneSpec[] = [
  { name: 'prod', environment: 'production', cidrs: ['10.0.0.0/8', 'fd00:1::/32'], hosts: ['prod.internal'] },
  { name: 'prod-db', environment: 'production', cidrs: ['10.20.0.0/16', '10.20.30.40'], hosts: ['.db.prod.internal'] },
  { name: 'staging', environment: 'staging', cidrs: ['172.16.0.0/12'], hosts: ['staging.internal', 'STAGING.example.com.'] },
  { name: 'loopback', cidrs: ['127.0.0.0/8', '::1'], hosts: ['localhost'] },
  { name: 'payments', hosts: ['paypal.com'] },
  { name: 'idn', hosts: ['bücher.example'] },
  { name: 'v6-wide', cidrs: ['fd00::/8', '2001:db8::/33'] },
];

function compile(specs: readonly ZoneSpec[]): ZoneIndex {
  const index = compileZones(specs);
  if (!index.ok) throw new Error(index.issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return index.value;
}

function zoneOf(index: ZoneIndex, input: string): string | null | 'unparseable' {
  const endpoint = normalizeEndpoint(input);
  return endpoint.ok ? (index.classify(endpoint.value)?.name ?? null) : 'unparseable';
}

describe('ZoneIndex.classify', () => {
  const index = compile(SPECS);

  it.each([
    ['https://api.prod.internal/', 'prod'],
    ['prod.internal', 'prod'],
    ['PROD.INTERNAL.', 'prod'],
    ['prod。internal', 'prod'],
    ['postgres://u:p@main.db.prod.internal:5432/app', 'prod-db'],
    ['db.prod.internal', 'prod-db'],
    ['evilprod.internal', null],
    ['prod.internal.evil.com', null],
    ['internal', null],
    ['http://prod.internal@evil.com/', null],
    ['http://evil.com@db.prod.internal/', 'prod-db'],
    ['staging.example.com', 'staging'],
    ['x.staging.example.com:443', 'staging'],
    ['example.com', null],
    ['paypal.com', 'payments'],
    ['pаypal.com', null],
    ['www.bücher.example', 'idn'],
    ['www.xn--bcher-kva.example', 'idn'],
    ['10.1.2.3', 'prod'],
    ['10.20.1.1', 'prod-db'],
    ['10.20.30.40', 'prod-db'],
    ['10.21.0.1', 'prod'],
    ['11.0.0.1', null],
    ['172.31.255.255', 'staging'],
    ['172.32.0.0', null],
    ['http://2130706433/', 'loopback'],
    ['0x7f.1', 'loopback'],
    ['0177.0.0.1:22', 'loopback'],
    ['[::ffff:127.0.0.1]:80', 'loopback'],
    ['::ffff:a14:1e28', 'prod-db'],
    ['localhost:8080', 'loopback'],
    ['app.localhost', 'loopback'],
    ['[::1]:5432', 'loopback'],
    ['::2', null],
    ['fd00:1:2::3', 'prod'],
    ['fd00:2::3', 'v6-wide'],
    ['fdff::1', 'v6-wide'],
    ['fe00::1', null],
    ['2001:db8:7fff::1', 'v6-wide'],
    ['2001:db8:8000::1', null],
    // IPv4-compatible and NAT64 forms are IPv6 addresses, not the IPv4 they embed
    ['::7f00:1', null],
    ['64:ff9b::a00:1', null],
    // names are classified by name only: an IP-looking label is still a name
    ['10.0.0.1.nip.io', null],
    ['http://ex%61mple.com/', 'unparseable'],
  ])('%s → %s', (input, zone) => {
    expect(zoneOf(index, input)).toBe(zone);
  });

  it('returns the zone with its environment', () => {
    const endpoint = normalizeEndpoint('db.prod.internal');
    if (!endpoint.ok) throw new Error('fixture');
    expect(index.classify(endpoint.value)).toEqual({ name: 'prod-db', environment: 'production' });
    expect(index.zones.map((z) => z.name)).toEqual(SPECS.map((s) => s.name));
    expect(index.zones.find((z) => z.name === 'loopback')?.environment).toBeNull();
  });

  it('matches hosts against suffixes only and IPs against CIDRs only', () => {
    const mixed = compile([{ name: 'a', cidrs: ['10.0.0.0/8'] }, { name: 'b', hosts: ['example.com'] }]);
    const named: NormalizedEndpoint = { input: '', scheme: null, host: '10.0.0.1', port: null, ip: null };
    const addressed: NormalizedEndpoint = { input: '', scheme: null, host: 'example.com', port: null, ip: parseIp('10.0.0.1') };
    expect(mixed.classify(named)).toBeNull();
    expect(mixed.classify(addressed)?.name).toBe('a');
  });

  it('classifies nothing with no zones', () => {
    expect(zoneOf(compile([]), '10.0.0.1')).toBeNull();
    expect(zoneOf(compile([]), 'prod.internal')).toBeNull();
    expect(zoneOf(compile([{ name: 'everything', cidrs: ['0.0.0.0/0', '::/0'] }]), '1.2.3.4')).toBe('everything');
  });
});

describe('compileZones', () => {
  it.each([
    [[{ name: '' }], 'zones[0].name', 'non-empty name'],
    [[{ name: ' prod' }], 'zones[0].name', 'surrounding spaces'],
    [[{ name: 'a' }, { name: 'a' }], 'zones[1].name', 'already defined at zones[0]'],
    [[{ name: 'a', environment: '' }], 'zones[0].environment', 'non-empty environment'],
    [[{ name: 'a', cidrs: ['10.0.0.0/8', '10.0.0.1/8'] }], 'zones[0].cidrs[1]', 'host bits set'],
    [[{ name: 'a', cidrs: ['10.0.0.0/33'] }], 'zones[0].cidrs[0]', 'prefix length'],
    [[{ name: 'a', cidrs: ['010.0.0.0/8'] }], 'zones[0].cidrs[0]', 'not an IP address'],
    [[{ name: 'a', cidrs: ['prod.internal'] }], 'zones[0].cidrs[0]', 'not an IP address'],
    [[{ name: 'a', hosts: ['*.prod.internal'] }], 'zones[0].hosts[0]', 'wildcard'],
    [[{ name: 'a', hosts: ['*'] }], 'zones[0].hosts[0]', 'wildcard'],
    [[{ name: 'a', hosts: ['10.0.0.1'] }], 'zones[0].hosts[0]', 'list it under cidrs'],
    [[{ name: 'a', hosts: ['0x7f.1'] }], 'zones[0].hosts[0]', 'list it under cidrs'],
    [[{ name: 'a', hosts: ['[::1]'] }], 'zones[0].hosts[0]', 'list it under cidrs'],
    [[{ name: 'a', hosts: ['prod.internal:80'] }], 'zones[0].hosts[0]', 'not allowed in a host'],
    [[{ name: 'a', hosts: ['https://prod.internal'] }], 'zones[0].hosts[0]', 'not allowed in a host'],
    [[{ name: 'a', hosts: ['prod internal'] }], 'zones[0].hosts[0]', 'not allowed in a host'],
    [[{ name: 'a', hosts: [''] }], 'zones[0].hosts[0]', 'empty'],
    [[{ name: 'a', hosts: ['.'] }], 'zones[0].hosts[0]', 'empty'],
    [[{ name: 'a', hosts: ['foo.123'] }], 'zones[0].hosts[0]', 'not a valid host'],
    [[{ name: 'a', cidrs: ['10.0.0.0/8'] }, { name: 'b', cidrs: ['10.0.0.0/8'] }], 'zones[1].cidrs[0]', '10.0.0.0/8 is already in zone "a" (zones[0].cidrs[0])'],
    [[{ name: 'a', cidrs: ['10.0.0.0/8'] }, { name: 'b', cidrs: ['::ffff:10.0.0.0/104'] }], 'zones[1].cidrs[0]', 'already in zone "a"'],
    [[{ name: 'a', cidrs: ['fd00::/8'] }, { name: 'b', cidrs: ['FD00:0::/8'] }], 'zones[1].cidrs[0]', 'already in zone "a"'],
    [[{ name: 'a', hosts: ['prod.internal'] }, { name: 'b', hosts: ['.PROD.internal.'] }], 'zones[1].hosts[0]', 'prod.internal is already in zone "a"'],
    [[{ name: 'a', hosts: ['bücher.example'] }, { name: 'b', hosts: ['xn--bcher-kva.example'] }], 'zones[1].hosts[0]', 'already in zone "a"'],
  ] as [ZoneSpec[], string, string][])('refuses %j at %s', (specs, path, message) => {
    const result = compileZones(specs);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.path)).toContain(path);
    expect(result.issues.find((i) => i.path === path)?.message).toContain(message);
  });

  it('refuses malformed values from untyped configuration', () => {
    const result = compileZones([null, { name: 'a', cidrs: 'x', hosts: [1, 'ok.example', '*'] }] as unknown as ZoneSpec[]);
    expect(result.ok ? [] : result.issues.map((i) => i.path)).toEqual(['zones[0]', 'zones[1].cidrs', 'zones[1].hosts[0]', 'zones[1].hosts[2]']);
    expect(compileZones('nope' as unknown as ZoneSpec[]).ok).toBe(false);
  });

  it('accepts overlaps, nesting and repeats within one zone', () => {
    const result = compileZones([
      { name: 'a', cidrs: ['10.0.0.0/8', '10.0.0.0/8'], hosts: ['internal', 'internal.'] },
      { name: 'b', cidrs: ['10.1.0.0/16'], hosts: ['prod.internal'] },
    ]);
    expect(result.ok).toBe(true);
  });

  it('collects every issue, not just the first', () => {
    const result = compileZones([{ name: '', cidrs: ['x'], hosts: ['*'] }]);
    expect(result.ok ? 0 : result.issues.length).toBe(3);
  });
});

// ---- properties -------------------------------------------------------------

const LABELS = ['prod', 'internal', 'db', 'corp', 'example', 'com', 'a', 'b', 'evil', 'xn--pypal-4ve', 'x-1', '_srv'];
const label = fc.constantFrom(...LABELS);
const suffix = fc.array(label, { minLength: 1, maxLength: 3 }).map((ls) => ls.join('.'));

interface Block {
  readonly version: 4 | 6;
  readonly bytes: number[];
  readonly prefix: number;
}

// Blocks drawn near a few bases so that nesting and hits are common.
const block: fc.Arbitrary<Block> = fc.oneof(
  fc.tuple(fc.constantFrom(10, 127, 172, 192), fc.uint8Array({ minLength: 3, maxLength: 3 }), fc.integer({ min: 0, max: 32 })).map(([first, rest, prefix]) => ({
    version: 4 as const,
    bytes: maskBits([first, ...rest.map((b) => b & 0x3)], prefix),
    prefix,
  })),
  fc.tuple(fc.constantFrom(0xfd, 0x20, 0x00), fc.uint8Array({ minLength: 15, maxLength: 15 }), fc.integer({ min: 0, max: 128 })).map(([first, rest, prefix]) => ({
    version: 6 as const,
    bytes: maskBits([first, ...rest.map((b) => b & 0x1)], prefix),
    prefix,
  })),
);

function maskBits(bytes: number[], prefix: number): number[] {
  return bytes.map((b, i) => b & ((0xff << (8 - Math.min(8, Math.max(0, prefix - i * 8)))) & 0xff));
}

function blockText(b: Block): string {
  if (b.version === 4) return `${b.bytes.join('.')}/${b.prefix}`;
  const words = Array.from({ length: 8 }, (_, i) => (((b.bytes[i * 2] ?? 0) << 8) | (b.bytes[i * 2 + 1] ?? 0)).toString(16));
  return `${words.join(':')}/${b.prefix}`;
}

// Entries are unique across the whole configuration (as compileZones requires), then dealt out to zones.
const config = fc
  .record({
    zoneCount: fc.integer({ min: 1, max: 6 }),
    blocks: fc.uniqueArray(block, { maxLength: 12, selector: blockText }),
    suffixes: fc.uniqueArray(suffix, { maxLength: 10 }),
    seed: fc.array(fc.nat(), { minLength: 22, maxLength: 22 }),
  })
  .map(({ zoneCount, blocks, suffixes, seed }) => {
    const zones: GeneratedZone[] = Array.from({ length: zoneCount }, (_, i) => ({ name: `z${i}`, blocks: [], suffixes: [] }));
    blocks.forEach((b, i) => zones[(seed[i] ?? 0) % zoneCount]!.blocks.push(b));
    suffixes.forEach((s, i) => zones[(seed[12 + i] ?? 0) % zoneCount]!.suffixes.push(s));
    return zones;
  });

// Decorations that must not change the zone: case, trailing dot, leading dot in config, schemes, userinfo, ports.
const spellSuffix = (s: string, v: number) => [s, `.${s}`, `${s.toUpperCase()}.`, s][v % 4]!;

interface GeneratedZone {
  readonly name: string;
  readonly blocks: Block[];
  readonly suffixes: string[];
}

const endpointText = (zones: readonly GeneratedZone[]) =>
  fc.oneof(
    fc.tuple(fc.array(label, { maxLength: 2 }), fc.option(fc.constantFrom(...zones.flatMap((z) => z.suffixes), 'internal'), { nil: undefined }), fc.array(label, { maxLength: 2 })).map(
      ([before, middle, after]) => [...before, ...(middle === undefined ? [] : [middle]), ...after].join('.') || 'a',
    ),
    fc.tuple(fc.constantFrom<Block | undefined>(undefined, ...zones.flatMap((z) => z.blocks)), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(200)).map(([b, noise, flip]) => {
      const version = b?.version ?? (flip % 2 === 0 ? 4 : 6);
      const n = version === 4 ? 4 : 16;
      const base = b?.bytes ?? Array.from(noise.slice(0, n));
      // Keep the block's prefix, randomize the host bits, sometimes flip one prefix bit.
      const bytes = Array.from({ length: n }, (_, i) => {
        const keep = b ? Math.min(8, Math.max(0, b.prefix - i * 8)) : 0;
        const m = (0xff << (8 - keep)) & 0xff;
        return ((base[i] ?? 0) & m) | ((noise[i] ?? 0) & ~m & 0xff);
      });
      if (b && flip < 40 && b.prefix > 0) {
        const bit = flip % b.prefix;
        bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) ^ (0x80 >> (bit & 7));
      }
      return version === 4 ? bytes.join('.') : `[${Array.from({ length: 8 }, (_, i) => (((bytes[i * 2] ?? 0) << 8) | (bytes[i * 2 + 1] ?? 0)).toString(16)).join(':')}]`;
    }),
  );

const wrap = fc.constantFrom(
  (h: string) => h,
  (h: string) => `https://${h}/x`,
  (h: string) => `postgres://user:pw@${h}:5432/db`,
  (h: string) => `${h}:8080`,
  (h: string) => `redis://${h.toUpperCase()}`,
  (h: string) => (h.startsWith('[') ? `ssh://git@${h}` : `ssh://git@${h}.`),
);

function bitsOf(bytes: Uint8Array | number[]): string {
  return Array.from(bytes, (b) => b.toString(2).padStart(8, '0')).join('');
}

/** The reference: every zone's best match length, by brute force over all entries. */
function bruteForce(zones: readonly GeneratedZone[], e: NormalizedEndpoint): { name: string; score: number }[] {
  return zones
    .map((z) => {
      let score = -1;
      if (e.ip !== null) {
        const ipBits = bitsOf(e.ip.bytes);
        for (const b of z.blocks) {
          if (b.version === e.ip.version && ipBits.startsWith(bitsOf(b.bytes).slice(0, b.prefix))) score = Math.max(score, b.prefix);
        }
      } else {
        for (const s of z.suffixes) if (e.host === s || e.host.endsWith(`.${s}`)) score = Math.max(score, s.length);
      }
      return { name: z.name, score };
    })
    .filter((m) => m.score >= 0);
}

describe('zone properties', () => {
  it('every endpoint is in exactly one zone or none: the longest match over all zones', () => {
    fc.assert(
      fc.property(
        config.chain((zones) => fc.tuple(fc.constant(zones), fc.array(fc.tuple(endpointText(zones), wrap), { minLength: 1, maxLength: 8 }), fc.array(fc.nat(3), { minLength: 16, maxLength: 16 }))),
        ([zones, endpoints, spellings]) => {
          const specs: ZoneSpec[] = zones.map((z, i) => ({
            name: z.name,
            cidrs: z.blocks.map(blockText),
            hosts: z.suffixes.map((s, j) => spellSuffix(s, (spellings[(i + j) % 16] ?? 0) + j)),
          }));
          const index = compile(specs);
          for (const [text, decorate] of endpoints) {
            const endpoint = normalizeEndpoint(decorate(text));
            if (!endpoint.ok) throw new Error(`${decorate(text)}: ${endpoint.issues[0]?.message}`);
            const matches = bruteForce(zones, endpoint.value);
            const best = Math.max(-1, ...matches.map((m) => m.score));
            const winners = matches.filter((m) => m.score === best);
            expect(winners.length).toBeLessThanOrEqual(1);
            expect(index.classify(endpoint.value)?.name ?? null).toBe(winners[0]?.name ?? null);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('an IPv4 address classifies the same in decimal, hex, octal, short and mapped-IPv6 forms', () => {
    const v4Blocks = fc.uniqueArray(
      fc.tuple(fc.nat(0xffffffff), fc.integer({ min: 0, max: 32 })).map(([n, p]) => ({ n: p === 0 ? 0 : (n & ((0xffffffff << (32 - p)) >>> 0)) >>> 0, p })),
      { maxLength: 10, selector: (b) => `${b.n}/${b.p}` },
    );
    fc.assert(
      fc.property(v4Blocks, fc.nat(0xffffffff), fc.nat(), fc.boolean(), (blocks, random, pick, inside) => {
        const dotted = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
        const specs = blocks.map((b, i) => ({ name: `z${i}`, cidrs: [i % 2 === 0 ? `${dotted(b.n)}/${b.p}` : `::ffff:${dotted(b.n)}/${b.p + 96}`] }));
        const index = compile(specs);
        const chosen = blocks[pick % Math.max(1, blocks.length)];
        // Half the time, an address inside one of the blocks.
        const n = inside && chosen ? (chosen.n | (random & (chosen.p === 0 ? 0xffffffff : ~((0xffffffff << (32 - chosen.p)) >>> 0)))) >>> 0 : random;
        const [a, b, c, d] = [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
        const hi = ((a << 8) | b).toString(16);
        const lo = ((c << 8) | d).toString(16);
        const forms = [
          String(n),
          `0x${n.toString(16)}`,
          `0X${n.toString(16).toUpperCase()}`,
          `0${n.toString(8)}`,
          `${a}.${(b << 16) | (c << 8) | d}`,
          `${a}.${b}.${(c << 8) | d}`,
          `0x${a.toString(16)}.0${b.toString(8)}.${c}.0x${d.toString(16)}`,
          `${dotted(n)}.`,
          `[::ffff:${dotted(n)}]`,
          `::ffff:${hi}:${lo}`,
          `[0:0:0:0:0:ffff:${hi}:${lo}]:80`,
          `http://${n}/`,
          `postgres://u@0x${n.toString(16)}:5432/db`,
          `tcp://[::FFFF:${hi}:${lo}]:9`,
        ];
        const reference = normalizeEndpoint(dotted(n));
        if (!reference.ok) throw new Error('fixture');
        const expected = index.classify(reference.value)?.name ?? null;
        if (inside && chosen) expect(expected).not.toBeNull();
        for (const form of forms) {
          const e = normalizeEndpoint(form);
          if (!e.ok) throw new Error(`${form}: ${e.issues[0]?.message}`);
          expect(e.value.host, form).toBe(dotted(n));
          expect(e.value.ip?.version, form).toBe(4);
          expect(index.classify(e.value)?.name ?? null, form).toBe(expected);
        }
      }),
      { numRuns: 500 },
    );
  });
});

import type { Issue, ParseResult } from '../../core/errors.js';
import { formatCidr, parseCidr, type Cidr } from './cidr.js';
import type { NormalizedEndpoint } from './normalize-endpoint.js';
import { normalizeHost } from './normalize-host.js';

/** A network zone as configured: address blocks and host-name suffixes. */
export interface ZoneSpec {
  readonly name: string;
  /** The environment the zone belongs to, if any. */
  readonly environment?: string;
  /** IPv4/IPv6 blocks (`10.0.0.0/8`, `fd00::/8`, a bare address). */
  readonly cidrs?: readonly string[];
  /** Domain suffixes (`prod.internal` or `.prod.internal`), matched on label boundaries. No wildcards. */
  readonly hosts?: readonly string[];
}

/** A compiled zone. */
export interface Zone {
  readonly name: string;
  readonly environment: string | null;
}

/**
 * Zones compiled for classification. An IP endpoint is matched against CIDRs only
 * (longest prefix wins), a host name against suffixes only (longest suffix wins).
 * Names are classified as written: there is no DNS lookup, so a name is in a zone
 * only if a suffix lists it, whatever address it resolves to.
 */
export interface ZoneIndex {
  /** The one zone `endpoint` falls in, or null: outside every zone. */
  classify(endpoint: NormalizedEndpoint): Zone | null;
  /** The zones in configuration order. */
  readonly zones: readonly Zone[];
}

/**
 * Validates zone specs and builds a {@link ZoneIndex}. Issues (paths like
 * `zones[2].cidrs[0]`) for: a missing, blank or duplicate name; an invalid CIDR
 * (see {@link parseCidr}); a suffix that is not a host name or is an IP address; and
 * the same CIDR or suffix in two zones, which would make classification ambiguous.
 * Overlapping blocks and nested suffixes are fine: the most specific one wins.
 */
export function compileZones(specs: readonly ZoneSpec[]): ParseResult<ZoneIndex> {
  const issues: Issue[] = [];
  if (!Array.isArray(specs)) return { ok: false, issues: [{ path: 'zones', message: 'expected a list of zones' }] };
  const zones: Zone[] = [];
  const names = new Map<string, number>();
  const blocks = new Map<string, { cidr: Cidr; zone: Zone; path: string }>();
  const suffixes = new Map<string, { zone: Zone; path: string }>();

  specs.forEach((spec: ZoneSpec | undefined, i) => {
    const p = `zones[${i}]`;
    if (typeof spec !== 'object' || spec === null) return void issues.push({ path: p, message: 'expected a zone object' });
    const { name, environment } = spec;
    if (typeof name !== 'string' || name.trim() === '' || name.trim() !== name || /\p{C}/u.test(name)) {
      issues.push({ path: `${p}.name`, message: 'expected a non-empty name without surrounding spaces' });
    } else if (names.has(name)) {
      issues.push({ path: `${p}.name`, message: `zone "${name}" is already defined at zones[${names.get(name)}]` });
    } else {
      names.set(name, i);
    }
    if (environment !== undefined && (typeof environment !== 'string' || environment === '')) {
      issues.push({ path: `${p}.environment`, message: 'expected a non-empty environment name' });
    }
    const zone: Zone = Object.freeze({ name: String(name), environment: typeof environment === 'string' && environment !== '' ? environment : null });
    zones.push(zone);

    for (const [text, j] of strings(spec.cidrs, `${p}.cidrs`, issues)) {
      const path = `${p}.cidrs[${j}]`;
      const parsed = parseCidr(text);
      if (!parsed.ok) {
        issues.push(...parsed.issues.map((x) => ({ path, message: x.message })));
        continue;
      }
      const key = formatCidr(parsed.value);
      const seen = blocks.get(key);
      if (seen === undefined) blocks.set(key, { cidr: parsed.value, zone, path });
      else if (seen.zone !== zone) issues.push({ path, message: `${key} is already in zone "${seen.zone.name}" (${seen.path})` });
    }

    for (const [text, j] of strings(spec.hosts, `${p}.hosts`, issues)) {
      const path = `${p}.hosts[${j}]`;
      const suffix = normalizeSuffix(text);
      if (!suffix.ok) {
        issues.push(...suffix.issues.map((x) => ({ path, message: x.message })));
        continue;
      }
      const seen = suffixes.get(suffix.value);
      if (seen === undefined) suffixes.set(suffix.value, { zone, path });
      else if (seen.zone !== zone) issues.push({ path, message: `${suffix.value} is already in zone "${seen.zone.name}" (${seen.path})` });
    }
  });

  if (issues.length > 0) return { ok: false, issues };
  const index = new CompiledZones(
    Object.freeze(zones),
    [...blocks.values()].map(({ cidr, zone }) => ({ cidr, zone })),
    new Map([...suffixes].map(([s, { zone }]) => [s, zone])),
  );
  return { ok: true, value: index };
}

/** The strings of an optional list with their indexes; anything else is an issue. */
function strings(value: readonly string[] | undefined, path: string, issues: Issue[]): [string, number][] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    issues.push({ path, message: 'expected a list of strings' });
    return [];
  }
  const out: [string, number][] = [];
  value.forEach((v: unknown, j) => {
    if (typeof v === 'string') out.push([v, j]);
    else issues.push({ path: `${path}[${j}]`, message: 'expected a string' });
  });
  return out;
}

function normalizeSuffix(text: string): ParseResult<string> {
  const raw = text.startsWith('.') ? text.slice(1) : text;
  if (raw.includes('*')) return failSuffix(`"${text}" has a wildcard; write the suffix itself (prod.internal matches every name under it)`);
  const host = normalizeHost(raw);
  if (!host.ok) return host;
  if (host.value.ip !== null) return failSuffix(`"${text}" is an IP address; list it under cidrs`);
  return { ok: true, value: host.value.host };
}

function failSuffix(message: string): ParseResult<never> {
  return { ok: false, issues: [{ path: '', message }] };
}

interface V4Bucket {
  readonly mask: number;
  readonly networks: Map<number, Zone>;
}

interface V6Bucket {
  /** Hex digits of the address that the prefix covers, the last one masked with `lastMask`. */
  readonly digits: number;
  readonly lastMask: number;
  readonly networks: Map<string, Zone>;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

class CompiledZones implements ZoneIndex {
  readonly zones: readonly Zone[];
  // Buckets by prefix length, longest first, so the first hit is the longest match.
  readonly #v4: readonly V4Bucket[];
  readonly #v6: readonly V6Bucket[];
  readonly #suffixes: ReadonlyMap<string, Zone>;
  readonly #longestSuffix: number;

  constructor(zones: readonly Zone[], blocks: readonly { cidr: Cidr; zone: Zone }[], suffixes: ReadonlyMap<string, Zone>) {
    this.zones = zones;
    this.#suffixes = suffixes;
    this.#longestSuffix = [...suffixes.keys()].reduce((n, s) => Math.max(n, s.length), -1);
    const v4 = new Map<number, V4Bucket>();
    const v6 = new Map<number, V6Bucket>();
    for (const { cidr, zone } of blocks) {
      if (cidr.version === 4) {
        const bucket = v4.get(cidr.prefix) ?? { mask: v4Mask(cidr.prefix), networks: new Map<number, Zone>() };
        v4.set(cidr.prefix, bucket);
        bucket.networks.set(v4Number(cidr.bytes), zone);
      } else {
        const digits = Math.ceil(cidr.prefix / 4);
        const bucket = v6.get(cidr.prefix) ?? { digits, lastMask: (0xf << (digits * 4 - cidr.prefix)) & 0xf, networks: new Map<string, Zone>() };
        v6.set(cidr.prefix, bucket);
        bucket.networks.set(v6Key(hex(cidr.bytes), bucket), zone);
      }
    }
    const byPrefix = <T>(m: Map<number, T>) => [...m].sort((a, b) => b[0] - a[0]).map(([, bucket]) => bucket);
    this.#v4 = byPrefix(v4);
    this.#v6 = byPrefix(v6);
    Object.freeze(this);
  }

  classify(endpoint: NormalizedEndpoint): Zone | null {
    const ip = endpoint.ip;
    if (ip !== null) {
      if (ip.version === 4) {
        const address = v4Number(ip.bytes);
        for (const bucket of this.#v4) {
          const zone = bucket.networks.get((address & bucket.mask) >>> 0);
          if (zone !== undefined) return zone;
        }
        return null;
      }
      if (this.#v6.length === 0) return null;
      const digits = hex(ip.bytes);
      for (const bucket of this.#v6) {
        const zone = bucket.networks.get(v6Key(digits, bucket));
        if (zone !== undefined) return zone;
      }
      return null;
    }
    const host = endpoint.host;
    // Walk the label suffixes, longest first: db.prod.internal, prod.internal, internal;
    // those longer than every configured suffix need no lookup.
    let start = 0;
    while (host.length - start > this.#longestSuffix) {
      const dot = host.indexOf('.', start);
      if (dot < 0) return null;
      start = dot + 1;
    }
    for (;;) {
      const zone = this.#suffixes.get(start === 0 ? host : host.slice(start));
      if (zone !== undefined) return zone;
      const dot = host.indexOf('.', start);
      if (dot < 0) return null;
      start = dot + 1;
    }
  }
}

function v4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function v4Number(bytes: Uint8Array): number {
  return (((bytes[0] ?? 0) << 24) | ((bytes[1] ?? 0) << 16) | ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0)) >>> 0;
}

function hex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i] ?? 0];
  return out;
}

function v6Key(digits: string, bucket: V6Bucket): string {
  if (bucket.lastMask === 0xf || bucket.digits === 0) return digits.slice(0, bucket.digits);
  const last = parseInt(digits.charAt(bucket.digits - 1), 16) & bucket.lastMask;
  return digits.slice(0, bucket.digits - 1) + last.toString(16);
}

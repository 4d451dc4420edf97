import type { ParseResult } from '../../core/errors.js';
import { formatIp, parseIp, unmapIpv4, type IpAddress } from './ip-address.js';

/** An address block: the network address (host bits zero) and the prefix length. Treat `bytes` as read-only. */
export interface Cidr {
  readonly version: 4 | 6;
  readonly bytes: Uint8Array;
  /** 0 to 32 for IPv4, 0 to 128 for IPv6. */
  readonly prefix: number;
}

const PREFIX = /^(0|[1-9]\d{0,2})$/;

/**
 * Parses `10.0.0.0/8`, `fd00::/8`, or a bare address (`/32` or `/128`). Addresses are
 * strict (see {@link parseIp}). Host bits set (`10.0.0.1/8`) are an issue, not masked
 * silently: the writer probably meant something else. An IPv4-mapped block of
 * `/96` or longer (`::ffff:10.0.0.0/104`) becomes the IPv4 block (`10.0.0.0/8`),
 * because endpoints written that way are classified as IPv4.
 */
export function parseCidr(text: string): ParseResult<Cidr> {
  if (typeof text !== 'string') return fail('a CIDR must be a string');
  const slash = text.indexOf('/');
  const address = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (address === null) return fail(`"${text}" is not an IP address or CIDR block (e.g. 10.0.0.0/8, fd00::/8)`);
  const bits = address.bytes.length * 8;
  let prefix = bits;
  if (slash >= 0) {
    const prefixText = text.slice(slash + 1);
    if (!PREFIX.test(prefixText) || Number(prefixText) > bits) return fail(`"${text}" has an invalid prefix length (0 to ${bits})`);
    prefix = Number(prefixText);
  }
  const network = mask(address.bytes, prefix);
  if (!network.every((b, i) => b === address.bytes[i])) {
    return fail(`"${text}" has host bits set; did you mean ${formatCidr({ version: address.version, bytes: network, prefix })}?`);
  }
  let cidr: Cidr = { version: address.version, bytes: network, prefix };
  if (prefix >= 96) {
    const v4 = unmapIpv4(cidr);
    if (v4 !== cidr) cidr = { version: 4, bytes: v4.bytes, prefix: prefix - 96 };
  }
  return { ok: true, value: Object.freeze(cidr) };
}

/** Canonical text of a block: `10.0.0.0/8`, `fd00::/8`; the prefix is always written. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr)}/${cidr.prefix}`;
}

/** True when `ip` lies in `cidr`. An IPv4 block never contains an IPv6 address, nor the reverse. */
export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  if (cidr.version !== ip.version) return false;
  const whole = cidr.prefix >> 3;
  for (let i = 0; i < whole; i++) if (cidr.bytes[i] !== ip.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const m = (0xff << (8 - rest)) & 0xff;
  return ((ip.bytes[whole] ?? 0) & m) === cidr.bytes[whole];
}

/** A copy of `bytes` with every bit after the first `prefix` cleared. */
function mask(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.min(8, Math.max(0, prefix - i * 8));
    out[i] = (bytes[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

function fail(message: string): ParseResult<never> {
  return { ok: false, issues: [{ path: '', message }] };
}

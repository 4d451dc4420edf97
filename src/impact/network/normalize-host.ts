import type { ParseResult } from '../../core/errors.js';
import { formatIp, parseIp, unmapIpv4, type IpAddress } from './ip-address.js';

/** A host in canonical text form, with its address when it is an IP literal. */
export interface CanonicalHost {
  /** Lower-case ASCII domain (IDNA applied, no trailing dot), dotted-quad IPv4 or RFC 5952 IPv6 without brackets. */
  readonly host: string;
  readonly ip: IpAddress | null;
}

// Characters that delimit or hide a host: separators, controls, invisible format
// characters (soft hyphen, zero-width space, bidi marks), and URL delimiters.
// '%' is refused because clients disagree on whether a host is percent-decoded.
const REFUSED = /[\p{C}\p{Z}\s/\\?#@:%[\]]/u;
const LABEL = /^[a-z0-9_-]{1,63}$/;
// Already canonical, so the WHATWG parser would return it unchanged: lower-case LDH
// labels, none of them punycode (the parser validates those), not ending in a number.
const CANONICAL_NAME = /^(?!xn--)[a-z0-9_-]{1,63}(\.(?!xn--)[a-z0-9_-]{1,63})*$/;
const ENDS_IN_NUMBER = /(^|\.)(\d+|0x[0-9a-f]*)$/;
const MAX_NAME = 253;

/**
 * Canonicalizes one host as written in a URL authority: `[v6]`, any IPv4 form the
 * WHATWG URL parser accepts (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`) or a
 * domain name (IDNA/UTS 46 mapping to punycode, lower case, trailing dots removed).
 * IPv4-mapped IPv6 becomes the IPv4 address. Domains must then be LDH names
 * (underscore allowed) of at most 253 characters; anything else is an issue.
 */
export function normalizeHost(raw: string): ParseResult<CanonicalHost> {
  if (raw === '') return fail('the host is empty');
  if (raw.startsWith('[')) {
    const parsed = raw.endsWith(']') && raw.includes(':') ? parseIp(raw.slice(1, -1)) : null;
    if (parsed === null) return fail(`"${raw}" is not an IPv6 address`);
    return ipHost(unmapIpv4(parsed));
  }
  if (raw.length <= MAX_NAME && CANONICAL_NAME.test(raw) && !ENDS_IN_NUMBER.test(raw)) return { ok: true, value: { host: raw, ip: null } };
  if (REFUSED.test(raw)) return fail(`the host "${raw}" contains a character that is not allowed in a host`);

  // The WHATWG host parser does IDNA and IPv4 number forms; stripping trailing
  // dots can expose a new form ('0x7f.1..'), so repeat until nothing changes.
  let host = raw;
  for (let round = 0; ; round++) {
    const parsed = whatwgHost(host);
    if (parsed === null) return fail(`"${raw}" is not a valid host`);
    const stripped = parsed.replace(/\.+$/, '');
    if (stripped === '') return fail('the host is empty');
    if (stripped === host) break;
    if (round === 3) return fail(`"${raw}" does not have a stable canonical form`);
    host = stripped;
  }

  const ip = parseIp(host);
  if (ip !== null) return ipHost(ip);
  if (host.length > MAX_NAME) return fail(`the host name is longer than ${MAX_NAME} characters`);
  const labels = host.split('.');
  if (!labels.every((l) => LABEL.test(l))) return fail(`"${raw}" is not a host name (letters, digits, '-', '_'; labels of 1 to 63)`);
  if (ENDS_IN_NUMBER.test(host)) return fail(`"${raw}" is neither an IPv4 address nor a host name`);
  return { ok: true, value: { host, ip: null } };
}

function whatwgHost(host: string): string | null {
  try {
    const url = new URL(`http://${host}/`);
    // REFUSED excludes every delimiter, so the whole string must have become the host.
    if (url.port !== '' || url.username !== '' || url.password !== '' || url.pathname !== '/') return null;
    return url.hostname;
  } catch {
    return null;
  }
}

function ipHost(ip: IpAddress): ParseResult<CanonicalHost> {
  return { ok: true, value: { host: formatIp(ip), ip } };
}

function fail(message: string): ParseResult<never> {
  return { ok: false, issues: [{ path: '', message }] };
}

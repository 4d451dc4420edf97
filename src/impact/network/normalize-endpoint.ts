import type { Issue, ParseResult } from '../../core/errors.js';
import type { IpAddress } from './ip-address.js';
import { normalizeHost } from './normalize-host.js';

/** An endpoint reduced to what decides where it leads. */
export interface NormalizedEndpoint {
  /** The string as given (it may hold credentials; this module never reads them). */
  readonly input: string;
  /** Lower-case URL scheme, or null when the input had none. */
  readonly scheme: string | null;
  /** Canonical host: lower-case ASCII domain without trailing dot, dotted-quad IPv4, or RFC 5952 IPv6 without brackets. */
  readonly host: string;
  /** Explicit port, else the scheme's default port, else null. */
  readonly port: number | null;
  /** The address when the host is an IP literal (IPv4-mapped IPv6 is given as IPv4); null for names. */
  readonly ip: IpAddress | null;
}

/** Inputs longer than this many UTF-16 code units are refused. */
export const MAX_ENDPOINT_LENGTH = 2048;

/** Default ports of the schemes Governor knows; other schemes without a port have port null. */
export const DEFAULT_PORTS: ReadonlyMap<string, number> = new Map([
  ['http', 80],
  ['https', 443],
  ['ws', 80],
  ['wss', 443],
  ['ftp', 21],
  ['postgres', 5432],
  ['postgresql', 5432],
  ['mysql', 3306],
  ['redis', 6379],
  ['rediss', 6379],
  ['ssh', 22],
]);

// Ports the WHATWG parser omits from `url.port` because they are the scheme's default.
const WHATWG_DEFAULT_PORTS: ReadonlyMap<string, number> = new Map([
  ['http', 80],
  ['https', 443],
  ['ws', 80],
  ['wss', 443],
  ['ftp', 21],
]);

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
const PORT = /^\d{1,5}$/;
// Whitespace, controls, invisible format characters and backslashes: parsers
// disagree on them (WHATWG drops tabs and reads '\' as '/'), so none is guessed at.
const REFUSED = /[\p{C}\p{Z}\s\\]/u;
const CROSS_CHECK_SCHEME = 'governor-endpoint';

/**
 * Normalizes one endpoint: a URL of any scheme (`https://h/`, `postgres://u:pw@h:5432/db`),
 * `host`, `host:port`, `[v6]:port`, `user@host[:port]` or a bare IPv6 address.
 * The host is the one a WHATWG URL parser connects to (userinfo skipped), canonicalized
 * as a special-scheme host whatever the scheme, so `postgres://2130706433` is `127.0.0.1`.
 * Anything doubtful is an issue, never a guess: more than one '@', an empty host or port,
 * a port over 65535, percent-encoding in the host, whitespace, control or invisible
 * characters, backslashes, a schemeless `http:80`, or input over {@link MAX_ENDPOINT_LENGTH}.
 * Pure; the caller treats a failed endpoint as outside every zone.
 */
export function normalizeEndpoint(input: string): ParseResult<NormalizedEndpoint> {
  if (typeof input !== 'string') return fail('an endpoint must be a string');
  if (input.length > MAX_ENDPOINT_LENGTH) return fail(`the endpoint is longer than ${MAX_ENDPOINT_LENGTH} characters`);
  const text = input.trim();
  if (text === '') return fail('the endpoint is empty');
  if (REFUSED.test(text)) return fail('the endpoint contains whitespace, a control or invisible character, or a backslash');

  const match = SCHEME.exec(text);
  const scheme = match ? (match[1] ?? '').toLowerCase() : null;
  const rest = match ? text.slice(match[0].length) : text;
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const at = authority.lastIndexOf('@');
  if (authority.indexOf('@') !== at) return fail("the endpoint has more than one '@' before its host");
  const hostPort = authority.slice(at + 1);

  let hostText: string;
  let portText: string | undefined;
  let bareIpv6 = false;
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close < 0) return fail("the IPv6 address has no closing ']'");
    hostText = hostPort.slice(0, close + 1);
    const after = hostPort.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) return fail("unexpected text after ']'");
      portText = after.slice(1);
    }
  } else {
    const colons = hostPort.split(':').length - 1;
    if (colons === 0) {
      hostText = hostPort;
    } else if (colons === 1) {
      const colon = hostPort.indexOf(':');
      hostText = hostPort.slice(0, colon);
      portText = hostPort.slice(colon + 1);
    } else if (scheme === null && at < 0 && authorityEnd < 0) {
      hostText = `[${hostPort}]`;
      bareIpv6 = true;
    } else {
      return fail("the host has more than one ':' (an IPv6 address with a port, user or path must be in brackets)");
    }
  }

  let explicitPort: number | null = null;
  if (portText !== undefined) {
    if (!PORT.test(portText) || Number(portText) > 65535) return fail(`"${portText}" is not a port (0 to 65535)`);
    explicitPort = Number(portText);
    // 'http:80' is a URL without '//' to a WHATWG parser (host 80), a host 'http' to others.
    if (scheme === null && (DEFAULT_PORTS.has(hostText.toLowerCase()) || hostText.toLowerCase() === 'file')) {
      return fail(`"${text}" is ambiguous: write ${hostText}://host or a host name`);
    }
  }

  const host = normalizeHost(hostText);
  if (!host.ok) return host;

  // The WHATWG parser must find the same host and port in the whole input as the
  // split above did; a disagreement means some parser could be fooled, so refuse.
  if (!bareIpv6) {
    const crossScheme = scheme ?? CROSS_CHECK_SCHEME;
    const whole = parseUrl(scheme === null ? `${CROSS_CHECK_SCHEME}://${text}` : text);
    const alone = parseUrl(`${crossScheme}://${hostText}/`);
    const whatwgPort = whole === null || whole.port === '' ? null : Number(whole.port);
    const portAgrees = whatwgPort === explicitPort || (whatwgPort === null && explicitPort === WHATWG_DEFAULT_PORTS.get(crossScheme));
    if (whole === null || alone === null || whole.hostname !== alone.hostname || !portAgrees) {
      return fail('the endpoint is not a URL whose host can be determined unambiguously');
    }
  }

  const port = explicitPort ?? (scheme === null ? null : (DEFAULT_PORTS.get(scheme) ?? null));
  return { ok: true, value: Object.freeze({ input, scheme, host: host.value.host, port, ip: host.value.ip }) };
}

function parseUrl(text: string): { readonly hostname: string; readonly port: string } | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

function fail(message: string): ParseResult<never> {
  const issues: readonly Issue[] = [{ path: '', message }];
  return { ok: false, issues };
}

/** An IP address as bytes: 4 for IPv4, 16 for IPv6, network byte order. Treat `bytes` as read-only. */
export interface IpAddress {
  readonly version: 4 | 6;
  readonly bytes: Uint8Array;
}

const DOTTED_QUAD = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/**
 * Parses an IP address in its strict textual form: dotted-quad IPv4 (decimal, no
 * leading zeros, so `010.0.0.1` is rejected rather than guessed octal or decimal)
 * or RFC 4291 IPv6 without brackets or zone id (`::1`, `2001:db8::1`,
 * `::ffff:10.0.0.1`). IPv4-mapped IPv6 is returned as IPv6; see {@link unmapIpv4}.
 * Returns null for anything else.
 */
export function parseIp(text: string): IpAddress | null {
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text);
}

function parseIpv4(text: string): IpAddress | null {
  const m = DOTTED_QUAD.exec(text);
  if (m === null) return null;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const n = Number(m[i + 1]);
    if (n > 255) return null;
    bytes[i] = n;
  }
  return { version: 4, bytes };
}

function parseIpv6(text: string): IpAddress | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : null;
  if (head === null || (halves.length === 2 && tail === null)) return null;
  // A dotted-quad IPv4 may only end the address (RFC 4291 §2.2, form 3).
  if (head.endsInIpv4 && halves.length === 2) return null;
  const tailWords = tail?.words ?? [];
  const total = head.words.length + tailWords.length;
  if (halves.length === 2 ? total > 7 : total !== 8) return null;
  const bytes = new Uint8Array(16);
  const put = (words: readonly number[], start: number) =>
    words.forEach((w, i) => {
      bytes[(start + i) * 2] = w >> 8;
      bytes[(start + i) * 2 + 1] = w & 0xff;
    });
  put(head.words, 0);
  put(tailWords, 8 - tailWords.length);
  return { version: 6, bytes };
}

/** The 16-bit words of one side of `::`; a trailing dotted-quad IPv4 counts as two words. */
function groups(part: string): { words: number[]; endsInIpv4: boolean } | null {
  if (part === '') return { words: [], endsInIpv4: false };
  const pieces = part.split(':');
  const words: number[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i] ?? '';
    if (HEX_GROUP.test(piece)) {
      words.push(parseInt(piece, 16));
      continue;
    }
    const v4 = i === pieces.length - 1 ? parseIpv4(piece) : null;
    if (v4 === null) return null;
    const [a = 0, b = 0, c = 0, d = 0] = v4.bytes;
    words.push((a << 8) | b, (c << 8) | d);
    return { words, endsInIpv4: true };
  }
  return { words, endsInIpv4: false };
}

/** If `ip` is IPv4-mapped IPv6 (`::ffff:a.b.c.d`), the IPv4 address it denotes; otherwise `ip` itself. */
export function unmapIpv4(ip: IpAddress): IpAddress {
  const b = ip.bytes;
  if (ip.version !== 6 || b[10] !== 0xff || b[11] !== 0xff) return ip;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return ip;
  return { version: 4, bytes: b.slice(12, 16) };
}

/** Canonical text: dotted-quad IPv4, or RFC 5952 IPv6 (lower-case, no leading zeros, longest zero run of two or more groups as `::`, no brackets). */
export function formatIp(ip: IpAddress): string {
  const b = ip.bytes;
  if (ip.version === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (ws: readonly number[]) => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
}

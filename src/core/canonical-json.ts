/**
 * RFC 8785 (JCS) canonical JSON: object keys sorted by UTF-16 code units, no
 * whitespace, ECMAScript number and string serialization (which is what
 * JSON.stringify does for those). Rejects what JSON cannot represent exactly
 * (non-finite numbers, bigint, functions, cycles), so two equal values always
 * give the same bytes.
 */
export function canonicalJson(value: unknown): string {
  return serialize(value, new Set());
}

function serialize(value: unknown, seen: Set<object>): string {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON cannot hold a non-finite number');
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (seen.has(value)) throw new TypeError('canonical JSON cannot hold a cycle');
      seen.add(value);
      let out: string;
      if (Array.isArray(value)) {
        out = '[' + value.map((item) => (item === undefined ? 'null' : serialize(item, seen))).join(',') + ']';
      } else {
        const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined).sort();
        out = '{' + keys.map((k) => JSON.stringify(k) + ':' + serialize((value as Record<string, unknown>)[k], seen)).join(',') + '}';
      }
      seen.delete(value);
      return out;
    }
    default:
      throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
  }
}

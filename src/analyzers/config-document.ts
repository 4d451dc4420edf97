import type { ParseResult } from '../core/errors.js';
import { parseYamlSource } from '../policy/yaml-source.js';

/** The text formats a configuration document can be read from. */
export type ConfigFormat = 'json' | 'yaml';

/** Largest configuration document accepted, in UTF-16 code units. */
export const MAX_CONFIG_DOCUMENT_LENGTH = 1024 * 1024;

/**
 * Parses a configuration document into plain JSON values for `configDrift`.
 * YAML is read as YAML 1.2 strictly (unique keys, no custom tags, at most 100
 * aliases), so it yields no dates, binaries or other non-JSON values; JSON
 * follows `JSON.parse` (a repeated key keeps its last value). Never throws.
 */
export function parseConfigDocument(text: string, format: ConfigFormat): ParseResult<unknown> {
  if (typeof text !== 'string') return { ok: false, issues: [{ path: '', message: 'the document is not text' }] };
  if (text.length > MAX_CONFIG_DOCUMENT_LENGTH) {
    return { ok: false, issues: [{ path: '', message: `the document is larger than ${MAX_CONFIG_DOCUMENT_LENGTH} characters` }] };
  }
  if (format === 'yaml') {
    const parsed = parseYamlSource(text, 'document');
    return parsed.ok ? { ok: true, value: parsed.value.value } : parsed;
  }
  if (format !== 'json') return { ok: false, issues: [{ path: '', message: `unknown format ${JSON.stringify(format)}` }] };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, issues: [{ path: '', message: err instanceof Error ? err.message : String(err) }] };
  }
}

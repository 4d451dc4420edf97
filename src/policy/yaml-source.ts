import { LineCounter, parseDocument } from 'yaml';
import type { Issue, ParseResult } from '../core/errors.js';

/** Largest policy or inventory file accepted. */
export const MAX_SOURCE_BYTES = 1024 * 1024;

/** A parsed YAML file that can say on which line a path starts. */
export interface YamlSource {
  readonly file: string;
  readonly value: unknown;
  /** 1-based line of the node at `path`, or of its nearest existing parent. */
  lineOf(path: readonly (string | number)[]): number | undefined;
}

/**
 * Parses YAML text strictly (unique keys, no custom tags, bounded aliases) and
 * keeps the positions so later validation errors can name the line.
 */
export function parseYamlSource(text: string, file: string): ParseResult<YamlSource> {
  if (text.length > MAX_SOURCE_BYTES) {
    return { ok: false, issues: [{ path: '', message: `${file} is larger than ${MAX_SOURCE_BYTES} bytes` }] };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true, version: '1.2' });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => ({ path: '', message: e.message.split('\n')[0] ?? e.message, line: lineCounter.linePos(e.pos[0]).line })),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, issues: [{ path: '', message: (err as Error).message }] };
  }
  return {
    ok: true,
    value: {
      file,
      value,
      lineOf(path) {
        for (let n = path.length; n >= 0; n--) {
          const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
          if (node && typeof node === 'object' && node.range) return lineCounter.linePos(node.range[0]).line;
        }
        return undefined;
      },
    },
  };
}

/** Renders issues as `file:line: path: message` lines, the way compilers do. */
export function formatIssues(file: string, issues: readonly Issue[]): string {
  return issues.map((i) => `${file}${i.line === undefined ? '' : `:${i.line}`}: ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n');
}

/**
 * Walks untrusted structured input, collecting issues with their paths instead
 * of throwing, so one run reports every problem in a file.
 */
export class Reader {
  readonly issues: Issue[] = [];
  readonly #source: YamlSource | undefined;

  constructor(source?: YamlSource) {
    this.#source = source;
  }

  /** Records a problem at `path`. */
  fail(path: readonly (string | number)[], message: string): undefined {
    const line = this.#source?.lineOf(path);
    this.issues.push(line === undefined ? { path: formatPath(path), message } : { path: formatPath(path), message, line });
    return undefined;
  }

  /** Prefixes the messages of the issues recorded since `from`. */
  prefix(from: number, text: string): void {
    for (let i = from; i < this.issues.length; i++) {
      const issue = this.issues[i] as Issue;
      this.issues[i] = { ...issue, message: text + issue.message };
    }
  }

  object(path: readonly (string | number)[], value: unknown, allowed?: readonly string[]): Record<string, unknown> | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return this.fail(path, `expected a mapping, got ${describe(value)}`);
    const record = value as Record<string, unknown>;
    if (allowed) {
      for (const key of Object.keys(record)) {
        if (!allowed.includes(key)) this.fail([...path, key], `unknown key "${key}" (expected one of: ${allowed.join(', ')})`);
      }
    }
    return record;
  }

  array(path: readonly (string | number)[], value: unknown, max = 10_000): unknown[] | undefined {
    if (!Array.isArray(value)) return this.fail(path, `expected a list, got ${describe(value)}`);
    if (value.length > max) return this.fail(path, `expected at most ${max} items, got ${value.length}`);
    return value;
  }

  string(path: readonly (string | number)[], value: unknown, options: { max?: number; pattern?: RegExp; patternName?: string } = {}): string | undefined {
    const max = options.max ?? 256;
    if (typeof value !== 'string') return this.fail(path, `expected a string, got ${describe(value)}`);
    if (value.length === 0) return this.fail(path, 'expected a non-empty string');
    if (value.length > max) return this.fail(path, `expected at most ${max} characters, got ${value.length}`);
    if (options.pattern && !options.pattern.test(value)) return this.fail(path, `expected ${options.patternName ?? `a string matching ${options.pattern}`}, got "${value}"`);
    return value;
  }

  number(path: readonly (string | number)[], value: unknown, options: { min?: number; max?: number; integer?: boolean } = {}): number | undefined {
    if (typeof value !== 'number' || !Number.isFinite(value)) return this.fail(path, `expected a number, got ${describe(value)}`);
    if (options.integer && !Number.isInteger(value)) return this.fail(path, `expected an integer, got ${value}`);
    if (options.min !== undefined && value < options.min) return this.fail(path, `expected a number >= ${options.min}, got ${value}`);
    if (options.max !== undefined && value > options.max) return this.fail(path, `expected a number <= ${options.max}, got ${value}`);
    return value;
  }

  boolean(path: readonly (string | number)[], value: unknown): boolean | undefined {
    if (typeof value !== 'boolean') return this.fail(path, `expected true or false, got ${describe(value)}`);
    return value;
  }

  oneOf<T extends string>(path: readonly (string | number)[], value: unknown, options: readonly T[]): T | undefined {
    if (typeof value !== 'string' || !(options as readonly string[]).includes(value)) {
      return this.fail(path, `expected one of ${options.map((o) => `"${o}"`).join(', ')}, got ${describe(value)}`);
    }
    return value as T;
  }

  stringList(path: readonly (string | number)[], value: unknown, options: { max?: number; pattern?: RegExp; patternName?: string } = {}): string[] | undefined {
    const list = this.array(path, value);
    if (!list) return undefined;
    const out: string[] = [];
    list.forEach((item, i) => {
      const s = this.string([...path, i], item, options);
      if (s !== undefined) out.push(s);
    });
    return out;
  }
}

/** Identifiers in policy and inventory files: ids, names, tools, roles, environments. */
export const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
export const IDENTIFIER_NAME = 'an identifier (letters, digits, . _ : / -, at most 128)';

function formatPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `"${value.length > 40 ? value.slice(0, 40) + '…' : value}"`;
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${String(value)}`;
}

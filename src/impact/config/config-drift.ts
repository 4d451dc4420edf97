import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';

/** A JSON Schema (draft-07 by default; 2019-09 and 2020-12 when its `$schema` says so). */
export type JsonSchema = boolean | Readonly<Record<string, unknown>>;

/** What changed at one place of a configuration document. */
export type ConfigChangeKind = 'key-removed' | 'type-changed' | 'out-of-range' | 'schema-violation' | 'key-added' | 'value-changed';

/** One difference between the baseline and the proposed document, or one way the proposed document breaks its schema. */
export interface ConfigChange {
  readonly kind: ConfigChangeKind;
  /**
   * JSON Pointer (RFC 6901) into the proposed document; for a removed key or
   * array element, into the baseline. `''` is the whole document.
   */
  readonly path: string;
  /** The baseline's value here, when it has one. */
  readonly from?: unknown;
  /** The proposed value here, when it has one. */
  readonly to?: unknown;
  /** True when the change can break a consumer of the document: callers hold or deny on it. */
  readonly breaking: boolean;
  readonly message: string;
}

/** Input of `configDrift`. */
export interface ConfigDriftOptions {
  /** The document in force. */
  readonly baseline: unknown;
  /** The document the action would leave behind. */
  readonly proposed: unknown;
  /** The schema the baseline is governed by; `proposed` is validated against it. */
  readonly schema?: JsonSchema;
}

/** Outcome of `configDrift`. */
export interface ConfigDriftResult {
  /** True when at least one change is breaking. */
  readonly drifting: boolean;
  /** True when `proposed` satisfies the schema (always, without one) and could be examined at all. */
  readonly valid: boolean;
  readonly changes: readonly ConfigChange[];
}

/** Documents nested deeper than this (the root is level 0) are refused. */
export const MAX_CONFIG_DEPTH = 32;
/** Documents with more values than this (objects, arrays and scalars) are refused. */
export const MAX_CONFIG_NODES = 10_000;

const RANGE_KEYWORDS = new Set([
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'pattern',
  'enum',
  'const',
]);

/** Keys that identify the elements of an array of objects, tried in order. */
const IDENTITY_KEYS = ['name', 'id', 'key'] as const;

type Compiled = { readonly ok: true; readonly validate: ValidateFunction } | { readonly ok: false; readonly message: string };

const compiledSchemas = new WeakMap<object, Compiled>();

/**
 * Compares a proposed configuration document with the one in force and
 * validates it against the baseline's schema. Removed keys, changed types and
 * schema violations are breaking; added keys and changed values are not,
 * unless the schema rejects them. Pure and total: a schema that does not
 * compile and a document too deep or too large to examine are reported as a
 * breaking `schema-violation` (fail closed), never thrown.
 */
export function configDrift(options: ConfigDriftOptions): ConfigDriftResult {
  for (const [name, document] of [
    ['baseline', options.baseline],
    ['proposed', options.proposed],
  ] as const) {
    const problem = boundsProblem(document);
    if (problem !== undefined) return refused(`the ${name} document ${problem}`);
  }

  const violations = new Map<string, Violation[]>();
  let valid = true;
  if (options.schema !== undefined) {
    const compiled = compile(options.schema);
    if (!compiled.ok) return refused(`the schema does not compile: ${compiled.message}`);
    if (!compiled.validate(options.proposed)) {
      valid = false;
      for (const violation of schemaViolations(compiled.validate.errors ?? [], options)) {
        const { change } = violation;
        const atPath = violations.get(change.path) ?? [];
        if (!atPath.some((seen) => seen.change.kind === change.kind && seen.change.message === change.message)) atPath.push(violation);
        violations.set(change.path, atPath);
      }
    }
  }

  const structural: ConfigChange[] = [];
  structuralChanges(options.baseline, options.proposed, '', structural);
  const changes: ConfigChange[] = [];
  const reported = new Set<string>();
  for (const change of structural) {
    const atPath = violations.get(change.path);
    if (atPath === undefined) {
      changes.push(change);
    } else if (change.kind === 'key-removed' || change.kind === 'type-changed') {
      // The structural change is breaking already; the schema's word on it joins its message.
      changes.push({ ...change, message: `${change.message} (schema: ${atPath.map((seen) => seen.detail).join('; ')})` });
      reported.add(change.path);
    }
    // An added key or a changed value the schema rejects is described by the schema's changes below.
  }
  for (const [path, atPath] of violations) {
    if (!reported.has(path)) changes.push(...atPath.map((seen) => seen.change));
  }
  return { drifting: changes.some((change) => change.breaking), valid, changes };
}

function refused(message: string): ConfigDriftResult {
  return { drifting: true, valid: false, changes: [{ kind: 'schema-violation', path: '', breaking: true, message }] };
}

/** Why a document cannot be examined (too deep, too large, not JSON), or undefined. */
function boundsProblem(document: unknown): string | undefined {
  let nodes = 0;
  const pending: [unknown, number][] = [[document, 0]];
  while (pending.length > 0) {
    const [value, depth] = pending.pop() as [unknown, number];
    nodes += 1;
    if (nodes > MAX_CONFIG_NODES) return `holds more than ${MAX_CONFIG_NODES} values`;
    if (depth > MAX_CONFIG_DEPTH) return `is nested deeper than ${MAX_CONFIG_DEPTH} levels`;
    const type = jsonType(value);
    if (type === undefined) return `holds a value that is not JSON (${typeof value})`;
    if (type === 'array') for (const item of value as unknown[]) pending.push([item, depth + 1]);
    if (type === 'object') for (const item of Object.values(value as object)) pending.push([item, depth + 1]);
  }
  return undefined;
}

type JsonType = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object';

function jsonType(value: unknown): JsonType | undefined {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return typeof value as 'boolean' | 'string';
    case 'number':
      return Number.isFinite(value) ? 'number' : undefined;
    case 'object': {
      const prototype: unknown = Object.getPrototypeOf(value);
      return prototype === Object.prototype || prototype === null ? 'object' : undefined;
    }
    default:
      return undefined;
  }
}

function compile(schema: JsonSchema): Compiled {
  if (typeof schema === 'boolean') return compileNow(schema);
  const cached = compiledSchemas.get(schema);
  if (cached !== undefined) return cached;
  const compiled = compileNow(schema);
  compiledSchemas.set(schema, compiled);
  return compiled;
}

function compileNow(schema: JsonSchema): Compiled {
  const dialect = typeof schema === 'object' ? schema['$schema'] : undefined;
  // Strict: an unknown keyword or a contradictory schema is an error, not a silently weaker check.
  // `format` is an annotation, as JSON Schema 2019-09 and later make it by default (no format plugin is bundled).
  const ajvOptions = { allErrors: true, strict: true, allowUnionTypes: true, validateFormats: false } as const;
  try {
    const ajv =
      typeof dialect === 'string' && dialect.includes('2020-12')
        ? new Ajv2020(ajvOptions)
        : typeof dialect === 'string' && dialect.includes('2019-09')
          ? new Ajv2019(ajvOptions)
          : new Ajv(ajvOptions);
    return { ok: true, validate: ajv.compile(schema) };
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

/** A schema error as a change, and its text without the path. */
interface Violation {
  readonly change: ConfigChange;
  readonly detail: string;
}

function schemaViolations(errors: readonly ErrorObject[], options: ConfigDriftOptions): Violation[] {
  return errors.map((error) => {
    const path = error.instancePath + childOf(error);
    const kind: ConfigChangeKind = error.keyword === 'type' ? 'type-changed' : RANGE_KEYWORDS.has(error.keyword) ? 'out-of-range' : 'schema-violation';
    const from = resolve(options.baseline, path);
    const to = resolve(options.proposed, path);
    const detail = `${error.message ?? `fails the schema keyword "${error.keyword}"`}${allowed(error)}`;
    const change: ConfigChange = {
      kind,
      path,
      ...(from.found ? { from: from.value } : {}),
      ...(to.found ? { to: to.value } : {}),
      breaking: true,
      message: `${describe(path)} ${detail}`,
    };
    return { change, detail };
  });
}

/** The property an object-level error is about (a missing or an unexpected key), as a pointer suffix. */
function childOf(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  const child = params['missingProperty'] ?? params['additionalProperty'] ?? params['unevaluatedProperty'];
  return typeof child === 'string' ? `/${escapePointer(child)}` : '';
}

function allowed(error: ErrorObject): string {
  const values = (error.params as Record<string, unknown>)['allowedValues'];
  return Array.isArray(values) ? `: ${values.map((value) => show(value)).join(', ')}` : '';
}

/**
 * Differences between two JSON documents, in document order. Recursive: both
 * documents were checked to be at most MAX_CONFIG_DEPTH deep.
 */
function structuralChanges(from: unknown, to: unknown, path: string, changes: ConfigChange[]): void {
  const fromType = jsonType(from);
  const toType = jsonType(to);
  if (fromType !== toType) {
    changes.push({ kind: 'type-changed', path, from, to, breaking: true, message: `${describe(path)} changed from ${fromType ?? 'nothing'} to ${toType ?? 'nothing'}` });
  } else if (fromType === 'object') {
    const before = from as Record<string, unknown>;
    const after = to as Record<string, unknown>;
    for (const key of Object.keys(before)) {
      const child = `${path}/${escapePointer(key)}`;
      if (Object.hasOwn(after, key)) structuralChanges(before[key], after[key], child, changes);
      else changes.push(removed(child, before[key]));
    }
    for (const key of Object.keys(after)) {
      if (!Object.hasOwn(before, key)) changes.push(added(`${path}/${escapePointer(key)}`, after[key]));
    }
  } else if (fromType === 'array') {
    const before = from as unknown[];
    const after = to as unknown[];
    for (const [index, position] of pairElements(before, after)) {
      if (index !== undefined && position !== undefined) structuralChanges(before[index], after[position], `${path}/${position}`, changes);
      else if (index !== undefined) changes.push(removed(`${path}/${index}`, before[index]));
      else if (position !== undefined) changes.push(added(`${path}/${position}`, after[position]));
    }
  } else if (from !== to) {
    changes.push({ kind: 'value-changed', path, from, to, breaking: false, message: `${describe(path)} changed from ${show(from)} to ${show(to)}` });
  }
}

function removed(path: string, from: unknown): ConfigChange {
  return { kind: 'key-removed', path, from, breaking: true, message: `${describe(path)} was removed (it was ${show(from)})` };
}

function added(path: string, to: unknown): ConfigChange {
  return { kind: 'key-added', path, to, breaking: false, message: `${describe(path)} was added (${show(to)})` };
}

/**
 * Pairs the elements of two arrays as [baseline index, proposed index], either
 * side undefined for an element only the other has. Elements are paired by an
 * identifying key (`name`, `id` or `key`) when every element of both arrays is
 * an object carrying a unique one, so reordering or inserting an element is not
 * reported as a change of every later one; otherwise by position.
 */
function pairElements(before: readonly unknown[], after: readonly unknown[]): [number | undefined, number | undefined][] {
  const pairs: [number | undefined, number | undefined][] = [];
  const identity = IDENTITY_KEYS.find((key) => identifies(before, key) && identifies(after, key));
  if (identity === undefined) {
    for (let index = 0; index < Math.max(before.length, after.length); index += 1) {
      pairs.push([index < before.length ? index : undefined, index < after.length ? index : undefined]);
    }
    return pairs;
  }
  const positions = new Map(after.map((item, index) => [(item as Record<string, unknown>)[identity], index]));
  const matched = new Set<number>();
  before.forEach((item, index) => {
    const position = positions.get((item as Record<string, unknown>)[identity]);
    if (position !== undefined) matched.add(position);
    pairs.push([index, position]);
  });
  after.forEach((_, index) => {
    if (!matched.has(index)) pairs.push([undefined, index]);
  });
  return pairs;
}

function identifies(items: readonly unknown[], key: string): boolean {
  const seen = new Set<unknown>();
  for (const item of items) {
    if (jsonType(item) !== 'object') return false;
    const value = (item as Record<string, unknown>)[key];
    if ((typeof value !== 'string' && typeof value !== 'number') || seen.has(value)) return false;
    seen.add(value);
  }
  return true;
}

function resolve(document: unknown, pointer: string): { found: true; value: unknown } | { found: false } {
  let value = document;
  for (const token of pointer === '' ? [] : pointer.slice(1).split('/')) {
    const key = token.replaceAll('~1', '/').replaceAll('~0', '~');
    const type = jsonType(value);
    if (type === 'array' && /^(0|[1-9][0-9]*)$/.test(key) && Number(key) < (value as unknown[]).length) {
      value = (value as unknown[])[Number(key)];
    } else if (type === 'object' && Object.hasOwn(value as object, key)) {
      value = (value as Record<string, unknown>)[key];
    } else {
      return { found: false };
    }
  }
  return { found: true, value };
}

function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

function describe(path: string): string {
  return path === '' ? 'the document' : `"${path}"`;
}

/** A short rendering of a value for a message. */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

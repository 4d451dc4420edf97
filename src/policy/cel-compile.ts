import type { ASTNode, Environment, ParseResult } from '@marcbachmann/cel-js';
import type { CelContext } from './cel-environment.js';

/*
 * A fast path for `when:` conditions: the common subset of CEL compiled to
 * JavaScript closures, with exactly the semantics of the cel-js interpreter
 * (read from its source, lib/operators.js, overloads.js, registry.js and
 * macros.js of @marcbachmann/cel-js 8):
 *
 * - ints are BigInt, doubles are numbers; a JS number inside `action.params`
 *   is a double. `<`, `<=`, `>`, `>=` accept int/double mixed; `==` between
 *   static int and double does not type-check, but with a dyn operand an int
 *   equals the double of the same value (`action.params.count == 3`).
 * - `==` and `!=` with a dyn operand of another type are false/true, not
 *   errors; `<` and friends on mismatched types are errors.
 * - a missing key (`action.params.x`) is an error; map lookups only see own
 *   keys, so `constructor` and `__proto__` are missing unless the map has them.
 * - `&&` and `||` absorb an error on either side when the other side decides
 *   (`error && false` is false, `error || true` is true), and a non-bool
 *   operand is an error; the ternary and `!` have no such absorption.
 *
 * The closure models the values the engine gives it: the three context objects
 * of createCelContext and, inside `action.params`, JSON values (strings,
 * numbers, booleans, null, arrays, plain objects). Where the interpreter would
 * do something the closure does not model, it throws CEL_DEFER, and the
 * condition built by `CelCompiler.condition` asks cel-js instead; it does the
 * same for any error, so a failing condition's message is always cel-js's own.
 */

/** A compiled condition. */
export type CelClosure = (context: CelContext) => unknown;

/**
 * Thrown by a closure from `CelCompiler.closure` when evaluation raises a CEL
 * error: cel-js throws for the same context.
 */
export const CEL_ERROR: Error = Object.freeze(new Error('CEL evaluation error'));

/**
 * Thrown by a closure from `CelCompiler.closure` when the outcome depends on
 * something it does not model (a Map or a class instance among the
 * parameters, a list compared with `==`, ...): cel-js must decide.
 */
export const CEL_DEFER: Error = Object.freeze(new Error('deferred to the CEL interpreter'));

/** Compiles checked CEL expressions to closures when they are in the fast subset. */
export interface CelCompiler {
  /**
   * The raw closure for an expression, or undefined when some node is outside
   * the subset. Call it only for an expression that `env.check` accepted. It
   * returns what cel-js returns, or throws CEL_ERROR (cel-js throws too) or
   * CEL_DEFER (cel-js decides).
   */
  closure(ast: ASTNode): CelClosure | undefined;
  /**
   * The condition to run for a parsed, checked expression: the closure with
   * cel-js behind it for anything it throws, or `parsed` itself when the
   * expression is outside the subset. Either way it returns what cel-js
   * returns and throws what cel-js throws.
   */
  condition(parsed: ParseResult): CelClosure;
}

type FieldType = 'string' | 'bool' | 'double' | 'list<string>' | 'map<string, dyn>';
type Variable = 'principal' | 'action' | 'impact';
type Accessor = (context: CelContext) => unknown;

// The fields of the typed environment (cel-environment.ts), each with an
// accessor: a named property read is much cheaper than c[variable][key] on the
// hot path, and TypeScript checks each one against CelContext. createCelCompiler
// checks every type against the environment and leaves out any that disagree,
// so a field changed there falls back to cel-js instead of changing meaning.
const VARIABLES: ReadonlyArray<readonly [Variable, string, Readonly<Record<string, readonly [FieldType, Accessor]>>]> = [
  [
    'principal',
    'Principal',
    {
      agent: ['string', (c) => c.principal.agent],
      instance: ['string', (c) => c.principal.instance],
      role: ['string', (c) => c.principal.role],
      session: ['string', (c) => c.principal.session],
      task: ['string', (c) => c.principal.task],
    },
  ],
  [
    'action',
    'Action',
    {
      tool: ['string', (c) => c.action.tool],
      operation: ['string', (c) => c.action.operation],
      environment: ['string', (c) => c.action.environment],
      targets: ['list<string>', (c) => c.action.targets],
      endpoints: ['list<string>', (c) => c.action.endpoints],
      params: ['map<string, dyn>', (c) => c.action.params],
      sql: ['string', (c) => c.action.sql],
      taskId: ['string', (c) => c.action.taskId],
      intent: ['string', (c) => c.action.intent],
    },
  ],
  [
    'impact',
    'Impact',
    {
      known: ['bool', (c) => c.impact.known],
      replicas: ['double', (c) => c.impact.replicas],
      trafficFraction: ['double', (c) => c.impact.trafficFraction],
      totalTrafficFraction: ['double', (c) => c.impact.totalTrafficFraction],
      dependents: ['list<string>', (c) => c.impact.dependents],
      reversible: ['bool', (c) => c.impact.reversible],
      zones: ['list<string>', (c) => c.impact.zones],
      rows: ['double', (c) => c.impact.rows],
      rowFraction: ['double', (c) => c.impact.rowFraction],
      // Fields of nested messages, by their dotted path: `impact.sql.destructive` is read in one step.
      'sql.class': ['string', (c) => c.impact.sql.class],
      'sql.destructive': ['bool', (c) => c.impact.sql.destructive],
      'sql.writes': ['bool', (c) => c.impact.sql.writes],
      'sql.ddl': ['bool', (c) => c.impact.sql.ddl],
      'drift.drifting': ['bool', (c) => c.impact.drift.drifting],
    },
  ],
];

interface Field {
  readonly type: FieldType;
  readonly get: Accessor;
}

/**
 * Creates a compiler for conditions of `env`, the environment of
 * createCelEnvironment. Fields whose declared type in `env` differs from what
 * the compiler expects are left to cel-js.
 */
export function createCelCompiler(env: Environment): CelCompiler {
  const fields = new Map<Variable, ReadonlyMap<string, Field>>();
  for (const [variable, typeName, declared] of VARIABLES) {
    if (env.check(variable).type !== typeName) continue;
    const own = new Map<string, Field>();
    for (const [name, [type, get]] of Object.entries(declared)) {
      if (env.check(`${variable}.${name}`).type === type) own.set(name, { type, get });
    }
    fields.set(variable, own);
  }
  const closure = (ast: ASTNode): CelClosure | undefined => compileNode(ast, fields)?.run;
  return {
    closure,
    condition(parsed) {
      const slow = parsed as unknown as CelClosure;
      const fast = closure(parsed.ast);
      if (!fast) return slow;
      return (context) => {
        try {
          return fast(context);
        } catch {
          // CEL_DEFER, CEL_ERROR or anything unforeseen: the interpreter is the authority.
          return slow(context);
        }
      };
    },
  };
}

// ---------------------------------------------------------------------------
// Static types and compiled nodes

type Type = 'string' | 'int' | 'double' | 'bool' | 'null' | 'dyn' | 'list' | 'map' | Variable;
type Primitive = 'string' | 'int' | 'double' | 'bool' | 'null';

interface Compiled {
  readonly type: Type;
  readonly run: CelClosure;
  /** Present for a literal, or a list of literals. */
  readonly literal?: { readonly value: unknown };
  /** For a list: the static type of its elements. */
  readonly elements?: Primitive;
  /** For an int node whose value always fits a double exactly: the value as a number, without a BigInt. */
  readonly exactNumber?: (context: CelContext) => number;
  /** For a scalar field of a variable (`principal.role`): its accessor, so that comparisons can read it themselves. */
  readonly field?: { readonly get: Accessor; readonly type: 'string' | 'bool' | 'double' };
  /** For a map field of a variable (`action.params`): its accessor, so that a key lookup can read it itself. */
  readonly mapField?: Accessor;
}

type Fields = ReadonlyMap<Variable, ReadonlyMap<string, Field>>;

const isPrimitive = (t: Type): t is Primitive => t === 'string' || t === 'int' || t === 'double' || t === 'bool' || t === 'null';
const isVariable = (name: string): name is Variable => name === 'principal' || name === 'action' || name === 'impact';

function constant(type: Type, value: unknown): Compiled {
  const c: { type: Type; run: CelClosure; literal: { value: unknown }; exactNumber?: (context: CelContext) => number } = { type, run: () => value, literal: { value } };
  if (typeof value === 'bigint' && BigInt(Number(value)) === value) {
    const n = Number(value);
    c.exactNumber = () => n;
  }
  return c;
}

function compileNode(node: ASTNode, fields: Fields): Compiled | undefined {
  switch (node.op) {
    case 'value':
      return compileLiteral(node.args);
    case 'id': {
      const name = node.args;
      if (!isVariable(name) || !fields.has(name)) return undefined;
      return { type: name, run: (c) => c[name] };
    }
    case '.':
      return compileSelect(node.args[0], node.args[1], fields);
    case '[]': {
      const index = node.args[1];
      if (index.op !== 'value' || typeof index.args !== 'string') return undefined;
      return compileSelect(node.args[0], index.args, fields);
    }
    case 'list':
      return compileList(node.args);
    case 'call':
      if (node.args[0] === 'has' && node.args[1].length === 1) return compileHas(node.args[1][0]!, fields);
      if (node.args[0] === 'size' && node.args[1].length === 1) return compileSize(node.args[1][0]!, fields, false);
      return undefined;
    case 'rcall':
      return compileMethod(node.args[0], node.args[1], node.args[2], fields);
    case '!_':
      return compileNot(node.args, fields);
    case '-_':
      return compileNegate(node.args, fields);
    case '&&':
    case '||':
      return compileLogical(node.op, node.args[0], node.args[1], fields);
    case '?:':
      return compileTernary(node.args[0], node.args[1], node.args[2], fields);
    case '==':
    case '!=':
      return compileEquality(node.op, node.args[0], node.args[1], fields);
    case '<':
    case '<=':
    case '>':
    case '>=':
      return compileRelation(node.op, node.args[0], node.args[1], fields);
    case 'in':
      return compileIn(node.args[0], node.args[1], fields);
    default:
      return undefined;
  }
}

function compileLiteral(value: unknown): Compiled | undefined {
  switch (typeof value) {
    case 'string':
      return constant('string', value);
    case 'bigint':
      return constant('int', value);
    case 'number':
      return constant('double', value);
    case 'boolean':
      return constant('bool', value);
    default:
      // bytes and uint literals are left to cel-js
      return value === null ? constant('null', null) : undefined;
  }
}

/** A list literal of literals of one type; cel-js rejects mixed lists at check. */
function compileList(elements: readonly ASTNode[]): Compiled | undefined {
  if (elements.length === 0) return undefined;
  const values: unknown[] = [];
  let type: Primitive | undefined;
  for (const e of elements) {
    const c = e.op === 'value' ? compileLiteral(e.args) : undefined;
    if (!c || !isPrimitive(c.type) || c.type === 'null' || (type !== undefined && c.type !== type)) return undefined;
    type = c.type;
    values.push(c.literal?.value);
  }
  if (type === undefined) return undefined;
  // A fresh array per evaluation, as cel-js builds one: a caller can never alter the literal.
  return { type: 'list', run: () => values.slice(), literal: { value: values }, elements: type };
}

// ---------------------------------------------------------------------------
// Field selection: message fields, map keys, dyn values

function compileSelect(target: ASTNode, key: string, fields: Fields): Compiled | undefined {
  // A dotted key names a nested field (`impact["sql.writes"]` is not `impact.sql.writes`).
  if (key.includes('.')) return undefined;
  if (target.op === '.') {
    // `impact.sql.writes`: a field of a nested message of a variable, read directly.
    const [inner, innerKey] = target.args;
    if (inner.op === 'id' && isVariable(inner.args)) {
      const nested = fields.get(inner.args)?.get(`${innerKey}.${key}`);
      if (nested) return readField(nested);
    }
  }
  const left = compileNode(target, fields);
  if (!left) return undefined;
  const run = left.run;
  if (isVariable(left.type)) {
    const field = fields.get(left.type)?.get(key);
    // Only a variable itself has fields (a ternary between two of them is left to cel-js).
    if (!field || target.op !== 'id') return undefined;
    return readField(field);
  }
  if (left.type === 'map') {
    const get = left.mapField;
    if (get) return { type: 'dyn', run: (c) => selectMap(mapOf(get(c)), key) };
    return { type: 'dyn', run: (c) => selectMap(run(c) as object, key) };
  }
  if (left.type === 'dyn') {
    return { type: 'dyn', run: (c) => selectDyn(run(c), key) };
  }
  return undefined;
}

/**
 * A field of a context variable, checked against its declared type as cel-js
 * does: a missing or mistyped value is an error, except the list and map
 * representations cel-js accepts but the closure does not model (a Set, a Map).
 */
function readField({ type, get }: Field): Compiled {
  switch (type) {
    case 'string':
      return {
        type,
        field: { get, type },
        run: (c) => {
          const v = get(c);
          if (typeof v !== 'string') throw CEL_ERROR;
          return v;
        },
      };
    case 'bool':
      return {
        type,
        field: { get, type },
        run: (c) => {
          const v = get(c);
          if (typeof v !== 'boolean') throw CEL_ERROR;
          return v;
        },
      };
    case 'double':
      return {
        type,
        field: { get, type },
        run: (c) => {
          const v = get(c);
          if (typeof v !== 'number') throw CEL_ERROR;
          return v;
        },
      };
    case 'list<string>':
      return {
        type: 'list',
        elements: 'string',
        run: (c) => {
          const v = get(c);
          if (Array.isArray(v) && v.constructor === Array) return v;
          const ctor = (v as { constructor?: unknown } | null | undefined)?.constructor;
          throw ctor === Array || ctor === Set ? CEL_DEFER : CEL_ERROR;
        },
      };
    case 'map<string, dyn>':
      return { type: 'map', mapField: get, run: (c) => mapOf(get(c)) };
  }
}

/** The value of a map<string, dyn> field, checked as cel-js checks it. */
function mapOf(v: unknown): object {
  if (typeof v === 'object' && v !== null) {
    // cel-js tells a map by its `constructor` property, so an own "constructor"
    // key makes it reject the object; reading the same property keeps that.
    const ctor = (v as { constructor?: unknown }).constructor;
    if (ctor === Object || ctor === undefined) return v;
    if (ctor === Map) throw CEL_DEFER;
  }
  throw CEL_ERROR;
}

type FieldRef = NonNullable<Compiled['field']>;
type FieldTest = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in';

const JS_TYPES = { string: 'string', bool: 'boolean', double: 'number' } as const;

/**
 * `field OP constant` as one closure, for the most common conditions
 * (`principal.role == "dba"`, `impact.replicas > 3.0`, `action.tool in [...]`).
 * For 'in', `k` is a Set of the list's values, all of the field's type.
 */
function fieldTest(f: FieldRef, op: FieldTest, k: unknown): CelClosure {
  const get = f.get;
  const jsType = JS_TYPES[f.type];
  // The casts only satisfy the type checker: JavaScript compares as cel-js's handlers do.
  const n = k as number;
  switch (op) {
    case '==':
      return (c) => {
        const v = get(c);
        if (typeof v !== jsType) throw CEL_ERROR;
        return v === k;
      };
    case '!=':
      return (c) => {
        const v = get(c);
        if (typeof v !== jsType) throw CEL_ERROR;
        return v !== k;
      };
    case '<':
      return (c) => {
        const v = get(c);
        if (typeof v !== jsType) throw CEL_ERROR;
        return (v as number) < n;
      };
    case '<=':
      return (c) => {
        const v = get(c);
        if (typeof v !== jsType) throw CEL_ERROR;
        return (v as number) <= n;
      };
    case '>':
      return (c) => {
        const v = get(c);
        if (typeof v !== jsType) throw CEL_ERROR;
        return (v as number) > n;
      };
    case '>=':
      return (c) => {
        const v = get(c);
        if (typeof v !== jsType) throw CEL_ERROR;
        return (v as number) >= n;
      };
    case 'in': {
      const set = k as ReadonlySet<unknown>;
      return (c) => {
        const v = get(c);
        if (typeof v !== jsType) throw CEL_ERROR;
        return set.has(v);
      };
    }
  }
}

/** A literal's value, with an int that fits a double exactly as a number: it compares the same and faster. */
function literalOperand(node: Compiled): unknown {
  const v = node.literal?.value;
  return typeof v === 'bigint' && node.exactNumber ? Number(v) : v;
}

const FLIPPED = { '==': '==', '!=': '!=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' } as const;

/** `map.key` on a map<string, dyn>: own keys only; a missing key is an error. */
function selectMap(map: object, key: string): unknown {
  const v = Object.hasOwn(map, key) ? (map as Record<string, unknown>)[key] : undefined;
  if (v === undefined) throw CEL_ERROR;
  return checkDyn(v);
}

/** `value.key` on a dyn value: only a map has keys; any other value is an error. */
function selectDyn(value: unknown, key: string): unknown {
  if (kindOf(value) !== 'map') throw CEL_ERROR;
  return selectMap(value as object, key);
}

// ---------------------------------------------------------------------------
// Runtime kinds of dyn values

type Kind = 'string' | 'int' | 'double' | 'bool' | 'null' | 'list' | 'map';

/**
 * The CEL type of a dyn value, the way cel-js's debugType tells it from
 * `typeof` and the `constructor` property. Objects of other classes (a Map, a
 * Set, a Date, ...) are deferred; values cel-js cannot type are an error.
 */
function kindOf(v: unknown): Kind {
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'number':
      return 'double';
    case 'bigint':
      return 'int';
    case 'boolean':
      return 'bool';
    case 'object': {
      if (v === null) return 'null';
      const ctor = (v as { constructor?: unknown }).constructor;
      if (ctor === Object || ctor === undefined) return 'map';
      if (ctor === Array && Array.isArray(v)) return 'list';
      if (typeof ctor === 'function') throw CEL_DEFER;
      // e.g. a JSON object with a "constructor" key: cel-js finds no type for it.
      throw CEL_ERROR;
    }
    default:
      return unsupported();
  }
}

// Functions, symbols and undefined have no CEL type.
function unsupported(): never {
  throw CEL_ERROR;
}

/**
 * cel-js's check of a value read from a map<string, dyn> (its `dyn` type
 * matcher), which is laxer than debugType: it accepts an object whose
 * `constructor` is null, a Map or a Set, and later operations on it decide.
 */
function checkDyn(v: unknown): unknown {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
      return v;
    case 'object': {
      if (v === null) return v;
      const ctor = (v as { constructor?: unknown }).constructor;
      if (ctor === null || ctor === undefined || ctor === Object || ctor === Array || ctor === Map || ctor === Set) return v;
      if (typeof ctor === 'function') throw CEL_DEFER;
      throw CEL_ERROR;
    }
    default:
      return unsupported();
  }
}

/**
 * kindOf, following the first element of lists and the first value of maps
 * down as cel-js's debugTypeDeep does (it throws on a value it cannot type
 * there, so the closure must not answer without looking either).
 */
function kindOfDeep(v: unknown): Kind {
  const kind = kindOf(v);
  if (kind === 'list') {
    const first = (v as readonly unknown[])[0];
    if (first !== undefined) kindOfDeep(first);
  } else if (kind === 'map') {
    for (const key in v as object) {
      kindOfDeep((v as Record<string, unknown>)[key]);
      break;
    }
  }
  return kind;
}

// Loose equality is CEL's int == double when one side is dyn: 3n == 3.
const looseEqual = (a: unknown, b: unknown): boolean => a == b;

/** cel-js's isEqual (used by `in`), for a value against a list element. */
function isEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  switch (typeof a) {
    case 'string':
    case 'boolean':
      return false;
    case 'bigint':
      return typeof b === 'number' ? looseEqual(a, b) : false;
    case 'number':
      return typeof b === 'bigint' ? looseEqual(a, b) : false;
    case 'object':
      // Two lists or maps are compared by their overloads: left to cel-js.
      if (typeof b !== 'object') return false;
      throw CEL_DEFER;
    default:
      throw CEL_DEFER;
  }
}

/** `==` with at least one dyn operand (cel-js resolves the overload at run time). */
function equalsDyn(a: unknown, b: unknown): boolean {
  const ka = kindOf(a);
  const kb = kindOf(b);
  if (ka === 'list' || ka === 'map' || kb === 'list' || kb === 'map') throw CEL_DEFER;
  if (ka === kb) return a === b;
  if ((ka === 'int' && kb === 'double') || (ka === 'double' && kb === 'int')) return looseEqual(a, b);
  // No overload for the pair: cel-js falls back to `===`, which is false across types.
  return false;
}

const ORDERED_SAME: ReadonlySet<Kind> = new Set(['string', 'int', 'double', 'bool']);

/** Throws CEL_ERROR unless cel-js has a `<` overload for the runtime kinds of a and b. */
function checkOrdered(a: unknown, b: unknown): void {
  const ka = kindOf(a);
  const kb = kindOf(b);
  if (ka === kb ? ORDERED_SAME.has(ka) : (ka === 'int' && kb === 'double') || (ka === 'double' && kb === 'int')) return;
  throw CEL_ERROR;
}

// ---------------------------------------------------------------------------
// Operators

function compileEquality(op: '==' | '!=', l: ASTNode, r: ASTNode, fields: Fields): Compiled | undefined {
  const left = compileNode(l, fields);
  const right = compileNode(r, fields);
  if (!left || !right) return undefined;
  const negate = op === '!=';
  const lr = left.run;
  const rr = right.run;
  if (left.type === 'dyn' || right.type === 'dyn') {
    if (!(left.type === 'dyn' || isPrimitive(left.type)) || !(right.type === 'dyn' || isPrimitive(right.type))) return undefined;
    const k = right.literal ?? left.literal;
    if (k) {
      const v = k.value;
      const dyn = right.literal ? lr : rr;
      return { type: 'bool', run: negate ? (c) => !equalsDyn(dyn(c), v) : (c) => equalsDyn(dyn(c), v) };
    }
    return { type: 'bool', run: negate ? (c) => !equalsDyn(lr(c), rr(c)) : (c) => equalsDyn(lr(c), rr(c)) };
  }
  // Static operands: cel-js only accepts the same primitive type on both sides.
  if (!isPrimitive(left.type) || left.type !== right.type) return undefined;
  if (left.field && right.literal) return { type: 'bool', run: fieldTest(left.field, op, right.literal.value) };
  if (right.field && left.literal) return { type: 'bool', run: fieldTest(right.field, op, left.literal.value) };
  if (left.exactNumber && right.exactNumber) {
    const ln = left.exactNumber;
    const rn = right.exactNumber;
    return { type: 'bool', run: negate ? (c) => ln(c) !== rn(c) : (c) => ln(c) === rn(c) };
  }
  if (right.literal) {
    const k = right.literal.value;
    return { type: 'bool', run: negate ? (c) => lr(c) !== k : (c) => lr(c) === k };
  }
  return { type: 'bool', run: negate ? (c) => lr(c) !== rr(c) : (c) => lr(c) === rr(c) };
}

// The closures below are cel-js's handlers, `(a, b) => a < b`: JavaScript's
// operators compare strings, numbers, BigInts and mixed number/BigInt exactly
// as they do there. The casts only satisfy the type checker.
const RELATIONS = {
  '<': (a: unknown, b: unknown) => (a as number) < (b as number),
  '<=': (a: unknown, b: unknown) => (a as number) <= (b as number),
  '>': (a: unknown, b: unknown) => (a as number) > (b as number),
  '>=': (a: unknown, b: unknown) => (a as number) >= (b as number),
} as const;

const ORDERED_STATIC = new Set(['string:string', 'int:int', 'double:double', 'bool:bool', 'int:double', 'double:int']);

function compileRelation(op: keyof typeof RELATIONS, l: ASTNode, r: ASTNode, fields: Fields): Compiled | undefined {
  const left = compileNode(l, fields);
  const right = compileNode(r, fields);
  if (!left || !right) return undefined;
  const compare = RELATIONS[op];
  const lr = left.run;
  const rr = right.run;
  if (left.type === 'dyn' || right.type === 'dyn') {
    if (!(left.type === 'dyn' || isPrimitive(left.type)) || !(right.type === 'dyn' || isPrimitive(right.type))) return undefined;
    return {
      type: 'bool',
      run: (c) => {
        const a = lr(c);
        const b = rr(c);
        checkOrdered(a, b);
        return compare(a, b);
      },
    };
  }
  if (!ORDERED_STATIC.has(`${left.type}:${right.type}`)) return undefined;
  if (left.field && right.literal) return { type: 'bool', run: fieldTest(left.field, op, literalOperand(right)) };
  if (right.field && left.literal) return { type: 'bool', run: fieldTest(right.field, FLIPPED[op], literalOperand(left)) };
  // Numbers that are exact stand in for ints (a size, a literal): the same order, without BigInts.
  const ln = left.exactNumber ?? (left.type === 'double' ? (lr as (c: CelContext) => number) : undefined);
  const rn = right.exactNumber ?? (right.type === 'double' ? (rr as (c: CelContext) => number) : undefined);
  if (ln && rn) {
    if (right.literal) {
      const k = Number(right.literal.value);
      switch (op) {
        case '<':
          return { type: 'bool', run: (c) => ln(c) < k };
        case '<=':
          return { type: 'bool', run: (c) => ln(c) <= k };
        case '>':
          return { type: 'bool', run: (c) => ln(c) > k };
        case '>=':
          return { type: 'bool', run: (c) => ln(c) >= k };
      }
    }
    return { type: 'bool', run: (c) => compare(ln(c), rn(c)) };
  }
  return { type: 'bool', run: (c) => compare(lr(c), rr(c)) };
}

function compileIn(l: ASTNode, r: ASTNode, fields: Fields): Compiled | undefined {
  const left = compileNode(l, fields);
  const right = compileNode(r, fields);
  if (!left || !right) return undefined;
  const lr = left.run;
  const rr = right.run;
  if (!(left.type === 'dyn' || (isPrimitive(left.type) && left.type !== 'null'))) return undefined;
  const leftDyn = left.type === 'dyn';

  if (right.type === 'list') {
    const literal = right.literal?.value as readonly unknown[] | undefined;
    if (literal && !leftDyn) {
      // cel-js binds list<V> to the left's type, so both are one primitive type and `in` is identity.
      if (right.elements !== left.type) return undefined;
      const set = new Set(literal);
      if (left.field) return { type: 'bool', run: fieldTest(left.field, 'in', set) };
      return { type: 'bool', run: (c) => set.has(lr(c)) };
    }
    if (literal) return { type: 'bool', run: (c) => includes(literal, deep(lr(c))) };
    return { type: 'bool', run: (c) => includes(rr(c) as readonly unknown[], leftDyn ? deep(lr(c)) : lr(c)) };
  }
  if (right.type === 'map') {
    // `key in action.params`; cel-js types the map from its first value at run time.
    return {
      type: 'bool',
      run: (c) => {
        const map = rr(c) as object;
        kindOfDeep(map);
        return mapIncludes(map, leftDyn ? deep(lr(c)) : lr(c));
      },
    };
  }
  if (right.type === 'dyn') {
    return {
      type: 'bool',
      run: (c) => {
        const a = leftDyn ? deep(lr(c)) : lr(c);
        const b = rr(c);
        const kind = kindOfDeep(b);
        if (kind === 'list') return includes(b as readonly unknown[], a);
        if (kind === 'map') return mapIncludes(b as object, a);
        throw CEL_ERROR;
      },
    };
  }
  return undefined;
}

function deep(v: unknown): unknown {
  kindOfDeep(v);
  return v;
}

function includes(list: readonly unknown[], value: unknown): boolean {
  for (const v of list) if (isEqual(value, v)) return true;
  return false;
}

/** cel-js's mapIncludes: an own key with a defined value (the key is converted as a property key). */
function mapIncludes(map: object, key: unknown): boolean {
  return Object.hasOwn(map, key as PropertyKey) ? (map as Record<PropertyKey, unknown>)[key as PropertyKey] !== undefined : false;
}

function compileLogical(op: '&&' | '||', l: ASTNode, r: ASTNode, fields: Fields): Compiled | undefined {
  const left = compileNode(l, fields);
  const right = compileNode(r, fields);
  if (!left || !right) return undefined;
  if (!(left.type === 'bool' || left.type === 'dyn') || !(right.type === 'bool' || right.type === 'dyn')) return undefined;
  const lr = left.run;
  const rr = right.run;
  // `decides` is the value that settles the result alone: false for &&, true for ||.
  const decides = op === '||';
  // The left side failed (`failure`, or undefined when it is not a bool): only the right side deciding saves it.
  const rescue = (failure: unknown, c: CelContext): boolean => {
    let b: unknown;
    try {
      b = rr(c);
    } catch (err) {
      // A deferred left could have been the deciding value itself, so nothing is certain.
      throw failure === CEL_DEFER ? CEL_DEFER : err;
    }
    if (b === decides) return decides;
    throw failure === CEL_DEFER ? CEL_DEFER : CEL_ERROR;
  };
  return {
    type: 'bool',
    run: (c) => {
      let a: unknown;
      try {
        a = lr(c);
      } catch (err) {
        return rescue(err, c);
      }
      if (a === decides) return decides;
      if (a !== !decides) return rescue(undefined, c);
      const b = rr(c);
      if (typeof b === 'boolean') return b;
      throw CEL_ERROR;
    },
  };
}

function compileTernary(cond: ASTNode, yes: ASTNode, no: ASTNode, fields: Fields): Compiled | undefined {
  const test = compileNode(cond, fields);
  const a = compileNode(yes, fields);
  const b = compileNode(no, fields);
  if (!test || !a || !b) return undefined;
  if (!(test.type === 'bool' || test.type === 'dyn')) return undefined;
  let type: Type;
  if (a.type === 'dyn' || b.type === 'dyn') type = 'dyn';
  else if (a.type === b.type && (a.type !== 'list' || a.elements === b.elements)) type = a.type;
  else return undefined;
  const tr = test.run;
  const ar = a.run;
  const br = b.run;
  return {
    type,
    ...(type === 'list' && a.elements ? { elements: a.elements } : {}),
    run: (c) => {
      const t = tr(c);
      if (t === true) return ar(c);
      if (t === false) return br(c);
      throw CEL_ERROR;
    },
  };
}

function compileNot(arg: ASTNode, fields: Fields): Compiled | undefined {
  const operand = compileNode(arg, fields);
  if (!operand || !(operand.type === 'bool' || operand.type === 'dyn')) return undefined;
  const run = operand.run;
  return {
    type: 'bool',
    run: (c) => {
      const v = run(c);
      if (typeof v !== 'boolean') throw CEL_ERROR;
      return !v;
    },
  };
}

function compileNegate(arg: ASTNode, fields: Fields): Compiled | undefined {
  const operand = compileNode(arg, fields);
  if (!operand) return undefined;
  if (operand.literal && (operand.type === 'int' || operand.type === 'double')) {
    return constant(operand.type, -(operand.literal.value as number));
  }
  const run = operand.run;
  if (operand.type === 'int' || operand.type === 'double') return { type: operand.type, run: (c) => -(run(c) as number) };
  if (operand.type !== 'dyn') return undefined;
  return {
    type: 'dyn',
    run: (c) => {
      const v = run(c);
      if (typeof v === 'number' || typeof v === 'bigint') return -v;
      throw CEL_ERROR;
    },
  };
}

// ---------------------------------------------------------------------------
// has(), size() and string methods

/**
 * `has(a.b.c)`: cel-js walks the selections from the variable out; a missing
 * field is false at the last step and an error before it. A field the type
 * does not declare is missing (cel-js checks only the variable, not the fields).
 */
function compileHas(arg: ASTNode, fields: Fields): Compiled | undefined {
  const keys: string[] = [];
  let node = arg;
  while (node.op === '.') {
    keys.unshift(node.args[1]);
    node = node.args[0];
  }
  if (keys.length === 0 || node.op !== 'id') return undefined;
  const variable = compileNode(node, fields);
  if (!variable || !isVariable(variable.type)) return undefined;
  const [first, ...rest] = keys as [string, ...string[]];
  const declared = fields.get(variable.type);
  const field = declared?.get(first);
  // A nested message (`has(impact.sql)`, `has(impact.sql.writes)`) is left to cel-js.
  if (!field && declared && [...declared.keys()].some((k) => k.startsWith(`${first}.`))) return undefined;
  if (!field) {
    // An undeclared field, when not the last step, is an error: `has(principal.foo.bar)`.
    return keys.length === 1
      ? constant('bool', false)
      : {
          type: 'bool',
          run: () => {
            throw CEL_ERROR;
          },
        };
  }
  const get = field.get;
  if (field.type === 'map<string, dyn>' && rest.length === 1) {
    // has(action.params.x), the usual form, as one closure.
    const key = rest[0]!;
    return { type: 'bool', run: (c) => selectForHas(mapOf(get(c)), key) !== undefined };
  }
  const read = readField(field).run;
  const last = rest.length - 1;
  return {
    type: 'bool',
    run: (c) => {
      if (get(c) === undefined) {
        if (last < 0) return false;
        throw CEL_ERROR;
      }
      let value = read(c);
      for (let i = 0; i <= last; i++) {
        value = selectForHas(value, rest[i]!);
        if (value === undefined) {
          if (i === last) return false;
          throw CEL_ERROR;
        }
      }
      return true;
    },
  };
}

/** One step of has(): a key of a map, or undefined (lists and scalars have no fields). */
function selectForHas(value: unknown, key: string): unknown {
  if (kindOf(value) !== 'map') return undefined;
  const v = Object.hasOwn(value as object, key) ? (value as Record<string, unknown>)[key] : undefined;
  return v === undefined ? v : checkDyn(v);
}

function compileSize(arg: ASTNode, fields: Fields, method: boolean): Compiled | undefined {
  const operand = compileNode(arg, fields);
  if (!operand) return undefined;
  const run = operand.run;
  if (operand.literal) {
    const v = operand.literal.value;
    if (typeof v === 'string') return constant('int', BigInt(codePoints(v)));
    if (Array.isArray(v)) return constant('int', BigInt(v.length));
    return undefined;
  }
  let length: (c: CelContext) => number;
  switch (operand.type) {
    case 'string':
      length = (c) => codePoints(run(c) as string);
      break;
    case 'list':
      length = (c) => (run(c) as readonly unknown[]).length;
      break;
    case 'map':
      // size(m) types a map<string, dyn> from its first value at run time, as a dyn
      // (and fails where that cannot be typed); cel-js calls m.size() directly.
      length = method ? (c) => Object.keys(run(c) as object).length : (c) => sizeOfDyn(run(c));
      break;
    case 'dyn':
      length = (c) => sizeOfDyn(run(c));
      break;
    default:
      return undefined;
  }
  return { type: 'int', run: (c) => BigInt(length(c)), exactNumber: length };
}

function sizeOfDyn(v: unknown): number {
  switch (kindOfDeep(v)) {
    case 'string':
      return codePoints(v as string);
    case 'list':
      return (v as readonly unknown[]).length;
    case 'map':
      return Object.keys(v as object).length;
    default:
      throw CEL_ERROR;
  }
}

// cel-js counts code points (a lone surrogate counts as one).
function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

const STRING_METHODS = {
  startsWith: (s: string, t: string) => s.startsWith(t),
  endsWith: (s: string, t: string) => s.endsWith(t),
  contains: (s: string, t: string) => s.includes(t),
} as const;

function compileMethod(name: string, target: ASTNode, args: readonly ASTNode[], fields: Fields): Compiled | undefined {
  if (name === 'size' && args.length === 0) return compileSize(target, fields, true);
  if (!(name === 'startsWith' || name === 'endsWith' || name === 'contains') || args.length !== 1) return undefined;
  const method = STRING_METHODS[name];
  const receiver = compileNode(target, fields);
  const argument = compileNode(args[0]!, fields);
  if (!receiver || !argument) return undefined;
  if (!(receiver.type === 'string' || receiver.type === 'dyn') || !(argument.type === 'string' || argument.type === 'dyn')) return undefined;
  const rr = receiver.run;
  const ar = argument.run;
  if (receiver.type === 'string' && argument.literal) {
    const t = argument.literal.value as string;
    return { type: 'bool', run: (c) => method(rr(c) as string, t) };
  }
  return {
    type: 'bool',
    run: (c) => {
      // cel-js evaluates the arguments before the receiver.
      const t = ar(c);
      const s = rr(c);
      if (typeof s !== 'string' || typeof t !== 'string') throw CEL_ERROR;
      return method(s, t);
    },
  };
}

import { isRecord, list, nodeOf, parseBool, type Fields } from './parse-tree.js';

/**
 * Constant folding over PostgreSQL raw parse trees, enough to tell that a WHERE
 * clause selects every row: `true`, `1=1`, `'a'='a'`, `NOT false`, `x OR true`,
 * `2-1 = 1`, `'t'::boolean`, `1 IN (1, 2)`, `NULL IS NULL`, `EXISTS (SELECT 1)`.
 * Folding follows SQL's three-valued logic; anything it does not understand is
 * "not constant", never a guess.
 */

/** A folded SQL value; `null` is SQL NULL. */
export type SqlConstant = { readonly t: 'bool'; readonly v: boolean } | { readonly t: 'num'; readonly v: Decimal } | { readonly t: 'str'; readonly v: string } | { readonly t: 'null' };

/** An exact decimal, `m × 10^-s`: PostgreSQL's numeric literals and arithmetic are exact, so folding is too. */
export interface Decimal {
  readonly m: bigint;
  readonly s: number;
}

const NULL: SqlConstant = { t: 'null' };
const TRUE: SqlConstant = { t: 'bool', v: true };
const FALSE: SqlConstant = { t: 'bool', v: false };
// Each level here is at least two levels of the classifier's walk, whose limit (1,000)
// is reached first: an expression too deep to fold makes the statement unanalyzable.
const MAX_DEPTH = 1000;

/**
 * True when `where` holds for every row (for a comparison of a column with itself,
 * every row where the column is not null): the clause does not restrict anything.
 */
export function isAlwaysTrue(where: unknown): boolean {
  const value = foldConstant(where);
  return value !== undefined && toBool(value) === true;
}

/** The constant value of an expression node, or `undefined` when it is not constant. */
export function foldConstant(node: unknown, depth = 0): SqlConstant | undefined {
  if (depth > MAX_DEPTH || typeof node !== 'object' || node === null) return undefined;
  const [type, body] = nodeOf(node);
  if (body === undefined) return undefined;
  const next = depth + 1;
  switch (type) {
    case 'A_Const':
      return constantOf(body);
    case 'TypeCast':
      return cast(foldConstant(body.arg, next), body.typeName);
    case 'BoolExpr':
      return boolExpr(String(body.boolop), list(body.args).map((a) => foldConstant(a, next)));
    case 'A_Expr':
      return aExpr(body, next);
    case 'NullTest': {
      if (body.argisrow === true) return undefined;
      const v = foldConstant(body.arg, next);
      if (v === undefined) return undefined;
      return bool((v.t === 'null') === (body.nulltesttype === 'IS_NULL'));
    }
    case 'BooleanTest': {
      const v = foldConstant(body.arg, next);
      if (v === undefined) return undefined;
      const b = toBool(v);
      switch (body.booltesttype) {
        case 'IS_TRUE': return bool(b === true);
        case 'IS_NOT_TRUE': return bool(b !== true);
        case 'IS_FALSE': return bool(b === false);
        case 'IS_NOT_FALSE': return bool(b !== false);
        case 'IS_UNKNOWN': return bool(b === null);
        case 'IS_NOT_UNKNOWN': return bool(b !== null);
        default: return undefined;
      }
    }
    case 'CoalesceExpr': {
      for (const arg of list(body.args)) {
        const v = foldConstant(arg, next);
        if (v === undefined) return undefined;
        if (v.t !== 'null') return v;
      }
      return NULL;
    }
    case 'SubLink':
      return body.subLinkType === 'EXISTS_SUBLINK' && selectsOneRow(body.subselect, next) ? TRUE : undefined;
    default:
      return undefined;
  }
}

function bool(v: boolean): SqlConstant {
  return v ? TRUE : FALSE;
}

function constantOf(c: Fields): SqlConstant | undefined {
  if (c.isnull === true) return NULL;
  // Default values are left out of the JSON: `{ ival: {} }` is 0, `{ boolval: {} }` is false.
  if (isRecord(c.ival)) return num({ m: BigInt(typeof c.ival.ival === 'number' ? c.ival.ival : 0), s: 0 });
  if (isRecord(c.fval)) return num(parseDecimal(String(c.fval.fval)));
  if (isRecord(c.boolval)) return bool(c.boolval.boolval === true);
  if (isRecord(c.sval)) return { t: 'str', v: typeof c.sval.sval === 'string' ? c.sval.sval : '' };
  return undefined;
}

const BOOL_TYPES = new Set(['bool', 'boolean']);
const INT_TYPES = new Set(['int2', 'int4', 'int8', 'int', 'integer', 'smallint', 'bigint']);
const NUMERIC_TYPES = new Set(['numeric', 'decimal']);
const TEXT_TYPES = new Set(['text', 'varchar', 'name']);

function cast(value: SqlConstant | undefined, typeName: unknown): SqlConstant | undefined {
  if (value === undefined || !isRecord(typeName) || typeName.arrayBounds !== undefined) return undefined;
  const names = list(typeName.names).map((n) => (isRecord(n) && isRecord(n.String) ? n.String.sval : undefined));
  if (names.length > 2 || (names.length === 2 && names[0] !== 'pg_catalog')) return undefined;
  const type = names[names.length - 1];
  if (typeof type !== 'string' || value.t === 'null') return typeof type === 'string' ? NULL : undefined;
  if (BOOL_TYPES.has(type)) {
    // Only integers cast to boolean; `1.5::boolean` is an error.
    const b = value.t === 'num' ? (value.v.s === 0 ? value.v.m !== 0n : null) : toBool(value);
    return b === null ? undefined : bool(b);
  }
  // Floating-point types round (0.1::float4 <> 0.1), so only exact types fold.
  if (NUMERIC_TYPES.has(type) && typeName.typmods === undefined) return num(toNum(value));
  if (INT_TYPES.has(type)) return num(roundToInteger(toNum(value)));
  // A number's text depends on its type (1.50::numeric is '1.50'), so only strings and booleans fold.
  if (TEXT_TYPES.has(type) && typeName.typmods === undefined && value.t !== 'num') {
    return { t: 'str', v: value.t === 'str' ? value.v : String(value.v) };
  }
  return undefined;
}

/** The value as a boolean in a boolean context, null when it is SQL NULL or not a boolean. */
function toBool(value: SqlConstant): boolean | null {
  if (value.t === 'bool') return value.v;
  // An untyped string literal is coerced to boolean where one is expected: `WHERE 't'`.
  if (value.t === 'str') return parseBool(value.v);
  return null;
}

function toNum(value: SqlConstant): Decimal | undefined {
  if (value.t === 'num') return value.v;
  // An untyped string literal compared with a number is read as one: `1 = '1'`.
  if (value.t === 'str') return parseDecimal(value.v.trim());
  return undefined;
}

function num(v: Decimal | undefined): SqlConstant | undefined {
  if (v === undefined) return undefined;
  // Bound the size, so folding a hostile expression stays cheap.
  if (v.s > 2000 || v.m > LIMIT || -v.m > LIMIT) return undefined;
  return { t: 'num', v };
}

const LIMIT = 10n ** 2000n;

/** A numeric literal as PostgreSQL writes it: `12`, `1.50`, `.5`, `1e5`, `1_000`, `0x1F`, `0o17`, `0b101`. */
export function parseDecimal(text: string): Decimal | undefined {
  const plain = text.replace(/(?<=[0-9a-f])_(?=[0-9a-f])/gi, '');
  const radix = /^([+-]?)0([xob])([0-9a-f]+)$/i.exec(plain);
  if (radix) {
    const m = BigInt(`0${(radix[2] as string).toLowerCase()}${radix[3] as string}`);
    return { m: radix[1] === '-' ? -m : m, s: 0 };
  }
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d{1,4}))?$/i.exec(plain);
  if (!match) return undefined;
  const [, sign, whole = '', frac = '', exp = '0'] = match;
  if (whole === '' && frac === '') return undefined;
  let m = BigInt(`${whole}${frac}` || '0');
  let s = frac.length - Number(exp);
  if (Math.abs(s) > 2000) return undefined;
  if (s < 0) {
    m *= 10n ** BigInt(-s);
    s = 0;
  }
  return { m: sign === '-' ? -m : m, s };
}

function scaled(a: Decimal, s: number): bigint {
  return a.m * 10n ** BigInt(s - a.s);
}

function compareDecimal(a: Decimal, b: Decimal): number {
  const s = Math.max(a.s, b.s);
  const d = scaled(a, s) - scaled(b, s);
  return d === 0n ? 0 : d < 0n ? -1 : 1;
}

/** numeric -> integer rounds half away from zero, as PostgreSQL does. */
function roundToInteger(v: Decimal | undefined): Decimal | undefined {
  if (v === undefined || v.s === 0) return v;
  const unit = 10n ** BigInt(v.s);
  const magnitude = v.m < 0n ? -v.m : v.m;
  const rounded = (magnitude * 2n + unit) / (unit * 2n);
  return { m: v.m < 0n ? -rounded : rounded, s: 0 };
}

function boolExpr(op: string, args: readonly (SqlConstant | undefined)[]): SqlConstant | undefined {
  const values = args.map((a) => (a === undefined ? undefined : a.t === 'null' ? null : toBool(a)));
  if (op === 'NOT_EXPR') {
    const v = values[0];
    return v === undefined ? undefined : v === null ? NULL : bool(!v);
  }
  const dominant = op === 'OR_EXPR';
  if (op !== 'OR_EXPR' && op !== 'AND_EXPR') return undefined;
  if (values.some((v) => v === dominant)) return bool(dominant);
  if (values.some((v) => v === undefined)) return undefined;
  return values.some((v) => v === null) ? NULL : bool(!dominant);
}

function operatorName(name: unknown): string | undefined {
  const parts = list(name).map((n) => (isRecord(n) && isRecord(n.String) ? n.String.sval : undefined));
  if (parts.length === 1 || (parts.length === 2 && parts[0] === 'pg_catalog')) {
    const op = parts[parts.length - 1];
    return typeof op === 'string' ? op : undefined;
  }
  return undefined;
}

function aExpr(e: Fields, depth: number): SqlConstant | undefined {
  const op = operatorName(e.name);
  if (op === undefined) return undefined;
  switch (e.kind) {
    case 'AEXPR_OP': {
      if (e.lexpr === undefined) {
        const r = foldConstant(e.rexpr, depth);
        const n = r === undefined ? undefined : toNum(r);
        if (r?.t === 'null') return NULL;
        if (n === undefined) return undefined;
        return op === '-' ? num({ m: -n.m, s: n.s }) : op === '+' ? num(n) : undefined;
      }
      if (isSelfComparison(op, e.lexpr, e.rexpr)) return TRUE;
      if (op === '~~' && isMatchAll(e.lexpr, e.rexpr)) return TRUE;
      return binary(op, foldConstant(e.lexpr, depth), foldConstant(e.rexpr, depth));
    }
    case 'AEXPR_DISTINCT':
    case 'AEXPR_NOT_DISTINCT': {
      const distinctWanted = e.kind === 'AEXPR_DISTINCT';
      if (sameColumn(e.lexpr, e.rexpr)) return bool(!distinctWanted);
      const l = foldConstant(e.lexpr, depth);
      const r = foldConstant(e.rexpr, depth);
      if (l === undefined || r === undefined) return undefined;
      if (l.t === 'null' || r.t === 'null') return bool((l.t === 'null' && r.t === 'null') !== distinctWanted);
      const eq = binary('=', l, r);
      return eq === undefined || eq.t !== 'bool' ? undefined : bool(eq.v !== distinctWanted);
    }
    case 'AEXPR_IN': {
      const l = foldConstant(e.lexpr, depth);
      const items = list(isRecord(e.rexpr) && isRecord(e.rexpr.List) ? e.rexpr.List.items : undefined).map((i) => foldConstant(i, depth));
      if (l === undefined || items.length === 0) return undefined;
      // `x IN (a, b)` is `x = a OR x = b`; `x NOT IN (a, b)` is `x <> a AND x <> b`.
      return boolExpr(op === '=' ? 'OR_EXPR' : 'AND_EXPR', items.map((i) => binary(op === '=' ? '=' : '<>', l, i)));
    }
    case 'AEXPR_BETWEEN':
    case 'AEXPR_NOT_BETWEEN': {
      const l = foldConstant(e.lexpr, depth);
      const bounds = list(isRecord(e.rexpr) && isRecord(e.rexpr.List) ? e.rexpr.List.items : undefined).map((i) => foldConstant(i, depth));
      if (l === undefined || bounds.length !== 2) return undefined;
      const inside = boolExpr('AND_EXPR', [binary('>=', l, bounds[0]), binary('<=', l, bounds[1])]);
      return e.kind === 'AEXPR_BETWEEN' ? inside : boolExpr('NOT_EXPR', [inside]);
    }
    case 'AEXPR_LIKE':
    case 'AEXPR_ILIKE': {
      const l = foldConstant(e.lexpr, depth);
      const r = foldConstant(e.rexpr, depth);
      const positive = op === '~~' || op === '~~*';
      if (positive && isMatchAll(e.lexpr, e.rexpr)) return TRUE;
      if (l === undefined || r === undefined) return undefined;
      if (l.t === 'null' || r.t === 'null') return NULL;
      if (l.t !== 'str' || r.t !== 'str') return undefined;
      const matched = likeMatches(l.v, r.v, e.kind === 'AEXPR_ILIKE');
      return matched === undefined ? undefined : bool(matched === positive);
    }
    default:
      return undefined;
  }
}

function binary(op: string, l: SqlConstant | undefined, r: SqlConstant | undefined): SqlConstant | undefined {
  if (l === undefined || r === undefined) return undefined;
  if (l.t === 'null' || r.t === 'null') return NULL;
  if (op === '+' || op === '-' || op === '*') {
    const a = toNum(l);
    const b = toNum(r);
    if (a === undefined || b === undefined) return undefined;
    if (op === '*') return num({ m: a.m * b.m, s: a.s + b.s });
    const s = Math.max(a.s, b.s);
    return num({ m: op === '+' ? scaled(a, s) + scaled(b, s) : scaled(a, s) - scaled(b, s), s });
  }
  if (op === '||' && l.t === 'str' && r.t === 'str') return { t: 'str', v: l.v + r.v };
  const cmp = compare(l, r);
  if (cmp === undefined) return undefined;
  switch (op) {
    case '=': return bool(cmp === 0);
    case '<>':
    case '!=': return bool(cmp !== 0);
    case '<': return cmp === 'unordered' ? undefined : bool(cmp < 0);
    case '>': return cmp === 'unordered' ? undefined : bool(cmp > 0);
    case '<=': return cmp === 'unordered' ? undefined : bool(cmp <= 0);
    case '>=': return cmp === 'unordered' ? undefined : bool(cmp >= 0);
    default: return undefined;
  }
}

/**
 * -1/0/1, or 'unordered' when equality is known but order depends on a collation,
 * or undefined when the two cannot be compared without knowing their types.
 */
function compare(l: SqlConstant, r: SqlConstant): number | 'unordered' | undefined {
  if (l.t === 'bool' || r.t === 'bool') {
    const a = l.t === 'bool' ? l.v : l.t === 'str' ? parseBool(l.v) : null;
    const b = r.t === 'bool' ? r.v : r.t === 'str' ? parseBool(r.v) : null;
    if (a === null || b === null) return undefined;
    return Number(a) - Number(b);
  }
  if (l.t === 'num' || r.t === 'num') {
    const a = toNum(l);
    const b = toNum(r);
    if (a === undefined || b === undefined) return undefined;
    return compareDecimal(a, b);
  }
  if (l.t === 'str' && r.t === 'str') return l.v === r.v ? 0 : 'unordered';
  return undefined;
}

function isSelfComparison(op: string, l: unknown, r: unknown): boolean {
  return (op === '=' || op === '<=' || op === '>=') && sameColumn(l, r);
}

function sameColumn(l: unknown, r: unknown): boolean {
  if (!isRecord(l) || !isRecord(r) || !isRecord(l.ColumnRef) || !isRecord(r.ColumnRef)) return false;
  return JSON.stringify(l.ColumnRef.fields) === JSON.stringify(r.ColumnRef.fields);
}

/** `column LIKE '%'` matches every row where the column is not null. */
function isMatchAll(l: unknown, r: unknown): boolean {
  if (!isRecord(l) || !isRecord(l.ColumnRef)) return false;
  const pattern = foldConstant(r);
  return pattern?.t === 'str' && pattern.v !== '' && /^%+$/.test(pattern.v);
}

function likeMatches(text: string, pattern: string, insensitive: boolean): boolean | undefined {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '\\') {
      const escaped = pattern[++i];
      if (escaped === undefined) return undefined;
      source += escaped.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else if (ch === '%') source += '[\\s\\S]*';
    else if (ch === '_') source += '[\\s\\S]';
    else source += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, insensitive ? 'iu' : 'u').test(text);
}

/** `SELECT <constants>` with no FROM, WHERE, GROUP BY, HAVING or LIMIT returns exactly one row. */
function selectsOneRow(subselect: unknown, depth: number): boolean {
  if (!isRecord(subselect) || !isRecord(subselect.SelectStmt)) return false;
  const s = subselect.SelectStmt;
  if (s.fromClause !== undefined || s.groupClause !== undefined || s.havingClause !== undefined || s.limitCount !== undefined || s.limitOffset !== undefined) return false;
  if (s.valuesLists !== undefined || s.op !== 'SETOP_NONE' || s.withClause !== undefined) return false;
  // A set-returning function in the target list could return no row at all.
  const targets = list(s.targetList);
  if (!targets.every((t) => isRecord(t) && isRecord(t.ResTarget) && foldConstant(t.ResTarget.val, depth) !== undefined)) return false;
  if (s.whereClause !== undefined) {
    const w = foldConstant(s.whereClause, depth);
    return w !== undefined && toBool(w) === true;
  }
  return true;
}

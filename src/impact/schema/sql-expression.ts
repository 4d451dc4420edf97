import type { A_Const, A_Expr, Node, TypeName } from 'libpg-query';
import { canonicalJson } from '../../core/canonical-json.js';
import { normalizeTypeName, stringValue } from './pg-type-name.js';
import { quoteIdent } from './schema.js';

/**
 * Canonical SQL text of an expression from a parse tree, so that an
 * expression written in a migration and the same expression as the catalog
 * prints it (`pg_get_expr`, `pg_get_constraintdef`, `pg_get_indexdef`, parsed
 * again) give the same text:
 *
 * - casts of constants are dropped (`'x'::text` → `'x'`, `'-1'::integer` → `-1`),
 *   and so are casts of a column to text or a numeric type (the catalog adds
 *   them to varchar columns, and after a column's type changed); other casts
 *   (`created_at::date`) are kept;
 * - every operator is parenthesized, keywords are upper case, identifiers
 *   are quoted only when they must be;
 * - `IN (...)` is written `= ANY (ARRAY[...])`, `BETWEEN` as two comparisons
 *   and `LIKE` as its operator, as the catalog prints them.
 *
 * A node it does not know is written as its kind and canonical JSON: still
 * deterministic, just not pretty.
 */
export function renderExpression(node: Node, defaultSchema = 'public'): string {
  return new Renderer(defaultSchema).render(node);
}

const NUMERIC_TYPES = new Set(['smallint', 'integer', 'bigint', 'numeric', 'real', 'double precision']);
// Casts of a column the catalog adds by itself: to text for varchar and char columns, and the
// numeric promotions, which PostgreSQL writes into checks and index expressions when a column's
// type changes under them. Other casts (`created_at::date`) mean something and are kept.
const COERCIONS = new Set([...NUMERIC_TYPES, 'text', 'text[]', 'character varying']);
const NUMERIC_TEXT = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

const SQL_VALUE_FUNCTIONS: Readonly<Record<string, string>> = {
  SVFOP_CURRENT_DATE: 'CURRENT_DATE',
  SVFOP_CURRENT_TIME: 'CURRENT_TIME',
  SVFOP_CURRENT_TIME_N: 'CURRENT_TIME',
  SVFOP_CURRENT_TIMESTAMP: 'CURRENT_TIMESTAMP',
  SVFOP_CURRENT_TIMESTAMP_N: 'CURRENT_TIMESTAMP',
  SVFOP_LOCALTIME: 'LOCALTIME',
  SVFOP_LOCALTIME_N: 'LOCALTIME',
  SVFOP_LOCALTIMESTAMP: 'LOCALTIMESTAMP',
  SVFOP_LOCALTIMESTAMP_N: 'LOCALTIMESTAMP',
  SVFOP_CURRENT_ROLE: 'CURRENT_ROLE',
  SVFOP_CURRENT_USER: 'CURRENT_USER',
  SVFOP_USER: 'USER',
  SVFOP_SESSION_USER: 'SESSION_USER',
  SVFOP_CURRENT_CATALOG: 'CURRENT_CATALOG',
  SVFOP_CURRENT_SCHEMA: 'CURRENT_SCHEMA',
};

class Renderer {
  readonly #defaultSchema: string;

  constructor(defaultSchema: string) {
    this.#defaultSchema = defaultSchema;
  }

  render(node: Node): string {
    if ('A_Const' in node) return renderConstant(node.A_Const);
    if ('ColumnRef' in node) return (node.ColumnRef.fields ?? []).map((f) => ('A_Star' in f ? '*' : quoteIdent(stringValue(f) ?? ''))).join('.');
    if ('TypeCast' in node) return this.#cast(node.TypeCast.arg, node.TypeCast.typeName);
    if ('FuncCall' in node) {
      const f = node.FuncCall;
      if (f.agg_order !== undefined || f.agg_filter !== undefined || f.over !== undefined || f.agg_within_group === true) return fallback(node);
      const args = (f.args ?? []).map((a) => this.render(a));
      if (f.func_variadic === true && args.length > 0) args[args.length - 1] = `VARIADIC ${args[args.length - 1]}`;
      const argText = f.agg_star === true ? '*' : `${f.agg_distinct === true ? 'DISTINCT ' : ''}${args.join(', ')}`;
      return `${functionName(f.funcname ?? [])}(${argText})`;
    }
    if ('NamedArgExpr' in node) return `${quoteIdent(node.NamedArgExpr.name ?? '')} => ${node.NamedArgExpr.arg === undefined ? '' : this.render(node.NamedArgExpr.arg)}`;
    if ('SQLValueFunction' in node) {
      const name = SQL_VALUE_FUNCTIONS[node.SQLValueFunction.op ?? ''];
      if (name === undefined) return fallback(node);
      const typmod = node.SQLValueFunction.typmod ?? -1;
      return node.SQLValueFunction.op?.endsWith('_N') === true && typmod >= 0 ? `${name}(${typmod})` : name;
    }
    if ('A_Expr' in node) return this.#operator(node.A_Expr, node);
    if ('BoolExpr' in node) {
      const args = (node.BoolExpr.args ?? []).map((a) => this.render(a));
      if (node.BoolExpr.boolop === 'NOT_EXPR') return `(NOT ${args[0] ?? ''})`;
      return `(${args.join(node.BoolExpr.boolop === 'AND_EXPR' ? ' AND ' : ' OR ')})`;
    }
    if ('NullTest' in node) {
      const arg = node.NullTest.arg === undefined ? '' : this.render(node.NullTest.arg);
      return `(${arg} ${node.NullTest.nulltesttype === 'IS_NOT_NULL' ? 'IS NOT NULL' : 'IS NULL'})`;
    }
    if ('BooleanTest' in node) {
      const arg = node.BooleanTest.arg === undefined ? '' : this.render(node.BooleanTest.arg);
      const test = (node.BooleanTest.booltesttype ?? 'IS_TRUE').replaceAll('_', ' ');
      return `(${arg} ${test})`;
    }
    if ('A_ArrayExpr' in node) return `ARRAY[${(node.A_ArrayExpr.elements ?? []).map((e) => this.render(e)).join(', ')}]`;
    if ('CoalesceExpr' in node) return `COALESCE(${(node.CoalesceExpr.args ?? []).map((a) => this.render(a)).join(', ')})`;
    if ('MinMaxExpr' in node) {
      const name = node.MinMaxExpr.op === 'IS_LEAST' ? 'LEAST' : 'GREATEST';
      return `${name}(${(node.MinMaxExpr.args ?? []).map((a) => this.render(a)).join(', ')})`;
    }
    if ('RowExpr' in node) return `ROW(${(node.RowExpr.args ?? []).map((a) => this.render(a)).join(', ')})`;
    if ('CaseExpr' in node) {
      const c = node.CaseExpr;
      const parts = ['CASE'];
      if (c.arg !== undefined) parts.push(this.render(c.arg));
      for (const w of c.args ?? []) {
        if (!('CaseWhen' in w)) return fallback(node);
        parts.push('WHEN', w.CaseWhen.expr === undefined ? '' : this.render(w.CaseWhen.expr), 'THEN', w.CaseWhen.result === undefined ? '' : this.render(w.CaseWhen.result));
      }
      if (c.defresult !== undefined) parts.push('ELSE', this.render(c.defresult));
      parts.push('END');
      return parts.join(' ');
    }
    if ('CollateClause' in node) {
      const arg = node.CollateClause.arg === undefined ? '' : this.render(node.CollateClause.arg);
      return `(${arg} COLLATE ${qualifiedList(node.CollateClause.collname ?? [])})`;
    }
    return fallback(node);
  }

  #cast(arg: Node | undefined, typeName: TypeName | undefined): string {
    if (arg === undefined || typeName === undefined) return fallback({ TypeCast: { ...(arg === undefined ? {} : { arg }), ...(typeName === undefined ? {} : { typeName }) } });
    const normalized = normalizeTypeName(typeName, this.#defaultSchema);
    const type = normalized.ok ? normalized.type : fallback({ TypeName: typeName });
    if (isConstant(arg)) {
      const text = this.render(arg);
      const unquoted = /^'(.*)'$/s.exec(text)?.[1];
      if (unquoted !== undefined && NUMERIC_TYPES.has(type) && NUMERIC_TEXT.test(unquoted)) return unquoted;
      return text;
    }
    if ('ColumnRef' in arg && COERCIONS.has(type)) return this.render(arg);
    return `${this.render(arg)}::${type}`;
  }

  #operator(e: A_Expr, node: Node): string {
    const l = e.lexpr === undefined ? undefined : this.render(e.lexpr);
    const op = operatorName(e.name ?? []);
    const list = (n: Node | undefined): string[] | undefined => (n !== undefined && 'List' in n ? (n.List.items ?? []).map((i) => this.render(i)) : undefined);
    switch (e.kind) {
      case 'AEXPR_OP':
      case 'AEXPR_LIKE':
      case 'AEXPR_ILIKE':
      case 'AEXPR_SIMILAR': {
        const r = e.rexpr === undefined ? '' : this.render(e.rexpr);
        return l === undefined ? `(${op} ${r})` : `(${l} ${op} ${r})`;
      }
      case 'AEXPR_OP_ANY':
      case 'AEXPR_OP_ALL':
        return `(${l ?? ''} ${op} ${e.kind === 'AEXPR_OP_ANY' ? 'ANY' : 'ALL'} (${e.rexpr === undefined ? '' : this.render(e.rexpr)}))`;
      case 'AEXPR_DISTINCT':
      case 'AEXPR_NOT_DISTINCT':
        return `(${l ?? ''} IS ${e.kind === 'AEXPR_NOT_DISTINCT' ? 'NOT ' : ''}DISTINCT FROM ${e.rexpr === undefined ? '' : this.render(e.rexpr)})`;
      case 'AEXPR_NULLIF':
        return `NULLIF(${l ?? ''}, ${e.rexpr === undefined ? '' : this.render(e.rexpr)})`;
      case 'AEXPR_IN': {
        const items = list(e.rexpr);
        if (items === undefined) return fallback(node);
        return op === '<>' ? `(${l ?? ''} <> ALL (ARRAY[${items.join(', ')}]))` : `(${l ?? ''} ${op} ANY (ARRAY[${items.join(', ')}]))`;
      }
      case 'AEXPR_BETWEEN':
      case 'AEXPR_NOT_BETWEEN': {
        const bounds = list(e.rexpr);
        if (bounds === undefined || bounds.length !== 2) return fallback(node);
        return e.kind === 'AEXPR_BETWEEN'
          ? `((${l ?? ''} >= ${bounds[0]}) AND (${l ?? ''} <= ${bounds[1]}))`
          : `((${l ?? ''} < ${bounds[0]}) OR (${l ?? ''} > ${bounds[1]}))`;
      }
      default:
        return fallback(node);
    }
  }
}

function renderConstant(c: A_Const): string {
  if (c.isnull === true) return 'NULL';
  if (c.ival !== undefined) return String(c.ival.ival ?? 0);
  if (c.fval !== undefined) return c.fval.fval ?? '0';
  if (c.boolval !== undefined) return c.boolval.boolval === true ? 'TRUE' : 'FALSE';
  if (c.sval !== undefined) return quoteLiteral(c.sval.sval ?? '');
  if (c.bsval !== undefined) {
    const bits = c.bsval.bsval ?? '';
    return `${bits.slice(0, 1).toUpperCase()}'${bits.slice(1)}'`;
  }
  return 'NULL';
}

/** A constant, or an array or cast of constants: a cast of one is dropped. */
function isConstant(node: Node): boolean {
  if ('A_Const' in node) return true;
  if ('TypeCast' in node) return node.TypeCast.arg !== undefined && isConstant(node.TypeCast.arg);
  if ('A_ArrayExpr' in node) return (node.A_ArrayExpr.elements ?? []).every(isConstant);
  return false;
}

/** A string as an SQL literal: single quotes, quotes doubled. */
export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function functionName(parts: readonly Node[]): string {
  const names = parts.map((p) => stringValue(p) ?? '');
  if (names.length === 2 && names[0] === 'pg_catalog') names.shift();
  return names.map(quoteIdent).join('.');
}

function operatorName(parts: readonly Node[]): string {
  const names = parts.map((p) => stringValue(p) ?? '');
  if (names.length === 2 && names[0] === 'pg_catalog') names.shift();
  const op = names.pop() ?? '';
  return names.length === 0 ? op : `OPERATOR(${names.map(quoteIdent).join('.')}.${op})`;
}

function qualifiedList(parts: readonly Node[]): string {
  return parts.map((p) => quoteIdent(stringValue(p) ?? '')).join('.');
}

function fallback(node: object): string {
  return `${Object.keys(node)[0] ?? 'Node'}${canonicalJson(withoutLocations(node))}`;
}

function withoutLocations(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutLocations);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (k !== 'location' && k !== 'stmt_location') out[k] = withoutLocations(v);
  return out;
}

// --- Identifiers in canonical text -------------------------------------------

// A type after `::`, as normalizeTypeName writes it.
const IDENT = '(?:[a-z_][a-z0-9_$]*|"(?:[^"]|"")*")';
const CAST_TYPE = new RegExp(
  `^::(?:double precision|character varying|bit varying|${IDENT}(?:\\.${IDENT})?)` +
    `(?:\\([0-9,]+\\))?(?: with(?:out)? time zone)?` +
    `(?: (?:year|month|day|hour|minute|second)(?: to (?:month|hour|minute|second))?(?:\\([0-9]+\\))?)?(?:\\[\\])*`,
);
// Keywords after which the next identifier names a collation or an access method, not a column.
const NAME_KEYWORDS = new Set(['COLLATE', 'USING']);

interface Token {
  readonly start: number;
  readonly end: number;
  readonly kind: 'ident' | 'keyword' | 'literal' | 'punct' | 'type';
  /** The identifier's name, unquoted. */
  readonly name?: string;
}

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i] as string;
    if (ch === ' ' || ch === '\n' || ch === '\t') {
      i++;
      continue;
    }
    const start = i;
    if (ch === "'") {
      i++;
      while (i < sql.length) {
        if (sql[i] === "'" && sql[i + 1] === "'") i += 2;
        else if (sql[i] === "'") break;
        else i++;
      }
      i++;
      tokens.push({ start, end: i, kind: 'literal' });
    } else if (ch === '"') {
      i++;
      while (i < sql.length) {
        if (sql[i] === '"' && sql[i + 1] === '"') i += 2;
        else if (sql[i] === '"') break;
        else i++;
      }
      i++;
      tokens.push({ start, end: i, kind: 'ident', name: sql.slice(start + 1, i - 1).replaceAll('""', '"') });
    } else if (ch === ':' && sql[i + 1] === ':') {
      const m = CAST_TYPE.exec(sql.slice(i));
      i += m === null ? 2 : m[0].length;
      tokens.push({ start, end: i, kind: 'type' });
    } else if (/[a-z_]/.test(ch)) {
      while (i < sql.length && /[a-z0-9_$]/.test(sql[i] as string)) i++;
      tokens.push({ start, end: i, kind: 'ident', name: sql.slice(start, i) });
    } else if (/[A-Z]/.test(ch)) {
      while (i < sql.length && /[A-Za-z0-9_]/.test(sql[i] as string)) i++;
      // B'0101' and X'1F' are literals.
      if ((sql.slice(start, i) === 'B' || sql.slice(start, i) === 'X') && sql[i] === "'") {
        i++;
        while (i < sql.length && sql[i] !== "'") i++;
        i++;
        tokens.push({ start, end: i, kind: 'literal' });
      } else tokens.push({ start, end: i, kind: 'keyword' });
    } else if (/[0-9]/.test(ch)) {
      while (i < sql.length && /[0-9.eE]/.test(sql[i] as string)) i++;
      tokens.push({ start, end: i, kind: 'literal' });
    } else {
      i++;
      tokens.push({ start, end: i, kind: 'punct' });
    }
  }
  return tokens;
}

/** The column references in canonical text, with their token positions. */
function columnTokens(sql: string): Token[] {
  const tokens = tokenize(sql);
  const columns: Token[] = [];
  tokens.forEach((t, i) => {
    if (t.kind !== 'ident') return;
    const prev = tokens[i - 1];
    const next = tokens[i + 1];
    const text = (tok: Token | undefined): string => (tok === undefined ? '' : sql.slice(tok.start, tok.end));
    if (text(prev) === '.' || text(next) === '.' || text(next) === '(') return;
    if (text(next) === '=' && text(tokens[i + 2]) === '>') return;
    if (prev?.kind === 'keyword' && NAME_KEYWORDS.has(text(prev))) return;
    // An identifier right after an operand is an operator class (`c text_pattern_ops`).
    if (prev !== undefined && (prev.kind === 'ident' || prev.kind === 'literal' || prev.kind === 'type' || text(prev) === ')' || text(prev) === ']')) return;
    columns.push(t);
  });
  return columns;
}

/** The names of the columns canonical text refers to. */
export function referencedColumns(sql: string): ReadonlySet<string> {
  return new Set(columnTokens(sql).map((t) => t.name ?? ''));
}

/** Canonical text with every reference to column `from` renamed to `to`. */
export function renameColumnReferences(sql: string, from: string, to: string): string {
  return mapColumnReferences(sql, (name) => (name === from ? to : name));
}

/** Canonical text with every column reference renamed by `rename`, all at once (so `a`→`b`, `b`→`a` swaps). */
export function mapColumnReferences(sql: string, rename: (name: string) => string): string {
  let out = '';
  let at = 0;
  for (const t of columnTokens(sql)) {
    const name = t.name ?? '';
    const to = rename(name);
    if (to === name) continue;
    out += sql.slice(at, t.start) + quoteIdent(to);
    at = t.end;
  }
  return out + sql.slice(at);
}

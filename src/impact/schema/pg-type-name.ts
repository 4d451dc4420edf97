import type { Node, TypeName } from 'libpg-query';
import { quoteIdent } from './schema.js';

/** A column type from a parse tree, written as the catalog's `format_type` writes it. */
export type TypeNameResult =
  | {
      readonly ok: true;
      readonly type: string;
      /** `serial`, `bigserial`, `smallserial`: the column also gets NOT NULL and a sequence default. */
      readonly serial?: true;
    }
  | { readonly ok: false; readonly message: string };

// Built-in types whose format_type name differs from their catalog name.
const FORMAT_NAMES: Readonly<Record<string, string>> = {
  int2: 'smallint',
  int4: 'integer',
  int8: 'bigint',
  float4: 'real',
  float8: 'double precision',
  bool: 'boolean',
  char: '"char"',
};

const SERIALS: Readonly<Record<string, string>> = {
  smallserial: 'smallint',
  serial2: 'smallint',
  serial: 'integer',
  serial4: 'integer',
  bigserial: 'bigint',
  serial8: 'bigint',
};

// The storable types of pg_catalog: format_type writes them without a schema
// (pg_catalog is always searched). Any other unqualified type name is a user
// type (enum, domain, extension type) and is qualified with the default schema.
const BUILTIN = new Set(
  (
    'aclitem bit bool box bpchar bytea char cid cidr circle date datemultirange daterange float4 float8 ' +
    'inet int2 int2vector int4 int4multirange int4range int8 int8multirange int8range interval json jsonb jsonpath ' +
    'line lseg macaddr macaddr8 money name numeric nummultirange numrange oid oidvector path pg_lsn pg_snapshot ' +
    'point polygon refcursor regclass regcollation regconfig regdictionary regnamespace regoper regoperator regproc ' +
    'regprocedure regrole regtype text tid time timestamp timestamptz timetz tsmultirange tsquery tsrange ' +
    'tstzmultirange tstzrange tsvector txid_snapshot uuid varbit varchar xid xid8 xml'
  ).split(' '),
);

// Interval field masks (INTERVAL_MASK in datetime.h) and how intervaltypmodout names them.
const INTERVAL_FULL_RANGE = 0x7fff;
const INTERVAL_FULL_PRECISION = 0xffff;
const INTERVAL_FIELDS: ReadonlyMap<number, string> = new Map([
  [4, 'year'],
  [2, 'month'],
  [8, 'day'],
  [1024, 'hour'],
  [2048, 'minute'],
  [4096, 'second'],
  [6, 'year to month'],
  [1032, 'day to hour'],
  [3080, 'day to minute'],
  [7176, 'day to second'],
  [3072, 'hour to minute'],
  [7168, 'hour to second'],
  [6144, 'minute to second'],
]);

/**
 * The catalog spelling of a type from the parse tree: `int4` → `integer`,
 * `varchar(255)` → `character varying(255)`, `timestamptz` → `timestamp with
 * time zone`, `numeric(10)` → `numeric(10,0)`, `text[][]` → `text[]`, `mood` →
 * `public.mood` (user types are qualified with `defaultSchema`, as the catalog
 * writes them when read with an empty search path).
 */
export function normalizeTypeName(typeName: TypeName, defaultSchema: string): TypeNameResult {
  if (typeName.pct_type === true) return { ok: false, message: 'a %TYPE column type is not modeled' };
  if (typeName.setof === true) return { ok: false, message: 'a SETOF column type is not modeled' };
  const names = (typeName.names ?? []).map(stringValue);
  if (names.some((n) => n === undefined) || names.length === 0) return { ok: false, message: 'the type name is not a plain name' };
  const parts = names as string[];
  const mods: number[] = [];
  for (const mod of typeName.typmods ?? []) {
    const n = integerValue(mod);
    if (n === undefined) return { ok: false, message: `the modifiers of type ${parts.join('.')} are not integers` };
    mods.push(n);
  }
  const array = (typeName.arrayBounds ?? []).length > 0 ? '[]' : '';

  // catalog.schema.name: the catalog is the current database.
  const qualified = parts.length === 3 ? parts.slice(1) : parts;
  if (qualified.length > 2) return { ok: false, message: `${parts.join('.')} is not a type name` };
  const [first, second] = qualified as [string, string | undefined];
  if (second === undefined) {
    const serial = SERIALS[first];
    if (serial !== undefined) {
      if (array !== '') return { ok: false, message: `${first}[] is not a type` };
      return { ok: true, type: serial, serial: true };
    }
    if (BUILTIN.has(first)) return builtin(first, mods, array);
    return { ok: true, type: `${quoteIdent(defaultSchema)}.${quoteIdent(first)}${modifiers(mods)}${array}` };
  }
  if (first === 'pg_catalog') {
    if (!BUILTIN.has(second)) return { ok: true, type: `${quoteIdent(second)}${modifiers(mods)}${array}` };
    return builtin(second, mods, array);
  }
  return { ok: true, type: `${quoteIdent(first)}.${quoteIdent(second)}${modifiers(mods)}${array}` };
}

function builtin(name: string, mods: readonly number[], array: string): TypeNameResult {
  const ok = (type: string): TypeNameResult => ({ ok: true, type: type + array });
  switch (name) {
    case 'varchar':
      return ok(`character varying${modifiers(mods)}`);
    case 'bpchar':
      return ok(mods.length === 0 ? 'bpchar' : `character${modifiers(mods)}`);
    case 'varbit':
      return ok(`bit varying${modifiers(mods)}`);
    case 'numeric':
      return ok(mods.length === 1 ? `numeric(${mods[0]},0)` : `numeric${modifiers(mods)}`);
    case 'timestamp':
      return ok(`timestamp${modifiers(mods)} without time zone`);
    case 'timestamptz':
      return ok(`timestamp${modifiers(mods)} with time zone`);
    case 'time':
      return ok(`time${modifiers(mods)} without time zone`);
    case 'timetz':
      return ok(`time${modifiers(mods)} with time zone`);
    case 'interval': {
      const [range = INTERVAL_FULL_RANGE, precision = INTERVAL_FULL_PRECISION] = mods;
      if (mods.length > 2) return { ok: false, message: 'interval takes at most two modifiers' };
      const fields = range === INTERVAL_FULL_RANGE ? '' : INTERVAL_FIELDS.get(range);
      if (fields === undefined) return { ok: false, message: `unknown interval fields (${range})` };
      return ok(`interval${fields === '' ? '' : ` ${fields}`}${precision === INTERVAL_FULL_PRECISION ? '' : `(${precision})`}`);
    }
    default:
      return ok(`${FORMAT_NAMES[name] ?? name}${modifiers(mods)}`);
  }
}

function modifiers(mods: readonly number[]): string {
  return mods.length === 0 ? '' : `(${mods.join(',')})`;
}

/** The text of a `String` node. */
export function stringValue(node: Node | undefined): string | undefined {
  return node !== undefined && 'String' in node ? (node.String.sval ?? '') : undefined;
}

/** The value of an integer constant (`A_Const` or `Integer`). */
export function integerValue(node: Node | undefined): number | undefined {
  if (node === undefined) return undefined;
  if ('Integer' in node) return node.Integer.ival ?? 0;
  if ('A_Const' in node && node.A_Const.ival !== undefined) return node.A_Const.ival.ival ?? 0;
  return undefined;
}

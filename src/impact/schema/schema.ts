import { canonicalJson } from '../../core/canonical-json.js';
import type { Issue, ParseResult } from '../../core/errors.js';

/**
 * The tables of a PostgreSQL database, as far as schema drift is concerned:
 * columns, keys, constraints and indexes. Views, functions, types, sequences
 * and privileges are outside the model.
 *
 * Tables are keyed by their qualified name (see {@link qualifiedName}).
 * Treat every value as read-only; the functions here never mutate their input.
 */
export interface DatabaseSchema {
  readonly tables: Readonly<Record<string, TableSchema>>;
}

/** One table (a plain or partitioned table). */
export interface TableSchema {
  readonly schema: string;
  readonly name: string;
  /** In column order (attnum), as `SELECT *` returns them. */
  readonly columns: readonly ColumnSchema[];
  readonly primaryKey?: KeyConstraintSchema;
  readonly uniques: readonly UniqueConstraintSchema[];
  readonly foreignKeys: readonly ForeignKeySchema[];
  readonly checks: readonly CheckConstraintSchema[];
  readonly exclusions: readonly ExclusionConstraintSchema[];
  /** Indexes that do not back a primary key, unique or exclusion constraint. */
  readonly indexes: readonly IndexSchema[];
}

/** One column. */
export interface ColumnSchema {
  readonly name: string;
  /** As PostgreSQL's `format_type` writes it: `integer`, `character varying(255)`, `timestamp with time zone`, `public.mood[]`. */
  readonly type: string;
  readonly notNull: boolean;
  /** The default expression in canonical form (see `renderExpression`), e.g. `now()`, `'active'`, `nextval('public.users_id_seq')`. */
  readonly default?: string;
  /** `GENERATED ... AS IDENTITY`: the column fills itself when an insert omits it. */
  readonly identity?: 'always' | 'by-default';
  /** `GENERATED ALWAYS AS (expression) STORED`: the expression, in canonical form. */
  readonly generated?: string;
}

/** A primary key: its name and its columns in key order. */
export interface KeyConstraintSchema {
  readonly name: string;
  readonly columns: readonly string[];
}

/** A unique constraint (not a unique index; those are in {@link TableSchema.indexes}). */
export interface UniqueConstraintSchema extends KeyConstraintSchema {
  /** `UNIQUE NULLS NOT DISTINCT`. */
  readonly nullsNotDistinct?: true;
}

/** What a foreign key does when the referenced row is deleted or its key updated. `NO ACTION` is left out. */
export type ReferentialAction = 'restrict' | 'cascade' | 'set-null' | 'set-default';

/** A foreign key. */
export interface ForeignKeySchema {
  readonly name: string;
  readonly columns: readonly string[];
  /** `table` is the qualified name of the referenced table. */
  readonly references: { readonly table: string; readonly columns: readonly string[] };
  readonly onDelete?: ReferentialAction;
  readonly onUpdate?: ReferentialAction;
}

/** A check constraint. */
export interface CheckConstraintSchema {
  readonly name: string;
  /** The condition in canonical form (informational: checks are compared by name). */
  readonly expression: string;
}

/** An exclusion constraint. */
export interface ExclusionConstraintSchema {
  readonly name: string;
  /** `USING method (element WITH operator, ...) [WHERE (...)]`, in canonical form. */
  readonly definition: string;
}

/** An index that backs no constraint. */
export interface IndexSchema {
  readonly name: string;
  /** Each key as SQL: a column (`email`, `"Email"`) or an expression (`lower(email)`), then any `COLLATE`, operator class, `DESC`, `NULLS FIRST|LAST` that differ from the default. */
  readonly columns: readonly string[];
  readonly unique: boolean;
  /** The access method: `btree`, `gin`, `gist`, `hash`, `brin`, ... */
  readonly method: string;
  /** The predicate of a partial index, in canonical form. */
  readonly where?: string;
  /** `INCLUDE (...)` columns. */
  readonly include?: readonly string[];
  /** `NULLS NOT DISTINCT` on a unique index. */
  readonly nullsNotDistinct?: true;
}

/** A schema with no tables. */
export function emptySchema(): DatabaseSchema {
  return Object.freeze({ tables: Object.freeze({}) });
}

const PLAIN_IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

// PostgreSQL 17's keywords that are not unreserved: quote_identifier quotes them.
const KEYWORDS = new Set(
  (
    'all analyse analyze and any array as asc asymmetric authorization between bigint binary bit boolean both case cast ' +
    'char character check coalesce collate collation column concurrently constraint create cross current_catalog ' +
    'current_date current_role current_schema current_time current_timestamp current_user dec decimal default ' +
    'deferrable desc distinct do else end except exists extract false fetch float for foreign freeze from full grant ' +
    'greatest group grouping having ilike in initially inner inout int integer intersect interval into is isnull join ' +
    'json json_array json_arrayagg json_exists json_object json_objectagg json_query json_scalar json_serialize ' +
    'json_table json_value lateral leading least left like limit localtime localtimestamp merge_action national natural ' +
    'nchar none normalize not notnull null nullif numeric offset on only or order out outer overlaps overlay placing ' +
    'position precision primary real references returning right row select session_user setof similar smallint some ' +
    'substring symmetric system_user table tablesample then time timestamp to trailing treat trim true union unique ' +
    'user using values varchar variadic verbose when where window with xmlattributes xmlconcat xmlelement xmlexists ' +
    'xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable'
  ).split(' '),
);

/**
 * An identifier as PostgreSQL's `quote_identifier` writes it (and so
 * `format_type` and `regclass` output): as is when it is lower case letters,
 * digits and `_` and not a keyword; otherwise double-quoted with `"` doubled.
 * The mapping is one to one, so different names never collide.
 */
export function quoteIdent(name: string): string {
  return PLAIN_IDENTIFIER.test(name) && !KEYWORDS.has(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

/** The key of a table in {@link DatabaseSchema.tables}: `public.users`, `"Sales"."Orders"`. */
export function qualifiedName(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

const byName = (a: { readonly name: string }, b: { readonly name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * A deep, frozen copy of `schema` in canonical order: tables by key,
 * constraints and indexes by name, columns in column order. Two schemas that
 * describe the same tables give equal canonical forms.
 */
export function canonicalSchema(schema: DatabaseSchema): DatabaseSchema {
  const tables: Record<string, TableSchema> = {};
  for (const key of Object.keys(schema.tables).sort()) {
    const table = schema.tables[key];
    if (table !== undefined) tables[key] = canonicalTable(table);
  }
  return Object.freeze({ tables: Object.freeze(tables) });
}

function canonicalTable(t: TableSchema): TableSchema {
  const f = Object.freeze;
  const list = (items: readonly string[]): readonly string[] => f([...items]);
  return f({
    schema: t.schema,
    name: t.name,
    columns: f(
      t.columns.map((c) =>
        f({
          name: c.name,
          type: c.type,
          notNull: c.notNull,
          ...(c.default === undefined ? {} : { default: c.default }),
          ...(c.identity === undefined ? {} : { identity: c.identity }),
          ...(c.generated === undefined ? {} : { generated: c.generated }),
        }),
      ),
    ),
    ...(t.primaryKey === undefined ? {} : { primaryKey: f({ name: t.primaryKey.name, columns: list(t.primaryKey.columns) }) }),
    uniques: f(
      t.uniques
        .map((u) => f({ name: u.name, columns: list(u.columns), ...(u.nullsNotDistinct === true ? { nullsNotDistinct: true as const } : {}) }))
        .sort(byName),
    ),
    foreignKeys: f(
      t.foreignKeys
        .map((fk) =>
          f({
            name: fk.name,
            columns: list(fk.columns),
            references: f({ table: fk.references.table, columns: list(fk.references.columns) }),
            ...(fk.onDelete === undefined ? {} : { onDelete: fk.onDelete }),
            ...(fk.onUpdate === undefined ? {} : { onUpdate: fk.onUpdate }),
          }),
        )
        .sort(byName),
    ),
    checks: f(t.checks.map((c) => f({ name: c.name, expression: c.expression })).sort(byName)),
    exclusions: f(t.exclusions.map((x) => f({ name: x.name, definition: x.definition })).sort(byName)),
    indexes: f(
      t.indexes
        .map((i) =>
          f({
            name: i.name,
            columns: list(i.columns),
            unique: i.unique,
            method: i.method,
            ...(i.where === undefined ? {} : { where: i.where }),
            ...(i.include === undefined || i.include.length === 0 ? {} : { include: list(i.include) }),
            ...(i.nullsNotDistinct === true ? { nullsNotDistinct: true as const } : {}),
          }),
        )
        .sort(byName),
    ),
  });
}

/** The canonical JSON text of a schema (RFC 8785 over {@link canonicalSchema}): equal schemas give equal bytes. */
export function schemaToJson(schema: DatabaseSchema): string {
  return canonicalJson(canonicalSchema(schema));
}

/** The SHA-256 of {@link schemaToJson}, in hex; the hash function is passed in, so this stays pure. */
export function schemaDigest(schema: DatabaseSchema, sha256Hex: (text: string) => string): string {
  return sha256Hex(schemaToJson(schema));
}

/**
 * Validates an untrusted value (a baseline file's `schema`) as a
 * {@link DatabaseSchema} and returns it in canonical form. Every table key must
 * be the qualified name of its `schema` and `name`.
 */
export function parseDatabaseSchema(value: unknown, path = 'schema'): ParseResult<DatabaseSchema> {
  const issues: Issue[] = [];
  const v = new Validator(issues);
  if (!v.object(value, path)) return { ok: false, issues };
  if (!v.object(value['tables'], `${path}.tables`)) return { ok: false, issues };
  for (const [key, table] of Object.entries(value['tables'])) {
    const at = `${path}.tables[${JSON.stringify(key)}]`;
    if (!v.object(table, at)) continue;
    v.string(table['schema'], `${at}.schema`);
    v.string(table['name'], `${at}.name`);
    if (typeof table['schema'] === 'string' && typeof table['name'] === 'string' && qualifiedName(table['schema'], table['name']) !== key) {
      issues.push({ path: at, message: `the key must be the table's qualified name ${JSON.stringify(qualifiedName(table['schema'], table['name']))}` });
    }
    v.array(table['columns'], `${at}.columns`, (c, p) => {
      if (!v.object(c, p)) return;
      v.string(c['name'], `${p}.name`);
      v.string(c['type'], `${p}.type`);
      v.boolean(c['notNull'], `${p}.notNull`);
      v.optionalString(c['default'], `${p}.default`);
      v.optionalString(c['generated'], `${p}.generated`);
      if (c['identity'] !== undefined && c['identity'] !== 'always' && c['identity'] !== 'by-default') {
        issues.push({ path: `${p}.identity`, message: 'expected "always" or "by-default"' });
      }
    });
    if (table['primaryKey'] !== undefined) v.key(table['primaryKey'], `${at}.primaryKey`);
    v.array(table['uniques'], `${at}.uniques`, (u, p) => {
      if (v.key(u, p) && u['nullsNotDistinct'] !== undefined && u['nullsNotDistinct'] !== true) issues.push({ path: `${p}.nullsNotDistinct`, message: 'expected true or nothing' });
    });
    v.array(table['foreignKeys'], `${at}.foreignKeys`, (fk, p) => {
      if (!v.key(fk, p)) return;
      if (v.object(fk['references'], `${p}.references`)) {
        v.string(fk['references']['table'], `${p}.references.table`);
        v.strings(fk['references']['columns'], `${p}.references.columns`);
      }
      for (const action of ['onDelete', 'onUpdate']) {
        const a = fk[action];
        if (a !== undefined && a !== 'restrict' && a !== 'cascade' && a !== 'set-null' && a !== 'set-default') {
          issues.push({ path: `${p}.${action}`, message: 'expected "restrict", "cascade", "set-null" or "set-default"' });
        }
      }
    });
    v.array(table['checks'], `${at}.checks`, (c, p) => {
      if (!v.object(c, p)) return;
      v.string(c['name'], `${p}.name`);
      v.string(c['expression'], `${p}.expression`);
    });
    v.array(table['exclusions'], `${at}.exclusions`, (c, p) => {
      if (!v.object(c, p)) return;
      v.string(c['name'], `${p}.name`);
      v.string(c['definition'], `${p}.definition`);
    });
    v.array(table['indexes'], `${at}.indexes`, (i, p) => {
      if (!v.object(i, p)) return;
      v.string(i['name'], `${p}.name`);
      v.strings(i['columns'], `${p}.columns`);
      v.boolean(i['unique'], `${p}.unique`);
      v.string(i['method'], `${p}.method`);
      v.optionalString(i['where'], `${p}.where`);
      if (i['include'] !== undefined) v.strings(i['include'], `${p}.include`);
      if (i['nullsNotDistinct'] !== undefined && i['nullsNotDistinct'] !== true) issues.push({ path: `${p}.nullsNotDistinct`, message: 'expected true or nothing' });
    });
  }
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, value: canonicalSchema(value as unknown as DatabaseSchema) };
}

type JsonObject = Record<string, unknown>;

class Validator {
  readonly #issues: Issue[];

  constructor(issues: Issue[]) {
    this.#issues = issues;
  }

  object(value: unknown, path: string): value is JsonObject {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return true;
    this.#issues.push({ path, message: 'expected an object' });
    return false;
  }

  string(value: unknown, path: string): void {
    if (typeof value !== 'string') this.#issues.push({ path, message: 'expected a string' });
  }

  optionalString(value: unknown, path: string): void {
    if (value !== undefined) this.string(value, path);
  }

  boolean(value: unknown, path: string): void {
    if (typeof value !== 'boolean') this.#issues.push({ path, message: 'expected true or false' });
  }

  strings(value: unknown, path: string): void {
    if (!Array.isArray(value) || !value.every((s) => typeof s === 'string')) this.#issues.push({ path, message: 'expected an array of strings' });
  }

  array(value: unknown, path: string, each: (item: unknown, path: string) => void): void {
    if (!Array.isArray(value)) {
      this.#issues.push({ path, message: 'expected an array' });
      return;
    }
    value.forEach((item, i) => each(item, `${path}[${i}]`));
  }

  key(value: unknown, path: string): value is JsonObject {
    if (!this.object(value, path)) return false;
    this.string(value['name'], `${path}.name`);
    this.strings(value['columns'], `${path}.columns`);
    return true;
  }
}

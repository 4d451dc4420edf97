import pg from 'pg';
import { GovernorError } from '../core/errors.js';
import { applyDdl, type DdlStatement } from '../impact/schema/apply-ddl.js';
import { qualifiedName, quoteIdent, type ColumnSchema, type DatabaseSchema, type TableSchema } from '../impact/schema/schema.js';
import { renderExpression } from '../impact/schema/sql-expression.js';
import { loadDdlParser, parseDdlSync } from './schema-from-ddl.js';

/**
 * One PostgreSQL connection: a pg `Client` or a `PoolClient` already checked
 * out (not a `Pool`: the snapshot runs in one transaction). Declared here so
 * only this file depends on the driver.
 */
export interface SnapshotConnection {
  query(text: string, values?: unknown[]): Promise<{ readonly rows: unknown[] }>;
}

/** What to read. */
export interface SnapshotOptions {
  /** Only these schemas; by default every schema but the system ones (pg_catalog, information_schema, pg_toast, temporary). */
  readonly schemas?: readonly string[];
  /** Statement timeout of the snapshot's queries, in milliseconds. Default 10 000. */
  readonly timeoutMs?: number;
}

interface TableRow {
  readonly oid: string;
  readonly schema: string;
  readonly name: string;
}

interface ColumnRow {
  readonly oid: string;
  readonly name: string;
  readonly type: string;
  readonly not_null: boolean;
  readonly identity: string;
  readonly generated: string;
  readonly expression: string | null;
}

interface DefinitionRow {
  readonly oid: string;
  readonly name: string;
  readonly definition: string;
}

const TABLES = `
SELECT c.oid::text AS oid, n.nspname AS schema, c.relname AS name
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname !~ '^pg_(toast_)?temp_'
  AND ($1::text[] IS NULL OR n.nspname = ANY ($1::text[]))
ORDER BY n.nspname, c.relname`;

const COLUMNS = `
SELECT a.attrelid::text AS oid, a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null, a.attidentity::text AS identity, a.attgenerated::text AS generated,
       pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS expression
FROM pg_catalog.pg_attribute a
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = ANY ($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum`;

// Keys first, so a foreign key finds them; each kind in name order.
const CONSTRAINTS = `
SELECT k.conrelid::text AS oid, k.conname AS name, pg_catalog.pg_get_constraintdef(k.oid) AS definition
FROM pg_catalog.pg_constraint k
WHERE k.conrelid = ANY ($1::oid[]) AND k.contype IN ('p', 'u', 'x', 'c', 'f')
ORDER BY k.conrelid, array_position(ARRAY['p', 'u', 'x', 'c', 'f']::"char"[], k.contype), k.conname`;

// Indexes that back no key or exclusion constraint (those are the constraint's).
const INDEXES = `
SELECT i.indrelid::text AS oid, c.relname AS name, pg_catalog.pg_get_indexdef(i.indexrelid) AS definition
FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = ANY ($1::oid[])
  AND NOT EXISTS (
    SELECT 1 FROM pg_catalog.pg_constraint k
    WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
ORDER BY i.indrelid, c.relname`;

/**
 * Reads the schema of a live PostgreSQL database from its catalog, in one
 * READ ONLY transaction with a statement timeout and an empty search path (so
 * the catalog qualifies every name outside pg_catalog, as the model does).
 * Constraints and indexes are read as the catalog prints them and parsed with
 * the same code that reads migrations, so both give the same canonical text.
 * A connection string gets its own connection, closed afterwards.
 */
export async function snapshotPostgres(source: string | SnapshotConnection, options: SnapshotOptions = {}): Promise<DatabaseSchema> {
  await loadDdlParser();
  if (typeof source !== 'string') return snapshotWith(source, options);
  const client = new pg.Client({ connectionString: source });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new GovernorError('INTERNAL', `schema snapshot: cannot connect to PostgreSQL (${describe(err)})`, { cause: err });
  }
  try {
    return await snapshotWith(client, options);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function snapshotWith(db: SnapshotConnection, options: SnapshotOptions): Promise<DatabaseSchema> {
  const timeout = Math.max(1, Math.floor(options.timeoutMs ?? 10_000));
  let rows: { tables: TableRow[]; columns: ColumnRow[]; constraints: DefinitionRow[]; indexes: DefinitionRow[] };
  try {
    await db.query('BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    try {
      await db.query(`SET LOCAL statement_timeout = ${timeout}`);
      await db.query("SELECT pg_catalog.set_config('search_path', '', true)");
      const tables = (await db.query(TABLES, [options.schemas === undefined ? null : [...options.schemas]])).rows as TableRow[];
      const oids = tables.map((t) => t.oid);
      const [columns, constraints, indexes] = [
        (await db.query(COLUMNS, [oids])).rows as ColumnRow[],
        (await db.query(CONSTRAINTS, [oids])).rows as DefinitionRow[],
        (await db.query(INDEXES, [oids])).rows as DefinitionRow[],
      ];
      rows = { tables, columns, constraints, indexes };
    } finally {
      await db.query('ROLLBACK').catch(() => undefined);
    }
  } catch (err) {
    throw new GovernorError('INTERNAL', `schema snapshot: reading the catalog failed (${describe(err)})`, { cause: err });
  }
  return buildSchema(rows.tables, rows.columns, rows.constraints, rows.indexes);
}

function buildSchema(tables: readonly TableRow[], columns: readonly ColumnRow[], constraints: readonly DefinitionRow[], indexes: readonly DefinitionRow[]): DatabaseSchema {
  const byOid = new Map(tables.map((t) => [t.oid, t]));
  const tableColumns = new Map<string, ColumnSchema[]>(tables.map((t) => [t.oid, []]));
  for (const row of columns) tableColumns.get(row.oid)?.push(columnOf(row));
  const bare: Record<string, TableSchema> = {};
  for (const t of tables) {
    bare[qualifiedName(t.schema, t.name)] = {
      schema: t.schema,
      name: t.name,
      columns: tableColumns.get(t.oid) ?? [],
      uniques: [],
      foreignKeys: [],
      checks: [],
      exclusions: [],
      indexes: [],
    };
  }
  // Constraints and indexes as DDL, read by the same code as migrations.
  const statements: DdlStatement[] = [];
  const sources: string[] = [];
  const add = (sql: string): void => {
    const parsed = parseDdlSync(sql);
    if (!parsed.ok) throw new GovernorError('INTERNAL', `schema snapshot: cannot parse the catalog's definition ${JSON.stringify(sql)}: ${parsed.issues.map((i) => i.message).join('; ')}`);
    statements.push(...parsed.value);
    for (let i = 0; i < parsed.value.length; i++) sources.push(sql);
  };
  for (const k of constraints) {
    const t = byOid.get(k.oid);
    if (t !== undefined) add(`ALTER TABLE ONLY ${qualifiedName(t.schema, t.name)} ADD CONSTRAINT ${quoteIdent(k.name)} ${k.definition}`);
  }
  for (const i of indexes) add(i.definition);
  const result = applyDdl({ tables: bare }, statements, { searchPath: [] });
  if (!result.ok) {
    const detail = result.issues.map((i) => `${sources[Number(/\d+/.exec(i.path)?.[0] ?? -1)] ?? i.path}: ${i.message}`).join('; ');
    throw new GovernorError('INTERNAL', `schema snapshot: the catalog holds what the schema model cannot represent: ${detail}`);
  }
  return result.schema;
}

function columnOf(row: ColumnRow): ColumnSchema {
  const expression = row.expression === null ? undefined : renderCatalogExpression(row.expression);
  const identity = row.identity === 'a' ? 'always' : row.identity === 'd' ? 'by-default' : undefined;
  const generated = row.generated === 's';
  return {
    name: row.name,
    type: row.type,
    notNull: row.not_null,
    ...(expression === undefined || generated ? {} : { default: expression }),
    ...(identity === undefined ? {} : { identity }),
    ...(expression !== undefined && generated ? { generated: expression } : {}),
  };
}

/** A catalog expression (`pg_get_expr`) in canonical form: parsed, then written as migrations' expressions are. */
function renderCatalogExpression(text: string): string {
  const parsed = parseDdlSync(`SELECT ${text}`);
  const stmt = parsed.ok ? parsed.value[0]?.stmt : undefined;
  const target = stmt !== undefined && 'SelectStmt' in stmt ? stmt.SelectStmt.targetList?.[0] : undefined;
  const value = target !== undefined && 'ResTarget' in target ? target.ResTarget.val : undefined;
  return value === undefined ? text : renderExpression(value, 'public');
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

import { describe, expect, it } from 'vitest';
import type { TypeName } from 'libpg-query';
import { loadDdlParser, parseDdlSync } from '../../analyzers/schema-from-ddl.js';
import { normalizeTypeName } from './pg-type-name.js';

await loadDdlParser();

function typeName(sql: string): TypeName {
  const parsed = parseDdlSync(`CREATE TABLE t (c ${sql})`);
  const stmt = parsed.ok ? parsed.value[0]?.stmt : undefined;
  const column = stmt !== undefined && 'CreateStmt' in stmt ? stmt.CreateStmt.tableElts?.[0] : undefined;
  const type = column !== undefined && 'ColumnDef' in column ? column.ColumnDef.typeName : undefined;
  if (type === undefined) throw new Error(`cannot parse ${sql}`);
  return type;
}

const normalize = (sql: string): unknown => normalizeTypeName(typeName(sql), 'public');

describe('normalizeTypeName', () => {
  // Each expectation is what PostgreSQL 15's format_type printed for the column (search_path empty).
  it.each([
    ['int', 'integer'],
    ['int4', 'integer'],
    ['integer', 'integer'],
    ['int8', 'bigint'],
    ['smallint', 'smallint'],
    ['integer[]', 'integer[]'],
    ['int[][]', 'integer[]'],
    ['varchar', 'character varying'],
    ['varchar(10)', 'character varying(10)'],
    ['character varying(255)', 'character varying(255)'],
    ['char', 'character(1)'],
    ['char(5)', 'character(5)'],
    ['"char"', '"char"'],
    ['bpchar', 'bpchar'],
    ['numeric', 'numeric'],
    ['numeric(10)', 'numeric(10,0)'],
    ['decimal(5,1)', 'numeric(5,1)'],
    ['float', 'double precision'],
    ['float(10)', 'real'],
    ['real', 'real'],
    ['float8', 'double precision'],
    ['timestamp', 'timestamp without time zone'],
    ['timestamp(3)', 'timestamp(3) without time zone'],
    ['timestamptz', 'timestamp with time zone'],
    ['timestamp(0) with time zone', 'timestamp(0) with time zone'],
    ['time', 'time without time zone'],
    ['time(2) with time zone', 'time(2) with time zone'],
    ['timetz', 'time with time zone'],
    ['interval', 'interval'],
    ['interval day', 'interval day'],
    ['interval(3)', 'interval(3)'],
    ['interval day to second(2)', 'interval day to second(2)'],
    ['interval year to month', 'interval year to month'],
    ['bit', 'bit(1)'],
    ['bit(3)', 'bit(3)'],
    ['varbit', 'bit varying'],
    ['bit varying(5)', 'bit varying(5)'],
    ['bool', 'boolean'],
    ['text', 'text'],
    ['jsonb', 'jsonb'],
    ['uuid', 'uuid'],
    ['pg_catalog.text', 'text'],
    ['mood', 'public.mood'],
    ['app.mood[]', 'app.mood[]'],
    ['"Mood"', 'public."Mood"'],
    ['public.vector(3)', 'public.vector(3)'],
  ])('%s → %s', (written, catalog) => {
    expect(normalize(written)).toEqual({ ok: true, type: catalog });
  });

  it.each([
    ['serial', 'integer'],
    ['bigserial', 'bigint'],
    ['smallserial', 'smallint'],
    ['serial8', 'bigint'],
  ])('%s is %s with a sequence', (written, type) => {
    expect(normalize(written)).toEqual({ ok: true, type, serial: true });
  });

  it('qualifies user types with the schema it is given', () => {
    expect(normalizeTypeName(typeName('mood'), 'Sales')).toEqual({ ok: true, type: '"Sales".mood' });
  });

  it('refuses what it cannot model', () => {
    const names = ['users', 'email'].map((sval) => ({ String: { sval } }));
    expect(normalizeTypeName({ names, pct_type: true }, 'public')).toMatchObject({ ok: false });
    expect(normalizeTypeName({ names: ['a', 'b', 'c', 'd'].map((sval) => ({ String: { sval } })) }, 'public')).toMatchObject({ ok: false });
    expect(normalize('serial[]')).toMatchObject({ ok: false });
  });
});

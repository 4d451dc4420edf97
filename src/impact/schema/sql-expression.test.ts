import { describe, expect, it } from 'vitest';
import type { Node } from 'libpg-query';
import { loadDdlParser, parseDdlSync } from '../../analyzers/schema-from-ddl.js';
import { mapColumnReferences, referencedColumns, renameColumnReferences, renderExpression } from './sql-expression.js';

await loadDdlParser();

function expr(sql: string): Node {
  const parsed = parseDdlSync(`SELECT ${sql}`);
  const stmt = parsed.ok ? parsed.value[0]?.stmt : undefined;
  const target = stmt !== undefined && 'SelectStmt' in stmt ? stmt.SelectStmt.targetList?.[0] : undefined;
  const value = target !== undefined && 'ResTarget' in target ? target.ResTarget.val : undefined;
  if (value === undefined) throw new Error(`cannot parse ${sql}`);
  return value;
}

const render = (sql: string): string => renderExpression(expr(sql));

describe('renderExpression', () => {
  // What a migration says, and what the catalog prints for it (pg_get_expr, pg_get_constraintdef).
  it.each([
    ["'x'", "'x'::text"],
    ["'y'", "'y'::character varying"],
    ['-1', "'-1'::integer"],
    ['(-5)', "'-5'::integer"],
    ['1.50', '1.50'],
    ["'{}'", "'{}'::jsonb"],
    ["'{}'", "'{}'::text[]"],
    ['now()', 'now()'],
    ['current_timestamp', 'CURRENT_TIMESTAMP'],
    ['current_date', 'CURRENT_DATE'],
    ['true', 'true'],
    ['2+3', '(2 + 3)'],
    ["nextval('s.t_id_seq')", "nextval('s.t_id_seq'::regclass)"],
    ["status in ('a', 'b')", "(status = ANY (ARRAY['a'::text, 'b'::text]))"],
    ["status in ('a', 'b')", "((status)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[]))"],
    ["status not in ('a')", "(status <> ALL (ARRAY['a'::text]))"],
    ['a between 1 and 2', '((a >= 1) AND (a <= 2))'],
    ["name like 'x%'", "(name ~~ 'x%'::text)"],
    ['b > 0 and b < 10 and b > 1', '((b > 0) AND (b < 10) AND (b > 1))'],
    ['lower(email)', 'lower((email)::text)'],
    ["to_tsvector('english', body)", "to_tsvector('english'::regconfig, body)"],
    ['deleted_at is null', '(deleted_at IS NULL)'],
    ['price * 1.2', '(price * 1.2)'],
    ['score > -10', "((score)::numeric > ('-10'::integer)::numeric)"],
    ['(score + 1)', '((score)::numeric + (1)::numeric)'],
  ])('%s reads like the catalog’s %s', (written, catalog) => {
    expect(render(written)).toBe(render(catalog));
  });

  it('keeps casts that change meaning', () => {
    expect(render('created_at::date')).toBe('created_at::date');
    expect(render('(a + b)::bigint')).toBe('(a + b)::bigint');
    expect(render('x::timestamp(3) with time zone')).toBe('x::timestamp(3) with time zone');
  });

  it('writes identifiers, keywords and literals canonically', () => {
    expect(render('"Weird Col" + "lower"')).toBe('("Weird Col" + lower)');
    expect(render("'it''s'")).toBe("'it''s'");
    expect(render('coalesce(a, 0)')).toBe('COALESCE(a, 0)');
    expect(render('case when a then 1 else 2 end')).toBe('CASE WHEN a THEN 1 ELSE 2 END');
    expect(render('not a')).toBe('(NOT a)');
    expect(render('a is distinct from b')).toBe('(a IS DISTINCT FROM b)');
    expect(render('greatest(a, b)')).toBe('GREATEST(a, b)');
    expect(render('count(*)')).toBe('count(*)');
    expect(render('pg_catalog.lower(a)')).toBe('lower(a)');
    expect(render('a operator(pg_catalog.+) b')).toBe('(a + b)');
    expect(render("b'101'")).toBe("B'101'");
    expect(render('null')).toBe('NULL');
  });

  it('writes what it does not know deterministically, without source positions', () => {
    const a = render('(select 1)');
    expect(a).toMatch(/^SubLink\{/);
    expect(render('(  select   1 )')).toBe(a);
    expect(render('(select 2)')).not.toBe(a);
  });
});

describe('column references in canonical text', () => {
  it('finds columns, not functions, literals, types, keywords, collations or operator classes', () => {
    const text = `(lower(email) = ANY (ARRAY['zone', 'x'])) AND (ts::timestamp with time zone > now()) AND (name COLLATE "C" IS NOT NULL)`;
    expect([...referencedColumns(text)].sort()).toEqual(['email', 'name', 'ts']);
    expect([...referencedColumns('status text_pattern_ops DESC')]).toEqual(['status']);
    expect([...referencedColumns('USING gist (period WITH &&)')]).toEqual(['period']);
    expect([...referencedColumns('"Mixed Case" + 1')]).toEqual(['Mixed Case']);
    expect([...referencedColumns("f(x => 1, y)")]).toEqual(['y']);
  });

  it('renames a column everywhere it is referenced and nowhere else', () => {
    expect(renameColumnReferences("(zone = 'zone') AND (x::time with time zone IS NULL)", 'zone', 'region')).toBe("(region = 'zone') AND (x::time with time zone IS NULL)");
    expect(renameColumnReferences('lower(lower)', 'lower', 'Lower Case')).toBe('lower("Lower Case")');
    expect(renameColumnReferences('(a < b)', 'a', 'b')).toBe('(b < b)');
  });

  it('swaps columns in one pass', () => {
    expect(mapColumnReferences('(a < b)', (c) => (c === 'a' ? 'b' : c === 'b' ? 'a' : c))).toBe('(b < a)');
  });
});

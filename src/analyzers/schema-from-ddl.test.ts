import { describe, expect, it } from 'vitest';
import { parseDdl, schemaFromDdl, sqlDrift } from './schema-from-ddl.js';

describe('parseDdl', () => {
  it('parses with PostgreSQL’s grammar, and reports a syntax error with its line', async () => {
    const ok = await parseDdl('create table t (a int); drop table t;');
    expect(ok.ok && ok.value.length).toBe(2);
    const bad = await parseDdl('create table t (a int);\ncreate tabel u (b int);');
    expect(bad.ok).toBe(false);
    expect(bad.ok ? undefined : bad.issues[0]).toMatchObject({ path: 'sql', line: 2, message: expect.stringMatching(/syntax error/) as unknown });
  });
});

describe('schemaFromDdl', () => {
  it('builds a schema from migrations, on an empty database or on a base', async () => {
    const first = await schemaFromDdl('create table t (id int primary key);');
    expect(first.ok).toBe(true);
    const second = await schemaFromDdl('alter table t add column name text;', { base: first.schema });
    expect(second.schema.tables['public.t']?.columns.map((c) => c.name)).toEqual(['id', 'name']);
  });

  it('honours the search path', async () => {
    const result = await schemaFromDdl('create table t (id int);', { searchPath: ['app'] });
    expect(Object.keys(result.schema.tables)).toEqual(['app.t']);
  });

  it('fails closed on a syntax error', async () => {
    const result = await schemaFromDdl('create tabel t (id int)');
    expect(result.ok).toBe(false);
    expect(result.issues[0]?.line).toBe(1);
  });
});

describe('sqlDrift', () => {
  it('reports the drift of a migration script, and a syntax error as drift', async () => {
    const base = (await schemaFromDdl('create table t (id int primary key, email text not null);')).schema;
    const report = await sqlDrift(base, 'alter table t drop column email;');
    expect(report.drifting).toBe(true);
    expect(report.changes.map((c) => c.message)).toEqual(['drops column public.t.email (text, NOT NULL)']);
    expect((await sqlDrift(base, 'alter table t add column nick text;')).drifting).toBe(false);
    const broken = await sqlDrift(base, 'alter tabel t add column nick text;');
    expect(broken).toMatchObject({ ok: false, drifting: true, changes: [] });
  });
});

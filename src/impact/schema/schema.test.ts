import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalSchema, parseDatabaseSchema, qualifiedName, quoteIdent, schemaDigest, schemaToJson, type DatabaseSchema, type TableSchema } from './schema.js';

const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

const users: TableSchema = {
  schema: 'public',
  name: 'users',
  columns: [
    { name: 'id', type: 'integer', notNull: true, identity: 'always' },
    { name: 'email', type: 'text', notNull: true },
  ],
  primaryKey: { name: 'users_pkey', columns: ['id'] },
  uniques: [
    { name: 'users_z_key', columns: ['email'] },
    { name: 'users_email_key', columns: ['email'], nullsNotDistinct: true },
  ],
  foreignKeys: [],
  checks: [
    { name: 'b_check', expression: '(id > 0)' },
    { name: 'a_check', expression: '(id < 10)' },
  ],
  exclusions: [],
  indexes: [{ name: 'users_lower_idx', columns: ['lower(email)'], unique: false, method: 'btree' }],
};
const orgs: TableSchema = { schema: 'public', name: 'orgs', columns: [{ name: 'id', type: 'bigint', notNull: true }], uniques: [], foreignKeys: [], checks: [], exclusions: [], indexes: [] };

describe('names', () => {
  it('quotes identifiers only when they must be, one to one', () => {
    expect(quoteIdent('users')).toBe('users');
    expect(quoteIdent('Users')).toBe('"Users"');
    expect(quoteIdent('a"b')).toBe('"a""b"');
    expect(quoteIdent('1st')).toBe('"1st"');
    // As PostgreSQL's quote_ident: keywords and `$` are quoted, unreserved keywords are not.
    expect(['user', 'order', 'between', 'int', 'a$b', 'name', 'zone', '_x'].map(quoteIdent)).toEqual(['"user"', '"order"', '"between"', '"int"', '"a$b"', 'name', 'zone', '_x']);
    expect(qualifiedName('a.b', 'c')).toBe('"a.b".c');
    expect(qualifiedName('a', 'b.c')).toBe('a."b.c"');
  });
});

describe('canonical form', () => {
  it('sorts tables, constraints and indexes by name but keeps column order', () => {
    const canonical = canonicalSchema({ tables: { 'public.users': users, 'public.orgs': orgs } });
    expect(Object.keys(canonical.tables)).toEqual(['public.orgs', 'public.users']);
    const t = canonical.tables['public.users'];
    expect(t?.columns.map((c) => c.name)).toEqual(['id', 'email']);
    expect(t?.uniques.map((u) => u.name)).toEqual(['users_email_key', 'users_z_key']);
    expect(t?.checks.map((c) => c.name)).toEqual(['a_check', 'b_check']);
    expect(Object.isFrozen(t?.columns[0])).toBe(true);
  });

  it('gives the same JSON and digest whatever the order of the input, and another for another schema', () => {
    const a: DatabaseSchema = { tables: { 'public.users': users, 'public.orgs': orgs } };
    const b: DatabaseSchema = { tables: { 'public.orgs': orgs, 'public.users': { ...users, uniques: [...users.uniques].reverse(), checks: [...users.checks].reverse() } } };
    expect(schemaToJson(a)).toBe(schemaToJson(b));
    expect(schemaDigest(a, sha256Hex)).toBe(schemaDigest(b, sha256Hex));
    const c: DatabaseSchema = { tables: { ...a.tables, 'public.orgs': { ...orgs, columns: [{ name: 'id', type: 'integer', notNull: true }] } } };
    expect(schemaDigest(c, sha256Hex)).not.toBe(schemaDigest(a, sha256Hex));
  });

  it('drops keys the model does not know', () => {
    const withExtra = { tables: { 'public.orgs': { ...orgs, owner: 'bob', columns: [{ ...orgs.columns[0], comment: 'x' }] } } } as unknown as DatabaseSchema;
    expect(schemaToJson(withExtra)).toBe(schemaToJson({ tables: { 'public.orgs': orgs } }));
  });
});

describe('parseDatabaseSchema', () => {
  it('accepts a schema and returns it canonical', () => {
    const parsed = parseDatabaseSchema(JSON.parse(JSON.stringify({ tables: { 'public.users': users } })));
    expect(parsed.ok && parsed.value).toEqual(canonicalSchema({ tables: { 'public.users': users } }));
  });

  it('names every problem with its path', () => {
    const bad = {
      tables: {
        'public.wrong': { ...users, columns: [{ name: 'id', type: 5, notNull: 'yes', identity: 'sometimes' }], indexes: 'none' },
      },
    };
    const parsed = parseDatabaseSchema(bad);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? [] : parsed.issues.map((i) => i.path)).toEqual([
      'schema.tables["public.wrong"]',
      'schema.tables["public.wrong"].columns[0].type',
      'schema.tables["public.wrong"].columns[0].notNull',
      'schema.tables["public.wrong"].columns[0].identity',
      'schema.tables["public.wrong"].indexes',
    ]);
  });

  it('refuses what is not a schema', () => {
    for (const value of [null, [], 'x', { tables: [] }, { tables: { 'public.t': null } }]) expect(parseDatabaseSchema(value).ok).toBe(false);
  });
});

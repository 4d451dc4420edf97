import { describe, expect, it } from 'vitest';
import { loadSqlParser } from './pg-parser.js';

describe('loadSqlParser', () => {
  it('parses a script into one tree per statement with byte positions', async () => {
    const parser = await loadSqlParser();
    const result = parser.parse("SELECT 'é'; DROP TABLE t");
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.stmts.map((s) => Object.keys(s.stmt ?? {})[0])).toEqual(['SelectStmt', 'DropStmt']);
    // 'é' is two bytes in UTF-8: the second statement starts at byte 12, character 11.
    expect(result.value.stmts[1]?.stmt_location).toBe(12);
  });

  it('returns syntax errors as values, with the position', async () => {
    const parser = await loadSqlParser();
    expect(parser.parse('DELETE FROM WHERE')).toMatchObject({ ok: false, error: { message: expect.stringMatching(/syntax error/), position: expect.any(Number) } });
    expect(parser.parse('')).toMatchObject({ ok: false });
    expect(parser.parse('-- only a comment')).toEqual({ ok: true, value: { stmts: [] } });
  });

  it('never throws, even on input nested too deeply for the parser', async () => {
    const parser = await loadSqlParser();
    expect(parser.parse(`SELECT 1${' + 1'.repeat(30_000)}`).ok).toBe(false);
    expect(parser.parse(`SELECT ${'('.repeat(30_000)}1${')'.repeat(30_000)}`).ok).toBe(false);
    // and stays usable afterwards
    expect(parser.parse('SELECT 1').ok).toBe(true);
  });

  it('loads the module once', async () => {
    const [a, b] = await Promise.all([loadSqlParser(), loadSqlParser()]);
    expect(a.parse('SELECT 1')).toEqual(b.parse('SELECT 1'));
  });
});

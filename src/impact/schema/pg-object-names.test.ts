import { describe, expect, it } from 'vitest';
import { chooseName, clipUtf8, indexColumnNames, makeObjectName, nameAddition, utf8Length } from './pg-object-names.js';

describe('makeObjectName', () => {
  it('joins the parts with underscores', () => {
    expect(makeObjectName('users', 'email', 'key')).toBe('users_email_key');
    expect(makeObjectName('users', undefined, 'pkey')).toBe('users_pkey');
  });

  it('shortens the longer part first to fit in 63 bytes (as PostgreSQL 15 named them)', () => {
    const table = 'a_very_long_table_name_that_goes_on_and_on_and_on_and_on_foreve';
    const column = 'a_very_long_column_name_that_also_goes_on_and_on_and_on';
    const name = makeObjectName(table, column, 'key');
    expect(name).toBe('a_very_long_table_name_that_g_a_very_long_column_name_that__key');
    expect(utf8Length(name)).toBe(63);
  });

  it('never cuts a multibyte character in half', () => {
    const name = makeObjectName('ä'.repeat(40), 'ö'.repeat(40), 'idx');
    expect(utf8Length(name)).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^ä+_ö+_idx$/);
  });
});

describe('chooseName', () => {
  it('adds a number to the label until the name is free', () => {
    const taken = new Set(['t_check', 't_check1']);
    expect(chooseName('t', undefined, 'check', (n) => taken.has(n))).toBe('t_check2');
  });
});

describe('index column names', () => {
  it('numbers repeated names', () => {
    expect(indexColumnNames(['lower', 'lower', 'a', 'lower'])).toEqual(['lower', 'lower1', 'a', 'lower2']);
  });

  it('stops adding names once the result is a full identifier long', () => {
    const long = 'x'.repeat(40);
    expect(nameAddition([long, long, 'tail'])).toBe(`${long}_${long}`);
  });
});

describe('UTF-8 lengths', () => {
  it('counts bytes and clips on character boundaries', () => {
    expect(utf8Length('aä€😀')).toBe(1 + 2 + 3 + 4);
    expect(clipUtf8('aä€😀', 5)).toBe('aä');
  });
});

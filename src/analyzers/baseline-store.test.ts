import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGovernorError } from '../core/errors.js';
import { emptySchema, type DatabaseSchema } from '../impact/schema/schema.js';
import { baselineDigest, isDatabaseId, latestBaseline, listBaselines, loadBaseline, saveBaseline } from './baseline-store.js';

const ORDERS: DatabaseSchema = {
  tables: {
    'public.orders': {
      schema: 'public',
      name: 'orders',
      columns: [{ name: 'id', type: 'bigint', notNull: true }],
      primaryKey: { name: 'orders_pkey', columns: ['id'] },
      uniques: [],
      foreignKeys: [],
      checks: [],
      exclusions: [],
      indexes: [],
    },
  },
};

let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'governor-baselines-'));
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('baseline store', () => {
  it('numbers versions 1, 2, ... and loads them back', async () => {
    const takenAt = new Date('2025-01-02T03:04:05.000Z');
    const first = await saveBaseline(dataDir, 'billing', emptySchema(), { source: 'ddl', takenAt });
    const second = await saveBaseline(dataDir, 'billing', ORDERS, { source: 'postgres', takenAt });
    expect([first.version, second.version]).toEqual([1, 2]);
    expect(second).toEqual({ database: 'billing', version: 2, takenAt: '2025-01-02T03:04:05.000Z', source: 'postgres', digest: baselineDigest(ORDERS), schema: ORDERS });
    expect(await loadBaseline(dataDir, 'billing', 1)).toEqual(first);
    expect(await latestBaseline(dataDir, 'billing')).toEqual(second);
    expect((await listBaselines(dataDir, 'billing')).map((b) => [b.version, b.source])).toEqual([
      [1, 'ddl'],
      [2, 'postgres'],
    ]);
    expect(await readdir(join(dataDir, 'baselines', 'billing'))).toEqual(['1.json', '2.json']);
  });

  it('keeps databases apart and has nothing for an unknown one', async () => {
    await saveBaseline(dataDir, 'a', ORDERS, { source: 'ddl' });
    expect(await latestBaseline(dataDir, 'b')).toBeUndefined();
    expect(await listBaselines(dataDir, 'b')).toEqual([]);
    const error = await loadBaseline(dataDir, 'b', 1).catch((err: unknown) => err);
    expect(isGovernorError(error, 'NOT_FOUND')).toBe(true);
  });

  it('writes files 0600 in directories 0700', async () => {
    await saveBaseline(dataDir, 'billing', ORDERS, { source: 'ddl' });
    expect((await stat(join(dataDir, 'baselines'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(dataDir, 'baselines', 'billing'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(dataDir, 'baselines', 'billing', '1.json'))).mode & 0o777).toBe(0o600);
  });

  it('gives concurrent saves distinct versions and leaves no temporary files', async () => {
    const saved = await Promise.all(Array.from({ length: 8 }, () => saveBaseline(dataDir, 'billing', ORDERS, { source: 'ddl' })));
    expect(saved.map((b) => b.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect((await readdir(join(dataDir, 'baselines', 'billing'))).filter((f) => !/^\d+\.json$/.test(f))).toEqual([]);
  });

  it('adds no version for an unchanged schema when asked not to', async () => {
    const first = await saveBaseline(dataDir, 'billing', ORDERS, { source: 'postgres' });
    expect(await saveBaseline(dataDir, 'billing', ORDERS, { source: 'postgres', skipIfUnchanged: true })).toEqual(first);
    expect((await saveBaseline(dataDir, 'billing', emptySchema(), { source: 'postgres', skipIfUnchanged: true })).version).toBe(2);
  });

  it('refuses database ids that are not identifiers', async () => {
    for (const id of ['../etc', 'a/b', '.hidden', '', 'a.b', 'x'.repeat(64), 'a b', '..']) {
      expect(isDatabaseId(id), id).toBe(false);
      const error = await saveBaseline(dataDir, id, ORDERS, { source: 'ddl' }).catch((err: unknown) => err);
      expect(isGovernorError(error, 'BAD_REQUEST'), id).toBe(true);
    }
    expect(isDatabaseId('billing-prod_2')).toBe(true);
  });

  it('refuses a file whose schema no longer matches its digest', async () => {
    await saveBaseline(dataDir, 'billing', ORDERS, { source: 'ddl' });
    const file = join(dataDir, 'baselines', 'billing', '1.json');
    const stored = JSON.parse(await readFile(file, 'utf8')) as { schema: { tables: Record<string, { columns: { type: string }[] }> } };
    const column = stored.schema.tables['public.orders']?.columns[0];
    if (column !== undefined) column.type = 'integer';
    await writeFile(file, JSON.stringify(stored));
    const error = await loadBaseline(dataDir, 'billing', 1).catch((err: unknown) => err);
    expect(isGovernorError(error, 'CONFIG_INVALID')).toBe(true);
    expect((error as Error).message).toMatch(/does not match its digest/);
  });

  it('refuses a file that names another database or version', async () => {
    await saveBaseline(dataDir, 'billing', ORDERS, { source: 'ddl' });
    const dir = join(dataDir, 'baselines', 'billing');
    await writeFile(join(dir, '2.json'), await readFile(join(dir, '1.json')));
    const error = await loadBaseline(dataDir, 'billing', 2).catch((err: unknown) => err);
    expect(isGovernorError(error, 'CONFIG_INVALID')).toBe(true);
    await writeFile(join(dir, '3.json'), 'not json');
    expect(isGovernorError(await loadBaseline(dataDir, 'billing', 3).catch((err: unknown) => err), 'CONFIG_INVALID')).toBe(true);
  });
});

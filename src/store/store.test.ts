import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll } from 'vitest';
import { createPostgresStore } from './postgres/index.js';
import { createSqliteStore } from './sqlite/index.js';
import { runStoreContract } from './store.contract.js';
import type { Store } from './store.js';
import { testDatabaseUrl } from './test-fixtures.js';

const TEST_DATABASE_URL = testDatabaseUrl();

interface Engine {
  readonly name: string;
  readonly open: () => Promise<Store>;
  readonly cleanup: () => Promise<void>;
}

function sqliteEngine(): Engine {
  const dir = mkdtempSync(join(tmpdir(), 'governor-store-'));
  const path = join(dir, 'governor.db');
  return {
    name: 'sqlite',
    open: () => createSqliteStore({ path }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

function postgresEngine(connectionString: string): Engine {
  // A fresh schema per run, so concurrent runs and earlier runs never collide.
  const schema = `gov_test_${randomBytes(6).toString('hex')}`;
  return {
    name: 'postgres',
    open: () => createPostgresStore({ connectionString, schema }),
    cleanup: async () => {
      const client = new pg.Client({ connectionString });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

const ENGINES: readonly Engine[] = [sqliteEngine(), ...(TEST_DATABASE_URL === undefined ? [] : [postgresEngine(TEST_DATABASE_URL)])];

for (const engine of ENGINES) {
  runStoreContract(engine.name, engine.open);
}

afterAll(async () => {
  await Promise.all(ENGINES.map((engine) => engine.cleanup()));
});

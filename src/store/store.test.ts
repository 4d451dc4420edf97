import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll } from 'vitest';
import { createPostgresStore } from './postgres/index.js';
import { createSqliteStore } from './sqlite/index.js';
import { runStoreContract, type StoreContractEngine } from './store.contract.js';
import { testDatabaseUrl } from './test-fixtures.js';

const TEST_DATABASE_URL = testDatabaseUrl();

interface Engine extends StoreContractEngine {
  readonly name: string;
  readonly cleanup: () => Promise<void>;
}

/** SQLite writing on its writer thread (the default), or on the calling thread. */
function sqliteEngine(writerThread: boolean): Engine {
  const dir = mkdtempSync(join(tmpdir(), 'governor-store-'));
  const path = join(dir, 'governor.db');
  return {
    name: writerThread ? 'sqlite' : 'sqlite, writer on the calling thread',
    open: () => createSqliteStore({ path, writerThread }),
    sql: async (statement) => {
      const db = new Database(path);
      try {
        db.exec(statement);
      } finally {
        db.close();
      }
    },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

function postgresEngine(connectionString: string): Engine {
  // A fresh schema per run, so concurrent runs and earlier runs never collide.
  const schema = `gov_test_${randomBytes(6).toString('hex')}`;
  return {
    name: 'postgres',
    open: () => createPostgresStore({ connectionString, schema }),
    sql: async (statement) => {
      const client = new pg.Client({ connectionString });
      await client.connect();
      try {
        await client.query(`SET search_path TO ${schema}`);
        await client.query(statement);
      } finally {
        await client.end();
      }
    },
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

const ENGINES: readonly Engine[] = [
  sqliteEngine(true),
  sqliteEngine(false),
  ...(TEST_DATABASE_URL === undefined ? [] : [postgresEngine(TEST_DATABASE_URL)]),
];

for (const engine of ENGINES) {
  runStoreContract(engine.name, engine);
}

afterAll(async () => {
  await Promise.all(ENGINES.map((engine) => engine.cleanup()));
});

import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL server tests create their databases on. */
export const TEST_DATABASE_URL = process.env['GOVERNOR_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A database created for one test file, dropped afterwards. */
export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** Runs SQL on the test database (one statement or a script). */
  query(sql: string): Promise<pg.QueryResult>;
  drop(): Promise<void>;
}

/** Whether the test server answers (a suite without a configured database may skip). */
export async function postgresReachable(url = TEST_DATABASE_URL): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates a fresh database (`<prefix>_<random>`) on the test server, so its tables are in `public` like a real one's. */
export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  return {
    name,
    url: url.toString(),
    query: (sql) => client.query(sql),
    async drop() {
      await client.end().catch(() => undefined);
      const a = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

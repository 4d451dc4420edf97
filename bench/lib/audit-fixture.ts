import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SqliteStoreOptions } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/store.js';
import { loadAuditApi, loadStoreApi } from './governor.js';

/*
 * The benchmark's big audit log: a SQLite store (the Store port's
 * `createSqliteStore`, default options: WAL, synchronous = FULL, group commit
 * of at most 512 writes) in a fresh directory, holding `leaves` small
 * deterministic leaves appended through `store.audit.append` by many
 * concurrent callers (so batches are full), with checkpoints signed by the
 * AuditLog service as in production (whenever 1,000 leaves arrived) and one
 * covering the whole log. The log key is kept in the directory's keys/, as
 * `governor serve` keeps it, so `governor audit export` finds it.
 *
 * It is built on every run: 1,000,000 leaves take about 13 s on the 2-core
 * benchmark machine, and the build is itself a figure (durable leaf appends
 * per second).
 */

/** The log's origin (and its key's name). */
export const FIXTURE_ORIGIN = 'governor/audit-bench';
/** Concurrent `append` callers while building (below the store's 8,192 pending writes). */
const BUILD_CALLERS = 4096;

/** How the log was built. */
export interface FixtureInfo {
  readonly leaves: number;
  readonly rootHex: string;
  readonly leafBytes: number;
  readonly checkpoints: number;
  readonly buildMs: number;
  readonly batches: number;
  readonly meanBatch: number;
  readonly maxBatch: number;
  readonly meanBatchMs: number;
}

/** A built log, its store open. */
export interface Fixture {
  readonly dataDir: string;
  readonly dbPath: string;
  readonly store: Store;
  readonly info: FixtureInfo;
  /** The log's verifier key. */
  readonly vkey: string;
  /** Database size (file + WAL), bytes. */
  readonly dbBytes: number;
}

/** 32-bit mix of an integer (for deterministic, varied leaves). */
function mix(i: number): number {
  let x = (i ^ 0x9e3779b9) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

const PAD = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(8);

/** Leaf `i` of the fixture: 64 to 200 bytes of JSON, the same on every run. */
export function fixtureLeaf(i: number): Uint8Array {
  const m = mix(i);
  const length = 64 + (m % 137);
  const head = `{"v":1,"type":"bench","index":${i},"pad":"`;
  const padLength = length - head.length - 2;
  const start = (m >>> 8) % 36;
  return Buffer.from(`${head}${PAD.slice(start, start + padLength)}"}`, 'utf8');
}

async function fileBytes(path: string): Promise<number> {
  let total = 0;
  for (const f of [path, `${path}-wal`]) total += await stat(f).then((s) => s.size, () => 0);
  return total;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Builds a log of `leaves` leaves (`fixtureLeaf(0..leaves-1)`) in `dataDir`, which must be empty or missing. */
export async function buildFixture(dataDir: string, leaves: number, progress: (line: string) => void): Promise<Fixture> {
  const { createSqliteStore } = await loadStoreApi();
  const audit = await loadAuditApi();
  const dbPath = join(dataDir, 'governor.db');
  await mkdir(join(dataDir, 'keys'), { recursive: true, mode: 0o700 });
  const keys = await audit.ensureLogKeys(dataDir, FIXTURE_ORIGIN);
  const key = keys[0];
  if (!key) throw new Error('no log key was created');
  const batches: Parameters<NonNullable<SqliteStoreOptions['onBatch']>>[0][] = [];
  const store = await createSqliteStore({ path: dbPath, onBatch: (b) => batches.push(b) });
  const log = audit.createAuditLog({
    repository: store.audit,
    crypto: audit.nodeAuditCrypto,
    origin: key.signer.name,
    signers: [key.signer],
    onError: (err) => progress(`checkpoint signing failed: ${err instanceof Error ? err.message : String(err)}`),
  });
  log.start();
  progress(`building an audit log of ${leaves.toLocaleString('en-US')} leaves in ${dataDir}`);
  const started = performance.now();
  let next = 0;
  let leafBytes = 0;
  let lastReport = started;
  const caller = async () => {
    for (let i = next++; i < leaves; i = next++) {
      const bytes = fixtureLeaf(i);
      leafBytes += bytes.length;
      const { index } = await store.audit.append({ bytes, hash: audit.hashLeaf(audit.nodeAuditCrypto, bytes) });
      // Calls reach the store in index order, and a group commit keeps that order.
      if (index !== i) throw new Error(`leaf ${i} was appended at index ${index}: the store reordered concurrent appends`);
      log.appended(1);
      if ((i & 0xffff) === 0 && performance.now() - lastReport > 15_000) {
        lastReport = performance.now();
        const s = (lastReport - started) / 1000;
        progress(`  ${i.toLocaleString('en-US')} leaves in ${s.toFixed(0)} s (${Math.round(i / s).toLocaleString('en-US')}/s)`);
      }
    }
  };
  await Promise.all(Array.from({ length: BUILD_CALLERS }, caller));
  await log.checkpoint();
  await log.stop();
  const buildMs = performance.now() - started;
  const head = await store.audit.treeHead();
  if (head.size !== leaves) throw new Error(`built a log of ${head.size} leaves, wanted ${leaves}`);
  let checkpoints = 0;
  for (let after = 0; ; ) {
    const page = await store.audit.checkpoints(after, 1000);
    checkpoints += page.length;
    if (page.length < 1000) break;
    after = page[page.length - 1]!.size;
  }
  const committed = batches.filter((b) => b.committed);
  const info: FixtureInfo = {
    leaves,
    rootHex: hex(head.rootHash),
    leafBytes,
    checkpoints,
    buildMs,
    batches: committed.length,
    meanBatch: committed.reduce((s, b) => s + b.size, 0) / Math.max(1, committed.length),
    maxBatch: committed.reduce((m, b) => Math.max(m, b.size), 0),
    meanBatchMs: committed.reduce((s, b) => s + b.durationMs, 0) / Math.max(1, committed.length),
  };
  return { dataDir, dbPath, store, info, vkey: key.vkey, dbBytes: await fileBytes(dbPath) };
}

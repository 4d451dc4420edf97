import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as ImpactApi from '../../src/impact/predict-impact.js';
import type * as MainApi from '../../src/main.js';
import type * as NormalizeApi from '../../src/impact/normalize-action.js';
import type * as PolicyApi from '../../src/policy/index.js';
import type * as AuditLogApi from '../../src/audit/audit-log.js';
import type * as AuditLeafApi from '../../src/audit/audit-leaf.js';
import type * as LogKeysApi from '../../src/audit/log-keys.js';
import type * as NodeCryptoApi from '../../src/audit/node-crypto.js';
import type * as AuditPureApi from '../../src/audit/pure/index.js';
import type * as CliApi from '../../src/cli/main.js';
import type * as SqliteStoreApi from '../../src/store/sqlite/index.js';

/*
 * The Governor code under measurement. Governor ships as tsc output (dist/,
 * bin/governor.js), so that is what the benchmarks measure: `buildForBench()`
 * compiles src/ with the project's tsconfig.build.json into bench/out/build and
 * every benchmark imports Governor from there, never from src/ through tsx.
 * (tsx transpiles with esbuild's keepNames, which wraps every closure created
 * on the hot path in a `__name()` call that redefines its `name` property: it
 * made a decision several times slower than the shipped code.)
 *
 * GOVERNOR_BENCH_IMPL=src measures src/ through tsx instead, to see that effect.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Where `buildForBench()` writes the compiled sources. */
export const BUILD_DIR = fileURLToPath(new URL('../out/build/', import.meta.url));
const ENV_DIR = 'GOVERNOR_BENCH_BUILD_DIR';

/** What a build produced: type errors do not stop tsc from emitting, so they are warnings. */
export interface BuildResult {
  readonly ms: number;
  readonly warnings: readonly string[];
}

/**
 * Compiles src/ into bench/out/build (a fresh copy each run) and points this
 * process and its children at it. Throws if nothing was emitted.
 */
export function buildForBench(): BuildResult {
  const started = performance.now();
  rmSync(BUILD_DIR, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', BUILD_DIR, '--declaration', 'false', '--sourceMap', 'false'], { cwd: ROOT, encoding: 'utf8' });
  if (!existsSync(`${BUILD_DIR}policy/index.js`)) {
    throw new Error(`tsc emitted nothing into ${BUILD_DIR}:\n${result.stdout}${result.stderr}`);
  }
  process.env[ENV_DIR] = BUILD_DIR;
  const warnings = `${result.stdout}${result.stderr}`.split('\n').filter((l) => /error TS/.test(l));
  return { ms: performance.now() - started, warnings };
}

/** Which code is measured: the tsc build, or src/ through tsx. */
export function implementation(): { readonly kind: 'tsc build' | 'src via tsx'; readonly dir: string } {
  if (process.env.GOVERNOR_BENCH_IMPL === 'src') return { kind: 'src via tsx', dir: `${ROOT}src/` };
  const dir = process.env[ENV_DIR];
  if (!dir) throw new Error('the benchmarks measure the tsc build: run them through bench/run.ts (npm run bench), or set GOVERNOR_BENCH_IMPL=src');
  return { kind: 'tsc build', dir };
}

async function load<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(`${implementation().dir}${path}`).href)) as T;
}

/** Policy loading and evaluation. */
export function loadPolicyApi(): Promise<typeof PolicyApi> {
  return load<typeof PolicyApi>('policy/index.js');
}

/** Action normalization and impact prediction (the Cedar benchmark builds its requests with them). */
export async function loadImpactApi(): Promise<typeof NormalizeApi & typeof ImpactApi> {
  const [normalize, impact] = await Promise.all([load<typeof NormalizeApi>('impact/normalize-action.js'), load<typeof ImpactApi>('impact/predict-impact.js')]);
  return { ...normalize, ...impact };
}

/** The wiring of a whole Governor (HTTP server, store). */
export function loadMainApi(): Promise<typeof MainApi> {
  return load<typeof MainApi>('main.js');
}

/** The store factories, and nothing else of src/store: the benchmarks use the Store port only. */
export async function loadStoreApi(): Promise<{ readonly createSqliteStore: typeof SqliteStoreApi.createSqliteStore }> {
  const { createSqliteStore } = await load<typeof SqliteStoreApi>('store/sqlite/index.js');
  return { createSqliteStore };
}

/** The audit log: the proof-serving service, its keys, leaves, and the pure tree code (MemoryTree, proof checks). */
export async function loadAuditApi(): Promise<typeof AuditLogApi & typeof AuditLeafApi & typeof LogKeysApi & typeof NodeCryptoApi & typeof AuditPureApi> {
  const [auditLog, auditLeaf, logKeys, nodeCrypto, pure] = await Promise.all([
    load<typeof AuditLogApi>('audit/audit-log.js'),
    load<typeof AuditLeafApi>('audit/audit-leaf.js'),
    load<typeof LogKeysApi>('audit/log-keys.js'),
    load<typeof NodeCryptoApi>('audit/node-crypto.js'),
    load<typeof AuditPureApi>('audit/pure/index.js'),
  ]);
  return { ...auditLog, ...auditLeaf, ...logKeys, ...nodeCrypto, ...pure };
}

/** The `governor` command line, in process. */
export function loadCliApi(): Promise<typeof CliApi> {
  return load<typeof CliApi>('cli/main.js');
}

/** The file URL of a module of the code under measurement (for child processes). */
export function moduleUrl(path: string): string {
  return pathToFileURL(`${implementation().dir}${path}`).href;
}

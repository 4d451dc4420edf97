import { createHash, randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { GovernorError } from '../core/errors.js';
import { canonicalSchema, parseDatabaseSchema, schemaDigest, type DatabaseSchema } from '../impact/schema/schema.js';

/** Where a baseline was taken from: a live database's catalog, or DDL (migration files). */
export type BaselineSource = 'postgres' | 'ddl';

/** A known-good schema of one database, as stored in `<dataDir>/baselines/<database>/<version>.json`. */
export interface Baseline {
  readonly database: string;
  /** 1, 2, 3, ...: each save adds the next version; none is ever overwritten. */
  readonly version: number;
  /** ISO 8601. */
  readonly takenAt: string;
  readonly source: BaselineSource;
  /** SHA-256 (hex) of the schema's canonical JSON; checked on every load. */
  readonly digest: string;
  readonly schema: DatabaseSchema;
}

/** A baseline without its schema, as {@link listBaselines} returns it. */
export type BaselineSummary = Omit<Baseline, 'schema'>;

/** Options of {@link saveBaseline}. */
export interface SaveBaselineOptions {
  readonly source: BaselineSource;
  /** The time to record; now by default. */
  readonly takenAt?: Date;
  /** When the schema equals the latest baseline's, return that one instead of adding a version. */
  readonly skipIfUnchanged?: boolean;
}

const DATABASE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const VERSION_FILE = /^([1-9][0-9]{0,8})\.json$/;

/** True when `id` can name a database's baselines: letters, digits, `_` and `-`, at most 63, no path separators or dots. */
export function isDatabaseId(id: string): boolean {
  return DATABASE_ID.test(id);
}

/** The SHA-256 of a schema's canonical JSON, in hex. */
export function baselineDigest(schema: DatabaseSchema): string {
  return schemaDigest(schema, (text) => createHash('sha256').update(text).digest('hex'));
}

/**
 * Stores `schema` as the next version of `database`'s baselines. The file is
 * written to a temporary name, synced, then linked to its final name, which
 * fails rather than overwrite a version another writer took first (then the
 * next version is tried). Files are 0600, directories 0700.
 */
export async function saveBaseline(dataDir: string, database: string, schema: DatabaseSchema, options: SaveBaselineOptions): Promise<Baseline> {
  const dir = await baselineDir(dataDir, database, true);
  const canonical = canonicalSchema(schema);
  const digest = baselineDigest(canonical);
  if (options.skipIfUnchanged === true) {
    const latest = await latestBaseline(dataDir, database);
    if (latest?.digest === digest) return latest;
  }
  const takenAt = (options.takenAt ?? new Date()).toISOString();
  for (let version = (await versions(dir)).at(-1) ?? 0; ; ) {
    version++;
    const baseline: Baseline = { database, version, takenAt, source: options.source, digest, schema: canonical };
    if (await createFile(dir, `${version}.json`, `${JSON.stringify(baseline, null, 2)}\n`)) return baseline;
  }
}

/** The highest version of `database`'s baselines, or undefined when it has none. */
export async function latestBaseline(dataDir: string, database: string): Promise<Baseline | undefined> {
  const dir = await baselineDir(dataDir, database, false);
  const version = (await versions(dir)).at(-1);
  return version === undefined ? undefined : loadBaseline(dataDir, database, version);
}

/**
 * The highest version of `database`'s baselines without reading it, or
 * undefined when it has none. Versions are never overwritten, so a caller may
 * keep a loaded baseline for as long as this does not change.
 */
export async function latestBaselineVersion(dataDir: string, database: string): Promise<number | undefined> {
  return (await versions(await baselineDir(dataDir, database, false))).at(-1);
}

/**
 * Reads a baseline file given by its path (as `governor schema diff` takes
 * one), validated like {@link loadBaseline}: its schema must match its digest.
 */
export async function readBaselineFile(file: string): Promise<Baseline> {
  const text = await readFile(file, 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new GovernorError('CONFIG_INVALID', `${file}: not JSON`, { cause: err });
  }
  const v = (typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}) as Record<string, unknown>;
  const database = v['database'];
  const version = v['version'];
  if (typeof database !== 'string' || !isDatabaseId(database)) throw new GovernorError('CONFIG_INVALID', `${file}: not a baseline (no valid "database")`);
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) throw new GovernorError('CONFIG_INVALID', `${file}: not a baseline (no valid "version")`);
  return validate(file, database, version, v);
}

/** Every version of `database`'s baselines, oldest first. */
export async function listBaselines(dataDir: string, database: string): Promise<readonly BaselineSummary[]> {
  const dir = await baselineDir(dataDir, database, false);
  const out: BaselineSummary[] = [];
  for (const version of await versions(dir)) {
    const { schema: _schema, ...summary } = await loadBaseline(dataDir, database, version);
    out.push(summary);
  }
  return out;
}

/**
 * One version of `database`'s baselines, validated: NOT_FOUND when there is
 * no such version, CONFIG_INVALID when the file is not a baseline of this
 * database and version or its schema does not match its digest.
 */
export async function loadBaseline(dataDir: string, database: string, version: number): Promise<Baseline> {
  if (!Number.isSafeInteger(version) || version < 1) throw new GovernorError('BAD_REQUEST', `baseline version must be a positive integer, got ${version}`);
  const dir = await baselineDir(dataDir, database, false);
  const file = join(dir, `${version}.json`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new GovernorError('NOT_FOUND', `no baseline version ${version} of database ${database}`, { cause: err });
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new GovernorError('CONFIG_INVALID', `${file}: not JSON`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new GovernorError('CONFIG_INVALID', `${file}: not a baseline`);
  return validate(file, database, version, value as Record<string, unknown>);
}

function validate(file: string, database: string, version: number, v: Record<string, unknown>): Baseline {
  const invalid = (why: string): GovernorError => new GovernorError('CONFIG_INVALID', `${file}: ${why}`);
  if (v['database'] !== database) throw invalid(`database is ${JSON.stringify(v['database'])}, expected ${JSON.stringify(database)}`);
  if (v['version'] !== version) throw invalid(`version is ${JSON.stringify(v['version'])}, expected ${version}`);
  if (v['source'] !== 'postgres' && v['source'] !== 'ddl') throw invalid('source must be "postgres" or "ddl"');
  if (typeof v['takenAt'] !== 'string' || Number.isNaN(Date.parse(v['takenAt']))) throw invalid('takenAt must be an ISO 8601 time');
  if (typeof v['digest'] !== 'string') throw invalid('digest must be a string');
  const schema = parseDatabaseSchema(v['schema']);
  if (!schema.ok) throw invalid(schema.issues.map((i) => `${i.path}: ${i.message}`).join('; '));
  if (baselineDigest(schema.value) !== v['digest']) throw invalid('the schema does not match its digest (the file was changed or is corrupt)');
  return { database, version, takenAt: v['takenAt'], source: v['source'], digest: v['digest'], schema: schema.value };
}

async function baselineDir(dataDir: string, database: string, create: boolean): Promise<string> {
  if (!isDatabaseId(database)) {
    throw new GovernorError('BAD_REQUEST', `database id ${JSON.stringify(database)} must be letters, digits, "_" and "-" (at most 63, starting with a letter or digit)`);
  }
  const root = join(dataDir, 'baselines');
  const dir = join(root, database);
  if (create) {
    for (const d of [root, dir]) {
      await mkdir(d, { recursive: true, mode: 0o700 });
      await chmod(d, 0o700);
    }
  }
  return dir;
}

async function versions(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .map((n) => VERSION_FILE.exec(n)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** Writes `name` in `dir` atomically if it does not exist yet; false when it does. */
async function createFile(dir: string, name: string, content: string): Promise<boolean> {
  const tmp = join(dir, `.${name}.${randomBytes(8).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(tmp, join(dir, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  // The new name is durable only once the directory is synced.
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
  return true;
}

import { readFile, stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { latestBaseline, listBaselines, loadBaseline, readBaselineFile, saveBaseline } from '../../analyzers/baseline-store.js';
import { loadSqlParser } from '../../analyzers/pg-parser.js';
import { schemaFromDdl } from '../../analyzers/schema-from-ddl.js';
import { snapshotPostgres } from '../../analyzers/schema-snapshot.js';
import { GovernorError } from '../../core/errors.js';
import { sqlDriftImpact, sqlImpactOf } from '../../impact/action-facts.js';
import type { DatabaseSchema } from '../../impact/schema/schema.js';
import { classifySql } from '../../impact/sql/classify-sql.js';
import { configFlag, EXIT, parseFlags, UsageError, type Command, type Io } from '../args.js';
import { dataDirOf, formatDataImpact } from './check.js';

export const schemaCommand: Command = {
  name: 'schema',
  summary: 'schema baselines: snapshot a database, diff SQL against a baseline',
  help: `Usage: governor schema snapshot (--db URL | --ddl FILE) --database ID [--schemas a,b] [--force] [--config FILE] [--data-dir DIR]
       governor schema diff BASELINE ACTION.sql [--json] [--config FILE] [--data-dir DIR]
       governor schema baselines --database ID [--json] [--config FILE] [--data-dir DIR]

snapshot   reads the schema of a live PostgreSQL database (catalog only, in a
           read-only transaction) and saves it as the next baseline version of
           database ID (the inventory's data store id, or its baseline: id) in
           DIR/baselines/ID/ (DIR defaults to .governor beside the policy file).
           Unchanged since the latest version: nothing is saved, unless --force.
           --schemas limits it to these schemas (default: all but system ones).
           --ddl FILE takes the baseline from the DDL that builds the schema
           instead (refused if any statement cannot be modeled).
diff       classifies the SQL in ACTION.sql statement by statement and reports
           how it would drift from BASELINE: a database ID (its latest version),
           ID@N (version N), a baseline file (.json) or DDL that builds the
           schema (.sql). Unparsable or dynamic SQL counts as drift.
baselines  lists the versions of database ID's baselines.

Exit code: diff 0 without drift, 1 with drift; 2 on usage errors or when the
baseline cannot be read; otherwise 0.`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      {
        ...configFlag,
        'data-dir': { type: 'string' },
        db: { type: 'string' },
        ddl: { type: 'string' },
        database: { type: 'string' },
        schemas: { type: 'string' },
        force: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
      3,
    );
    const sub = positionals[0];
    const dataDir = dataDirOf(values['data-dir'], resolve(io.cwd, values.config), io);
    if (sub === 'snapshot') {
      if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
      if ((values.db === undefined) === (values.ddl === undefined)) throw new UsageError('give --db URL (a live database) or --ddl FILE (the DDL that builds the schema), not both');
      if (!values.database) throw new UsageError('--database ID is required (the id the baseline is stored under)');
      const schemas = values.schemas?.split(',').map((s) => s.trim()).filter((s) => s !== '');
      let schema: DatabaseSchema;
      if (values.db !== undefined) schema = await snapshotPostgres(values.db, schemas ? { schemas } : {});
      else {
        const built = await schemaFromDdl(await readFile(resolve(io.cwd, values.ddl as string), 'utf8'));
        // A DDL file Governor cannot model is not a known-good baseline.
        if (!built.ok) throw new UsageError(`${values.ddl}: cannot build a baseline from it:\n${built.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
        schema = built.schema;
      }
      const latest = values.force ? undefined : await latestBaseline(dataDir, values.database);
      const saved = await saveBaseline(dataDir, values.database, schema, { source: values.db !== undefined ? 'postgres' : 'ddl', skipIfUnchanged: !values.force });
      const tables = Object.keys(schema.tables).length;
      if (latest && latest.version === saved.version) io.out(`database ${saved.database}: unchanged since baseline v${saved.version} (${saved.digest.slice(0, 12)}); nothing saved`);
      else io.out(`database ${saved.database}: saved baseline v${saved.version} (${tables} tables, digest ${saved.digest.slice(0, 12)}) in ${dataDir}/baselines/${saved.database}/`);
      return EXIT.ok;
    }
    if (sub === 'baselines') {
      if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
      if (!values.database) throw new UsageError('--database ID is required');
      const list = await listBaselines(dataDir, values.database);
      if (values.json) io.out(JSON.stringify(list, null, 2));
      else if (list.length === 0) io.out(`no baselines of database ${values.database} in ${dataDir}/baselines (take one with governor schema snapshot)`);
      else for (const b of list) io.out(`v${b.version}  ${b.takenAt}  ${b.source.padEnd(8)}  ${b.digest.slice(0, 12)}`);
      return EXIT.ok;
    }
    if (sub === 'diff') {
      const [, baselineArg, sqlFile] = positionals;
      if (!baselineArg || !sqlFile) throw new UsageError('usage: governor schema diff BASELINE ACTION.sql');
      const baseline = await readBaselineArg(baselineArg, dataDir, io);
      if (!baseline.ok) {
        io.err(baseline.message);
        return EXIT.usage;
      }
      let sql: string;
      try {
        sql = await readFile(resolve(io.cwd, sqlFile), 'utf8');
      } catch (err) {
        io.err(`${sqlFile}: ${(err as Error).message}`);
        return EXIT.usage;
      }
      const parser = await loadSqlParser();
      const parsed = parser.parse(sql);
      const analysis = classifySql({ parse: (text) => (text === sql ? parsed : parser.parse(text)) }, sql);
      const drift = sqlDriftImpact({ analysis, statements: parsed.ok ? parsed.value.stmts : undefined, sql, baseline: { label: baseline.label, schema: baseline.schema } });
      if (values.json) io.out(JSON.stringify({ baseline: baseline.label, sql: sqlImpactOf(analysis), drift }, null, 2));
      else io.out(formatDataImpact({ known: true, unknown: [], replicas: 0, trafficFraction: 0, totalTrafficFraction: 0, dependents: [], reversible: false, resources: [], endpoints: [], sql: sqlImpactOf(analysis), drift: { ...drift, baselines: [baseline.label] } }).join('\n'));
      return drift.drifting ? EXIT.failure : EXIT.ok;
    }
    throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'missing subcommand: snapshot, diff or baselines');
  },
};

type BaselineArg = { ok: true; label: string; schema: DatabaseSchema } | { ok: false; message: string };

/** A baseline named on the command line: a file (.json baseline, .sql DDL), `ID@N` or `ID` (its latest version). */
async function readBaselineArg(arg: string, dataDir: string, io: Io): Promise<BaselineArg> {
  const path = resolve(io.cwd, arg);
  const isFile = await stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
  try {
    if (isFile && extname(path) === '.sql') {
      const built = await schemaFromDdl(await readFile(path, 'utf8'));
      if (!built.ok) return { ok: false, message: `${arg}: the DDL cannot be followed:\n${built.issues.map((i) => `  ${i.path}${i.line === undefined ? '' : ` (line ${i.line})`}: ${i.message}`).join('\n')}` };
      return { ok: true, label: `DDL ${arg}`, schema: built.schema };
    }
    if (isFile) {
      const b = await readBaselineFile(path);
      return { ok: true, label: `database ${b.database}, baseline v${b.version}`, schema: b.schema };
    }
    const m = /^([^@]+)@([1-9][0-9]*)$/.exec(arg);
    const b = m ? await loadBaseline(dataDir, m[1] as string, Number(m[2])) : await latestBaseline(dataDir, arg);
    if (!b) return { ok: false, message: `no baseline of database ${arg} in ${dataDir}/baselines (take one with governor schema snapshot --database ${arg})` };
    return { ok: true, label: `database ${b.database}, baseline v${b.version}`, schema: b.schema };
  } catch (err) {
    if (err instanceof GovernorError) return { ok: false, message: err.message };
    throw err;
  }
}

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { buildForBench, implementation } from './lib/governor.js';
import { formatTable, targetTable, type Bench, type BenchReport } from './lib/report.js';

/*
 * Runs the benchmarks: all of them, or those named on the command line
 * (`npm run bench -- decide cedar`). Prints a table per benchmark and writes
 * every figure to bench/out/latest.json.
 */

const BENCHES: Readonly<Record<string, () => Promise<Bench>>> = {
  decide: async () => (await import('./decide.bench.js')).decideBench,
  cedar: async () => (await import('./cedar.bench.js')).cedarBench,
  http: async () => (await import('./http.bench.js')).httpBench,
  audit: async () => (await import('./audit.bench.js')).auditBench,
  control: async () => (await import('./control.bench.js')).controlBench,
  sql: async () => (await import('./sql.bench.js')).sqlBench,
  mcp: async () => (await import('./mcp.bench.js')).mcpBench,
};

const OUT_DIR = fileURLToPath(new URL('./out/', import.meta.url));

/** The machine the figures come from. */
async function machine() {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return {
    cpus: availableParallelism(),
    cpuModel: model.trim(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

async function main(): Promise<number> {
  const requested = process.argv.slice(2).filter((a) => a !== '--');
  const unknown = requested.filter((name) => !(name in BENCHES));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark ${unknown.join(', ')}; available: ${Object.keys(BENCHES).join(', ')}\n`);
    return 2;
  }
  const names = requested.length > 0 ? requested : Object.keys(BENCHES);
  const host = await machine();
  const loadBefore = loadavg().map((x) => Math.round(x * 100) / 100);
  process.stdout.write(`Governor benchmarks: ${names.join(', ')}\n${host.cpus} × ${host.cpuModel}, ${host.memoryGiB} GiB, Node ${host.node}, load average ${loadBefore.join(' ')}\n`);
  if ((loadBefore[0] ?? 0) > 0.5 * host.cpus) process.stdout.write('warning: the machine is busy; figures will be noisy\n');

  const started = Date.now();
  if (process.env.GOVERNOR_BENCH_IMPL !== 'src') {
    const build = buildForBench();
    process.stdout.write(`compiled src/ with tsc into bench/out/build in ${(build.ms / 1000).toFixed(1)} s (Governor ships as tsc output)\n`);
    if (build.warnings.length > 0) process.stdout.write(`warning: src/ has type errors (benchmarking the emitted JS anyway):\n  ${build.warnings.slice(0, 5).join('\n  ')}\n`);
  }
  const impl = implementation();
  const reports: Record<string, BenchReport & { durationMs: number }> = {};
  const failures: Record<string, string> = {};
  for (const name of names) {
    const load = BENCHES[name] as () => Promise<Bench>;
    const t0 = Date.now();
    try {
      const bench = await load();
      process.stdout.write(`\n# ${bench.name}: ${bench.description}\n`);
      const report = await bench.run();
      reports[name] = { ...report, durationMs: Date.now() - t0 };
      for (const table of [...report.tables, targetTable(report.name, report.targets)]) process.stdout.write(`\n${formatTable(table)}\n`);
    } catch (err) {
      // One benchmark failing (a server that does not start, a store that refuses writes) does not lose the others.
      failures[name] = err instanceof Error ? (err.stack ?? err.message) : String(err);
      process.stdout.write(`\n${name} FAILED: ${failures[name]}\n`);
    }
    process.stdout.write(`(${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  }

  const result = {
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    command: `npm run bench${requested.length > 0 ? ` -- ${requested.join(' ')}` : ''}`,
    implementation: impl.kind,
    machine: { ...host, loadAverageBefore: loadBefore, loadAverageAfter: loadavg().map((x) => Math.round(x * 100) / 100) },
    benches: Object.fromEntries(Object.entries(reports).map(([name, r]) => [name, { durationMs: r.durationMs, targets: r.targets, data: r.data }])),
    failures,
  };
  await mkdir(OUT_DIR, { recursive: true });
  const file = `${OUT_DIR}latest.json`;
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  const missed = Object.values(reports).flatMap((r) => r.targets.filter((t) => !t.met).map((t) => `${r.name}: ${t.name}`));
  const failed = Object.keys(failures);
  process.stdout.write(`\nwrote ${file} (${(result.durationMs / 1000).toFixed(1)} s in all)\n${missed.length === 0 ? 'every target met' : `targets missed: ${missed.join('; ')}`}\n`);
  if (failed.length > 0) process.stdout.write(`failed: ${failed.join(', ')}\n`);
  // Missed targets are findings, not failures; a benchmark that could not run is.
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);

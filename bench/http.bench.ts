import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { summarize, type LatencySummary } from './lib/measure.js';
import type { Bench, BenchReport, TargetCheck } from './lib/report.js';
import type { ServerReady, ServerStopped } from './lib/serve-governor.js';
import { EXAMPLE_CASES } from './lib/synthetic-policy.js';

/*
 * HTTP end to end: a whole Governor (Fastify, credential check, policy,
 * durable SQLite write with group commit) in a child process, driven from this
 * process over keep-alive connections: closed loops of 32 and 64 concurrent
 * POST /v1/decisions, each against GET /healthz at the same concurrency (no
 * decision, no write), an unloaded run (one request at a time) and an open loop
 * at a fixed 5,000 decisions/s, where latency is counted from the moment each
 * request was due (so a stalled server cannot hide its queue).
 */

const CONCURRENCY = [32, 64] as const;
const WARMUP_MS = 2_000;
const MEASURE_MS = 10_000;
const SEQUENTIAL_MS = 3_000;
const FIXED_RATE = 5_000;
const SERVER = fileURLToPath(new URL('./lib/serve-governor.ts', import.meta.url));
const CLOCK_TICKS_PER_SECOND = 100;

/** One request the load generator sends, serialized once. */
interface Prepared {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers: Readonly<Record<string, string | number>>;
  readonly body?: Buffer;
  /** The verdict the example policy gives, checked once before the runs. */
  readonly expect?: string;
}

/** The figures of one load run. */
interface RunResult {
  readonly name: string;
  readonly concurrency: number | string;
  readonly requests: number;
  readonly ok: number;
  readonly errors: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly perSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number; readonly mean: number };
  readonly serverRssMiB: { readonly max: number; readonly end: number };
  /** Share of one core the server process used (100 = one core busy). */
  readonly serverCpuPercent: number;
  /** Server CPU time per answered request: what one request costs, whatever else runs on the machine. */
  readonly serverCpuUsPerRequest: number;
  readonly clientCpuPercent: number;
}

/** Reads a process's resident set (MiB) and CPU ticks from /proc. */
function procStats(pid: number): { rssMiB: number; ticks: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { rssMiB: rssKb / 1024, ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return { rssMiB: Number.NaN, ticks: Number.NaN };
  }
}

/** Sends one request; resolves with the status and, when asked, the body. */
function send(agent: Agent, port: number, r: Prepared, keepBody = false): Promise<{ status: number; body?: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: r.method, path: r.path, headers: r.headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        if (keepBody) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(keepBody ? { body: Buffer.concat(chunks).toString('utf8') } : {}) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

/** Collects latencies, statuses and process figures over one measured phase. */
class Recorder {
  readonly #latencies: number[] = [];
  readonly #statuses = new Map<string, number>();
  readonly #pid: number;
  readonly #started = performance.now();
  readonly #cpu = process.cpuUsage();
  readonly #ticks: number;
  readonly #timer: NodeJS.Timeout;
  #rssMax = 0;
  #rssEnd = 0;
  #errors = 0;

  constructor(pid: number) {
    this.#pid = pid;
    this.#ticks = procStats(pid).ticks;
    this.#sampleRss();
    this.#timer = setInterval(() => this.#sampleRss(), 250);
  }

  #sampleRss(): void {
    const { rssMiB } = procStats(this.#pid);
    this.#rssEnd = rssMiB;
    this.#rssMax = Math.max(this.#rssMax, rssMiB);
  }

  record(latencyMs: number, status: number | 'error'): void {
    this.#latencies.push(latencyMs);
    const key = String(status);
    this.#statuses.set(key, (this.#statuses.get(key) ?? 0) + 1);
    if (status === 'error') this.#errors++;
  }

  finish(name: string, concurrency: number | string): RunResult {
    clearInterval(this.#timer);
    this.#sampleRss();
    const wallMs = performance.now() - this.#started;
    const cpu = process.cpuUsage(this.#cpu);
    const ticks = procStats(this.#pid).ticks - this.#ticks;
    const summary: LatencySummary = summarize(Float64Array.from(this.#latencies, (ms) => ms * 1e6), 0);
    const ok = this.#statuses.get('200') ?? 0;
    return {
      name,
      concurrency,
      requests: this.#latencies.length,
      ok,
      errors: this.#latencies.length - ok,
      statuses: Object.fromEntries(this.#statuses),
      perSecond: (ok * 1000) / wallMs,
      latencyMs: { p50: summary.p50Us / 1000, p90: summary.p90Us / 1000, p99: summary.p99Us / 1000, max: summary.maxUs / 1000, mean: summary.meanUs / 1000 },
      serverRssMiB: { max: this.#rssMax, end: this.#rssEnd },
      serverCpuPercent: (100 * ticks) / CLOCK_TICKS_PER_SECOND / (wallMs / 1000),
      serverCpuUsPerRequest: ok === 0 ? Number.NaN : (ticks / CLOCK_TICKS_PER_SECOND / ok) * 1e6,
      clientCpuPercent: (100 * (cpu.user + cpu.system)) / 1000 / wallMs,
    };
  }
}

/** `concurrency` loops, each sending the next request as soon as its previous one answered. */
async function closedLoop(port: number, pid: number, requests: readonly Prepared[], concurrency: number, durationMs: number, name: string): Promise<RunResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  const phase = async (ms: number, recorder?: Recorder) => {
    const deadline = performance.now() + ms;
    const worker = async () => {
      while (performance.now() < deadline) {
        const r = requests[next++ % requests.length] as Prepared;
        const t0 = performance.now();
        const status = await send(agent, port, r).then(
          (res) => res.status,
          () => 'error' as const,
        );
        recorder?.record(performance.now() - t0, status);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  };
  await phase(WARMUP_MS);
  const recorder = new Recorder(pid);
  await phase(durationMs, recorder);
  agent.destroy();
  return recorder.finish(name, concurrency);
}

/** Requests sent at a fixed rate whatever the server does; latency from when each was due. */
async function openLoop(port: number, pid: number, requests: readonly Prepared[], perSecond: number, durationMs: number, name: string): Promise<RunResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 512 });
  const phase = (ms: number, recorder?: Recorder) =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      let sent = 0;
      let inFlight = 0;
      let stopped = false;
      const done = () => {
        if (stopped && inFlight === 0) resolve();
      };
      const tick = () => {
        const now = performance.now();
        if (now - started >= ms) {
          clearInterval(timer);
          stopped = true;
          done();
          return;
        }
        const due = Math.floor(((now - started) * perSecond) / 1000);
        for (; sent < due; sent++) {
          const dueAt = started + (sent * 1000) / perSecond;
          const r = requests[sent % requests.length] as Prepared;
          inFlight++;
          send(agent, port, r).then(
            (res) => recorder?.record(performance.now() - dueAt, res.status),
            () => recorder?.record(performance.now() - dueAt, 'error'),
          ).finally(() => {
            inFlight--;
            done();
          });
        }
      };
      const timer = setInterval(tick, 1);
    });
  await phase(WARMUP_MS);
  const recorder = new Recorder(pid);
  await phase(durationMs, recorder);
  agent.destroy();
  return recorder.finish(name, `${perSecond.toLocaleString('en-US')}/s`);
}

function startServer(): Promise<{ child: ChildProcess; ready: ServerReady }> {
  // GOVERNOR_BENCH_SERVER_PROFILE=<dir> writes a CPU profile of the server (node --cpu-prof) there.
  const profileDir = process.env.GOVERNOR_BENCH_SERVER_PROFILE;
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = fork(SERVER, [], { execArgv: ['--import', 'tsx', ...profile], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the Governor server did not start within 60 s'));
    }, 60_000);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the Governor server exited with code ${code} before it was ready`)));
    child.once('message', (m: ServerReady) => {
      clearTimeout(timer);
      resolve({ child, ready: m });
    });
  });
}

/** Asks the server to close (and delete its data), waits for it to exit; kills it after 15 s. */
function stopServer(child: ChildProcess): Promise<ServerStopped | undefined> {
  return new Promise((resolve) => {
    let stopped: ServerStopped | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('message', (m: ServerStopped) => {
      if (m.type === 'stopped') stopped = m;
    });
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(stopped);
    });
    child.send({ type: 'stop' });
  });
}

async function run(): Promise<BenchReport> {
  const { child, ready } = await startServer();
  const { port, pid } = ready;
  try {
    const decisions: Prepared[] = EXAMPLE_CASES.map((c) => {
      const body = Buffer.from(JSON.stringify({ action: c.action }));
      return {
        method: 'POST',
        path: '/v1/decisions',
        headers: { 'content-type': 'application/json', 'content-length': body.length, authorization: `Bearer ${ready.tokens[c.principal.agent] ?? ''}` },
        body,
        expect: /\((allow|modify|pending|deny)/.exec(c.label)?.[1] ?? '',
      };
    });
    const health: Prepared[] = [{ method: 'GET', path: '/healthz', headers: {} }];

    // Every request once, checking that the server answers as the example policy says.
    const sanityAgent = new Agent({ keepAlive: true });
    const sanity: string[] = [];
    for (const r of decisions) {
      const res = await send(sanityAgent, port, r, true);
      const verdict = res.status === 200 ? (JSON.parse(res.body ?? '{}') as { verdict?: string }).verdict : `HTTP ${res.status}: ${res.body?.slice(0, 200)}`;
      if (verdict !== r.expect) sanity.push(`expected ${r.expect}, got ${verdict}`);
    }
    sanityAgent.destroy();
    if (sanity.length === decisions.length) throw new Error(`no decision came back as expected: ${sanity[0]}`);

    const runs: RunResult[] = [];
    runs.push(await closedLoop(port, pid, decisions, 1, SEQUENTIAL_MS, 'POST /v1/decisions'));
    for (const c of CONCURRENCY) {
      runs.push(await closedLoop(port, pid, decisions, c, MEASURE_MS, 'POST /v1/decisions'));
      runs.push(await closedLoop(port, pid, health, c, MEASURE_MS, 'GET /healthz'));
    }
    runs.push(await openLoop(port, pid, decisions, FIXED_RATE, MEASURE_MS, 'POST /v1/decisions'));
    const stopped = await stopServer(child);

    const decisionRuns = runs.filter((r) => r.name.startsWith('POST') && typeof r.concurrency === 'number' && r.concurrency > 1);
    const fixed = runs.find((r) => typeof r.concurrency === 'string') as RunResult;
    const targets: TargetCheck[] = [
      ...decisionRuns.map((r) => ({ name: `decisions/s at concurrency ${r.concurrency}`, target: '≥ 5,000/s', actual: `${Math.round(r.perSecond).toLocaleString('en-US')}/s`, met: r.perSecond >= 5000 })),
      ...decisionRuns.map((r) => ({ name: `p99 at concurrency ${r.concurrency}`, target: '≤ 5 ms', actual: `${r.latencyMs.p99.toFixed(2)} ms`, met: r.latencyMs.p99 <= 5 })),
      { name: `p99 at a fixed ${FIXED_RATE.toLocaleString('en-US')} decisions/s`, target: '≤ 5 ms', actual: `${fixed.latencyMs.p99.toFixed(2)} ms (${Math.round(fixed.perSecond).toLocaleString('en-US')}/s answered)`, met: fixed.latencyMs.p99 <= 5 && fixed.errors === 0 },
    ];
    const statuses = (r: RunResult) => Object.entries(r.statuses).filter(([s]) => s !== '200').map(([s, n]) => `${n}× ${s}`).join(', ');
    return {
      name: 'http',
      targets,
      data: { implementation: ready.implementation, warmupMs: WARMUP_MS, measureMs: MEASURE_MS, dbBytesAtEnd: stopped?.dbBytes, sanity, runs },
      tables: [
        {
          title: `http: Governor (${ready.implementation}, SQLite, example policy) in a child process, keep-alive node:http clients, ${MEASURE_MS / 1000} s per row after ${WARMUP_MS / 1000} s warm-up`,
          columns: ['request', 'concurrency', 'ok/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'non-200', 'server RSS MiB (max)', 'server CPU %', 'server CPU µs/req', 'client CPU %'],
          rows: runs.map((r) => [r.name, String(r.concurrency), r.perSecond, r.latencyMs.p50, r.latencyMs.p90, r.latencyMs.p99, r.latencyMs.max, r.errors, r.serverRssMiB.max, r.serverCpuPercent, r.serverCpuUsPerRequest, r.clientCpuPercent]),
          notes: [
            `concurrency 1 ran ${SEQUENTIAL_MS / 1000} s: one request at a time, the latency of a durable decision on an idle server`,
            `the ${FIXED_RATE.toLocaleString('en-US')}/s row is an open loop: latency counts from when each request was due`,
            'closed loops: latency ≈ concurrency / throughput (Little\'s law), so p99 ≤ 5 ms at concurrency 64 needs > 12,800 decisions/s',
            'the server is one Node thread: server CPU % near 100 means it is saturated; well below 100 under load means other processes took the CPU',
            ...(sanity.length > 0 ? [`answers that differ from the example policy's: ${sanity.join('; ')}`] : []),
            ...runs.filter((r) => r.errors > 0).map((r) => `${r.name} at ${r.concurrency}: ${statuses(r)}`),
            ...(stopped ? [`database after the run: ${(stopped.dbBytes / 2 ** 20).toFixed(1)} MiB`] : []),
          ],
        },
      ],
    };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** The HTTP end-to-end benchmark. */
export const httpBench: Bench = { name: 'http', description: 'POST /v1/decisions end to end (durable SQLite write) vs GET /healthz, server in a child process', run };

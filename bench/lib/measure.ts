import { readdirSync, readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Latencies of one measured loop. Times in microseconds. */
export interface LatencySummary {
  /** Calls measured (after warm-up). */
  readonly calls: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
  readonly meanUs: number;
  /** Calls per second over the measured loop, timer overhead included. */
  readonly throughputPerSec: number;
}

/** How long to measure. */
export interface MeasureOptions {
  /** Calls to measure. */
  readonly calls: number;
  /** Stop early once this many milliseconds have passed (slow variants). */
  readonly maxMs: number;
  /** Unmeasured calls first, so the JIT has compiled the hot path. */
  readonly warmupCalls: number;
  /** Cap on warm-up time, milliseconds. Default 2000. */
  readonly maxWarmupMs?: number;
}

/** Keeps results reachable so the call cannot be optimised away. */
export let sink: unknown;

/** Every call's latency, in nanoseconds, in call order. */
export interface Measured {
  readonly summary: LatencySummary;
  readonly samplesNs: Float64Array;
}

/**
 * Calls `fn(i)` `calls` times and times every call on its own with
 * `process.hrtime.bigint()`, so the percentiles are of single calls (GC pauses
 * included), not of batch averages.
 */
export function measureCalls(fn: (i: number) => unknown, options: MeasureOptions): Measured {
  const warmupDeadline = performance.now() + (options.maxWarmupMs ?? 2000);
  for (let i = 0; i < options.warmupCalls; i++) {
    sink = fn(i);
    if ((i & 255) === 0 && performance.now() > warmupDeadline) break;
  }
  const samples = new Float64Array(options.calls);
  const deadline = performance.now() + options.maxMs;
  const started = process.hrtime.bigint();
  let n = 0;
  for (; n < options.calls; n++) {
    const t0 = process.hrtime.bigint();
    sink = fn(n);
    samples[n] = Number(process.hrtime.bigint() - t0);
    if ((n & 255) === 255 && performance.now() > deadline) {
      n++;
      break;
    }
  }
  const elapsedNs = Number(process.hrtime.bigint() - started);
  const samplesNs = samples.subarray(0, n);
  return { summary: summarize(samplesNs, elapsedNs), samplesNs };
}

/** Percentiles of latencies given in nanoseconds, over a loop that took `elapsedNs`. */
export function summarize(samplesNs: Float64Array, elapsedNs: number): LatencySummary {
  const sorted = Float64Array.from(samplesNs).sort();
  const us = (ns: number) => ns / 1000;
  let total = 0;
  for (const s of sorted) total += s;
  return {
    calls: sorted.length,
    p50Us: us(percentile(sorted, 0.5)),
    p90Us: us(percentile(sorted, 0.9)),
    p99Us: us(percentile(sorted, 0.99)),
    p999Us: us(percentile(sorted, 0.999)),
    maxUs: us(sorted[sorted.length - 1] ?? 0),
    meanUs: us(sorted.length === 0 ? 0 : total / sorted.length),
    throughputPerSec: elapsedNs === 0 ? 0 : (sorted.length * 1e9) / elapsedNs,
  };
}

/** Nearest-rank percentile of sorted samples, `p` in [0, 1]. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

/** The cost of the timer itself: p50 of timing an empty call, in nanoseconds. */
export function timerOverheadNs(): number {
  const noop = () => undefined;
  return measureCalls(noop, { calls: 100_000, maxMs: 1000, warmupCalls: 10_000 }).summary.p50Us * 1000;
}

let gcFunction: (() => void) | undefined;

/** Runs a full garbage collection (without needing `node --expose-gc`). */
export function collectGarbage(): void {
  if (gcFunction === undefined) {
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as () => void;
  }
  gcFunction();
  gcFunction();
}

/** V8 heap in use, MiB, after a full collection when `settle` is true. */
export function heapUsedMiB(settle = false): number {
  if (settle) collectGarbage();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/**
 * `measureCalls` for asynchronous calls: awaits `fn(i)` one at a time and
 * times each call from its start to its settlement.
 */
export async function measureAsyncCalls(fn: (i: number) => Promise<unknown>, options: MeasureOptions): Promise<Measured> {
  const warmupDeadline = performance.now() + (options.maxWarmupMs ?? 2000);
  for (let i = 0; i < options.warmupCalls; i++) {
    sink = await fn(i);
    if ((i & 63) === 0 && performance.now() > warmupDeadline) break;
  }
  const samples = new Float64Array(options.calls);
  const deadline = performance.now() + options.maxMs;
  const started = process.hrtime.bigint();
  let n = 0;
  for (; n < options.calls; n++) {
    const t0 = process.hrtime.bigint();
    sink = await fn(n);
    samples[n] = Number(process.hrtime.bigint() - t0);
    if ((n & 63) === 63 && performance.now() > deadline) {
      n++;
      break;
    }
  }
  const elapsedNs = Number(process.hrtime.bigint() - started);
  const samplesNs = samples.subarray(0, n);
  return { summary: summarize(samplesNs, elapsedNs), samplesNs };
}

/** What a closed loop measured. */
export interface ClosedLoopResult {
  readonly concurrency: number;
  readonly durationMs: number;
  /** Calls completed in the measured phase. */
  readonly calls: number;
  readonly perSecond: number;
  /** Latency of each call, start to settlement (µs). */
  readonly latency: LatencySummary;
  /** This process's CPU time (user + system, every thread) per call, µs. */
  readonly cpuUsPerCall: number;
  /** This process's CPU time over wall time, percent of one core. */
  readonly cpuPercent: number;
  /** Resident set size, sampled every 100 ms, MiB. */
  readonly rssMaxMiB: number;
  /** CPU time of the main (event loop) thread per call, µs, from /proc (NaN where there is none). */
  readonly mainThreadCpuUsPerCall: number;
  /** CPU time of every other thread (a store's writer thread, GC and libuv helpers) per call, µs. */
  readonly otherThreadsCpuUsPerCall: number;
  /** How busy the main thread was, percent of the wall time. */
  readonly mainThreadBusyPercent: number;
}

/** CPU ticks (1/100 s) of this process's main thread and of all its other threads, from /proc; undefined elsewhere. */
export function threadTicks(): { readonly main: number; readonly others: number } | undefined {
  try {
    let main = 0;
    let others = 0;
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      if (tid === String(process.pid)) main += ticks;
      else others += ticks;
    }
    return { main, others };
  } catch {
    return undefined;
  }
}

/** A closed loop's figures, with every call's latency (ns) to merge runs. */
export interface ClosedLoopMeasured {
  readonly result: ClosedLoopResult;
  readonly samplesNs: Float64Array;
  readonly elapsedNs: number;
  readonly cpuUs: number;
  /** CPU ticks of the main thread and of the other threads over the measured phase (NaN without /proc). */
  readonly mainTicks: number;
  readonly otherTicks: number;
}

/**
 * `concurrency` callers, each starting its next call as soon as its previous
 * one settled, for `warmupMs` unmeasured and then `durationMs` measured.
 * The first failing call stops every caller and is rethrown.
 */
export async function closedLoop(fn: (i: number) => Promise<unknown>, options: { readonly concurrency: number; readonly durationMs: number; readonly warmupMs: number }): Promise<ClosedLoopMeasured> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const phase = async (ms: number, record?: (ns: number) => void) => {
    const deadline = performance.now() + ms;
    const caller = async () => {
      while (failure === undefined && performance.now() < deadline) {
        const t0 = process.hrtime.bigint();
        try {
          sink = await fn(next++);
        } catch (error) {
          failure ??= { error };
          return;
        }
        record?.(Number(process.hrtime.bigint() - t0));
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, caller));
    if (failure !== undefined) throw failure.error;
  };
  await phase(options.warmupMs);
  let samples = new Float64Array(1 << 16);
  let n = 0;
  let rssMax = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, process.memoryUsage.rss());
  }, 100);
  const cpu0 = process.cpuUsage();
  const ticks0 = threadTicks();
  const t0 = process.hrtime.bigint();
  try {
    await phase(options.durationMs, (ns) => {
      if (n === samples.length) {
        const grown = new Float64Array(samples.length * 2);
        grown.set(samples);
        samples = grown;
      }
      samples[n++] = ns;
    });
  } finally {
    clearInterval(sampler);
  }
  const elapsedNs = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  const ticks1 = threadTicks();
  const cpuUs = cpu.user + cpu.system;
  rssMax = Math.max(rssMax, process.memoryUsage.rss());
  const samplesNs = samples.subarray(0, n);
  const mainTicks = ticks0 && ticks1 ? ticks1.main - ticks0.main : Number.NaN;
  const otherTicks = ticks0 && ticks1 ? ticks1.others - ticks0.others : Number.NaN;
  return { result: closedLoopResult(options.concurrency, samplesNs, elapsedNs, cpuUs, rssMax / 2 ** 20, mainTicks, otherTicks), samplesNs, elapsedNs, cpuUs, mainTicks, otherTicks };
}

function closedLoopResult(concurrency: number, samplesNs: Float64Array, elapsedNs: number, cpuUs: number, rssMaxMiB: number, mainTicks: number, otherTicks: number): ClosedLoopResult {
  const n = samplesNs.length;
  const tickUs = 1e6 / 100;
  return {
    concurrency,
    durationMs: elapsedNs / 1e6,
    calls: n,
    perSecond: (n * 1e9) / elapsedNs,
    latency: summarize(samplesNs, elapsedNs),
    cpuUsPerCall: n === 0 ? Number.NaN : cpuUs / n,
    cpuPercent: (100 * cpuUs * 1000) / elapsedNs,
    rssMaxMiB,
    mainThreadCpuUsPerCall: (mainTicks * tickUs) / n,
    otherThreadsCpuUsPerCall: (otherTicks * tickUs) / n,
    mainThreadBusyPercent: (100 * mainTicks * tickUs * 1000) / elapsedNs,
  };
}

/** Several closed loops of the same calls as one (rounds interleaved with other variants). */
export function mergeClosedLoops(runs: readonly ClosedLoopMeasured[]): ClosedLoopMeasured {
  const total = runs.reduce((s, r) => s + r.samplesNs.length, 0);
  const samplesNs = new Float64Array(total);
  let at = 0;
  for (const r of runs) {
    samplesNs.set(r.samplesNs, at);
    at += r.samplesNs.length;
  }
  const elapsedNs = runs.reduce((s, r) => s + r.elapsedNs, 0);
  const cpuUs = runs.reduce((s, r) => s + r.cpuUs, 0);
  const rssMax = runs.reduce((m, r) => Math.max(m, r.result.rssMaxMiB), 0);
  const mainTicks = runs.reduce((s, r) => s + r.mainTicks, 0);
  const otherTicks = runs.reduce((s, r) => s + r.otherTicks, 0);
  return { result: closedLoopResult(runs[0]?.result.concurrency ?? 0, samplesNs, elapsedNs, cpuUs, rssMax, mainTicks, otherTicks), samplesNs, elapsedNs, cpuUs, mainTicks, otherTicks };
}

/** Resident set size of this process now, MiB. */
export function rssMiB(): number {
  return process.memoryUsage.rss() / 2 ** 20;
}

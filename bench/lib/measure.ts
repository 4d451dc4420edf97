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

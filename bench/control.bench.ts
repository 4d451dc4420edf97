import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Action, Principal } from '../src/core/types.js';
import type { Governor } from '../src/main.js';
import { writeBenchPolicy } from './lib/bench-policy.js';
import { loadMainApi } from './lib/governor.js';
import { closedLoop, heapUsedMiB, percentile, rssMiB } from './lib/measure.js';
import type { Bench, BenchReport } from './lib/report.js';

/*
 * The control plane on the decision path, in process, SQLite store (durable
 * writes on the writer thread):
 *  1. kill-switch latency: under a background load, 1,000 trials of "kill an
 *     agent, then decide for it at once": how long the kill call takes and how
 *     many decisions were allowed after it returned (target 0);
 *  2. decision overhead with 10,000 active grants, 1,000 agent cards and 100
 *     aggregate budgets against the same decisions with none of them.
 */

const TRIALS = 1000;
const OPERATOR = { name: 'bench-operator', groups: [] };
const RESTART: Action = { tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 }, taskId: 'T-1' };

const principal = (agent: string): Principal => ({ agent, instance: 'i-1', role: 'deployer', session: `s-${agent}`, task: 'T-1' });

/** The example policy without breakers and its budget; `budgets` synthetic budget rules (one of which the measured action draws on), `unregistered` agents allowed or not. */
async function policyDir(budgets: number, unregistered: 'deny' | 'production'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'governor-control-bench-'));
  const rules = Array.from({ length: budgets }, (_, i) =>
    i === 0
      ? `  - id: budget-0\n    match: { environments: [prod], tools: [restart_service] }\n    budget: { scope: service, metric: replicas, max: 1000000000, window: 10m }\n`
      : `  - id: budget-${i}\n    match: { environments: [region-${i}], tools: [restart_service] }\n    budget: { scope: environment, metric: replicas, max: 1000000, window: 10m }\n`,
  ).join('');
  await writeBenchPolicy(dir, (text) => text.replace(/\ntrust:\n/, `\ntrust:\n  unregistered: ${unregistered}\n`).replace('\nrules:\n', `\nrules:\n${rules}`));
  return dir;
}

async function open(dir: string): Promise<Governor> {
  const { createGovernor } = await loadMainApi();
  return createGovernor({ policyPath: join(dir, 'governor.yaml'), checkpoint: { intervalMs: 1000 } });
}

async function killLatency(): Promise<{ killP50Us: number; killP99Us: number; decideAfterKillP50Us: number; allowedAfterKill: number; trials: number; backgroundDecisions: number }> {
  const dir = await policyDir(0, 'production');
  const governor = await open(dir);
  try {
    let stop = false;
    let background = 0;
    // Background load: 8 agents deciding continuously.
    const load = Array.from({ length: 8 }, async (_, i) => {
      while (!stop) {
        await governor.decisions.decide(principal(`load-${i}`), { ...RESTART, intent: `load ${background}` });
        background++;
      }
    });
    const kills: number[] = [];
    const decides: number[] = [];
    let allowed = 0;
    for (let t = 0; t < TRIALS; t++) {
      const agent = `target-${t % 50}`;
      const t0 = process.hrtime.bigint();
      const kill = await governor.killSwitch.kill(OPERATOR, { scope: { kind: 'agent', value: agent }, reason: `trial ${t}` });
      const t1 = process.hrtime.bigint();
      const decision = await governor.decisions.decide(principal(agent), { ...RESTART, intent: `trial ${t}` });
      const t2 = process.hrtime.bigint();
      if (decision.verdict !== 'deny' || decision.reasons[0]?.code !== 'KILLED') allowed++;
      kills.push(Number(t1 - t0) / 1000);
      decides.push(Number(t2 - t1) / 1000);
      await governor.killSwitch.lift(OPERATOR, kill.id, 'next trial');
    }
    stop = true;
    await Promise.all(load);
    kills.sort((a, b) => a - b);
    decides.sort((a, b) => a - b);
    return { killP50Us: percentile(kills, 0.5), killP99Us: percentile(kills, 0.99), decideAfterKillP50Us: percentile(decides, 0.5), allowedAfterKill: allowed, trials: TRIALS, backgroundDecisions: background };
  } finally {
    await governor.close();
    await rm(dir, { recursive: true, force: true });
  }
}

interface Overhead {
  readonly label: string;
  readonly perSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly heapMiB: number;
  readonly rssMiB: number;
  readonly verdicts: Record<string, number>;
}

async function overhead(loaded: boolean): Promise<Overhead> {
  const dir = await policyDir(loaded ? 100 : 0, loaded ? 'deny' : 'production');
  const governor = await open(dir);
  const agents = Array.from({ length: 64 }, (_, i) => `bench-${i}`);
  try {
    if (loaded) {
      // 1,000 cards: the 64 measured agents (half new, acting under grants; half production) and 936 others.
      await Promise.all(
        Array.from({ length: 1000 }, (_, i) =>
          governor.agents.register(OPERATOR, { id: i < 64 ? agents[i] as string : `idle-${i}`, owner: 'bench', purpose: 'load', trust: i < 64 && i % 2 === 0 ? 'new' : 'production' }),
        ),
      );
      // 10,000 active grants: 10 per agent card, one of which covers the measured action for the new agents.
      for (let batch = 0; batch < 10; batch++) {
        await Promise.all(
          Array.from({ length: 1000 }, (_, i) =>
            governor.grants.create(OPERATOR, {
              agent: i < 64 ? (agents[i] as string) : `idle-${i}`,
              taskId: batch === 0 ? 'T-1' : `T-${batch + 1}`,
              scope: { environments: ['prod'], tools: ['restart_service'], targets: ['*'] },
              ttlSeconds: 3600,
              maxUses: 100_000,
            }),
          ),
        );
      }
    }
    const verdicts: Record<string, number> = {};
    const run = await closedLoop(
      async (i) => {
        const d = await governor.decisions.decide(principal(agents[i % agents.length] as string), { ...RESTART, intent: `call ${i}` });
        verdicts[d.verdict] = (verdicts[d.verdict] ?? 0) + 1;
        return d;
      },
      { concurrency: 32, durationMs: 6000, warmupMs: 1500 },
    );
    return {
      label: loaded ? '10,000 grants, 1,000 agents, 100 budgets' : 'none',
      perSecond: run.result.perSecond,
      p50Us: run.result.latency.p50Us,
      p99Us: run.result.latency.p99Us,
      heapMiB: heapUsedMiB(),
      rssMiB: rssMiB(),
      verdicts,
    };
  } finally {
    await governor.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function run(): Promise<BenchReport> {
  const kill = await killLatency();
  const none = await overhead(false);
  const loaded = await overhead(true);
  const ratio = loaded.p50Us / none.p50Us;
  const throughputRatio = none.perSecond / loaded.perSecond;
  return {
    name: 'control',
    tables: [
      {
        title: `Kill switch under load: ${kill.trials} trials of kill an agent, then decide for it (8 agents deciding in the background, ${kill.backgroundDecisions} background decisions)`,
        columns: ['kill call p50 µs', 'kill call p99 µs', 'next decision p50 µs', 'allowed after the kill returned'],
        rows: [[kill.killP50Us, kill.killP99Us, kill.decideAfterKillP50Us, kill.allowedAfterKill]],
      },
      {
        title: 'Decision overhead of the control plane: durable in-process decisions, 32 concurrent callers, 6 s',
        columns: ['state', 'decisions/s', 'p50 µs', 'p99 µs', 'heap MiB', 'rss MiB', 'verdicts'],
        rows: [none, loaded].map((o) => [o.label, o.perSecond, o.p50Us, o.p99Us, o.heapMiB, o.rssMiB, Object.entries(o.verdicts).map(([k, v]) => `${k} ${v}`).join(', ')]),
        notes: [
          'Loaded: half of the 64 measured agents are new and act under a grant (one use taken per decision: a compare-and-set); every decision draws on one of the 100 budgets (an atomic reservation).',
          "The grant's use and the budget draw are the decision's conditions: written in the decision's own transaction (one commit), or the decision is refused and a deny recorded instead.",
        ],
      },
    ],
    targets: [
      { name: 'kill switch: decisions allowed after the kill call returned', target: '0 of 1,000', actual: `${kill.allowedAfterKill} of ${kill.trials}`, met: kill.allowedAfterKill === 0 },
      { name: 'decision p50 with 10k grants, 1k agents, 100 budgets vs none', target: '≤ 1.5×', actual: `${ratio.toFixed(2)}× (throughput ${throughputRatio.toFixed(2)}× lower)`, met: ratio <= 1.5 },
    ],
    data: { kill, none, loaded },
  };
}

export const controlBench: Bench = {
  name: 'control',
  description: 'kill-switch latency under load; decision overhead with grants, agents and budgets',
  run,
};

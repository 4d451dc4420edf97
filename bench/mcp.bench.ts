import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type * as ProxyApi from '../src/mcp/governance-proxy.js';
import type * as ClientApi from '../src/mcp/governor-client.js';
import type { GovernorClient, WireDecision } from '../src/mcp/governor-client.js';
import { loadMainApi, moduleUrl } from './lib/governor.js';
import { closedLoop, heapUsedMiB, mergeClosedLoops, measureAsyncCalls, rssMiB, summarize, threadTicks, type ClosedLoopMeasured, type LatencySummary } from './lib/measure.js';
import { writeBenchPolicy } from './lib/bench-policy.js';
import type { Bench, BenchReport, Table } from './lib/report.js';

/*
 * The MCP governance proxy's added latency per `tools/call`. One process holds
 * a whole Governor (HTTP on 127.0.0.1, SQLite store, example policy without
 * breakers and budget), a tiny upstream MCP server (the SDK's McpServer with a
 * read-only `read_logs` tool) and SDK clients of it, all over in-memory
 * transports:
 *
 *   direct:   Client ⇄ McpServer
 *   governed: Client ⇄ governance proxy ⇄ McpServer, and the proxy asks
 *             Governor over HTTP for a durable decision before it forwards,
 *             then records the outcome in the background.
 *
 * Both paths make the same call (read_logs on `search` in prod), one at a
 * time and then from 16 concurrent callers, in alternating rounds so drift
 * (JIT, GC, the store growing) falls on both alike. Breakdown rows at
 * concurrency 1 say where the added time goes: the proxy with a stub
 * Governor that allows at once (the extra MCP hop and the proxy's own work),
 * and the Governor client's requests alone with no MCP at all (decide, then
 * the outcome in the background, as the proxy does; and decide only). The
 * proxy itself cannot skip the outcome, so there is no governed variant
 * without it.
 */

const AGENT = 'mcp-bench';
const SERVER_NAME = 'bench-logs';
const ENVIRONMENT = 'prod';
const CALL = { name: 'read_logs', arguments: { service: 'search', lines: 20 } } as const;
const LOG_TEXT = 'search-7 12:00:01 GET /search?q=shoes 200 12ms\nsearch-3 12:00:01 GET /search?q=socks 200 9ms';

/** Concurrency 1: rounds, calls per path per round (fewer for the breakdown rows), unmeasured calls per path before, a time limit per round. */
const SEQUENTIAL = { rounds: 4, callsPerRound: 600, breakdownCallsPerRound: 250, warmupCalls: 500, maxRoundMs: 20_000 } as const;
/** Closed loops: concurrent callers, rounds per path, measured and warm-up time per round. */
const LOADED = { concurrency: 16, rounds: 2, durationMs: 3000, warmupMs: 500 } as const;
const TARGET_P99_ADDED_MS = 1;

/** A fresh upstream MCP server (one per connection: a server serves one transport) and a client connected to it in memory. */
async function connectUpstream(name: string): Promise<Client> {
  const server = new McpServer({ name: 'bench-logs', version: '1.0.0' });
  server.registerTool(
    'read_logs',
    {
      description: 'Returns the latest log lines of a service.',
      inputSchema: { service: z.string(), lines: z.number().int().positive().optional() },
      annotations: { readOnlyHint: true },
    },
    async ({ service }) => ({ content: [{ type: 'text', text: `${service}: ${LOG_TEXT}` }] }),
  );
  const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name, version: '1.0.0' }, { capabilities: {} });
  await client.connect(clientSide);
  return client;
}

/** A client of a governed session over `upstream`, and the session. */
async function connectGoverned(proxy: typeof ProxyApi, upstream: Client, governor: GovernorClient): Promise<{ client: Client; session: ProxyApi.GovernanceSession; logs: string[] }> {
  const logs: string[] = [];
  const session = proxy.createGovernanceSession({
    upstream,
    governor,
    config: { environment: ENVIRONMENT, serverName: SERVER_NAME },
    log: (level, message) => {
      if (level !== 'info') logs.push(`${level}: ${message}`);
    },
  });
  const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
  await session.server.connect(serverSide);
  const client = new Client({ name: 'bench-agent', version: '1.0.0' }, { capabilities: {} });
  await client.connect(clientSide);
  return { client, session, logs };
}

/** A Governor that allows everything at once and records nothing: the proxy's own cost, without the decision. */
function stubGovernor(): GovernorClient {
  let n = 0;
  return {
    url: 'stub:',
    whoami: async () => ({ ok: true, value: { kind: 'agent', principal: { agent: AGENT, instance: 'i-1', role: 'deployer', session: 's-1' } } }),
    decide: async (action) => ({ ok: true, value: { id: `stub-${n++}`, verdict: 'allow', state: 'allowed', action, reasons: [] } satisfies WireDecision }),
    decision: async () => ({ ok: false, message: 'the stub holds nothing' }),
    recordOutcome: async () => ({ ok: true, value: {} }),
    checkTools: async (request) => ({ ok: true, value: request.tools.map((t) => ({ name: t.name, hash: 'stub', pin: 'match' as const, blocked: false, visible: true })) }),
    watchKills: () => () => {},
  };
}

const textOf = (result: CallToolResult) => result.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n');

/** Calls read_logs and fails unless the answer is the upstream's own text. */
async function callChecked(client: Client): Promise<CallToolResult> {
  const result = (await client.callTool(CALL)) as CallToolResult;
  if (result.isError || !textOf(result).startsWith('search: ')) throw new Error(`read_logs did not come back as the upstream answered it: ${textOf(result).slice(0, 300)}`);
  return result;
}

/** A path of calls to measure. */
interface Path {
  readonly label: string;
  readonly call: (i: number) => Promise<unknown>;
  /** Calls per round at concurrency 1 (the breakdown rows take fewer). */
  readonly callsPerRound?: number;
}

/** One path's sequential figures, merged over its rounds. */
interface Sequential {
  readonly label: string;
  readonly summary: LatencySummary;
  /** CPU time of the main (event loop) thread and of the other threads (the store's writer, GC, libuv) per call, µs; NaN without /proc. */
  readonly mainThreadCpuUsPerCall: number;
  readonly otherThreadsCpuUsPerCall: number;
}

/** Runs each path `rounds` times, alternating, its calls one at a time; merges each path's rounds. */
async function sequential(paths: readonly Path[]): Promise<Sequential[]> {
  for (const p of paths) await measureAsyncCalls(p.call, { calls: 0, maxMs: 0, warmupCalls: SEQUENTIAL.warmupCalls, maxWarmupMs: 5000 });
  const samples = paths.map(() => [] as Float64Array[]);
  const elapsed = paths.map(() => 0);
  const ticks = paths.map(() => ({ main: 0, others: 0 }));
  for (let round = 0; round < SEQUENTIAL.rounds; round++) {
    for (const [i, p] of paths.entries()) {
      const ticks0 = threadTicks();
      const t0 = process.hrtime.bigint();
      const m = await measureAsyncCalls(p.call, { calls: p.callsPerRound ?? SEQUENTIAL.callsPerRound, maxMs: SEQUENTIAL.maxRoundMs, warmupCalls: 0 });
      elapsed[i] = (elapsed[i] ?? 0) + Number(process.hrtime.bigint() - t0);
      const ticks1 = threadTicks();
      const t = ticks[i] as { main: number; others: number };
      t.main += ticks0 && ticks1 ? ticks1.main - ticks0.main : Number.NaN;
      t.others += ticks0 && ticks1 ? ticks1.others - ticks0.others : Number.NaN;
      samples[i]?.push(m.samplesNs);
    }
  }
  const tickUs = 1e6 / 100;
  return paths.map((p, i) => {
    const parts = samples[i] ?? [];
    const all = new Float64Array(parts.reduce((s, a) => s + a.length, 0));
    let at = 0;
    for (const a of parts) {
      all.set(a, at);
      at += a.length;
    }
    const t = ticks[i] as { main: number; others: number };
    return { label: p.label, summary: summarize(all, elapsed[i] ?? 0), mainThreadCpuUsPerCall: (t.main * tickUs) / all.length, otherThreadsCpuUsPerCall: (t.others * tickUs) / all.length };
  });
}

/** Closed loops of `concurrency` callers, each path `rounds` times, alternating; merged per path. */
async function loaded(paths: readonly Path[]): Promise<{ label: string; run: ClosedLoopMeasured }[]> {
  const runs = paths.map(() => [] as ClosedLoopMeasured[]);
  for (let round = 0; round < LOADED.rounds; round++) {
    for (const [i, p] of paths.entries()) runs[i]?.push(await closedLoop(p.call, { concurrency: LOADED.concurrency, durationMs: LOADED.durationMs, warmupMs: LOADED.warmupMs }));
  }
  return paths.map((p, i) => ({ label: p.label, run: mergeClosedLoops(runs[i] ?? []) }));
}

const ms = (us: number) => us / 1000;

async function run(): Promise<BenchReport> {
  const memory: { stage: string; heapMiB: number; rssMiB: number }[] = [];
  const snapshot = (stage: string) => memory.push({ stage, heapMiB: heapUsedMiB(true), rssMiB: rssMiB() });
  snapshot('before setup');

  const { createGovernor } = await loadMainApi();
  const proxy = (await import(moduleUrl('mcp/governance-proxy.js'))) as typeof ProxyApi;
  const { createGovernorClient } = (await import(moduleUrl('mcp/governor-client.js'))) as typeof ClientApi;

  const dataDir = await mkdtemp(join(tmpdir(), 'governor-mcp-bench-'));
  const governor = await createGovernor({ policyPath: await writeBenchPolicy(dataDir), dataDir });
  const closers: (() => Promise<unknown>)[] = [];
  try {
    await governor.app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(governor.app.server.address() as AddressInfo).port}`;
    await governor.agents.register({ name: 'bench', groups: [] }, { id: AGENT, owner: 'bench', purpose: 'MCP proxy benchmark', trust: 'production' });
    const token = governor.issuers.agent.issue({ agent: AGENT, role: 'deployer', instance: 'i-1', session: 's-1', task: 'T-1', ttlSeconds: 3600 }).token;
    const governorClient = createGovernorClient({ url, token });

    const direct = await connectUpstream('bench-direct');
    closers.push(() => direct.close());
    const governed = await connectGoverned(proxy, await connectUpstream(proxy.PROXY_INFO.name), governorClient);
    closers.push(() => governed.session.close('benchmark done'));
    const stubbed = await connectGoverned(proxy, await connectUpstream(proxy.PROXY_INFO.name), stubGovernor());
    closers.push(() => stubbed.session.close('benchmark done'));

    // The governed session lists the tool (pinning it) and answers as the upstream does.
    const listed = (await governed.client.listTools()).tools.map((t) => t.name);
    if (!listed.includes('read_logs')) throw new Error(`the governed session does not offer read_logs (it lists ${listed.join(', ') || 'nothing'}): ${governed.logs.join('; ')}`);
    const [a, b] = [await callChecked(direct), await callChecked(governed.client)];
    if (textOf(a) !== textOf(b)) throw new Error(`the governed answer differs from the direct one: ${textOf(b)} vs ${textOf(a)}`);
    await callChecked(stubbed.client);
    snapshot('Governor, upstreams and sessions set up');

    const action = { tool: CALL.name, environment: ENVIRONMENT, params: CALL.arguments };
    const decide = async () => {
      const d = await governorClient.decide(action);
      if (!d.ok || d.value.verdict !== 'allow') throw new Error(`Governor did not allow read_logs: ${d.ok ? d.value.verdict : d.message}`);
      return d.value;
    };
    const outcomes = new Set<Promise<unknown>>();
    const counts = { governed: 0, decideAndOutcome: 0, decideOnly: 0 };
    const decideAndOutcome = async () => {
      counts.decideAndOutcome++;
      const d = await decide();
      // As the proxy does: the outcome is recorded in the background.
      const p = governorClient.recordOutcome(d.id, { status: 'succeeded', detail: { via: 'bench' } });
      outcomes.add(p);
      void p.finally(() => outcomes.delete(p));
      return d;
    };
    const governedCall = () => {
      counts.governed++;
      return callChecked(governed.client);
    };

    const headBefore = (await governor.store.audit.treeHead()).size;
    const seq = await sequential([
      { label: 'direct', call: () => callChecked(direct) },
      { label: 'governed', call: governedCall },
      { label: 'breakdown: proxy, stub Governor', call: () => callChecked(stubbed.client), callsPerRound: SEQUENTIAL.breakdownCallsPerRound },
      { label: 'breakdown: Governor client, decide + outcome', call: decideAndOutcome, callsPerRound: SEQUENTIAL.breakdownCallsPerRound },
      {
        label: 'breakdown: Governor client, decide only',
        call: () => {
          counts.decideOnly++;
          return decide();
        },
        callsPerRound: SEQUENTIAL.breakdownCallsPerRound,
      },
    ]);
    await Promise.allSettled([...outcomes]);
    snapshot(`after concurrency 1 (${counts.governed.toLocaleString('en-US')} governed calls so far)`);
    const conc = await loaded([
      { label: 'direct', call: () => callChecked(direct) },
      { label: 'governed', call: governedCall },
    ]);
    await Promise.allSettled([...outcomes]);
    snapshot(`after concurrency ${LOADED.concurrency} (${counts.governed.toLocaleString('en-US')} governed calls in all)`);

    const proxyWarnings = [...governed.logs, ...stubbed.logs];
    // Closing the session flushes the outcomes it is still recording: then every governed call has its two leaves.
    for (const close of closers.splice(0).reverse()) await close();
    const leaves = (await governor.store.audit.treeHead()).size - headBefore;
    // The Governor client's own calls wrote two leaves (decision, outcome) or one; the rest are the governed calls'.
    const leavesPerGovernedCall = (leaves - 2 * counts.decideAndOutcome - counts.decideOnly) / counts.governed;

    const [d1, g1, s1, a1, o1] = seq as [Sequential, Sequential, Sequential, Sequential, Sequential];
    const [d16, g16] = conc.map((c) => c.run.result) as [ClosedLoopMeasured['result'], ClosedLoopMeasured['result']];
    const added = {
      c1: { p50Ms: ms(g1.summary.p50Us - d1.summary.p50Us), p90Ms: ms(g1.summary.p90Us - d1.summary.p90Us), p99Ms: ms(g1.summary.p99Us - d1.summary.p99Us) },
      c16: { p50Ms: ms(g16.latency.p50Us - d16.latency.p50Us), p90Ms: ms(g16.latency.p90Us - d16.latency.p90Us), p99Ms: ms(g16.latency.p99Us - d16.latency.p99Us) },
    };
    const proxyOnlyP50Ms = ms(s1.summary.p50Us - d1.summary.p50Us);
    const f = (x: number) => x.toFixed(x < 10 ? 3 : 1);

    const latencyTable: Table = {
      title: `mcp: tools/call read_logs (search, prod), direct vs through the governance proxy; in-memory MCP transports; Governor in process over HTTP on 127.0.0.1, SQLite; concurrency 1: ${SEQUENTIAL.rounds} alternating rounds per path (${SEQUENTIAL.callsPerRound} calls, ${SEQUENTIAL.breakdownCallsPerRound} for breakdown rows) after ${SEQUENTIAL.warmupCalls} warm-up calls; concurrency ${LOADED.concurrency}: ${LOADED.rounds} alternating rounds of ${LOADED.durationMs / 1000} s per path`,
      columns: ['path', 'concurrency', 'calls', 'calls/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'mean ms', 'CPU µs/call main thread', 'CPU µs/call other threads'],
      rows: [
        ...seq.map((s) => [s.label, '1', s.summary.calls, s.summary.throughputPerSec, ms(s.summary.p50Us), ms(s.summary.p90Us), ms(s.summary.p99Us), ms(s.summary.maxUs), ms(s.summary.meanUs), s.mainThreadCpuUsPerCall, s.otherThreadsCpuUsPerCall]),
        ...conc.map(({ label, run: { result: r } }) => [label, String(LOADED.concurrency), r.calls, r.perSecond, ms(r.latency.p50Us), ms(r.latency.p90Us), ms(r.latency.p99Us), ms(r.latency.maxUs), ms(r.latency.meanUs), r.mainThreadCpuUsPerCall, r.otherThreadsCpuUsPerCall]),
      ],
      notes: [
        `added latency (governed − direct): concurrency 1 p50 ${f(added.c1.p50Ms)} ms, p90 ${f(added.c1.p90Ms)} ms, p99 ${f(added.c1.p99Ms)} ms; concurrency ${LOADED.concurrency} p50 ${f(added.c16.p50Ms)} ms, p99 ${f(added.c16.p99Ms)} ms`,
        'a governed call adds a second MCP hop (the proxy relays the call and validates the result) and, before it forwards, a durable decision: an HTTP round trip to Governor (fetch, Fastify, credential check, policy, impact) that answers only once the decision and its audit leaf are committed to SQLite (group commit, synchronous = FULL, on the store\'s writer thread); after the call, a second HTTP request records the outcome (another commit and leaf) in the background, so the next decision may queue behind it',
        `what dominates: the proxy alone (stub Governor that allows at once) adds ${f(proxyOnlyP50Ms)} ms at p50; the Governor client's requests alone, with no MCP, take ${f(ms(a1.summary.p50Us))} ms at p50 (decide + outcome in the background) and ${f(ms(o1.summary.p50Us))} ms (decide only): the durable decision round trip is nearly all of the added time, and the outcome's commit competing with the next decision adds to it`,
        `CPU: at concurrency 1 a governed call costs ${f(ms(g1.mainThreadCpuUsPerCall))} ms of main-thread CPU (${f(ms(d1.mainThreadCpuUsPerCall))} ms direct) of its ${f(ms(g1.summary.meanUs))} ms mean: two HTTP requests (the decision, the outcome) through fetch and Fastify on both ends, the policy, two writes handed to the store's writer thread, and the second MCP hop; the rest of the time it waits (for the commits on the writer thread and, on a shared machine, for a CPU). At concurrency ${LOADED.concurrency}: ${f(ms(g16.mainThreadCpuUsPerCall))} ms per call with the main thread ${g16.mainThreadBusyPercent.toFixed(0)}% busy${g16.mainThreadBusyPercent >= 85 ? ' (saturated: the event loop caps throughput, and latency ≈ concurrency / throughput)' : ' (not saturated: the commits and the machine\'s other load set the pace)'}`,
        'one process, one event loop: the clients, the proxy and the Governor server share a thread, so the governed figures include the server\'s CPU time; in production Governor runs in its own process and adds a network round trip instead',
        `audit leaves appended per governed call: ${leavesPerGovernedCall.toFixed(2)} (its decision and its outcome; the direct and stub paths write none)`,
        ...(proxyWarnings.length > 0 ? [`proxy warnings: ${proxyWarnings.slice(0, 3).join('; ')}${proxyWarnings.length > 3 ? ` (and ${proxyWarnings.length - 3} more)` : ''}`] : []),
      ],
    };
    const memoryTable: Table = {
      title: 'mcp: memory of the benchmark process (Governor, upstream servers, clients and proxies together), heap after full collections',
      columns: ['stage', 'heap MiB', 'rss MiB'],
      rows: [...memory.map((m) => [m.stage, m.heapMiB, m.rssMiB]), ...conc.map((c) => [`most during concurrency ${LOADED.concurrency}, ${c.label}`, '', c.run.result.rssMaxMiB])],
    };
    return {
      name: 'mcp',
      tables: [latencyTable, memoryTable],
      targets: [
        {
          name: 'added p99 per tools/call (governed − direct), concurrency 1',
          target: `≤ ${TARGET_P99_ADDED_MS} ms`,
          actual: `${added.c1.p99Ms.toFixed(3)} ms (p50 ${added.c1.p50Ms.toFixed(3)} ms)`,
          met: added.c1.p99Ms <= TARGET_P99_ADDED_MS,
        },
        {
          name: `added p99 per tools/call (governed − direct), concurrency ${LOADED.concurrency}`,
          target: `≤ ${TARGET_P99_ADDED_MS} ms`,
          actual: `${added.c16.p99Ms.toFixed(3)} ms (p50 ${added.c16.p50Ms.toFixed(3)} ms)`,
          met: added.c16.p99Ms <= TARGET_P99_ADDED_MS,
        },
      ],
      data: {
        sequential: seq,
        loaded: conc.map((c) => ({ label: c.label, ...c.run.result })),
        added,
        proxyOnlyP50Ms,
        counts,
        leavesPerGovernedCall,
        memory,
        proxyWarnings,
        config: { sequential: SEQUENTIAL, loaded: LOADED, call: CALL, environment: ENVIRONMENT },
      },
    };
  } finally {
    for (const close of closers.reverse()) await close().catch(() => {});
    await governor.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** The MCP proxy benchmark. */
export const mcpBench: Bench = {
  name: 'mcp',
  description: 'added latency per tools/call through the MCP governance proxy (durable decision over HTTP) vs calling the MCP server directly',
  run,
};

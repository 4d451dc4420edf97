import { spawn } from 'node:child_process';
import { hash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Decision } from '../src/core/types.js';
import type { Io } from '../src/cli/args.js';
import { buildFixture, fixtureLeaf, type Fixture } from './lib/audit-fixture.js';
import { implementation, loadAuditApi, loadCliApi, loadMainApi, moduleUrl } from './lib/governor.js';
import { closedLoop, collectGarbage, measureAsyncCalls, measureCalls, mergeClosedLoops, rssMiB, type ClosedLoopMeasured, type ClosedLoopResult, type LatencySummary } from './lib/measure.js';
import { writeBenchPolicy } from './lib/bench-policy.js';
import type { Bench, BenchReport, Table, TargetCheck } from './lib/report.js';
import { createRandom, EXAMPLE_CASES } from './lib/synthetic-policy.js';

/*
 * The audit log's figures against the targets:
 *
 * 1. Audited decisions per second, durable, SQLite: `decisions.decide()` of a
 *    whole in-process Governor (`createGovernor`, the example policy, a SQLite
 *    store in a fresh temporary directory) at concurrency 64, each decision
 *    durable with its audit leaf before it resolves; in the same run, on the
 *    same store, `store.decisions.insert` of ready-made decisions with their
 *    leaf and without one (the store's share, and what the leaf adds).
 * 2. Proof latency at 1,000,000 leaves: a SQLite log of 1,000,000 small leaves
 *    is built through `store.audit.append` (bench/lib/audit-fixture.ts), then
 *    `inclusionProof(index, size)` and `consistencyProof(m, n)` of the
 *    AuditLog service over it, for random indices and sizes, against the same
 *    proofs from an in-memory `MemoryTree` of the same leaves. A sample of the
 *    proofs is verified (and compared byte for byte with the MemoryTree's).
 * 3. Offline verification: `governor audit export` of that log, then
 *    `governor audit verify DIR --key VKEY` (runCli in process, and as a child
 *    process for its memory), against plain SHA-256 of the same leaves.
 */

/** Leaves of the big log (GOVERNOR_BENCH_AUDIT_LEAVES to try another size). */
const LEAVES = Number(process.env.GOVERNOR_BENCH_AUDIT_LEAVES ?? 1_000_000);
const CONCURRENCY = 64;
const DECIDE_WARMUP_MS = 1_000;
/** Measured time per variant, split into ROUNDS rounds that take turns with the other variants. */
const DECIDE_MS = 6_000;
const ROUNDS = 3;
const ROUND_WARMUP_MS = 250;
const PROOF_CALLS = 20_000;
const PROOF_WARMUP_CALLS = 2_000;
const PROOF_MAX_MS = 3_000;
/** Every this many measured proofs, one is kept and verified afterwards. */
const CHECK_EVERY = 32;
const OUT_DIR = fileURLToPath(new URL('./out/', import.meta.url));
const HTTP_REFERENCE = `${OUT_DIR}http-reference.json`;

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const mib = (bytes: number) => bytes / 2 ** 20;
const progress = (line: string) => process.stdout.write(`${line}\n`);

/** An `Io` that keeps what a command prints. */
function captureIo(): Io & { readonly lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (t) => lines.push(t), err: (t) => lines.push(t), cwd: process.cwd(), env: process.env };
}

/** RSS at the end of each phase. */
const memory: { phase: string; rssMiB: number; heapMiB: number }[] = [];
function noteMemory(phase: string): void {
  collectGarbage();
  memory.push({ phase, rssMiB: rssMiB(), heapMiB: mib(process.memoryUsage().heapUsed) });
}

// ---------------------------------------------------------------------------
// 1. Audited decisions per second
// ---------------------------------------------------------------------------

interface DecisionRun extends ClosedLoopResult {
  readonly name: string;
}

async function decisionThroughput() {
  const dir = await mkdtemp(join(tmpdir(), 'governor-audit-bench-'));
  // Uncarded agents act (no card leaves), no breakers or budget (a load loop is not a lockout).
  await writeBenchPolicy(dir, (text) => text.replace('\ntrust:\n', '\ntrust:\n  unregistered: production\n'));
  const { createGovernor } = await loadMainApi();
  const { decisionLeaf, nodeAuditCrypto } = await loadAuditApi();
  const governor = await createGovernor({ policyPath: join(dir, 'governor.yaml'), logger: false });
  try {
    const cases = EXAMPLE_CASES;
    // Every case once: the example policy must answer as its label says.
    const mismatches: string[] = [];
    const templates: Decision[] = [];
    for (const c of cases) {
      const d = await governor.decisions.decide(c.principal, c.action);
      const want = /\((allow|modify|pending|deny)/.exec(c.label)?.[1];
      if (d.verdict !== want) mismatches.push(`${c.label}: got ${d.verdict}`);
      if (d.audit === undefined) throw new Error(`decide() returned a decision without its audit leaf (${c.label})`);
      templates.push(Object.fromEntries(Object.entries(d).filter(([k]) => k !== 'audit')) as unknown as Decision);
    }
    if (mismatches.length === cases.length) throw new Error(`no decision came back as the example policy says: ${mismatches[0]}`);
    const digests = templates.map((_, i) => hash('sha256', JSON.stringify(cases[i]?.action), 'hex'));
    const n = cases.length;
    const store = governor.store;
    const copy = (i: number): Decision => ({ ...templates[i % n]!, id: randomUUID(), createdAt: new Date().toISOString() });
    let decided = 0;
    let audited = 0;
    const variants: { name: string; call: (i: number) => Promise<unknown> }[] = [
      {
        name: 'decisions.decide() with its leaf (the whole decision path)',
        async call(i) {
          const c = cases[i % n]!;
          const d = await governor.decisions.decide(c.principal, c.action);
          decided++;
          return d;
        },
      },
      {
        name: 'store.decisions.insert() with a leaf (leaf built per call)',
        async call(i) {
          const decision = copy(i);
          const requestDigest = digests[i % n]!;
          const r = await store.decisions.insert({ decision, requestDigest, leaf: decisionLeaf(nodeAuditCrypto, decision, requestDigest) });
          audited++;
          return r;
        },
      },
      { name: 'store.decisions.insert() without a leaf (baseline)', call: (i) => store.decisions.insert({ decision: copy(i), requestDigest: digests[i % n]! }) },
    ];
    // The variants take turns (the database grows, the machine's load moves): ROUNDS rounds each.
    const before = await store.audit.treeHead();
    const rounds: ClosedLoopMeasured[][] = variants.map(() => []);
    for (let r = 0; r < ROUNDS; r++) {
      for (const [v, variant] of variants.entries()) {
        rounds[v]!.push(await closedLoop(variant.call, { concurrency: CONCURRENCY, durationMs: DECIDE_MS / ROUNDS, warmupMs: r === 0 ? DECIDE_WARMUP_MS : ROUND_WARMUP_MS }));
      }
    }
    const after = await store.audit.treeHead();
    // Every decision made its leaf, every audited insert too, warm-ups included (checkpoints add none).
    if (after.size - before.size !== decided + audited) throw new Error(`${decided} decisions and ${audited} audited inserts, but ${after.size - before.size} leaves appended`);
    if (decided === 0 || audited === 0) throw new Error('nothing was measured');
    noteMemory('after the audited decisions (in-process Governor)');
    const dbBytes = (await stat(join(governor.dataDir, 'governor.db')).then((s) => s.size)) + (await stat(join(governor.dataDir, 'governor.db-wal')).then((s) => s.size, () => 0));
    const runs: DecisionRun[] = variants.map((v, i) => ({ name: v.name, ...mergeClosedLoops(rounds[i]!).result }));
    return { runs, mismatches, dbBytes, leavesAppended: after.size - before.size, decided, audited };
  } finally {
    await governor.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The HTTP decision rate of the last `npm run bench -- http` (bench/out/latest.json), kept in bench/out/http-reference.json. */
async function httpReference(): Promise<{ perSecond: number; concurrency: number; p99Ms: number; startedAt: string } | undefined> {
  try {
    const latest = JSON.parse(await readFile(`${OUT_DIR}latest.json`, 'utf8')) as {
      startedAt: string;
      benches?: { http?: { data?: { runs?: { name: string; concurrency: number | string; perSecond: number; latencyMs: { p99: number } }[] } } };
    };
    const runs = (latest.benches?.http?.data?.runs ?? []).filter((r) => r.name.startsWith('POST') && typeof r.concurrency === 'number' && r.concurrency > 1);
    const best = runs.sort((a, b) => b.perSecond - a.perSecond)[0];
    if (best) {
      const found = { perSecond: best.perSecond, concurrency: best.concurrency as number, p99Ms: best.latencyMs.p99, startedAt: latest.startedAt };
      // `npm run bench -- audit` rewrites latest.json without the http figures: keep them.
      await writeFile(HTTP_REFERENCE, `${JSON.stringify(found, null, 2)}\n`);
      return found;
    }
  } catch {
    // No latest.json yet.
  }
  try {
    return JSON.parse(await readFile(HTTP_REFERENCE, 'utf8')) as { perSecond: number; concurrency: number; p99Ms: number; startedAt: string };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// 2. Proofs at 1,000,000 leaves
// ---------------------------------------------------------------------------

interface ProofRun {
  readonly proof: 'inclusion' | 'consistency';
  readonly source: string;
  readonly latency: LatencySummary;
  readonly meanHashes: number;
  readonly verified: number;
}

async function proofs(fixture: Fixture) {
  const audit = await loadAuditApi();
  const crypto = audit.nodeAuditCrypto;

  // The baseline tree: the same leaves, hashed again, in memory.
  let t0 = performance.now();
  const tree = new audit.MemoryTree(crypto);
  for (let i = 0; i < LEAVES; i++) tree.appendLeaf(fixtureLeaf(i));
  const memoryTreeMs = performance.now() - t0;
  const memoryRoot = Buffer.from(tree.root()).toString('hex');
  if (memoryRoot !== fixture.info.rootHex) throw new Error(`the store's root ${fixture.info.rootHex} differs from the root of the same leaves in memory ${memoryRoot}`);
  noteMemory(`after building the MemoryTree of ${fmt(LEAVES)} leaves (store open)`);

  const keys = await audit.loadLogKeys(fixture.dataDir);
  const log = audit.createAuditLog({ repository: fixture.store.audit, crypto, origin: keys[0]!.signer.name, signers: keys.map((k) => k.signer) });

  const rnd = createRandom(6962);
  // The warm-up calls take the first queries again: every page is cached anyway.
  const total = PROOF_CALLS;
  const inclusion = Array.from({ length: total }, () => {
    const size = 1 + Math.floor(rnd.next() * LEAVES);
    return { index: Math.floor(rnd.next() * size), size };
  });
  const consistency = Array.from({ length: total }, () => {
    const a = 1 + Math.floor(rnd.next() * LEAVES);
    const b = 1 + Math.floor(rnd.next() * LEAVES);
    return { from: Math.min(a, b), to: Math.max(a, b) };
  });
  const options = { calls: PROOF_CALLS, maxMs: PROOF_MAX_MS, warmupCalls: PROOF_WARMUP_CALLS };

  const bytesEqual = (a: readonly Uint8Array[], b: readonly Uint8Array[]) => a.length === b.length && a.every((h, i) => Buffer.from(h).equals(b[i]!));
  const checkInclusion = (q: { index: number; size: number }, proof: Uint8Array[]) => {
    const check = audit.verifyInclusion(crypto, tree.subtree(0, q.index), q.index, q.size, proof, tree.root(q.size));
    if (!check.ok) throw new Error(`inclusion proof of leaf ${q.index} at size ${q.size} does not verify: ${check.reason}`);
    if (!bytesEqual(proof, tree.inclusionProof(q.index, q.size))) throw new Error(`inclusion proof of leaf ${q.index} at size ${q.size} differs from the MemoryTree's`);
  };
  const checkConsistency = (q: { from: number; to: number }, proof: Uint8Array[]) => {
    const check = audit.verifyConsistency(crypto, q.from, q.to, proof, tree.root(q.from), tree.root(q.to));
    if (!check.ok) throw new Error(`consistency proof from ${q.from} to ${q.to} does not verify: ${check.reason}`);
    if (!bytesEqual(proof, tree.consistencyProof(q.from, q.to))) throw new Error(`consistency proof from ${q.from} to ${q.to} differs from the MemoryTree's`);
  };

  const runs: ProofRun[] = [];
  const kept: { i: number; proof: Uint8Array[] }[] = [];
  let hashes = 0;
  let calls = 0;
  const keep = (i: number, proof: Uint8Array[]) => {
    hashes += proof.length;
    calls++;
    if (i % CHECK_EVERY === 0) kept.push({ i, proof });
    return proof;
  };
  const finish = (proof: ProofRun['proof'], source: string, latency: LatencySummary, check: (i: number, p: Uint8Array[]) => void) => {
    for (const k of kept) check(k.i, k.proof);
    runs.push({ proof, source, latency, meanHashes: hashes / Math.max(1, calls), verified: kept.length });
    kept.length = 0;
    hashes = 0;
    calls = 0;
  };
  const q = (i: number) => inclusion[i % total]!;
  const c = (i: number) => consistency[i % total]!;

  let m = await measureAsyncCalls(async (i) => keep(i, await log.inclusionProof(q(i).index, q(i).size)), options);
  finish('inclusion', 'AuditLog over SQLite', m.summary, (i, p) => checkInclusion(q(i), p));
  m = measureCalls((i) => keep(i, tree.inclusionProof(q(i).index, q(i).size)), options);
  finish('inclusion', 'MemoryTree (baseline)', m.summary, (i, p) => checkInclusion(q(i), p));
  m = await measureAsyncCalls(async (i) => keep(i, await log.consistencyProof(c(i).from, c(i).to)), options);
  finish('consistency', 'AuditLog over SQLite', m.summary, (i, p) => checkConsistency(c(i), p));
  m = measureCalls((i) => keep(i, tree.consistencyProof(c(i).from, c(i).to)), options);
  finish('consistency', 'MemoryTree (baseline)', m.summary, (i, p) => checkConsistency(c(i), p));

  // The checks above must be able to fail: a proof with one bit changed does not verify.
  const probe = inclusion.find((x) => x.size > 1)!;
  const bad = (await log.inclusionProof(probe.index, probe.size)).map((h) => h.slice());
  bad[0]![0]! ^= 1;
  if (audit.verifyInclusion(crypto, tree.subtree(0, probe.index), probe.index, probe.size, bad, tree.root(probe.size)).ok) throw new Error('a tampered inclusion proof verified');

  // What the export will cover.
  t0 = performance.now();
  const checkpoint = await log.checkpoint();
  const checkpointMs = performance.now() - t0;
  if (checkpoint.size !== LEAVES) throw new Error(`the latest checkpoint covers ${checkpoint.size} leaves, not ${LEAVES}`);
  noteMemory('after the proofs');
  return { runs, memoryTreeMs, checkpointMs };
}

// ---------------------------------------------------------------------------
// 3. Offline verification
// ---------------------------------------------------------------------------

/** Runs `governor audit verify` in a child process (as an auditor would); returns its wall time, output and peak RSS. */
function verifyInChild(dir: string, vkey: string): Promise<{ ms: number; out: string; code: number | null; maxRssMiB: number }> {
  const script = `
    import { runCli } from ${JSON.stringify(moduleUrl('cli/main.js'))};
    const code = await runCli(process.argv.slice(1), { out: (t) => console.log(t), err: (t) => console.error(t), cwd: process.cwd(), env: process.env });
    process.stderr.write('maxrss ' + process.resourceUsage().maxRSS + '\\n');
    process.exitCode = code;`;
  const started = performance.now();
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, 'audit', 'verify', dir, '--key', vkey], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      const kib = Number(/maxrss (\d+)/.exec(err)?.[1] ?? Number.NaN);
      resolve({ ms: performance.now() - started, out: `${out}${err.replace(/maxrss \d+\n?/, '')}`.trim(), code, maxRssMiB: kib / 1024 });
    });
  });
}

/**
 * SHA-256 over leaves.bin held in memory: the floor of any verification.
 * Digests come back as 'binary' (latin1) strings and parents are hashed from
 * a reused buffer: for inputs this small, allocating a Buffer per digest costs
 * about as much as the hashing (nodeAuditCrypto avoids it the same way).
 */
function hashingFloor(file: Buffer) {
  const scratch = Buffer.alloc(1 << 16);
  // Leaf hashes only.
  let t0 = performance.now();
  let leaves = 0;
  let bytes = 0;
  for (let off = 0; off < file.length; ) {
    const len = file.readUInt32BE(off);
    scratch[0] = 0;
    file.copy(scratch, 1, off + 4, off + 4 + len);
    sinkDigest = hash('sha256', scratch.subarray(0, len + 1), 'binary');
    off += 4 + len;
    leaves++;
    bytes += len;
  }
  const leafMs = performance.now() - t0;
  // Leaf hashes and the interior nodes of the tree (an RFC 6962 root over a stack): the least hashing any full verification does.
  t0 = performance.now();
  const stack: string[] = [];
  const levels: number[] = [];
  const node = Buffer.alloc(65);
  node[0] = 1;
  const parent = (left: string, right: string) => {
    node.write(left, 1, 'binary');
    node.write(right, 33, 'binary');
    return hash('sha256', node, 'binary');
  };
  for (let off = 0; off < file.length; ) {
    const len = file.readUInt32BE(off);
    scratch[0] = 0;
    file.copy(scratch, 1, off + 4, off + 4 + len);
    let h = hash('sha256', scratch.subarray(0, len + 1), 'binary');
    let level = 0;
    while (levels.length > 0 && levels[levels.length - 1] === level) {
      levels.pop();
      h = parent(stack.pop()!, h);
      level++;
    }
    levels.push(level);
    stack.push(h);
    off += 4 + len;
  }
  let root = stack[stack.length - 1]!;
  for (let i = stack.length - 2; i >= 0; i--) root = parent(stack[i]!, root);
  const treeMs = performance.now() - t0;
  return { leaves, bytes, leafMs, treeMs, rootHex: Buffer.from(root, 'latin1').toString('hex') };
}

/** Keeps the floor's digests reachable. */
export let sinkDigest: unknown;

async function offlineVerification(fixture: Fixture, dir: string) {
  const { runCli } = await loadCliApi();
  const exportDir = join(dir, 'export');
  let io = captureIo();
  let t0 = performance.now();
  const exported = await runCli(['audit', 'export', exportDir, '--data-dir', fixture.dataDir], io);
  const exportMs = performance.now() - t0;
  if (exported !== 0) throw new Error(`governor audit export failed (${exported}): ${io.lines.join('\n')}`);
  const leavesFile = join(exportDir, 'leaves.bin');
  const exportBytes = (await stat(leavesFile)).size + (await stat(join(exportDir, 'leaf-hashes.bin'))).size;
  const checkpoints = (await readdir(join(exportDir, 'checkpoints'))).length;

  // governor audit verify DIR, in this process.
  collectGarbage();
  const rssBefore = rssMiB();
  io = captureIo();
  t0 = performance.now();
  const verified = await runCli(['audit', 'verify', exportDir, '--key', fixture.vkey], io);
  const verifyMs = performance.now() - t0;
  const rssAfter = rssMiB();
  const ok = io.lines.join('\n');
  const root64 = Buffer.from(Buffer.from(fixture.info.rootHex, 'hex')).toString('base64');
  if (verified !== 0 || !ok.includes(`OK: ${LEAVES} leaves`) || !ok.includes(`root ${root64}`)) throw new Error(`governor audit verify did not verify the log: ${ok}`);
  const reportedSeconds = Number(/ in ([\d.]+) s/.exec(ok)?.[1] ?? Number.NaN);

  // The same as a command of its own: start-up included, and its peak memory.
  const child = await verifyInChild(exportDir, fixture.vkey);
  if (child.code !== 0 || !child.out.includes(`OK: ${LEAVES} leaves`)) throw new Error(`governor audit verify (child process) failed (${child.code}): ${child.out}`);

  // The floor: SHA-256 over the same leaf bytes, from memory.
  t0 = performance.now();
  const file = readFileSync(leavesFile);
  const readMs = performance.now() - t0;
  const floor = hashingFloor(file);
  if (floor.rootHex !== fixture.info.rootHex) throw new Error(`the hashing floor computed root ${floor.rootHex}, not ${fixture.info.rootHex}`);
  return { exportMs, exportBytes, checkpoints, verifyMs, reportedSeconds, rssBefore, rssAfter, child, readMs, floor, output: ok };
}

// ---------------------------------------------------------------------------

async function run(): Promise<BenchReport> {
  const http = await httpReference();
  progress(`audited decisions: in-process Governor, concurrency ${CONCURRENCY}, ${DECIDE_MS / 1000} s per row in ${ROUNDS} rounds`);
  const decisions = await decisionThroughput();

  const dir = await mkdtemp(join(tmpdir(), 'governor-audit-log-'));
  try {
    const fixture = await buildFixture(join(dir, 'data'), LEAVES, progress);
    noteMemory(`after appending ${fmt(LEAVES)} leaves (store open)`);
    let proofResult;
    try {
      progress(`proofs: ${fmt(PROOF_CALLS)} random ones of each kind, at most ${PROOF_MAX_MS / 1000} s each`);
      proofResult = await proofs(fixture);
    } finally {
      await fixture.store.close();
    }
    progress('export and offline verification');
    const offline = await offlineVerification(fixture, dir);
    noteMemory('after export and verification');

    const d = decisions.runs;
    const decide = d[0]!;
    const info = fixture.info;
    const sqliteProof = (kind: ProofRun['proof']) => proofResult.runs.find((r) => r.proof === kind && r.source.startsWith('AuditLog'))!;
    const verifyRate = LEAVES / (offline.verifyMs / 1000);
    const targets: TargetCheck[] = [
      { name: 'audited decisions/s, durable, SQLite, in process (decide, concurrency 64)', target: '≥ 10,000/s', actual: `${fmt(decide.perSecond)}/s`, met: decide.perSecond >= 10_000 },
      ...(http
        ? [{ name: `audited decisions/s over HTTP (http bench of ${http.startedAt.slice(0, 16).replace('T', ' ')}, concurrency ${http.concurrency}, not rerun)`, target: '≥ 10,000/s', actual: `${fmt(http.perSecond)}/s`, met: http.perSecond >= 10_000 }]
        : []),
      { name: `inclusion proof p99 at ${fmt(LEAVES)} leaves (AuditLog, SQLite)`, target: '≤ 1 ms', actual: `${(sqliteProof('inclusion').latency.p99Us / 1000).toFixed(3)} ms`, met: sqliteProof('inclusion').latency.p99Us <= 1000 },
      { name: `consistency proof p99 at ${fmt(LEAVES)} leaves (AuditLog, SQLite)`, target: '≤ 1 ms', actual: `${(sqliteProof('consistency').latency.p99Us / 1000).toFixed(3)} ms`, met: sqliteProof('consistency').latency.p99Us <= 1000 },
      { name: `offline verification of ${fmt(LEAVES)} leaves (governor audit verify DIR)`, target: '≥ 500,000 leaves/s', actual: `${fmt(verifyRate)} leaves/s`, met: verifyRate >= 500_000 },
    ];

    const tables: Table[] = [
      {
        title: `audit: audited decisions, SQLite store (WAL, synchronous = FULL, group commit), ${implementation().kind}, concurrency ${CONCURRENCY}, ${DECIDE_MS / 1000} s per row (${ROUNDS} rounds, the rows taking turns) after ${DECIDE_WARMUP_MS / 1000} s warm-up`,
        columns: ['path', 'per second', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'CPU µs/call', 'main thread µs/call', 'other threads µs/call', 'main thread busy %', 'RSS MiB (max)'],
        rows: [
          ...d.map(
            (r) =>
              [r.name, r.perSecond, r.latency.p50Us / 1000, r.latency.p90Us / 1000, r.latency.p99Us / 1000, r.latency.maxUs / 1000, r.cpuUsPerCall, r.mainThreadCpuUsPerCall, r.otherThreadsCpuUsPerCall, r.mainThreadBusyPercent, r.rssMaxMiB] as (string | number)[],
          ),
          ...(http ? [[`POST /v1/decisions over HTTP, concurrency ${http.concurrency} (http bench, not rerun)`, http.perSecond, '', '', http.p99Ms, '', '', '', '', '', ''] as (string | number)[]] : []),
        ],
        notes: [
          `the leaf adds ${(1e6 / d[1]!.perSecond - 1e6 / d[2]!.perSecond).toFixed(1)} µs of wall time and ${(d[1]!.cpuUsPerCall - d[2]!.cpuUsPerCall).toFixed(1)} µs of CPU per insert (with a leaf against without); decide() adds the policy, the request digest and the decision's construction to the insert with a leaf: ${(d[0]!.cpuUsPerCall - d[1]!.cpuUsPerCall).toFixed(1)} µs of CPU`,
          `CPU is this process's per call: all threads, the main (event loop) thread, and the others (the store's writer thread, GC, libuv), from /proc/self/task at 10 ms resolution; ${fmt(decisions.decided)} decide() and ${fmt(decisions.audited)} audited inserts (warm-ups included) appended ${fmt(decisions.leavesAppended)} leaves, one each; database after the run ${mib(decisions.dbBytes).toFixed(0)} MiB`,
          'reference points (issue): an fsync-per-event agent policy engine ~845/s; Trillian Tessera on POSIX/NVMe ~10,000/s',
          ...(http ? [] : ['no HTTP figure: run `npm run bench -- http` once (bench/out/http-reference.json keeps it)']),
          ...(decisions.mismatches.length > 0 ? [`verdicts that differ from the example's labels: ${decisions.mismatches.join('; ')}`] : []),
        ],
      },
      {
        title: `audit: building the log (${fmt(LEAVES)} leaves of 64–200 bytes through store.audit.append, 4,096 concurrent callers)`,
        columns: ['leaves', 'seconds', 'leaves/s', 'batches', 'mean batch', 'mean batch ms', 'checkpoints', 'leaf MiB', 'database MiB'],
        rows: [[info.leaves, info.buildMs / 1000, (info.leaves * 1000) / info.buildMs, info.batches, info.meanBatch, info.meanBatchMs, info.checkpoints, mib(info.leafBytes), mib(fixture.dbBytes)]],
        notes: [
          'durable appends (each batch one transaction and one fsync); checkpoints signed by the AuditLog service as in production, whenever 1,000 leaves arrived, and one at the end',
          `built on every run (no cache needed at this speed); the same leaves in a MemoryTree took ${(proofResult.memoryTreeMs / 1000).toFixed(1)} s, with the same root`,
        ],
      },
      {
        title: `audit: proofs at ${fmt(LEAVES)} leaves, random indices and sizes, one call at a time`,
        columns: ['proof', 'source', 'calls', 'p50 µs', 'p90 µs', 'p99 µs', 'max µs', 'ops/s', 'hashes per proof', 'verified'],
        rows: proofResult.runs.map((r) => [r.proof, r.source, r.latency.calls, r.latency.p50Us, r.latency.p90Us, r.latency.p99Us, r.latency.maxUs, r.latency.throughputPerSec, r.meanHashes, r.verified]),
        notes: [
          'inclusion: size uniform in [1, n], index uniform below it; consistency: two sizes uniform in [1, n], the smaller first',
          `one proof in ${CHECK_EVERY} is verified (RFC 9162) against MemoryTree roots and compared byte for byte with the MemoryTree's; a proof with one bit flipped is checked to fail`,
          'AuditLog calls include its tree-size check (repository.treeHead) and the subtree reads (repository.subtrees); the database was just written, so its pages are in the OS cache',
        ],
      },
      {
        title: `audit: offline verification of the exported log (${fmt(LEAVES)} leaves, ${offline.checkpoints} checkpoints, ${mib(offline.exportBytes).toFixed(0)} MiB)`,
        columns: ['step', 'seconds', 'leaves/s', 'MiB/s', 'RSS MiB'],
        rows: [
          ['governor audit export DIR (runCli, in process)', offline.exportMs / 1000, (LEAVES * 1000) / offline.exportMs, mib(offline.exportBytes) / (offline.exportMs / 1000), ''],
          ['governor audit verify DIR (runCli, in process)', offline.verifyMs / 1000, verifyRate, mib(offline.floor.bytes) / (offline.verifyMs / 1000), `${offline.rssBefore.toFixed(0)} → ${offline.rssAfter.toFixed(0)}`],
          ['governor audit verify DIR (child process, start-up included)', offline.child.ms / 1000, (LEAVES * 1000) / offline.child.ms, mib(offline.floor.bytes) / (offline.child.ms / 1000), `${offline.child.maxRssMiB.toFixed(0)} (peak)`],
          ['floor: SHA-256(0x00 ‖ leaf) of every leaf, leaves.bin in memory', offline.floor.leafMs / 1000, (LEAVES * 1000) / offline.floor.leafMs, mib(offline.floor.bytes) / (offline.floor.leafMs / 1000), ''],
          ['floor: leaf hashes and the tree\'s interior nodes (root), in memory', offline.floor.treeMs / 1000, (LEAVES * 1000) / offline.floor.treeMs, mib(offline.floor.bytes) / (offline.floor.treeMs / 1000), ''],
          ['reading leaves.bin into memory', offline.readMs / 1000, (LEAVES * 1000) / offline.readMs, mib(offline.floor.bytes) / (offline.readMs / 1000), ''],
        ],
        notes: [
          `verify checks every leaf against leaf-hashes.bin, recomputes the tree, every checkpoint's Ed25519 signature, root and consistency; it printed: ${offline.output}`,
          'MiB/s counts leaf bytes (without the 4-byte length prefixes)',
        ],
      },
      {
        title: 'audit: memory of the benchmark process (RSS after each phase, after a full GC)',
        columns: ['phase', 'RSS MiB', 'V8 heap MiB'],
        rows: memory.map((x) => [x.phase, x.rssMiB, x.heapMiB]),
      },
    ];
    return {
      name: 'audit',
      tables,
      targets,
      data: { implementation: implementation().kind, leaves: LEAVES, concurrency: CONCURRENCY, decisions, http, fixture: { ...info, dbBytes: fixture.dbBytes }, proofs: proofResult.runs, memoryTreeMs: proofResult.memoryTreeMs, checkpointMs: proofResult.checkpointMs, offline, memory },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The audit log benchmark. */
export const auditBench: Bench = {
  name: 'audit',
  description: 'audited decisions/s (durable, SQLite), proofs at 1,000,000 leaves, offline verification of the exported log',
  run,
};

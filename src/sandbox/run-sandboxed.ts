import { spawn, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { open, readdir, readFile } from 'node:fs/promises';
import { constants as osConstants, homedir, tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { GovernorError } from '../core/errors.js';
import { buildBwrapArgs, findExecutable, STATUS_FD, parseBwrapFeatures, parseBwrapVersion, readHostLayout, type BwrapFeatures } from './bubblewrap.js';

/** The resources one sandboxed command may use. */
export interface SandboxLimits {
  /** Wall-clock time before the whole sandbox is killed. Default 10 s, at most 300 s. */
  readonly wallTimeMs: number;
  /** CPU time of each process (RLIMIT_CPU): SIGXCPU at the limit, SIGKILL one second later. Default 10. */
  readonly cpuSeconds: number;
  /** Address space of each process (RLIMIT_AS). Default 256 MiB. */
  readonly memoryBytes: number;
  /** Processes and threads of the sandbox user (RLIMIT_NPROC). Default 64. */
  readonly processes: number;
  /** Standard output and error kept, together; more kills the sandbox. Default 1 MiB. */
  readonly outputBytes: number;
  /** Largest file a process may write (RLIMIT_FSIZE); the private /tmp holds twice this in total. Default 16 MiB. */
  readonly fileSizeBytes: number;
}

/** A limit the sandboxed command ran into. */
export type SandboxLimitName = 'wall-time' | 'cpu' | 'memory' | 'processes' | 'output' | 'file-size';

/** A command to run isolated. */
export interface SandboxRequest {
  /** Program and arguments, passed as an argv array: never through a shell. */
  readonly command: readonly string[];
  /** Standard input; empty when absent. */
  readonly stdin?: string;
  /** The only environment variables the command sees besides PATH=/usr/bin:/bin and HOME=/tmp. */
  readonly env?: Record<string, string>;
  readonly limits?: Partial<SandboxLimits>;
  /** The working directory: the sandbox's private, size-limited /tmp (the only choice). */
  readonly workdir?: 'tmp';
}

/** What a sandboxed command did. */
export interface SandboxResult {
  /** The command's exit code; null when it was ended by a signal. */
  readonly exitCode: number | null;
  /** The signal that ended it (SIGKILL when Governor killed the sandbox), or null. */
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when output beyond `limits.outputBytes` was dropped (and the sandbox killed). */
  readonly truncated: boolean;
  readonly limitsHit: readonly SandboxLimitName[];
  readonly durationMs: number;
  /** The limits in force, defaults filled in. */
  readonly limits: SandboxLimits;
  readonly isolation: { readonly tool: 'bubblewrap'; readonly version: string };
}

/** Options of the sandbox runner (not of one request). */
export interface SandboxOptions {
  /** The bwrap binary: a path, or a name looked up on PATH. Default `bwrap`. */
  readonly bwrapPath?: string;
  /**
   * More host paths to cover up inside the sandbox, e.g. Governor's data or
   * keys directory when it lives under /etc or /usr (the only host trees the
   * sandbox sees). The current directory, the home directory and the temp
   * directory are always covered when visible.
   */
  readonly hidePaths?: readonly string[];
  /** The unprivileged user bwrap runs as when Governor runs as root. Default nobody (65534:65534). */
  readonly user?: { readonly uid: number; readonly gid: number };
}

/** Whether isolation works on this host. */
export type IsolationCheck = { readonly ok: true; readonly version: string } | { readonly ok: false; readonly reason: string; readonly install: string };

/** The limits used for what a request leaves out. */
export const DEFAULT_LIMITS: SandboxLimits = Object.freeze({
  wallTimeMs: 10_000,
  cpuSeconds: 10,
  memoryBytes: 256 * 1024 * 1024,
  processes: 64,
  outputBytes: 1024 * 1024,
  fileSizeBytes: 16 * 1024 * 1024,
});

/** The largest value each limit may take. */
export const MAX_LIMITS: SandboxLimits = Object.freeze({
  wallTimeMs: 300_000,
  cpuSeconds: 300,
  memoryBytes: 64 * 1024 * 1024 * 1024,
  processes: 4096,
  outputBytes: 64 * 1024 * 1024,
  fileSizeBytes: 1024 * 1024 * 1024,
});

/** How to get bubblewrap, for error messages and `governor sandbox check`. */
export const INSTALL_HINT =
  'apt-get install bubblewrap (Debian/Ubuntu; dnf install bubblewrap on Fedora, apk add bubblewrap on Alpine). ' +
  'bwrap needs unprivileged user namespaces: on older Debian kernels `sysctl kernel.unprivileged_userns_clone=1`; ' +
  'on Ubuntu 24.04+ use the AppArmor profile that ships with bubblewrap.';

const LIMIT_ORDER: readonly SandboxLimitName[] = ['wall-time', 'cpu', 'memory', 'processes', 'output', 'file-size'];
const NOBODY = Object.freeze({ uid: 65534, gid: 65534 });
const PROBE_LIMITS: SandboxLimits = Object.freeze({ ...DEFAULT_LIMITS, wallTimeMs: 5_000, outputBytes: 64 * 1024 });
// After killing the sandbox, how long to wait for its pipes to close before giving up on them.
const CLOSE_GRACE_MS = 2_000;
const STATUS_BYTES = 4096;
const O_CLOEXEC = 0o2000000;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

// The kernel refuses an allocation, a fork or a write past a limit with an error
// (ENOMEM, EAGAIN, EFBIG) instead of killing, so these limits are recognized by the
// diagnostics programs print for those errors (bash, coreutils, node, python, glibc).
const CPU_MESSAGES = /CPU time limit exceeded/i;
const MEMORY_MESSAGES = /cannot allocate memory|cannot allocate \d+ bytes|out of memory|\bMemoryError\b|bad_alloc|fatal process oom|allocation failed|\bENOMEM\b/i;
const PROCESS_MESSAGES = /resource temporarily unavailable|\bEAGAIN\b|can(?:no|')t fork|fork failed|fork: retry/i;
const FILE_SIZE_MESSAGES = /file size limit exceeded|file too large|\bEFBIG\b|no space left on device|\bENOSPC\b/i;

/** Fills in the defaults and checks every limit is a whole number from 1 to its maximum. */
export function resolveLimits(limits: Partial<SandboxLimits> = {}): SandboxLimits {
  const resolved: Record<keyof SandboxLimits, number> = { ...DEFAULT_LIMITS };
  for (const name of Object.keys(DEFAULT_LIMITS) as (keyof SandboxLimits)[]) {
    const value = limits[name];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1 || value > MAX_LIMITS[name]) {
      throw new GovernorError('BAD_REQUEST', `limits.${name} must be a whole number from 1 to ${MAX_LIMITS[name]}, got ${String(value)}`);
    }
    resolved[name] = value;
  }
  return Object.freeze(resolved);
}

interface Isolation {
  readonly bwrap: string;
  readonly version: string;
  readonly features: BwrapFeatures;
}

const verified = new Map<string, Isolation>();

/**
 * Checks that bubblewrap is installed and can actually build the sandbox here
 * (user namespaces allowed, prlimit present) by running `true` in it. Never
 * throws.
 */
export async function checkIsolation(options: Pick<SandboxOptions, 'bwrapPath' | 'user'> = {}): Promise<IsolationCheck> {
  const isolation = await verifyIsolation(options);
  return 'reason' in isolation ? { ok: false, reason: isolation.reason, install: INSTALL_HINT } : { ok: true, version: isolation.version };
}

/**
 * Runs `request.command` inside a bubblewrap sandbox: no network, a read-only
 * view of the system directories only, a private /tmp, no capabilities, a
 * clean environment, and the request's limits.
 *
 * Fails closed: throws `SANDBOX_UNAVAILABLE` — having run nothing — when the
 * sandbox cannot be built. Throws `BAD_REQUEST` for an invalid request.
 * Anything the command does, including hitting a limit, is in the result.
 */
export async function runSandboxed(request: SandboxRequest, options: SandboxOptions = {}): Promise<SandboxResult> {
  const limits = resolveLimits(request.limits);
  const command = validateCommand(request.command);
  const env = validateEnv(request.env ?? {});
  if (request.workdir !== undefined && request.workdir !== 'tmp') throw new GovernorError('BAD_REQUEST', `workdir must be "tmp", got ${JSON.stringify(request.workdir)}`);
  if (request.stdin !== undefined && typeof request.stdin !== 'string') throw new GovernorError('BAD_REQUEST', 'stdin must be a string');

  const isolation = await verifyIsolation(options);
  if ('reason' in isolation) throw new GovernorError('SANDBOX_UNAVAILABLE', `isolated execution is unavailable, nothing was run: ${isolation.reason}. Install: ${INSTALL_HINT}`);

  const layout = await readHostLayout([process.cwd(), homedir(), tmpdir(), ...(options.hidePaths ?? [])]);
  if ('missing' in layout) throw new GovernorError('SANDBOX_UNAVAILABLE', 'prlimit (util-linux) is not under /usr or /bin, nothing was run. Install: apt-get install util-linux');
  const args = buildBwrapArgs({ layout, features: isolation.features, limits, env, command });
  const run = await execute(isolation.bwrap, args, limits, request.stdin ?? '', sandboxUser(options));

  const stderr = run.stderr.toString('utf8');
  // bwrap reports its own setup failures as "bwrap: ..." with exit code 1, before the command starts.
  if (run.code === 1 && run.killedFor === undefined && stderr.startsWith('bwrap: ')) {
    throw new GovernorError('SANDBOX_UNAVAILABLE', `the sandbox could not be set up, nothing was run: ${stderr.trim()}`);
  }
  const { exitCode, signal } = exitStatus(run.code, run.signal);
  const hit = new Set<SandboxLimitName>();
  if (run.killedFor === 'wall-time') hit.add('wall-time');
  if (run.truncated) hit.add('output');
  // A SIGKILL Governor did not send is the CPU hard limit, one second after a SIGXCPU the program ignored.
  if (signal === 'SIGXCPU' || CPU_MESSAGES.test(stderr) || (signal === 'SIGKILL' && run.killedFor === undefined)) hit.add('cpu');
  if (signal === 'SIGXFSZ' || FILE_SIZE_MESSAGES.test(stderr)) hit.add('file-size');
  if (MEMORY_MESSAGES.test(stderr)) hit.add('memory');
  if (PROCESS_MESSAGES.test(stderr)) hit.add('processes');

  return Object.freeze({
    exitCode,
    signal,
    stdout: run.stdout.toString('utf8'),
    stderr,
    truncated: run.truncated,
    limitsHit: Object.freeze(LIMIT_ORDER.filter((name) => hit.has(name))),
    durationMs: run.durationMs,
    limits,
    isolation: Object.freeze({ tool: 'bubblewrap' as const, version: isolation.version }),
  });
}

async function verifyIsolation(options: Pick<SandboxOptions, 'bwrapPath' | 'user'>): Promise<Isolation | { readonly reason: string }> {
  const user = sandboxUser(options);
  const bwrap = await findExecutable(options.bwrapPath ?? 'bwrap', process.env['PATH'] ?? '/usr/bin:/bin');
  if (bwrap === undefined) return { reason: `bubblewrap is not installed (no executable ${JSON.stringify(options.bwrapPath ?? 'bwrap')}${options.bwrapPath ? '' : ' on PATH'})` };
  const key = `${bwrap}\0${user ? `${user.uid}:${user.gid}` : ''}`;
  const known = verified.get(key);
  if (known) return known;

  const versionRun = await execute(bwrap, ['--version'], PROBE_LIMITS, '', undefined).catch((err: unknown) => err as Error);
  if (versionRun instanceof Error) return { reason: `${bwrap} could not be started: ${versionRun.message}` };
  const version = parseBwrapVersion(versionRun.stdout.toString('utf8'));
  if (version === undefined) return { reason: `${bwrap} is not bubblewrap (its --version printed ${JSON.stringify(versionRun.stdout.toString('utf8').slice(0, 80))})` };
  const helpRun = await execute(bwrap, ['--help'], PROBE_LIMITS, '', undefined).catch(() => undefined);
  const features = parseBwrapFeatures(helpRun ? helpRun.stdout.toString('utf8') + helpRun.stderr.toString('utf8') : '');

  const layout = await readHostLayout([]);
  if ('missing' in layout) return { reason: 'prlimit (util-linux) was not found under /usr/bin or /bin' };
  const probe = await execute(bwrap, buildBwrapArgs({ layout, features, limits: PROBE_LIMITS, env: {}, command: ['true'] }), PROBE_LIMITS, '', user);
  if (probe.code !== 0) {
    const detail = probe.stderr.toString('utf8').trim() || (probe.killedFor ? `timed out after ${PROBE_LIMITS.wallTimeMs} ms` : `exit code ${String(probe.code ?? probe.signal)}`);
    return { reason: `bubblewrap ${version} could not create a sandbox here (${detail}); user namespaces may be disabled` };
  }
  const isolation = Object.freeze({ bwrap, version, features });
  verified.set(key, isolation);
  return isolation;
}

// RLIMIT_NPROC is not enforced for root (uid 0), and root inside a user namespace
// mapped to the real root can read root-only files such as /etc/shadow. So when
// Governor runs as root, bwrap (and everything in the sandbox) runs as an
// unprivileged user instead.
function sandboxUser(options: Pick<SandboxOptions, 'user'>): { uid: number; gid: number } | undefined {
  return process.getuid?.() === 0 ? { ...(options.user ?? NOBODY) } : undefined;
}

function validateCommand(command: readonly string[]): readonly string[] {
  if (!Array.isArray(command) || command.length === 0) throw new GovernorError('BAD_REQUEST', 'command must be a non-empty array of strings');
  for (const [i, arg] of command.entries()) {
    if (typeof arg !== 'string' || arg.includes('\0')) throw new GovernorError('BAD_REQUEST', `command[${i}] must be a string without NUL bytes`);
  }
  if (command[0] === '') throw new GovernorError('BAD_REQUEST', 'command[0] must name a program');
  return [...command];
}

function validateEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  const copy: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) throw new GovernorError('BAD_REQUEST', `env: ${JSON.stringify(name)} is not a valid variable name`);
    if (typeof value !== 'string' || value.includes('\0')) throw new GovernorError('BAD_REQUEST', `env.${name} must be a string without NUL bytes`);
    copy[name] = value;
  }
  return copy;
}

// bwrap exits with 128 + n when the command was killed by signal n, as shells do.
function exitStatus(code: number | null, signal: NodeJS.Signals | null): { exitCode: number | null; signal: string | null } {
  if (signal !== null) return { exitCode: null, signal };
  if (code !== null && code > 128) {
    const name = Object.entries(osConstants.signals).find(([, n]) => n === code - 128)?.[0];
    if (name !== undefined) return { exitCode: null, signal: name };
  }
  return { exitCode: code, signal: null };
}

interface Execution {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly truncated: boolean;
  readonly killedFor: 'wall-time' | 'output' | undefined;
  readonly durationMs: number;
}

/**
 * Runs bwrap with bounded wall time and output. bwrap gets an empty
 * environment (the sandbox's is set by its arguments) and its own process
 * group; killing it kills the sandbox's pid 1 (--die-with-parent), and with it
 * every process in the sandbox's pid namespace.
 */
async function execute(bwrap: string, args: readonly string[], limits: SandboxLimits, stdin: string, user: { uid: number; gid: number } | undefined): Promise<Execution> {
  // Node opens every descriptor close-on-exec, but one Governor inherited without
  // that flag (from whatever started it) would pass through bwrap into the sandbox:
  // the child gets /dev/null in its place instead.
  const leaked = await inheritableFds();
  const devNull = leaked.length > 0 ? await open('/dev/null', 'r') : undefined;
  const stdio: StdioOptions = ['pipe', 'pipe', 'pipe', 'pipe'];
  for (const fd of leaked) {
    while (stdio.length < fd) stdio.push('ignore');
    stdio[fd] = devNull?.fd ?? 'ignore';
  }
  try {
    return await spawnBounded(bwrap, args, limits, stdin, user, stdio);
  } finally {
    await devNull?.close();
  }
}

/** Descriptors above the ones we pass (0-3) that this process would let a child inherit. */
async function inheritableFds(): Promise<number[]> {
  const fds: number[] = [];
  for (const name of await readdir('/proc/self/fdinfo').catch(() => [] as string[])) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd <= STATUS_FD) continue;
    const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => '');
    const flags = /^flags:\s*([0-7]+)/m.exec(info)?.[1];
    if (flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) === 0) fds.push(fd);
  }
  return fds.sort((a, b) => a - b);
}

function spawnBounded(
  bwrap: string,
  args: readonly string[],
  limits: SandboxLimits,
  stdin: string,
  user: { uid: number; gid: number } | undefined,
  stdio: StdioOptions,
): Promise<Execution> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(bwrap, args, { cwd: '/', env: {}, stdio, detached: true, ...(user ? { uid: user.uid, gid: user.gid } : {}) });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    let killedFor: Execution['killedFor'];
    let exited = false;
    let sandbox: ProcessId | undefined;
    let status = '';

    const kill = (reason: 'wall-time' | 'output'): void => {
      if (killedFor !== undefined) return;
      killedFor = reason;
      // Once bwrap is reaped its pid (and group id) may be reused: only signal it while it is ours.
      if (!exited && child.pid !== undefined) signal(-child.pid);
      if (sandbox !== undefined && isRunning(sandbox)) signal(sandbox.pid);
      setTimeout(() => {
        for (const stream of child.stdio) stream?.destroy();
      }, CLOSE_GRACE_MS).unref();
    };
    const timer = setTimeout(() => kill('wall-time'), limits.wallTimeMs);
    const collect = (chunks: Buffer[]) => (chunk: Buffer) => {
      if (truncated) return;
      const room = limits.outputBytes - kept;
      if (chunk.length > room) {
        if (room > 0) chunks.push(chunk.subarray(0, room));
        kept = limits.outputBytes;
        truncated = true;
        kill('output');
        return;
      }
      chunks.push(chunk);
      kept += chunk.length;
    };
    const [input, output, errors] = [child.stdio[0] as Writable, child.stdio[1] as Readable, child.stdio[2] as Readable];
    output.on('data', collect(stdout));
    errors.on('data', collect(stderr));
    // bwrap's first status line names the sandbox's pid 1 as seen from here; anything later is ignored.
    const statusStream = child.stdio[3] as Readable | null;
    statusStream?.on('data', (chunk: Buffer) => {
      if (sandbox !== undefined || status.length > STATUS_BYTES) return;
      status += chunk.toString('utf8');
      const pid = /"child-pid"\s*:\s*(\d+)/.exec(status)?.[1];
      if (pid !== undefined) sandbox = identify(Number(pid));
    });
    statusStream?.on('error', () => undefined);
    input.on('error', () => undefined);
    input.end(stdin);

    child.on('exit', () => {
      exited = true;
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, exitSignal) => {
      clearTimeout(timer);
      // bwrap exits as soon as the command does; the kernel then kills the rest of the
      // sandbox with its pid 1. Return only once that has happened.
      void waitUntilGone(sandbox).then(() =>
        resolve({
          code,
          signal: exitSignal,
        stdout: Buffer.concat(stdout),
        stderr: Buffer.concat(stderr),
        truncated,
          killedFor,
          durationMs: Math.round(performance.now() - started),
        }),
      );
    });
  });
}

/** A process, told apart from a later one with the same pid by its start time. */
interface ProcessId {
  readonly pid: number;
  readonly start: string | undefined;
}

function identify(pid: number): ProcessId {
  return { pid, start: readStat(pid)?.start };
}

// Fields of /proc/PID/stat after the command name: state is the first, start time the 20th.
function readStat(pid: number): { state: string; start: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] !== undefined && fields[19] !== undefined ? { state: fields[0], start: fields[19] } : undefined;
  } catch {
    return undefined;
  }
}

// A dead pid 1 has taken its whole pid namespace with it; a zombie counts as dead.
function isRunning(target: ProcessId): boolean {
  const stat = readStat(target.pid);
  return stat !== undefined && target.start !== undefined && stat.start === target.start && stat.state !== 'Z' && stat.state !== 'X';
}

async function waitUntilGone(sandbox: ProcessId | undefined): Promise<void> {
  const deadline = performance.now() + CLOSE_GRACE_MS;
  while (sandbox !== undefined && isRunning(sandbox) && performance.now() < deadline) await delay(5);
}

function signal(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

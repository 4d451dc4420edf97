import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGovernorError } from '../core/errors.js';
import { buildBwrapArgs, buildPrlimitArgs, isWithin, parseBwrapFeatures, parseBwrapVersion, type BwrapPlan } from './bubblewrap.js';
import { checkIsolation, DEFAULT_LIMITS, resolveLimits, runSandboxed, type SandboxRequest, type SandboxResult } from './run-sandboxed.js';

const MiB = 1024 * 1024;
// Node reserves about 700 MiB of address space before it runs any code.
const NODE_MEMORY = 1024 * MiB;
const NODE = process.execPath;
const nodeVisible = NODE.startsWith('/usr/');
const pythonVisible = existsSync('/usr/bin/python3');
const curlVisible = existsSync('/usr/bin/curl');

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'governor-sandbox-test-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function sh(script: string, request: Omit<SandboxRequest, 'command'> = {}): Promise<SandboxResult> {
  return runSandboxed({ command: ['bash', '-c', script], ...request });
}

/**
 * Host processes whose environment carries `SANDBOX_TEST_MARK=<mark>`: the ones a
 * sandbox given that variable started, to show that none outlives it.
 */
function markedProcesses(mark: string): number {
  let count = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(`SANDBOX_TEST_MARK=${mark}`)) count += 1;
    } catch {
      // Gone, or not ours to read.
    }
  }
  return count;
}

let marks = 0;
function mark(): Record<string, string> {
  marks += 1;
  return { SANDBOX_TEST_MARK: `${process.pid}-${marks}` };
}

async function expectRejectsWith(promise: Promise<unknown>, code: 'SANDBOX_UNAVAILABLE' | 'BAD_REQUEST', message?: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isGovernorError(err, code), `expected GovernorError ${code}, got ${String(err)}`).toBe(true);
  if (message) expect((err as Error).message).toMatch(message);
}

describe('isolation on this host', () => {
  it('is available (CI installs it: apt-get install bubblewrap)', async () => {
    const check = await checkIsolation();
    expect(check).toEqual({ ok: true, version: expect.stringMatching(/^\d+\.\d+/) });
  });
});

describe('runSandboxed: ordinary programs', () => {
  it('returns the exit code and output of a normal program', async () => {
    const result = await sh('echo hi; exit 3');
    expect(result).toMatchObject({ exitCode: 3, signal: null, stdout: 'hi\n', stderr: '', truncated: false, limitsHit: [] });
    expect(result.limits).toEqual(DEFAULT_LIMITS);
    expect(result.isolation).toEqual({ tool: 'bubblewrap', version: expect.stringMatching(/^\d+\.\d+/) });
  });

  it('passes arguments as argv, never through a shell', async () => {
    const result = await runSandboxed({ command: ['printf', '%s|', 'a b', '$(id)', '; touch /tmp/pwned', '`id`'] });
    expect(result.stdout).toBe('a b|$(id)|; touch /tmp/pwned|`id`|');
  });

  it('feeds stdin and sees only PATH, HOME and the given variables', async () => {
    process.env['GOVERNOR_SANDBOX_TEST_SECRET'] = 'host-secret';
    try {
      const result = await runSandboxed({ command: ['sh', '-c', 'cat; env'], stdin: 'from stdin\n', env: { FOO: 'bar' } });
      const [first, ...env] = result.stdout.trimEnd().split('\n');
      expect(first).toBe('from stdin');
      // sh itself adds PWD.
      expect(env.filter((line) => !line.startsWith('PWD=')).sort()).toEqual(['FOO=bar', 'HOME=/tmp', 'PATH=/usr/bin:/bin']);
    } finally {
      delete process.env['GOVERNOR_SANDBOX_TEST_SECRET'];
    }
  });

  it('runs with no capabilities, as an unprivileged user, in its own namespaces', async () => {
    const result = await sh('grep CapEff /proc/self/status; hostname; pwd; cat /etc/shadow; echo "pids: $(ls /proc | grep -c "^[0-9]")"');
    expect(result.stdout).toContain('CapEff:\t0000000000000000');
    expect(result.stdout).toContain('sandbox\n/tmp\n');
    // Only the sandbox's own few processes are visible, not the host's.
    expect(Number(/pids: (\d+)/.exec(result.stdout)?.[1])).toBeLessThan(10);
    if (existsSync('/etc/shadow')) expect(result.stderr).toContain('/etc/shadow: Permission denied');
  });

  it('passes on no descriptor the host process inherited, even one open on a secret', async () => {
    const secret = join(scratch, 'inherited-secret');
    await writeFile(secret, 'INHERITED-SECRET\n');
    // A Governor started with an fd open without close-on-exec (bash's `exec 200<file`)
    // runs a sandbox that tries to read it.
    const code = [
      `const { runSandboxed } = await import(${JSON.stringify(new URL('./run-sandboxed.ts', import.meta.url).href)});`,
      `const result = await runSandboxed({ command: ['bash', '-c', 'cat <&200; ls -l /proc/self/fd'] });`,
      'process.stdout.write(JSON.stringify(result));',
    ].join('\n');
    const json = execFileSync('bash', ['-c', 'exec 200<"$1"; exec "$2" --import tsx --input-type=module -e "$3"', 'bash', secret, NODE, code], { encoding: 'utf8' });
    const result = JSON.parse(json) as SandboxResult;
    expect(result.stdout).not.toContain('INHERITED-SECRET');
    const fds = [...result.stdout.matchAll(/ (\d+) -> (.*)$/gm)].map(([, fd, target]) => [Number(fd), target] as const);
    expect(fds.map(([fd]) => fd)).toEqual(expect.arrayContaining([0, 1, 2, 200]));
    // ls's own directory handle is the only other descriptor; the inherited one now points to /dev/null.
    for (const [fd, target] of fds) if (fd > 2) expect(target === '/dev/null' || /^\/proc\/\d+\/fd$/.test(target ?? ''), `fd ${fd} -> ${target}`).toBe(true);
  });
});

describe('runSandboxed: escapes that fail', () => {
  let server: Server;
  let port: number;
  let connections = 0;
  beforeAll(async () => {
    server = createServer((socket) => {
      connections += 1;
      socket.end('secret from the host\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('cannot reach a TCP port the host listens on at 127.0.0.1', async () => {
    const result = await sh(`exec 3<>/dev/tcp/127.0.0.1/${port} && cat <&3`);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('Connection refused');
    expect(result.stdout).not.toContain('secret');
    expect(connections).toBe(0);
  });

  it.skipIf(!curlVisible)('cannot reach it with curl either', async () => {
    const result = await runSandboxed({ command: ['curl', '-sS', '--max-time', '3', `http://127.0.0.1:${port}/`] });
    expect(result.exitCode).toBe(7);
    expect(result.stderr).toMatch(/Couldn't connect|Failed to connect/);
    expect(connections).toBe(0);
  });

  it.skipIf(!nodeVisible)('cannot reach it with node net.connect', async () => {
    const script = `require('net').connect(${port}, '127.0.0.1').on('connect', () => process.exit(0)).on('error', (e) => { console.error(e.code); process.exit(1); })`;
    const result = await runSandboxed({ command: [NODE, '-e', script], limits: { memoryBytes: NODE_MEMORY } });
    expect(result.stderr.trim()).toBe('ECONNREFUSED');
    expect(result.exitCode).toBe(1);
    expect(connections).toBe(0);
  });

  it('has no network interface but loopback and no route anywhere', async () => {
    // The connection attempt runs only after the script has seen that there is no
    // route, so even a broken sandbox would send nothing off this machine.
    // 192.0.2.1 is TEST-NET-1 (RFC 5737), reserved for documentation.
    const result = await sh(
      'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; ' +
        'if [ "$(wc -l < /proc/net/route)" -gt 1 ]; then echo has-routes; exit 9; fi; ' +
        'exec 3<>/dev/tcp/192.0.2.1/80',
    );
    expect(result.stdout).toBe('lo\n');
    expect(result.stderr).toContain('Network is unreachable');
    expect(result.exitCode).toBe(1);
  });

  it('cannot write outside its private /tmp', async () => {
    const inRepo = join(process.cwd(), `sandbox-escape-${process.pid}`);
    const inScratch = join(scratch, 'escape');
    // bash -c SCRIPT NAME ARGS: the paths are positional parameters, not part of the script.
    const script = [
      'for target in /etc/x /usr/x /x "$1" "$2"; do echo escaped > "$target"; done',
      // The test's temp dir does not exist in here; creating it makes a private copy.
      'mkdir -p "$(dirname "$2")" && echo private > "$2" && cat "$2"',
    ].join('\n');
    const result = await runSandboxed({ command: ['bash', '-c', script, 'bash', inRepo, inScratch] });
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain('/etc/x: Read-only file system');
    expect(result.stderr).toContain('/usr/x: Read-only file system');
    expect(result.stderr).toContain('/x: Read-only file system');
    // The repository (and /work, /home, /root) are not in the sandbox at all.
    expect(result.stderr).toContain(`${inRepo}: No such file or directory`);
    expect(result.stderr).toContain(`${inScratch}: No such file or directory`);
    expect(result.stdout).toBe('private\n');
    for (const path of ['/etc/x', '/usr/x', '/x', inRepo, inScratch]) expect(existsSync(path), path).toBe(false);
  });

  it('sees only the system directories: no home, no working directory, no data or keys directory', async () => {
    const keys = join(scratch, '.governor', 'keys');
    await mkdir(keys, { recursive: true });
    await writeFile(join(keys, 'agent-signing.key'), 'PRIVATE-KEY-MATERIAL\n', { mode: 0o644 });
    const result = await runSandboxed({
      command: ['sh', '-c', 'ls -A /; cat "$1/agent-signing.key"; cat "/proc/1/root$1/agent-signing.key"; ls "$2"', 'sh', keys, process.cwd()],
    });
    expect(result.stdout.split('\n').filter(Boolean).sort()).toEqual(
      expect.arrayContaining(['dev', 'etc', 'proc', 'tmp', 'usr']),
    );
    for (const absent of ['home', 'root', 'work', 'var', 'run', 'srv', 'opt', 'mnt']) expect(result.stdout.split('\n')).not.toContain(absent);
    expect(result.stdout).not.toContain('PRIVATE-KEY-MATERIAL');
    expect(result.stderr).toContain(`${keys}/agent-signing.key: No such file or directory`);
    expect(result.stderr).toContain(`${process.cwd()}': No such file or directory`);
  });

  it('covers up hidePaths under the visible system directories', async () => {
    const script = 'echo "docs: $(ls -A /usr/share/doc | wc -l)"; echo "hostname: $(cat /etc/hostname)"; touch /usr/share/doc/x';
    const plain = await sh(script);
    expect(Number(/docs: (\d+)/.exec(plain.stdout)?.[1])).toBeGreaterThan(0);
    const hidden = await runSandboxed({ command: ['bash', '-c', script] }, { hidePaths: ['/usr/share/doc', '/etc/hostname'] });
    expect(hidden.stdout).toBe('docs: 0\nhostname: \n');
    expect(hidden.stderr).toContain('Read-only file system');
  });

  it('stops a fork bomb at the process limit, and nothing it started outlives the sandbox', async () => {
    const env = mark();
    const result = await sh(':(){ :|:& };:; sleep 1', { env, limits: { processes: 32, wallTimeMs: 5_000 } });
    expect(result.limitsHit).toContain('processes');
    expect(result.stderr).toContain('Resource temporarily unavailable');
    expect(markedProcesses(env['SANDBOX_TEST_MARK'] ?? '')).toBe(0);
    expect(execFileSync('true', { encoding: 'utf8' })).toBe('');
  });

  it.skipIf(!nodeVisible)('stops a node spawn loop at the process limit', async () => {
    const env = mark();
    const script = `const { spawn } = require('child_process'); const go = () => spawn('sleep', ['30']).on('error', (e) => { console.error(e.message); process.exit(1); }).on('spawn', go); go();`;
    const result = await runSandboxed({ command: [NODE, '-e', script], env, limits: { processes: 32, memoryBytes: NODE_MEMORY } });
    expect(result.stderr).toContain('spawn sleep EAGAIN');
    expect(result.limitsHit).toEqual(['processes']);
    expect(markedProcesses(env['SANDBOX_TEST_MARK'] ?? '')).toBe(0);
  });

  it('kills an infinite loop at the CPU limit', async () => {
    const result = await sh('while true; do :; done', { limits: { cpuSeconds: 1 } });
    expect(result).toMatchObject({ exitCode: null, signal: 'SIGXCPU', limitsHit: ['cpu'] });
    // Well before the 10 s default wall time, even on a loaded machine.
    expect(result.durationMs).toBeLessThan(8_000);
  });

  it('kills a loop that ignores SIGXCPU one second later', async () => {
    const result = await sh('trap "" XCPU; while true; do :; done', { limits: { cpuSeconds: 1 } });
    expect(result).toMatchObject({ exitCode: null, signal: 'SIGKILL', limitsHit: ['cpu'] });
    expect(result.durationMs).toBeLessThan(9_000);
  });

  it('kills the whole sandbox at the wall-time limit, background processes too', async () => {
    const env = mark();
    const running = sh('sleep 60 & sleep 60 & (sleep 60; echo late) & wait', { env, limits: { wallTimeMs: 800 } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The marker finds the sandbox's processes while it runs (bash, three sleeps, a subshell)...
    expect(markedProcesses(env['SANDBOX_TEST_MARK'] ?? '')).toBeGreaterThanOrEqual(4);
    const result = await running;
    expect(result).toMatchObject({ exitCode: null, signal: 'SIGKILL', limitsHit: ['wall-time'], stdout: '' });
    expect(result.durationMs).toBeGreaterThanOrEqual(800);
    expect(result.durationMs).toBeLessThan(5_000);
    // ...and none once runSandboxed has returned.
    expect(markedProcesses(env['SANDBOX_TEST_MARK'] ?? '')).toBe(0);
  });

  it('truncates endless output at the output limit and kills the writer', async () => {
    const result = await runSandboxed({ command: ['yes'], limits: { outputBytes: 64 * 1024 } });
    expect(result).toMatchObject({ truncated: true, limitsHit: ['output'], signal: 'SIGKILL' });
    expect(result.stdout).toHaveLength(64 * 1024);
    expect(result.stdout.startsWith('y\ny\n')).toBe(true);
  });

  it('stops 5 GB of output after the first MiB', async () => {
    const result = await runSandboxed({ command: ['head', '-c', '5G', '/dev/zero'] });
    expect(result).toMatchObject({ truncated: true, limitsHit: ['output'] });
    expect(Buffer.byteLength(result.stdout)).toBe(MiB);
    expect(result.durationMs).toBeLessThan(8_000);
  });

  it('counts standard output and error together against the output limit', async () => {
    const result = await sh('head -c 40000 /dev/zero; head -c 40000 /dev/zero >&2; sleep 5', { limits: { outputBytes: 65_536 } });
    expect(result.stdout).toHaveLength(40_000);
    expect(result.stderr).toHaveLength(25_536);
    expect(result.limitsHit).toEqual(['output']);
  });

  it('stops a memory bomb at the memory limit (bash)', async () => {
    const result = await sh('x=a; while true; do x=$x$x; done');
    expect(result.limitsHit).toEqual(['memory']);
    expect(result.stderr).toMatch(/cannot allocate/);
  });

  it.skipIf(!pythonVisible)('stops a memory bomb at the memory limit (python)', async () => {
    const result = await runSandboxed({ command: ['python3', '-c', 'a = []\nwhile True: a.append(bytearray(10**7))'], limits: { memoryBytes: 128 * MiB } });
    expect(result.limitsHit).toEqual(['memory']);
    expect(result.stderr).toContain('MemoryError');
  });

  it.skipIf(!nodeVisible)('stops a memory bomb at the memory limit (node)', async () => {
    const result = await runSandboxed({ command: [NODE, '-e', 'const a = []; for (;;) a.push(new Array(1e6).fill(1));'], limits: { memoryBytes: NODE_MEMORY } });
    expect(result.limitsHit).toEqual(['memory']);
    expect(result.exitCode).not.toBe(0);
  });

  it('stops a file larger than the file-size limit', async () => {
    const result = await sh('head -c 64M /dev/zero > /tmp/big; wc -c < /tmp/big', { limits: { fileSizeBytes: MiB } });
    expect(result.limitsHit).toEqual(['file-size']);
    expect(result.stderr).toContain('File size limit exceeded');
    expect(result.stdout.trim()).toBe(String(MiB));
  });
});

describe('runSandboxed: fails closed', () => {
  it('throws SANDBOX_UNAVAILABLE and runs nothing when bwrap is missing', async () => {
    const marker = join(scratch, 'ran-without-isolation');
    await expectRejectsWith(
      runSandboxed({ command: ['sh', '-c', 'touch "$1"', 'sh', marker] }, { bwrapPath: '/nonexistent/bwrap' }),
      'SANDBOX_UNAVAILABLE',
      /apt-get install bubblewrap/,
    );
    expect(existsSync(marker)).toBe(false);
    expect(await checkIsolation({ bwrapPath: '/nonexistent/bwrap' })).toEqual({ ok: false, reason: expect.stringContaining('not installed'), install: expect.stringContaining('apt-get install bubblewrap') });
  });

  it('refuses a binary that is not bubblewrap rather than run the command through it', async () => {
    const marker = join(scratch, 'ran-through-env');
    // `env` would happily run a command given to it; it must never get the chance.
    await expectRejectsWith(runSandboxed({ command: ['sh', '-c', 'touch "$1"', 'sh', marker] }, { bwrapPath: '/usr/bin/env' }), 'SANDBOX_UNAVAILABLE', /not bubblewrap/);
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses invalid requests before running anything', async () => {
    await expectRejectsWith(runSandboxed({ command: [] }), 'BAD_REQUEST');
    await expectRejectsWith(runSandboxed({ command: ['true'], limits: { wallTimeMs: 300_001 } }), 'BAD_REQUEST', /wallTimeMs/);
    await expectRejectsWith(runSandboxed({ command: ['true'], limits: { processes: 0 } }), 'BAD_REQUEST', /processes/);
    await expectRejectsWith(runSandboxed({ command: ['true'], env: { 'A=B': 'x' } }), 'BAD_REQUEST', /variable name/);
    await expectRejectsWith(runSandboxed({ command: ['echo', 'a\0b'] }), 'BAD_REQUEST', /NUL/);
    expect(resolveLimits({ wallTimeMs: 300_000 }).wallTimeMs).toBe(300_000);
  });
});

describe('buildBwrapArgs', () => {
  const plan: BwrapPlan = {
    layout: {
      roots: [
        { path: '/usr', kind: 'dir' },
        { path: '/bin', kind: 'symlink', target: 'usr/bin' },
        { path: '/etc', kind: 'dir' },
      ],
      hide: [
        { path: '/etc/governor', kind: 'dir' },
        { path: '/etc/governor.key', kind: 'file' },
      ],
      prlimit: '/usr/bin/prlimit',
    },
    features: { size: true, disableUserns: true },
    limits: { cpuSeconds: 10, memoryBytes: 256 * MiB, processes: 64, fileSizeBytes: 16 * MiB },
    env: { FOO: 'bar', PATH: '/opt/bin' },
    command: ['--not-an-option', '$(id)'],
  };
  const args = buildBwrapArgs(plan);
  const at = (...seq: string[]): number => args.findIndex((_, i) => seq.every((s, j) => args[i + j] === s));

  it('unshares every namespace, drops capabilities and binds the system directories read-only', () => {
    for (const seq of [['--unshare-all'], ['--unshare-user'], ['--disable-userns'], ['--die-with-parent'], ['--new-session'], ['--cap-drop', 'ALL']]) expect(at(...seq), seq.join(' ')).toBeGreaterThanOrEqual(0);
    expect(at('--ro-bind', '/usr', '/usr')).toBeGreaterThan(0);
    expect(at('--symlink', 'usr/bin', '/bin')).toBeGreaterThan(0);
    expect(at('--remount-ro', '/')).toBeGreaterThan(at('--tmpfs', '/tmp'));
    expect(args).not.toContain('--bind');
    expect(at('--share-net')).toBe(-1);
  });

  it('covers hidden paths after the directory that holds them is bound', () => {
    expect(at('--tmpfs', '/etc/governor', '--remount-ro', '/etc/governor')).toBeGreaterThan(at('--ro-bind', '/etc', '/etc'));
    expect(at('--ro-bind', '/dev/null', '/etc/governor.key')).toBeGreaterThan(at('--ro-bind', '/etc', '/etc'));
  });

  it('limits the private /tmp and clears the environment before setting it', () => {
    expect(at('--size', String(32 * MiB), '--tmpfs', '/tmp')).toBeGreaterThan(0);
    expect(at('--chdir', '/tmp')).toBeGreaterThan(0);
    const clear = at('--clearenv');
    expect(at('--setenv', 'HOME', '/tmp')).toBeGreaterThan(clear);
    expect(at('--setenv', 'FOO', 'bar')).toBeGreaterThan(clear);
    // The request's PATH replaces the default rather than adding a second --setenv PATH.
    expect(args.filter((a) => a === 'PATH')).toHaveLength(1);
    expect(at('--setenv', 'PATH', '/opt/bin')).toBeGreaterThan(clear);
  });

  it('ends with prlimit and the command, each after --', () => {
    expect(args.slice(-10)).toEqual(['--', '/usr/bin/prlimit', ...buildPrlimitArgs(plan.limits), '--', '--not-an-option', '$(id)']);
    expect(buildPrlimitArgs(plan.limits)).toEqual([`--cpu=10:11`, `--as=${256 * MiB}`, '--nproc=64', `--fsize=${16 * MiB}`, '--core=0']);
  });

  it('leaves out options an older bubblewrap lacks', () => {
    const old = buildBwrapArgs({ ...plan, features: { size: false, disableUserns: false } });
    expect(old).not.toContain('--size');
    expect(old).not.toContain('--disable-userns');
    expect(old).toContain('--unshare-user');
  });

  it('reads the version and features of bwrap', () => {
    expect(parseBwrapVersion('bubblewrap 0.8.0\n')).toBe('0.8.0');
    expect(parseBwrapVersion('env (GNU coreutils) 9.1\n')).toBeUndefined();
    expect(parseBwrapFeatures('    --size BYTES     Set size\n    --disable-userns  Disable\n')).toEqual({ size: true, disableUserns: true });
    expect(parseBwrapFeatures('    --tmpfs DEST\n')).toEqual({ size: false, disableUserns: false });
    expect(isWithin('/etc/governor', '/etc')).toBe(true);
    expect(isWithin('/etcetera', '/etc')).toBe(false);
  });
});

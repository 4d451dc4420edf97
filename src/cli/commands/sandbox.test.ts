import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxResult } from '../../sandbox/run-sandboxed.js';
import { UsageError, type Io } from '../args.js';
import { sandboxCommand } from './sandbox.js';

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function sandbox(argv: readonly string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (t) => out.push(t), err: (t) => err.push(t), cwd: process.cwd(), env: {} };
  const code = await sandboxCommand.run(argv, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'governor-sandbox-cli-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('governor sandbox run', () => {
  it("prints the command's output and a summary, and exits with its exit code", async () => {
    const run = await sandbox(['run', '--', 'sh', '-c', 'echo hi; echo oops >&2; exit 3']);
    expect(run.code).toBe(3);
    expect(run.out).toBe('hi');
    expect(run.err).toMatch(/^oops\ngovernor sandbox: exit 3 after \d+ ms$/);
  });

  it('passes flags after -- to the command, not to governor', async () => {
    const run = await sandbox(['run', '--', 'printf', '%s,', '--json', '--wall-time']);
    expect(run.code).toBe(0);
    expect(run.out).toBe('--json,--wall-time,');
  });

  it('exits 124 and names the limit when one is hit', async () => {
    const run = await sandbox(['run', '--wall-time', '300ms', '--', 'sleep', '30']);
    expect(run.code).toBe(124);
    expect(run.err).toMatch(/killed by SIGKILL after \d+ ms; limits hit: wall-time$/);
  });

  it('applies the size and count flags', async () => {
    const run = await sandbox(['run', '--output', '1K', '--processes', '16', '--memory', '128M', '--file-size', '64K', '--cpu', '2', '--json', '--', 'yes']);
    expect(run.code).toBe(124);
    const result = JSON.parse(run.out) as SandboxResult;
    expect(result.limits).toEqual({ wallTimeMs: 10_000, cpuSeconds: 2, memoryBytes: 128 * 1024 * 1024, processes: 16, outputBytes: 1024, fileSizeBytes: 64 * 1024 });
    expect(result).toMatchObject({ truncated: true, limitsHit: ['output'] });
    expect(result.stdout).toHaveLength(1024);
  });

  it('prints the whole result with --json and passes --env variables', async () => {
    const run = await sandbox(['run', '--json', '--env', 'GREETING=hello world', '--', 'sh', '-c', 'echo "$GREETING"']);
    expect(run.code).toBe(0);
    expect(run.err).toBe('');
    expect(JSON.parse(run.out)).toMatchObject({ exitCode: 0, signal: null, stdout: 'hello world\n', limitsHit: [], isolation: { tool: 'bubblewrap' } });
  });

  it('exits 125 and says how to install bubblewrap when isolation is unavailable, having run nothing', async () => {
    const marker = join(scratch, 'ran');
    const run = await sandbox(['run', '--bwrap', '/nonexistent/bwrap', '--', 'sh', '-c', 'touch "$1"', 'sh', marker]);
    expect(run.code).toBe(125);
    expect(run.err).toContain('nothing was run');
    expect(run.err).toContain('apt-get install bubblewrap');
    expect(run.out).toBe('');
    expect(existsSync(marker)).toBe(false);
  });

  it.each([
    [['run'], /after --/],
    [['run', 'echo', 'hi'], /unexpected argument "echo"/],
    [['run', '--memory', 'lots', '--', 'true'], /--memory/],
    [['run', '--wall-time', '6m', '--', 'true'], /--wall-time/],
    [['run', '--processes', '0', '--', 'true'], /processes/],
    [['run', '--env', 'NOVALUE', '--', 'true'], /--env/],
    [['launch', '--', 'true'], /unknown subcommand "launch"/],
    [[], /missing subcommand/],
  ])('refuses %j as a usage error', async (argv, message) => {
    await expect(sandbox(argv)).rejects.toThrow(UsageError);
    await expect(sandbox(argv)).rejects.toThrow(message);
  });
});

describe('governor sandbox check', () => {
  it('reports the bubblewrap version when isolation works', async () => {
    const run = await sandbox(['check']);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^isolation: ok \(bubblewrap \d+\.\d+/);
  });

  it('reports why not and how to install it otherwise', async () => {
    const run = await sandbox(['check', '--bwrap', '/nonexistent/bwrap']);
    expect(run.code).toBe(125);
    expect(run.err).toMatch(/^isolation: unavailable: .*not installed/);
    expect(run.err).toContain('install: apt-get install bubblewrap');
    const json = await sandbox(['check', '--json', '--bwrap', '/nonexistent/bwrap']);
    expect(JSON.parse(json.out)).toMatchObject({ ok: false, install: expect.stringContaining('apt-get install bubblewrap') });
  });
});

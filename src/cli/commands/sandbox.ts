import { constants as osConstants } from 'node:os';
import { isGovernorError } from '../../core/errors.js';
import { parseDuration } from '../../identity/parse-duration.js';
import { checkIsolation, MAX_LIMITS, runSandboxed, type SandboxLimits, type SandboxResult } from '../../sandbox/run-sandboxed.js';
import { parseFlags, UsageError, type Command } from '../args.js';

/** Exit codes of `governor sandbox` besides the command's own, as `timeout` and `env` use them. */
export const SANDBOX_EXIT = { limit: 124, unavailable: 125 } as const;

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
const MS_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000 };

/** `governor sandbox run|check`: runs a command isolated and limited (see docs/sandbox.md). */
export const sandboxCommand: Command = {
  name: 'sandbox',
  summary: 'run a command isolated, with resource limits',
  help: `Usage: governor sandbox run [options] -- COMMAND [ARG...]
       governor sandbox check [--json]

Runs COMMAND in a bubblewrap sandbox: no network, a read-only view of /usr and
/etc only, a private /tmp as working directory, no capabilities, an environment
of PATH, HOME and the --env variables only, and the limits below. Refuses to
run anything (exit 125) when isolation is unavailable: install bubblewrap with
apt-get install bubblewrap. See docs/sandbox.md.

Prints the command's output, then a summary line on standard error, and exits
with the command's exit code, 124 when it hit a limit, 125 when isolation is
unavailable, 128+N when a signal N ended it.

  --wall-time DURATION  kill the sandbox after this long: 500ms, 10s, 2m (default 10s, at most 5m)
  --cpu SECONDS         CPU seconds per process: 10, 30s, 1m (default 10)
  --memory SIZE         address space per process: 256M, 1G (default 256M; node needs about 1G)
  --processes N         processes and threads in the sandbox (default 64)
  --output SIZE         standard output and error kept, together; more kills the sandbox (default 1M)
  --file-size SIZE      largest file written in /tmp (default 16M)
  --env NAME=VALUE      a variable for the command (repeatable)
  --hide PATH           cover PATH up inside the sandbox, e.g. a data dir under /etc (repeatable)
  --bwrap PATH          the bubblewrap binary (default bwrap on PATH)
  --json                print the whole result as JSON instead of the output

'check' tells whether isolation works here and, when not, how to install it.`,
  async run(argv, io) {
    const split = argv.indexOf('--');
    const command = split === -1 ? [] : argv.slice(split + 1);
    const { values, positionals } = parseFlags(
      split === -1 ? argv : argv.slice(0, split),
      {
        'wall-time': { type: 'string' },
        cpu: { type: 'string' },
        memory: { type: 'string' },
        processes: { type: 'string' },
        output: { type: 'string' },
        'file-size': { type: 'string' },
        env: { type: 'string', multiple: true },
        hide: { type: 'string', multiple: true },
        bwrap: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      1,
    );
    const bwrapPath = values.bwrap === undefined ? {} : { bwrapPath: values.bwrap };

    if (positionals[0] === 'check') {
      if (split !== -1) throw new UsageError('check takes no command');
      const check = await checkIsolation(bwrapPath);
      if (values.json) io.out(JSON.stringify(check, null, 2));
      else if (check.ok) io.out(`isolation: ok (bubblewrap ${check.version})`);
      else io.err(`isolation: unavailable: ${check.reason}\ninstall: ${check.install}`);
      return check.ok ? 0 : SANDBOX_EXIT.unavailable;
    }
    if (positionals[0] !== 'run') throw new UsageError(positionals[0] ? `unknown subcommand "${positionals[0]}"` : 'missing subcommand: run or check');
    if (command.length === 0) throw new UsageError('give the command after --, e.g. governor sandbox run -- echo hi');

    const limits: { -readonly [K in keyof SandboxLimits]?: number } = {};
    if (values['wall-time'] !== undefined) limits.wallTimeMs = parseMilliseconds('--wall-time', values['wall-time']);
    if (values.cpu !== undefined) limits.cpuSeconds = parseSeconds('--cpu', values.cpu);
    if (values.memory !== undefined) limits.memoryBytes = parseSize('--memory', values.memory);
    if (values.processes !== undefined) limits.processes = parseCount('--processes', values.processes);
    if (values.output !== undefined) limits.outputBytes = parseSize('--output', values.output);
    if (values['file-size'] !== undefined) limits.fileSizeBytes = parseSize('--file-size', values['file-size']);
    const env: Record<string, string> = {};
    for (const pair of values.env ?? []) {
      const eq = pair.indexOf('=');
      if (eq < 1) throw new UsageError(`--env: expected NAME=VALUE, got ${JSON.stringify(pair)}`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }

    let result: SandboxResult;
    try {
      result = await runSandboxed({ command, env, limits }, { ...bwrapPath, hidePaths: values.hide ?? [] });
    } catch (err) {
      if (isGovernorError(err, 'SANDBOX_UNAVAILABLE')) {
        io.err(`governor sandbox: ${err.message}`);
        return SANDBOX_EXIT.unavailable;
      }
      if (isGovernorError(err, 'BAD_REQUEST')) throw new UsageError(err.message);
      throw err;
    }

    if (values.json) {
      io.out(JSON.stringify(result, null, 2));
    } else {
      // io.out and io.err end each text with a newline of their own.
      if (result.stdout !== '') io.out(result.stdout.replace(/\n$/, ''));
      if (result.stderr !== '') io.err(result.stderr.replace(/\n$/, ''));
      io.err(summarize(result));
    }
    return exitCodeOf(result);
  },
};

/** The one-line account of a run printed after the command's output. */
export function summarize(result: SandboxResult): string {
  const ended = result.signal === null ? `exit ${String(result.exitCode)}` : `killed by ${result.signal}`;
  const parts = [`governor sandbox: ${ended} after ${result.durationMs} ms`];
  if (result.truncated) parts.push(`output truncated at ${result.limits.outputBytes} bytes`);
  if (result.limitsHit.length > 0) parts.push(`limits hit: ${result.limitsHit.join(', ')}`);
  return parts.join('; ');
}

/** 124 on a limit, else the command's exit code, or 128+N for signal N. */
export function exitCodeOf(result: SandboxResult): number {
  if (result.limitsHit.length > 0) return SANDBOX_EXIT.limit;
  if (result.exitCode !== null) return result.exitCode;
  const number = result.signal === null ? undefined : osConstants.signals[result.signal as NodeJS.Signals];
  return 128 + (number ?? 0);
}

function parseMilliseconds(flag: string, text: string): number {
  const match = /^([0-9]{1,9})(ms|s|m)?$/.exec(text);
  const ms = match ? Number(match[1]) * (MS_UNITS[match[2] ?? 's'] ?? Number.NaN) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 1 || ms > MAX_LIMITS.wallTimeMs) {
    throw new UsageError(`${flag}: expected a duration like 500ms, 10s or 2m, at most ${MAX_LIMITS.wallTimeMs / 1000}s, got ${JSON.stringify(text)}`);
  }
  return ms;
}

function parseSeconds(flag: string, text: string): number {
  const parsed = parseDuration(text);
  if (!parsed.ok) throw new UsageError(`${flag}: ${parsed.issues.map((i) => i.message).join('; ')}`);
  return parsed.value;
}

function parseSize(flag: string, text: string): number {
  const match = /^([0-9]{1,12})([kmg]?)$/i.exec(text);
  const bytes = match ? Number(match[1]) * (SIZE_UNITS[(match[2] ?? '').toLowerCase()] ?? Number.NaN) : Number.NaN;
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`${flag}: expected a size like 65536, 64K, 256M or 1G, got ${JSON.stringify(text)}`);
  return bytes;
}

function parseCount(flag: string, text: string): number {
  if (!/^[0-9]{1,9}$/.test(text)) throw new UsageError(`${flag}: expected a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

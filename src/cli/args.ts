import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command's usage error: printed with the command's help, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Where a command writes. Tests pass their own. */
export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** One `governor` command. `run` resolves to the process exit code. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly help: string;
  run(argv: readonly string[], io: Io): Promise<number>;
}

/** Exit codes of `governor check` and the commands that report a verdict. */
export const EXIT = { ok: 0, failure: 1, usage: 2, modify: 3, pending: 4, deny: 5 } as const;

type FlagOptions = NonNullable<ParseArgsConfig['options']>;

/** Parsed flags and positionals of a command. */
export interface ParsedFlags<T extends FlagOptions> {
  readonly values: ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>>['values'];
  readonly positionals: string[];
}

/** Strict flag parsing: unknown flags and missing values are usage errors. */
export function parseFlags<T extends FlagOptions>(argv: readonly string[], options: T, positionals = 0): ParsedFlags<T> {
  let parsed: ParsedFlags<T>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument "${parsed.positionals[positionals]}"`);
  return parsed;
}

/** The `--config` flag shared by every command that reads a policy. */
export const configFlag = { config: { type: 'string', short: 'c', default: 'governor.yaml' } } as const;

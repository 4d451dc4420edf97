import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GovernorError } from '../core/errors.js';
import type { WitnessState } from './witness.js';

/** Format tag of the witness state file. */
export const WITNESS_STATE_FORMAT = 'governor-witness-state/v1';

interface StateFile {
  readonly format: typeof WITNESS_STATE_FORMAT;
  /** Origin -> the last cosigned checkpoint note (log signatures and this witness's cosignature). */
  readonly logs: Readonly<Record<string, string>>;
}

/**
 * Opens the witness state kept in one JSON file. A missing file is an empty
 * state; an unreadable or malformed one is refused (starting empty would let
 * the witness cosign a rollback). Every `set` rewrites the file atomically
 * (temporary file, fsync, rename, fsync of the directory) and resolves only
 * once that is durable; writes are queued, so each sees every earlier one.
 */
export async function openFileWitnessState(file: string): Promise<WitnessState> {
  let committed: ReadonlyMap<string, string> = await load(file);
  let queue: Promise<unknown> = Promise.resolve();

  return Object.freeze({
    async get(origin: string) {
      return committed.get(origin);
    },
    set(origin: string, note: string): Promise<void> {
      const write = queue.then(async () => {
        const next = new Map(committed).set(origin, note);
        const content: StateFile = { format: WITNESS_STATE_FORMAT, logs: Object.fromEntries(next) };
        await writeAtomically(file, JSON.stringify(content, null, 2) + '\n');
        committed = next;
      });
      queue = write.catch(() => undefined);
      return write;
    },
  });
}

async function load(file: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new GovernorError('CONFIG_INVALID', `cannot read the witness state ${file}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new GovernorError('CONFIG_INVALID', `${file}: the witness state is not JSON (refusing to start from an empty state)`, { cause: err });
  }
  const state = parsed as Partial<StateFile> | null;
  if (state?.format !== WITNESS_STATE_FORMAT || typeof state.logs !== 'object' || state.logs === null || Array.isArray(state.logs)) {
    throw new GovernorError('CONFIG_INVALID', `${file}: not a ${WITNESS_STATE_FORMAT} file`);
  }
  const logs = new Map<string, string>();
  for (const [origin, note] of Object.entries(state.logs as Record<string, unknown>)) {
    if (typeof note !== 'string') throw new GovernorError('CONFIG_INVALID', `${file}: logs[${JSON.stringify(origin)}] must be a checkpoint note`);
    logs.set(origin, note);
  }
  return logs;
}

async function writeAtomically(file: string, content: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
  // The rename itself is durable only once the directory is synced.
  const dir = await open(dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeBenchPolicy } from './bench-policy.js';
import { implementation, loadMainApi } from './governor.js';
import { PRINCIPALS } from './synthetic-policy.js';

/*
 * The server side of bench/http.bench.ts, run as a child process so the load
 * generator does not share its event loop: a whole Governor (`createGovernor`)
 * with the example policy and a SQLite store in a fresh temporary directory,
 * listening on 127.0.0.1 on a free port. Talks to its parent over IPC:
 * sends `ready` (port, agent credentials), answers `stop` by closing and
 * deleting its data.
 */

/** What the child sends once it listens. */
export interface ServerReady {
  readonly type: 'ready';
  readonly port: number;
  readonly pid: number;
  /** An agent credential per agent id of `PRINCIPALS`. */
  readonly tokens: Readonly<Record<string, string>>;
  readonly implementation: string;
  readonly dataDir: string;
}

/** What the child sends once it has closed. */
export interface ServerStopped {
  readonly type: 'stopped';
  readonly dbBytes: number;
}

async function main(): Promise<void> {
  if (!process.send) throw new Error('serve-governor runs as a child process of bench/http.bench.ts');
  const dataDir = await mkdtemp(join(tmpdir(), 'governor-bench-'));
  const { createGovernor } = await loadMainApi();
  // GOVERNOR_BENCH_SERVER_LOG=error (or info, ...) turns the server's log on, to stderr.
  const level = process.env.GOVERNOR_BENCH_SERVER_LOG;
  const governor = await createGovernor({ policyPath: await writeBenchPolicy(dataDir), dataDir, logger: level ? { level } : false });
  await governor.app.listen({ host: '127.0.0.1', port: 0 });
  for (const p of Object.values(PRINCIPALS)) {
    await governor.agents.register({ name: 'bench', groups: [] }, { id: p.agent, owner: 'bench', purpose: 'benchmark load', trust: 'production' });
  }
  const { port } = governor.app.server.address() as AddressInfo;
  const tokens = Object.fromEntries(
    Object.values(PRINCIPALS).map((p) => [p.agent, governor.issuers.agent.issue({ agent: p.agent, role: p.role, instance: p.instance, session: p.session, task: p.task, ttlSeconds: 3600 }).token]),
  );

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await governor.close();
      let dbBytes = 0;
      for (const f of ['governor.db', 'governor.db-wal']) {
        try {
          dbBytes += statSync(join(dataDir, f)).size;
        } catch {
          // No WAL file once it was checkpointed.
        }
      }
      await rm(dataDir, { recursive: true, force: true });
      const stopped: ServerStopped = { type: 'stopped', dbBytes };
      process.send?.(stopped, () => process.exit(0));
    })());
  process.on('message', (m: { type?: string }) => {
    if (m.type === 'stop') void stop();
  });
  // The parent died: clean up rather than linger.
  process.on('disconnect', () => void stop().finally(() => process.exit(0)));

  const ready: ServerReady = { type: 'ready', port, pid: process.pid, tokens, implementation: implementation().kind, dataDir };
  process.send(ready);
}

main().catch((err: unknown) => {
  process.stderr.write(`serve-governor: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

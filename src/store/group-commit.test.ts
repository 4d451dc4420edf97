import { describe, expect, it } from 'vitest';
import { GovernorError, isGovernorError } from '../core/errors.js';
import { GroupCommitter, type BatchInfo, type Settled } from './group-commit.js';

/** A commit function the test completes by hand, recording every batch. */
function manualCommit<T>() {
  const batches: T[][] = [];
  const pending: { resolve: (results: Settled<T>[]) => void; reject: (err: unknown) => void; batch: T[] }[] = [];
  const commit = (batch: readonly T[]): Promise<Settled<T>[]> => {
    batches.push([...batch]);
    return new Promise((resolve, reject) => pending.push({ resolve, reject, batch: [...batch] }));
  };
  const succeedNext = (): void => {
    const next = pending.shift();
    if (next === undefined) throw new Error('no batch in flight');
    next.resolve(next.batch.map((value) => ({ ok: true, value })));
  };
  return { batches, pending, commit, succeedNext };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommitter', () => {
  it('writes everything enqueued in one event-loop turn in one batch', async () => {
    const batches: number[][] = [];
    const committer = new GroupCommitter<number, number>({
      commit: (batch) => {
        batches.push([...batch]);
        return batch.map((value) => ({ ok: true, value: value * 2 }));
      },
    });
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => committer.enqueue(n)));
    expect(results).toEqual([2, 4, 6, 8, 10]);
    expect(batches).toEqual([[1, 2, 3, 4, 5]]);
  });

  it('resolves a write only after its transaction committed', async () => {
    const manual = manualCommit<string>();
    const committer = new GroupCommitter<string, string>({ commit: manual.commit });
    let settled = false;
    const write = committer.enqueue('a').then(() => (settled = true));
    await turn();
    expect(manual.pending).toHaveLength(1);
    await turn();
    expect(settled).toBe(false);
    manual.succeedNext();
    await write;
    expect(settled).toBe(true);
  });

  it('gathers writes that arrive during a flush into the next single batch', async () => {
    const manual = manualCommit<number>();
    const committer = new GroupCommitter<number, number>({ commit: manual.commit });
    const first = committer.enqueue(0);
    await turn();
    expect(manual.batches).toEqual([[0]]);
    // Arrive over several turns while batch [0] is still being written.
    const later: Promise<number>[] = [];
    for (let i = 1; i <= 6; i++) {
      later.push(committer.enqueue(i));
      if (i % 2 === 0) await turn();
    }
    expect(manual.batches).toHaveLength(1);
    manual.succeedNext();
    await first;
    await turn();
    expect(manual.batches).toEqual([[0], [1, 2, 3, 4, 5, 6]]);
    manual.succeedNext();
    expect(await Promise.all(later)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('caps the batch size', async () => {
    const sizes: number[] = [];
    const committer = new GroupCommitter<number, number>({
      maxBatchSize: 4,
      commit: (batch) => batch.map((value) => ({ ok: true, value })),
      onBatch: (info) => sizes.push(info.size),
    });
    await Promise.all(Array.from({ length: 10 }, (_, i) => committer.enqueue(i)));
    expect(sizes).toEqual([4, 4, 2]);
  });

  it('rejects every write of a failed transaction with STORE_UNAVAILABLE carrying the cause', async () => {
    const cause = new Error('disk I/O error');
    const infos: BatchInfo[] = [];
    const committer = new GroupCommitter<number, number>({
      commit: () => {
        throw cause;
      },
      onBatch: (info) => infos.push(info),
    });
    const settled = await Promise.allSettled([1, 2, 3].map((n) => committer.enqueue(n)));
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      const reason = (s as PromiseRejectedResult).reason as GovernorError;
      expect(isGovernorError(reason, 'STORE_UNAVAILABLE')).toBe(true);
      expect(reason.cause).toBe(cause);
    }
    expect(infos).toEqual([expect.objectContaining({ size: 3, committed: false })]);
  });

  it('rejects each write of a failed transaction with what `failure` maps the batch error to', async () => {
    const cause = new Error('attempt to write a readonly database');
    const committer = new GroupCommitter<number, number>({
      commit: () => {
        throw cause;
      },
      failure: (item, error) => (item % 2 === 0 ? new GovernorError('AUDIT_UNAVAILABLE', error.message, { cause: error.cause }) : error),
    });
    const settled = await Promise.allSettled([1, 2, 3].map((n) => committer.enqueue(n)));
    const reasons = settled.map((s) => (s as PromiseRejectedResult).reason as GovernorError);
    expect(reasons.map((r) => r.code)).toEqual(['STORE_UNAVAILABLE', 'AUDIT_UNAVAILABLE', 'STORE_UNAVAILABLE']);
    expect(reasons.every((r) => r.cause === cause)).toBe(true);
  });

  it('fails a single write on its own without failing the batch', async () => {
    const conflict = new GovernorError('CONFLICT', 'already recorded');
    const committer = new GroupCommitter<number, number>({
      commit: (batch) => batch.map((value) => (value === 2 ? { ok: false, error: conflict } : { ok: true, value })),
    });
    const settled = await Promise.allSettled([1, 2, 3].map((n) => committer.enqueue(n)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toBe(conflict);
  });

  it('refuses writes beyond the high-water mark instead of queueing them', async () => {
    const manual = manualCommit<number>();
    const committer = new GroupCommitter<number, number>({ commit: manual.commit, maxPending: 3, maxBatchSize: 2 });
    const accepted = [committer.enqueue(1), committer.enqueue(2), committer.enqueue(3)];
    await expect(committer.enqueue(4)).rejects.toSatisfy((err) => isGovernorError(err, 'STORE_UNAVAILABLE'));
    await turn();
    // Two left for the batch in flight: the queue has room again.
    expect(committer.pending).toBe(1);
    const fourth = committer.enqueue(4);
    manual.succeedNext();
    await accepted[1];
    await turn();
    manual.succeedNext();
    expect(await Promise.all([...accepted, fourth])).toEqual([1, 2, 3, 4]);
  });

  it('flushes queued writes on close and refuses new ones afterwards', async () => {
    const manual = manualCommit<number>();
    const committer = new GroupCommitter<number, number>({ commit: manual.commit });
    const writes = [committer.enqueue(1), committer.enqueue(2)];
    let closed = false;
    const closing = committer.close().then(() => (closed = true));
    await expect(committer.enqueue(3)).rejects.toSatisfy((err) => isGovernorError(err, 'STORE_UNAVAILABLE'));
    await turn();
    expect(closed).toBe(false);
    manual.succeedNext();
    await closing;
    expect(await Promise.all(writes)).toEqual([1, 2]);
    await committer.close();
  });

  it('rejects a batch whose commit returned the wrong number of results', async () => {
    const committer = new GroupCommitter<number, number>({ commit: () => [{ ok: true, value: 1 }] });
    const settled = await Promise.allSettled([committer.enqueue(1), committer.enqueue(2)]);
    expect(settled.every((s) => s.status === 'rejected' && isGovernorError(s.reason, 'STORE_UNAVAILABLE'))).toBe(true);
  });

  it('refuses nonsensical limits', () => {
    expect(() => new GroupCommitter({ commit: () => [], maxBatchSize: 0 })).toThrow(GovernorError);
    expect(() => new GroupCommitter({ commit: () => [], maxPending: 1.5 })).toThrow(GovernorError);
  });
});

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nodeAuditCrypto } from '../audit/node-crypto.js';
import { GovernorError } from '../core/errors.js';
import type { Principal } from '../core/types.js';
import { createSqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/store.js';
import { createKillSwitch, type KillSwitchSettings } from './kill-switch.js';

const BOT: Principal = { agent: 'deploy-bot', instance: 'i', role: 'deployer', session: 's' };
const ACTION = { tool: 'restart_service', environment: 'prod' };
const OPERATOR = { name: 'olga', groups: [] };

/** The store with some record operations replaced (the repositories are class instances: bind the rest). */
function withRecords(store: Store, overrides: Partial<Store['records']>): Store {
  const r = store.records;
  const records = { insert: r.insert.bind(r), update: r.update.bind(r), get: r.get.bind(r), list: r.list.bind(r), ...overrides };
  return { engine: store.engine, decisions: store.decisions, audit: store.audit, budgets: store.budgets, records, ping: () => store.ping(), close: () => store.close() };
}

describe('kill switch', () => {
  let dir: string;
  let store: Store;
  let now: number;
  let settings: KillSwitchSettings;
  const faults: string[] = [];
  const make = (s: Store = store) =>
    createKillSwitch({ store: s, clock: () => now, crypto: nodeAuditCrypto, audit: { appended: () => undefined }, newId: randomUUID, settings: () => settings, refreshMs: 60_000, onFault: (_e, c) => faults.push(c) });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'governor-kill-'));
    store = await createSqliteStore({ path: join(dir, 'g.db') });
    now = Date.parse('2026-11-21T12:00:00Z');
    settings = { maxStalenessMs: 5000, mode: 'strict' };
    faults.length = 0;
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('denies everything once kill state is older than maxStaleness in strict mode, and keeps the last state in best-effort mode', async () => {
    const broken = withRecords(store, { list: () => Promise.reject(new GovernorError('STORE_UNAVAILABLE', 'down')) });
    const kills = make(broken);
    now += 0;
    expect(kills.check(BOT, ACTION)).toBeUndefined();
    now += 6000;
    expect(kills.check(BOT, ACTION)).toMatchObject({ code: 'KILL_STATE_STALE' });
    settings = { maxStalenessMs: 5000, mode: 'best-effort' };
    expect(kills.check(BOT, ACTION)).toBeUndefined();
    expect(kills.freshness().stale).toBe(true);
  });

  it('takes effect before the store answers, and holds when the store cannot take it (retried later)', async () => {
    let fail = true;
    const flaky = withRecords(store, { insert: (r) => (fail ? Promise.reject(new GovernorError('STORE_UNAVAILABLE', 'down')) : store.records.insert(r)) });
    const kills = make(flaky);
    const kill = await kills.kill(OPERATOR, { scope: { kind: 'agent', value: 'deploy-bot' }, reason: 'runaway' });
    expect(kill.persisted).toBe(false);
    expect(kills.check(BOT, ACTION)).toMatchObject({ code: 'KILLED' });
    fail = false;
    await kills.start();
    expect(await store.records.get('kill', kill.id)).toMatchObject({ state: 'active' });
    kills.stop();
  });

  it('is never gated by the audit log: a kill whose leaf is refused is stored without it and the leaf appended on its own', async () => {
    const noAudit = withRecords(store, { insert: (r) => (r.leaf ? Promise.reject(new GovernorError('AUDIT_UNAVAILABLE', 'log broken')) : store.records.insert(r)) });
    const kills = make(noAudit);
    const before = (await store.audit.treeHead()).size;
    const kill = await kills.kill(OPERATOR, { scope: { kind: 'global' }, reason: 'audit log is broken, stop everything' });
    expect(kill.persisted).not.toBe(false);
    expect(await store.records.get('kill', kill.id)).toMatchObject({ state: 'active' });
    await expect.poll(async () => (await store.audit.treeHead()).size).toBe(before + 1);
    expect(faults.some((f) => f.includes('audit leaf of a kill'))).toBe(true);
  });

  it('revokes credentials issued before a principal-level kill, even after it is lifted', async () => {
    settings = { maxStalenessMs: 3_600_000, mode: 'strict' };
    const kills = make();
    const kill = await kills.kill(OPERATOR, { scope: { kind: 'role', value: 'deployer' }, reason: 'role compromised' });
    expect(kills.revoked(BOT, now - 1000)?.id).toBe(kill.id);
    now += 60_000;
    await kills.lift(OPERATOR, kill.id, 'rotated');
    expect(kills.revoked(BOT, now - 120_000)?.id).toBe(kill.id);
    expect(kills.revoked(BOT, now)).toBeUndefined();
    expect(kills.check(BOT, ACTION)).toBeUndefined();
    // Environment and tool kills deny decisions but revoke no credential.
    await kills.kill(OPERATOR, { scope: { kind: 'environment', value: 'prod' }, reason: 'freeze' });
    expect(kills.revoked(BOT, now - 1)).toBeUndefined();
    expect(kills.check(BOT, ACTION)).toMatchObject({ code: 'KILLED' });
    expect(kills.check(BOT, { ...ACTION, environment: 'staging' })).toBeUndefined();
  });

  it('refuses malformed kills', async () => {
    const kills = make();
    await expect(kills.kill(OPERATOR, { scope: { kind: 'agent', value: 'has spaces' }, reason: 'x' })).rejects.toThrow(/identifier/);
    await expect(kills.kill(OPERATOR, { scope: { kind: 'galaxy' } as never, reason: 'x' })).rejects.toThrow(/scope.kind/);
    await expect(kills.kill(OPERATOR, { scope: { kind: 'global' }, reason: '   ' })).rejects.toThrow(/reason/);
  });
});

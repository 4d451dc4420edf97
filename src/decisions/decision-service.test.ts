import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile, DEPLOYER, policyWithRules } from '../../test/helpers/policy.js';
import type { AuditLog } from '../audit/audit-log.js';
import { nodeAuditCrypto } from '../audit/node-crypto.js';
import { sha256Hex } from '../config/policy-file.js';
import type { Action } from '../core/types.js';
import type { ActionFacts } from '../impact/action-facts.js';
import { createSqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/store.js';
import { createDecisionService, type DecisionServiceOptions } from './decision-service.js';

const FREEZE_START = Date.parse('2026-12-21T00:00:00Z');
const policy = compile(
  policyWithRules(
    '  - id: allow-all\n    allow: {}\n  - id: year-end\n    freeze: { start: "2026-12-21T00:00:00Z", end: "2027-01-04T00:00:00Z", scope: { environments: [prod] }, reason: year-end code freeze }',
  ),
);
const RESTART: Action = { tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 } };
const SQL: Action = { tool: 'run_sql', environment: 'staging', params: { database: 'orders-db', sql: 'select 1' } };

describe('the analyzers step of the decision service', () => {
  let dir: string;
  let store: Store;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'governor-decisions-'));
    store = await createSqliteStore({ path: join(dir, 'governor.db') });
  });
  afterAll(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const service = (extra: Partial<DecisionServiceOptions>, now = FREEZE_START - 1) =>
    createDecisionService({
      policy: () => policy,
      store,
      clock: () => now,
      newId: randomUUID,
      sha256Hex,
      audit: { crypto: nodeAuditCrypto, log: { appended: () => undefined } as unknown as AuditLog },
      ...extra,
    });

  it('passes the clock to the evaluation: a freeze holds from its start', async () => {
    expect((await service({}).decide(DEPLOYER, RESTART)).verdict).toBe('allow');
    const frozen = await service({}, FREEZE_START).decide(DEPLOYER, RESTART);
    expect(frozen.verdict).toBe('deny');
    expect(frozen.reasons).toContainEqual(expect.objectContaining({ rule: 'year-end', code: 'FREEZE' }));
  });

  it('passes the facts the analyzers found', async () => {
    const seen: Action[] = [];
    const analyzers = {
      needed: () => true,
      analyze: (_p: unknown, action: Action): Promise<ActionFacts> => {
        seen.push(action);
        return Promise.resolve({ sql: { source: 'select 1', sql: { analyzed: true, class: 'read', destructive: false, writes: false, ddl: false, statements: [] }, rows: { known: true, rows: 0, maxFraction: 0, statements: [] }, drift: { drifting: false, baselines: [], changes: [], issues: [] } } });
      },
    };
    const d = await service({ analyzers }).decide(DEPLOYER, SQL);
    expect(seen).toEqual([SQL]);
    expect(d.impact.sql).toMatchObject({ analyzed: true, class: 'read' });
  });

  it('skips the analyzers for an action they have nothing to say about', async () => {
    let calls = 0;
    const analyzers = {
      needed: () => false,
      analyze: (): Promise<ActionFacts> => {
        calls++;
        return Promise.reject(new Error('must not run'));
      },
    };
    const d = await service({ analyzers }).decide(DEPLOYER, RESTART);
    expect(calls).toBe(0);
    expect(d.reasons.some((r) => r.code === 'ANALYSIS_FAILED')).toBe(false);
  });

  it('denies when an analyzer throws: the impact is unknown, and says why', async () => {
    const faults: string[] = [];
    const analyzers = { needed: () => true, analyze: () => Promise.reject(new Error('the parser exploded')) };
    const d = await service({ analyzers, onFault: (_err, context) => faults.push(context) }).decide(DEPLOYER, SQL);
    expect(d.verdict).toBe('deny');
    expect(d.reasons).toContainEqual(expect.objectContaining({ code: 'ANALYSIS_FAILED', message: 'the action could not be analyzed (the parser exploded), so its impact is unknown; denied' }));
    expect(d.impact.known).toBe(false);
    expect(d.impact.sql).toMatchObject({ analyzed: false });
    expect(faults).toEqual(['analyzing an action']);
  });

  it('denies when the analyzers take too long', async () => {
    const analyzers = { needed: () => true, analyze: () => new Promise<ActionFacts>(() => undefined) };
    const started = performance.now();
    const d = await service({ analyzers, analyzerTimeoutMs: 50 }).decide(DEPLOYER, RESTART);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(d.verdict).toBe('deny');
    expect(d.reasons).toContainEqual(expect.objectContaining({ code: 'ANALYSIS_FAILED', message: expect.stringContaining('took longer than 50 ms') }));
  });
});

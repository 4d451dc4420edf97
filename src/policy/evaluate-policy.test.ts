import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile, DEPLOYER, EXAMPLE_POLICY, policyWithRules } from '../../test/helpers/policy.js';
import type { Action, Principal } from '../core/types.js';
import { createActionAnalyzers } from '../analyzers/action-analyzers.js';
import { evaluatePolicy } from './evaluate-policy.js';

const policy = compile(EXAMPLE_POLICY);
const evaluate = (action: Action, principal: Principal = DEPLOYER) => evaluatePolicy(policy, principal, action);
const rules = (e: ReturnType<typeof evaluate>) => e.reasons.map((r) => `${r.rule}:${r.effect}`);
/** The analyzers' facts about an action (no baselines, no row estimates), as the decision service passes them. */
const analyzed = (action: Action) => createActionAnalyzers({ dataDir: '/nonexistent', policyDir: '/nonexistent', env: {}, explain: false }).analyze(policy, action);

describe('evaluatePolicy with the example policy', () => {
  it('allows a restart within the blast radius', () => {
    const e = evaluate({ tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 } });
    expect(e.verdict).toBe('allow');
    expect(e.impact.replicas).toBe(1);
    expect(e.reasons.map((r) => r.rule)).toEqual(['deployers-operate-prod']);
  });

  it('modifies an oversized restart into a bounded first step, in targets and parameters', () => {
    const e = evaluate({ tool: 'restart_service', environment: 'prod', params: { service: 'payments', fraction: 0.4 } });
    expect(e.verdict).toBe('modify');
    expect(e.action.params).toEqual({ service: 'payments', fraction: 0.05 });
    expect(e.action.targets).toEqual([{ kind: 'service', id: 'payments', count: 1, fraction: 0.05 }]);
    expect(e.impact.replicas).toBe(1);
    const reason = e.reasons.find((r) => r.effect === 'modify');
    expect(reason).toMatchObject({ rule: 'prod-blast-radius', primitive: 'blast-radius' });
    expect(reason?.message).toMatch(/share of payments replicas 0.4 > 0.05/);
  });

  it('modifies a count-based restart through the count parameter', () => {
    const e = evaluate({ tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 10 } });
    expect(e.verdict).toBe('modify');
    expect(e.action.params).toEqual({ service: 'search', count: 1 });
  });

  it('holds an irreversible action for high-tier approval that says it cannot be undone', async () => {
    const action: Action = { tool: 'run_sql', environment: 'prod', params: { database: 'orders-db' }, sql: 'DELETE FROM carts WHERE age > 30' };
    const e = evaluatePolicy(policy, DEPLOYER, action, await analyzed(action));
    expect(e.verdict).toBe('pending');
    expect(e.impact.irreversibleBecause).toBe('statement 1: DELETE removes the rows of carts its WHERE clause selects');
    expect(e.approval).toEqual({
      tier: 'high',
      irreversible: true,
      rules: ['irreversible-needs-approval', 'prod-sql-needs-dba-and-sre-lead'],
      // Merged: the prod-SQL quorum (a DBA and an SRE lead), and the irreversibility rule's
      // default deny threshold (one denial from any eligible voter), the shortest expiry.
      quorum: { approvals: 2, groups: [{ group: 'dba', min: 1 }, { group: 'sre-lead', min: 1 }], denyThreshold: { count: 1 } },
      expirySeconds: 3600,
      // The database's owners and the owners of the services that depend on it.
      owners: ['team-checkout', 'team-dba', 'team-payments'],
    });
    expect(e.reasons.find((r) => r.rule === 'irreversible-needs-approval')?.message).toMatch(/cannot be undone/);
  });

  it('holds a production deploy in the medium tier', () => {
    const e = evaluate({ tool: 'deploy', environment: 'prod', params: { service: 'checkout' } });
    expect(e.verdict).toBe('pending');
    expect(e.approval?.tier).toBe('medium');
    expect(e.approval?.irreversible).toBe(false);
  });

  it('denies an endpoint outside every zone', () => {
    const e = evaluate({ tool: 'http_request', environment: 'prod', params: { url: 'http://169.254.169.254/latest/meta-data' } });
    expect(e.verdict).toBe('deny');
    expect(e.reasons.find((r) => r.effect === 'deny')).toMatchObject({ rule: 'network-zones', primitive: 'network-boundary', code: 'ZONE_NOT_PERMITTED' });
  });

  it('denies a staging role reaching a prod zone, however the address is written', () => {
    const staging: Principal = { ...DEPLOYER, role: 'staging-deployer' };
    for (const url of ['http://10.10.0.5/', 'http://0x0a0a0005/', 'http://168427525/', 'http://[::ffff:10.10.0.5]/', 'https://DB.Prod.Internal./', 'http://x@db.prod.internal:8080/']) {
      const e = evaluate({ tool: 'http_request', environment: 'staging', params: { url } }, staging);
      expect(e.verdict, url).toBe('deny');
      expect(rules(e), url).toContain('network-zones:deny');
    }
    expect(evaluate({ tool: 'http_request', environment: 'staging', params: { url: 'https://api.github.com/repos' } }, staging).verdict).toBe('allow');
  });

  it('treats a target missing from the inventory as unknown impact, over every ceiling', () => {
    const e = evaluate({ tool: 'restart_service', environment: 'prod', params: { service: 'ghost', count: 1 } });
    expect(e.verdict).toBe('deny');
    expect(e.impact.known).toBe(false);
    expect(e.reasons.find((r) => r.effect === 'deny')).toMatchObject({ rule: 'prod-blast-radius', code: 'UNKNOWN_IMPACT' });
  });

  it('treats a missing target argument as unknown impact', () => {
    const e = evaluate({ tool: 'restart_service', environment: 'prod', params: {} });
    expect(e.verdict).toBe('deny');
    expect(e.impact.unknown.join(' ')).toMatch(/parameter "service", which is missing/);
  });

  it('denies by default, naming the default rule', () => {
    const e = evaluate({ tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 } }, { ...DEPLOYER, role: 'dba' });
    expect(e.verdict).toBe('deny');
    expect(e.reasons.at(-1)).toMatchObject({ rule: 'default', primitive: 'default', code: 'NO_MATCHING_ALLOW' });
  });

  it('denies a tool that is not in the catalog: unknown impact, irreversible', () => {
    const e = evaluate({ tool: 'nuke_everything', environment: 'prod' });
    expect(e.verdict).toBe('deny');
    expect(e.impact.known).toBe(false);
    expect(e.impact.reversible).toBe(false);
    expect(e.impact.unknown.join()).toMatch(/not in the catalog/);
  });

  it('binds identity: unknown roles, missing task and task mismatch are denied', () => {
    const action: Action = { tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 } };
    expect(rules(evaluate(action, { ...DEPLOYER, role: 'intern' }))).toContain('known-roles:deny');
    const { task: _task, ...noTask } = DEPLOYER;
    expect(rules(evaluate(action, noTask))).toContain('prod-needs-task:deny');
    expect(rules(evaluate({ ...action, taskId: 'T-2' }))).toContain('prod-needs-task:deny');
  });

  it('records shadow rules without enforcing them', () => {
    const e = evaluate({ tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 } });
    expect(e.verdict).toBe('allow');
    expect(e.shadow.verdict).toBe('deny');
    expect(e.shadow.reasons).toEqual([expect.objectContaining({ rule: 'trial-total-traffic-ceiling', mode: 'shadow', effect: 'deny' })]);
  });

  it('never lets an agent loosen the catalog: reversible: true on an irreversible tool changes nothing', () => {
    const e = evaluate({ tool: 'run_sql', environment: 'prod', params: { database: 'orders-db', sql: 'SELECT 1' }, reversible: true, operation: 'read' });
    expect(e.impact.reversible).toBe(false);
    expect(e.action.operation).toBe('sql');
    expect(e.verdict).toBe('pending');
  });

  it('lets an agent make an action stricter: reversible: false escalates', () => {
    const e = evaluate({ tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 }, reversible: false });
    expect(e.verdict).toBe('pending');
    expect(e.approval?.irreversible).toBe(true);
  });

  it('counts transitive dependents in the impact', () => {
    const e = evaluate({ tool: 'run_sql', environment: 'prod', params: { database: 'orders-db' } });
    expect(new Set(e.impact.dependents)).toEqual(new Set(['checkout', 'payments']));
    expect(e.impact.totalTrafficFraction).toBeCloseTo(0.7);
  });

  it('is not fooled by prototype keys in parameters', () => {
    for (const params of [JSON.parse('{"__proto__": {"service": "search"}}'), { constructor: 'search' }, { service: ['search', 'payments', 7] }]) {
      const e = evaluate({ tool: 'restart_service', environment: 'prod', params });
      expect(e.verdict).toBe('deny');
      expect(e.impact.known).toBe(false);
    }
  });
});

describe('fail closed', () => {
  it('denies with a reason when a condition errors at run time', () => {
    const p = compile(policyWithRules(`  - id: all\n    allow: {}\n  - id: needs-ns\n    when: action.params.ns == "x"\n    deny: { message: no }`));
    const e = evaluatePolicy(p, DEPLOYER, { tool: 'read_logs', environment: 'prod', params: { service: 'search' } });
    expect(e.verdict).toBe('deny');
    expect(e.reasons.find((r) => r.rule === 'needs-ns')).toMatchObject({ effect: 'deny', code: 'POLICY_EVALUATION_FAILED' });
  });

  it('denies a bounded step that still breaks a ceiling', () => {
    // maxReplicas 0 can never be met by a step of at least one replica.
    const p = compile(policyWithRules(`  - id: all\n    allow: {}\n  - id: tiny\n    blastRadius: { maxFraction: 0.01 }`));
    const e = evaluatePolicy(p, DEPLOYER, { tool: 'restart_service', environment: 'prod', params: { service: 'payments', fraction: 0.5 } });
    expect(e.verdict).toBe('deny');
    expect(e.reasons.some((r) => r.rule === 'tiny' && r.effect === 'deny')).toBe(true);
  });
});

describe('rule order', () => {
  const ruleTexts = EXAMPLE_POLICY.slice(EXAMPLE_POLICY.indexOf('\nrules:\n') + 8)
    .split(/\n(?=  - id:)/)
    .map((r) => r.replace(/\n\s*#[^\n]*$/g, ''))
    .filter((r) => r.trim().startsWith('- id:'));
  const actions: Action[] = [
    { tool: 'restart_service', environment: 'prod', params: { service: 'search', count: 1 } },
    { tool: 'restart_service', environment: 'prod', params: { service: 'payments', fraction: 0.4 } },
    { tool: 'run_sql', environment: 'prod', params: { database: 'orders-db' } },
    { tool: 'deploy', environment: 'prod', params: { service: 'checkout' } },
    { tool: 'http_request', environment: 'staging', params: { url: 'http://db.prod.internal/' } },
    { tool: 'restart_service', environment: 'staging', params: { service: 'checkout' } },
  ];

  it('property: the order of rules never changes the verdict, the action or the approval', () => {
    expect(ruleTexts.length).toBeGreaterThanOrEqual(10);
    const baseline = actions.map((a) => evaluatePolicy(policy, DEPLOYER, a));
    fc.assert(
      fc.property(fc.shuffledSubarray(ruleTexts, { minLength: ruleTexts.length, maxLength: ruleTexts.length }), (shuffled) => {
        const p = compile(policyWithRules(shuffled.join('\n')));
        actions.forEach((a, i) => {
          const e = evaluatePolicy(p, DEPLOYER, a);
          const b = baseline[i];
          expect(e.verdict).toBe(b?.verdict);
          expect(e.action).toEqual(b?.action);
          expect(e.approval).toEqual(b?.approval);
          expect(new Set(e.reasons.map((r) => r.rule))).toEqual(new Set(b?.reasons.map((r) => r.rule)));
        });
      }),
      { numRuns: 25 },
    );
  });
});

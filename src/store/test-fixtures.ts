import { randomBytes, randomUUID } from 'node:crypto';
import type { Decision, DecisionState, Verdict } from '../core/types.js';
import type { NewDecision } from './store.js';

/** What a test may choose about a decision; everything else is filled in. */
export interface DecisionFixture {
  readonly id?: string;
  readonly agent?: string;
  readonly verdict?: Verdict;
  readonly state?: DecisionState;
  readonly createdAt?: string;
  readonly params?: Readonly<Record<string, unknown>>;
}

const STATE_OF: Record<Verdict, DecisionState> = {
  allow: 'allowed',
  modify: 'allowed',
  pending: 'pending',
  deny: 'denied',
};

/** The PostgreSQL URL tests run against (GOVERNOR_TEST_DATABASE_URL, else DATABASE_URL), if any. */
export function testDatabaseUrl(): string | undefined {
  return process.env['GOVERNOR_TEST_DATABASE_URL'] ?? process.env['DATABASE_URL'];
}

/** A unique name for this test run, so tests sharing a database never see each other's rows. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/** A complete, valid Decision, as `decide` and the server would build it. */
export function makeDecision(fixture: DecisionFixture = {}): Decision {
  const verdict = fixture.verdict ?? 'allow';
  return {
    id: fixture.id ?? randomUUID(),
    verdict,
    state: fixture.state ?? STATE_OF[verdict],
    action: {
      tool: 'kubectl',
      operation: 'rollout-restart',
      environment: 'production',
      targets: [{ kind: 'service', id: 'checkout', fraction: 0.05 }],
      params: fixture.params ?? { namespace: 'shop', replicas: 3 },
      reversible: true,
    },
    impact: {
      known: true,
      unknown: [],
      replicas: 1,
      trafficFraction: 0.01,
      totalTrafficFraction: 0.02,
      dependents: ['frontend'],
      reversible: true,
      resources: [
        {
          kind: 'service',
          id: 'checkout',
          environment: 'production',
          relation: 'target',
          replicas: 20,
          affectedReplicas: 1,
          fraction: 0.05,
          traffic: 0.2,
          trafficFraction: 0.01,
        },
      ],
      endpoints: [],
    },
    reasons: [
      {
        rule: 'restart-small',
        primitive: 'blast-radius',
        message: 'restart touches 1% of traffic, under the 5% ceiling',
        effect: 'allow',
        mode: 'enforce',
      },
    ],
    shadow: { verdict, reasons: [] },
    ...(verdict === 'pending' ? { approval: { tier: 'high' as const, irreversible: false, rules: ['restart-small'] } } : {}),
    principal: {
      agent: fixture.agent ?? 'remediator',
      instance: 'remediator-7f9c',
      role: 'sre-agent',
      session: 'sess-1',
      task: 'INC-1234',
    },
    policy: { digest: 'sha256:' + 'ab'.repeat(32) },
    createdAt: fixture.createdAt ?? new Date().toISOString(),
  };
}

/** A NewDecision around `makeDecision(fixture)`. */
export function makeNewDecision(
  fixture: DecisionFixture & { readonly idempotencyKey?: string; readonly requestDigest?: string } = {},
): NewDecision {
  return {
    decision: makeDecision(fixture),
    requestDigest: fixture.requestDigest ?? randomBytes(32).toString('hex'),
    ...(fixture.idempotencyKey === undefined ? {} : { idempotencyKey: fixture.idempotencyKey }),
  };
}

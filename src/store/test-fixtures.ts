import { randomBytes, randomUUID } from 'node:crypto';
import { nodeAuditCrypto } from '../audit/node-crypto.js';
import { bytesEqual } from '../audit/pure/bytes.js';
import { hashLeaf, resolveNode, rootPlan, type HashReader, type SubtreeId } from '../audit/pure/merkle.js';
import { MemoryTree } from '../audit/pure/memory-tree.js';
import type { Decision, DecisionState, Verdict } from '../core/types.js';
import type { NewDecision, NewLeaf, Store, StoredLeaf } from './store.js';

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

/** An audit leaf over `text` (random bytes by default), with its RFC 6962 leaf hash. */
export function makeLeaf(text?: string): NewLeaf {
  const bytes = text === undefined ? new Uint8Array(randomBytes(64)) : new TextEncoder().encode(text);
  return { bytes, hash: hashLeaf(nodeAuditCrypto, bytes) };
}

/** A NewDecision around `makeDecision(fixture)` carrying an audit leaf. */
export function makeAuditedDecision(
  fixture: DecisionFixture & { readonly idempotencyKey?: string; readonly requestDigest?: string } = {},
): NewDecision & { readonly leaf: NewLeaf } {
  const entry = makeNewDecision(fixture);
  return { ...entry, leaf: makeLeaf(`decision ${entry.decision.id}`) };
}

/** A HashReader over subtrees fetched from a store. */
export function hashReader(hashes: ReadonlyMap<string, Uint8Array>): HashReader {
  return {
    subtree(level, index) {
      const hash = hashes.get(`${level}/${index}`);
      if (hash === undefined) throw new Error(`subtree ${level}/${index} was not fetched`);
      return hash;
    },
  };
}

/** Every leaf of the store's log, read in pages. */
export async function readAllLeaves(store: Store, size: number): Promise<StoredLeaf[]> {
  const leaves: StoredLeaf[] = [];
  while (leaves.length < size) {
    const page = await store.audit.leaves(leaves.length, size);
    if (page.length === 0) throw new Error(`the log stops at ${leaves.length} leaves, its head says ${size}`);
    leaves.push(...page);
  }
  return leaves;
}

/**
 * Reads the whole log of `store` and checks it against a MemoryTree built from
 * its leaves: dense indices, every stored complete subtree, the root at every
 * size, and the tree head. Throws on the first difference; returns the tree.
 */
export async function verifyStoredTree(store: Store): Promise<MemoryTree> {
  const head = await store.audit.treeHead();
  const leaves = await readAllLeaves(store, head.size);
  const tree = new MemoryTree(nodeAuditCrypto);
  leaves.forEach((leaf, i) => {
    if (leaf.index !== i) throw new Error(`leaf ${i} is stored at index ${leaf.index}`);
    tree.appendLeaf(leaf.bytes);
  });
  if (!bytesEqual(tree.root(), head.rootHash)) throw new Error(`the tree head root differs from the leaves' at size ${head.size}`);
  const ids: SubtreeId[] = [];
  for (let level = 0; 2 ** level <= head.size; level++) {
    for (let index = 0; (index + 1) * 2 ** level <= head.size; index++) ids.push({ level, index });
  }
  const stored = new Map<string, Uint8Array>();
  for (let i = 0; i < ids.length; i += 1000) {
    for (const [key, hash] of await store.audit.subtrees(ids.slice(i, i + 1000))) stored.set(key, hash);
  }
  for (const { level, index } of ids) {
    if (!bytesEqual(stored.get(`${level}/${index}`) as Uint8Array, tree.subtree(level, index))) {
      throw new Error(`stored subtree ${level}/${index} differs from the leaves'`);
    }
  }
  const reader = hashReader(stored);
  for (let size = 0; size <= head.size; size++) {
    if (!bytesEqual(resolveNode(nodeAuditCrypto, rootPlan(size), reader), tree.root(size))) {
      throw new Error(`the root at size ${size} from stored subtrees differs from the leaves'`);
    }
  }
  return tree;
}

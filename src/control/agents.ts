import { GovernorError } from '../core/errors.js';
import type { Operator } from '../core/types.js';
import { eventLeaf } from '../audit/audit-leaf.js';
import type { AuditCrypto } from '../audit/pure/audit-crypto.js';
import type { TrustSpec } from '../policy/policy.js';
import type { ControlRecord, Store } from '../store/store.js';

/** Trust levels, lowest first: a new agent acts only under grants; production may act anywhere policy allows. */
export const TRUST_LEVELS = ['new', 'sandbox', 'staging', 'production'] as const;
export type TrustLevel = (typeof TRUST_LEVELS)[number];

/** What an agent's record says about how it has behaved since its last change of level. */
export interface AgentStats {
  readonly successes: number;
  readonly grantSuccesses: number;
  readonly failures: number;
  readonly denials: number;
  readonly breakerTrips: number;
}

/** An agent card: who owns the agent, what it is for, what it may touch, how far it is trusted. */
export interface AgentCard {
  readonly id: string;
  readonly owner: string;
  readonly purpose: string;
  readonly tools: readonly string[];
  readonly dataAccess: readonly string[];
  readonly autonomy: 'suggest' | 'supervised' | 'autonomous';
  readonly riskTier: 'low' | 'medium' | 'high';
  readonly trust: TrustLevel;
  readonly registeredBy: string;
  readonly registeredAt: string;
  /** Since the last change of trust level. */
  readonly stats: AgentStats;
  readonly trustChangedAt: string;
}

/** What registering a card takes. */
export type AgentCardRequest = Pick<AgentCard, 'id' | 'owner' | 'purpose'> & Partial<Pick<AgentCard, 'tools' | 'dataAccess' | 'autonomy' | 'riskTier' | 'trust'>>;

/** Agent cards and progressive trust. Cards are cached in memory for the decision path. */
export interface AgentRegistry {
  register(operator: Operator, request: AgentCardRequest): Promise<AgentCard>;
  /** The card, from memory (refreshed from the store). */
  card(id: string): AgentCard | undefined;
  /** The card, read from the store. */
  get(id: string): Promise<AgentCard | undefined>;
  list(): Promise<readonly AgentCard[]>;
  /** Counts an outcome or a denial against the agent's record (best effort, off the decision path). */
  observe(id: string, event: 'success' | 'grant-success' | 'failure' | 'denial'): void;
  /** Moves the agent one level up if the policy's criteria are met, on an operator's approval. */
  promote(operator: Operator, id: string, reason: string): Promise<AgentCard>;
  /** Moves the agent one level down (a breaker tripped). */
  demote(by: string, id: string, reason: string): Promise<AgentCard | undefined>;
  start(): Promise<void>;
  stop(): void;
}

const KIND = 'agent';
const ID = /^[A-Za-z0-9._:@-]{1,128}$/;
const ZERO: AgentStats = { successes: 0, grantSuccesses: 0, failures: 0, denials: 0, breakerTrips: 0 };

/** Creates the agent registry. Registration and every change of trust level are audit leaves. */
export function createAgentRegistry(options: {
  readonly store: Store;
  readonly clock: () => number;
  readonly crypto: AuditCrypto;
  readonly audit: { appended(count: number): void };
  readonly trust: () => TrustSpec;
  readonly refreshMs?: number;
  readonly onFault?: (err: unknown, context: string) => void;
}): AgentRegistry {
  const { store, crypto } = options;
  const cards = new Map<string, AgentCard>();
  const queues = new Map<string, Promise<unknown>>();
  let timer: ReturnType<typeof setInterval> | undefined;
  const iso = () => new Date(options.clock()).toISOString();

  /** Read-modify-write of a card with compare-and-set, retried on a concurrent change. */
  const change = async (id: string, apply: (card: AgentCard) => { card: AgentCard; leaf?: Record<string, unknown> } | undefined): Promise<AgentCard | undefined> => {
    for (let attempt = 0; attempt < 8; attempt++) {
      const record = await store.records.get(KIND, id);
      if (!record) return undefined;
      const next = apply(toCard(record));
      if (!next) return toCard(record);
      const at = iso();
      const leaf = next.leaf ? eventLeaf(crypto, { time: at, agent: id, ...next.leaf, type: String(next.leaf['type']) }) : undefined;
      const updated = await store.records.update({ kind: KIND, id, version: record.version, state: next.card.trust, body: next.card, at, ...(leaf ? { leaf } : {}) });
      if (!updated) continue;
      if (leaf) options.audit.appended(1);
      const card = toCard(updated);
      cards.set(id, card);
      return card;
    }
    throw new GovernorError('STORE_CONFLICT', `agent ${id} kept changing; try again`);
  };

  const refresh = async () => {
    for (const record of await store.records.list({ kind: KIND, limit: 1000, order: 'newest' })) cards.set(record.id, toCard(record));
  };

  return {
    async register(operator, request) {
      const card = checkCard(request, operator.name, iso());
      const leaf = eventLeaf(crypto, { type: 'agent.registered', time: card.registeredAt, agent: card.id, by: operator.name, owner: card.owner, purpose: card.purpose, trust: card.trust, tools: card.tools, autonomy: card.autonomy, riskTier: card.riskTier });
      const { created, record } = await store.records.insert({ kind: KIND, id: card.id, state: card.trust, body: card, at: card.registeredAt, leaf });
      if (!created) throw new GovernorError('CONFLICT', `agent ${card.id} is already registered (owner ${(record.body as AgentCard).owner})`);
      options.audit.appended(1);
      cards.set(card.id, card);
      return card;
    },

    card: (id) => cards.get(id),

    async get(id) {
      const record = await store.records.get(KIND, id);
      if (!record) return undefined;
      const card = toCard(record);
      cards.set(id, card);
      return card;
    },

    async list() {
      return (await store.records.list({ kind: KIND, limit: 1000 })).map(toCard);
    },

    observe(id, event) {
      if (!cards.has(id)) return;
      const field: keyof AgentStats = event === 'success' ? 'successes' : event === 'grant-success' ? 'grantSuccesses' : event === 'failure' ? 'failures' : 'denials';
      // One write at a time per agent, so counts are not lost to our own races.
      const previous = queues.get(id) ?? Promise.resolve();
      const next = previous
        .then(() => change(id, (card) => ({ card: { ...card, stats: { ...card.stats, [field]: card.stats[field] + 1, ...(event === 'grant-success' ? { successes: card.stats.successes + 1 } : {}) } } })))
        .catch((err: unknown) => options.onFault?.(err, `counting ${event} of agent ${id}`));
      queues.set(id, next);
      void next.finally(() => {
        if (queues.get(id) === next) queues.delete(id);
      });
    },

    async promote(operator, id, reason) {
      if (typeof reason !== 'string' || reason.trim() === '') throw new GovernorError('BAD_REQUEST', 'a promotion needs a reason');
      const updated = await change(id, (card) => {
        const level = TRUST_LEVELS.indexOf(card.trust);
        const to = TRUST_LEVELS[level + 1];
        if (to === undefined || to === 'new') throw new GovernorError('CONFLICT', `agent ${id} is already at ${card.trust}`);
        const criteria = options.trust().promotion[to];
        const missing: string[] = [];
        if (card.stats.grantSuccesses < criteria.successes) missing.push(`${criteria.successes - card.stats.grantSuccesses} more successful action(s) under grants (has ${card.stats.grantSuccesses} of ${criteria.successes})`);
        if (card.stats.denials > criteria.maxDenials) missing.push(`${card.stats.denials} denial(s) since ${card.trustChangedAt}, at most ${criteria.maxDenials} allowed`);
        if (card.stats.breakerTrips > 0) missing.push(`${card.stats.breakerTrips} circuit-breaker trip(s) since ${card.trustChangedAt}`);
        if (missing.length > 0) throw new GovernorError('CONFLICT', `agent ${id} cannot be promoted to ${to}: ${missing.join('; ')}`);
        const at = iso();
        return { card: { ...card, trust: to, stats: ZERO, trustChangedAt: at }, leaf: { type: 'agent.trust', from: card.trust, to, by: operator.name, reason, stats: card.stats } };
      });
      if (!updated) throw new GovernorError('NOT_FOUND', `no agent ${id}`);
      return updated;
    },

    async demote(by, id, reason) {
      return change(id, (card) => {
        const level = TRUST_LEVELS.indexOf(card.trust);
        const to = TRUST_LEVELS[Math.max(0, level - 1)] as TrustLevel;
        const at = iso();
        const stats = { ...ZERO, breakerTrips: card.stats.breakerTrips + 1 };
        return { card: { ...card, trust: to, stats, trustChangedAt: at }, leaf: { type: 'agent.trust', from: card.trust, to, by, reason } };
      });
    },

    async start() {
      await refresh();
      timer = setInterval(() => {
        refresh().catch((err: unknown) => options.onFault?.(err, 'refreshing agent cards'));
      }, options.refreshMs ?? 2000);
      timer.unref?.();
    },

    stop() {
      if (timer !== undefined) clearInterval(timer);
    },
  };
}

function checkCard(request: AgentCardRequest, by: string, at: string): AgentCard {
  const text = (name: string, value: unknown, max: number): string => {
    if (typeof value !== 'string' || value.trim() === '' || value.length > max) throw new GovernorError('BAD_REQUEST', `${name} must be 1 to ${max} characters`);
    return value.trim();
  };
  const list = (name: string, value: unknown): string[] => {
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.length > 256 || !value.every((v) => typeof v === 'string' && ID.test(v))) throw new GovernorError('BAD_REQUEST', `${name} must be a list of at most 256 identifiers`);
    return [...new Set(value as string[])];
  };
  if (typeof request.id !== 'string' || !ID.test(request.id)) throw new GovernorError('BAD_REQUEST', 'the agent id must be an identifier');
  const oneOf = <T extends string>(name: string, value: unknown, values: readonly T[], fallback: T): T => {
    if (value === undefined) return fallback;
    if (!values.includes(value as T)) throw new GovernorError('BAD_REQUEST', `${name} must be one of ${values.join(', ')}`);
    return value as T;
  };
  return {
    id: request.id,
    owner: text('owner', request.owner, 128),
    purpose: text('purpose', request.purpose, 1024),
    tools: list('tools', request.tools),
    dataAccess: list('dataAccess', request.dataAccess),
    autonomy: oneOf('autonomy', request.autonomy, ['suggest', 'supervised', 'autonomous'] as const, 'supervised'),
    riskTier: oneOf('riskTier', request.riskTier, ['low', 'medium', 'high'] as const, 'medium'),
    trust: oneOf('trust', request.trust, TRUST_LEVELS, 'new'),
    registeredBy: by,
    registeredAt: at,
    stats: ZERO,
    trustChangedAt: at,
  };
}

function toCard(record: ControlRecord): AgentCard {
  return { ...(record.body as AgentCard), trust: record.state as TrustLevel };
}

import type { Decision, DecisionState, Outcome } from '../core/types.js';

/**
 * The persistence port. Two adapters implement it (store/sqlite, store/postgres)
 * and one contract suite (store.contract.ts) holds both to the same behaviour.
 *
 * The store is split into repositories, one per concept, so later capabilities
 * (audit leaves, counters, kill state, change notification) add a repository
 * without touching the others.
 */
export interface Store {
  readonly engine: 'sqlite' | 'postgres';
  readonly decisions: DecisionRepository;
  /** Resolves when the store answers; rejects with STORE_UNAVAILABLE otherwise. */
  ping(): Promise<void>;
  /** Flushes pending writes and releases connections. Idempotent. */
  close(): Promise<void>;
}

/** What `DecisionRepository.insert` stores next to the decision. */
export interface NewDecision {
  readonly decision: Decision;
  /** Hex SHA-256 of the canonical action as the agent sent it; used to detect idempotency-key reuse. */
  readonly requestDigest: string;
  /** Scoped per agent: the same key from two agents is two decisions. */
  readonly idempotencyKey?: string;
}

/** The result of `DecisionRepository.insert`. */
export interface InsertDecisionResult {
  /** The stored decision: the new one, or the earlier one holding the same idempotency key. */
  readonly decision: Decision;
  readonly requestDigest: string;
  /** False when an earlier decision with the same (agent, idempotencyKey) was returned instead. */
  readonly created: boolean;
}

/** Listing filter for decisions, newest first. */
export interface ListDecisionsOptions {
  readonly state?: DecisionState;
  readonly agent?: string;
  /** At most this many (the adapter caps it at 1000). */
  readonly limit: number;
}

/** Durable decisions. Every write is durable when its promise resolves. */
export interface DecisionRepository {
  /**
   * Stores a new decision durably. Concurrent inserts are group-committed:
   * they share one transaction and one sync, never one per decision.
   * If the agent already has a decision under the same idempotency key, nothing
   * is written and that decision is returned with `created: false`.
   * Rejects with STORE_UNAVAILABLE when the write did not become durable.
   */
  insert(entry: NewDecision): Promise<InsertDecisionResult>;
  get(id: string): Promise<Decision | undefined>;
  /**
   * Records the agent's outcome once. Rejects with NOT_FOUND for an unknown id
   * and CONFLICT when an outcome is already recorded.
   */
  recordOutcome(id: string, outcome: Outcome): Promise<Decision>;
  /**
   * Compare-and-set of a decision's state (pending -> approved, ...). Returns the
   * updated decision, or undefined when the decision is not in state `from`.
   */
  transition(id: string, from: DecisionState, to: DecisionState): Promise<Decision | undefined>;
  list(options: ListDecisionsOptions): Promise<readonly Decision[]>;
}

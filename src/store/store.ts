import type { AuditRef, Decision, DecisionState, Outcome, Verdict } from '../core/types.js';

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
  readonly audit: AuditRepository;
  readonly records: RecordRepository;
  readonly budgets: BudgetRepository;
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
  /**
   * The audit leaf recording this decision. Appended in the same transaction as
   * the decision (only when the decision is created), and the stored decision's
   * `audit` is set to `{ index, leafHash }`.
   */
  readonly leaf?: NewLeaf;
  /**
   * Writes that must succeed in the same transaction, only when the decision
   * is created: aggregate budgets it draws on, and a compare-and-set of a
   * record (a grant's use). If one fails, nothing is written and the insert
   * rejects with CONDITION_FAILED (details say which).
   */
  readonly conditions?: DecisionConditions;
}

/** See `NewDecision.conditions`. */
export interface DecisionConditions {
  readonly budgets?: readonly BudgetDemand[];
  readonly update?: Omit<RecordUpdate, 'leaf'>;
}

/** An audit leaf: its exact bytes and its RFC 6962 leaf hash, SHA-256(0x00 ‖ bytes). */
export interface NewLeaf {
  readonly bytes: Uint8Array;
  readonly hash: Uint8Array;
}

/** A leaf as stored. */
export interface StoredLeaf {
  readonly index: number;
  readonly bytes: Uint8Array;
}

/** A signed checkpoint (C2SP signed note) for a tree size. */
export interface StoredCheckpoint {
  readonly size: number;
  readonly note: string;
  readonly createdAt: string;
}

/**
 * The audit log: an append-only sequence of leaves and the complete-subtree
 * hashes of their RFC 6962 tree, integrated in the same transaction that
 * appends the leaves, so any root or proof costs O(log n) reads.
 * Leaves and subtrees are never updated or deleted; where the engine allows,
 * the tables refuse it (triggers).
 */
export interface AuditRepository {
  /** Appends standalone leaves (outcomes, votes, kills, policy changes); group-committed and durable when resolved. */
  append(leaf: NewLeaf): Promise<{ readonly index: number }>;
  /** The current tree size and root hash (the empty-tree root for size 0). */
  treeHead(): Promise<{ readonly size: number; readonly rootHash: Uint8Array }>;
  /**
   * The stored hashes of complete subtrees, keyed `level/index`. Rejects with
   * AUDIT_INVALID when one is missing (a subtree beyond the tree, or tampering).
   */
  subtrees(ids: readonly { readonly level: number; readonly index: number }[]): Promise<ReadonlyMap<string, Uint8Array>>;
  /** Leaves with start <= index < end, in order (end is capped at the tree size; at most 1000 at once). */
  leaves(start: number, end: number): Promise<readonly StoredLeaf[]>;
  /** Stores a signed checkpoint; storing the same size twice keeps the first. */
  saveCheckpoint(checkpoint: { readonly size: number; readonly note: string }): Promise<void>;
  latestCheckpoint(): Promise<StoredCheckpoint | undefined>;
  /** Checkpoints with size > afterSize, oldest first, at most `limit` (capped at 1000). */
  checkpoints(afterSize: number, limit: number): Promise<readonly StoredCheckpoint[]>;
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
  /** Newest first (the default) or oldest first. */
  readonly order?: 'newest' | 'oldest';
}

/** What a state transition changes besides the state. */
export interface TransitionChange {
  /** The decision's verdict after the transition (a held action resolves to allow or deny). */
  readonly verdict?: Verdict;
  /**
   * How the decision left its state, stored as the decision's `resolution`;
   * with a leaf, its `audit` is set to the leaf's `{ index, leafHash }`.
   */
  readonly resolution?: object;
  /** The audit leaf recording the transition, appended in the same transaction, only when it happens. */
  readonly leaf?: NewLeaf;
}

/** Durable decisions. Every write is durable when its promise resolves. */
export interface DecisionRepository {
  /**
   * Stores a new decision durably. Concurrent inserts are group-committed:
   * they share one transaction and one sync, never one per decision.
   * If the agent already has a decision under the same idempotency key, nothing
   * is written and that decision is returned with `created: false`.
   * Rejects with STORE_UNAVAILABLE when the write did not become durable, and
   * with AUDIT_UNAVAILABLE when it carried a leaf (nothing is stored then);
   * BAD_REQUEST or PAYLOAD_TOO_LARGE for a leaf whose hash does not match its
   * bytes or that is too large.
   */
  insert(entry: NewDecision): Promise<InsertDecisionResult>;
  get(id: string): Promise<Decision | undefined>;
  /**
   * Records the agent's outcome once, with its audit leaf in the same
   * transaction (the stored outcome's `audit` is set to `{ index, leafHash }`).
   * Rejects with NOT_FOUND for an unknown id and CONFLICT when an outcome is
   * already recorded.
   */
  recordOutcome(id: string, outcome: Outcome, leaf?: NewLeaf): Promise<Decision>;
  /**
   * Compare-and-set of a decision's state (pending -> approved, ...). Returns the
   * updated decision, or undefined when the decision is not in state `from`
   * (nothing is written then, the leaf included).
   */
  transition(id: string, from: DecisionState, to: DecisionState, change?: TransitionChange): Promise<Decision | undefined>;
  list(options: ListDecisionsOptions): Promise<readonly Decision[]>;
}

/**
 * A control-plane record: a vote, a break-glass session, a kill switch, a
 * grant, an agent card, a pinned tool. One table holds every kind; each
 * write can carry the audit leaf that records it, appended in the same
 * transaction.
 */
export interface ControlRecord<B = unknown> {
  readonly kind: string;
  readonly id: string;
  /** The record this one belongs to (a vote's decision), for listing; null when none. */
  readonly parent: string | null;
  readonly state: string;
  /** 1 when inserted, one more per update: the compare-and-set token of `update`. */
  readonly version: number;
  readonly body: B;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Where the leaf of the record's latest write sits in the audit log. */
  readonly audit?: AuditRef;
}

/** A record to insert. */
export interface NewRecord {
  readonly kind: string;
  readonly id: string;
  readonly parent?: string;
  readonly state: string;
  readonly body: object;
  /** The time of the write (ISO 8601). */
  readonly at: string;
  readonly leaf?: NewLeaf;
}

/** A compare-and-set update of a record. */
export interface RecordUpdate {
  readonly kind: string;
  readonly id: string;
  /** The version the caller read; the update happens only if the record is still at it. */
  readonly version: number;
  readonly state: string;
  readonly body: object;
  readonly at: string;
  readonly leaf?: NewLeaf;
}

/** Listing filter for records. */
export interface ListRecordsOptions {
  readonly kind: string;
  readonly parent?: string;
  readonly state?: string;
  /** At most this many (capped at 1000). */
  readonly limit: number;
  /** Oldest first (the default) or newest first. */
  readonly order?: 'oldest' | 'newest';
}

/** Durable control-plane records. Every write is durable when its promise resolves. */
export interface RecordRepository {
  /**
   * Inserts a record unless (kind, id) exists: then nothing is written (the
   * leaf included) and the existing record is returned with `created: false`.
   */
  insert(record: NewRecord): Promise<{ readonly created: boolean; readonly record: ControlRecord }>;
  /** Compare-and-set on `version`; undefined (nothing written) when the record is missing or at another version. */
  update(change: RecordUpdate): Promise<ControlRecord | undefined>;
  get(kind: string, id: string): Promise<ControlRecord | undefined>;
  list(options: ListRecordsOptions): Promise<readonly ControlRecord[]>;
}

/** One budget an action draws on: `amount` of `key`, which may hold at most `max` within its window. */
export interface BudgetDemand {
  readonly key: string;
  readonly amount: number;
  readonly max: number;
  /** Usage at or after this time (ms since the epoch) counts: the start of the sliding window. */
  readonly since: number;
}

/** The outcome of a reservation. */
export type BudgetReservation =
  | { readonly ok: true }
  | { readonly ok: false; readonly key: string; readonly used: number; readonly amount: number; readonly max: number };

/**
 * Aggregate budgets across agents: usage recorded per key with its time. A
 * reservation checks every demand against the usage in its window and records
 * them all, or none: atomically, so no two concurrent reservations (on any
 * replica) can both take the last of a budget.
 */
export interface BudgetRepository {
  reserve(request: { readonly demands: readonly BudgetDemand[]; readonly decisionId: string; readonly at: number }): Promise<BudgetReservation>;
  /** Usage of `key` at or after `since`. */
  used(key: string, since: number): Promise<number>;
}

/**
 * Governor's domain types: what an agent asks for (Action), who asks (Principal),
 * what it would do (Impact) and what Governor answers (Verdict, Decision).
 * Pure data, no behaviour; every other layer speaks these.
 */

/** The four answers Governor gives. */
export type Verdict = 'allow' | 'modify' | 'pending' | 'deny';

/** Risk tiers: low proceeds, medium waits out a veto window, high waits for approval. */
export type Tier = 'low' | 'medium' | 'high';

/** A rule is either enforced or only evaluated and recorded (shadow). */
export type RuleMode = 'enforce' | 'shadow';

/** A resource an action touches; `fraction` or `count` says how much of it. */
export interface Target {
  readonly kind: string;
  readonly id: string;
  /** Share of the resource's replicas the action touches, in (0, 1]. */
  readonly fraction?: number;
  /** Number of replicas the action touches. */
  readonly count?: number;
}

/** The inverse of a reversible action: the tool call that undoes it. */
export interface Inverse {
  readonly tool: string;
  readonly params?: Readonly<Record<string, unknown>>;
}

/** What an agent asks to do, as it reaches `decide` after normalization. */
export interface Action {
  readonly tool: string;
  readonly operation?: string;
  readonly environment: string;
  readonly targets?: readonly Target[];
  readonly endpoints?: readonly string[];
  readonly params?: Readonly<Record<string, unknown>>;
  readonly sql?: string;
  readonly reversible?: boolean;
  readonly inverse?: Inverse;
  readonly taskId?: string;
  readonly intent?: string;
  readonly idempotencyKey?: string;
}

/** A verified identity: which agent, which running instance, in what role, session and task. */
export interface Principal {
  readonly agent: string;
  readonly instance: string;
  readonly role: string;
  readonly session: string;
  readonly task?: string;
}

/** A human operator, as a verified credential states: approvals, vetoes, kills and overrides come only from these. */
export interface Operator {
  readonly name: string;
  readonly groups: readonly string[];
}

/** One resource in the predicted blast radius. */
export interface ResourceImpact {
  readonly kind: string;
  readonly id: string;
  readonly environment: string;
  /** The resource is a target (direct) or depends on one (dependent). */
  readonly relation: 'target' | 'dependent';
  readonly replicas: number;
  readonly affectedReplicas: number;
  /** Share of the resource's replicas affected, in [0, 1]. */
  readonly fraction: number;
  /** The resource's share of its environment's traffic. */
  readonly traffic: number;
  /** traffic × fraction: the share of the environment's traffic exposed through this resource. */
  readonly trafficFraction: number;
}

/** An endpoint as Governor understood it. */
export interface EndpointImpact {
  readonly input: string;
  /** Canonical host (lower-case ASCII, no trailing dot; IPs in canonical text form), or null when unparseable. */
  readonly host: string | null;
  readonly port: number | null;
  /** The zone the endpoint falls in, or null: outside every zone. */
  readonly zone: string | null;
  /** The environment the zone belongs to, if any. */
  readonly zoneEnvironment: string | null;
}

/** The predicted consequences of an action. `known: false` counts as over every ceiling. */
export interface Impact {
  readonly known: boolean;
  /** Why the impact is unknown (targets not in the inventory, a missing target argument, ...). */
  readonly unknown: readonly string[];
  /** Replicas the action touches directly. */
  readonly replicas: number;
  /** Share of the environment's traffic served by the touched replicas. */
  readonly trafficFraction: number;
  /** Share of traffic exposed through direct targets and their transitive dependents. */
  readonly totalTrafficFraction: number;
  /** Services that depend, directly or transitively, on a target. */
  readonly dependents: readonly string[];
  readonly reversible: boolean;
  /** Why the action counts as irreversible, when it does. */
  readonly irreversibleBecause?: string;
  readonly inverse?: Inverse;
  readonly resources: readonly ResourceImpact[];
  readonly endpoints: readonly EndpointImpact[];
  /** What the action's SQL does, statement by statement; present when the action carries SQL. */
  readonly sql?: SqlImpact;
  /** Rows the action's SQL writes, as the planner estimates them; present only when the estimate is known. */
  readonly rows?: number;
  /** The largest share of one table the SQL writes, in [0, 1]; present only when the estimate is known. */
  readonly rowFraction?: number;
  /** The row estimate in detail; present when the action carries SQL. Unknown counts as over every row ceiling. */
  readonly rowEstimate?: RowEstimateImpact;
  /** How the action's schema or configuration change compares with its known-good baseline. */
  readonly drift?: DriftImpact;
}

/** The class of a SQL statement, least to most severe (docs/sql.md). */
export type SqlClass = 'read' | 'write' | 'ddl' | 'privilege' | 'destructive' | 'unanalyzable';

/** One statement of an action's SQL, as the analyzer classified it. */
export interface SqlStatementImpact {
  /** 0-based position in the script; messages say `statement <index + 1>`. */
  readonly index: number;
  readonly class: SqlClass;
  /** `DELETE`, `ALTER TABLE`, `DROP TABLE`, ... */
  readonly command: string;
  readonly tables: readonly string[];
  readonly reasons: readonly string[];
  readonly irreversible: boolean;
}

/**
 * The classification of an action's SQL. When it could not be analyzed
 * (`analyzed: false`), every flag is true and the class is `unanalyzable`:
 * unknown SQL is treated as the worst SQL (fail closed).
 */
export interface SqlImpact {
  readonly analyzed: boolean;
  /** Why the SQL was not analyzed, or did not parse. */
  readonly error?: string;
  /** The data store (inventory id) the SQL runs on, when the action names exactly one. */
  readonly database?: string;
  /** The most severe class of any statement. */
  readonly class: SqlClass;
  /** Some statement is destructive or unanalyzable. */
  readonly destructive: boolean;
  /** Some statement is not a read. */
  readonly writes: boolean;
  /** Some statement changes the schema (or is unanalyzable). */
  readonly ddl: boolean;
  readonly statements: readonly SqlStatementImpact[];
}

/** The planner's row estimate for one write (or read) of the SQL. */
export interface StatementRowsImpact {
  readonly index: number;
  readonly command: string;
  readonly table?: string;
  readonly rows: number;
  readonly tableRows?: number;
  readonly fraction?: number;
}

/** The row-level blast radius of an action's SQL. `known: false` counts as over every row ceiling. */
export interface RowEstimateImpact {
  readonly known: boolean;
  /** Why the estimate could not be made. */
  readonly reason?: string;
  readonly statements: readonly StatementRowsImpact[];
}

/** One difference from the baseline: a schema change (`column-dropped`, ...) or a configuration change (`key-removed`, ...). */
export interface DriftChangeImpact {
  readonly kind: string;
  readonly breaking: boolean;
  /** For humans: `drops column public.users.email (text, NOT NULL)`. */
  readonly message: string;
}

/**
 * How a schema or configuration change compares with the known-good
 * baseline. `drifting` is true when a change is breaking or when anything
 * could not be compared (`issues`: unparsable or dynamic SQL, no baseline):
 * what cannot be followed counts as drift (fail closed).
 */
export interface DriftImpact {
  readonly drifting: boolean;
  /** What was compared with: `database orders-db, baseline v3`, `configuration configs/checkout.yaml`. */
  readonly baselines: readonly string[];
  readonly changes: readonly DriftChangeImpact[];
  readonly issues: readonly string[];
}

/** The primitive kinds a rule may use. */
export type Primitive =
  | 'allow'
  | 'deny'
  | 'blast-radius'
  | 'network-boundary'
  | 'reversible-by-default'
  | 'identity-binding'
  | 'risk-tier'
  | 'break-glass'
  | 'budget'
  | 'kill-switch'
  | 'sandbox-grant'
  | 'circuit-breaker'
  | 'schema-drift'
  | 'destructive-sql'
  | 'freeze'
  | 'default';

/** Why a verdict is what it is. Every reason names its rule and primitive. */
export interface Reason {
  readonly rule: string;
  readonly primitive: Primitive;
  readonly message: string;
  /** The verdict this reason pushes towards. */
  readonly effect: RuleEffect;
  /** Shadow reasons were evaluated and recorded but not enforced. */
  readonly mode: RuleMode;
  /** Machine-readable code for deny reasons (e.g. UNKNOWN_IMPACT, ZONE_NOT_PERMITTED). */
  readonly code?: string;
  readonly tier?: Tier;
  /** For `modify`: the share of the requested action that fits under the ceiling. */
  readonly scale?: number;
}

/** What one rule says about one action. */
export type RuleEffect = 'allow' | 'deny' | 'modify' | 'approve';

/** Approvals a group must contribute to a quorum. */
export interface GroupQuorum {
  readonly group: string;
  readonly min: number;
}

/**
 * Who must approve a high-tier action: at least `approvals` distinct humans,
 * and every group's minimum met by distinct members (AND, never OR). A deny
 * threshold rejects the action outright.
 */
export interface Quorum {
  readonly approvals: number;
  readonly groups: readonly GroupQuorum[];
  /** `count` denials (from `groups`, when given, else from any eligible voter) reject the action. */
  readonly denyThreshold: { readonly count: number; readonly groups?: readonly string[] };
}

/** What an approval must state when the action is held. */
export interface ApprovalRequirement {
  readonly tier: Tier;
  /** The action cannot be undone; an approval must acknowledge it. */
  readonly irreversible: boolean;
  /** The rules that asked for the approval. */
  readonly rules: readonly string[];
  /** High tier: who must approve. */
  readonly quorum?: Quorum;
  /** High tier: how long the action may wait for its quorum, seconds; then it expires (deny). */
  readonly expirySeconds?: number;
  /** Medium tier: how long owners may veto, seconds; then it is released (allow). */
  readonly vetoWindowSeconds?: number;
  /** Owners of the affected resources, notified (from the inventory). */
  readonly owners?: readonly string[];
  /** Set when held: hex SHA-256 of the canonical action; a vote must name it. */
  readonly actionDigest?: string;
  /** Set when held: when a high-tier action expires. */
  readonly expiresAt?: string;
  /** Set when held: when a medium-tier action is released unless vetoed. */
  readonly releaseAt?: string;
}

/** How a held decision left `pending`. */
export interface Resolution {
  readonly state: DecisionState;
  readonly at: string;
  /** Why, in one sentence. */
  readonly reason: string;
  /** The humans whose votes decided it (empty for an expiry or a release). */
  readonly by: readonly string[];
  readonly audit?: AuditRef;
}

/** A break-glass session an action ran under. */
export interface BreakGlassUse {
  readonly id: string;
  readonly by: string;
  readonly reason: string;
  readonly expiresAt: string;
}

/** The pure result of evaluating a policy against one action. */
export interface Evaluation {
  readonly verdict: Verdict;
  /** The action as it may run: the input, or its bounded modification. */
  readonly action: Action;
  /** The impact of `action` (re-predicted after a modification). */
  readonly impact: Impact;
  /** Enforced reasons, in rule order. */
  readonly reasons: readonly Reason[];
  /** Reasons from shadow rules and the verdict enforcing them would have produced. */
  readonly shadow: { readonly verdict: Verdict; readonly reasons: readonly Reason[] };
  readonly approval?: ApprovalRequirement;
  /** Aggregate budgets the action draws on when it runs (reserved by the decision service). */
  readonly budgets?: readonly BudgetDraw[];
}

/** What an action draws on one aggregate budget. */
export interface BudgetDraw {
  readonly rule: string;
  /** The budget's key: rule, environment and, per service, the resource. */
  readonly key: string;
  /** Infinity when the impact is unknown: it never fits. */
  readonly amount: number;
  readonly max: number;
  readonly windowSeconds: number;
  /** What the budget covers, for messages: `trafficFraction of prod/service:checkout`. */
  readonly scope: string;
}

/** A recorded decision, as the API returns it. */
export interface Decision {
  readonly id: string;
  readonly verdict: Verdict;
  /** Where a decision stands now; a pending decision is later approved, denied or expired. */
  readonly state: DecisionState;
  readonly action: Action;
  /** The action as the agent asked for it, when a modification changed it. */
  readonly requestedAction?: Action;
  readonly impact: Impact;
  readonly reasons: readonly Reason[];
  readonly shadow: { readonly verdict: Verdict; readonly reasons: readonly Reason[] };
  readonly approval?: ApprovalRequirement;
  readonly principal: Principal;
  readonly policy: { readonly digest: string };
  readonly createdAt: string;
  /** Set when the decision ran under a break-glass override. */
  readonly breakGlass?: BreakGlassUse;
  /** The sandbox grant the action was admitted under (one use taken). */
  readonly grant?: string;
  /** How a held decision was resolved. */
  readonly resolution?: Resolution;
  readonly outcome?: Outcome;
  readonly audit?: AuditRef;
}

/** A decision's lifecycle state. */
export type DecisionState = 'allowed' | 'denied' | 'pending' | 'approved' | 'rejected' | 'expired' | 'cancelled';

/** What the agent reports after running (or not running) an action. */
export interface Outcome {
  readonly status: 'succeeded' | 'failed';
  readonly detail?: unknown;
  readonly at: string;
  readonly audit?: AuditRef;
}

/** Where a record sits in the audit log: its leaf index and hex RFC 6962 leaf hash. */
export interface AuditRef {
  readonly index: number;
  readonly leafHash: string;
}

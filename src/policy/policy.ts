import type { GroupQuorum, RuleMode, Tier } from '../core/types.js';

/** How the tool catalog describes one tool: the facts Governor trusts over the agent's word. */
export interface ToolSpec {
  readonly name: string;
  /** The operation the tool performs (restart, deploy, query, ...). Wins over the agent's claim. */
  readonly operation: string;
  readonly targets?: {
    /** Parameter holding the target id (a string or a list of strings). */
    readonly param: string;
    /** Kind of the targets (service, database). Default `service`. */
    readonly kind: string;
    /** Parameter holding the share of replicas, in (0, 1]. */
    readonly fractionParam?: string;
    /** Parameter holding the number of replicas. */
    readonly countParam?: string;
  };
  /** Parameter holding an endpoint URL (or a list of them). */
  readonly endpointsParam?: string;
  /** Only a tool the catalog marks reversible can be reversible. */
  readonly reversible: boolean;
  readonly inverse?: { readonly tool: string; readonly params?: Readonly<Record<string, unknown>> };
  /** The tool can run on a subset of replicas, so an oversized action can be bounded into a first step. */
  readonly batchable: boolean;
  /** Parameter holding the SQL the tool runs; it is analyzed as the action's `sql`. */
  readonly sqlParam?: string;
  /**
   * The tool snapshots what it changes before it runs (a reversible tool
   * only), so irreversible SQL does not make its actions irreversible.
   */
  readonly snapshot?: true;
  /** The tool changes nothing (reads logs, metrics): a change freeze does not apply to it. */
  readonly readOnly?: true;
  /** The tool replaces a configuration document, compared with its baseline before it runs. */
  readonly config?: ConfigToolSpec;
}

/** Where a configuration tool's document and its baseline are. */
export interface ConfigToolSpec {
  /** Parameter holding the proposed document: JSON or YAML text, or an object. */
  readonly documentParam: string;
  /** How text in `documentParam` is read. Default `yaml` (which also reads JSON). */
  readonly format: 'json' | 'yaml';
  /**
   * The document in force, a file relative to the policy file; `{target}`
   * is replaced by the action's one target id (`configs/{target}.yaml`).
   */
  readonly baseline: string;
  /** A JSON Schema (JSON or YAML file, relative to the policy file) the proposed document must satisfy; `{target}` as in `baseline`. */
  readonly schema?: string;
}

/** Static pre-filter of a rule, used to index rules by tool and environment. */
export interface RuleMatch {
  readonly tools?: readonly string[];
  readonly environments?: readonly string[];
}

/** Ceilings of a blast-radius bound. */
export interface BlastRadiusSpec {
  readonly maxTrafficFraction?: number;
  readonly maxTotalTrafficFraction?: number;
  readonly maxReplicas?: number;
  readonly maxFraction?: number;
  readonly maxDependents?: number;
  /** Most rows the action's SQL may write (planner estimate); an unknown estimate is over. */
  readonly maxRows?: number;
  /** Largest share of one table the action's SQL may write, in [0, 1]; an unknown estimate is over. */
  readonly maxTableFraction?: number;
  /** Over the ceiling: bound the action into a first step (batchable tools only) or deny. */
  readonly onExceed: 'modify' | 'deny';
}

/** Which zones the endpoints of an action may fall in. */
export interface NetworkBoundarySpec {
  /** Zones each role may reach. */
  readonly roles?: Readonly<Record<string, readonly string[]>>;
  /** Zones a role not listed in `roles` may reach (default: none when `roles` is given, any zone otherwise). */
  readonly defaultZones?: readonly string[];
  /** A zone that belongs to an environment may only be reached by actions in that environment. */
  readonly sameEnvironment: boolean;
}

/**
 * How a rule that escalates an action wants it approved; unset fields take
 * the defaults (one approval from any operator, one denial rejects, 1 h
 * expiry, 15 min veto window).
 */
export interface ApprovalSpec {
  readonly approvals?: number;
  readonly groups?: readonly GroupQuorum[];
  readonly denyThreshold?: { readonly count: number; readonly groups?: readonly string[] };
  readonly expirySeconds?: number;
  readonly vetoWindowSeconds?: number;
}

/** Who may open a break-glass override and for how long. */
export interface BreakGlassSpec {
  /** Operator groups allowed to open one. */
  readonly groups: readonly string[];
  /** Longest override, seconds. */
  readonly maxTtlSeconds: number;
}

/** Trust levels above `new` and what promotes an agent to each. */
export interface TrustSpec {
  /** Environments each level may act in without a grant (`*`: any). A `new` agent acts only under grants. */
  readonly levels: Readonly<Record<'sandbox' | 'staging' | 'production', readonly string[]>>;
  /** What an agent must show, since its last change of level, to be promoted to a level (plus an operator's approval). */
  readonly promotion: Readonly<Record<'sandbox' | 'staging' | 'production', { readonly successes: number; readonly maxDenials: number }>>;
  /** An agent without a card: denied (the default), or treated as production (migration only). */
  readonly unregistered: 'deny' | 'production';
}

/** How kill state is kept fresh across replicas. */
export interface KillSwitchSpec {
  readonly maxStalenessMs: number;
  readonly mode: 'strict' | 'best-effort';
}

/** Circuit breakers: thresholds per agent that lock it out until a human resets it. */
export interface BreakerSpec {
  readonly denials?: { readonly max: number; readonly windowSeconds: number };
  readonly failureRatio?: { readonly max: number; readonly minOutcomes: number; readonly windowSeconds: number };
  readonly loop?: { readonly max: number; readonly windowSeconds: number };
}

/** An aggregate budget: the sum over all agents of a metric of permitted actions on a scope, within a sliding window. */
export interface BudgetSpec {
  /** One budget per environment, or one per target service/database in it. */
  readonly scope: 'environment' | 'service';
  readonly metric: 'trafficFraction' | 'replicas' | 'rows';
  readonly max: number;
  readonly windowSeconds: number;
}

/** The statement classes a destructive-SQL rule acts on. */
export type FlaggedSqlClass = 'privilege' | 'destructive' | 'unanalyzable';

/** A change freeze: during [start, end), changes in scope are denied. */
export interface FreezeSpec {
  /** ISO 8601 with a time zone, inclusive. */
  readonly start: string;
  /** ISO 8601 with a time zone, exclusive. */
  readonly end: string;
  /** Empty: everything. Every list given must match: the environment, and a target among the data stores or services. */
  readonly scope: { readonly environments?: readonly string[]; readonly dataStores?: readonly string[]; readonly services?: readonly string[] };
  /** Why, for the denial: `Q4 code freeze`. */
  readonly reason: string;
}

/** The primitive of a rule and its settings. */
export type PrimitiveSpec =
  | { readonly kind: 'allow'; readonly message?: string }
  | { readonly kind: 'deny'; readonly message: string }
  | { readonly kind: 'blast-radius'; readonly spec: BlastRadiusSpec }
  | { readonly kind: 'network-boundary'; readonly spec: NetworkBoundarySpec }
  | { readonly kind: 'reversible-by-default'; readonly tier: Tier; readonly approval: ApprovalSpec }
  | { readonly kind: 'identity-binding'; readonly requireTask: boolean; readonly roles?: readonly string[]; readonly agents?: readonly string[] }
  | { readonly kind: 'risk-tier'; readonly tier: Tier; readonly message?: string; readonly approval: ApprovalSpec }
  | { readonly kind: 'budget'; readonly spec: BudgetSpec }
  | { readonly kind: 'schema-drift'; readonly onDrift: 'deny' | 'approve'; readonly tier: Tier; readonly approval: ApprovalSpec }
  | { readonly kind: 'destructive-sql'; readonly onDestructive: 'deny' | 'approve'; readonly classes: readonly FlaggedSqlClass[]; readonly tier: Tier; readonly approval: ApprovalSpec }
  | { readonly kind: 'freeze'; readonly spec: FreezeSpec };

/** One rule as written in the policy file. */
export interface RuleSpec {
  readonly id: string;
  readonly description?: string;
  readonly when?: string;
  readonly match?: RuleMatch;
  readonly mode: RuleMode;
  readonly primitive: PrimitiveSpec;
  /** 1-based line of the rule in its file, for messages. */
  readonly line?: number;
}

/** The policy file as written, validated. */
export interface PolicySpec {
  readonly version: 1;
  readonly name: string;
  /** Path of the inventory file, relative to the policy file. */
  readonly inventory: string;
  readonly defaults: {
    /** What happens when no allow rule matches. Default deny. */
    readonly verdict: 'allow' | 'deny';
    /** Per-environment override of `verdict`. */
    readonly environments: Readonly<Record<string, 'allow' | 'deny'>>;
  };
  readonly tools: Readonly<Record<string, ToolSpec>>;
  readonly rules: readonly RuleSpec[];
  readonly breakGlass: BreakGlassSpec;
  readonly trust: TrustSpec;
  readonly killSwitch: KillSwitchSpec;
  readonly breakers: BreakerSpec;
}

import type { Action, Impact, Principal, RuleEffect, Tier } from '../../core/types.js';
import type { ToolSpec } from '../policy.js';

/** What a primitive sees: the verified principal, the normalized action, its impact, its catalog entry and the time. */
export interface PrimitiveInput {
  readonly principal: Principal;
  readonly action: Action;
  readonly impact: Impact;
  readonly tool: ToolSpec | undefined;
  /** The decision's time, ms since the epoch, when the caller gave it (facts.now). */
  readonly now?: number;
}

/** What one primitive says about one action; undefined means it has nothing to say. */
export interface RuleOutcome {
  readonly effect: RuleEffect;
  readonly message: string;
  readonly code?: string;
  readonly tier?: Tier;
  /** For `modify`: the share of the action that fits under the ceiling, in (0, 1). */
  readonly scale?: number;
}

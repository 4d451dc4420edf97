import type { PrimitiveInput, RuleOutcome } from './rule-outcome.js';

/** Settings of an identity-binding rule. */
export interface IdentityBindingSpec {
  readonly requireTask: boolean;
  readonly roles?: readonly string[];
  readonly agents?: readonly string[];
}

/**
 * Identity binding: the verified principal must hold one of the listed roles or
 * agent ids, and, when required, be bound to a task. An action that claims a
 * task other than the one its credential is bound to is denied.
 */
export function evaluateIdentityBinding(spec: IdentityBindingSpec, { principal, action }: PrimitiveInput): RuleOutcome | undefined {
  if (spec.roles && !spec.roles.includes(principal.role)) {
    return { effect: 'deny', code: 'ROLE_NOT_PERMITTED', message: `role "${principal.role}" is not one of ${spec.roles.join(', ')}` };
  }
  if (spec.agents && !spec.agents.includes(principal.agent)) {
    return { effect: 'deny', code: 'AGENT_NOT_PERMITTED', message: `agent "${principal.agent}" is not one of ${spec.agents.join(', ')}` };
  }
  if (principal.task !== undefined && action.taskId !== undefined && principal.task !== action.taskId) {
    return { effect: 'deny', code: 'TASK_MISMATCH', message: `the action claims task "${action.taskId}" but the credential is bound to task "${principal.task}"` };
  }
  if (spec.requireTask && principal.task === undefined) {
    return { effect: 'deny', code: 'TASK_REQUIRED', message: 'the credential is not bound to a task; issue one with --task' };
  }
  return undefined;
}

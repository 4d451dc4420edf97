import type { Principal } from '../core/types.js';
import type { AgentClaims } from './claims.js';

/**
 * The Principal behind verified agent claims: `sub` is the agent, `inst` the instance,
 * `sid` the session; `task` is carried only when the credential is bound to one.
 */
export function principalFromClaims(claims: AgentClaims): Principal {
  const principal: Principal = { agent: claims.sub, instance: claims.inst, role: claims.role, session: claims.sid };
  return Object.freeze(claims.task === undefined ? principal : { ...principal, task: claims.task });
}

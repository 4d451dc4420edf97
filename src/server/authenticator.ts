import type { ParseResult } from '../core/errors.js';
import type { Principal } from '../core/types.js';

/** A human operator, as their credential states. */
export interface Operator {
  readonly name: string;
  readonly groups: readonly string[];
}

/**
 * How the HTTP adapter checks bearer tokens. Agents and operators are verified
 * by different issuers; a token of one kind is never accepted as the other.
 */
export interface Authenticator {
  agent(token: string): ParseResult<Principal>;
  operator(token: string): ParseResult<Operator>;
}

/** Issues agent credentials for `POST /v1/agents/:id/credentials`. */
export interface CredentialIssuer {
  issueAgent(request: { agent: string; role: string; ttl?: string; task?: string; instance?: string; session?: string }): {
    readonly token: string;
    readonly expiresAt: string;
    readonly principal: Principal;
  };
}

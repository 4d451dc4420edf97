import type { ParseResult } from '../core/errors.js';
import type { Operator, Principal } from '../core/types.js';

export type { Operator };

/**
 * How the HTTP adapter checks bearer tokens. Agents and operators are verified
 * by different issuers; a token of one kind is never accepted as the other.
 */
export interface Authenticator {
  /**
   * An agent credential. A credential a kill revoked is refused; with
   * `whileKilled`, one whose kill is still active is accepted, so the decision
   * endpoint can record the attempt as a KILLED deny.
   */
  agent(token: string, options?: { readonly whileKilled?: boolean }): ParseResult<Principal>;
  /** Governor's own operator credentials, or an OIDC provider's tokens the configuration trusts. */
  operator(token: string): ParseResult<Operator> | Promise<ParseResult<Operator>>;
}

/** Issues agent credentials for `POST /v1/agents/:id/credentials`. */
export interface CredentialIssuer {
  issueAgent(request: { agent: string; role: string; ttl?: string; task?: string; instance?: string; session?: string }): {
    readonly token: string;
    readonly expiresAt: string;
    readonly principal: Principal;
  };
}

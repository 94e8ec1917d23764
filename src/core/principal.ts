import type { RequestContext } from './context.js';

/**
 * Who made the request, as proved by an authenticate-phase plugin. Every authenticator produces this
 * one shape, so the stages after it never care how the caller proved itself.
 */
export interface Principal {
  /** Stable id, unique across methods (e.g. "key:kid123", "jwt:https://issuer|sub"). */
  readonly id: string;
  readonly kind: 'consumer' | 'user' | 'service' | 'anonymous';
  readonly subject: string;
  readonly consumer?: string;
  readonly tenant?: string;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  readonly claims: Readonly<Record<string, unknown>>;
  /** Id of the credential used (API key id, JWT jti, certificate fingerprint). Never the secret. */
  readonly credentialId?: string;
  /** Name of the authenticate plugin that produced it. */
  readonly method: string;
}

/** The principal of a request on a route that allows anonymous access and got no credential. */
export const ANONYMOUS: Principal = Object.freeze({
  id: 'anonymous',
  kind: 'anonymous',
  subject: 'anonymous',
  roles: Object.freeze([]) as readonly string[],
  scopes: Object.freeze([]) as readonly string[],
  claims: Object.freeze({}),
  method: 'anonymous',
});

/**
 * An authenticator found its credential and refused it. The reason is logged and counted, never
 * sent: every refusal answers the same 401 problem, so a caller learns nothing about which part
 * failed or whether a key or user exists.
 */
export interface AuthFailure {
  /** The authenticate plugin that refused. */
  readonly method: string;
  /** Internal reason for logs and metrics (e.g. "expired", "bad_signature", "revoked"). */
  readonly reason: string;
  /** The credential's public id when one could be read (API key id, signature keyid). Never a secret. */
  readonly credentialId?: string;
  /**
   * The WWW-Authenticate challenge for this refusal when the scheme needs a specific one
   * (RFC 6750 `Bearer error="invalid_token"`, RFC 9449 `DPoP error="use_dpop_nonce"`); otherwise
   * the route's challenges are sent.
   */
  readonly challenge?: string;
  /** Extra response headers the refusal needs (e.g. DPoP-Nonce). */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * The authenticator could not decide (JWKS or introspection endpoint down, store timeout):
   * still a refusal (fail closed), answered 503 AUTH_UNAVAILABLE instead of 401, and not counted
   * as a client's failed attempt.
   */
  readonly unavailable?: boolean;
}

/** The access token a token authenticator accepted, for binding checks (RFC 8705, RFC 9449). */
export interface PresentedToken {
  readonly raw: string;
  /** Authorization scheme it came with. */
  readonly scheme: 'Bearer' | 'DPoP';
  /** The token's confirmation claim, if any. */
  readonly cnf: Readonly<{ jkt?: string; 'x5t#S256'?: string }> | undefined;
}

/**
 * What the authenticate stages tell each other on the request context.
 *
 * Contract for every authenticator (authenticate phase, priority between 100 and 900):
 *  - if `ctx.principal` or `ctx.authFailure` is already set, do nothing (the first credential
 *    found decides; a request is never authenticated twice);
 *  - no credential of its kind on the request: do nothing;
 *  - a credential that proves the caller: set `ctx.principal`;
 *  - a credential that does not: set `ctx.authFailure` and return (never throw for a bad
 *    credential: the `authentication` stage answers, counts and logs uniformly).
 * An exception thrown from an authenticator is a bug and answers 500 (fail closed).
 */
/**
 * The auth-lockout stage hands this to the authentication gate on the context: the gate reports
 * every refusal and asks, for a credential that passed, whether its id is locked.
 */
export interface AuthAttempts {
  /** Counts a refusal (per client IP and per credential id); never throws. */
  failed(ctx: RequestContext, failure: AuthFailure): void;
  /** Seconds until `credentialId` may be used again, 0 if it is not locked. */
  credentialLockedFor(credentialId: string): number | Promise<number>;
}

export interface AuthnFields {
  authFailure: AuthFailure | undefined;
  token: PresentedToken | undefined;
}

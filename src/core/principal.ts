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

import { Type } from '@sinclair/typebox';
import { deepFreeze } from '../config/load.js';
import type { PresentedToken, Principal } from '../core/principal.js';

/**
 * Verified token claims (a JWT payload, an introspection answer) → checks and the Principal.
 * Shared by the jwt and introspection authenticators so both map identities the same way.
 */

export type Claims = Record<string, unknown>;

/**
 * A claim read by name or dotted path ("realm_access.roles"). A claim whose own name contains
 * dots (namespaced claims such as "https://example.com/roles") is found by its full name first.
 * Only own properties are followed, so "constructor" or "__proto__" never reach a prototype.
 */
export function compileClaimPath(path: string): (claims: Claims) => unknown {
  if (path === '') return () => undefined;
  const segments = path.split('.');
  return (claims) => {
    if (Object.hasOwn(claims, path)) return claims[path];
    if (segments.length === 1) return undefined;
    let cur: unknown = claims;
    for (const seg of segments) {
      if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, seg))
        return undefined;
      cur = (cur as Claims)[seg];
    }
    return cur;
  };
}

/** A space-separated string or an array of strings → the strings (others dropped). */
export function stringList(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter((s) => s !== '');
  if (Array.isArray(value)) return value.filter((s): s is string => typeof s === 'string' && s !== '');
  return [];
}

/** Settings schema of the claim → principal mapping (jwt and introspection use the same). */
export const claimMappingProperties = {
  rolesClaim: Type.String({
    description:
      'Claim with the roles (dotted path, e.g. "realm_access.roles"; a claim whose name contains dots is found by its full name first): an array of strings or a space-separated string.',
    default: 'roles',
  }),
  scopesClaim: Type.String({
    description:
      'Claim with the scopes: a space-separated string ("scope", RFC 8693) or an array of strings. With "scope", an "scp" array is read when "scope" is absent.',
    default: 'scope',
  }),
  consumerClaim: Type.String({
    description:
      'Claim naming the client (the principal\'s consumer). With "client_id", "azp" is read when it is absent.',
    default: 'client_id',
  }),
  tenantClaim: Type.String({
    description: 'Claim naming the tenant (dotted path); empty: no tenant.',
    default: '',
  }),
};

export interface ClaimMappingSettings {
  /** Claim (dotted path) with the roles: an array of strings or a space-separated string. */
  readonly rolesClaim: string;
  /** Claim (dotted path) with the scopes; the default "scope" falls back to "scp". */
  readonly scopesClaim: string;
  /** Claim naming the client (consumer); the default "client_id" falls back to "azp". */
  readonly consumerClaim: string;
  /** Claim naming the tenant; '' = none. */
  readonly tenantClaim: string;
}

export interface ClaimMapper {
  /**
   * The principal for verified claims, or undefined when they name no subject (no `sub`, and no
   * client id to stand for it). `claims` is frozen deeply here: the principal is cached and shared.
   */
  toPrincipal(
    method: string,
    issuer: string,
    claims: Claims,
    credentialId: string | undefined,
  ): Principal | undefined;
}

const asString = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export function compileClaimMapping(settings: ClaimMappingSettings): ClaimMapper {
  const roles = compileClaimPath(settings.rolesClaim);
  const scopes = compileClaimPath(settings.scopesClaim);
  const scpFallback = settings.scopesClaim === 'scope' ? compileClaimPath('scp') : undefined;
  const consumer = compileClaimPath(settings.consumerClaim);
  const azpFallback = settings.consumerClaim === 'client_id' ? compileClaimPath('azp') : undefined;
  const tenant = compileClaimPath(settings.tenantClaim);
  return {
    toPrincipal(method, issuer, claims, credentialId) {
      const clientId = asString(claims.client_id) ?? asString(claims.azp);
      const sub = asString(claims.sub);
      const subject = sub ?? clientId;
      if (subject === undefined) return undefined;
      let scopeValue = scopes(claims);
      if (scopeValue === undefined && scpFallback) scopeValue = scpFallback(claims);
      let consumerValue = asString(consumer(claims));
      if (consumerValue === undefined && azpFallback) consumerValue = asString(azpFallback(claims));
      const tenantValue = asString(tenant(claims));
      const principal: Principal = {
        id: `${method}:${issuer}|${subject}`,
        // A client acting for itself (client-credentials grant): its subject is its client id.
        kind: sub === undefined || sub === clientId ? 'service' : 'user',
        subject,
        ...(consumerValue !== undefined ? { consumer: consumerValue } : {}),
        ...(tenantValue !== undefined ? { tenant: tenantValue } : {}),
        roles: Object.freeze(stringList(roles(claims))),
        scopes: Object.freeze(stringList(scopeValue)),
        claims: deepFreeze(claims),
        ...(credentialId !== undefined ? { credentialId } : {}),
        method,
      };
      return Object.freeze(principal);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Checks

export interface TimeRules {
  /** Allowed clock difference, seconds. */
  readonly skewSeconds: number;
  /** With iat: tokens older than this are refused; 0 = off. */
  readonly maxAgeSeconds: number;
  /** `exp` must be present. */
  readonly requireExp: boolean;
}

const isNumericDate = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** exp / nbf / iat against `now` (seconds); the refusal reason or undefined. */
export function checkTimes(claims: Claims, now: number, rules: TimeRules): string | undefined {
  const { exp, nbf, iat } = claims;
  const skew = rules.skewSeconds;
  if (exp === undefined) {
    if (rules.requireExp) return 'missing_exp';
  } else if (!isNumericDate(exp)) return 'malformed_claims';
  else if (now >= exp + skew) return 'expired';
  if (nbf !== undefined) {
    if (!isNumericDate(nbf)) return 'malformed_claims';
    if (now + skew < nbf) return 'not_yet_valid';
  }
  if (iat !== undefined) {
    if (!isNumericDate(iat)) return 'malformed_claims';
    if (now + skew < iat) return 'not_yet_valid';
  }
  if (rules.maxAgeSeconds > 0) {
    if (iat === undefined) return 'missing_iat';
    if (now - (iat as number) > rules.maxAgeSeconds + skew) return 'too_old';
  }
  return undefined;
}

/** Until when (epoch ms) the time checks keep passing; Infinity without exp and max age. */
export function validUntilMs(claims: Claims, rules: TimeRules): number {
  let until = Number.POSITIVE_INFINITY;
  if (isNumericDate(claims.exp)) until = claims.exp + rules.skewSeconds;
  if (rules.maxAgeSeconds > 0 && isNumericDate(claims.iat))
    until = Math.min(until, claims.iat + rules.maxAgeSeconds + rules.skewSeconds);
  return until * 1000;
}

/** `aud` (a string or an array of strings) names at least one of `allowed`. */
export function audienceMatches(aud: unknown, allowed: ReadonlySet<string>): boolean {
  if (typeof aud === 'string') return allowed.has(aud);
  if (Array.isArray(aud)) {
    for (const a of aud) if (typeof a === 'string' && allowed.has(a)) return true;
  }
  return false;
}

export type ClaimValue = string | number | boolean;
export type RequiredClaims = Readonly<Record<string, ClaimValue | readonly ClaimValue[]>>;

/**
 * Required claims: each claim (name or dotted path) must have the expected value, or one of the
 * allowed values when an array is given. A claim that is itself an array passes when one of its
 * elements does. Returns the reason of the first failure, or undefined.
 */
export function compileRequiredClaims(required: RequiredClaims): (claims: Claims) => string | undefined {
  const checks = Object.entries(required).map(([name, expected]) => {
    const read = compileClaimPath(name);
    const allowed = new Set<unknown>(Array.isArray(expected) ? expected : [expected]);
    return (claims: Claims): boolean => {
      const value = read(claims);
      if (Array.isArray(value)) return value.some((v) => allowed.has(v));
      return allowed.has(value);
    };
  });
  if (checks.length === 0) return () => undefined;
  return (claims) => {
    for (const check of checks) if (!check(claims)) return 'claim_mismatch';
    return undefined;
  };
}

/** The confirmation claim (RFC 7800) of a token, reduced to the members binding checks use. */
export function confirmationOf(cnf: unknown): PresentedToken['cnf'] {
  if (cnf === undefined) return undefined;
  // A confirmation claim we cannot check must not turn a bound token into a bearer token: a
  // malformed one, a non-string jkt / x5t#S256, or another method (jwk, kid, jku, jwe) alone gets
  // an empty thumbprint, which token-binding refuses (fail closed).
  if (cnf === null || typeof cnf !== 'object' || Array.isArray(cnf)) return Object.freeze({ jkt: '' });
  const c = cnf as Claims;
  const jkt = c.jkt === undefined ? undefined : typeof c.jkt === 'string' ? c.jkt : '';
  const rawX5t = c['x5t#S256'];
  const x5t = rawX5t === undefined ? undefined : typeof rawX5t === 'string' ? rawX5t : '';
  if (jkt === undefined && x5t === undefined)
    return Object.keys(c).length === 0 ? Object.freeze({}) : Object.freeze({ jkt: '' });
  return Object.freeze({
    ...(jkt !== undefined ? { jkt } : {}),
    ...(x5t !== undefined ? { 'x5t#S256': x5t } : {}),
  });
}

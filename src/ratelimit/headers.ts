import type { Outcome } from './types.js';

/**
 * The RateLimit and RateLimit-Policy fields of draft-ietf-httpapi-ratelimit-headers (revisions
 * 09–11): Structured Field lists whose members are a quoted policy name with parameters.
 *
 *   RateLimit-Policy: "burst";q=20;w=1, "daily";q=1000;w=86400
 *   RateLimit: "burst";r=19;t=1, "daily";r=999;t=41327
 *
 * q is the quota, w the window in seconds, r the units left, t the seconds until the quota is
 * whole again (rounded up). A concurrency limit is a policy with qu="concurrent-requests" and no
 * window. No partition key (pk) is sent: it would tell the client how it is being keyed.
 */

/** An sf-string: names are validated by the config schema, this only keeps the field well formed. */
function sfString(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The policy member of one limit (fixed for a route: computed once at start-up). */
export function policyItem(name: string, quota: number, windowSeconds?: number, unit?: string): string {
  let item = `${sfString(name)};q=${quota}`;
  if (windowSeconds !== undefined) item += `;w=${windowSeconds}`;
  if (unit !== undefined) item += `;qu=${sfString(unit)}`;
  return item;
}

/** The RateLimit member for one outcome. */
export function rateItem(o: Outcome): string {
  return `${sfString(o.name)};r=${Math.max(0, Math.floor(o.remaining))};t=${Math.max(0, Math.ceil(o.resetMs / 1000))}`;
}

/** The RateLimit member of a concurrency limit: slots free now, no reset time. */
export function concurrencyItem(name: string, free: number): string {
  return `${sfString(name)};r=${Math.max(0, free)}`;
}

/** Retry-After in whole seconds (at least 1: "0" would invite an immediate retry that fails too). */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

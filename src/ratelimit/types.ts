/**
 * Rate limiting shapes shared by the rate-limit stage and its backends (memory, Redis). A backend
 * keeps counters; the stage decides which counters a request charges. Times are epoch milliseconds.
 */

/** GCRA: token-bucket semantics (a burst, then a steady rate) computed from one timestamp. */
export interface GcraLimit {
  readonly kind: 'gcra';
  /** Policy name, shown in the RateLimit headers. */
  readonly name: string;
  /** Requests (cost units) per window. */
  readonly limit: number;
  readonly windowMs: number;
  /** Requests admitted at once from a full bucket (the bucket's size). */
  readonly burst: number;
}

/** An exact sliding window: at most `limit` units in any `windowMs` interval (a log of admissions). */
export interface SlidingWindowLimit {
  readonly kind: 'sliding-window';
  readonly name: string;
  readonly limit: number;
  readonly windowMs: number;
}

/** A quota per calendar day or month (UTC), reset at the period's end. */
export interface QuotaLimit {
  readonly kind: 'quota';
  readonly name: string;
  readonly limit: number;
  readonly period: 'day' | 'month';
}

export type Limit = GcraLimit | SlidingWindowLimit | QuotaLimit;

/** One counter a request charges: the limit, the counter's key and the cost. */
export interface Charge {
  /** Counter key without the backend's prefix; the limit's name is added by the backend. */
  readonly key: string;
  readonly limit: Limit;
  /** Units this request costs (>= 1). */
  readonly cost: number;
}

/** The state of one limit after a charge (or a refusal). */
export interface Outcome {
  readonly name: string;
  /** The limit's quota (RateLimit-Policy q). */
  readonly quota: number;
  /** The limit's window in seconds (RateLimit-Policy w). */
  readonly windowSeconds: number;
  /** Units left after this request (RateLimit r). */
  readonly remaining: number;
  /** Milliseconds until the counter is back to its full quota (RateLimit t, rounded up to seconds). */
  readonly resetMs: number;
  readonly allowed: boolean;
  /** Refused: milliseconds until this request would be admitted (0 when allowed). */
  readonly retryAfterMs: number;
}

export interface Decision {
  /** True only when every limit admitted the request; then every counter was charged. */
  readonly allowed: boolean;
  /** One per charge, in the charges' order. */
  readonly outcomes: readonly Outcome[];
  /** Refused: milliseconds until every refusing limit would admit it. */
  readonly retryAfterMs: number;
}

/** In-flight requests per key (concurrency limits). */
export interface Lease {
  readonly acquired: boolean;
  /** In-flight requests for the key, this one included when acquired. */
  readonly inFlight: number;
}

/**
 * Where counters live. `charge` is all or nothing: a request is admitted only when every limit
 * admits it, and only then is each counter charged (a refused request charges nothing). `now`
 * is the caller's clock for the memory backend and tests; the Redis backend uses the Redis
 * server's clock unless told otherwise, so nodes with skewed clocks still agree.
 */
export interface LimitBackend {
  readonly kind: 'memory' | 'redis';
  charge(charges: readonly Charge[], now: number): Promise<Decision>;
  /** Takes one in-flight slot for `key` if fewer than `limit` are held; a slot lapses after `leaseMs`. */
  acquire(key: string, limit: number, leaseMs: number, token: string, now: number): Promise<Lease>;
  release(key: string, token: string): Promise<void>;
  close(): Promise<void>;
}

/** Window of a limit in milliseconds (a quota's current calendar period). */
export function windowOf(limit: Limit, now: number): { start: number; end: number } {
  if (limit.kind !== 'quota') return { start: now - limit.windowMs, end: now };
  const d = new Date(now);
  if (limit.period === 'day') {
    const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    return { start, end: start + 86_400_000 };
  }
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  return { start, end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}

/** The window a client is told (RateLimit-Policy w), in seconds. */
export function windowSecondsOf(limit: Limit): number {
  if (limit.kind !== 'quota') return Math.ceil(limit.windowMs / 1000);
  return limit.period === 'day' ? 86_400 : 2_592_000;
}

/** Quota a client is told (RateLimit-Policy q): a GCRA bucket's quota is its rate per window. */
export function quotaOf(limit: Limit): number {
  return limit.limit;
}

import type {
  Charge,
  Decision,
  GcraLimit,
  Lease,
  LimitBackend,
  Outcome,
  QuotaLimit,
  SlidingWindowLimit,
} from './types.js';
import { windowOf, windowSecondsOf } from './types.js';

/** 2^53: below it every integer is an exact double. */
const EXACT = 9_007_199_254_740_992;

interface GcraState {
  kind: 'gcra';
  /** Theoretical arrival time (when the bucket would be full again) in units of 1/k ms: an integer. */
  tat: number;
  /** The unit the TAT is counted in (see gcraUnits); a limit whose unit changed converts it. */
  k: number;
}

/** A GCRA limit in integer units of 1/k ms: the emission interval, the tolerance, and now. */
export interface GcraUnits {
  k: number;
  interval: number;
  tolerance: number;
  now: number;
}

/**
 * GCRA arithmetic in exact integers. With k = limit / gcd(limit, windowMs), the interval
 * (windowMs / limit ms) is windowMs / gcd units of 1/k ms, the tolerance interval * burst units,
 * and now * k an integer: no rounding at all (7 per second admits exactly 7 at any epoch time),
 * as long as every value stays below 2^53 (k up to ~5000 at today's epoch times). Beyond that, or
 * for non-integer parameters, microseconds (k = 1000) with the interval rounded to a whole
 * microsecond: the one inexact case, where an admission may come early or late by less than 1 µs
 * per request of the burst. The Redis script computes the same, operation for operation.
 */
export function gcraUnits(l: GcraLimit, cost: number, now: number): GcraUnits {
  const { limit, windowMs, burst } = l;
  if (
    Number.isInteger(limit) &&
    Number.isInteger(windowMs) &&
    Number.isInteger(burst) &&
    limit > 0 &&
    windowMs > 0
  ) {
    let a = limit;
    let b = windowMs;
    while (b !== 0) {
      const r = a % b;
      a = b;
      b = r;
    }
    const k = limit / a;
    if ((now + ((burst + cost + 1) * windowMs) / limit) * k < EXACT) {
      const interval = windowMs / a;
      return { k, interval, tolerance: interval * burst, now: Math.floor(now * k) };
    }
  }
  const interval = Math.max(1, Math.floor((windowMs * 1000) / limit + 0.5));
  return { k: 1000, interval, tolerance: Math.floor(interval * burst + 0.5), now: Math.floor(now * 1000) };
}

/** Admissions still inside the window, oldest first (parallel arrays from `head`). */
interface WindowState {
  kind: 'sliding-window';
  windowMs: number;
  ts: number[];
  cost: number[];
  head: number;
  total: number;
}

interface QuotaState {
  kind: 'quota';
  end: number;
  used: number;
}

type State = GcraState | WindowState | QuotaState;

/** What a charge would do, decided before anything is written (all or nothing). */
interface Plan {
  outcome: Outcome;
  /** The outcome when the request is refused by another limit: nothing charged here. */
  uncharged: Outcome;
  apply: () => void;
}

export interface MemoryStats {
  /** Counters dropped while still holding state because `maxKeys` was reached. */
  evictions: number;
  keys: number;
  /** Keys holding in-flight leases (lapsed ones included until pruned). */
  leaseKeys: number;
}

/**
 * Counters in this process: exact for one node. Bounded by `maxKeys` counters: idle ones (a full
 * bucket, an empty window, a past period) are dropped first; when every counter is busy the least
 * recently used is dropped and counted in `stats.evictions` (its client starts afresh: the one way
 * this backend can admit more than a limit, and it says so). A counter of another kind under a
 * limit's name (a policy reused with another algorithm) is dropped and starts afresh.
 *
 * GCRA counts in exact integers of 1/k ms (see gcraUnits): exact at any realistic clock, except
 * for parameters whose k would overflow 2^53, counted in microseconds (an admission early or late
 * by under 1 µs per request). Outcomes are in milliseconds (resetMs and retryAfterMs may be
 * fractional).
 *
 * In-flight leases: a key's lease map goes away with its last lease, and each acquire prunes the
 * lapsed leases of a few other keys (a round-robin sweep), so keys whose leases lapsed unreleased
 * do not pile up.
 */
export class MemoryLimitBackend implements LimitBackend {
  readonly kind = 'memory' as const;
  private readonly states = new Map<string, State>();
  private readonly leases = new Map<string, Map<string, number>>();
  /** The lease sweep's place in `leases` (a live iterator: it sees later insertions and deletions). */
  private sweep: Iterator<[string, Map<string, number>]> | undefined;
  readonly stats: MemoryStats = { evictions: 0, keys: 0, leaseKeys: 0 };

  constructor(private readonly maxKeys = 100_000) {}

  async charge(charges: readonly Charge[], now: number): Promise<Decision> {
    return this.chargeNow(charges, now);
  }

  /** The synchronous form (the Redis backend's local fallback calls it on the hot path). */
  chargeNow(charges: readonly Charge[], now: number): Decision {
    const plans: Plan[] = [];
    let allowed = true;
    let retryAfterMs = 0;
    for (const c of charges) {
      const id = `${c.key}\u0000${c.limit.name}`;
      const p =
        c.limit.kind === 'gcra'
          ? this.gcra(id, c.limit, c.cost, now)
          : c.limit.kind === 'sliding-window'
            ? this.window(id, c.limit, c.cost, now)
            : this.quota(id, c.limit, c.cost, now);
      plans.push(p);
      if (!p.outcome.allowed) {
        allowed = false;
        retryAfterMs = Math.max(retryAfterMs, p.outcome.retryAfterMs);
      }
    }
    if (allowed) for (const p of plans) p.apply();
    return {
      allowed,
      retryAfterMs,
      outcomes: plans.map((p) => (allowed || !p.outcome.allowed ? p.outcome : p.uncharged)),
    };
  }

  private get<S extends State>(id: string, kind: S['kind'], fresh: () => S): S {
    const s = this.states.get(id);
    if (s !== undefined && s.kind !== kind) {
      // Another algorithm's counter under this name: stale, start afresh.
      this.states.delete(id);
      this.stats.keys = this.states.size;
    } else if (s !== undefined) {
      // Most recently used last: eviction takes the first.
      this.states.delete(id);
      this.states.set(id, s);
      return s as S;
    }
    return fresh();
  }

  private put(id: string, s: State, now: number): void {
    if (!this.states.has(id) && this.states.size >= this.maxKeys) this.makeRoom(now);
    this.states.set(id, s);
    this.stats.keys = this.states.size;
  }

  private makeRoom(now: number): void {
    // Idle counters first (a bounded look at the oldest), then the least recently used.
    let looked = 0;
    for (const [id, s] of this.states) {
      if (++looked > 64) break;
      if (idle(s, now)) this.states.delete(id);
    }
    if (this.states.size < this.maxKeys) return;
    const oldest = this.states.keys().next();
    if (!oldest.done) {
      this.states.delete(oldest.value);
      this.stats.evictions++;
    }
  }

  private gcra(id: string, l: GcraLimit, cost: number, at: number): Plan {
    const { k, interval, tolerance, now } = gcraUnits(l, cost, at);
    const s = this.get<GcraState>(id, 'gcra', () => ({ kind: 'gcra', tat: now, k }));
    // A TAT counted in another unit (the limit changed): converted, rounded later.
    const stored = s.k === k ? s.tat : Math.ceil((s.tat * k) / s.k);
    const base = Math.max(stored, now);
    const tat = base + Math.ceil(cost * interval);
    const over = tat - now - tolerance;
    const w = windowSecondsOf(l);
    const uncharged: Outcome = {
      name: l.name,
      quota: l.limit,
      windowSeconds: w,
      remaining: Math.max(0, Math.floor((tolerance - (base - now)) / interval)),
      resetMs: (base - now) / k,
      allowed: over <= 0,
      retryAfterMs: 0,
    };
    if (over > 0)
      return { outcome: { ...uncharged, retryAfterMs: over / k }, uncharged, apply: () => undefined };
    return {
      uncharged,
      outcome: {
        name: l.name,
        quota: l.limit,
        windowSeconds: w,
        remaining: Math.max(0, Math.floor((tolerance - (tat - now)) / interval)),
        resetMs: (tat - now) / k,
        allowed: true,
        retryAfterMs: 0,
      },
      apply: () => {
        s.tat = tat;
        s.k = k;
        this.put(id, s, at);
      },
    };
  }

  private window(id: string, l: SlidingWindowLimit, cost: number, now: number): Plan {
    const s = this.get<WindowState>(id, 'sliding-window', () => ({
      kind: 'sliding-window',
      windowMs: l.windowMs,
      ts: [],
      cost: [],
      head: 0,
      total: 0,
    }));
    s.windowMs = l.windowMs;
    expire(s, now - l.windowMs);
    const w = windowSecondsOf(l);
    const newest = s.ts.length > s.head ? (s.ts[s.ts.length - 1] as number) : now - l.windowMs;
    const uncharged: Outcome = {
      name: l.name,
      quota: l.limit,
      windowSeconds: w,
      remaining: Math.max(0, l.limit - s.total),
      resetMs: Math.max(0, newest + l.windowMs - now),
      allowed: s.total + cost <= l.limit,
      retryAfterMs: 0,
    };
    if (s.total + cost > l.limit) {
      // Wait until enough of the oldest admissions leave the window.
      let need = s.total + cost - l.limit;
      let at = now;
      for (let k = s.head; k < s.ts.length && need > 0; k++) {
        need -= s.cost[k] as number;
        at = (s.ts[k] as number) + l.windowMs;
      }
      return {
        // A cost above the whole limit never fits: say the window, not forever.
        outcome: { ...uncharged, retryAfterMs: cost > l.limit ? l.windowMs : Math.max(1, at - now) },
        uncharged,
        apply: () => undefined,
      };
    }
    return {
      uncharged,
      outcome: {
        name: l.name,
        quota: l.limit,
        windowSeconds: w,
        remaining: l.limit - s.total - cost,
        resetMs: l.windowMs,
        allowed: true,
        retryAfterMs: 0,
      },
      apply: () => {
        s.ts.push(now);
        s.cost.push(cost);
        s.total += cost;
        this.put(id, s, now);
      },
    };
  }

  private quota(id: string, l: QuotaLimit, cost: number, now: number): Plan {
    const { end } = windowOf(l, now);
    const s = this.get<QuotaState>(id, 'quota', () => ({ kind: 'quota', end, used: 0 }));
    if (s.end !== end) {
      s.end = end;
      s.used = 0;
    }
    const w = windowSecondsOf(l);
    const allowed = s.used + cost <= l.limit;
    const uncharged: Outcome = {
      name: l.name,
      quota: l.limit,
      windowSeconds: w,
      remaining: Math.max(0, l.limit - s.used),
      resetMs: end - now,
      allowed,
      retryAfterMs: 0,
    };
    return {
      uncharged,
      outcome: {
        ...uncharged,
        remaining: Math.max(0, l.limit - s.used - (allowed ? cost : 0)),
        retryAfterMs: allowed ? 0 : end - now,
      },
      apply: () => {
        s.used += cost;
        this.put(id, s, now);
      },
    };
  }

  async acquire(key: string, limit: number, leaseMs: number, token: string, now: number): Promise<Lease> {
    return this.acquireNow(key, limit, leaseMs, token, now);
  }

  acquireNow(key: string, limit: number, leaseMs: number, token: string, now: number): Lease {
    this.pruneLeases(now);
    let held = this.leases.get(key);
    if (held !== undefined) {
      for (const [t, until] of held) if (until <= now) held.delete(t);
      if (held.size === 0) {
        this.leases.delete(key);
        held = undefined;
      }
    }
    const inFlight = held?.size ?? 0;
    if (inFlight >= limit) {
      this.stats.leaseKeys = this.leases.size;
      return { acquired: false, inFlight };
    }
    if (held === undefined) {
      held = new Map();
      this.leases.set(key, held);
    }
    held.set(token, now + leaseMs);
    this.stats.leaseKeys = this.leases.size;
    return { acquired: true, inFlight: held.size };
  }

  /**
   * Drops the lapsed leases of the next few keys in a round-robin sweep (and the keys left empty).
   * Each acquire adds at most one key and looks at several, so keys whose every lease lapsed go
   * within a pass over the map: it stays bounded by the keys with live leases, roughly.
   */
  private pruneLeases(now: number): void {
    for (let n = 0; n < LEASE_SWEEP; n++) {
      this.sweep ??= this.leases.entries();
      const next = this.sweep.next();
      if (next.done) {
        this.sweep = undefined;
        if (this.leases.size === 0 || n > 0) return;
        continue;
      }
      const [key, held] = next.value;
      for (const [t, until] of held) if (until <= now) held.delete(t);
      if (held.size === 0) this.leases.delete(key);
    }
  }

  async release(key: string, token: string): Promise<void> {
    this.releaseNow(key, token);
  }

  releaseNow(key: string, token: string): void {
    const held = this.leases.get(key);
    if (held === undefined) return;
    held.delete(token);
    if (held.size === 0) this.leases.delete(key);
    this.stats.leaseKeys = this.leases.size;
  }

  async close(): Promise<void> {
    this.states.clear();
    this.leases.clear();
    this.sweep = undefined;
    this.stats.keys = 0;
    this.stats.leaseKeys = 0;
  }
}

/** Other keys whose lapsed leases each acquire prunes. */
const LEASE_SWEEP = 4;

function expire(s: WindowState, after: number): void {
  while (s.head < s.ts.length && (s.ts[s.head] as number) <= after) {
    s.total -= s.cost[s.head] as number;
    s.head++;
  }
  if (s.head > 64 && s.head * 2 > s.ts.length) {
    s.ts = s.ts.slice(s.head);
    s.cost = s.cost.slice(s.head);
    s.head = 0;
  }
}

function idle(s: State, now: number): boolean {
  if (s.kind === 'gcra') return s.tat <= Math.floor(now * s.k);
  if (s.kind === 'quota') return s.end <= now;
  const last = s.ts.length > s.head ? (s.ts[s.ts.length - 1] as number) : Number.NEGATIVE_INFINITY;
  return s.total === 0 || last <= now - s.windowMs;
}

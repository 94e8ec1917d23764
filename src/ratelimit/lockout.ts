import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { addressGroup } from '../core/ip.js';
import { whenReady } from '../stores/redis.js';
import type { Stores } from '../stores/types.js';

/**
 * Failure counters with a block that doubles on each repeat, shared by the auth-lockout stage
 * (failed authentications) and the login-throttle stage (failed sign-ins).
 */

/** One limit: `threshold` failures within `windowMs` block the key, longer on each repeat. */
export interface LockoutRule {
  readonly threshold: number;
  readonly windowMs: number;
  /** The first block; each repeat doubles it. */
  readonly lockoutMs: number;
  readonly maxLockoutMs: number;
  /**
   * Failures that start the next block while an earlier one is remembered (default: `threshold`).
   * 1 is a backoff: once blocked, every further failure blocks again, twice as long.
   */
  readonly repeatThreshold?: number;
  /** How long after a block ends it is remembered (its repeat doubles); default `maxLockoutMs`. */
  readonly memoryMs?: number;
}

/** Failure counters and blocks. Memory: per node. Redis: shared by every node. */
export interface LockoutCounters {
  /** Counts a failure; returns the block length in ms it started (0 if none). */
  fail(key: string, rule: LockoutRule): number | Promise<number>;
  /** ms until `key` is unblocked, 0 if it is not blocked. */
  blockedFor(key: string): number | Promise<number>;
  /** Forgets `key`: its count, its block and its repeats (a success). */
  clear(key: string): void | Promise<void>;
  close(): void;
}

interface Entry {
  count: number;
  windowEnds: number;
  blockedUntil: number;
  /** Consecutive blocks; the next one lasts lockoutMs × 2^strikes (capped). */
  strikes: number;
  strikesExpire: number;
}

/** Backoff: each repeated block doubles, up to the cap. */
export function lockoutLength(rule: LockoutRule, strikes: number): number {
  return Math.min(rule.maxLockoutMs, rule.lockoutMs * 2 ** Math.min(strikes, 30));
}

export function memoryCounters(maxEntries: number, now: () => number = Date.now): LockoutCounters {
  const entries = new Map<string, Entry>();
  return {
    fail(key, rule) {
      const t = now();
      let e = entries.get(key);
      if (e === undefined) {
        if (entries.size >= maxEntries) {
          // Bounded: make room by dropping what no longer matters first — entries with no block in
          // force, no strikes to remember and an ended window; then plain counts (least recently
          // failed first: a failure moves its entry to the end). Active blocks and remembered
          // strikes go last, so a flood of junk keys cannot wipe a block.
          const want = Math.ceil(maxEntries / 10);
          let dropped = 0;
          for (const pass of [0, 1, 2]) {
            for (const [k, old] of entries) {
              if (dropped >= want) break;
              const blocked = old.blockedUntil > t;
              const remembered = old.strikes > 0 && old.strikesExpire > t;
              const counting = old.windowEnds > t && old.count > 0;
              if (pass === 0 && (blocked || remembered || counting)) continue;
              if (pass === 1 && (blocked || remembered)) continue;
              entries.delete(k);
              dropped++;
            }
            if (dropped >= want) break;
          }
        }
        e = { count: 0, windowEnds: t + rule.windowMs, blockedUntil: 0, strikes: 0, strikesExpire: 0 };
        entries.set(key, e);
      } else {
        // Least recently failed last: eviction takes the front.
        entries.delete(key);
        entries.set(key, e);
      }
      if (t >= e.windowEnds) {
        e.count = 0;
        e.windowEnds = t + rule.windowMs;
      }
      if (t >= e.strikesExpire) e.strikes = 0;
      e.count++;
      if (e.count < (e.strikes > 0 ? (rule.repeatThreshold ?? rule.threshold) : rule.threshold)) return 0;
      const length = lockoutLength(rule, e.strikes);
      e.strikes++;
      e.strikesExpire = t + length + (rule.memoryMs ?? rule.maxLockoutMs);
      e.blockedUntil = t + length;
      e.count = 0;
      return length;
    },
    blockedFor(key) {
      const e = entries.get(key);
      if (e === undefined) return 0;
      const left = e.blockedUntil - now();
      return Math.max(left, 0);
    },
    clear(key) {
      entries.delete(key);
    },
    close() {
      entries.clear();
    },
  };
}

// KEYS: count, strikes, block. ARGV: threshold, windowMs, lockoutMs, maxLockoutMs, repeatThreshold,
// memoryMs. Atomic: a failure, the decision to block and the block's length happen in one step on
// every node.
const FAIL_SCRIPT = `
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local s = tonumber(redis.call('GET', KEYS[2]) or '0')
local threshold = tonumber(ARGV[1])
if s > 0 then threshold = tonumber(ARGV[5]) end
if c < threshold then return 0 end
redis.call('DEL', KEYS[1])
local len = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * (2 ^ math.min(s, 30)))
redis.call('SET', KEYS[2], s + 1, 'PX', math.floor(len + tonumber(ARGV[6])))
redis.call('SET', KEYS[3], '1', 'PX', math.floor(len))
return math.floor(len)
`;

/** Lua reads numbers from strings: "Infinity" (a threshold that never blocks) would read as nil. */
function finite(n: number): number {
  return Number.isFinite(n) ? n : Number.MAX_SAFE_INTEGER;
}

/**
 * Shared counters. If Redis fails, the local counters take over for that call (and the error is
 * reported once per minute): lockout is a protection, not an authentication decision, so it never
 * turns a Redis outage into refusing every caller.
 */
export function redisCounters(
  redis: Redis,
  prefix: string,
  fallback: LockoutCounters,
  onError: (err: unknown) => void,
): LockoutCounters {
  const k = (key: string, kind: string) => `${prefix}lockout:{${key}}:${kind}`;
  return {
    async fail(key, rule) {
      try {
        const len = (await redis.eval(
          FAIL_SCRIPT,
          3,
          k(key, 'count'),
          k(key, 'strikes'),
          k(key, 'block'),
          finite(rule.threshold),
          rule.windowMs,
          rule.lockoutMs,
          rule.maxLockoutMs,
          finite(rule.repeatThreshold ?? rule.threshold),
          rule.memoryMs ?? rule.maxLockoutMs,
        )) as number;
        return Number(len);
      } catch (err) {
        onError(err);
        return fallback.fail(key, rule);
      }
    },
    async blockedFor(key) {
      try {
        const ttl = await redis.pttl(k(key, 'block'));
        return Math.max(ttl, 0);
      } catch (err) {
        onError(err);
        return fallback.blockedFor(key);
      }
    },
    async clear(key) {
      // The node's own counters may hold failures counted while Redis was away: forget those too.
      fallback.clear(key);
      try {
        await redis.del(k(key, 'count'), k(key, 'strikes'), k(key, 'block'));
      } catch (err) {
        onError(err);
      }
    },
    close() {
      fallback.close();
    },
  };
}

/**
 * The address a lockout counts: IPv4 as is (also when IPv4-mapped), IPv6 by its /64 — one host
 * usually holds a whole /64, so counting single IPv6 addresses would let it rotate past the limit.
 */
export function lockoutAddress(ip: string): string {
  return addressGroup(ip, 64);
}

/**
 * The counters a stage uses: memory, or Redis with this node's memory counters as the fallback.
 * The first Redis connection is waited for at start-up (bounded), so the first failures are not
 * counted only locally for being early; a Redis failure is logged at most once a minute.
 */
export async function openLockoutCounters(options: {
  readonly backend: 'memory' | 'redis';
  readonly stores: Stores;
  readonly logger: Logger;
  readonly maxEntries: number;
  readonly now?: () => number;
  /** Who logs ("auth-lockout", "login-throttle") and extra log fields. */
  readonly label: string;
  readonly fields?: Record<string, unknown>;
}): Promise<LockoutCounters> {
  const local = memoryCounters(options.maxEntries, options.now);
  if (options.backend !== 'redis') return local;
  const redis = options.stores.redis();
  await whenReady(redis, 2000).catch(() => undefined);
  let lastError = 0;
  return redisCounters(redis, options.stores.redisKeyPrefix, local, (err) => {
    if (Date.now() - lastError < 60_000) return;
    lastError = Date.now();
    options.logger.error(
      { err: (err as Error).message, ...options.fields },
      `${options.label}: Redis failed; using this node’s own counters`,
    );
  });
}

import type { Redis } from 'ioredis';

/** One limit: `threshold` failures within `windowMs` block the key, longer on each repeat. */
export interface LockoutRule {
  readonly threshold: number;
  readonly windowMs: number;
  readonly lockoutMs: number;
  readonly maxLockoutMs: number;
}

/** Failure counters and blocks. Memory: per node. Redis: shared by every node. */
export interface LockoutCounters {
  /** Counts a failure; returns the block length in ms it started (0 if none). */
  fail(key: string, rule: LockoutRule): number | Promise<number>;
  /** ms until `key` is unblocked, 0 if it is not blocked. */
  blockedFor(key: string): number | Promise<number>;
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
          // Bounded: drop the oldest tenth (Map keeps insertion order).
          let drop = Math.ceil(maxEntries / 10);
          for (const k of entries.keys()) {
            entries.delete(k);
            if (--drop === 0) break;
          }
        }
        e = { count: 0, windowEnds: t + rule.windowMs, blockedUntil: 0, strikes: 0, strikesExpire: 0 };
        entries.set(key, e);
      }
      if (t >= e.windowEnds) {
        e.count = 0;
        e.windowEnds = t + rule.windowMs;
      }
      if (t >= e.strikesExpire) e.strikes = 0;
      e.count++;
      if (e.count < rule.threshold) return 0;
      const length = lockoutLength(rule, e.strikes);
      e.strikes++;
      e.strikesExpire = t + length + rule.maxLockoutMs;
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
    close() {
      entries.clear();
    },
  };
}

// KEYS: count, strikes, block. ARGV: threshold, windowMs, lockoutMs, maxLockoutMs.
// Atomic: a failure, the decision to block and the block's length happen in one step on every node.
const FAIL_SCRIPT = `
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if c < tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
local s = tonumber(redis.call('GET', KEYS[2]) or '0')
local len = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * (2 ^ math.min(s, 30)))
redis.call('SET', KEYS[2], s + 1, 'PX', math.floor(len + tonumber(ARGV[4])))
redis.call('SET', KEYS[3], '1', 'PX', math.floor(len))
return math.floor(len)
`;

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
          rule.threshold,
          rule.windowMs,
          rule.lockoutMs,
          rule.maxLockoutMs,
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
  if (!ip.includes(':')) return ip;
  const lower = ip.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice(7);
  const zone = lower.indexOf('%');
  const bare = zone === -1 ? lower : lower.slice(0, zone);
  const [head = '', tail] = bare.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

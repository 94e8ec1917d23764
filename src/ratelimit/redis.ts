import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { luaScript, whenReady } from '../stores/redis.js';
import type { Charge, Decision, Lease, LimitBackend, Outcome } from './types.js';
import { quotaOf, windowSecondsOf } from './types.js';

export interface RedisLimitOptions {
  /** Every key starts with it (stores.redis.keyPrefix). */
  readonly keyPrefix: string;
  /** Whose clock decides: the Redis server's (default: nodes with skewed clocks agree) or the caller's `now`. */
  readonly clock: 'redis' | 'local';
  /**
   * Wait up to this long for the connection's first readiness before a command (whenReady);
   * unset, a command sent before the connection is up is refused at once (the caller falls back).
   */
  readonly readyTimeoutMs?: number;
}

/**
 * Shared Lua prelude: the clock, number formatting and the calendar.
 *
 * Numbers go to Redis and back as strings formatted with %.17g: Lua's tostring keeps only 14
 * digits and a Lua number returned to Redis is truncated to an integer, so a fractional TAT or
 * retry delay would otherwise drift from the memory backend's doubles.
 */
const PRELUDE = `
local function num(x) return string.format('%.17g', x) end
local function ms(x) return string.format('%.0f', math.max(1, math.ceil(x))) end
local function clock(mode, given)
  if mode == 'redis' then
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return tonumber(given)
end
`;

/**
 * One decision for every charge of a request, atomically.
 *
 * KEYS: one counter per charge. In Redis Cluster every key of one script must hash to one slot:
 * the keys carry the charge's key as a hash tag ({key}), so the charges of one call must share
 * charge.key (the rate-limit stage charges one client's counters per call). A single Redis
 * node does not care.
 * ARGV: clock mode, caller's now, a unique admission id, then five values per charge:
 *   kind ('gcra' | 'sliding-window' | 'quota'), limit, windowMs or period, burst, cost.
 * Returns: allowed (1/0), retryAfterMs, then per charge allowed, remaining, resetMs, retryAfterMs.
 *
 * Every key read before any write, every write only when all admit (a refused request charges
 * nothing; the only writes before the decision drop expired state: window admissions that left
 * the window, a counter of another kind); each write sets the key's expiry so idle counters vanish:
 *   gcra           string "tat:k": the TAT as an integer count of 1/k ms (exact GCRA arithmetic, see
 *                  gcraUnits in memory.ts; a TAT in another unit is converted), expires at the TAT;
 *   sliding-window sorted set of admissions "time:id:index:cost" scored by time, expires a window
 *                  after the newest admission;
 *   quota          hash {end, used} of the current calendar period (UTC), expires at the end;
 *                  one key holding its period's end rather than a key per period, since with
 *                  the server's clock the period is only known inside the script and a script's
 *                  keys are declared before it runs.
 * A window's decision reads what left the window, the newest admission and the running total (a
 * member scored +inf), plus the oldest few admissions when it must compute a wait: never the whole set.
 * The arithmetic mirrors MemoryLimitBackend operation for operation (same doubles): GCRA in exact
 * integers of 1/k ms, k = limit / gcd(limit, windowMs), as long as the values stay below 2^53;
 * otherwise in microseconds with the interval rounded to a whole microsecond (the only inexact case:
 * an admission early or late by under 1 µs per request). Outcomes are in ms (may be fractional).
 */
const CHARGE = luaScript(`${PRELUDE}
local DAY = 86400000
local EXACT = 9007199254740992

-- GCRA in integer units of 1/k ms (MemoryLimitBackend's gcraUnits, operation for operation):
-- k = limit / gcd(limit, windowMs) while every value stays below 2^53, else microseconds with the
-- interval rounded to a whole microsecond. Returns k, interval, tolerance, now (all in units).
local function gcra_units(limit, windowMs, burst, cost, now)
  if limit == math.floor(limit) and windowMs == math.floor(windowMs) and burst == math.floor(burst)
    and limit > 0 and windowMs > 0 then
    local x, y = limit, windowMs
    while y ~= 0 do x, y = y, x % y end
    local k = limit / x
    if (now + ((burst + cost + 1) * windowMs) / limit) * k < EXACT then
      local interval = windowMs / x
      return k, interval, interval * burst, math.floor(now * k)
    end
  end
  local interval = math.max(1, math.floor((windowMs * 1000) / limit + 0.5))
  return 1000, interval, math.floor(interval * burst + 0.5), math.floor(now * 1000)
end

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m + 9
  if m > 2 then mp = m - 3 end
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- A counter of another kind under the same name (a policy whose kind changed on a reload) is
-- stale: it is dropped, and the new limit starts afresh instead of failing with WRONGTYPE until
-- the old key expires (up to a month for a quota).
local function own(key, want)
  local t = redis.call('TYPE', key)
  if type(t) == 'table' then t = t.ok end
  if t ~= 'none' and t ~= want then redis.call('DEL', key) end
end

local function period_end(period, now)
  local days = math.floor(now / DAY)
  if period == 'day' then return (days + 1) * DAY end
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp + 3
  if mp >= 10 then m = mp - 9 end
  if m <= 2 then y = y + 1 end
  if m == 12 then y = y + 1; m = 1 else m = m + 1 end
  return days_from_civil(y, m, 1) * DAY
end

local now = clock(ARGV[1], ARGV[2])
local id = ARGV[3]
local plans = {}
local allowed = true
local retry = 0

for i = 1, #KEYS do
  local key = KEYS[i]
  local a = 3 + (i - 1) * 5
  local kind = ARGV[a + 1]
  local limit = tonumber(ARGV[a + 2])
  local cost = tonumber(ARGV[a + 5])
  local p
  if kind == 'gcra' then
    local k, interval, tolerance, nowk = gcra_units(limit, tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), cost, now)
    own(key, 'string')
    local stored = redis.call('GET', key)
    local tat0 = nowk
    if stored then
      -- "tat:k"; a bare number is a TAT in ms (k = 1).
      local t, sk = string.match(stored, '^([^:]+):([^:]+)$')
      local told, kold = tonumber(t), tonumber(sk)
      if not t then told, kold = tonumber(stored), 1 end
      if told and kold then
        if kold == k then tat0 = told else tat0 = math.ceil(told * k / kold) end
      end
    end
    local base = math.max(tat0, nowk)
    local tat = base + math.ceil(cost * interval)
    local over = tat - nowk - tolerance
    local u = {
      ok = over <= 0,
      remaining = math.max(0, math.floor((tolerance - (base - nowk)) / interval)),
      reset = (base - nowk) / k,
      retry = 0,
    }
    if over > 0 then
      p = { u = u, o = { ok = false, remaining = u.remaining, reset = u.reset, retry = over / k } }
    else
      p = {
        u = u,
        o = {
          ok = true,
          remaining = math.max(0, math.floor((tolerance - (tat - nowk)) / interval)),
          reset = (tat - nowk) / k,
          retry = 0,
        },
        write = function() redis.call('SET', key, num(tat) .. ':' .. num(k), 'PX', ms((tat - nowk) / k)) end,
      }
    end
  elseif kind == 'sliding-window' then
    local windowMs = tonumber(ARGV[a + 3])
    own(key, 'zset')
    -- The running total lives in the set as one member "#t:<total>" scored +inf (never expired by
    -- time): a decision reads only what left the window, the newest admission, and — when it must
    -- wait — the oldest few; never the whole window (a refused flood must not cost O(limit)).
    local cutoff = now - windowMs
    local tm = redis.call('ZRANGEBYSCORE', key, '+inf', '+inf')
    local total = 0
    local totalMember = tm[1]
    if totalMember then total = tonumber(string.sub(totalMember, 4)) or 0 end
    local expired = redis.call('ZRANGEBYSCORE', key, '-inf', num(cutoff))
    if #expired > 0 then
      for k = 1, #expired do
        total = total - (tonumber(string.match(expired[k], ':([^:]+)$')) or 0)
      end
      redis.call('ZREMRANGEBYSCORE', key, '-inf', num(cutoff))
    end
    if total < 0 then total = 0 end
    local newest = cutoff
    local last = redis.call('ZREVRANGEBYSCORE', key, '(+inf', '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if #last > 0 then newest = tonumber(last[2]) end
    local function setTotal(t)
      if totalMember then redis.call('ZREM', key, totalMember) end
      if t > 0 then redis.call('ZADD', key, '+inf', '#t:' .. num(t)) end
      totalMember = nil
    end
    if #expired > 0 then setTotal(total) end
    local u = {
      ok = total + cost <= limit,
      remaining = math.max(0, limit - total),
      reset = math.max(0, newest + windowMs - now),
      retry = 0,
    }
    if total + cost > limit then
      -- Wait until enough of the oldest admissions leave the window: read them a few at a time.
      local need = total + cost - limit
      local at = now
      local offset = 0
      while need > 0 do
        local chunk = redis.call('ZRANGE', key, offset, offset + 15, 'WITHSCORES')
        if #chunk == 0 then break end
        for k = 1, #chunk, 2 do
          if need <= 0 then break end
          if string.sub(chunk[k], 1, 3) ~= '#t:' then
            need = need - (tonumber(string.match(chunk[k], ':([^:]+)$')) or 0)
            at = tonumber(chunk[k + 1]) + windowMs
          end
        end
        offset = offset + 16
      end
      local r = math.max(1, at - now)
      if cost > limit then r = windowMs end
      p = { u = u, o = { ok = false, remaining = u.remaining, reset = u.reset, retry = r } }
    else
      local newTotal = total + cost
      p = {
        u = u,
        o = { ok = true, remaining = limit - total - cost, reset = windowMs, retry = 0 },
        write = function()
          redis.call('ZADD', key, num(now), num(now) .. ':' .. id .. ':' .. i .. ':' .. num(cost))
          local cur = redis.call('ZRANGEBYSCORE', key, '+inf', '+inf')
          if cur[1] then redis.call('ZREM', key, cur[1]) end
          redis.call('ZADD', key, '+inf', '#t:' .. num(newTotal))
          redis.call('PEXPIRE', key, ms(windowMs))
        end,
      }
    end
  else
    local e = period_end(ARGV[a + 3], now)
    local used = 0
    own(key, 'hash')
    local stored = redis.call('HMGET', key, 'end', 'used')
    if stored[1] and tonumber(stored[1]) == e then used = tonumber(stored[2]) or 0 end
    local ok = used + cost <= limit
    local u = { ok = ok, remaining = math.max(0, limit - used), reset = e - now, retry = 0 }
    local o = { ok = ok, remaining = math.max(0, limit - used), reset = e - now, retry = 0 }
    if ok then
      o.remaining = math.max(0, limit - used - cost)
    else
      o.retry = e - now
    end
    p = {
      u = u,
      o = o,
      write = function()
        redis.call('HSET', key, 'end', num(e), 'used', num(used + cost))
        redis.call('PEXPIRE', key, ms(e - now))
      end,
    }
  end
  plans[i] = p
  if not p.o.ok then
    allowed = false
    retry = math.max(retry, p.o.retry)
  end
end

local out = { allowed and '1' or '0', num(retry) }
for i = 1, #plans do
  local p = plans[i]
  if allowed and p.write then p.write() end
  local o = p.o
  if not allowed and p.o.ok then o = p.u end
  out[#out + 1] = o.ok and '1' or '0'
  out[#out + 1] = num(o.remaining)
  out[#out + 1] = num(o.reset)
  out[#out + 1] = num(o.retry)
end
return out
`);

/**
 * One in-flight slot: a sorted set of tokens scored by lease expiry.
 * KEYS: the lease set. ARGV: clock mode, caller's now, limit, leaseMs, token.
 * Returns: acquired (1/0), in-flight count.
 */
const ACQUIRE = luaScript(`${PRELUDE}
local key = KEYS[1]
local now = clock(ARGV[1], ARGV[2])
local limit = tonumber(ARGV[3])
local leaseMs = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', num(now))
local held = redis.call('ZCARD', key)
if held >= limit then return { 0, held } end
redis.call('ZADD', key, num(now + leaseMs), ARGV[5])
if redis.call('PTTL', key) < leaseMs then redis.call('PEXPIRE', key, ms(leaseMs)) end
return { 1, redis.call('ZCARD', key) }
`);

/**
 * Counters in Redis, shared by every node: one atomic Lua script per decision, with the same
 * semantics and numbers as MemoryLimitBackend. Keys: `${keyPrefix}rl:{${key}}:${limit name}` for
 * counters, `${keyPrefix}lease:{${key}}` for in-flight slots; the braces are a Redis Cluster hash
 * tag, so one client's counters share a slot (the charges of one `charge` call must share their
 * key). Every key expires once idle. Redis errors reject: the caller decides the fallback. The
 * connection belongs to the caller (close does not close it).
 */
export class RedisLimitBackend implements LimitBackend {
  readonly kind = 'redis' as const;
  /** Admission ids: unique per process (random) and per call (sequence). */
  readonly #instance = randomBytes(6).toString('hex');
  #seq = 0;
  #closed = false;

  constructor(
    readonly redis: Redis,
    readonly options: RedisLimitOptions,
  ) {}

  async charge(charges: readonly Charge[], now: number): Promise<Decision> {
    if (charges.length === 0) return { allowed: true, outcomes: [], retryAfterMs: 0 };
    await this.#ready();
    const keys: string[] = [];
    const args: (string | number)[] = [this.options.clock, String(now), `${this.#instance}.${this.#seq++}`];
    for (const c of charges) {
      const l = c.limit;
      keys.push(`${this.options.keyPrefix}rl:{${c.key}}:${l.name}`);
      args.push(
        l.kind,
        String(l.limit),
        l.kind === 'quota' ? l.period : String(l.windowMs),
        l.kind === 'gcra' ? String(l.burst) : '0',
        String(c.cost),
      );
    }
    const reply = (await CHARGE(this.redis, keys, args)) as string[];
    if (!Array.isArray(reply) || reply.length !== 2 + 4 * charges.length)
      throw new Error(`unexpected rate-limit script reply: ${JSON.stringify(reply)}`);
    const outcomes: Outcome[] = charges.map((c, i) => {
      const at = 2 + 4 * i;
      return {
        name: c.limit.name,
        quota: quotaOf(c.limit),
        windowSeconds: windowSecondsOf(c.limit),
        remaining: Number(reply[at + 1]),
        resetMs: Number(reply[at + 2]),
        allowed: reply[at] === '1',
        retryAfterMs: Number(reply[at + 3]),
      };
    });
    return { allowed: reply[0] === '1', outcomes, retryAfterMs: Number(reply[1]) };
  }

  async acquire(key: string, limit: number, leaseMs: number, token: string, now: number): Promise<Lease> {
    await this.#ready();
    const reply = (await ACQUIRE(
      this.redis,
      [this.#leaseKey(key)],
      [this.options.clock, String(now), String(limit), String(leaseMs), token],
    )) as [number, number];
    return { acquired: reply[0] === 1, inFlight: reply[1] };
  }

  async release(key: string, token: string): Promise<void> {
    await this.#ready();
    await this.redis.zrem(this.#leaseKey(key), token);
  }

  /** Stops this backend; the connection is the caller's (the stores close it). */
  async close(): Promise<void> {
    this.#closed = true;
  }

  #leaseKey(key: string): string {
    return `${this.options.keyPrefix}lease:{${key}}`;
  }

  async #ready(): Promise<void> {
    if (this.#closed) throw new Error('the Redis rate-limit backend is closed');
    if (this.options.readyTimeoutMs !== undefined) await whenReady(this.redis, this.options.readyTimeoutMs);
  }
}

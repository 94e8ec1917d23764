import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { deletePrefix, REDIS_URL, redisSkipReason, uniquePrefix } from '../../test/stores/redis-env.js';
import { whenReady } from '../stores/redis.js';
import { RedisLimitBackend } from './redis.js';
import type { Charge, GcraLimit, QuotaLimit, SlidingWindowLimit } from './types.js';
import { windowOf } from './types.js';

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const fresh = (): string => `client-${randomBytes(6).toString('hex')}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const g10: GcraLimit = { kind: 'gcra', name: 'g', limit: 10, windowMs: 1000, burst: 10 };
const w5: SlidingWindowLimit = { kind: 'sliding-window', name: 'w', limit: 5, windowMs: 1000 };
const daily: QuotaLimit = { kind: 'quota', name: 'q', limit: 100, period: 'day' };

const skip = await redisSkipReason('RedisLimitBackend');

describe('RedisLimitBackend', { skip }, () => {
  const prefix = uniquePrefix();
  let redis: Redis;
  const opened: Redis[] = [];
  const connect = (): Redis => {
    const r = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    r.on('error', () => {});
    opened.push(r);
    return r;
  };
  const local = (): RedisLimitBackend => new RedisLimitBackend(redis, { keyPrefix: prefix, clock: 'local' });
  const server = (): RedisLimitBackend => new RedisLimitBackend(redis, { keyPrefix: prefix, clock: 'redis' });

  before(async () => {
    redis = connect();
    await whenReady(redis, 5000);
  });
  after(async () => {
    for (const r of opened) r.disconnect();
    await deletePrefix(prefix);
  });

  describe("clock 'redis'", () => {
    it('two nodes with very different local clocks share one bucket', async () => {
      const a = server();
      const b = server();
      const k = fresh();
      for (let i = 0; i < 5; i++)
        assert.equal((await a.charge([{ key: k, limit: g10, cost: 1 }], 0)).allowed, true);
      for (let i = 0; i < 5; i++) {
        const d = await b.charge([{ key: k, limit: g10, cost: 1 }], 9e12);
        assert.equal(d.allowed, true);
      }
      // With the callers' clocks, b's far future would have found a full bucket again.
      const ra = await a.charge([{ key: k, limit: g10, cost: 1 }], 0);
      const rb = await b.charge([{ key: k, limit: g10, cost: 1 }], 9e12);
      assert.equal(ra.allowed, false);
      assert.equal(rb.allowed, false);
      for (const d of [ra, rb]) {
        assert.ok(d.retryAfterMs > 0 && d.retryAfterMs <= 100, `retryAfterMs ${d.retryAfterMs}`);
        const o = d.outcomes[0];
        assert.ok(o && o.resetMs > 800 && o.resetMs <= 1000, `resetMs ${o?.resetMs}`);
      }
    });

    it('windows and quotas follow the server’s time', async () => {
      const a = server();
      const b = server();
      const k = fresh();
      for (let i = 0; i < 3; i++) await a.charge([{ key: k, limit: w5, cost: 1 }], 0);
      const w = await b.charge([{ key: k, limit: w5, cost: 2 }], 9e12);
      assert.deepEqual([w.allowed, w.outcomes[0]?.remaining], [true, 0]);
      assert.equal((await a.charge([{ key: k, limit: w5, cost: 1 }], 0)).allowed, false);

      const before = Date.now();
      const q = await a.charge([{ key: k, limit: daily, cost: 1 }], 0);
      const afterMs = Date.now();
      const o = q.outcomes[0];
      assert.ok(o);
      // Same host: the server's day ends when ours does (give or take the call).
      const endBefore = windowOf(daily, before).end - before;
      const endAfter = windowOf(daily, afterMs).end - afterMs;
      assert.ok(o.resetMs <= endBefore + 1000 && o.resetMs >= endAfter - 1000, `resetMs ${o.resetMs}`);
      const q2 = await b.charge([{ key: k, limit: daily, cost: 1 }], 9e12);
      assert.equal(q2.outcomes[0]?.remaining, 98);
    });

    it('a lease lapses by the server’s time, whatever the callers say', async () => {
      const a = server();
      const k = fresh();
      assert.equal((await a.acquire(k, 1, 150, 'x', 0)).acquired, true);
      assert.equal((await a.acquire(k, 1, 150, 'y', 9e12)).acquired, false);
      await sleep(200);
      assert.deepEqual(await a.acquire(k, 1, 150, 'y', 0), { acquired: true, inFlight: 1 });
    });
  });

  describe('keys', () => {
    it('are `${prefix}rl:{key}:name` (one hash tag per client) and every one expires', async () => {
      const b = local();
      const k = fresh();
      const charges: Charge[] = [
        { key: k, limit: g10, cost: 3 },
        { key: k, limit: w5, cost: 1 },
        { key: k, limit: daily, cost: 1 },
      ];
      assert.equal((await b.charge(charges, T0)).allowed, true);
      await b.acquire(k, 2, 5000, 'tok', T0);
      const base = `${prefix}rl:{${k}}:`;
      assert.equal(await redis.type(`${base}g`), 'string');
      assert.equal(await redis.type(`${base}w`), 'zset');
      assert.equal(await redis.type(`${base}q`), 'hash');
      assert.equal(await redis.type(`${prefix}lease:{${k}}`), 'zset');
      const ttl = async (key: string): Promise<number> => redis.pttl(key);
      const g = await ttl(`${base}g`);
      assert.ok(g > 0 && g <= 300, `gcra expires at the TAT: ${g}`);
      const w = await ttl(`${base}w`);
      assert.ok(w > 900 && w <= 1000, `window expires a window after the newest admission: ${w}`);
      const q = await ttl(`${base}q`);
      const toMidnight = Date.UTC(2026, 0, 16) - T0;
      assert.ok(q > toMidnight - 1000 && q <= toMidnight, `quota expires at the period end: ${q}`);
      const l = await ttl(`${prefix}lease:{${k}}`);
      assert.ok(l > 4000 && l <= 5000, `leases expire after the longest lease: ${l}`);
      await b.release(k, 'tok');
      assert.equal(await redis.exists(`${prefix}lease:{${k}}`), 0, 'no lease held: the set is gone');
    });

    it('idle counters vanish on their own', async () => {
      const b = server();
      const k = fresh();
      const fast: GcraLimit = { kind: 'gcra', name: 'fast', limit: 10, windowMs: 100, burst: 10 };
      const short: SlidingWindowLimit = { kind: 'sliding-window', name: 'short', limit: 5, windowMs: 100 };
      await b.charge(
        [
          { key: k, limit: fast, cost: 1 },
          { key: k, limit: short, cost: 1 },
        ],
        0,
      );
      assert.equal(await redis.exists(`${prefix}rl:{${k}}:fast`, `${prefix}rl:{${k}}:short`), 2);
      await sleep(200);
      assert.equal(await redis.exists(`${prefix}rl:{${k}}:fast`, `${prefix}rl:{${k}}:short`), 0);
    });

    it('a refused request writes nothing', async () => {
      const b = local();
      const k = fresh();
      const tiny: SlidingWindowLimit = { kind: 'sliding-window', name: 'tiny', limit: 1, windowMs: 1000 };
      await b.charge([{ key: k, limit: tiny, cost: 1 }], T0);
      const d = await b.charge(
        [
          { key: k, limit: g10, cost: 1 },
          { key: k, limit: tiny, cost: 1 },
          { key: k, limit: daily, cost: 1 },
        ],
        T0,
      );
      assert.equal(d.allowed, false);
      assert.equal(await redis.exists(`${prefix}rl:{${k}}:g`, `${prefix}rl:{${k}}:q`), 0);
      // Admissions only: the running total is one more member, scored +inf.
      assert.equal(await redis.zcount(`${prefix}rl:{${k}}:tiny`, '-inf', '(+inf'), 1);
    });
  });

  it('a full sliding window costs a refused request about what GCRA costs (never a read of the whole window)', async () => {
    const b = local();
    const k = fresh();
    const w: SlidingWindowLimit = { kind: 'sliding-window', name: 'big', limit: 3000, windowMs: 86_400_000 };
    const g: GcraLimit = { kind: 'gcra', name: 'one', limit: 1, windowMs: 86_400_000, burst: 1 };
    for (let i = 0; i < 3000; i++)
      assert.equal((await b.charge([{ key: k, limit: w, cost: 1 }], T0 + i)).allowed, true);
    await b.charge([{ key: k, limit: g, cost: 1 }], T0);
    const time = async (limit: GcraLimit | SlidingWindowLimit): Promise<number> => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < 100; i++) {
        const d = await b.charge([{ key: k, limit, cost: 1 }], T0 + 3000);
        assert.equal(d.allowed, false);
        // The wait is still exact: the oldest admission leaves the window first.
        if (limit === w) assert.equal(d.retryAfterMs, 86_400_000 - 3000);
      }
      return Number(process.hrtime.bigint() - t0) / 1e6 / 100;
    };
    const gcraMs = await time(g);
    const windowMs = await time(w);
    assert.ok(
      windowMs < 3 * gcraMs + 0.5,
      `refused: window ${windowMs.toFixed(3)} ms vs gcra ${gcraMs.toFixed(3)} ms`,
    );
    // Admissions leaving the window bring the running total down by their cost.
    const later = await b.charge([{ key: k, limit: w, cost: 1 }], T0 + 86_400_000 + 10);
    assert.equal(later.allowed, true);
    assert.equal(later.outcomes[0]?.remaining, 3000 - 3000 + 11 - 1);
  });

  it('a policy whose kind changed under the same name starts afresh (no WRONGTYPE until the old key expires)', async () => {
    const b = local();
    const k = fresh();
    const x = (limit: GcraLimit | SlidingWindowLimit | QuotaLimit): Charge[] => [{ key: k, limit, cost: 1 }];
    const asGcra: GcraLimit = { kind: 'gcra', name: 'x', limit: 1, windowMs: 1000, burst: 1 };
    const asWindow: SlidingWindowLimit = { kind: 'sliding-window', name: 'x', limit: 1, windowMs: 1000 };
    const asQuota: QuotaLimit = { kind: 'quota', name: 'x', limit: 1, period: 'day' };
    for (const limit of [asGcra, asWindow, asQuota, asGcra, asQuota, asWindow, asGcra]) {
      const first = await b.charge(x(limit), T0);
      assert.equal(first.allowed, true, `${limit.kind} starts afresh`);
      assert.equal(first.outcomes[0]?.remaining, 0);
      assert.equal((await b.charge(x(limit), T0)).allowed, false, `${limit.kind} counts`);
    }
  });

  it('one script call per decision, whatever the number of charges', async () => {
    const r = connect();
    await whenReady(r, 5000);
    let calls = 0;
    const evalsha = r.evalsha.bind(r);
    r.evalsha = ((...args: Parameters<typeof evalsha>) => {
      calls++;
      return evalsha(...args);
    }) as typeof evalsha;
    const b = new RedisLimitBackend(r, { keyPrefix: prefix, clock: 'local' });
    const k = fresh();
    await b.charge(
      [
        { key: k, limit: g10, cost: 1 },
        { key: k, limit: w5, cost: 1 },
        { key: k, limit: daily, cost: 1 },
      ],
      T0,
    );
    assert.equal(calls, 1);
  });

  describe('errors reject (the caller chooses the fallback)', () => {
    it('a lost connection', async () => {
      const r = connect();
      await whenReady(r, 5000);
      r.disconnect();
      const b = new RedisLimitBackend(r, { keyPrefix: prefix, clock: 'redis' });
      await assert.rejects(b.charge([{ key: fresh(), limit: g10, cost: 1 }], 0));
      await assert.rejects(b.acquire(fresh(), 1, 1000, 't', 0));
      await assert.rejects(b.release(fresh(), 't'));
    });

    it('a closed backend', async () => {
      const b = local();
      await b.close();
      await assert.rejects(b.charge([{ key: fresh(), limit: g10, cost: 1 }], T0), /closed/);
    });

    it('a command before the first connection fails at once, unless readyTimeoutMs waits for it', async () => {
      const early = new RedisLimitBackend(connect(), { keyPrefix: prefix, clock: 'local' });
      await assert.rejects(early.charge([{ key: fresh(), limit: g10, cost: 1 }], T0));
      const patient = new RedisLimitBackend(connect(), {
        keyPrefix: prefix,
        clock: 'local',
        readyTimeoutMs: 5000,
      });
      assert.equal((await patient.charge([{ key: fresh(), limit: g10, cost: 1 }], T0)).allowed, true);
    });
  });
});

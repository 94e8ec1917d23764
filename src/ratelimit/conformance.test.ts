import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { deletePrefix, REDIS_URL, redisSkipReason, uniquePrefix } from '../../test/stores/redis-env.js';
import { whenReady } from '../stores/redis.js';
import { MemoryLimitBackend } from './memory.js';
import { RedisLimitBackend } from './redis.js';
import type {
  Charge,
  Decision,
  GcraLimit,
  Limit,
  LimitBackend,
  QuotaLimit,
  SlidingWindowLimit,
} from './types.js';

/** A backend under test and how to remove what it left behind. */
interface Harness {
  readonly backend: LimitBackend;
  cleanup(): Promise<void>;
}

/** Noon UTC, mid-month: far from any calendar boundary unless a case moves there. */
const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

const gcra = (limit: number, windowMs: number, burst: number, name = 'gcra'): GcraLimit => ({
  kind: 'gcra',
  name,
  limit,
  windowMs,
  burst,
});
const win = (limit: number, windowMs: number, name = 'window'): SlidingWindowLimit => ({
  kind: 'sliding-window',
  name,
  limit,
  windowMs,
});
const quota = (limit: number, period: 'day' | 'month', name = 'quota'): QuotaLimit => ({
  kind: 'quota',
  name,
  limit,
  period,
});

/** A key no other case uses (the Redis suite shares one prefix per run). */
const fresh = (): string => `client-${randomBytes(6).toString('hex')}`;

/** A small deterministic generator (mulberry32): a failing sequence replays the same. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The one behavioural suite every LimitBackend passes. */
function limitConformance(name: string, setup: () => Promise<Harness>, skip: string | false = false): void {
  describe(`LimitBackend conformance: ${name}`, { skip }, () => {
    let h: Harness;
    let b: LimitBackend;
    before(async () => {
      h = await setup();
      b = h.backend;
    });
    after(async () => {
      await b?.close();
      await h?.cleanup();
    });

    const one = async (key: string, limit: Limit, now: number, cost = 1) => {
      const d = await b.charge([{ key, limit, cost }], now);
      assert.equal(d.outcomes.length, 1);
      const o = d.outcomes[0];
      assert.ok(o);
      assert.equal(d.allowed, o.allowed);
      assert.equal(d.retryAfterMs, o.retryAfterMs);
      return o;
    };

    /** Charges `n` times at `now` and returns how many were admitted. */
    const admitted = async (key: string, limit: Limit, now: number, n: number, cost = 1): Promise<number> => {
      let count = 0;
      for (let i = 0; i < n; i++) if ((await one(key, limit, now, cost)).allowed) count++;
      return count;
    };

    it('reports the policy: name, quota and window seconds', async () => {
      const k = fresh();
      const g = await one(k, gcra(10, 1000, 10, 'burst'), T0);
      assert.deepEqual([g.name, g.quota, g.windowSeconds], ['burst', 10, 1]);
      const w = await one(k, win(5, 1500, 'win'), T0);
      assert.deepEqual([w.name, w.quota, w.windowSeconds], ['win', 5, 2]);
      const d = await one(k, quota(100, 'day', 'daily'), T0);
      assert.deepEqual([d.name, d.quota, d.windowSeconds], ['daily', 100, 86_400]);
      const m = await one(k, quota(100, 'month', 'monthly'), T0);
      assert.deepEqual([m.name, m.quota, m.windowSeconds], ['monthly', 100, 2_592_000]);
    });

    it('an empty charge list admits', async () => {
      assert.deepEqual(await b.charge([], T0), { allowed: true, outcomes: [], retryAfterMs: 0 });
    });

    describe('GCRA', () => {
      it('10/s burst 10: ten at t=0, the eleventh waits 100 ms, one more at t=100', async () => {
        const k = fresh();
        const l = gcra(10, 1000, 10);
        for (let i = 1; i <= 10; i++) {
          const o = await one(k, l, T0);
          assert.deepEqual(
            { allowed: o.allowed, remaining: o.remaining, resetMs: o.resetMs, retryAfterMs: o.retryAfterMs },
            { allowed: true, remaining: 10 - i, resetMs: 100 * i, retryAfterMs: 0 },
            `request ${i}`,
          );
        }
        const refused = await one(k, l, T0);
        assert.deepEqual(
          {
            allowed: refused.allowed,
            remaining: refused.remaining,
            resetMs: refused.resetMs,
            retryAfterMs: refused.retryAfterMs,
          },
          { allowed: false, remaining: 0, resetMs: 1000, retryAfterMs: 100 },
        );
        assert.equal((await one(k, l, T0 + 99)).retryAfterMs, 1, 'one ms early: refused');
        const next = await one(k, l, T0 + 100);
        assert.deepEqual([next.allowed, next.remaining, next.resetMs], [true, 0, 1000]);
        assert.deepEqual([(await one(k, l, T0 + 100)).allowed], [false]);
      });

      it('a full bucket after an idle window: the whole burst again', async () => {
        const k = fresh();
        const l = gcra(10, 1000, 10);
        assert.equal(await admitted(k, l, T0, 15), 10);
        assert.equal(await admitted(k, l, T0 + 1000, 15), 10);
        const o = await one(k, l, T0 + 5000);
        assert.deepEqual([o.allowed, o.remaining, o.resetMs], [true, 9, 100]);
      });

      it('a burst smaller than the rate: 10/s burst 3 admits 3, then one per 100 ms', async () => {
        const k = fresh();
        const l = gcra(10, 1000, 3);
        assert.equal(await admitted(k, l, T0, 10), 3);
        const r = await one(k, l, T0);
        assert.deepEqual([r.allowed, r.remaining, r.resetMs, r.retryAfterMs], [false, 0, 300, 100]);
        assert.equal(await admitted(k, l, T0 + 100, 5), 1);
        // Two intervals later, two more slots.
        assert.equal(await admitted(k, l, T0 + 300, 5), 2);
        // Once the TAT (T0 + 600) has passed the bucket is full: the whole burst of 3.
        assert.equal(await admitted(k, l, T0 + 800, 5), 3);
      });

      it('cost > 1 takes several units; a refused costly request leaves room for a cheaper one', async () => {
        const k = fresh();
        const l = gcra(10, 1000, 10);
        const a = await one(k, l, T0, 4);
        assert.deepEqual([a.allowed, a.remaining, a.resetMs], [true, 6, 400]);
        const c = await one(k, l, T0, 4);
        assert.deepEqual([c.allowed, c.remaining, c.resetMs], [true, 2, 800]);
        const r = await one(k, l, T0, 4);
        assert.deepEqual([r.allowed, r.remaining, r.resetMs, r.retryAfterMs], [false, 2, 800, 200]);
        const d = await one(k, l, T0, 2);
        assert.deepEqual([d.allowed, d.remaining, d.resetMs], [true, 0, 1000]);
        assert.equal((await one(k, l, T0 + 399, 4)).allowed, false);
        assert.equal((await one(k, l, T0 + 400, 4)).allowed, true);
      });

      it('a fractional interval (3 per second) admits exactly 3 and keeps its precision', async () => {
        const k = fresh();
        const l = gcra(3, 1000, 3);
        assert.equal(await admitted(k, l, T0, 5), 3);
        const r = await one(k, l, T0);
        assert.equal(r.allowed, false);
        assert.ok(Math.abs(r.retryAfterMs - 1000 / 3) < 1e-3, `retryAfterMs ${r.retryAfterMs}`);
        assert.ok(Math.abs(r.resetMs - 1000) < 1e-3, `resetMs ${r.resetMs}`);
        assert.equal((await one(k, l, T0 + 333)).allowed, false);
        assert.equal((await one(k, l, T0 + 334)).allowed, true);
      });
      it('a full burst at today’s epoch times, whatever the interval (6, 7, 11, 13 per second)', async () => {
        for (const limit of [6, 7, 11, 13]) {
          assert.equal(await admitted(fresh(), gcra(limit, 1000, limit), T0, limit + 2), limit, `${limit}/s`);
        }
      });

      it('7/s burst 7 at an epoch time: exactly 7, remaining 6 5 4 3 2 1 0, then one per 1000/7 ms', async () => {
        const k = fresh();
        const l = gcra(7, 1000, 7);
        const seen: number[] = [];
        for (let i = 0; i < 7; i++) {
          const o = await one(k, l, T0);
          assert.equal(o.allowed, true, `request ${i + 1}`);
          seen.push(o.remaining);
        }
        assert.deepEqual(seen, [6, 5, 4, 3, 2, 1, 0]);
        const r = await one(k, l, T0);
        assert.deepEqual([r.allowed, r.remaining, r.resetMs, r.retryAfterMs], [false, 0, 1000, 1000 / 7]);
        // The next slot opens at T0 + 1000/7 ms = T0 + 142.857…: refused at 142, admitted at 143.
        assert.equal((await one(k, l, T0 + 142)).allowed, false);
        assert.equal((await one(k, l, T0 + 143)).allowed, true);
        assert.equal((await one(k, l, T0 + 143)).allowed, false);
        // 7 intervals after the burst the bucket is full again: exactly 7 once more.
        assert.equal(await admitted(k, l, T0 + 1143, 9), 7);
      });

      it('long bursts stay exact: 2991/min burst 2991, 997/s, 1000/3 s', async () => {
        const cases: [number, number][] = [
          [2991, 60_000],
          [997, 1000],
          [1000, 3000],
        ];
        for (const [limit, windowMs] of cases) {
          const k = fresh();
          const l = gcra(limit, windowMs, limit);
          assert.equal(await admitted(k, l, T0, limit + 3), limit, `${limit}/${windowMs} ms`);
          const r = await one(k, l, T0);
          assert.deepEqual([r.allowed, r.remaining], [false, 0]);
          assert.equal(r.resetMs, windowMs);
          assert.equal(r.retryAfterMs, windowMs / limit);
        }
      });

      it('a rate whose exact unit would overflow (10007/hour) counts in whole microseconds', async () => {
        const k = fresh();
        const l = gcra(10_007, 3_600_000, 5);
        assert.equal(await admitted(k, l, T0, 8), 5);
        const r = await one(k, l, T0);
        // The interval, 359748.2… µs, rounded to a whole microsecond.
        assert.deepEqual([r.allowed, r.remaining, r.retryAfterMs], [false, 0, 359.748]);
        assert.equal((await one(k, l, T0 + 359)).allowed, false);
        assert.equal((await one(k, l, T0 + 360)).allowed, true);
      });

      it('a limit changed under the same name (another rate) keeps its TAT, in the new unit', async () => {
        const k = fresh();
        assert.equal(await admitted(k, gcra(10, 1000, 10, 'same'), T0, 5), 5); // TAT T0 + 500
        const o = await one(k, gcra(7, 1000, 7, 'same'), T0);
        // The TAT (T0 + 500 ms) carries over: this one ends at T0 + 500 + 1000/7 ms, two more fit in 1000.
        assert.deepEqual([o.allowed, o.resetMs], [true, 500 + 1000 / 7]);
        assert.equal(await admitted(k, gcra(7, 1000, 7, 'same'), T0, 5), 2);
      });
    });

    it('a counter of another kind under the same name starts afresh (never NaN)', async () => {
      const k = fresh();
      const asGcra = gcra(1, 1000, 1, 'x');
      const asWindow = win(1, 1000, 'x');
      const asQuota = quota(1, 'day', 'x');
      for (const limit of [asGcra, asWindow, asQuota, asGcra, asQuota, asWindow, asGcra, asWindow]) {
        const first = await one(k, limit, T0);
        assert.deepEqual(
          [first.allowed, first.remaining, Number.isFinite(first.resetMs)],
          [true, 0, true],
          `${limit.kind} starts afresh`,
        );
        const again = await one(k, limit, T0);
        assert.equal(again.allowed, false, `${limit.kind} counts`);
        assert.ok(Number.isFinite(again.retryAfterMs) && again.retryAfterMs > 0, `${limit.kind} retry`);
      }
    });

    describe('sliding window', () => {
      it('5 per 1000 ms: five at t=0, refused at t=999, admitted at t=1000', async () => {
        const k = fresh();
        const l = win(5, 1000);
        for (let i = 1; i <= 5; i++) {
          const o = await one(k, l, T0);
          assert.deepEqual([o.allowed, o.remaining, o.resetMs, o.retryAfterMs], [true, 5 - i, 1000, 0]);
        }
        const r0 = await one(k, l, T0);
        assert.deepEqual([r0.allowed, r0.remaining, r0.resetMs, r0.retryAfterMs], [false, 0, 1000, 1000]);
        const r = await one(k, l, T0 + 999);
        assert.deepEqual([r.allowed, r.remaining, r.resetMs, r.retryAfterMs], [false, 0, 1, 1]);
        const o = await one(k, l, T0 + 1000);
        assert.deepEqual([o.allowed, o.remaining, o.resetMs, o.retryAfterMs], [true, 4, 1000, 0]);
        assert.equal(await admitted(k, l, T0 + 1000, 10), 4);
      });

      it('admissions leave the window one by one: retryAfterMs waits for the oldest that frees enough', async () => {
        const k = fresh();
        const l = win(5, 1000);
        assert.equal(await admitted(k, l, T0, 1, 2), 1); // 2 units at 0
        assert.equal(await admitted(k, l, T0 + 100, 1), 1); // 1 at 100
        assert.equal(await admitted(k, l, T0 + 200, 1, 2), 1); // 2 at 200: full
        const r1 = await one(k, l, T0 + 300);
        assert.deepEqual([r1.allowed, r1.remaining, r1.resetMs, r1.retryAfterMs], [false, 0, 900, 700]);
        // Three units need the first two admissions (2 + 1) to leave: at 1100.
        const r3 = await one(k, l, T0 + 300, 3);
        assert.deepEqual([r3.allowed, r3.retryAfterMs], [false, 800]);
        // At 1000 the first admission (2 units) has left: 3 in the window.
        const o = await one(k, l, T0 + 1000);
        assert.deepEqual([o.allowed, o.remaining], [true, 1]);
        assert.equal((await one(k, l, T0 + 1099, 2)).allowed, false);
        const p = await one(k, l, T0 + 1100, 2);
        assert.deepEqual([p.allowed, p.remaining], [true, 0]);
      });

      it('cost > 1, and a cost above the whole limit is refused with the window as retryAfterMs', async () => {
        const k = fresh();
        const l = win(5, 1000);
        const a = await one(k, l, T0, 3);
        assert.deepEqual([a.allowed, a.remaining], [true, 2]);
        const r = await one(k, l, T0 + 10, 3);
        assert.deepEqual([r.allowed, r.remaining, r.resetMs, r.retryAfterMs], [false, 2, 990, 990]);
        const c = await one(k, l, T0 + 10, 2);
        assert.deepEqual([c.allowed, c.remaining], [true, 0]);
        const big = await one(fresh(), l, T0, 6);
        assert.deepEqual([big.allowed, big.remaining, big.retryAfterMs], [false, 5, 1000]);
      });

      it('bursts at window boundaries never put more than the limit in any window of length w', async () => {
        const k = fresh();
        const limit = 5;
        const w = 1000;
        const l = win(limit, w);
        const times: number[] = [];
        for (let t = 1000; t <= 3000; t += 50) times.push(t);
        for (const edge of [999, 1998, 1999, 2000, 2998]) for (let i = 0; i < 6; i++) times.push(edge);
        times.sort((x, y) => x - y);
        const admittedAt: number[] = [];
        for (const t of times) if ((await one(k, l, T0 + t)).allowed) admittedAt.push(t);
        // Every window (s - w, s] and [s, s + w) holds at most `limit` admissions.
        for (const s of admittedAt) {
          const ending = admittedAt.filter((t) => t > s - w && t <= s).length;
          const starting = admittedAt.filter((t) => t >= s && t < s + w).length;
          assert.ok(ending <= limit, `${ending} admissions in (${s - w}, ${s}]`);
          assert.ok(starting <= limit, `${starting} admissions in [${s}, ${s + w})`);
        }
        // And no stricter than that: the same as an obvious (quadratic) exact limiter.
        const oracle: number[] = [];
        for (const t of times) if (oracle.filter((u) => u > t - w).length < limit) oracle.push(t);
        assert.deepEqual(admittedAt, oracle);
        // A full burst just before the boundary, the next full burst one window later, not sooner.
        assert.deepEqual(admittedAt, [999, 999, 999, 999, 999, 1999, 1999, 1999, 1999, 1999, 3000]);
      });
    });

    describe('quota', () => {
      it('per day: resets at UTC midnight, with remaining, resetMs and retryAfterMs', async () => {
        const k = fresh();
        const l = quota(3, 'day');
        const late = Date.UTC(2026, 0, 15, 23, 59, 59, 0);
        for (let i = 1; i <= 3; i++) {
          const o = await one(k, l, late);
          assert.deepEqual([o.allowed, o.remaining, o.resetMs, o.retryAfterMs], [true, 3 - i, 1000, 0]);
        }
        const r = await one(k, l, late);
        assert.deepEqual([r.allowed, r.remaining, r.resetMs, r.retryAfterMs], [false, 0, 1000, 1000]);
        const r2 = await one(k, l, Date.UTC(2026, 0, 16) - 1);
        assert.deepEqual([r2.allowed, r2.retryAfterMs], [false, 1]);
        const o = await one(k, l, Date.UTC(2026, 0, 16));
        assert.deepEqual([o.allowed, o.remaining, o.resetMs], [true, 2, 86_400_000]);
        assert.equal(await admitted(k, l, Date.UTC(2026, 0, 16, 18), 5), 2);
      });

      it('per month: resets at the month end (30, 31, 28 and 29 days, and across the year end)', async () => {
        const cases: [number, number, number][] = [
          [2026, 1, 28], // February 2026
          [2028, 1, 29], // February of a leap year
          [2026, 3, 30], // April
          [2026, 11, 31], // December: the next period starts in January 2027
        ];
        for (const [y, m, days] of cases) {
          const k = fresh();
          const l = quota(2, 'month');
          const start = Date.UTC(y, m, 1);
          const end = Date.UTC(y, m + 1, 1);
          assert.equal(end - start, days * 86_400_000);
          const a = await one(k, l, start);
          assert.deepEqual([a.allowed, a.remaining, a.resetMs], [true, 1, end - start], `${y}-${m + 1}`);
          assert.equal(await admitted(k, l, start + 86_400_000, 3), 1, `${y}-${m + 1}`);
          const r = await one(k, l, end - 1);
          assert.deepEqual(
            [r.allowed, r.remaining, r.resetMs, r.retryAfterMs],
            [false, 0, 1, 1],
            `${y}-${m + 1}`,
          );
          const n = await one(k, l, end);
          const nextEnd = Date.UTC(y, m + 2, 1);
          assert.deepEqual([n.allowed, n.remaining, n.resetMs], [true, 1, nextEnd - end], `${y}-${m + 2}`);
        }
      });

      it('cost > 1: a request that does not fit is refused whole and the rest stays usable', async () => {
        const k = fresh();
        const l = quota(5, 'day');
        const a = await one(k, l, T0, 4);
        assert.deepEqual([a.allowed, a.remaining], [true, 1]);
        const r = await one(k, l, T0, 2);
        const toMidnight = Date.UTC(2026, 0, 16) - T0;
        assert.deepEqual(
          [r.allowed, r.remaining, r.resetMs, r.retryAfterMs],
          [false, 1, toMidnight, toMidnight],
        );
        const c = await one(k, l, T0, 1);
        assert.deepEqual([c.allowed, c.remaining], [true, 0]);
      });
    });

    describe('all or nothing', () => {
      it('a request refused by one limit charges nothing on the others', async () => {
        const k = fresh();
        const charges: Charge[] = [
          { key: k, limit: gcra(10, 1000, 10, 'g'), cost: 1 },
          { key: k, limit: win(2, 1000, 'w'), cost: 1 },
          { key: k, limit: quota(100, 'day', 'q'), cost: 1 },
        ];
        assert.equal((await b.charge(charges, T0)).allowed, true);
        assert.equal((await b.charge(charges, T0)).allowed, true);
        const d = await b.charge(charges, T0 + 10);
        assert.equal(d.allowed, false);
        assert.equal(d.retryAfterMs, 990);
        const [g, w, q] = d.outcomes;
        // The admitting limits report their state without this request.
        assert.deepEqual([g?.allowed, g?.remaining, g?.resetMs, g?.retryAfterMs], [true, 8, 190, 0]);
        assert.deepEqual([w?.allowed, w?.remaining, w?.resetMs, w?.retryAfterMs], [false, 0, 990, 990]);
        const toMidnight = Date.UTC(2026, 0, 16) - T0 - 10;
        assert.deepEqual([q?.allowed, q?.remaining, q?.resetMs, q?.retryAfterMs], [true, 98, toMidnight, 0]);
        // Nothing was charged: the same counters alone show two admissions, not three.
        const g2 = await one(k, gcra(10, 1000, 10, 'g'), T0 + 10);
        assert.equal(g2.remaining, 7);
        const q2 = await one(k, quota(100, 'day', 'q'), T0 + 10);
        assert.equal(q2.remaining, 97);
      });

      it('several refusing limits: retryAfterMs is the longest wait; outcomes keep the charges’ order', async () => {
        const k = fresh();
        const charges: Charge[] = [
          { key: k, limit: win(1, 500, 'short'), cost: 1 },
          { key: k, limit: gcra(1, 2000, 1, 'slow'), cost: 1 },
          { key: k, limit: win(10, 1000, 'roomy'), cost: 1 },
        ];
        assert.equal((await b.charge(charges, T0)).allowed, true);
        const d = await b.charge(charges, T0 + 100);
        assert.equal(d.allowed, false);
        assert.deepEqual(
          d.outcomes.map((o) => [o.name, o.allowed, o.retryAfterMs]),
          [
            ['short', false, 400],
            ['slow', false, 1900],
            ['roomy', true, 0],
          ],
        );
        assert.equal(d.retryAfterMs, 1900);
        assert.equal(d.outcomes[2]?.remaining, 9);
        const later = await b.charge(charges, T0 + 2000);
        assert.equal(later.allowed, true);
        assert.deepEqual(
          later.outcomes.map((o) => [o.name, o.allowed, o.remaining]),
          [
            ['short', true, 0],
            ['slow', true, 0],
            ['roomy', true, 9],
          ],
        );
      });
    });

    describe('concurrency', () => {
      it('limit 2: the third is refused, a release frees a slot', async () => {
        const k = fresh();
        assert.deepEqual(await b.acquire(k, 2, 10_000, 'a', T0), { acquired: true, inFlight: 1 });
        assert.deepEqual(await b.acquire(k, 2, 10_000, 'b', T0), { acquired: true, inFlight: 2 });
        assert.deepEqual(await b.acquire(k, 2, 10_000, 'c', T0), { acquired: false, inFlight: 2 });
        await b.release(k, 'a');
        assert.deepEqual(await b.acquire(k, 2, 10_000, 'c', T0 + 1), { acquired: true, inFlight: 2 });
        await b.release(k, 'b');
        await b.release(k, 'c');
        await b.release(k, 'c'); // twice, and an unknown token: no error
        await b.release(fresh(), 'nobody');
        assert.deepEqual(await b.acquire(k, 2, 10_000, 'd', T0 + 2), { acquired: true, inFlight: 1 });
      });

      it('an unreleased lease lapses after leaseMs', async () => {
        const k = fresh();
        assert.equal((await b.acquire(k, 2, 1000, 'a', T0)).acquired, true);
        assert.equal((await b.acquire(k, 2, 1000, 'b', T0 + 500)).acquired, true);
        assert.deepEqual(await b.acquire(k, 2, 1000, 'c', T0 + 999), { acquired: false, inFlight: 2 });
        // 'a' lapsed at T0 + 1000, 'b' still holds until T0 + 1500.
        assert.deepEqual(await b.acquire(k, 2, 1000, 'c', T0 + 1000), { acquired: true, inFlight: 2 });
        assert.deepEqual(await b.acquire(k, 2, 1000, 'd', T0 + 2500), { acquired: true, inFlight: 1 });
      });

      it('keys are independent', async () => {
        const k1 = fresh();
        const k2 = fresh();
        assert.equal((await b.acquire(k1, 1, 10_000, 'a', T0)).acquired, true);
        assert.equal((await b.acquire(k1, 1, 10_000, 'b', T0)).acquired, false);
        assert.equal((await b.acquire(k2, 1, 10_000, 'b', T0)).acquired, true);
      });
    });

    it('counters are per key and per limit name', async () => {
      const k1 = fresh();
      const k2 = fresh();
      const l = win(1, 1000, 'a');
      assert.equal((await one(k1, l, T0)).allowed, true);
      assert.equal((await one(k1, l, T0)).allowed, false);
      assert.equal((await one(k2, l, T0)).allowed, true);
      assert.equal((await one(k1, win(1, 1000, 'b'), T0)).allowed, true);
    });

    it('a random mixed sequence gives exactly the memory backend’s decisions', async () => {
      const reference = new MemoryLimitBackend();
      const rnd = prng(0x5eed);
      const k = fresh();
      const limits: Limit[] = [
        gcra(10, 1000, 10, 'g10'),
        gcra(3, 1000, 2, 'g3'),
        gcra(7, 60_000, 3, 'g7'),
        win(5, 1000, 'w5'),
        win(7, 333, 'w7'),
        quota(40, 'day', 'qd'),
        quota(60, 'month', 'qm'),
      ];
      // Starts two seconds before a day and month end, so both quotas roll over mid-sequence.
      let now = Date.UTC(2026, 2, 31, 23, 59, 58);
      let admittedCount = 0;
      let refusedCount = 0;
      for (let step = 0; step < 400; step++) {
        now += rnd() < 0.3 ? 0 : rnd() < 0.9 ? Math.floor(rnd() * 120) : rnd() * 50;
        const chosen = limits.filter(() => rnd() < 0.4);
        const charges: Charge[] = chosen.map((limit) => ({ key: k, limit, cost: 1 + Math.floor(rnd() * 3) }));
        const want: Decision = await reference.charge(charges, now);
        const got = await b.charge(charges, now);
        assert.deepEqual(got, want, `step ${step} at ${now}: ${JSON.stringify(charges)}`);
        if (charges.length > 0) {
          if (want.allowed) admittedCount++;
          else refusedCount++;
        }
      }
      // The sequence is worth something: both outcomes, and it crossed into April.
      assert.ok(
        admittedCount > 50 && refusedCount > 50,
        `${admittedCount} admitted, ${refusedCount} refused`,
      );
      assert.ok(now > Date.UTC(2026, 3, 1), 'the quotas rolled over');
      await reference.close();
    });
  });
}

limitConformance('memory', async () => ({ backend: new MemoryLimitBackend(), cleanup: async () => {} }));

describe('MemoryLimitBackend leases', () => {
  it('a refused acquire leaves no empty map behind; the last release removes the key', () => {
    const m = new MemoryLimitBackend();
    assert.deepEqual(m.acquireNow('k', 0, 1000, 'a', T0), { acquired: false, inFlight: 0 });
    assert.equal(m.stats.leaseKeys, 0);
    assert.equal(m.acquireNow('k', 1, 1000, 'a', T0).acquired, true);
    assert.equal(m.stats.leaseKeys, 1);
    // Lapsed: the key's map is emptied and, when refused (limit 0), dropped.
    assert.deepEqual(m.acquireNow('k', 0, 1000, 'b', T0 + 1000), { acquired: false, inFlight: 0 });
    assert.equal(m.stats.leaseKeys, 0);
    assert.equal(m.acquireNow('k', 1, 1000, 'c', T0 + 1000).acquired, true);
    m.releaseNow('k', 'c');
    assert.equal(m.stats.leaseKeys, 0);
  });

  it('lapsed leases of other keys are pruned: the lease map stays bounded', () => {
    const m = new MemoryLimitBackend();
    for (let i = 0; i < 1000; i++) assert.equal(m.acquireNow(`k${i}`, 1, 100, 't', T0).acquired, true);
    assert.equal(m.stats.leaseKeys, 1000);
    // Never released; later traffic on a few live keys sweeps the lapsed ones away.
    for (let i = 0; i < 400; i++) {
      const key = `live${i % 3}`;
      m.acquireNow(key, 1000, 60_000, `t${i}`, T0 + 1000);
    }
    assert.equal(m.stats.leaseKeys, 3);
    // Live leases are kept: each live key still holds its tokens.
    assert.deepEqual(m.acquireNow('live0', 1000, 60_000, 'x', T0 + 2000), { acquired: true, inFlight: 135 });
  });

  it('many distinct keys whose leases lapse: the map never holds many lapsed keys', () => {
    const m = new MemoryLimitBackend();
    let peak = 0;
    for (let i = 0; i < 20_000; i++) {
      m.acquireNow(`c${i}`, 1, 10, 't', T0 + i * 10);
      peak = Math.max(peak, m.stats.leaseKeys);
    }
    assert.ok(peak <= 4, `peak ${peak}`);
  });
});

const skip = await redisSkipReason('LimitBackend conformance: redis');
limitConformance(
  'redis (local clock)',
  async () => {
    const prefix = uniquePrefix();
    const redis = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    redis.on('error', () => {});
    try {
      await whenReady(redis, 5000);
    } catch (err) {
      // CI=true without Redis: fail, without a reconnecting client keeping the run alive.
      redis.disconnect();
      throw err;
    }
    return {
      backend: new RedisLimitBackend(redis, { keyPrefix: prefix, clock: 'local' }),
      cleanup: async () => {
        redis.disconnect();
        await deletePrefix(prefix);
      },
    };
  },
  skip,
);

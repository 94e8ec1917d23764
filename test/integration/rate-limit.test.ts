import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { rateLimitClock } from '../../src/plugins/rate-limit/rate-limit/index.js';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  TEST_IDP,
  type TestGateway,
  type TestUpstream,
  testToken,
  waitForLog,
} from '../helpers.js';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
let now = T0;
const realClock = rateLimitClock.now;

function limited(url: string, settings: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return baseConfig(url, {
    listeners: [{ name: 'test', host: '127.0.0.1', port: 0, trustedProxies: ['127.0.0.1'] }],
    ...extra,
    plugins: { 'rate-limit': settings, ...((extra.plugins as Record<string, unknown>) ?? {}) },
  });
}

async function hit(gw: TestGateway, path = '/items', headers: Record<string, string> = {}) {
  const res = await fetch(`${gw.url}${path}`, { headers });
  const text = await res.text();
  return { res, text };
}

describe('rate-limit', () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
    rateLimitClock.now = () => now;
  });
  after(async () => {
    rateLimitClock.now = realClock;
    await upstream.close();
  });
  afterEach(() => {
    now = T0;
  });

  it('GCRA: admits the burst, refuses the next with 429 problem+json, Retry-After and the draft fields, never calling the upstream', async () => {
    const gw = await startGateway(
      limited(upstream.url, {
        key: 'ip',
        limits: [{ name: 'burst', algorithm: 'gcra', limit: 10, windowSeconds: 10, burst: 3 }],
      }),
    );
    try {
      const before = upstream.calls.length;
      const first = await hit(gw);
      assert.equal(first.res.status, 200);
      assert.equal(first.res.headers.get('ratelimit-policy'), '"burst";q=10;w=10');
      // One taken from a bucket of 3, refilled one per second: 2 left, whole again in 1 s.
      assert.equal(first.res.headers.get('ratelimit'), '"burst";r=2;t=1');
      assert.equal((await hit(gw)).res.headers.get('ratelimit'), '"burst";r=1;t=2');
      assert.equal((await hit(gw)).res.headers.get('ratelimit'), '"burst";r=0;t=3');
      const refused = await hit(gw);
      assert.equal(refused.res.status, 429);
      assert.equal(refused.res.headers.get('content-type'), 'application/problem+json');
      assert.equal(refused.res.headers.get('retry-after'), '1');
      assert.equal(refused.res.headers.get('ratelimit'), '"burst";r=0;t=3');
      const problem = problemOf(refused.res.headers.get('content-type'), refused.text);
      assert.equal(problem.code, 'RATE_LIMITED');
      assert.equal(problem.status, 429);
      assert.equal(upstream.calls.length - before, 3, 'the refused request never reached the upstream');
      // One interval later, exactly one more.
      now += 1000;
      assert.equal((await hit(gw)).res.status, 200);
      assert.equal((await hit(gw)).res.status, 429);
    } finally {
      await gw.close();
    }
  });

  it('several limits: all must admit, a refused request charges none, and both are reported', async () => {
    const gw = await startGateway(
      limited(upstream.url, {
        key: 'ip',
        limits: [
          { name: 'burst', limit: 5, windowSeconds: 1 },
          { name: 'sustained', algorithm: 'sliding-window', limit: 6, windowSeconds: 60 },
        ],
      }),
    );
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await hit(gw)).res.status);
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
      now += 1000; // the burst bucket is whole again; the sustained window holds 5 of 6
      const sixth = await hit(gw);
      assert.equal(sixth.res.status, 200);
      assert.equal(sixth.res.headers.get('ratelimit-policy'), '"burst";q=5;w=1, "sustained";q=6;w=60');
      assert.equal(sixth.res.headers.get('ratelimit'), '"burst";r=4;t=1, "sustained";r=0;t=60');
      const seventh = await hit(gw);
      assert.equal(seventh.res.status, 429);
      // The sustained window frees its oldest admissions 60 s after they were made (59 s from now).
      assert.equal(seventh.res.headers.get('retry-after'), '59');
      assert.equal(problemOf(seventh.res.headers.get('content-type'), seventh.text).code, 'RATE_LIMITED');
    } finally {
      await gw.close();
    }
  });

  it('a daily quota refuses with QUOTA_EXCEEDED until midnight UTC', async () => {
    const gw = await startGateway(
      limited(upstream.url, { key: 'ip', quotas: [{ name: 'daily', limit: 2, period: 'day' }] }),
    );
    try {
      assert.equal((await hit(gw)).res.status, 200);
      const second = await hit(gw);
      assert.equal(second.res.headers.get('ratelimit'), '"daily";r=0;t=43200');
      const refused = await hit(gw);
      assert.equal(refused.res.status, 429);
      assert.equal(problemOf(refused.res.headers.get('content-type'), refused.text).code, 'QUOTA_EXCEEDED');
      assert.equal(refused.res.headers.get('retry-after'), '43200');
      now = Date.UTC(2026, 10, 29, 0, 0, 0);
      assert.equal((await hit(gw)).res.status, 200);
    } finally {
      await gw.close();
    }
  });

  it('cost: an expensive route spends several units of the shared budget', async () => {
    const gw = await startGateway(
      limited(
        upstream.url,
        { key: 'ip', scope: 'global', limits: [{ name: 'api', limit: 10, windowSeconds: 60 }] },
        {
          routes: [
            { id: 'cheap', path: '/items', methods: ['GET'], upstream: 'api' },
            {
              id: 'report',
              path: '/items/:id',
              methods: ['GET'],
              upstream: 'api',
              plugins: { 'rate-limit': { cost: 4 } },
            },
          ],
        },
      ),
    );
    try {
      assert.equal((await hit(gw, '/items/1')).res.status, 200);
      assert.equal((await hit(gw, '/items/2')).res.status, 200);
      const cheap = await hit(gw, '/items');
      assert.equal(cheap.res.status, 200);
      // GCRA refills one unit every 6 s: 9 units spent are whole again in 54 s.
      assert.equal(cheap.res.headers.get('ratelimit'), '"api";r=1;t=54');
      assert.equal((await hit(gw, '/items/3')).res.status, 429, 'a cost of 4 does not fit in 1');
      assert.equal((await hit(gw, '/items')).res.status, 200, 'but a cost of 1 does');
    } finally {
      await gw.close();
    }
  });

  it('IPv6 clients rotating inside one /64 share a counter; another /64 has its own', async () => {
    const gw = await startGateway(
      limited(upstream.url, { key: 'ip', limits: [{ name: 'burst', limit: 2, windowSeconds: 60 }] }),
    );
    try {
      const from = (ip: string) => hit(gw, '/items', { 'x-forwarded-for': ip });
      assert.equal((await from('2001:db8:1:2::1')).res.status, 200);
      assert.equal((await from('2001:db8:1:2:ffff:ffff:ffff:fffe')).res.status, 200);
      assert.equal((await from('2001:db8:1:2:dead:beef::9')).res.status, 429);
      assert.equal((await from('2001:db8:1:3::1')).res.status, 200);
      assert.equal((await from('192.0.2.10')).res.status, 200);
    } finally {
      await gw.close();
    }
  });

  it('plans: the tier comes from a claim or a role; premium callers get their own, larger limits', async () => {
    const jwt = {
      issuers: [
        { issuer: TEST_IDP.issuer, audience: ['api'], secret: TEST_IDP.secret, algorithms: ['HS256'] },
      ],
    };
    const gw = await startGateway(
      limited(
        upstream.url,
        {
          plans: {
            defaultTier: 'free',
            tiers: {
              free: { limits: [{ name: 'free', limit: 1, windowSeconds: 60 }] },
              premium: { limits: [{ name: 'premium', limit: 3, windowSeconds: 60 }] },
            },
          },
        },
        { plugins: { jwt, authentication: { anonymous: false } } },
      ),
    );
    try {
      const as = async (sub: string, claims: Record<string, unknown> = {}) =>
        hit(gw, '/items', { authorization: `Bearer ${await testToken(sub, claims)}` });
      const statuses = async (sub: string, claims: Record<string, unknown>, n: number) => {
        const out: number[] = [];
        for (let i = 0; i < n; i++) out.push((await as(sub, claims)).res.status);
        return out;
      };
      assert.deepEqual(await statuses('ann', {}, 2), [200, 429]);
      assert.deepEqual(await statuses('bob', { plan: 'premium' }, 4), [200, 200, 200, 429]);
      const premium = await as('cy', { plan: 'premium' });
      assert.equal(premium.res.headers.get('ratelimit-policy'), '"premium";q=3;w=60');
      // An unknown tier name is the default tier, not a way around the limits.
      assert.deepEqual(await statuses('dee', { plan: 'unlimited' }, 2), [200, 429]);
    } finally {
      await gw.close();
    }
  });

  it('concurrency: requests in flight per client are capped and the slot comes back when the answer is done', async () => {
    const waiting: (() => void)[] = [];
    const slow = await startUpstream((_req, res) => {
      waiting.push(() => res.end('done'));
    });
    const gw = await startGateway(limited(slow.url, { key: 'ip', concurrency: { limit: 2 } }));
    try {
      const a = fetch(`${gw.url}/items`);
      const b = fetch(`${gw.url}/items`);
      while (waiting.length < 2) await new Promise((r) => setTimeout(r, 5));
      const third = await hit(gw);
      assert.equal(third.res.status, 429);
      assert.equal(problemOf(third.res.headers.get('content-type'), third.text).code, 'CONCURRENCY_LIMITED');
      assert.equal(third.res.headers.get('ratelimit'), '"concurrency";r=0');
      assert.equal(slow.calls.length, 2);
      for (const done of waiting.splice(0)) done();
      await (await a).text();
      await (await b).text();
      // Released in the log phase, right after the answer went out.
      await new Promise((r) => setTimeout(r, 20));
      const next = fetch(`${gw.url}/items`);
      while (waiting.length < 1) await new Promise((r) => setTimeout(r, 5));
      for (const done of waiting.splice(0)) done();
      assert.equal((await next).status, 200);
    } finally {
      await gw.close();
      await slow.close();
    }
  });

  it('keys by a header or by a CEL expression; without a value, by the client address', async () => {
    const byHeader = await startGateway(
      limited(upstream.url, {
        key: 'header',
        header: 'X-Tenant',
        limits: [{ name: 't', limit: 1, windowSeconds: 60 }],
      }),
    );
    try {
      const as = (tenant?: string) =>
        hit(byHeader, '/items', tenant === undefined ? {} : { 'x-tenant': tenant });
      assert.equal((await as('acme')).res.status, 200);
      assert.equal((await as('acme')).res.status, 429);
      assert.equal((await as('globex')).res.status, 200, 'another tenant has its own counter');
      // A long value is keyed too (hashed), and a missing header falls back to the address.
      assert.equal((await as('x'.repeat(500))).res.status, 200);
      assert.equal((await as('x'.repeat(500))).res.status, 429);
      assert.equal((await as()).res.status, 200);
      assert.equal((await as()).res.status, 429);
    } finally {
      await byHeader.close();
    }
    const byExpression = await startGateway(
      limited(upstream.url, {
        key: 'expression',
        expression: "request.query.region + ':' + route.id",
        limits: [{ name: 'r', limit: 1, windowSeconds: 60 }],
      }),
    );
    try {
      assert.equal((await hit(byExpression, '/items?region=eu')).res.status, 200);
      assert.equal((await hit(byExpression, '/items?region=eu')).res.status, 429);
      assert.equal((await hit(byExpression, '/items?region=us')).res.status, 200);
      // No region: the expression fails, the request is keyed by address (and still limited).
      assert.equal((await hit(byExpression, '/items')).res.status, 200);
      assert.equal((await hit(byExpression, '/items')).res.status, 429);
    } finally {
      await byExpression.close();
    }
  });

  it('a forged X-Forwarded-For from an untrusted peer does not buy a fresh counter', async () => {
    // No trustedProxies here: the peer address is the client, whatever the request claims.
    const gw = await startGateway(
      baseConfig(upstream.url, {
        plugins: { 'rate-limit': { key: 'ip', limits: [{ name: 'b', limit: 2, windowSeconds: 60 }] } },
      }),
    );
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++)
        statuses.push(
          (await hit(gw, '/items', { 'x-forwarded-for': `198.51.100.${i}, 2001:db8::${i}` })).res.status,
        );
      assert.deepEqual(statuses, [200, 200, 429, 429]);
    } finally {
      await gw.close();
    }
  });

  it('monitor mode counts and logs but lets the request through', async () => {
    const gw = await startGateway(
      limited(upstream.url, {
        key: 'ip',
        mode: 'monitor',
        limits: [{ name: 'x', limit: 1, windowSeconds: 60 }],
      }),
    );
    try {
      assert.equal((await hit(gw)).res.status, 200);
      assert.equal((await hit(gw)).res.status, 200);
      await waitForLog(gw, (l) => JSON.stringify(l).includes('RATE_LIMITED'));
    } finally {
      await gw.close();
    }
  });

  it('refuses configs that cannot be enforced, naming the path', async () => {
    const bad = async (settings: Record<string, unknown>, pattern: RegExp) =>
      assert.rejects(startGateway(limited(upstream.url, settings)), (err: unknown) => {
        assert.ok(err instanceof ConfigError || err instanceof Error);
        assert.match((err as Error).message, pattern);
        return true;
      });
    await bad({ key: 'ip' }, /no limits, quotas or concurrency/);
    await bad({ key: 'header', limits: [{ name: 'a', limit: 1, windowSeconds: 1 }] }, /needs "header"/);
    await bad(
      { key: 'ip', limits: [{ name: 'a', algorithm: 'sliding-window', limit: 50000, windowSeconds: 1 }] },
      /at most 10000/,
    );
    await bad(
      {
        key: 'ip',
        limits: [
          { name: 'a', limit: 1, windowSeconds: 1 },
          { name: 'a', limit: 2, windowSeconds: 2 },
        ],
      },
      /two limits are named "a"/,
    );
    await bad(
      {
        key: 'expression',
        expression: 'principal.id ==',
        limits: [{ name: 'a', limit: 1, windowSeconds: 1 }],
      },
      /expression/,
    );
    await bad({ key: 'ip', limits: [{ name: 'bad name!', limit: 1, windowSeconds: 1 }] }, /name/);
  });
});

/**
 * Regression tests from the security review of rate limiting (issue 8): each proves a finding is
 * fixed (a bypass refused at start-up, a race closed, a spelling folded, a slot given back).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import pino from 'pino';
import { addressGroup } from '../../src/core/ip.js';
import { compileField, usernamesIn } from '../../src/plugins/rate-limit/login-throttle/username.js';
import { rateLimitClock } from '../../src/plugins/rate-limit/rate-limit/index.js';
import { ResilientBackend } from '../../src/ratelimit/fallback.js';
import { memoryCounters } from '../../src/ratelimit/lockout.js';
import { MemoryLimitBackend } from '../../src/ratelimit/memory.js';
import { RedisLimitBackend } from '../../src/ratelimit/redis.js';
import { whenReady } from '../../src/stores/redis.js';
import { baseConfig, startGateway, startUpstream, type TestUpstream } from '../helpers.js';
import { deletePrefix, REDIS_URL, redisSkipReason, uniquePrefix } from '../stores/redis-env.js';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('rate-limit review regressions', () => {
  let upstream: TestUpstream;
  const now = T0;
  const realClock = rateLimitClock.now;
  before(async () => {
    upstream = await startUpstream();
    rateLimitClock.now = () => now;
  });
  after(async () => {
    rateLimitClock.now = realClock;
    await upstream.close();
  });

  it('scope global: one limit name with two algorithms is refused at start-up (they would reset each other)', async () => {
    await assert.rejects(
      startGateway(
        baseConfig(upstream.url, {
          listeners: [{ name: 'test', host: '127.0.0.1', port: 0 }],
          routes: [
            {
              id: 'items',
              path: '/items',
              methods: ['GET'],
              upstream: 'api',
              plugins: {
                'rate-limit': {
                  key: 'ip',
                  scope: 'global',
                  limits: [{ name: 'main', algorithm: 'gcra', limit: 1, windowSeconds: 3600 }],
                },
              },
            },
            {
              id: 'item',
              path: '/items/:id',
              methods: ['GET'],
              upstream: 'api',
              plugins: {
                'rate-limit': {
                  key: 'ip',
                  scope: 'global',
                  limits: [{ name: 'main', algorithm: 'sliding-window', limit: 1, windowSeconds: 3600 }],
                },
              },
            },
          ],
        }),
      ),
      /one algorithm/,
    );
  });

  it('a cost no limit can ever hold is refused at start-up (it would answer 429 forever)', async () => {
    await assert.rejects(
      startGateway(
        baseConfig(upstream.url, {
          plugins: {
            'rate-limit': {
              key: 'ip',
              cost: 5,
              limits: [{ name: 'b', algorithm: 'gcra', limit: 10, windowSeconds: 10, burst: 3 }],
            },
          },
        }),
      ),
      /cost 5 is more than limit "b" can ever admit at once \(3\)/,
    );
    await assert.rejects(
      startGateway(
        baseConfig(upstream.url, {
          plugins: { 'rate-limit': { key: 'ip', cost: 5, quotas: [{ name: 'q', limit: 3, period: 'day' }] } },
        }),
      ),
      /cost 5 is more than limit "q"/,
    );
  });
});

describe('login-throttle review regressions', () => {
  it('40 concurrent wrong passwords for one username from 40 addresses: one reaches the upstream at a time', async () => {
    let judged = 0;
    const slow = await startUpstream(async (_req, res) => {
      judged++;
      await sleep(300);
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{}');
    });
    const gw = await startGateway(
      baseConfig(slow.url, {
        listeners: [{ name: 'test', host: '127.0.0.1', port: 0, trustedProxies: ['127.0.0.1'] }],
        routes: [
          {
            id: 'login',
            path: '/login',
            methods: ['POST'],
            upstream: 'api',
            plugins: { 'login-throttle': {} },
          },
        ],
      }),
    );
    try {
      const statuses = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          fetch(`${gw.url}/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-forwarded-for': `203.0.113.${i + 1}` },
            body: JSON.stringify({ username: 'alice', password: `guess${i}` }),
          }).then(async (r) => {
            await r.text();
            return r.status;
          }),
        ),
      );
      // One at a time: only attempts that arrive after the previous answer reach the upstream, and
      // never more than the free attempts before the delay starts.
      const reached = statuses.filter((s) => s === 401).length;
      assert.ok(reached >= 1 && reached <= 5, `${reached} reached the upstream`);
      assert.equal(statuses.filter((s) => s === 429).length, 40 - reached);
      assert.equal(judged, reached);
    } finally {
      await gw.close();
      await slow.close();
    }
  });

  it('a UTF-8 BOM before JSON does not hide the username; Unicode spellings of one account share a counter', async () => {
    let judged = 0;
    const up = await startUpstream((_req, res) => {
      judged++;
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{}');
    });
    const gw = await startGateway(
      baseConfig(up.url, {
        listeners: [{ name: 'test', host: '127.0.0.1', port: 0, trustedProxies: ['127.0.0.1'] }],
        routes: [
          {
            id: 'login',
            path: '/login',
            methods: ['POST'],
            upstream: 'api',
            plugins: { 'login-throttle': {} },
          },
        ],
      }),
    );
    try {
      // Attempts on alice from 3 addresses (below perIp 20): the per-username rule engages after 5.
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const r = await fetch(`${gw.url}/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': `198.51.100.${(i % 3) + 1}` },
          body: `\uFEFF${JSON.stringify({ username: 'alice', password: `g${i}` })}`,
        });
        await r.text();
        statuses.push(r.status);
      }
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
      assert.equal(judged, 5);
    } finally {
      await gw.close();
      await up.close();
    }
    const field = compileField('username');
    const body = (s: string) => Buffer.from(JSON.stringify({ username: s }), 'utf8');
    assert.deepEqual(usernamesIn(field, 'application/json', Buffer.from(`\uFEFF{"username":"alice"}`)), [
      'alice',
    ]);
    // UTF-16 JSON (Python json.loads(bytes) auto-detects it; body-parser honours charset=utf-16).
    assert.deepEqual(usernamesIn(field, 'application/json', Buffer.from('{"username":"alice"}', 'utf16le')), [
      'alice',
    ]);
    // One account for an accent-/ignorable-insensitive collation (MySQL 8 default utf8mb4_0900_ai_ci):
    // one throttle counter.
    const variants = ['alice', 'alicé', 'àlice', 'ali\u200bce', 'alice\u00ad', 'al\u2060ice'];
    const keys = new Set(variants.map((v) => usernamesIn(field, 'application/json', body(v))[0]));
    assert.equal(keys.size, 1);
  });

  it('the memory lockout keeps a block in force through a flood of junk keys', () => {
    let t = T0;
    const c = memoryCounters(1000, () => t);
    const rule = { threshold: 5, windowMs: 900_000, lockoutMs: 900_000, maxLockoutMs: 900_000 };
    for (let i = 0; i < 5; i++) c.fail('victim', rule);
    assert.ok((c.blockedFor('victim') as number) > 0, 'blocked for 15 min');
    for (let i = 0; i < 1000; i++) c.fail(`junk${i}`, rule); // one failure each, distinct usernames
    t += 1;
    assert.ok((c.blockedFor('victim') as number) > 0, 'still blocked after 1000 junk failures');
  });
});

describe('core/ip review regressions', () => {
  it('IPv4-mapped addresses in any spelling are the IPv4 address; none collapses into ::/64', () => {
    assert.equal(addressGroup('::ffff:1.2.3.4'), '1.2.3.4');
    assert.equal(addressGroup('0:0:0:0:0:ffff:1.2.3.4'), '1.2.3.4');
    assert.equal(addressGroup('::ffff:102:304'), '1.2.3.4');
    assert.equal(addressGroup('::ffff:5.6.7.8', 64), '5.6.7.8');
    assert.notEqual(addressGroup('::1.2.3.4'), addressGroup('::1'));
  });
});

const skip = await redisSkipReason('review redis');
describe('Redis review regressions', { skip }, () => {
  const prefix = uniquePrefix();
  let redis: Redis;
  before(async () => {
    redis = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    redis.on('error', () => {});
    await whenReady(redis, 5000);
  });
  after(async () => {
    redis.disconnect();
    await deletePrefix(prefix);
  });

  it('a release sent while the connection blips is retried: the slot comes back', async () => {
    const primary = new RedisLimitBackend(redis, { keyPrefix: prefix, clock: 'redis' });
    let up = true;
    const b = new ResilientBackend(
      primary,
      new MemoryLimitBackend(),
      'local',
      100,
      pino({ level: 'silent' }),
      () => up,
    );
    const l1 = await b.acquire('client', 1, 300_000, 'tok1', Date.now());
    assert.equal(l1.acquired, true);
    up = false; // a reconnect blip at the moment the request finishes
    await b.release('client', 'tok1');
    up = true;
    const l2 = await b.acquire('client', 1, 300_000, 'tok2', Date.now());
    assert.equal(l2.acquired, true, 'the first slot was given back before the second was asked for');
  });
});

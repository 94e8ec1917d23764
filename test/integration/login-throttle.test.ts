import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { loginThrottleClock } from '../../src/plugins/rate-limit/login-throttle/index.js';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
  waitForLog,
} from '../helpers.js';
import { deletePrefix, REDIS_URL, redisSkipReason, uniquePrefix } from '../stores/redis-env.js';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
let now = T0;
const realClock = loginThrottleClock.now;

/** The login upstream: 200 for the password "right", 401 for any other; reads JSON and forms. */
async function startLoginUpstream(): Promise<TestUpstream> {
  return startUpstream((req, res, call) => {
    let password: unknown;
    const type = req.headers['content-type'] ?? '';
    try {
      if (type.startsWith('application/json'))
        password = (JSON.parse(call.body.toString('utf8')) as { password?: unknown }).password;
      else password = new URLSearchParams(call.body.toString('utf8')).get('password');
    } catch {
      password = undefined;
    }
    const ok = password === 'right' || !call.url.startsWith('/login');
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok }));
  });
}

function config(
  upstreamUrl: string,
  settings: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) {
  return baseConfig(upstreamUrl, {
    listeners: [{ name: 'test', host: '127.0.0.1', port: 0, trustedProxies: ['127.0.0.1'] }],
    routes: [
      {
        id: 'login',
        path: '/login',
        methods: ['POST'],
        upstream: 'api',
        plugins: { 'login-throttle': settings },
      },
      { id: 'items', path: '/items', methods: ['GET', 'POST'], upstream: 'api' },
    ],
    ...extra,
  });
}

interface Answer {
  status: number;
  retryAfter: string | null;
  code: string | undefined;
}

async function login(
  gw: TestGateway,
  body: unknown,
  options: { ip?: string; form?: boolean; raw?: string; type?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {
    'content-type': options.type ?? (options.form ? 'application/x-www-form-urlencoded' : 'application/json'),
    'x-forwarded-for': options.ip ?? '198.51.100.1',
  };
  const payload =
    options.raw ??
    (options.form ? new URLSearchParams(body as Record<string, string>).toString() : JSON.stringify(body));
  const res = await fetch(`${gw.url}/login`, { method: 'POST', headers, body: payload });
  const text = await res.text();
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    code: res.status === 429 ? problemOf(res.headers.get('content-type'), text).code : undefined,
  };
}

/** Counting runs after the answer is sent: let another node's Redis write land first. */
const settle = () => new Promise((r) => setTimeout(r, 50));

const wrong = (username: unknown) => ({ username, password: 'wrong' });
const right = (username: unknown) => ({ username, password: 'right' });

describe('login-throttle', () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startLoginUpstream();
    loginThrottleClock.now = () => now;
  });
  after(async () => {
    loginThrottleClock.now = realClock;
    await upstream.close();
  });
  afterEach(() => {
    now = T0;
  });

  it('5 free failures, then 429 LOGIN_THROTTLED with Retry-After 1, 2, 4… without calling the upstream', async () => {
    const gw = await startGateway(config(upstream.url));
    try {
      for (let i = 0; i < 5; i++) assert.equal((await login(gw, wrong('alice'))).status, 401);
      const calls = upstream.calls.length;
      const first = await login(gw, right('alice'));
      assert.deepEqual(first, { status: 429, retryAfter: '1', code: 'LOGIN_THROTTLED' });
      assert.equal(upstream.calls.length, calls, 'a throttled attempt never reaches the upstream');
      const expected = [2, 4, 8, 16];
      for (const seconds of expected) {
        now += 999;
        assert.equal((await login(gw, wrong('alice'))).retryAfter, '1', 'still waiting');
        now += 1;
        assert.equal((await login(gw, wrong('alice'))).status, 401, 'the wait is over: forwarded');
        const refused = await login(gw, wrong('alice'));
        assert.equal(refused.status, 429);
        assert.equal(refused.retryAfter, String(seconds));
        now += (seconds - 1) * 1000;
      }
      assert.equal(upstream.calls.length, calls + expected.length);
      const line = await waitForLog(gw, (l) => l.msg === 'login throttle delay started');
      assert.equal(line.throttle, 'username');
      assert.ok(!JSON.stringify(gw.logs).includes('alice'), 'no raw username in the logs');
      // Another username from the same address is not throttled (6 address failures of 20).
      assert.equal((await login(gw, wrong('bob'))).status, 401);
    } finally {
      await gw.close();
    }
  });

  it('the delay is capped at maxDelaySeconds and forgotten windowSeconds after it ended', async () => {
    const gw = await startGateway(
      config(upstream.url, {
        perUsername: { freeAttempts: 2, windowSeconds: 60, baseDelaySeconds: 10, maxDelaySeconds: 25 },
      }),
    );
    try {
      const seen: string[] = [];
      for (let i = 0; i < 2; i++) assert.equal((await login(gw, wrong('carol'))).status, 401);
      for (let i = 0; i < 4; i++) {
        const r = await login(gw, wrong('carol'));
        seen.push(r.retryAfter ?? '');
        now += Number(r.retryAfter) * 1000;
        assert.equal((await login(gw, wrong('carol'))).status, 401);
      }
      assert.deepEqual(seen, ['10', '20', '25', '25']);
      now += 25_000 + 60_000;
      assert.equal((await login(gw, wrong('carol'))).status, 401);
      assert.equal((await login(gw, wrong('carol'))).status, 401);
      assert.equal((await login(gw, wrong('carol'))).retryAfter, '10');
    } finally {
      await gw.close();
    }
  });

  it('a success clears the username (not the address)', async () => {
    const gw = await startGateway(config(upstream.url, { perIp: { freeAttempts: 12 } }));
    try {
      for (let i = 0; i < 4; i++) assert.equal((await login(gw, wrong('dave'))).status, 401);
      assert.equal((await login(gw, right('dave'))).status, 200);
      for (let i = 0; i < 4; i++) assert.equal((await login(gw, wrong('dave'))).status, 401);
      assert.equal((await login(gw, wrong('dave'))).status, 401);
      assert.equal((await login(gw, wrong('dave'))).status, 429);
      now += 1000;
      assert.equal((await login(gw, right('Dave'))).status, 200);
      // A new first delay after 5 free failures, not a doubled one.
      for (let i = 0; i < 3; i++) assert.equal((await login(gw, wrong('dave'))).status, 401);
      // 12 failures from the address in all: its own delay starts, whoever signs in.
      const r = await login(gw, right('erin'));
      assert.deepEqual(r, { status: 429, retryAfter: '1', code: 'LOGIN_THROTTLED' });
    } finally {
      await gw.close();
    }
  });

  it('credential stuffing: one username from many addresses is throttled', async () => {
    const gw = await startGateway(config(upstream.url));
    try {
      for (let i = 0; i < 5; i++)
        assert.equal((await login(gw, wrong('frank'), { ip: `203.0.113.${i + 1}` })).status, 401);
      const calls = upstream.calls.length;
      for (const ip of ['203.0.113.50', '2001:db8:1:2::1', '192.0.2.9'])
        assert.equal((await login(gw, right('frank'), { ip })).status, 429);
      assert.equal(upstream.calls.length, calls);
      // Those addresses themselves are not throttled.
      assert.equal((await login(gw, right('grace'), { ip: '203.0.113.1' })).status, 200);
    } finally {
      await gw.close();
    }
  });

  it('password spraying: many usernames from one address are throttled by the address rule (IPv6 by /64)', async () => {
    const gw = await startGateway(config(upstream.url));
    try {
      for (let i = 0; i < 20; i++)
        assert.equal(
          (await login(gw, wrong(`user${i}`), { ip: `2001:db8:aa:bb::${(i + 1).toString(16)}` })).status,
          401,
        );
      const calls = upstream.calls.length;
      const r = await login(gw, right('someone-new'), { ip: '2001:db8:aa:bb:ffff::1' });
      assert.deepEqual(r, { status: 429, retryAfter: '1', code: 'LOGIN_THROTTLED' });
      assert.equal(upstream.calls.length, calls);
      // Another /64 is another client.
      assert.equal((await login(gw, right('someone-new'), { ip: '2001:db8:aa:bc::1' })).status, 200);
    } finally {
      await gw.close();
    }
  });

  it('usernames are case-, width- and space-insensitive', async () => {
    const gw = await startGateway(config(upstream.url));
    try {
      const variants = ['ALICE', 'alice', 'ａｌｉｃｅ', ' Alice ', 'ＡＬＩＣＥ'];
      for (const [i, v] of variants.entries())
        assert.equal((await login(gw, wrong(v), { ip: `192.0.2.${i + 1}` })).status, 401);
      for (const v of variants)
        assert.equal((await login(gw, right(v), { ip: '192.0.2.100' })).status, 429, v);
    } finally {
      await gw.close();
    }
  });

  it('form-encoded bodies count with JSON bodies; a repeated form field counts first and last', async () => {
    const gw = await startGateway(config(upstream.url));
    try {
      for (let i = 0; i < 3; i++)
        assert.equal((await login(gw, wrong('heidi'), { form: true, ip: `192.0.2.${i + 1}` })).status, 401);
      for (let i = 0; i < 2; i++)
        assert.equal((await login(gw, wrong('HEIDI'), { ip: `192.0.2.${i + 10}` })).status, 401);
      assert.equal((await login(gw, right('heidi'), { form: true, ip: '192.0.2.50' })).status, 429);
      assert.equal((await login(gw, right('heidi'), { ip: '192.0.2.51' })).status, 429);
      // The field repeated: the throttled name cannot hide behind another one, first or last.
      const raw1 = 'username=ivan&username=heidi&password=right';
      const raw2 = 'username=heidi&username=ivan&password=right';
      assert.equal((await login(gw, undefined, { form: true, raw: raw1, ip: '192.0.2.52' })).status, 429);
      assert.equal((await login(gw, undefined, { form: true, raw: raw2, ip: '192.0.2.53' })).status, 429);
      // A success naming two usernames clears neither: the attacker's own account cannot wipe
      // the victim's count.
      for (let i = 0; i < 4; i++)
        assert.equal((await login(gw, wrong('victor'), { ip: `192.0.2.${i + 60}` })).status, 401);
      const mixed = 'username=victor&username=ivan&password=right';
      assert.equal((await login(gw, undefined, { form: true, raw: mixed, ip: '192.0.2.70' })).status, 200);
      assert.equal((await login(gw, wrong('victor'), { ip: '192.0.2.71' })).status, 401);
      assert.equal((await login(gw, right('victor'), { ip: '192.0.2.72' })).status, 429);
    } finally {
      await gw.close();
    }
  });

  it('a JSON pointer names a nested username', async () => {
    const gw = await startGateway(config(upstream.url, { usernameField: '/user/email' }));
    try {
      for (let i = 0; i < 5; i++)
        assert.equal(
          (
            await login(
              gw,
              { user: { email: 'Judy@Example.com' }, password: 'x' },
              { ip: `192.0.2.${i + 1}` },
            )
          ).status,
          401,
        );
      const r = await login(
        gw,
        { user: { email: 'judy@example.com' }, password: 'right' },
        { ip: '192.0.2.99' },
      );
      assert.equal(r.status, 429);
    } finally {
      await gw.close();
    }
  });

  it('a body without a usable username (missing, not a string, not JSON, no body) counts by address only', async () => {
    const gw = await startGateway(config(upstream.url, { perIp: { freeAttempts: 6 } }));
    try {
      const ip = '198.51.100.77';
      const bodies: { body: unknown; raw?: string; type?: string }[] = [
        { body: { password: 'wrong' } },
        { body: { username: 42, password: 'wrong' } },
        { body: { username: { $ne: '' }, password: 'wrong' } },
        { body: { username: '   ', password: 'wrong' } },
        { body: undefined, raw: '{"username": "mallory", ' },
        { body: undefined, raw: 'username=mallory&password=wrong', type: 'text/plain' },
      ];
      for (const b of bodies) {
        const r = await login(gw, b.body, {
          ip,
          ...(b.raw === undefined ? {} : { raw: b.raw }),
          ...(b.type === undefined ? {} : { type: b.type }),
        });
        assert.equal(r.status, 401, JSON.stringify(b));
      }
      // Six failures from the address: throttled, whatever the body.
      assert.equal((await login(gw, right('mallory'), { ip })).status, 429);
      const empty = await fetch(`${gw.url}/login`, { method: 'POST', headers: { 'x-forwarded-for': ip } });
      await empty.text();
      assert.equal(empty.status, 429);
      // mallory's own count was never touched: from another address, free.
      assert.equal((await login(gw, right('mallory'), { ip: '198.51.100.78' })).status, 200);
    } finally {
      await gw.close();
    }
  });

  it('a body larger than maxBodyBytes is refused, never forwarded uncounted', async () => {
    const gw = await startGateway(config(upstream.url, { maxBodyBytes: 1024 }));
    try {
      const calls = upstream.calls.length;
      const padded = { username: 'olga', password: 'wrong', pad: 'x'.repeat(2000) };
      const r = await login(gw, padded);
      assert.equal(r.status, 413);
      // Chunked, without Content-Length: refused on the stream.
      const stream = new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode(JSON.stringify(padded)));
          c.close();
        },
      });
      const res = await fetch(`${gw.url}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: stream,
        duplex: 'half',
      } as RequestInit);
      await res.text();
      assert.equal(res.status, 413);
      assert.equal(upstream.calls.length, calls);
      assert.equal((await login(gw, wrong('olga'))).status, 401);
    } finally {
      await gw.close();
    }
  });

  it('only failureStatuses count; other routes are not throttled', async () => {
    const gw = await startGateway(config(upstream.url, { failureStatuses: [403] }));
    try {
      for (let i = 0; i < 8; i++) assert.equal((await login(gw, wrong('ken'))).status, 401);
      const r = await fetch(`${gw.url}/items`, { headers: { 'x-forwarded-for': '198.51.100.1' } });
      await r.text();
      assert.equal(r.status, 200);
    } finally {
      await gw.close();
    }
  });

  it('monitor mode logs the decision and lets the attempt through', async () => {
    const gw = await startGateway(
      config(upstream.url, { mode: 'monitor', perUsername: { freeAttempts: 1 } }),
    );
    try {
      assert.equal((await login(gw, wrong('leo'))).status, 401);
      assert.equal((await login(gw, wrong('leo'))).status, 401);
      assert.equal((await login(gw, right('leo'))).status, 200);
    } finally {
      await gw.close();
    }
  });

  it('refuses a config with both rules off or a malformed pointer', async () => {
    await assert.rejects(
      startGateway(config(upstream.url, { perUsername: { freeAttempts: 0 }, perIp: { freeAttempts: 0 } })),
      /both off/,
    );
    await assert.rejects(startGateway(config(upstream.url, { usernameField: '/a~x' })), /usernameField/);
  });
});

describe('login-throttle shared through Redis', async () => {
  const skip = await redisSkipReason('login-throttle redis');
  let upstream: TestUpstream;
  let nodes: TestGateway[] = [];
  const prefix = uniquePrefix();

  before(async () => {
    if (skip) return;
    upstream = await startLoginUpstream();
    const c = config(
      upstream.url,
      { backend: 'redis', perUsername: { freeAttempts: 3 } },
      { stores: { redis: { url: REDIS_URL, keyPrefix: prefix } } },
    );
    nodes = [await startGateway(c), await startGateway(c)];
  });

  after(async () => {
    if (skip) return;
    await Promise.all(nodes.map((n) => n.close()));
    await upstream.close();
    await deletePrefix(prefix);
  });

  it('failures on one node throttle the username on the other; the delay doubles; a success clears it', {
    skip,
  }, async () => {
    const [a, b] = nodes as [TestGateway, TestGateway];
    const user = `nina-${randomBytes(4).toString('hex')}`;
    for (let i = 0; i < 3; i++)
      assert.equal((await login(a, wrong(user), { ip: `192.0.2.${i + 1}` })).status, 401);
    await settle();
    const calls = upstream.calls.length;
    const refused = await login(b, right(user.toUpperCase()), { ip: '192.0.2.200' });
    assert.deepEqual(refused, { status: 429, retryAfter: '1', code: 'LOGIN_THROTTLED' });
    assert.equal(upstream.calls.length, calls);
    // Real time here: Redis keeps the delays.
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await login(b, wrong(user), { ip: '192.0.2.201' })).status, 401);
    await settle();
    const doubled = await login(a, wrong(user), { ip: '192.0.2.202' });
    assert.equal(doubled.status, 429);
    assert.equal(doubled.retryAfter, '2');
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal((await login(a, right(user), { ip: '192.0.2.203' })).status, 200);
    await settle();
    // Cleared everywhere: the free failures again.
    for (let i = 0; i < 2; i++)
      assert.equal((await login(b, wrong(user), { ip: '192.0.2.204' })).status, 401);
    assert.equal((await login(b, right(user), { ip: '192.0.2.204' })).status, 200);
  });
});

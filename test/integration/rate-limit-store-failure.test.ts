import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
} from '../helpers.js';

/**
 * The redis rate-limit backend when its Redis dies, comes back, or is slow: a private redis-server
 * on a free port (killed with SIGKILL mid-test, restarted on the same port), two in-process
 * gateways sharing it, one route per onStoreFailure policy (local, allow, deny), storeTimeoutMs 100.
 */

const TIMEOUT_MS = 100;
const LIMIT = 5;
/** No answer may take longer than this while Redis is dead or slow. */
const PROMPT_MS = 1000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A small shell keeps the private redis-server on a leash: it SIGKILLs it as soon as its stdin
 * closes, which happens when we ask (kill) and also when this process dies in any way (a crash,
 * a signal, a broken output pipe), so no redis-server outlives the test.
 */
const LEASH = 'redis-server "$@" & pid=$!; read _; kill -9 "$pid"; wait "$pid"';

/** A private redis-server: started, killed with SIGKILL, started again on the same port. */
class PrivateRedis {
  child: ChildProcess | undefined;
  constructor(readonly port: number) {}

  async start(): Promise<void> {
    const child = spawn(
      'sh',
      [
        '-c',
        LEASH,
        'sh',
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      {
        stdio: ['pipe', 'ignore', 'ignore'],
        env: { ...process.env, PATH: `/usr/bin:${process.env.PATH ?? ''}` },
      },
    );
    this.child = child;
    const deadline = Date.now() + 5000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode})`);
      try {
        if ((await this.call((r) => r.ping())) === 'PONG') return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`redis-server not answering on port ${this.port}`);
      }
      await sleep(20);
    }
  }

  /** SIGKILL to redis-server (by the leash), resolved once it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.stdin?.end();
    await gone;
  }

  /** One command on a short-lived connection of its own. */
  async call<T>(fn: (r: Redis) => Promise<T>): Promise<T> {
    const r = new Redis({
      host: '127.0.0.1',
      port: this.port,
      lazyConnect: true,
      connectTimeout: 500,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    r.on('error', () => {});
    try {
      await r.connect();
      return await fn(r);
    } finally {
      r.disconnect();
    }
  }
}

interface Answer {
  status: number;
  ms: number;
  headers: Headers;
  text: string;
}

async function hit(gw: TestGateway, path: string): Promise<Answer> {
  const t0 = performance.now();
  // A hang fails the test (after 5 s) instead of blocking it.
  const res = await fetch(`${gw.url}${path}`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  return { status: res.status, ms: performance.now() - t0, headers: res.headers, text };
}

function route(id: string, policy: 'local' | 'allow' | 'deny', limit = LIMIT): Record<string, unknown> {
  return {
    id,
    path: `/${id}`,
    methods: ['GET'],
    upstream: 'api',
    plugins: {
      'rate-limit': {
        key: 'route',
        backend: 'redis',
        onStoreFailure: policy,
        storeTimeoutMs: TIMEOUT_MS,
        limits: [{ name: 'window', algorithm: 'sliding-window', limit, windowSeconds: 60 }],
      },
    },
  };
}

const msgs = (gw: TestGateway, re: RegExp) => gw.logs.filter((l) => re.test(String(l.msg ?? '')));
const FAILING = /^rate-limit: shared store failing/;
const BACK = /^rate-limit: shared store is back/;

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('rate-limit: Redis store failure, recovery and slowness', () => {
  let redis: PrivateRedis;
  let upstream: TestUpstream;
  let a: TestGateway | undefined;
  let b: TestGateway | undefined;
  const prefix = `portcullis-test:${process.pid}-${randomBytes(4).toString('hex')}:`;
  const keyOf = (id: string) => `${prefix}rl:{r:${id}|route}:window`;
  // Admissions in a window (the running total is one more member, scored +inf).
  const zcard = (id: string) => redis.call((r) => r.zcount(keyOf(id), '-inf', '(+inf'));
  const upstreamCalls = (path: string) => upstream.calls.filter((c) => c.url === path).length;
  // The private Redis must not outlive this process, however it ends.
  const killOnExit = () => redis?.child?.stdin?.destroy();
  const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const onSignal = (sig: NodeJS.Signals) => {
    killOnExit();
    for (const s of SIGNALS) process.off(s, onSignal);
    process.kill(process.pid, sig);
  };

  /** Until a request to /warm on `gw` lands in Redis: its connection is up (else it decides locally). */
  async function untilOnRedis(gw: TestGateway): Promise<void> {
    await waitFor('the gateway to use Redis', async () => {
      const before = await zcard('warm');
      assert.equal((await hit(gw, '/warm')).status, 200);
      return (await zcard('warm')) === before + 1;
    });
  }

  before(async () => {
    process.on('exit', killOnExit);
    for (const s of SIGNALS) process.on(s, onSignal);
    redis = new PrivateRedis(await freePort());
    await redis.start();
    upstream = await startUpstream();
    const config = baseConfig(upstream.url, {
      stores: {
        redis: {
          url: `redis://127.0.0.1:${redis.port}`,
          keyPrefix: prefix,
          connectTimeoutMs: 500,
          commandTimeoutMs: 1000,
        },
      },
      routes: [
        route('local', 'local'),
        route('allow', 'allow'),
        route('deny', 'deny'),
        route('warm', 'local', 10_000),
      ],
    });
    a = await startGateway(config);
    b = await startGateway(config);
    await untilOnRedis(a);
    await untilOnRedis(b);
  });

  after(async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    await redis?.kill();
    process.off('exit', killOnExit);
    for (const s of SIGNALS) process.off(s, onSignal);
    await upstream?.close();
  });

  it('with Redis up, two gateways share one counter', async () => {
    const gwA = a as TestGateway;
    const gwB = b as TestGateway;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await hit(gwA, '/local')).status);
    for (let i = 0; i < 3; i++) statuses.push((await hit(gwB, '/local')).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
    assert.equal(await zcard('local'), LIMIT, 'the admissions are in Redis');
    assert.equal(upstreamCalls('/local'), LIMIT);
    // (Only /warm may have fallen back: the probe's first request can come before the connection
    // is up in the probe itself.)
    const fallbacks = [...msgs(gwA, FAILING), ...msgs(gwB, FAILING)].filter((l) => l.route !== 'warm');
    assert.equal(fallbacks.length, 0, 'no fallback so far');
  });

  it('Redis SIGKILLed: no request hangs; local counts exactly on each node, allow admits, deny answers 503', async (t) => {
    const gwA = a as TestGateway;
    const gwB = b as TestGateway;
    await redis.kill();
    const callsBefore = upstream.calls.length;

    // local: each node counts on its own counters (fresh: nothing was charged locally while Redis
    // was up), so each admits exactly the limit, then 429 RATE_LIMITED.
    for (const gw of [gwA, gwB]) {
      const answers: Answer[] = [];
      for (let i = 0; i < LIMIT + 3; i++) answers.push(await hit(gw, '/local'));
      assert.deepEqual(
        answers.map((x) => x.status),
        [...Array(LIMIT).fill(200), 429, 429, 429],
      );
      const refused = answers.at(-1) as Answer;
      assert.equal(problemOf(refused.headers.get('content-type'), refused.text).code, 'RATE_LIMITED');
      const slowest = Math.max(...answers.map((x) => x.ms));
      t.diagnostic(`local policy, slowest answer ${slowest.toFixed(1)} ms`);
      assert.ok(slowest < PROMPT_MS, `every answer within ${PROMPT_MS} ms (slowest ${slowest} ms)`);
    }

    // allow: fails open, far past the limit.
    const allowed: Answer[] = [];
    for (let i = 0; i < LIMIT * 3; i++) allowed.push(await hit(gwA, '/allow'));
    assert.deepEqual(
      allowed.map((x) => x.status),
      Array(LIMIT * 3).fill(200),
    );
    assert.ok(Math.max(...allowed.map((x) => x.ms)) < PROMPT_MS);

    // deny: 503 RATE_LIMIT_UNAVAILABLE with Retry-After, the upstream never called.
    for (let i = 0; i < 3; i++) {
      const d = await hit(gwA, '/deny');
      assert.equal(d.status, 503);
      assert.equal(d.headers.get('retry-after'), '1');
      assert.equal(problemOf(d.headers.get('content-type'), d.text).code, 'RATE_LIMIT_UNAVAILABLE');
      assert.ok(d.ms < PROMPT_MS);
    }
    assert.equal(upstreamCalls('/deny'), 0);
    assert.equal(upstream.calls.length - callsBefore, 2 * LIMIT + 3 * LIMIT);

    // Ten at once, all three policies: none waits for the dead store.
    const burst = await Promise.all(
      Array.from({ length: 10 }, (_, i) => hit(gwA, ['/local', '/allow', '/deny'][i % 3] as string)),
    );
    assert.ok(Math.max(...burst.map((x) => x.ms)) < PROMPT_MS);

    // One log line per outage per route, naming the policy.
    for (const gw of [gwA, gwB]) {
      const lines = msgs(gw, FAILING);
      assert.ok(lines.length >= 1, 'a log line says the store is failing');
      assert.ok(lines.every((l) => l.level === 'error'));
    }
    assert.equal(msgs(gwA, FAILING).filter((l) => l.route === 'local').length, 1);
    assert.match(String(msgs(gwA, FAILING).find((l) => l.route === 'deny')?.msg), /"deny" policy/);
  });

  it('Redis restarted on the same port: decisions use Redis again within seconds', async () => {
    const gwA = a as TestGateway;
    const gwB = b as TestGateway;
    const t0 = Date.now();
    await redis.start(); // empty: no persistence
    // Both nodes' local counters for /local are spent (429); Redis's is empty. The first 200 from
    // a node is therefore a Redis decision.
    await waitFor('node A to admit from Redis', async () => (await hit(gwA, '/local')).status === 200, 8000);
    const recoveredAfter = Date.now() - t0;
    assert.equal(await zcard('local'), 1, 'the admission is in Redis');
    await waitFor('node B to admit from Redis', async () => (await hit(gwB, '/local')).status === 200, 8000);
    assert.equal(await zcard('local'), 2);
    // The shared counter holds again: 3 more across both nodes, then 429 on both.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await hit(i % 2 === 0 ? gwA : gwB, '/local')).status);
    statuses.push((await hit(gwB, '/local')).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assert.equal(await zcard('local'), LIMIT);
    await waitFor('the "back" log lines', () => msgs(gwA, BACK).length >= 1 && msgs(gwB, BACK).length >= 1);
    assert.ok(msgs(gwA, /^Redis reachable again/).length >= 1);
    // allow and deny decide by Redis again too.
    assert.equal((await hit(gwA, '/deny')).status, 200);
    assert.equal(await zcard('deny'), 1);
    assert.equal((await hit(gwA, '/allow')).status, 200);
    assert.equal(await zcard('allow'), 1);
    console.log(`# Redis decisions again ${recoveredAfter} ms after the restart`);
    assert.ok(recoveredAfter < 5000, `back within 5 s (${recoveredAfter} ms)`);
  });

  it('a request right after start waits for the first connection instead of falling back', async () => {
    const gw = await startGateway(
      baseConfig(upstream.url, {
        stores: { redis: { url: `redis://127.0.0.1:${redis.port}`, keyPrefix: prefix } },
        routes: [route('deny', 'deny', 10_000)],
      }),
    );
    try {
      const first = await hit(gw, '/deny');
      assert.equal(first.status, 200, `first request after start: ${first.status} ${first.text}`);
      assert.equal(msgs(gw, FAILING).length, 0);
    } finally {
      await gw.close();
    }
  });

  it('slow Redis (CLIENT PAUSE 1500 ms): the fallback decides within ~storeTimeoutMs', async (t) => {
    const gwA = a as TestGateway;
    const failingBefore = msgs(gwA, FAILING).length;
    // Counted here, so this test does not depend on how the one before it ended.
    const allowBackBefore = msgs(gwA, BACK).filter((l) => l.route === 'allow').length;
    const allowBefore = await zcard('allow');
    // On a connection of its own that is then closed: the pause holds every other client.
    await redis.call((r) => r.call('CLIENT', 'PAUSE', '1500', 'ALL'));
    const t0 = performance.now();
    const [local, allow, deny] = await Promise.all([
      hit(gwA, '/local'),
      hit(gwA, '/allow'),
      hit(gwA, '/deny'),
    ]);
    const elapsed = performance.now() - t0;
    t.diagnostic(
      `during the pause: local ${local.status} in ${local.ms.toFixed(0)} ms, allow ${allow.status} in ${allow.ms.toFixed(0)} ms, deny ${deny.status} in ${deny.ms.toFixed(0)} ms`,
    );
    // /local: node A's own counter is spent (the outage above), so 429 from the local decision.
    assert.equal(local.status, 429);
    assert.equal(allow.status, 200);
    assert.equal(deny.status, 503);
    assert.equal(problemOf(deny.headers.get('content-type'), deny.text).code, 'RATE_LIMIT_UNAVAILABLE');
    for (const x of [local, allow, deny]) {
      assert.ok(x.ms >= TIMEOUT_MS - 5, `waited for the store first (${x.ms} ms)`);
      assert.ok(
        x.ms < TIMEOUT_MS + 300,
        `decided by the fallback within ~${TIMEOUT_MS} ms, not 1.5 s (${x.ms} ms)`,
      );
    }
    assert.ok(elapsed < 1000);
    assert.ok(msgs(gwA, FAILING).length > failingBefore, 'a new outage is logged');
    // After the pause, Redis decides again.
    await sleep(1650 - (performance.now() - t0));
    const allowAfter = await zcard('allow');
    await waitFor('allow to be decided by Redis', async () => {
      await hit(gwA, '/allow');
      return msgs(gwA, BACK).filter((l) => l.route === 'allow').length > allowBackBefore;
    });
    // The timed-out script still ran once the pause ended: that admission is counted in Redis
    // although the fallback decided it (a store that is slow, not dead, still gets the write).
    t.diagnostic(`allow counter in Redis: ${allowBefore} before the pause, ${allowAfter} once it ended`);
  });
});

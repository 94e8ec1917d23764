import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { type AnomalyConfig, AnomalyDetector, clock, Distinct, Ring } from './anomaly.js';
import type { RequestRecord } from './events.js';
import type { Alert } from './hub.js';
import { createLogger } from './logger.js';
import { AnomalySchema } from './schema.js';

function configOf(over: Record<string, unknown> = {}): AnomalyConfig {
  return Value.Default(AnomalySchema, structuredClone(over)) as AnomalyConfig;
}

let seq = 0;
function rec(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    at: clock.now(),
    requestId: `r${seq++}`,
    route: 'items',
    method: 'GET',
    status: 200,
    code: undefined,
    totalMs: 1,
    upstreamMs: 1,
    upstreamCalled: true,
    ip: '198.51.100.7',
    principal: undefined,
    consumer: undefined,
    credentialId: undefined,
    authMethod: undefined,
    authFailure: undefined,
    deniedBy: undefined,
    objectId: undefined,
    ...over,
  };
}

function harness(over: Record<string, unknown> = {}) {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line));
      cb();
    },
  });
  const published: Alert[] = [];
  const detector = new AnomalyDetector(configOf(over), createLogger('info', sink), (a) => published.push(a), {
    webhook: { baseDelayMs: 50 },
  });
  return { detector, published, logs };
}

const START = Date.UTC(2026, 0, 1, 12, 0, 0);
let now = START;
const realNow = clock.now;
beforeEach(() => {
  now = START;
  clock.now = () => now;
});
afterEach(() => {
  clock.now = realNow;
});

describe('Ring', () => {
  it('sums the last n buckets and forgets older ones', () => {
    const r = new Ring(3, 0.1);
    assert.equal(r.add(10), 1);
    assert.equal(r.add(11, 2), 3);
    assert.equal(r.add(12), 4);
    assert.equal(r.add(13), 4, 'bucket 10 left the window');
    assert.equal(r.total(20), 0);
    assert.equal(r.add(100), 1);
  });

  it('keeps a slow baseline of the count per bucket', () => {
    const r = new Ring(6, 0.05);
    for (let b = 0; b < 400; b++) r.add(b, 2);
    assert.ok(Math.abs(r.baseline - 2) < 0.01, String(r.baseline));
    assert.ok(Math.abs(r.expected(400, 10) - 12) < 0.1);
    assert.equal(new Ring(6, 0.05).expected(0, 10), 0, 'no baseline yet');
  });
});

describe('Distinct', () => {
  it('counts distinct values in the window, capped', () => {
    const d = new Distinct(3, 5);
    assert.equal(d.add('a', 1), 1);
    assert.equal(d.add('a', 1), 1);
    assert.equal(d.add('b', 2), 2);
    assert.equal(d.add('c', 4), 2, 'a expired');
    for (let i = 0; i < 20; i++) d.add(`x${i}`, 5);
    assert.equal(d.add('y', 5), 5, 'never more than the cap');
  });
});

describe('error-spike', () => {
  it('alerts on a burst of 5xx on a route, once per cooldown', () => {
    const { detector, published, logs } = harness();
    for (let i = 0; i < 19; i++) detector.observe(rec({ status: 502, ip: `10.0.0.${i}` }));
    assert.equal(published.length, 0, 'below minCount');
    detector.observe(rec({ status: 502, ip: '10.0.0.99' }));
    assert.equal(published.length, 1);
    const a = published[0] as Alert;
    assert.equal(a.rule, 'error-spike');
    assert.deepEqual(a.subject, { kind: 'route', id: 'items' });
    assert.equal(a.detail.class, '5xx');
    for (let i = 0; i < 50; i++) detector.observe(rec({ status: 500, ip: `10.0.1.${i}` }));
    assert.equal(published.length, 1, 'de-duplicated');
    assert.ok(logs.some((l) => l.log === 'alert' && l.rule === 'error-spike' && l.level === 'warn'));
    now += 301_000;
    for (let i = 0; i < 20; i++) detector.observe(rec({ status: 500, ip: `10.0.2.${i}` }));
    assert.equal(published.length, 2, 'again after the cooldown');
  });

  it('a few errors on a quiet route never alert; spikes per address are their own subject', () => {
    const { detector, published } = harness();
    for (let i = 0; i < 5; i++) detector.observe(rec({ status: 403, route: 'quiet', ip: `10.9.0.${i}` }));
    assert.equal(published.length, 0);
    for (let i = 0; i < 25; i++) detector.observe(rec({ status: 429, route: `r${i}` }));
    assert.deepEqual(
      published.map((a) => a.subject),
      [{ kind: 'ip', id: '198.51.100.7' }],
    );
  });

  it('judges against the baseline: a route that always fails does not alert, a jump does', () => {
    const { detector, published } = harness({
      rules: { 'error-spike': { minCount: 5, factor: 4 } },
      cooldownSeconds: 10,
    });
    // 20 minutes at 3 errors per 10 s: about 18 per minute, baseline learnt. The first minute
    // alerts (no baseline yet) — then nothing.
    for (let m = 0; m < 120; m++) {
      for (let k = 0; k < 3; k++) detector.observe(rec({ status: 503, ip: `10.1.${m}.${k}` }));
      now += 10_000;
    }
    const before = published.length;
    for (let m = 0; m < 30; m++) {
      for (let k = 0; k < 3; k++) detector.observe(rec({ status: 503, ip: `10.2.${m}.${k}` }));
      now += 10_000;
    }
    assert.equal(published.length, before, 'steady failure rate: no new alert');
    for (let k = 0; k < 100; k++) detector.observe(rec({ status: 503, ip: `10.3.0.${k}` }));
    assert.equal(published.length, before + 1, 'a jump well above the baseline alerts');
  });
});

describe('credential-stuffing', () => {
  it('many failing credentials from one address: a critical alert within the window', () => {
    const { detector, published } = harness();
    for (let i = 0; i < 7; i++) {
      detector.observe(
        rec({ status: 401, code: 'UNAUTHENTICATED', authFailure: 'unknown_key', credentialId: `k${i}` }),
      );
      now += 100;
    }
    assert.equal(published.filter((a) => a.rule === 'credential-stuffing').length, 0);
    detector.observe(
      rec({ status: 401, code: 'UNAUTHENTICATED', authFailure: 'unknown_key', credentialId: 'k7' }),
    );
    const a = published.find((x) => x.rule === 'credential-stuffing');
    assert.ok(a);
    assert.equal(a.severity, 'critical');
    assert.deepEqual(a.subject, { kind: 'ip', id: '198.51.100.7' });
    assert.equal(a.detail.distinctCredentials, 8);
  });

  it('one credential failing from many addresses', () => {
    const { detector, published } = harness();
    for (let i = 0; i < 10; i++)
      detector.observe(
        rec({ status: 401, authFailure: 'bad_secret', credentialId: 'k-victim', ip: `203.0.113.${i}` }),
      );
    const a = published.find((x) => x.rule === 'credential-stuffing');
    assert.ok(a);
    assert.deepEqual(a.subject, { kind: 'key', id: 'k-victim' });
  });

  it('login failures the upstream answers (401, no credential id) count per address', () => {
    const { detector, published } = harness({ rules: { 'error-spike': { enabled: false } } });
    for (let i = 0; i < 29; i++) detector.observe(rec({ status: 401, route: 'login', method: 'POST' }));
    assert.equal(published.length, 0);
    detector.observe(rec({ status: 401, route: 'login', method: 'POST' }));
    assert.equal(published[0]?.rule, 'credential-stuffing');
  });

  it('a user mistyping a few times, spread over minutes, is not an attack', () => {
    const { detector, published } = harness();
    for (let i = 0; i < 40; i++) {
      detector.observe(rec({ status: 401, authFailure: 'bad_secret', credentialId: 'k1' }));
      now += 30_000;
    }
    assert.equal(published.length, 0);
  });
});

describe('enumeration', () => {
  it('one principal collecting many 403/404 on object routes', () => {
    const { detector, published } = harness({ rules: { 'error-spike': { enabled: false } } });
    for (let i = 0; i < 25; i++)
      detector.observe(
        rec({ route: 'item', principal: 'user:1', objectId: String(1000 + i), status: i % 2 ? 404 : 403 }),
      );
    const a = published.find((x) => x.rule === 'enumeration');
    assert.ok(a);
    assert.deepEqual(a.subject, { kind: 'principal', id: 'user:1' });
  });

  it('one anonymous address touching many distinct objects', () => {
    const { detector, published } = harness({ rules: { enumeration: { distinctObjects: 50 } } });
    for (let i = 0; i < 49; i++) detector.observe(rec({ route: 'item', objectId: String(i) }));
    for (let i = 0; i < 49; i++) detector.observe(rec({ route: 'item', objectId: String(i) }));
    assert.equal(published.length, 0, 'the same objects again are not new ones');
    detector.observe(rec({ route: 'item', objectId: '49' }));
    assert.deepEqual(published[0]?.subject, { kind: 'ip', id: '198.51.100.7' });
  });
});

describe('scraping', () => {
  it('a principal far above its usual volume', () => {
    const { detector, published } = harness({ rules: { scraping: { minCount: 100, factor: 5 } } });
    // 20 minutes of 2 requests per 10 s (12 per minute).
    for (let m = 0; m < 120; m++) {
      detector.observe(rec({ principal: 'key:abc' }));
      detector.observe(rec({ principal: 'key:abc' }));
      now += 10_000;
    }
    assert.equal(published.length, 0);
    // The window still holds 5 buckets of 2: 10 requests.
    for (let i = 0; i < 89; i++) detector.observe(rec({ principal: 'key:abc' }));
    assert.equal(published.length, 0, 'below minCount');
    detector.observe(rec({ principal: 'key:abc' }));
    assert.equal(published[0]?.rule, 'scraping');
    assert.deepEqual(published[0]?.subject, { kind: 'principal', id: 'key:abc' });
  });

  it('normal traffic raises nothing', () => {
    const { detector, published } = harness();
    for (let i = 0; i < 600; i++) {
      const p = `key:${i % 5}`;
      detector.observe(
        rec({ principal: p, route: i % 3 ? 'item' : 'items', objectId: i % 3 ? String(i % 40) : undefined }),
      );
      if (i % 100 === 0) detector.observe(rec({ principal: p, route: 'item', objectId: '999', status: 404 }));
      now += 20;
    }
    assert.deepEqual(published, []);
  });
});

describe('automatic blocks', () => {
  const flood = (d: AnomalyDetector, ip = '198.51.100.7') => {
    for (let i = 0; i < 10; i++)
      d.observe(rec({ status: 401, authFailure: 'unknown_key', credentialId: `z${i}`, ip }));
  };

  it('monitor: logs the block it would make, blocks nothing', () => {
    const { detector, logs } = harness({ autoBlock: { mode: 'monitor' } });
    flood(detector);
    assert.ok(logs.some((l) => l.action === 'would block'));
    assert.equal(detector.blockedFor('198.51.100.7', undefined), 0);
    assert.deepEqual(detector.blocks(), []);
  });

  it('enforce: blocks the address for `seconds`, then the block expires; unblock lifts it', () => {
    const { detector } = harness({ autoBlock: { mode: 'enforce', seconds: 60 } });
    flood(detector);
    assert.equal(detector.blockedFor('198.51.100.7', undefined), 60_000);
    assert.equal(detector.blockedFor('198.51.100.8', undefined), 0);
    const [b] = detector.blocks();
    assert.equal(b?.kind, 'ip');
    now += 59_000;
    assert.equal(detector.blockedFor('198.51.100.7', undefined), 1000);
    now += 1000;
    assert.equal(detector.blockedFor('198.51.100.7', undefined), 0);
    assert.deepEqual(detector.blocks(), []);
    now += 400_000;
    flood(detector);
    const [again] = detector.blocks();
    assert.ok(again);
    assert.equal(detector.unblock(again.id), true);
    assert.equal(detector.blockedFor('198.51.100.7', undefined), 0);
    assert.equal(detector.unblock(again.id), false);
  });

  it('below minSeverity: no block', () => {
    const { detector } = harness({ autoBlock: { mode: 'enforce' } });
    for (let i = 0; i < 30; i++) detector.observe(rec({ status: 429, route: `r${i}` }));
    assert.deepEqual(detector.blocks(), [], 'error-spike is a warning; the default minSeverity is critical');
  });

  it('principal blocks answer blockedFor for the principal', () => {
    const { detector } = harness({ autoBlock: { mode: 'enforce' } });
    detector.block('principal', 'key:abc', 30, 'test');
    assert.equal(detector.blockedFor('192.0.2.1', 'key:abc'), 30_000);
    assert.equal(detector.blockedFor('192.0.2.1', 'key:other'), 0);
  });
});

describe('bounded memory and alert list', () => {
  it('keeps the most recent alerts, newest first', () => {
    const { detector } = harness({ keepAlerts: 3, rules: { 'error-spike': { minCount: 1 } } });
    for (let i = 0; i < 10; i++) detector.observe(rec({ status: 500, route: `r${i}`, ip: `10.0.0.${i}` }));
    const list = detector.alerts(10);
    assert.equal(list.length, 3);
    assert.ok(list.every((a) => a.subject.kind === 'route' || a.subject.kind === 'ip'));
    assert.equal(detector.alerts(1)[0]?.subject.id, '10.0.0.9');
  });

  it('many addresses stay within maxSubjects and stay fast', () => {
    const { detector } = harness({ maxSubjects: 1000 });
    const t = performance.now();
    for (let i = 0; i < 100_000; i++)
      detector.observe(
        rec({
          status: i % 7 === 0 ? 404 : 200,
          ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
          objectId: String(i),
        }),
      );
    assert.ok(performance.now() - t < 5000, 'well under a millisecond per request');
  });
});

describe('webhooks', () => {
  it('posts signed alerts at or above minSeverity and retries a failing receiver', async () => {
    const got: { headers: IncomingHttpHeaders; body: string }[] = [];
    let failFirst = 1;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        if (failFirst-- > 0) {
          res.writeHead(500).end();
          return;
        }
        got.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const secret = 'webhook-secret-0123456789';
    clock.now = realNow;
    const { detector, logs } = harness({
      webhooks: [{ url, secret, minSeverity: 'critical' }],
    });
    try {
      for (let i = 0; i < 25; i++) detector.observe(rec({ status: 500, ip: `10.0.0.${i}` }));
      for (let i = 0; i < 8; i++)
        detector.observe(rec({ status: 400, authFailure: 'unknown_key', credentialId: `c${i}` }));
      const deadline = Date.now() + 3000;
      while (got.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(got.length, 1, 'only the critical alert is sent, after one retry');
      assert.ok(logs.some((l) => l.msg === 'webhook delivery failed; retrying'));
      const h = got[0]?.headers ?? {};
      const body = got[0]?.body ?? '';
      const ts = String(h['x-portcullis-timestamp']);
      const expected = createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
      assert.equal(h['x-portcullis-signature'], `sha256=${expected}`);
      assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 10);
      const alert = JSON.parse(body) as Alert;
      assert.equal(alert.rule, 'credential-stuffing');
    } finally {
      await detector.close();
      server.close();
    }
  });
});

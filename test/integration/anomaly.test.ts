import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { clock } from '../../src/observability/anomaly.js';
import type { Alert } from '../../src/observability/hub.js';
import { generateApiKey } from '../../src/plugins/authenticate/api-key/format.js';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
} from '../helpers.js';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on port 0; `answer` gives the status of the n-th delivery. */
async function receiver(
  answer: (n: number) => number,
): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(answer(n++)).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`, got, server };
}

async function until(ms: number, check: () => boolean): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SECRET = 'alerts-webhook-secret-0123456789';

function verify(r: Received): Alert {
  const ts = String(r.headers['x-portcullis-timestamp']);
  const mac = createHmac('sha256', SECRET).update(`${ts}.${r.body}`).digest('hex');
  assert.equal(r.headers['x-portcullis-signature'], `sha256=${mac}`, 'the signature verifies');
  assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 30, 'a fresh timestamp');
  return JSON.parse(r.body) as Alert;
}

describe('anomaly detection through the gateway', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-anomaly-'));
  let upstream: TestUpstream;
  let gw: TestGateway;
  let good: Awaited<ReturnType<typeof receiver>>;
  let flaky: Awaited<ReturnType<typeof receiver>>;
  const realNow = clock.now;

  before(async () => {
    upstream = await startUpstream();
    good = await receiver(() => 204);
    flaky = await receiver((n) => (n === 0 ? 503 : 200));
    gw = await startGateway(
      baseConfig(upstream.url, {
        stores: { keys: { path: join(dir, 'keys.db'), pepperFile: join(dir, 'pepper'), pollMs: 100 } },
        routes: [
          { id: 'items', path: '/items', upstream: 'api' },
          {
            id: 'orders',
            path: '/orders',
            upstream: 'api',
            plugins: { 'api-key': {}, 'auth-lockout': false, authentication: { anonymous: false } },
          },
        ],
        observability: {
          audit: { enabled: false },
          anomaly: {
            webhooks: [
              { url: good.url, secret: SECRET, minSeverity: 'critical' },
              { url: flaky.url, secret: SECRET, minSeverity: 'warning' },
            ],
            autoBlock: { mode: 'enforce', seconds: 120 },
          },
        },
      }),
    );
  });

  after(async () => {
    clock.now = realNow;
    await gw.close();
    await upstream.close();
    good.server.close();
    flaky.server.close();
  });

  it('a credential-stuffing run (30 API keys in 3 s from one address) raises a critical alert within seconds', async () => {
    const part = gw.gateway.obs.anomalyPart;
    assert.ok(part, 'the anomaly part is attached');
    const started = Date.now();
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${gw.url}/orders`, { headers: { 'x-api-key': generateApiKey().key } });
      // Once the address is blocked, the rest of the run is refused at the door.
      assert.ok(res.status === 401 || res.status === 403, String(res.status));
      await res.arrayBuffer();
      await sleep(80);
    }
    await until(3000, () => part.alerts(50).some((a) => a.rule === 'credential-stuffing'));
    const alert = part.alerts(50).find((a) => a.rule === 'credential-stuffing');
    assert.ok(alert);
    assert.ok(alert.at - started < 5000, 'raised during the run');
    assert.equal(alert.severity, 'critical');
    assert.deepEqual(alert.subject, { kind: 'ip', id: '127.0.0.1' });
    const line = gw.logs.find((l) => l.log === 'alert' && l.alertId === alert.id);
    assert.ok(line, 'the alert is logged');
    assert.equal(line.level, 'error');
    assert.ok(!JSON.stringify(gw.logs.filter((l) => l.log === 'alert')).includes('pcl_'), 'no key in alerts');
  });

  it('the webhook receiver gets the alert, correctly signed; a failing receiver is retried', async () => {
    await until(3000, () => good.got.length > 0);
    const alert = verify(good.got[0] as Received);
    assert.equal(alert.rule, 'credential-stuffing');
    // The flaky receiver refused the first delivery and got it again about a second later.
    await until(4000, () => flaky.got.length >= 2);
    assert.equal(flaky.got[0]?.body, flaky.got[1]?.body, 'the same alert, re-sent');
    verify(flaky.got[1] as Received);
    assert.ok(gw.logs.some((l) => l.msg === 'webhook delivery failed; retrying'));
  });

  it('autoBlock enforce: the address is refused with 403 CLIENT_BLOCKED, the upstream not called, until the block expires', async () => {
    const part = gw.gateway.obs.anomalyPart;
    assert.ok(part);
    const [block] = part.blocks();
    assert.ok(block);
    assert.equal(block.kind, 'ip');
    assert.equal(block.subject, '127.0.0.1');
    const calls = upstream.calls.length;
    const res = await fetch(`${gw.url}/items`);
    assert.equal(res.status, 403);
    const p = problemOf(res.headers.get('content-type'), await res.text());
    assert.equal(p.code, 'CLIENT_BLOCKED');
    assert.ok(Number(res.headers.get('retry-after')) > 0);
    assert.equal(upstream.calls.length, calls, 'upstream not called');
    // Two minutes later (controlled clock) the block is gone.
    const base = Date.now();
    clock.now = () => realNow() + (realNow() - base) + 121_000;
    const later = await fetch(`${gw.url}/items`);
    assert.equal(later.status, 200);
    assert.equal(upstream.calls.length, calls + 1);
    assert.deepEqual(part.blocks(), []);
    clock.now = realNow;
  });
});

describe('normal traffic raises no alert', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      const missing = req.url?.endsWith('/404') === true;
      res.writeHead(missing ? 404 : 200, { 'content-type': 'application/json' });
      res.end(missing ? '{"error":"not found"}' : '{"ok":true}');
    });
    gw = await startGateway(
      baseConfig(upstream.url, {
        observability: { audit: { enabled: false }, anomaly: { autoBlock: { mode: 'enforce' } } },
      }),
    );
  });

  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('a few hundred 200s and a couple of 404s', async () => {
    for (let i = 0; i < 300; i++) {
      const path = i % 150 === 7 ? '/items/404' : i % 2 ? `/items/${i % 25}` : '/items';
      const res = await fetch(`${gw.url}${path}`, { method: i % 10 === 0 ? 'POST' : 'GET' });
      await res.arrayBuffer();
      assert.ok(res.status === 200 || res.status === 404, String(res.status));
    }
    await sleep(200);
    assert.deepEqual(gw.gateway.obs.anomalyPart?.alerts(10), []);
    assert.deepEqual(gw.gateway.obs.anomalyPart?.blocks(), []);
    assert.ok(!gw.logs.some((l) => l.log === 'alert'));
  });
});

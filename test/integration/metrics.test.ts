import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  baseConfig,
  startGateway,
  startUpstream,
  TEST_IDP,
  type TestGateway,
  type TestUpstream,
  testToken,
} from '../helpers.js';

const jwt = {
  issuers: [{ issuer: TEST_IDP.issuer, audience: ['api'], secret: TEST_IDP.secret, algorithms: ['HS256'] }],
};

/** The value of one sample line of the Prometheus text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const end = line.indexOf('} ');
    const got = line.slice(name.length + 1, end);
    // Every wanted pair present (order as rendered: labels are rendered in creation order).
    if (want.split(',').every((pair) => got.split(',').includes(pair))) return Number(line.slice(end + 2));
  }
  return undefined;
}

describe('metrics through a real gateway', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-metrics-'));

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      baseConfig(upstream.url, {
        stores: { keys: { path: join(dir, 'keys.db'), pepperFile: join(dir, 'pepper') } },
        routes: [
          {
            id: 'items',
            path: '/items',
            methods: ['GET', 'POST'],
            upstream: 'api',
            plugins: { 'attack-detection': {} },
          },
          {
            id: 'limited',
            path: '/limited',
            upstream: 'api',
            plugins: { 'rate-limit': { key: 'ip', limits: [{ name: 'm', limit: 2, windowSeconds: 60 }] } },
          },
          {
            id: 'keyed',
            path: '/keyed',
            upstream: 'api',
            plugins: { 'api-key': {}, 'auth-lockout': false, authentication: { anonymous: false } },
          },
          {
            id: 'orders',
            path: '/orders',
            upstream: 'api',
            plugins: {
              jwt,
              authentication: { anonymous: false },
              authorization: { allow: 'rules' },
              rbac: {
                roles: { viewer: { permissions: ['orders:read'] } },
                methods: { GET: { permissions: ['orders:read'] } },
              },
            },
          },
        ],
      }),
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  async function hit(path: string, init: RequestInit = {}): Promise<number> {
    const res = await fetch(`${gw.url}${path}`, init);
    await res.text();
    return res.status;
  }

  it('counts a scripted traffic mix with bounded labels', async () => {
    const part = gw.gateway.obs.metricsPart;
    assert.ok(part, 'metrics part attached');
    for (let i = 0; i < 3; i++) assert.equal(await hit('/items'), 200);
    assert.equal(await hit('/nope/12345'), 404);
    assert.equal(await hit('/keyed', { headers: { 'x-api-key': 'not-a-real-key' } }), 401);
    const nobody = await testToken('eve', { roles: [] });
    assert.equal(await hit('/orders', { headers: { authorization: `Bearer ${nobody}` } }), 403);
    const viewer = await testToken('vic', { roles: ['viewer'] });
    assert.equal(await hit('/orders', { headers: { authorization: `Bearer ${viewer}` } }), 200);
    assert.equal(await hit('/limited'), 200);
    assert.equal(await hit('/limited'), 200);
    assert.equal(await hit('/limited'), 429);
    const attack = encodeURIComponent('<script>alert(document.cookie)</script>');
    assert.equal(await hit(`/items?q=${attack}`), 403);
    // The close event (and so the record) may trail the response by a tick.
    await new Promise((r) => setTimeout(r, 50));

    const text = await part.render();
    const req = (route: string, cls: string) =>
      sample(text, 'portcullis_requests_total', { route, method: 'GET', status_class: cls });
    assert.equal(req('items', '2xx'), 3);
    assert.equal(req('items', '4xx'), 1);
    assert.equal(req('(none)', '4xx'), 1);
    assert.equal(req('keyed', '4xx'), 1);
    assert.equal(req('orders', '4xx'), 1);
    assert.equal(req('orders', '2xx'), 1);
    assert.equal(req('limited', '2xx'), 2);
    assert.equal(req('limited', '4xx'), 1);
    assert.equal(
      sample(text, 'portcullis_request_duration_seconds_count', {
        route: 'items',
        method: 'GET',
        status_class: '2xx',
      }),
      3,
    );
    assert.equal(
      sample(text, 'portcullis_upstream_duration_seconds_count', {
        route: 'items',
        method: 'GET',
        status_class: '2xx',
      }),
      3,
    );
    assert.equal(
      sample(text, 'portcullis_gateway_duration_seconds_count', {
        route: 'items',
        method: 'GET',
        status_class: '2xx',
      }),
      3,
    );
    // Refused before the upstream: no upstream sample.
    assert.equal(
      sample(text, 'portcullis_upstream_duration_seconds_count', {
        route: 'limited',
        method: 'GET',
        status_class: '4xx',
      }),
      undefined,
    );
    assert.equal(
      sample(text, 'portcullis_auth_failures_total', { method: 'api-key', reason: 'malformed' }),
      1,
    );
    const denies = text.split('\n').filter((l) => l.startsWith('portcullis_authz_denies_total{'));
    assert.equal(denies.length, 1);
    assert.match(denies[0] as string, /rule="rbac:[^"]+"\} 1$/);
    assert.equal(
      sample(text, 'portcullis_rate_limited_total', { route: 'limited', code: 'RATE_LIMITED' }),
      1,
    );
    assert.equal(sample(text, 'portcullis_blocks_total', { code: 'ATTACK_DETECTED' }), 1);
    assert.match(text, /^portcullis_config_version 1$/m);
    assert.match(text, /^portcullis_process_resident_memory_bytes \d+/m);
    // No raw path, id or credential in any label.
    assert.doesNotMatch(text, /="[^"]*(nope|12345|not-a-real-key|eve|vic|script)/);

    const o = part.overview();
    assert.equal(o.totals.requests, 11);
    assert.equal(o.totals.errors4xx, 5);
    assert.equal(o.totals.blocked, 4);
    assert.deepEqual(
      { ...o.blockedByReason },
      { UNAUTHENTICATED: 1, FORBIDDEN: 1, RATE_LIMITED: 1, ATTACK_DETECTED: 1 },
    );
    assert.deepEqual(o.topIps, [{ ip: '127.0.0.1', count: 4 }]);
    const points = part.traffic(60);
    assert.equal(points.length, 60);
    assert.equal(
      points.reduce((n, p) => n + p.requests, 0),
      11,
    );
    assert.equal(
      points.reduce((n, p) => n + p.blocked, 0),
      4,
    );
    assert.ok(points.some((p) => p.p99Ms > 0));
    assert.match(part.contentType, /^text\/plain; version=0\.0\.4/);
  });

  it('follows the config version across a reload', async () => {
    await gw.gateway.reload(gw.gateway.loaded);
    const text = await (gw.gateway.obs.metricsPart?.render() ?? '');
    assert.match(text, /^portcullis_config_version 2$/m);
  });
});

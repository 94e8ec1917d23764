import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createDevCertificates, writeDevCertificates } from '../server/dev-certs.js';
import type { RequestRecord } from './events.js';
import {
  BoundedLabel,
  blockedReason,
  certificateExpiry,
  createMetrics,
  METHODS,
  methodIndex,
  OTHER,
  RING_BOUNDS_MS,
  registerStoreHealth,
  STATUS_CLASSES,
  statusClassIndex,
  TopK,
  TrafficRing,
} from './metrics.js';

const CONFIG = { enabled: true, latencyBuckets: [0.005, 0.05, 0.5] };

function rec(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    at: Date.now(),
    requestId: 'r',
    route: 'items',
    method: 'GET',
    status: 200,
    code: undefined,
    totalMs: 3,
    upstreamMs: 2,
    upstreamCalled: true,
    ip: '10.0.0.1',
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

test('bounded labels: at most cap distinct values, then "other"', () => {
  const b = new BoundedLabel(3);
  assert.equal(b.of('a'), 'a');
  assert.equal(b.of('b'), 'b');
  assert.equal(b.of('c'), 'c');
  assert.equal(b.of('d'), OTHER);
  assert.equal(b.of('a'), 'a');
  assert.equal(b.size, 3);
});

test('methods come from a fixed set, statuses as classes', () => {
  for (const m of METHODS.slice(0, -1)) assert.equal(METHODS[methodIndex(m)], m);
  assert.equal(METHODS[methodIndex('PROPFIND')], 'OTHER');
  assert.equal(METHODS[methodIndex('get')], 'OTHER');
  assert.equal(STATUS_CLASSES[statusClassIndex(204)], '2xx');
  assert.equal(STATUS_CLASSES[statusClassIndex(404)], '4xx');
  assert.equal(STATUS_CLASSES[statusClassIndex(503)], '5xx');
  assert.equal(STATUS_CLASSES[statusClassIndex(0)], '0');
  assert.equal(STATUS_CLASSES[statusClassIndex(999)], '0');
});

test('blocked reasons: guards, rate limits and auth refusals; not 404s or upstream errors', () => {
  assert.equal(blockedReason(rec({ status: 403, code: 'ATTACK_DETECTED' })), 'ATTACK_DETECTED');
  assert.equal(blockedReason(rec({ status: 429, code: 'RATE_LIMITED' })), 'RATE_LIMITED');
  assert.equal(
    blockedReason(rec({ status: 401, code: 'UNAUTHENTICATED', authFailure: 'x' })),
    'UNAUTHENTICATED',
  );
  assert.equal(blockedReason(rec({ status: 404, code: 'ROUTE_NOT_FOUND' })), undefined);
  assert.equal(blockedReason(rec({ status: 502, code: 'UPSTREAM_ERROR' })), undefined);
  assert.equal(blockedReason(rec()), undefined);
});

test('traffic ring: per-second buckets, zeros for quiet seconds, p50/p99 from the fixed buckets', () => {
  const ring = new TrafficRing();
  const t0 = 1_800_000_000_000;
  for (let i = 0; i < 98; i++) ring.add(t0 + 10, 200, false, 4);
  ring.add(t0 + 20, 404, false, 4);
  ring.add(t0 + 30, 503, true, 900);
  ring.add(t0 + 2000, 429, true, 1);
  const pts = ring.points(3, t0 + 2500);
  assert.equal(pts.length, 3);
  assert.deepEqual(
    pts.map((p) => p.t),
    [t0, t0 + 1000, t0 + 2000],
  );
  const [a, b, c] = pts as [(typeof pts)[0], (typeof pts)[0], (typeof pts)[0]];
  assert.equal(a.requests, 100);
  assert.equal(a.errors4xx, 1);
  assert.equal(a.errors5xx, 1);
  assert.equal(a.blocked, 1);
  assert.equal(a.p50Ms, 5); // 4 ms falls in the (3, 5] bucket
  assert.equal(a.p99Ms, 5);
  assert.equal(b.requests, 0);
  assert.equal(c.requests, 1);
  assert.equal(c.blocked, 1);
  assert.equal(c.errors4xx, 1);
  assert.equal(c.p99Ms, 1);
  // A slot is reused an hour later: the old counts are gone.
  ring.add(t0 + 3600_000, 200, false, 20_000);
  const later = ring.points(1, t0 + 3600_000);
  assert.equal(later[0]?.requests, 1);
  assert.equal(later[0]?.p99Ms, RING_BOUNDS_MS[RING_BOUNDS_MS.length - 1]);
  // Bounded window.
  assert.equal(ring.points(99_999, t0).length, 3600);
  assert.equal(ring.points(0, t0).length, 1);
});

test('top-k keeps at most k items and finds the heavy hitters', () => {
  const top = new TopK(5);
  for (let i = 0; i < 1000; i++) top.add(`noise-${i}`);
  for (let i = 0; i < 300; i++) top.add('heavy');
  for (let i = 0; i < 200; i++) top.add('second');
  const t = top.top(10);
  assert.ok(t.length <= 5);
  assert.equal(t[0]?.item, 'heavy');
  assert.equal(t[1]?.item, 'second');
  assert.ok((t[0]?.count ?? 0) >= 300);
});

test('render: counts, histograms, bounded rule labels', async () => {
  const m = createMetrics(CONFIG, { configVersion: () => 7, inFlight: () => 2, processMetrics: false });
  m.observe(rec());
  m.observe(rec({ totalMs: 70, upstreamMs: 10 }));
  m.observe(
    rec({ method: 'BREW', status: 404, code: 'ROUTE_NOT_FOUND', route: '(none)', upstreamCalled: false }),
  );
  for (let i = 0; i < 150; i++)
    m.observe(rec({ status: 403, code: 'FORBIDDEN', deniedBy: `policy:rule-${i}`, upstreamCalled: false }));
  m.observe(
    rec({
      status: 401,
      code: 'UNAUTHENTICATED',
      authMethod: 'api-key',
      authFailure: 'unknown_key',
      credentialId: 'k1',
      upstreamCalled: false,
    }),
  );
  m.observe(rec({ status: 429, code: 'RATE_LIMITED', upstreamCalled: false }));
  m.observe(rec({ status: 403, code: 'ATTACK_DETECTED', upstreamCalled: false }));
  const text = await m.render();
  assert.match(text, /portcullis_requests_total\{route="items",method="GET",status_class="2xx"\} 2/);
  assert.match(text, /portcullis_requests_total\{route="\(none\)",method="OTHER",status_class="4xx"\} 1/);
  assert.match(
    text,
    /portcullis_request_duration_seconds_bucket\{route="items",method="GET",status_class="2xx",le="0\.005"\} 1/,
  );
  assert.match(
    text,
    /portcullis_request_duration_seconds_bucket\{route="items",method="GET",status_class="2xx",le="0\.5"\} 2/,
  );
  assert.match(
    text,
    /portcullis_request_duration_seconds_count\{route="items",method="GET",status_class="2xx"\} 2/,
  );
  // gateway-added: 1 ms and 60 ms; upstream: 2 ms and 10 ms
  assert.match(
    text,
    /portcullis_gateway_duration_seconds_bucket\{route="items",method="GET",status_class="2xx",le="0\.05"\} 1/,
  );
  assert.match(
    text,
    /portcullis_upstream_duration_seconds_bucket\{route="items",method="GET",status_class="2xx",le="0\.05"\} 2/,
  );
  assert.match(text, /portcullis_authz_denies_total\{rule="policy:rule-0"\} 1/);
  assert.match(text, /portcullis_authz_denies_total\{rule="other"\} 50/);
  assert.equal(text.match(/portcullis_authz_denies_total\{/g)?.length, 101);
  assert.match(text, /portcullis_auth_failures_total\{method="api-key",reason="unknown_key"\} 1/);
  assert.match(text, /portcullis_rate_limited_total\{route="items",code="RATE_LIMITED"\} 1/);
  assert.match(text, /portcullis_blocks_total\{code="ATTACK_DETECTED"\} 1/);
  assert.match(text, /portcullis_config_version 7/);
  assert.match(text, /portcullis_in_flight_requests 2/);
  assert.match(text, /# TYPE portcullis_requests_total counter/);
  assert.match(text, /# TYPE portcullis_request_duration_seconds histogram/);

  const o = m.overview();
  assert.equal(o.totals.requests, 156);
  assert.equal(o.totals.blocked, 153);
  assert.equal(o.totals.errors4xx, 154);
  assert.equal(o.blockedByReason.FORBIDDEN, 150);
  assert.equal(o.blockedByReason.RATE_LIMITED, 1);
  assert.deepEqual(o.topKeys, [{ key: 'k1', count: 1 }]);
  assert.deepEqual(o.topIps, [{ ip: '10.0.0.1', count: 153 }]);
  const last = m.traffic(2);
  assert.equal(last.length, 2);
  assert.equal(
    last.reduce((n, p) => n + p.requests, 0),
    156,
  );
});

test('routes are capped too (a reload storm cannot grow the series without bound)', async () => {
  const m = createMetrics(CONFIG, { processMetrics: false });
  for (let i = 0; i < 600; i++) m.observe(rec({ route: `r${i}` }));
  const text = await m.render();
  assert.equal(text.match(/portcullis_requests_total\{/g)?.length, 501);
  assert.match(text, /portcullis_requests_total\{route="other",method="GET",status_class="2xx"\} 100/);
});

test('store health registered by the rate-limit code is read at scrape time', async () => {
  const m = createMetrics(CONFIG, { processMetrics: false });
  const stats = { degraded: 1, fallbacks: 3, failures: 4 };
  const off = registerStoreHealth('redis', stats);
  let text = await m.render();
  assert.match(text, /portcullis_ratelimit_store_degraded\{store="redis"\} 1/);
  assert.match(text, /portcullis_ratelimit_store_fallbacks_total\{store="redis"\} 3/);
  stats.degraded = 0;
  stats.fallbacks = 5;
  off();
  text = await m.render();
  assert.match(text, /portcullis_ratelimit_store_fallbacks_total\{store="redis"\} 5/);
  assert.match(text, /portcullis_ratelimit_store_failures_total\{store="redis"\} 4/);
  assert.doesNotMatch(text, /portcullis_ratelimit_store_degraded\{/);
});

test('process metrics are on the part’s own registry', async () => {
  const m = createMetrics(CONFIG);
  const text = await m.render();
  assert.match(text, /portcullis_process_cpu_user_seconds_total/);
  assert.match(m.contentType, /^text\/plain/);
});

test('per-request cost', () => {
  const m = createMetrics(CONFIG, { processMetrics: false });
  const r = rec();
  for (let i = 0; i < 20_000; i++) m.observe(r);
  const n = 200_000;
  const t = performance.now();
  for (let i = 0; i < n; i++) m.observe(r);
  const ns = ((performance.now() - t) * 1e6) / n;
  console.log(`metrics observe: ${ns.toFixed(0)} ns per request`);
  assert.ok(ns < 5000);
});

test('certificate expiry: seconds until notAfter per TLS listener, negative once expired', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-metrics-certs-'));
  const files = await writeDevCertificates(dir, await createDevCertificates());
  const now = Date.now();
  const values = certificateExpiry(
    [
      { name: 'public', tls: { cert: files.server.cert } },
      { name: 'old', tls: { cert: files.expiredClient.cert } },
      { name: 'plain' },
      { name: 'broken', tls: { cert: join(dir, 'missing.crt') } },
    ],
    now,
  );
  assert.deepEqual(
    values.map((v) => v.labels.listener),
    ['public', 'old'],
  );
  const notAfter = Date.parse(new X509Certificate(readFileSync(files.server.cert)).validTo);
  assert.equal(values[0]?.value, Math.round((notAfter - now) / 1000));
  assert.ok((values[0]?.value ?? 0) > 0);
  assert.ok((values[1]?.value ?? 0) < 0);
  const m = createMetrics(CONFIG, {
    processMetrics: false,
    listeners: [{ name: 'public', tls: { cert: files.server.cert } }],
  });
  assert.match(await m.render(), /portcullis_certificate_expiry_seconds\{listener="public"\} \d+/);
});

test('store health of a collected backend drops out, its counts stay', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const m = createMetrics(CONFIG, { processMetrics: false });
  (() => {
    registerStoreHealth('redis-gc', { degraded: 1, fallbacks: 2, failures: 1 });
  })();
  assert.match(await m.render(), /portcullis_ratelimit_store_degraded\{store="redis-gc"\} 1/);
  await new Promise((r) => setTimeout(r, 10));
  gc();
  await new Promise((r) => setTimeout(r, 10));
  const text = await m.render();
  assert.doesNotMatch(text, /portcullis_ratelimit_store_degraded\{store="redis-gc"\}/);
  assert.match(text, /portcullis_ratelimit_store_fallbacks_total\{store="redis-gc"\} 2/);
});

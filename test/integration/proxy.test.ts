import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  baseConfig,
  problemOf,
  rawRequest,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
  waitForLog,
} from '../helpers.js';

describe('proxy: forwarding through a real gateway to a real upstream', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      baseConfig(upstream.url, { listeners: [{ name: 'test', port: 0, trustedProxies: [] }] }),
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('passes a declared route to the upstream and back', async () => {
    const res = await fetch(`${gw.url}/items?page=2`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true, method: 'GET', url: '/items?page=2' });
    assert.equal(upstream.calls.at(-1)?.url, '/items?page=2');
  });

  it('removes Server and X-Powered-By and stamps X-Request-Id', async () => {
    const res = await fetch(`${gw.url}/items`);
    assert.equal(res.headers.get('server'), null);
    assert.equal(res.headers.get('x-powered-by'), null);
    assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(upstream.calls.at(-1)?.headers['x-request-id'], res.headers.get('x-request-id'));
  });

  it('replaces client-sent X-Forwarded-* from an untrusted peer', async () => {
    await fetch(`${gw.url}/items`, {
      headers: {
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.example',
      },
    });
    const h = upstream.calls.at(-1)?.headers ?? {};
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], `127.0.0.1:${gw.port}`);
  });

  it('does not trust a client-sent X-Request-Id from an untrusted peer', async () => {
    const res = await fetch(`${gw.url}/items`, { headers: { 'x-request-id': 'forged-id' } });
    assert.notEqual(res.headers.get('x-request-id'), 'forged-id');
  });

  it('passes a valid traceparent and creates one when missing or invalid', async () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await fetch(`${gw.url}/items`, { headers: { traceparent: tp } });
    assert.equal(upstream.calls.at(-1)?.headers.traceparent, tp);
    await fetch(`${gw.url}/items`, {
      headers: { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' },
    });
    const created = String(upstream.calls.at(-1)?.headers.traceparent);
    assert.match(created, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.notEqual(created.slice(3, 35), '0'.repeat(32));
  });

  it('removes hop-by-hop headers and those named in Connection', async () => {
    // fetch refuses to send Connection itself, so this one goes out raw.
    const res = await rawRequest(
      gw.port,
      'GET /items HTTP/1.1\r\nHost: a\r\nConnection: close, x-secret-hop\r\nX-Secret-Hop: 1\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nTE: trailers\r\n\r\n',
    );
    assert.equal(res.status, 200);
    const h = upstream.calls.at(-1)?.headers ?? {};
    assert.equal(h['x-secret-hop'], undefined);
    assert.equal(h['proxy-authorization'], undefined);
    assert.equal(h.te, undefined);
  });

  it('streams a request body to the upstream', async () => {
    const body = JSON.stringify({ name: 'widget', n: 3 });
    const res = await fetch(`${gw.url}/items`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 200);
    assert.equal(upstream.calls.at(-1)?.body.toString(), body);
  });

  it('answers an undeclared route with 404 problem+json and never calls the upstream', async () => {
    const before = upstream.calls.length;
    const res = await fetch(`${gw.url}/admin`);
    assert.equal(res.status, 404);
    const p = problemOf(res.headers.get('content-type'), await res.text());
    assert.equal(p.code, 'ROUTE_NOT_FOUND');
    assert.equal(p.requestId, res.headers.get('x-request-id'));
    assert.equal(upstream.calls.length, before);
  });

  it('answers an undeclared method with 405 and Allow', async () => {
    const before = upstream.calls.length;
    const res = await fetch(`${gw.url}/items`, { method: 'DELETE' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD, POST');
    assert.equal(problemOf(res.headers.get('content-type'), await res.text()).code, 'METHOD_NOT_ALLOWED');
    assert.equal(upstream.calls.length, before);
  });

  it('writes one access log line per request with timings and redacted query', async () => {
    await fetch(`${gw.url}/items?api_key=sekret&x=1`, { headers: { authorization: 'Bearer abc' } });
    const line = await waitForLog(
      gw,
      (l) => l.log === 'access' && l.route === 'items' && String(l.path).includes('api_key'),
    );
    assert.equal(line.route, 'items');
    assert.equal(line.status, 200);
    assert.equal(line.path, '/items?api_key=[REDACTED]&x=1');
    assert.equal(typeof line.gatewayMs, 'number');
    assert.equal(typeof line.upstreamMs, 'number');
    assert.equal(line.clientIp, '127.0.0.1');
    assert.ok(!JSON.stringify(gw.logs).includes('sekret'));
    assert.ok(!JSON.stringify(gw.logs).includes('Bearer abc'));
  });

  it('strips headers that let a client override the method, the path or its address upstream', async () => {
    const spoof = {
      'x-http-method-override': 'DELETE',
      'x-original-url': '/admin',
      'x-rewrite-url': '/admin',
      'x-real-ip': '6.6.6.6',
      'true-client-ip': '6.6.6.6',
      'x-forwarded-prefix': '/admin',
      'x-forwarded-port': '1',
    };
    const res = await fetch(`${gw.url}/items`, { headers: spoof });
    assert.equal(res.status, 200);
    const h = upstream.calls.at(-1)?.headers ?? {};
    for (const name of Object.keys(spoof)) assert.equal(h[name], undefined, name);
  });
});

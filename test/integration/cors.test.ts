import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { compileOrigins } from '../../src/plugins/guard/cors/index.js';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
} from '../helpers.js';

const APP = 'https://app.example.com';

function preflight(
  url: string,
  origin: string,
  method = 'POST',
  headers = 'content-type',
): Promise<Response> {
  return fetch(url, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
  });
}

describe('cors', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream((_req, res) => {
      // A careless upstream that allows everyone: the gateway must not let this through.
      res.writeHead(200, {
        'access-control-allow-origin': '*',
        vary: 'Accept-Encoding',
        'content-type': 'text/plain',
      });
      res.end('ok');
    });
    gw = await startGateway(
      baseConfig(upstream.url, {
        routes: [
          {
            id: 'items',
            path: '/items',
            methods: ['GET', 'POST'],
            upstream: 'api',
            plugins: { cors: { origins: [APP, 'https://*.partner.example'] } },
          },
          {
            id: 'creds',
            path: '/creds',
            methods: ['GET', 'PUT'],
            upstream: 'api',
            plugins: { cors: { origins: [APP], credentials: true } },
          },
          { id: 'plain', path: '/plain', methods: ['GET', 'POST'], upstream: 'api' },
        ],
      }),
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('answers an allowed preflight itself: 204, exact origin, methods, headers, max-age, Vary', async () => {
    const res = await preflight(`${gw.url}/items`, APP);
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    assert.equal(res.headers.get('access-control-allow-methods'), 'GET, POST');
    assert.equal(res.headers.get('access-control-allow-headers'), 'authorization, content-type');
    assert.equal(res.headers.get('access-control-max-age'), '600');
    assert.equal(res.headers.get('access-control-allow-credentials'), null);
    assert.match(res.headers.get('vary') ?? '', /Origin/);
    assert.equal(upstream.calls.length, 0);
  });

  it('refuses preflights from other origins, the null origin, other methods and other headers', async () => {
    const cases: [string, string, string][] = [
      ['https://evil.example', 'POST', 'content-type'],
      ['null', 'POST', 'content-type'],
      ['https://app.example.com.evil.example', 'POST', 'content-type'],
      ['http://app.example.com', 'POST', 'content-type'],
      [APP, 'DELETE', 'content-type'],
      [APP, 'POST', 'x-admin-override'],
    ];
    for (const [origin, method, headers] of cases) {
      const res = await preflight(`${gw.url}/items`, origin, method, headers);
      // DELETE is not a method of any route on /items: the router says 405 before CORS is asked.
      const expected = method === 'DELETE' ? 405 : 403;
      assert.equal(res.status, expected, `${origin} ${method} ${headers}`);
      const p = problemOf(res.headers.get('content-type'), await res.text());
      assert.equal(p.code, expected === 403 ? 'CORS_REJECTED' : 'METHOD_NOT_ALLOWED');
      assert.equal(res.headers.get('access-control-allow-origin'), null);
    }
    assert.equal(upstream.calls.length, 0);
  });

  it('matches subdomain patterns on label boundaries only', async () => {
    assert.equal((await preflight(`${gw.url}/items`, 'https://a.partner.example')).status, 204);
    assert.equal((await preflight(`${gw.url}/items`, 'https://evilpartner.example')).status, 403);
    assert.equal((await preflight(`${gw.url}/items`, 'https://partner.example')).status, 403);
    assert.equal((await preflight(`${gw.url}/items`, 'http://a.partner.example')).status, 403);
    for (const odd of [
      'https://evil.com?.partner.example',
      'https://evil.com#.partner.example',
      'https://a b.partner.example',
    ]) {
      assert.equal((await preflight(`${gw.url}/items`, odd)).status, 403, odd);
    }
  });

  it('with credentials: the exact origin and Allow-Credentials, never "*"', async () => {
    const res = await preflight(`${gw.url}/creds`, APP, 'PUT');
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    const actual = await fetch(`${gw.url}/creds`, { headers: { origin: APP } });
    assert.equal(actual.headers.get('access-control-allow-origin'), APP);
    assert.equal(actual.headers.get('access-control-allow-credentials'), 'true');
  });

  it('actual requests: allowed origin echoed, others get no CORS headers even if the upstream sends "*"', async () => {
    const ok = await fetch(`${gw.url}/items`, { headers: { origin: APP } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), APP);
    assert.equal(ok.headers.get('access-control-expose-headers'), 'x-request-id');
    assert.equal(ok.headers.get('vary'), 'Accept-Encoding, Origin');
    const evil = await fetch(`${gw.url}/items`, { headers: { origin: 'https://evil.example' } });
    assert.equal(evil.status, 200);
    assert.equal(evil.headers.get('access-control-allow-origin'), null);
    const none = await fetch(`${gw.url}/items`);
    assert.equal(none.headers.get('access-control-allow-origin'), null);
  });

  it('a preflight on a route without cors is refused and never proxied', async () => {
    const n = upstream.calls.length;
    const res = await preflight(`${gw.url}/plain`, APP);
    assert.equal(res.status, 405);
    assert.equal(problemOf(res.headers.get('content-type'), await res.text()).code, 'METHOD_NOT_ALLOWED');
    assert.equal(upstream.calls.length, n);
  });

  it('"*" with credentials is a config error', async () => {
    await assert.rejects(
      startGateway(baseConfig(upstream.url, { plugins: { cors: { origins: ['*'], credentials: true } } })),
      (err: unknown) => err instanceof ConfigError && err.issues[0]?.path === 'plugins.cors',
    );
  });

  it('origin matcher unit cases', () => {
    const m = compileOrigins(['https://app.example.com:8443', 'https://*.example.org'], false);
    assert.ok(m.matches('https://app.example.com:8443'));
    assert.ok(m.matches('HTTPS://APP.EXAMPLE.COM:8443'));
    assert.ok(!m.matches('https://app.example.com'));
    assert.ok(m.matches('https://x.y.example.org'));
    assert.ok(!m.matches('https://x.example.org:1'));
    assert.ok(!m.matches('https://user@x.example.org'));
    assert.ok(!m.matches('null'));
    const any = compileOrigins(['*'], false);
    assert.ok(any.any && any.matches('https://whatever.example') && !any.matches('null'));
  });
});

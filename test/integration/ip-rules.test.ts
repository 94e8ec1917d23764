import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import type { Registry } from '../../src/core/registry.js';
import { createDefaultRegistry } from '../../src/plugins/index.js';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
  waitForLog,
} from '../helpers.js';

function registry(): Registry {
  return createDefaultRegistry();
}

/** Calls `path` and asserts the 403 IP_DENIED problem, with the upstream never reached. */
async function expectDenied(
  gw: TestGateway,
  upstream: TestUpstream,
  path: string,
  headers: Record<string, string> = {},
): Promise<void> {
  const n = upstream.calls.length;
  const res = await fetch(`${gw.url}${path}`, { headers });
  assert.equal(res.status, 403, path);
  const body = await res.text();
  assert.equal(problemOf(res.headers.get('content-type'), body).code, 'IP_DENIED');
  // The problem never echoes the address back.
  assert.doesNotMatch(body, /127\.0\.0\.1|203\.0\.113|10\.9\.9\.9/);
  assert.equal(upstream.calls.length, n, `${path} reached the upstream`);
}

async function expectAllowed(
  gw: TestGateway,
  upstream: TestUpstream,
  path: string,
  headers: Record<string, string> = {},
): Promise<void> {
  const n = upstream.calls.length;
  const res = await fetch(`${gw.url}${path}`, { headers });
  assert.equal(res.status, 200, path);
  await res.text();
  assert.equal(upstream.calls.length, n + 1);
}

describe('ip-rules', () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
  });
  after(async () => {
    await upstream.close();
  });

  describe('per-route decisions over a global default', () => {
    let gw: TestGateway;
    before(async () => {
      const route = (id: string, plugins?: Record<string, unknown>) => ({
        id,
        path: `/${id}`,
        upstream: 'api',
        ...(plugins ? { plugins: { 'ip-rules': plugins } } : {}),
      });
      gw = await startGateway(
        baseConfig(upstream.url, {
          // Global: refuse loopback; routes below override.
          plugins: { 'ip-rules': { deny: ['127.0.0.1'] } },
          routes: [
            route('global'),
            route('open', { deny: [] }),
            route('allow-other', { deny: [], allow: ['10.0.0.0/8', '2001:db8::/32'] }),
            route('allow-loopback', { deny: [], allow: ['127.0.0.0/8'] }),
            route('deny-wins', { allow: ['127.0.0.0/8'], deny: ['127.0.0.0/24'] }),
            route('monitor', { mode: 'monitor' }),
            { id: 'off', path: '/off', upstream: 'api', plugins: { 'ip-rules': false } },
          ],
        }),
        {},
        registry(),
      );
    });
    after(async () => {
      await gw.close();
    });

    it('a denied IPv4 client gets 403 IP_DENIED and the upstream is not called', async () => {
      await expectDenied(gw, upstream, '/global');
      const line = await waitForLog(gw, (l) => l.log === 'access' && l.route === 'global');
      assert.equal(line.code, 'IP_DENIED');
      assert.equal(line.status, 403);
      assert.equal(line.clientIp, '127.0.0.1');
    });

    it('a route may clear the global deny list, or turn the plugin off', async () => {
      await expectAllowed(gw, upstream, '/open');
      await expectAllowed(gw, upstream, '/off');
    });

    it('an allow list without the client refuses it', async () => {
      await expectDenied(gw, upstream, '/allow-other');
    });

    it('an allow list with the client lets it pass', async () => {
      await expectAllowed(gw, upstream, '/allow-loopback');
    });

    it('deny wins over allow', async () => {
      await expectDenied(gw, upstream, '/deny-wins');
    });

    it('monitor mode logs the decision and lets the request pass', async () => {
      await expectAllowed(gw, upstream, '/monitor');
      const line = await waitForLog(gw, (l) => l.log === 'access' && l.route === 'monitor');
      assert.deepEqual(line.monitored, [{ plugin: 'ip-rules', code: 'IP_DENIED' }]);
      assert.equal(line.status, 200);
    });

    it('runs before request-guard', () => {
      const route = gw.gateway.plan.routes.find((r) => r.id === 'global');
      assert.deepEqual(route?.chain.stages.map((s) => s.plugin).slice(0, 2), ['ip-rules', 'request-guard']);
    });

    it('a spoofed X-Forwarded-For from an untrusted peer changes nothing', async () => {
      await expectDenied(gw, upstream, '/global', { 'x-forwarded-for': '10.9.9.9' });
      await expectDenied(gw, upstream, '/allow-other', { 'x-forwarded-for': '10.9.9.9' });
    });
  });

  describe('behind a trusted proxy', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startGateway(
        baseConfig(upstream.url, {
          listeners: [{ name: 'test', port: 0, trustedProxies: ['127.0.0.1'] }],
          routes: [
            {
              id: 'deny',
              path: '/deny',
              upstream: 'api',
              plugins: { 'ip-rules': { deny: ['203.0.113.0/24'] } },
            },
            {
              id: 'allow',
              path: '/allow',
              upstream: 'api',
              plugins: { 'ip-rules': { allow: ['203.0.113.0/24'] } },
            },
          ],
        }),
        {},
        registry(),
      );
    });
    after(async () => {
      await gw.close();
    });

    it('decides on the X-Forwarded-For client', async () => {
      const xff = { 'x-forwarded-for': '203.0.113.5' };
      await expectDenied(gw, upstream, '/deny', xff);
      await expectAllowed(gw, upstream, '/allow', xff);
      // Without the header the client is the proxy itself, which the allow list does not hold.
      await expectDenied(gw, upstream, '/allow');
      await expectAllowed(gw, upstream, '/deny');
    });
  });

  describe('malformed entries', () => {
    it('a bad global entry refuses to start, naming plugins.ip-rules', async () => {
      for (const entry of ['10.0.0.0/33', 'not-an-ip']) {
        const config = baseConfig(upstream.url, { plugins: { 'ip-rules': { deny: [entry] } } });
        await assert.rejects(
          startGateway(config, {}, registry()),
          (err: unknown) =>
            err instanceof ConfigError &&
            err.issues.some((i) => i.path === 'plugins.ip-rules' && i.reason.includes(entry)),
        );
      }
    });

    it('a bad route entry names the route', async () => {
      const config = baseConfig(upstream.url, {
        routes: [
          { id: 'ok', path: '/ok', upstream: 'api' },
          {
            id: 'bad',
            path: '/bad',
            upstream: 'api',
            plugins: { 'ip-rules': { allow: ['2001:db8::/129'] } },
          },
        ],
      });
      await assert.rejects(
        startGateway(config, {}, registry()),
        (err: unknown) =>
          err instanceof ConfigError && err.issues.some((i) => i.path === 'routes[1].plugins.ip-rules'),
      );
    });

    it('an unknown setting is a config error', async () => {
      const config = baseConfig(upstream.url, { plugins: { 'ip-rules': { block: ['10.0.0.0/8'] } } });
      await assert.rejects(startGateway(config, {}, registry()), ConfigError);
    });
  });
});

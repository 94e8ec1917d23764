import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Static, Type } from '@sinclair/typebox';
import { ConfigError } from '../../src/config/errors.js';
import { createConfigAjv } from '../../src/config/validate.js';
import type { RequestContext, ResponseHead } from '../../src/core/context.js';
import { definePlugin, type PluginDeps } from '../../src/core/plugin.js';
import type { Registry } from '../../src/core/registry.js';
import { createDefaultRegistry } from '../../src/plugins/index.js';
import securityHeaders, {
  hstsValue,
  securityHeadersSchema,
} from '../../src/plugins/respond/security-headers/index.js';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
} from '../helpers.js';

const CSP = "default-src 'none'; frame-ancestors 'none'";
const ALL = [
  'x-content-type-options',
  'content-security-policy',
  'referrer-policy',
  'cross-origin-resource-policy',
  'x-frame-options',
  'strict-transport-security',
];

/** Stands in for a future authenticate stage: every request on a route that enables it is "authenticated". */
const testPrincipal = definePlugin({
  name: 'test-principal',
  phase: 'guard',
  priority: 0,
  description: 'sets a fixed principal',
  schema: Type.Object({}, { additionalProperties: false }),
  enabledByDefault: false,
  enforcing: false,
  optional: true,
  create: () => ({
    onRequest(ctx: RequestContext) {
      ctx.principal = {
        id: 'test',
        kind: 'user',
        subject: 's',
        roles: [],
        scopes: [],
        claims: {},
        method: 'test',
      };
    },
  }),
});

function registry(): Registry {
  return createDefaultRegistry().register(testPrincipal);
}

describe('security-headers: through a real gateway', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    // The upstream sets its own CSP and a public Cache-Control on every answer but /items.
    upstream = await startUpstream((req, res) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (req.url !== '/items') {
        headers['content-security-policy'] = "default-src 'self'";
        headers['cache-control'] = 'public, max-age=600';
      }
      res.writeHead(200, headers);
      res.end('{"ok":true}');
    });
    const route = (id: string, plugins?: Record<string, unknown>) => ({
      id,
      path: `/${id}`,
      upstream: 'api',
      ...(plugins ? { plugins } : {}),
    });
    gw = await startGateway(
      baseConfig(upstream.url, {
        routes: [
          { id: 'items', path: '/items', methods: ['GET'], upstream: 'api' },
          route('own'),
          route('replace', { 'security-headers': { override: true } }),
          route('custom', {
            'security-headers': { contentSecurityPolicy: 'sandbox', override: true, referrerPolicy: '' },
          }),
          route('off', { 'security-headers': false }),
          route('auth', { 'test-principal': {} }),
          route('auth-off', {
            'test-principal': {},
            'security-headers': { noStoreWhenAuthenticated: false },
          }),
        ],
        // Global settings; a route's own settings merge over them key by key.
        plugins: { 'security-headers': { frameOptions: 'SAMEORIGIN' } },
      }),
      {},
      registry(),
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('sets the defaults on a proxied 200, and no HSTS on plain HTTP', async () => {
    const res = await fetch(`${gw.url}/items`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('content-security-policy'), CSP);
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('cross-origin-resource-policy'), 'same-origin');
    assert.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN');
    assert.equal(res.headers.get('strict-transport-security'), null);
    assert.equal(res.headers.get('cache-control'), null);
  });

  it("sets them on the gateway's own problems too", async () => {
    const res = await fetch(`${gw.url}/nope`);
    assert.equal(res.status, 404);
    assert.equal(problemOf(res.headers.get('content-type'), await res.text()).code, 'ROUTE_NOT_FOUND');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('content-security-policy'), CSP);
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('cross-origin-resource-policy'), 'same-origin');
    assert.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN');
    assert.equal(res.headers.get('strict-transport-security'), null);
  });

  it("keeps the upstream's own header unless override is true", async () => {
    const own = await fetch(`${gw.url}/own`);
    assert.equal(own.headers.get('content-security-policy'), "default-src 'self'");
    assert.equal(own.headers.get('referrer-policy'), 'no-referrer');
    const replaced = await fetch(`${gw.url}/replace`);
    assert.equal(replaced.headers.get('content-security-policy'), CSP);
  });

  it('applies per-route settings merged over the global ones, and a route may turn it off', async () => {
    const custom = await fetch(`${gw.url}/custom`);
    assert.equal(custom.headers.get('content-security-policy'), 'sandbox');
    assert.equal(custom.headers.get('referrer-policy'), null);
    assert.equal(custom.headers.get('x-frame-options'), 'SAMEORIGIN');
    assert.equal(custom.headers.get('x-content-type-options'), 'nosniff');

    const off = await fetch(`${gw.url}/off`);
    assert.equal(off.status, 200);
    for (const h of ALL.filter((n) => n !== 'content-security-policy'))
      assert.equal(off.headers.get(h), null, h);
    // Only the upstream's own CSP is left.
    assert.equal(off.headers.get('content-security-policy'), "default-src 'self'");
  });

  it('forces Cache-Control: no-store on authenticated answers, and only there', async () => {
    const auth = await fetch(`${gw.url}/auth`);
    assert.equal(auth.status, 200);
    assert.equal(auth.headers.get('cache-control'), 'no-store');
    // override is false, yet Cache-Control is replaced: the upstream's own CSP stays.
    assert.equal(auth.headers.get('content-security-policy'), "default-src 'self'");

    const anon = await fetch(`${gw.url}/own`);
    assert.equal(anon.headers.get('cache-control'), 'public, max-age=600');
    const optedOut = await fetch(`${gw.url}/auth-off`);
    assert.equal(optedOut.headers.get('cache-control'), 'public, max-age=600');
  });
});

describe('security-headers: settings', () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
  });
  after(async () => {
    await upstream.close();
  });

  it('refuses an invalid setting with a ConfigError naming it', async () => {
    const bad = [
      { crossOriginResourcePolicy: 'everyone' },
      { contentSecurityPolicy: "default-src 'none'\r\nx-injected: 1" },
      { hsts: { maxAgeSeconds: -1 } },
      { hsts: { unknown: true } },
    ];
    for (const settings of bad) {
      await assert.rejects(
        startGateway(baseConfig(upstream.url, { plugins: { 'security-headers': settings } }), {}, registry()),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.issues.some((i) => (i.path ?? '').startsWith('plugins.security-headers')),
        JSON.stringify(settings),
      );
    }
  });

  it('fills the inner hsts defaults and refuses preload without includeSubDomains', async () => {
    // preload alone passes only if includeSubDomains and maxAgeSeconds were defaulted in.
    const gw = await startGateway(
      baseConfig(upstream.url, { plugins: { 'security-headers': { hsts: { preload: true } } } }),
      {},
      registry(),
    );
    await gw.close();
    await assert.rejects(
      startGateway(
        baseConfig(upstream.url, {
          plugins: { 'security-headers': { hsts: { preload: true, includeSubDomains: false } } },
        }),
        {},
        registry(),
      ),
      (err: unknown) => err instanceof ConfigError && /preload/.test(err.message),
    );
  });
});

describe('security-headers: HSTS', () => {
  it('builds the header value', () => {
    assert.equal(
      hstsValue({ maxAgeSeconds: 31536000, includeSubDomains: true, preload: false }),
      'max-age=31536000; includeSubDomains',
    );
    assert.equal(
      hstsValue({ maxAgeSeconds: 63072000, includeSubDomains: true, preload: true }),
      'max-age=63072000; includeSubDomains; preload',
    );
    assert.equal(hstsValue({ maxAgeSeconds: 600, includeSubDomains: false, preload: false }), 'max-age=600');
    assert.equal(hstsValue({ maxAgeSeconds: 0, includeSubDomains: true, preload: false }), '');
  });

  it('is sent on HTTPS requests only (hook called directly: the test gateway speaks plain HTTP)', async () => {
    // Defaults filled in the same way the config loader does it.
    const settings: Record<string, unknown> = {};
    assert.equal(createConfigAjv().compile(securityHeadersSchema)(settings), true);
    const handlers = await securityHeaders.create(
      { ...(settings as Static<typeof securityHeadersSchema>), mode: 'enforce' },
      { deps: {} as PluginDeps, route: undefined, configPath: 'plugins.security-headers' },
    );
    const run = (scheme: 'http' | 'https'): ResponseHead => {
      const head: ResponseHead = { status: 200, headers: {}, source: 'upstream', replaceWith: undefined };
      handlers.onResponse?.({ scheme, principal: undefined } as unknown as RequestContext, head);
      return head;
    };
    assert.equal(run('https').headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
    assert.equal(run('http').headers['strict-transport-security'], undefined);
  });
});

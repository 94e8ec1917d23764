import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { readUsage } from '../../src/versioning/usage.js';
import {
  baseConfig,
  problemOf,
  rawRequest,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
} from '../helpers.js';

const DEPRECATED_AT = '2026-01-01T00:00:00Z';
const SUNSET = '2027-06-30';
const VERSIONS = [
  {
    name: 'v0',
    status: 'retired',
    deprecatedAt: '2025-01-01',
    sunset: '2025-12-31',
    sunsetLink: 'https://docs.example.com/sunset-policy',
    migrationLink: 'https://docs.example.com/migrate-v0',
  },
  {
    name: 'v1',
    status: 'deprecated',
    deprecatedAt: DEPRECATED_AT,
    sunset: SUNSET,
    deprecationLink: 'https://docs.example.com/v1-deprecation',
    sunsetLink: 'https://docs.example.com/sunset-policy',
    migrationLink: 'https://docs.example.com/migrate-v2',
  },
  { name: 'v2', status: 'active' },
];

const V1_HEADERS = {
  deprecation: '@1767225600',
  sunset: 'Wed, 30 Jun 2027 00:00:00 GMT',
  link: '<https://docs.example.com/v1-deprecation>; rel="deprecation"; type="text/html", <https://docs.example.com/sunset-policy>; rel="sunset"; type="text/html", <https://docs.example.com/migrate-v2>; rel="successor-version"',
};

function versionedConfig(v1: string, v2: string, usagePath: string, extra: Record<string, unknown> = {}) {
  return baseConfig(v1, {
    upstreams: {
      one: { url: v1, connectTimeoutMs: 500 },
      two: { url: v2, connectTimeoutMs: 500 },
    },
    routes: [
      { id: 'orders-v0', path: '/v0/orders', upstream: 'one' },
      { id: 'orders-v1-path', path: '/v1/orders', upstream: 'one' },
      { id: 'orders-v2-path', path: '/v2/orders', upstream: 'two' },
      { id: 'orders-v1', path: '/orders', versions: ['v1'], upstream: 'one' },
      { id: 'orders-v2', path: '/orders', versions: ['2'], upstream: 'two' },
      { id: 'legacy', path: '/legacy', versions: ['v1'], upstream: 'one' },
      { id: 'health', path: '/health', upstream: 'one' },
    ],
    versioning: { versions: VERSIONS, usage: { path: usagePath, flushMs: 100 }, ...extra },
  });
}

async function problem(res: Response): Promise<Record<string, unknown> & { code: string; status: number }> {
  const text = await res.text();
  problemOf(res.headers.get('content-type'), text);
  return JSON.parse(text) as Record<string, unknown> & { code: string; status: number };
}

describe('API versioning', () => {
  let one: TestUpstream;
  let two: TestUpstream;
  let gw: TestGateway;
  let usagePath: string;

  before(async () => {
    one = await startUpstream();
    two = await startUpstream();
    usagePath = join(mkdtempSync(join(tmpdir(), 'portcullis-versions-')), 'usage.db');
    gw = await startGateway(versionedConfig(one.url, two.url, usagePath));
  });
  after(async () => {
    await gw.close();
    await one.close();
    await two.close();
  });

  function calls(): [number, number] {
    return [one.calls.length, two.calls.length];
  }

  it('path prefix: /v2 reaches the v2 upstream, names the version, and carries no deprecation headers', async () => {
    const res = await fetch(`${gw.url}/v2/orders`);
    assert.equal(res.status, 200);
    assert.equal(two.calls.at(-1)?.url, '/v2/orders');
    assert.equal(res.headers.get('api-version'), 'v2');
    assert.equal(res.headers.get('deprecation'), null);
    assert.equal(res.headers.get('sunset'), null);
    assert.equal(res.headers.get('link'), null);
  });

  it('path prefix: a deprecated version answers with exact Deprecation, Sunset and Link headers', async () => {
    const before = calls();
    const res = await fetch(`${gw.url}/v1/orders`);
    assert.equal(res.status, 200);
    assert.deepEqual(calls(), [before[0] + 1, before[1]]);
    assert.equal(res.headers.get('api-version'), 'v1');
    assert.equal(res.headers.get('deprecation'), V1_HEADERS.deprecation);
    assert.equal(res.headers.get('sunset'), V1_HEADERS.sunset);
    assert.equal(res.headers.get('link'), V1_HEADERS.link);
  });

  it('header: Api-Version picks the route of that version ("1", "v1" and "V1" are one version)', async () => {
    for (const value of ['1', 'v1', 'V1']) {
      const before = calls();
      const res = await fetch(`${gw.url}/orders`, { headers: { 'api-version': value } });
      assert.equal(res.status, 200, value);
      assert.deepEqual(calls(), [before[0] + 1, before[1]], value);
      assert.equal(res.headers.get('deprecation'), V1_HEADERS.deprecation);
    }
    const res = await fetch(`${gw.url}/orders`, { headers: { 'api-version': 'v2' } });
    assert.equal(res.status, 200);
    assert.equal(two.calls.at(-1)?.url, '/orders');
    assert.equal(res.headers.get('deprecation'), null);
  });

  it('media type: a version parameter of Accept picks the version', async () => {
    let before = calls();
    let res = await fetch(`${gw.url}/orders`, {
      headers: { accept: 'application/vnd.example+json; version=1' },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(calls(), [before[0] + 1, before[1]]);
    assert.equal(res.headers.get('sunset'), V1_HEADERS.sunset);
    before = calls();
    res = await fetch(`${gw.url}/orders`, {
      headers: { accept: 'text/html;q=0.5, application/vnd.example+json;VERSION="2"' },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(calls(), [before[0], before[1] + 1]);
  });

  it('query: ?api-version= picks the version', async () => {
    const before = calls();
    const res = await fetch(`${gw.url}/orders?api-version=1&page=2`);
    assert.equal(res.status, 200);
    assert.deepEqual(calls(), [before[0] + 1, before[1]]);
    assert.equal(one.calls.at(-1)?.url, '/orders?api-version=1&page=2');
    assert.equal(res.headers.get('deprecation'), V1_HEADERS.deprecation);
  });

  it('default: a request naming no version gets the latest active one', async () => {
    const before = calls();
    const res = await fetch(`${gw.url}/orders`);
    assert.equal(res.status, 200);
    assert.deepEqual(calls(), [before[0], before[1] + 1]);
    assert.equal(res.headers.get('api-version'), 'v2');
  });

  it('a path only an older version serves is 404 in the default version, 200 in its own', async () => {
    const before = calls();
    const res = await fetch(`${gw.url}/legacy`);
    assert.equal(res.status, 404);
    assert.equal((await problem(res)).code, 'ROUTE_NOT_FOUND');
    assert.deepEqual(calls(), before);
    const ok = await fetch(`${gw.url}/legacy`, { headers: { 'api-version': 'v1' } });
    assert.equal(ok.status, 200);
  });

  it("unversioned routes serve every version, with that version's headers", async () => {
    const res = await fetch(`${gw.url}/health`, { headers: { 'api-version': 'v1' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('deprecation'), V1_HEADERS.deprecation);
  });

  it('unknown version (header, path, query, media type): 400 listing the supported ones, upstream not called', async () => {
    const before = calls();
    const attempts: [string, Record<string, string>][] = [
      ['/orders', { 'api-version': '7' }],
      ['/v9/orders', {}],
      ['/V12', {}],
      ['/orders?api-version=v3', {}],
      ['/orders', { accept: 'application/json; version=3' }],
      ['/health', { 'api-version': '' }],
    ];
    for (const [path, headers] of attempts) {
      const res = await fetch(`${gw.url}${path}`, { headers });
      assert.equal(res.status, 400, path);
      const p = await problem(res);
      assert.equal(p.code, 'UNKNOWN_API_VERSION', path);
      assert.deepEqual(p.supportedVersions, ['v1', 'v2'], path);
      assert.equal(p.detail, 'Supported versions: v1, v2.');
    }
    assert.deepEqual(calls(), before);
  });

  it('retired version: 410 with the migration link, Sunset and Link headers, upstream not called', async () => {
    const before = calls();
    for (const [path, headers] of [
      ['/v0/orders', {}],
      ['/orders', { 'api-version': 'v0' }],
      ['/v0/anything-not-routed', {}],
    ] as [string, Record<string, string>][]) {
      const res = await fetch(`${gw.url}${path}`, { headers });
      assert.equal(res.status, 410, path);
      const p = await problem(res);
      assert.equal(p.code, 'API_VERSION_RETIRED');
      assert.equal(p.migration, 'https://docs.example.com/migrate-v0');
      assert.deepEqual(p.supportedVersions, ['v1', 'v2']);
      assert.equal(res.headers.get('sunset'), 'Wed, 31 Dec 2025 00:00:00 GMT');
      assert.equal(res.headers.get('deprecation'), '@1735689600');
      assert.equal(
        res.headers.get('link'),
        '<https://docs.example.com/sunset-policy>; rel="sunset"; type="text/html", <https://docs.example.com/migrate-v0>; rel="successor-version"',
      );
    }
    assert.deepEqual(calls(), before);
  });

  it('review: every spelling a framework might read is read too (query case/encoding, matrix params, Content-Type, empty segments)', async () => {
    const before = calls();
    for (const [method, path, headers] of [
      ['GET', '/orders?API-VERSION=0', {}],
      ['GET', '/orders?api%2Dversion=0', {}],
      ['GET', '/v0;jsessionid=1/orders', {}],
      ['GET', '/v0%3Bx=1/orders', {}],
      ['POST', '/orders', { 'content-type': 'application/json; version=0' }],
    ] as [string, string, Record<string, string>][]) {
      const res = await fetch(`${gw.url}${path}`, {
        method,
        headers,
        body: method === 'POST' ? '{}' : undefined,
      });
      assert.equal(res.status, 410, `${method} ${path}`);
      assert.equal((await problem(res)).code, 'API_VERSION_RETIRED', path);
    }
    const conflict = await fetch(`${gw.url}/orders`, {
      headers: { accept: 'application/json; version=2', 'content-type': 'application/json; version=1' },
    });
    assert.equal(conflict.status, 400);
    assert.deepEqual(calls(), before);
  });

  it('two selectors naming different versions: 400 API_VERSION_CONFLICT', async () => {
    const before = calls();
    for (const [path, headers] of [
      ['/v1/orders', { 'api-version': '2' }],
      ['/orders?api-version=1&api-version=2', {}],
      ['/orders', { accept: 'application/json; version=1, application/xml; version=2' }],
      ['/orders?api-version=2', { accept: 'application/json;version=1' }],
    ] as [string, Record<string, string>][]) {
      const res = await fetch(`${gw.url}${path}`, { headers });
      assert.equal(res.status, 400, path);
      assert.equal((await problem(res)).code, 'API_VERSION_CONFLICT', path);
    }
    assert.deepEqual(calls(), before);
    // The same version named twice is no conflict.
    const same = await fetch(`${gw.url}/v2/orders?api-version=v2`, { headers: { 'api-version': '2' } });
    assert.equal(same.status, 200);
  });

  it('hostile version values: never echoed, never proxied, the gateway keeps serving', async () => {
    const before = calls();
    const hostile = [
      `/orders?api-version=%ZZ`,
      `/orders?api-version=${'9'.repeat(4000)}`,
      `/orders?api-version=%3Cscript%3E`,
      `/orders?api-version=v1%00`,
    ];
    for (const path of hostile) {
      const res = await fetch(`${gw.url}${path}`);
      assert.equal(res.status, 400, path);
      const text = await res.text();
      assert.ok(!text.includes('script') && !text.includes('9999'), text);
    }
    const raw = await rawRequest(
      gw.port,
      `GET /orders HTTP/1.1\r\nHost: x\r\nApi-Version: <img src=x>\r\nApi-Version: 1\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(raw.status, 400);
    assert.ok(!raw.body.includes('img'));
    assert.deepEqual(calls(), before);
    assert.equal((await fetch(`${gw.url}/v2/orders`)).status, 200);
  });

  it('counts requests per version and consumer in the usage file', async () => {
    await fetch(`${gw.url}/v1/orders`);
    await new Promise((r) => setTimeout(r, 300));
    const rows = readUsage(usagePath);
    const v1 = rows.find((r) => r.version === 'v1' && r.consumer === 'anonymous');
    assert.ok(v1 !== undefined, JSON.stringify(rows));
    assert.ok(v1.requests >= 8, String(v1.requests));
    const v0 = rows.find((r) => r.version === 'v0');
    assert.ok(v0 !== undefined && v0.requests >= 3, 'retired calls are counted too');
  });
});

describe('API versioning: the admin report', () => {
  it('GET /api/v1/versions reports usage per version (viewer), deprecated first; no token: 401', async () => {
    const up = await startUpstream();
    const usagePath = join(mkdtempSync(join(tmpdir(), 'portcullis-versions-')), 'usage.db');
    const token = 'versions-viewer-token-0123456789abcdef';
    const gw = await startGateway(
      {
        ...versionedConfig(up.url, up.url, usagePath),
        admin: {
          enabled: true,
          port: 0,
          tokens: [{ name: 'vera', role: 'viewer', token: '${env:PC_VER_TOKEN}' }],
        },
      },
      { PC_VER_TOKEN: token },
    );
    try {
      for (let i = 0; i < 2; i++) assert.equal((await fetch(`${gw.url}/v1/orders`)).status, 200);
      assert.equal((await fetch(`${gw.url}/orders`)).status, 200);
      const admin = gw.gateway.admin?.url as string;
      const denied = await fetch(`${admin}/api/v1/versions`);
      assert.equal(denied.status, 401);
      let body: { versions: { name: string; status: string; requests: number }[] } = { versions: [] };
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline) {
        const res = await fetch(`${admin}/api/v1/versions`, {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(res.status, 200);
        body = (await res.json()) as typeof body;
        if (body.versions.find((v) => v.name === 'v2')?.requests === 1) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(
        body.versions.map((v) => [v.name, v.status, v.requests]),
        [
          ['v0', 'retired', 0],
          ['v1', 'deprecated', 2],
          ['v2', 'active', 1],
        ],
      );
    } finally {
      await gw.close();
      await up.close();
    }
  });
});

describe('API versioning: default "none", sunset enforcement, config errors', () => {
  let up: TestUpstream;
  let usagePath: string;
  before(async () => {
    up = await startUpstream();
    usagePath = join(mkdtempSync(join(tmpdir(), 'portcullis-versions-')), 'usage.db');
  });
  after(() => up.close());

  it('default "none": versioned paths need a version (400 API_VERSION_REQUIRED); unversioned ones do not', async () => {
    const gw = await startGateway(versionedConfig(up.url, up.url, usagePath, { default: 'none' }));
    try {
      const before = up.calls.length;
      const res = await fetch(`${gw.url}/orders`);
      assert.equal(res.status, 400);
      const p = await problem(res);
      assert.equal(p.code, 'API_VERSION_REQUIRED');
      assert.deepEqual(p.supportedVersions, ['v1', 'v2']);
      assert.equal(up.calls.length, before);
      const health = await fetch(`${gw.url}/health`);
      assert.equal(health.status, 200);
      assert.equal(health.headers.get('api-version'), null);
    } finally {
      await gw.close();
    }
  });

  it('a named default version serves requests that name none', async () => {
    const gw = await startGateway(versionedConfig(up.url, up.url, usagePath, { default: '1' }));
    try {
      const res = await fetch(`${gw.url}/orders`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('api-version'), 'v1');
      assert.equal(res.headers.get('deprecation'), V1_HEADERS.deprecation);
    } finally {
      await gw.close();
    }
  });

  it('retireAtSunset: a deprecated version whose sunset passed answers 410 without a config change', async () => {
    const config = versionedConfig(up.url, up.url, usagePath, {
      retireAtSunset: true,
      versions: [
        { name: 'v1', status: 'deprecated', deprecatedAt: '2020-01-01', sunset: '2021-01-01' },
        { name: 'v2', status: 'active' },
      ],
    });
    config.routes = (config.routes as { id: string }[]).filter((r) => r.id !== 'orders-v0');
    const gw = await startGateway(config);
    try {
      const before = up.calls.length;
      const res = await fetch(`${gw.url}/v1/orders`);
      assert.equal(res.status, 410);
      assert.equal((await problem(res)).code, 'API_VERSION_RETIRED');
      assert.equal(up.calls.length, before);
      assert.equal((await fetch(`${gw.url}/v2/orders`)).status, 200);
    } finally {
      await gw.close();
    }
  });

  async function refused(extra: Record<string, unknown>, routes?: unknown[]): Promise<string> {
    const config = versionedConfig(up.url, up.url, usagePath, extra);
    if (routes !== undefined) config.routes = routes;
    try {
      const gw = await startGateway(config);
      await gw.close();
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.message;
    }
    assert.fail('the config was accepted');
  }

  it('refuses configs that cannot be served as written', async () => {
    assert.match(
      await refused({}, [{ id: 'a', path: '/a', versions: ['v7'], upstream: 'one' }]),
      /routes\[0\]\.versions: unknown API version "v7"/,
    );
    assert.match(
      await refused({
        versions: [{ name: 'v1', status: 'deprecated' }],
      }),
      /deprecatedAt: a deprecated version needs deprecatedAt/,
    );
    assert.match(await refused({ versions: [{ name: 'v1' }, { name: '1' }] }), /declared twice/);
    assert.match(await refused({ default: 'v5' }), /versioning\.default: "v5" is not a declared version/);
    assert.match(
      await refused({}, [
        { id: 'a', path: '/x', versions: ['v1'], upstream: 'one' },
        { id: 'b', path: '/x', versions: ['v1', 'v2'], upstream: 'two' },
      ]),
      /routes "a" and "b" both serve GET \/x/,
    );
    assert.match(
      await refused({}, [{ id: 'a', path: '/v1/x', versions: ['v2'], upstream: 'one' }]),
      /the path names version "v1" but the route serves v2/,
    );
    assert.match(await refused({ pathPattern: '(a+)+$' }), /versioning\.pathPattern/);
    assert.match(await refused({ responseHeader: 'Transfer-Encoding' }), /versioning\.responseHeader/);
    await assert.rejects(
      startGateway(versionedConfig(up.url, up.url, usagePath, { responseHeader: 'Bad Header' })),
    );
    assert.match(
      await refused({
        versions: [{ name: 'v1', status: 'deprecated', deprecatedAt: '2026-02-30T99:00:00Z' }],
      }),
      /deprecatedAt/,
    );
  });

  it('routes may not name versions when none are declared', async () => {
    const config = baseConfig(up.url, {
      routes: [{ id: 'a', path: '/a', versions: ['v1'], upstream: 'api' }],
    });
    await assert.rejects(startGateway(config), /no API versions are declared/);
  });
});

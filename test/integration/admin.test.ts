import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { SecurityEvent } from '../../src/observability/events.js';
import { createDevCertificates, type DevKeyPair } from '../../src/server/dev-certs.js';
import {
  baseConfig,
  problemOf,
  rawRequest,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
} from '../helpers.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface Call {
  method?: string;
  token?: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  tls?: { ca: string; client?: DevKeyPair };
}

function call(url: string, c: Call = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(c.headers ?? {}) };
    if (c.token !== undefined) headers.authorization = `Bearer ${c.token}`;
    if (c.body !== undefined) headers['content-length'] = String(Buffer.byteLength(c.body));
    const options = {
      method: c.method ?? 'GET',
      headers,
      agent: false as const,
      ...(c.tls === undefined ? {} : { ca: c.tls.ca, servername: 'localhost', ...(c.tls.client ?? {}) }),
    };
    const onRes = (res: import('node:http').IncomingMessage) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    };
    const req = url.startsWith('https:')
      ? httpsRequest(url, options, onRes)
      : httpRequest(url, options, onRes);
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.end(c.body);
  });
}

const json = (a: Answer): Record<string, unknown> => JSON.parse(a.body) as Record<string, unknown>;
const problem = (a: Answer) => problemOf(a.headers['content-type'] as string | undefined, a.body);

async function eventually(ms: number, check: () => Promise<boolean>): Promise<void> {
  const start = Date.now();
  for (;;) {
    if (await check()) return;
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const TOKENS = {
  viewer: 'viewer-token-0123456789abcdef0123456789',
  operator: 'operator-token-0123456789abcdef012345678',
  admin: 'admin-token-0123456789abcdef0123456789ab',
};
const PEPPER = 'pepper-from-env-0123456789abcdef0123456789';

const adminTokens = [
  { name: 'vera', role: 'viewer', token: '${env:PC_ADMIN_VIEWER}' },
  { name: 'otto', role: 'operator', token: '${env:PC_ADMIN_OPERATOR}' },
  { name: 'ada', role: 'admin', token: '${env:PC_ADMIN_ADMIN}' },
];

describe('admin listener and API', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-admin-'));
  const env = {
    PC_ADMIN_VIEWER: TOKENS.viewer,
    PC_ADMIN_OPERATOR: TOKENS.operator,
    PC_ADMIN_ADMIN: TOKENS.admin,
    PC_KEY_PEPPER: PEPPER,
  };
  let upstream: TestUpstream;
  let gw: TestGateway;
  let admin: string;
  const events: SecurityEvent[] = [];
  let config: Record<string, unknown>;

  before(async () => {
    // apply and rollback load YAML with the process environment, as a SIGHUP reload does.
    Object.assign(process.env, env);
    upstream = await startUpstream();
    config = baseConfig(upstream.url, {
      stores: { keys: { path: join(dir, 'keys.db'), pepper: '${env:PC_KEY_PEPPER}', pollMs: 100 } },
      admin: { enabled: true, port: 0, tokens: adminTokens },
      observability: { audit: { path: join(dir, 'audit.db') } },
      routes: [
        { id: 'items', path: '/items', methods: ['GET'], upstream: 'api' },
        {
          id: 'secure',
          path: '/secure',
          upstream: 'api',
          plugins: { 'api-key': {}, 'auth-lockout': false, authentication: { anonymous: false } },
        },
      ],
    });
    gw = await startGateway(config, env);
    gw.gateway.obs.events.on((e) => events.push(e));
    const a = gw.gateway.admin;
    assert.ok(a, 'the admin listener started');
    assert.notEqual(a.port, 0, 'admin.port 0 binds a free port');
    admin = a.url;
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('health is open; every answer carries the security headers', async () => {
    const live = await call(`${admin}/health/live`);
    assert.equal(live.status, 200);
    assert.deepEqual(json(live), { status: 'ok' });
    const ready = await call(`${admin}/health/ready`);
    assert.equal(ready.status, 200);
    assert.equal(json(ready).ready, true);
    for (const a of [live, ready]) {
      assert.equal(a.headers['x-content-type-options'], 'nosniff');
      assert.equal(a.headers['cache-control'], 'no-store');
      const csp = a.headers['content-security-policy'] as string;
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline/);
    }
  });

  it('no token: 401 problem+json with a Bearer challenge, audited', async () => {
    const before = events.length;
    const a = await call(`${admin}/api/v1/overview`);
    assert.equal(a.status, 401);
    assert.equal(problem(a).code, 'ADMIN_UNAUTHENTICATED');
    assert.match(String(a.headers['www-authenticate']), /^Bearer/);
    const wrong = await call(`${admin}/api/v1/overview`, { token: 'not-a-token-of-ours-0123456789abcdef' });
    assert.equal(wrong.status, 401);
    const denied = events.slice(before).filter((e) => e.type === 'admin.denied');
    assert.equal(denied.length, 2);
    assert.equal(denied[0]?.code, 'overview');
    assert.ok(!JSON.stringify(denied).includes('not-a-token-of-ours'), 'a token never reaches the audit');
  });

  it('a viewer token on a write endpoint: 403, audited with the token name', async () => {
    const before = events.length;
    const a = await call(`${admin}/api/v1/keys`, {
      method: 'POST',
      token: TOKENS.viewer,
      body: JSON.stringify({ consumer: 'acme' }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(a.status, 403);
    assert.equal(problem(a).code, 'ADMIN_FORBIDDEN');
    const apply = await call(`${admin}/api/v1/config/apply`, {
      method: 'POST',
      token: TOKENS.operator,
      body: 'x: 1',
    });
    assert.equal(apply.status, 403, 'apply needs the admin role');
    const denied = events.slice(before).filter((e) => e.type === 'admin.denied');
    assert.deepEqual(
      denied.map((e) => [e.actor, e.code]),
      [
        ['vera', 'keys.create'],
        ['otto', 'config.apply'],
      ],
    );
  });

  it('login answers the name and role, audited as admin.login', async () => {
    const a = await call(`${admin}/api/v1/login`, { method: 'POST', token: TOKENS.operator });
    assert.equal(a.status, 200, a.body);
    assert.deepEqual(json(a), { name: 'otto', role: 'operator' });
    assert.ok(events.some((e) => e.type === 'admin.login' && e.actor === 'otto'));
  });

  it('a viewer reads the overview and the config, secrets redacted', async () => {
    await call(`${gw.url}/items`);
    const o = await call(`${admin}/api/v1/overview`, { token: TOKENS.viewer });
    if (gw.gateway.obs.metricsPart === undefined) {
      assert.equal(o.status, 503);
      assert.equal(problem(o).code, 'ADMIN_FEATURE_DISABLED');
    } else {
      assert.equal(o.status, 200, o.body);
      const ov = json(o);
      assert.equal(ov.configVersion, 1);
      assert.equal(typeof ov.uptimeSeconds, 'number');
      assert.equal(typeof ov.inFlight, 'number');
      assert.ok(Array.isArray(ov.recentAlerts));
      assert.ok((ov.totals as { requests: number }).requests >= 1);
    }
    const c = await call(`${admin}/api/v1/config`, { token: TOKENS.viewer });
    assert.equal(c.status, 200, c.body);
    for (const secret of [PEPPER, TOKENS.viewer, TOKENS.operator, TOKENS.admin])
      assert.ok(!c.body.includes(secret), 'no secret value in the config answer');
    const body = json(c) as {
      version: number;
      config: {
        stores: { keys: { pepper: string } };
        admin: { tokens: { name: string; token: string }[] };
        routes: { id: string }[];
      };
    };
    assert.equal(body.version, 1);
    assert.equal(body.config.stores.keys.pepper, '[redacted]');
    assert.equal(body.config.admin.tokens[0].name, 'vera', 'names and roles stay visible');
    assert.equal(body.config.admin.tokens[0].token, '[redacted]');
    assert.equal(body.config.routes[0].id, 'items');

    const routes = await call(`${admin}/api/v1/routes`, { token: TOKENS.viewer });
    assert.equal(routes.status, 200);
    assert.ok((json(routes).routes as { route: string }[]).some((r) => r.route === 'secure'));

    const v = await call(`${admin}/api/v1/version`, { token: TOKENS.viewer });
    const vb = json(v) as { name: string; node: string; dependencies: Record<string, string> };
    assert.equal(vb.name, 'portcullis');
    assert.equal(vb.node, process.version);
    assert.match(vb.dependencies.yaml ?? '', /^\d+\.\d+\.\d+/);

    const metrics = await call(`${admin}/metrics`, { token: TOKENS.viewer });
    if (gw.gateway.obs.metricsPart !== undefined) assert.equal(metrics.status, 200);
    assert.equal((await call(`${admin}/metrics`)).status, 401, '/metrics needs a token');
  });

  it('an operator creates and revokes a key; the gateway then refuses it', async () => {
    const before = events.length;
    const created = await call(`${admin}/api/v1/keys`, {
      method: 'POST',
      token: TOKENS.operator,
      body: JSON.stringify({ consumer: 'acme', name: 'ci', scopes: ['orders:read'] }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(created.status, 201, created.body);
    const { id, key } = json(created) as { id: string; key: string };
    assert.equal(typeof key, 'string');
    await eventually(
      3000,
      async () => (await call(`${gw.url}/secure`, { headers: { 'x-api-key': key } })).status === 200,
    );

    const list = await call(`${admin}/api/v1/keys`, { token: TOKENS.viewer });
    assert.equal(list.status, 200);
    assert.ok(!list.body.includes(key), 'the list never shows a key');
    assert.ok((json(list).keys as { id: string }[]).some((k) => k.id === id));

    const revoked = await call(`${admin}/api/v1/keys/${id}/revoke`, {
      method: 'POST',
      token: TOKENS.operator,
    });
    assert.equal(revoked.status, 200, revoked.body);
    assert.equal(json(revoked).status, 'revoked');
    await eventually(
      3000,
      async () => (await call(`${gw.url}/secure`, { headers: { 'x-api-key': key } })).status === 401,
    );

    const missing = await call(`${admin}/api/v1/keys/nope/revoke`, {
      method: 'POST',
      token: TOKENS.operator,
    });
    assert.equal(missing.status, 404);

    const mine = events.slice(before);
    assert.ok(mine.some((e) => e.type === 'admin.action' && e.code === 'keys.create' && e.actor === 'otto'));
    assert.ok(mine.some((e) => e.type === 'admin.action' && e.code === 'keys.revoke' && e.actor === 'otto'));
    assert.ok(mine.some((e) => e.type === 'key.created' && e.detail?.keyId === id));
    assert.ok(mine.some((e) => e.type === 'key.revoked' && e.detail?.keyId === id));
    assert.ok(!JSON.stringify(events).includes(key), 'the key never reaches an event');
  });

  it('validate reports errors; apply adds a route; rollback removes it; all audited', async () => {
    const before = events.length;
    const bad = await call(`${admin}/api/v1/config/validate`, {
      method: 'POST',
      token: TOKENS.operator,
      body: 'listeners: nope\n',
    });
    assert.equal(bad.status, 200);
    assert.equal(json(bad).valid, false);
    assert.ok((json(bad).errors as unknown[]).length > 0);

    const next = structuredClone(config);
    (next.routes as unknown[]).push({ id: 'fresh', path: '/fresh', methods: ['GET'], upstream: 'api' });
    const yaml = stringify(next);
    const ok = await call(`${admin}/api/v1/config/validate`, {
      method: 'POST',
      token: TOKENS.operator,
      body: yaml,
    });
    assert.deepEqual(json(ok), { valid: true, errors: [] });
    assert.equal((await call(`${gw.url}/fresh`)).status, 404);

    const applied = await call(`${admin}/api/v1/config/apply`, {
      method: 'POST',
      token: TOKENS.admin,
      body: yaml,
      headers: { 'content-type': 'application/yaml' },
    });
    assert.equal(applied.status, 200, applied.body);
    const v2 = json(applied).version as number;
    assert.equal(v2, 2);
    assert.equal((await call(`${gw.url}/fresh`)).status, 200);

    const rejected = await call(`${admin}/api/v1/config/apply`, {
      method: 'POST',
      token: TOKENS.admin,
      body: 'routes: 3\n',
    });
    assert.equal(rejected.status, 422);
    assert.equal(problem(rejected).code, 'ADMIN_CONFIG_INVALID');
    assert.equal(gw.gateway.plan.version, 2, 'a rejected config changes nothing');

    const lockout = structuredClone(next);
    (lockout.admin as { tokens: unknown[] }).tokens = adminTokens.slice(0, 2);
    const locked = await call(`${admin}/api/v1/config/apply`, {
      method: 'POST',
      token: TOKENS.admin,
      body: stringify(lockout),
    });
    assert.equal(locked.status, 422, 'an apply that would lock the caller out is refused');
    assert.match(locked.body, /admin\.tokens/);

    const history = await call(`${admin}/api/v1/config/history`, { token: TOKENS.viewer });
    const versions = json(history).versions as { version: number; by: string }[];
    assert.deepEqual(
      versions.map((h) => [h.version, h.by]),
      [
        [1, 'startup'],
        [2, 'ada'],
      ],
    );

    const rolled = await call(`${admin}/api/v1/config/rollback`, {
      method: 'POST',
      token: TOKENS.admin,
      body: JSON.stringify({ version: 1 }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(rolled.status, 200, rolled.body);
    assert.equal(json(rolled).version, 3);
    assert.equal((await call(`${gw.url}/fresh`)).status, 404);

    const mine = events.slice(before);
    assert.ok(mine.some((e) => e.type === 'config.applied' && e.actor === 'ada' && e.code === 'v2'));
    assert.ok(mine.some((e) => e.type === 'admin.action' && e.code === 'config.apply' && e.actor === 'ada'));
    assert.ok(
      mine.some((e) => e.type === 'admin.action' && e.code === 'config.rollback' && e.actor === 'ada'),
    );
    assert.ok(mine.some((e) => e.type === 'config.rejected' && e.actor === 'ada'));
  });

  it('body limits: a config over 1 MiB is refused with 413 before it is read', async () => {
    const port = gw.gateway.admin?.port as number;
    const head =
      'POST /api/v1/config/validate HTTP/1.1\r\nHost: admin\r\n' +
      `Authorization: Bearer ${TOKENS.operator}\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`;
    const a = await rawRequest(port, head);
    assert.equal(a.status, 413);
    assert.match(a.body, /"code":"BODY_TOO_LARGE"/);
  });

  it('unknown paths: 404 problem; a wrong method: 405 with Allow', async () => {
    const a = await call(`${admin}/api/v1/nothing`, { token: TOKENS.viewer });
    assert.equal(a.status, 404);
    assert.equal(problem(a).code, 'ROUTE_NOT_FOUND');
    const b = await call(`${admin}/api/v1/overview`, { method: 'DELETE', token: TOKENS.viewer });
    assert.equal(b.status, 405);
    assert.equal(b.headers.allow, 'GET');
  });

  it('the audit trail holds the admin actions', async () => {
    assert.ok(gw.gateway.obs.auditPart, 'the audit trail is on by default');
    const a = await call(`${admin}/api/v1/audit?type=admin.action&limit=50`, { token: TOKENS.viewer });
    assert.equal(a.status, 200, a.body);
    const codes = (json(a).events as { code?: string }[]).map((e) => e.code);
    for (const c of ['keys.create', 'keys.revoke', 'config.apply', 'config.rollback'])
      assert.ok(codes.includes(c), c);
    const exp = await call(`${admin}/api/v1/audit/export`, { token: TOKENS.viewer });
    assert.equal(exp.status, 403, 'export needs the admin role');
    const exp2 = await call(`${admin}/api/v1/audit/export`, { token: TOKENS.admin });
    assert.equal(exp2.status, 200);
    assert.match(String(exp2.headers['content-type']), /ndjson/);
    for (const t of Object.values(TOKENS)) assert.ok(!exp2.body.includes(t), 'no token in the audit trail');
    const verify = await call(`${admin}/api/v1/audit/verify`, { token: TOKENS.viewer });
    assert.equal(json(verify).ok, true);
  });

  it('every admin event names the actor and the address, never a token', () => {
    const mine = events.filter((e) => e.type.startsWith('admin.'));
    assert.ok(mine.length >= 10);
    for (const e of mine) {
      assert.equal(e.ip, '127.0.0.1');
      if (e.type !== 'admin.denied') assert.ok(['vera', 'otto', 'ada'].includes(e.actor as string));
    }
    const text = JSON.stringify(events);
    for (const t of [...Object.values(TOKENS), PEPPER]) assert.ok(!text.includes(t));
  });
});

function nonLoopbackAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') return a.address;
  return undefined;
}

describe('admin listener: peer addresses', () => {
  const address = nonLoopbackAddress();
  // A machine without a non-loopback address cannot run it; in CI it must run (and fails without one).
  const noAddress =
    address === undefined && process.env.CI !== 'true'
      ? 'this machine has no non-loopback IPv4 address'
      : false;
  if (noAddress) console.log(`skipping the non-loopback test: ${noAddress}`);
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      baseConfig(upstream.url, {
        admin: {
          enabled: true,
          host: '0.0.0.0',
          port: 0,
          tokens: [{ name: 'ada', role: 'admin', token: TOKENS.admin }],
        },
        observability: { audit: { enabled: false } },
      }),
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('a non-loopback peer is refused when allowFrom is loopback, whatever X-Forwarded-For says', {
    skip: noAddress,
  }, async () => {
    assert.ok(address, 'a non-loopback IPv4 address to connect from');
    const port = gw.gateway.admin?.port as number;
    const denied: SecurityEvent[] = [];
    const off = gw.gateway.obs.events.on((e) => {
      if (e.type === 'admin.denied') denied.push(e);
    });
    const a = await call(`http://${address}:${port}/api/v1/version`, {
      token: TOKENS.admin,
      headers: { 'x-forwarded-for': '127.0.0.1' },
    });
    off();
    assert.equal(a.status, 403);
    assert.equal(problem(a).code, 'ADMIN_FORBIDDEN');
    assert.equal(denied.length, 1);
    const local = await call(`http://127.0.0.1:${port}/api/v1/version`, { token: TOKENS.admin });
    assert.equal(local.status, 200, 'loopback is allowed');
  });

  it('a disabled part answers 503 problem+json', async () => {
    const port = gw.gateway.admin?.port as number;
    const a = await call(`http://127.0.0.1:${port}/api/v1/audit`, { token: TOKENS.admin });
    assert.equal(a.status, 503);
    assert.equal(problem(a).code, 'ADMIN_FEATURE_DISABLED');
  });
});

describe('admin listener: mutual TLS', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let ca: string;
  let client: DevKeyPair;
  let url: string;

  before(async () => {
    const certs = await createDevCertificates();
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-admin-mtls-'));
    const file = (name: string, text: string): string => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    ca = certs.ca.cert;
    client = certs.client;
    upstream = await startUpstream();
    gw = await startGateway(
      baseConfig(upstream.url, {
        admin: {
          enabled: true,
          port: 0,
          tokens: [{ name: 'ada', role: 'admin', token: TOKENS.admin }],
          tls: {
            cert: file('server.crt', certs.server.cert),
            key: file('server.key', certs.server.key),
            clientCa: file('ca.crt', certs.ca.cert),
          },
        },
        observability: { audit: { enabled: false } },
      }),
    );
    url = gw.gateway.admin?.url as string;
    assert.match(url, /^https:/);
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('without a client certificate: refused', async () => {
    const a = await call(`${url}/api/v1/version`, { token: TOKENS.admin, tls: { ca } });
    assert.equal(a.status, 403);
    assert.equal(problem(a).code, 'ADMIN_FORBIDDEN');
  });

  it('with a client certificate from admin.tls.clientCa (and a token): accepted', async () => {
    const a = await call(`${url}/api/v1/version`, { token: TOKENS.admin, tls: { ca, client } });
    assert.equal(a.status, 200, a.body);
    assert.equal(a.headers['strict-transport-security'], 'max-age=31536000');
    const noToken = await call(`${url}/api/v1/version`, { tls: { ca, client } });
    assert.equal(noToken.status, 401, 'the certificate does not replace the token');
  });
});

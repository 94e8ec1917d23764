import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { importSPKI, jwtVerify } from 'jose';
import { ConfigError } from '../../src/config/errors.js';
import type { RequestContext } from '../../src/core/context.js';
import { definePlugin } from '../../src/core/plugin.js';
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
import { REDIS_URL, redisSkipReason } from '../stores/redis-env.js';

/**
 * A stand-in authenticator that follows the authenticator contract, so these tests exercise the
 * gate, the lockout and the identity hand-off on their own. The real authenticators have their
 * own integration tests.
 *   x-test-credential: good:<subject>[:<credential id>[:<tenant>[:<role|role…>]]]
 *                      | bad[:<credential id>] | down | challenge
 */
const testAuthenticator = definePlugin({
  name: 'test-credential',
  phase: 'authenticate',
  // Before jwt (500): the jwt plugin must still take its query token out when another decided.
  priority: 550,
  description: 'test authenticator',
  schema: Type.Object({}, { additionalProperties: false }),
  enabledByDefault: false,
  enforcing: false,
  optional: true,
  create() {
    return {
      challenge: 'Test',
      onRequest(ctx: RequestContext) {
        if (ctx.principal !== undefined || ctx.authFailure !== undefined) return;
        const raw = ctx.req.headers['x-test-credential'];
        if (typeof raw !== 'string') return;
        const [kind, a, b, tenant, roles] = raw.split(':');
        const method = 'test-credential';
        if (kind === 'good') {
          ctx.principal = Object.freeze({
            id: `test:${a}`,
            kind: 'user' as const,
            subject: a ?? '',
            consumer: 'acme',
            ...(tenant ? { tenant } : {}),
            roles: roles ? roles.split('|') : ['reader', 'writer'],
            scopes: ['orders:read', 'orders:write'],
            claims: {},
            credentialId: b,
            method,
          });
        } else if (kind === 'down') {
          ctx.authFailure = { method, reason: 'idp_down', unavailable: true, credentialId: a };
        } else if (kind === 'challenge') {
          ctx.authFailure = { method, reason: 'expired', challenge: 'Test error="invalid_token"' };
        } else {
          ctx.authFailure = { method, reason: 'bad_secret', credentialId: a };
        }
      },
    };
  },
});

const registry = () => createDefaultRegistry().register(testAuthenticator);

function send(gw: TestGateway, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gw.url}${path}`, { headers });
}

describe('authentication gate', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let dir: string;
  let publicPem: string;

  before(async () => {
    upstream = await startUpstream();
    dir = mkdtempSync(join(tmpdir(), 'portcullis-auth-'));
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, 'id.key'), pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    publicPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    gw = await startGateway(
      baseConfig(upstream.url, {
        listeners: [{ name: 'test', host: '127.0.0.1', port: 0, trustedProxies: ['127.0.0.1'] }],
        routes: [
          {
            id: 'private',
            path: '/private',
            methods: ['GET'],
            upstream: 'api',
            plugins: { 'test-credential': {}, authentication: { stripHeaders: ['x-user-id'] } },
          },
          {
            id: 'public',
            path: '/public',
            methods: ['GET'],
            upstream: 'api',
            plugins: { 'test-credential': {}, authentication: { anonymous: true } },
          },
          {
            id: 'open',
            path: '/open',
            methods: ['GET'],
            upstream: 'api',
            plugins: { authentication: { anonymous: true } },
          },
          {
            id: 'signed',
            path: '/signed',
            methods: ['GET'],
            upstream: 'api',
            plugins: {
              'test-credential': {},
              authentication: {
                upstreamToken: {
                  enabled: true,
                  privateKeyFile: join(dir, 'id.key'),
                  audience: 'orders-service',
                  keyId: 'gw-1',
                },
              },
            },
          },
          {
            id: 'mixed',
            path: '/mixed',
            methods: ['GET'],
            upstream: 'api',
            plugins: {
              'test-credential': {},
              jwt: {
                queryParameter: 'access_token',
                issuers: [
                  {
                    issuer: 'https://idp.test',
                    audience: ['api'],
                    secret: 's'.repeat(32),
                    algorithms: ['HS256'],
                  },
                ],
              },
            },
          },
          {
            id: 'shadow',
            path: '/shadow',
            methods: ['GET'],
            upstream: 'api',
            plugins: { 'test-credential': {}, authentication: { mode: 'monitor' } },
          },
          {
            id: 'locked',
            path: '/locked',
            methods: ['GET'],
            upstream: 'api',
            plugins: {
              'test-credential': {},
              'auth-lockout': {
                perIp: { threshold: 3, windowSeconds: 60, lockoutSeconds: 30 },
                perCredential: { threshold: 2, windowSeconds: 60, lockoutSeconds: 30 },
              },
            },
          },
        ],
        plugins: { authentication: { anonymous: false } },
      }),
      {},
      registry(),
    );
  });

  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('a route without an authenticator must say it is public: the config is refused otherwise', async () => {
    await assert.rejects(
      startGateway(
        baseConfig(upstream.url, { plugins: { authentication: { anonymous: false } } }),
        {},
        registry(),
      ),
      (err: unknown) =>
        err instanceof ConfigError &&
        /routes\[0\]: authentication: the route has no authenticator/.test(err.message),
    );
  });

  it('no credential: 401 UNAUTHENTICATED with the route challenge, and the upstream is not called', async () => {
    const n = upstream.calls.length;
    const res = await send(gw, '/private');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Test realm="portcullis"');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(problemOf(res.headers.get('content-type'), await res.text()).code, 'UNAUTHENTICATED');
    assert.equal(upstream.calls.length, n);
  });

  it('a refused credential answers exactly like a missing one (nothing tells them apart)', async () => {
    const n = upstream.calls.length;
    const missing = await send(gw, '/private');
    const bad = await send(gw, '/private', { 'x-test-credential': 'bad:someone' });
    const a = problemOf(missing.headers.get('content-type'), await missing.text());
    const b = problemOf(bad.headers.get('content-type'), await bad.text());
    assert.equal(bad.status, 401);
    assert.deepEqual({ ...a, requestId: '' }, { ...b, requestId: '' });
    assert.equal(bad.headers.get('www-authenticate'), missing.headers.get('www-authenticate'));
    assert.equal(upstream.calls.length, n);
    // The reason is in the access log, for the operator only.
    const line = await waitForLog(gw, (l) => l.log === 'access' && l.reqId === b.requestId);
    assert.equal(line.code, 'UNAUTHENTICATED');
    assert.deepEqual(line.auth, { method: 'test-credential', reason: 'bad_secret' });
  });

  it('a specific challenge gets the realm, as RFC 6750 shows it', async () => {
    const res = await send(gw, '/private', { 'x-test-credential': 'challenge' });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Test realm="portcullis", error="invalid_token"');
  });

  it('an authenticator that cannot decide fails closed with 503 AUTH_UNAVAILABLE', async () => {
    const n = upstream.calls.length;
    const res = await send(gw, '/private', { 'x-test-credential': 'down' });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '5');
    assert.equal(problemOf(res.headers.get('content-type'), await res.text()).code, 'AUTH_UNAVAILABLE');
    assert.equal(upstream.calls.length, n);
  });

  it('a proved principal reaches the upstream as identity headers; client-made copies never do', async () => {
    const res = await send(gw, '/private', {
      'x-test-credential': 'good:alice',
      'x-portcullis-subject': 'admin',
      'x-portcullis-roles': 'admin',
      'x-portcullis-anything': 'forged',
      'x-user-id': '1',
    });
    assert.equal(res.status, 200);
    const h = upstream.calls.at(-1)?.headers ?? {};
    assert.equal(h['x-portcullis-subject'], 'alice');
    assert.equal(h['x-portcullis-principal'], 'test:alice');
    assert.equal(h['x-portcullis-consumer'], 'acme');
    assert.equal(h['x-portcullis-roles'], 'reader,writer');
    assert.equal(h['x-portcullis-scopes'], 'orders:read orders:write');
    assert.equal(h['x-portcullis-auth-method'], 'test-credential');
    assert.equal(h['x-portcullis-anything'], undefined);
    assert.equal(h['x-user-id'], undefined);
    assert.equal(h['x-portcullis-tenant'], undefined);
  });

  it('identity values that are not visible ASCII are percent-encoded, never injected as headers', async () => {
    const res = await send(gw, '/private', { 'x-test-credential': 'good:zoë' });
    assert.equal(res.status, 200);
    assert.equal(upstream.calls.at(-1)?.headers['x-portcullis-subject'], 'zo%C3%AB');
  });

  it('anonymous where the route allows it; a refused credential is still refused there', async () => {
    const ok = await send(gw, '/public', { 'x-portcullis-subject': 'admin' });
    assert.equal(ok.status, 200);
    const h = upstream.calls.at(-1)?.headers ?? {};
    assert.equal(h['x-portcullis-principal'], 'anonymous');
    assert.equal(h['x-portcullis-subject'], 'anonymous');
    const n = upstream.calls.length;
    const bad = await send(gw, '/public', { 'x-test-credential': 'bad' });
    assert.equal(bad.status, 401);
    assert.equal(upstream.calls.length, n);
    // A route with no authenticator at all strips forged identity too.
    assert.equal((await send(gw, '/open', { 'x-portcullis-roles': 'admin' })).status, 200);
    assert.equal(upstream.calls.at(-1)?.headers['x-portcullis-roles'], undefined);
  });

  it('monitor mode lets the request pass, logs the decision, and still strips forged identity', async () => {
    const res = await send(gw, '/shadow', { 'x-portcullis-subject': 'admin' });
    assert.equal(res.status, 200);
    assert.equal(upstream.calls.at(-1)?.headers['x-portcullis-subject'], undefined);
    const line = await waitForLog(gw, (l) => l.log === 'access' && l.route === 'shadow');
    assert.deepEqual(line.monitored, [{ plugin: 'authentication', code: 'UNAUTHENTICATED' }]);
  });

  it('a gateway-signed identity token the upstream can verify', async () => {
    const res = await send(gw, '/signed', {
      'x-test-credential': 'good:bob',
      'x-portcullis-identity': 'forged',
    });
    assert.equal(res.status, 200);
    const token = upstream.calls.at(-1)?.headers['x-portcullis-identity'];
    assert.equal(typeof token, 'string');
    const { payload, protectedHeader } = await jwtVerify(
      token as string,
      await importSPKI(publicPem, 'ES256'),
      {
        issuer: 'portcullis',
        audience: 'orders-service',
      },
    );
    assert.equal(protectedHeader.kid, 'gw-1');
    assert.equal(payload.sub, 'test:bob');
    assert.deepEqual((payload.pcl as { roles: string[] }).roles, ['reader', 'writer']);
    assert.ok((payload.exp as number) - (payload.iat as number) === 60);
    // The next request reuses the cached token.
    await send(gw, '/signed', { 'x-test-credential': 'good:bob' });
    assert.equal(upstream.calls.at(-1)?.headers['x-portcullis-identity'], token);
  });

  it('locks out a client IP after repeated failures: 429 AUTH_LOCKED, even with a good credential', async () => {
    const ip = { 'x-forwarded-for': '203.0.113.7' };
    for (let i = 0; i < 3; i++)
      assert.equal((await send(gw, '/locked', { ...ip, 'x-test-credential': 'bad' })).status, 401);
    const n = upstream.calls.length;
    const res = await send(gw, '/locked', { ...ip, 'x-test-credential': 'good:alice' });
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '30');
    assert.equal(problemOf(res.headers.get('content-type'), await res.text()).code, 'AUTH_LOCKED');
    assert.equal(upstream.calls.length, n);
    // Another client is not affected.
    const other = await send(gw, '/locked', {
      'x-forwarded-for': '203.0.113.8',
      'x-test-credential': 'good:alice',
    });
    assert.equal(other.status, 200);
  });

  it('locks out a credential id attacked from many addresses', async () => {
    for (const ip of ['198.51.100.1', '198.51.100.2'])
      await send(gw, '/locked', { 'x-forwarded-for': ip, 'x-test-credential': 'bad:key-42' });
    const res = await send(gw, '/locked', {
      'x-forwarded-for': '198.51.100.3',
      'x-test-credential': 'good:carol:key-42',
    });
    assert.equal(res.status, 429);
    assert.equal(problemOf(res.headers.get('content-type'), await res.text()).code, 'AUTH_LOCKED');
    // Other credentials of the same caller still work.
    const ok = await send(gw, '/locked', {
      'x-forwarded-for': '198.51.100.3',
      'x-test-credential': 'good:carol:key-43',
    });
    assert.equal(ok.status, 200);
  });

  it("an outage is not the client's failure: 503s never add up to a lockout", async () => {
    const ip = { 'x-forwarded-for': '203.0.113.50' };
    for (let i = 0; i < 10; i++) {
      const res = await send(gw, '/locked', { ...ip, 'x-test-credential': 'down:key-77' });
      assert.equal(res.status, 503);
      await res.arrayBuffer();
    }
    assert.equal((await send(gw, '/locked', { ...ip, 'x-test-credential': 'good:dan:key-77' })).status, 200);
  });

  it('a locked credential answers 429 to the right and the wrong secret alike', async () => {
    const from = (n: number) => ({ 'x-forwarded-for': `198.51.100.${20 + n}` });
    await send(gw, '/locked', { ...from(1), 'x-test-credential': 'bad:key-88' });
    await send(gw, '/locked', { ...from(2), 'x-test-credential': 'bad:key-88' });
    const wrong = await send(gw, '/locked', { ...from(3), 'x-test-credential': 'bad:key-88' });
    const right = await send(gw, '/locked', { ...from(4), 'x-test-credential': 'good:erin:key-88' });
    assert.equal(wrong.status, 429);
    assert.equal(right.status, 429);
    assert.equal(problemOf(wrong.headers.get('content-type'), await wrong.text()).code, 'AUTH_LOCKED');
    assert.equal(problemOf(right.headers.get('content-type'), await right.text()).code, 'AUTH_LOCKED');
  });

  it('identity headers spelled with underscores are removed too (CGI reads them as the same)', async () => {
    const res = await send(gw, '/open', {
      x_portcullis_roles: 'admin',
      x_user_id: '1',
      'x-portcullis_subject': 'root',
    });
    assert.equal(res.status, 200);
    const h = upstream.calls.at(-1)?.headers ?? {};
    assert.equal(h.x_portcullis_roles, undefined);
    assert.equal(h['x-portcullis_subject'], undefined);
    // Unrelated headers with underscores pass (x-user-id is only stripped on /private).
    assert.equal(h.x_user_id, '1');
    const p = await send(gw, '/private', { 'x-test-credential': 'good:alice', x_user_id: '1' });
    assert.equal(p.status, 200);
    assert.equal(upstream.calls.at(-1)?.headers.x_user_id, undefined);
  });

  it('a role or scope containing the separator stays one item toward the upstream', async () => {
    const res = await send(gw, '/private', {
      'x-test-credential': 'good:alice::acme-eu:reader,admin|ops team',
    });
    assert.equal(res.status, 200);
    const h = upstream.calls.at(-1)?.headers ?? {};
    assert.equal(h['x-portcullis-roles'], 'reader%2Cadmin,ops%20team');
    assert.equal(h['x-portcullis-tenant'], 'acme-eu');
  });

  it('the identity token is never shared by principals that differ in tenant', async () => {
    const tokens: string[] = [];
    for (const tenant of ['tenant-a', 'tenant-b']) {
      const res = await send(gw, '/signed', { 'x-test-credential': `good:frank::${tenant}` });
      assert.equal(res.status, 200);
      tokens.push(upstream.calls.at(-1)?.headers['x-portcullis-identity'] as string);
    }
    assert.notEqual(tokens[0], tokens[1]);
    const key = await importSPKI(publicPem, 'ES256');
    const tenants = await Promise.all(
      tokens.map(async (t) => ((await jwtVerify(t, key)).payload.pcl as { tenant: string }).tenant),
    );
    assert.deepEqual(tenants, ['tenant-a', 'tenant-b']);
  });

  it('a token in the URL never travels on, even when another authenticator decided', async () => {
    const res = await send(gw, '/mixed?access_token=eyJhbGciOiJIUzI1NiJ9.e30.sig&page=2', {
      'x-test-credential': 'good:gina',
    });
    assert.equal(res.status, 200);
    assert.equal(upstream.calls.at(-1)?.url, '/mixed?page=2');
  });

  it('hostile credentials in bulk: every one refused, none forwarded, the process keeps serving', async () => {
    const n = upstream.calls.length;
    const statuses = new Set<number>();
    for (let batch = 0; batch < 10; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          send(gw, '/private', {
            'x-forwarded-for': `192.0.2.${(batch * 50 + i) % 250}`,
            'x-test-credential': `bad:${'\u00ff'.repeat(i)}`,
          }).then(async (r) => {
            await r.arrayBuffer();
            return r.status;
          }),
        ),
      );
      for (const s of answers) statuses.add(s);
    }
    assert.deepEqual([...statuses], [401]);
    assert.equal(upstream.calls.length, n);
    assert.equal((await send(gw, '/private', { 'x-test-credential': 'good:alice' })).status, 200);
  });
});

describe('auth-lockout shared through Redis', async () => {
  const skip = await redisSkipReason('auth-lockout redis');
  let upstream: TestUpstream;
  let nodes: TestGateway[] = [];

  before(async () => {
    if (skip) return;
    upstream = await startUpstream();
    const config = baseConfig(upstream.url, {
      listeners: [{ name: 'test', host: '127.0.0.1', port: 0, trustedProxies: ['127.0.0.1'] }],
      routes: [{ id: 'locked', path: '/locked', methods: ['GET'], upstream: 'api' }],
      stores: { redis: { url: REDIS_URL } },
      plugins: {
        authentication: { anonymous: false },
        'test-credential': {},
        'auth-lockout': { backend: 'redis', perIp: { threshold: 3, windowSeconds: 60, lockoutSeconds: 20 } },
      },
    });
    nodes = [await startGateway(config, {}, registry()), await startGateway(config, {}, registry())];
  });

  after(async () => {
    if (skip) return;
    await Promise.all(nodes.map((n) => n.close()));
    await upstream.close();
  });

  it('failures on one node lock the client out on the other', { skip }, async () => {
    // A /64 no other run uses (lockouts count IPv6 by /64): the counters live in the shared Redis.
    const ip = {
      'x-forwarded-for': `2001:db8:${randomBytes(2).toString('hex')}:${(process.pid % 65536).toString(16)}::1`,
    };
    const [a, b] = nodes as [TestGateway, TestGateway];
    for (let i = 0; i < 3; i++)
      assert.equal((await send(a, '/locked', { ...ip, 'x-test-credential': 'bad' })).status, 401);
    const n = upstream.calls.length;
    const res = await send(b, '/locked', { ...ip, 'x-test-credential': 'good:alice' });
    assert.equal(res.status, 429);
    assert.equal(problemOf(res.headers.get('content-type'), await res.text()).code, 'AUTH_LOCKED');
    assert.ok(Number(res.headers.get('retry-after')) > 0);
    assert.equal(upstream.calls.length, n);
  });
});

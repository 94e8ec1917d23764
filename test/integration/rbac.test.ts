import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  TEST_IDP,
  type TestGateway,
  type TestUpstream,
  testToken,
  waitForLog,
} from '../helpers.js';

const secret = TEST_IDP.secret;
const jwt = {
  issuers: [{ issuer: 'https://idp.test', audience: ['api'], secret, algorithms: ['HS256'] }],
};

const roles = {
  viewer: { permissions: ['orders:read'] },
  member: { permissions: ['orders:write'], inherits: ['viewer'] },
  // admin inherits member (and through it viewer), and holds every users: permission.
  admin: { permissions: ['users:*'], inherits: ['member'] },
};

const token = (sub: string, claims: { roles?: unknown; scope?: unknown } = {}, key = secret) =>
  testToken(sub, claims, key);

const routes: Record<string, unknown>[] = [
  {
    id: 'admin-users',
    path: '/admin/users/:id',
    methods: ['GET', 'DELETE'],
    upstream: 'api',
    plugins: {
      rbac: { methods: { GET: { permissions: ['users:read'] }, DELETE: { permissions: ['users:delete'] } } },
    },
  },
  {
    id: 'orders',
    path: '/orders',
    methods: ['GET', 'POST'],
    upstream: 'api',
    plugins: {
      rbac: { methods: { GET: { permissions: ['orders:read'] }, POST: { permissions: ['orders:write'] } } },
    },
  },
  {
    id: 'reports-all',
    path: '/reports',
    methods: ['GET'],
    upstream: 'api',
    plugins: { rbac: { require: { scopes: ['reports.read', 'reports.export'], match: 'all' } } },
  },
  {
    id: 'stats-any',
    path: '/stats',
    methods: ['GET'],
    upstream: 'api',
    plugins: { rbac: { require: { scopes: ['stats.read', 'admin'], match: 'any' } } },
  },
  {
    id: 'hidden',
    path: '/internal/flags',
    methods: ['GET'],
    upstream: 'api',
    plugins: { rbac: { require: { permissions: ['users:flags'] }, onDeny: 'not-found' } },
  },
];

function config(upstreamUrl: string, rbac: Record<string, unknown> = {}, extraRoutes = routes) {
  return baseConfig(upstreamUrl, {
    routes: extraRoutes,
    plugins: {
      jwt,
      authentication: { anonymous: false },
      authorization: { allow: 'rules' },
      rbac: { roles, ...rbac },
    },
  });
}

describe('rbac through the gateway', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const call = async (method: string, path: string, bearer?: string) => {
    const before = upstream.calls.length;
    const res = await fetch(`${gw.url}${path}`, {
      method,
      headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` },
    });
    const body = await res.text();
    return { res, body, reached: upstream.calls.length > before };
  };

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(config(upstream.url));
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('BFLA: a member calling an admin operation gets 403 FORBIDDEN and the upstream is not called', async () => {
    const member = await token('mia', { roles: ['member'] });
    const r = await call('DELETE', '/admin/users/42', member);
    assert.equal(r.res.status, 403);
    const p = problemOf(r.res.headers.get('content-type'), r.body);
    assert.equal(p.code, 'FORBIDDEN');
    assert.equal(r.reached, false);
    // The answer names no rule, permission or role.
    assert.doesNotMatch(r.body, /users:delete|member|rbac|require/);
    const line = await waitForLog(gw, (l) => l.log === 'access' && l.reqId === p.requestId);
    assert.equal(line.deniedBy, 'rbac:require.permissions');
    assert.equal(line.code, 'FORBIDDEN');
  });

  it('the denial is an audit event naming the rule', async () => {
    const member = await token('mia', { roles: ['member'] });
    const r = await call('DELETE', '/admin/users/7', member);
    const p = problemOf(r.res.headers.get('content-type'), r.body);
    const audit = await waitForLog(gw, (l) => l.log === 'audit' && l.reqId === p.requestId);
    assert.equal(audit.event, 'authorization.deny');
    assert.equal(audit.plugin, 'rbac');
    assert.equal(audit.rule, 'require.permissions');
    assert.equal(audit.route, 'admin-users');
    assert.equal(audit.principal, 'jwt:https://idp.test|mia');
    assert.equal(audit.monitor, undefined);
  });

  it('an admin passes', async () => {
    const admin = await token('ada', { roles: ['admin'] });
    const r = await call('DELETE', '/admin/users/42', admin);
    assert.equal(r.res.status, 200);
    assert.equal(r.reached, true);
    assert.equal(upstream.calls.at(-1)?.method, 'DELETE');
  });

  it('inheritance: admin inherits member (orders:write) and viewer (orders:read)', async () => {
    const admin = await token('ada', { roles: ['admin'] });
    assert.equal((await call('POST', '/orders', admin)).res.status, 200);
    assert.equal((await call('GET', '/orders', admin)).res.status, 200);
    // viewer does not inherit member.
    const viewer = await token('vic', { roles: ['viewer'] });
    assert.equal((await call('GET', '/orders', viewer)).res.status, 200);
    const denied = await call('POST', '/orders', viewer);
    assert.equal(denied.res.status, 403);
    assert.equal(denied.reached, false);
  });

  it('per-method requirements: GET needs orders:read, POST orders:write; HEAD follows GET', async () => {
    const viewer = await token('vic', { roles: ['viewer'] });
    assert.equal((await call('HEAD', '/orders', viewer)).res.status, 200);
    const member = await token('mia', { roles: ['member'] });
    assert.equal((await call('POST', '/orders', member)).res.status, 200);
    // A member may not read users (GET needs users:read).
    assert.equal((await call('GET', '/admin/users/1', member)).res.status, 403);
  });

  it('scopes with match all: every scope is needed', async () => {
    const one = await token('s1', { scope: 'reports.read' });
    const r = await call('GET', '/reports', one);
    assert.equal(r.res.status, 403);
    assert.equal(r.reached, false);
    const p = problemOf(r.res.headers.get('content-type'), r.body);
    const line = await waitForLog(gw, (l) => l.log === 'access' && l.reqId === p.requestId);
    assert.equal(line.deniedBy, 'rbac:require.scopes');
    const both = await token('s2', { scope: 'openid reports.export reports.read' });
    assert.equal((await call('GET', '/reports', both)).res.status, 200);
  });

  it('scopes with match any: one scope is enough; near misses are not', async () => {
    assert.equal((await call('GET', '/stats', await token('s3', { scope: 'admin' }))).res.status, 200);
    assert.equal((await call('GET', '/stats', await token('s4', { scope: ['stats.read'] }))).res.status, 200);
    for (const scope of ['stats.read.all', 'STATS.READ', 'stats', 'stats.read,admin', '']) {
      const r = await call('GET', '/stats', await token('s5', { scope }));
      assert.equal(r.res.status, 403, scope);
      assert.equal(r.reached, false);
    }
  });

  it('roles are matched exactly: case, whitespace, lists in one string and unknown roles grant nothing', async () => {
    for (const rolesClaim of [['Admin'], [' admin'], ['admin,member'], ['root'], 'admin member', [{}], 42]) {
      const r = await call('DELETE', '/admin/users/1', await token('h', { roles: rolesClaim }));
      // "admin member" as a space-separated string is two roles (claim mapping), admin among them.
      const expected = rolesClaim === 'admin member' ? 200 : 403;
      assert.equal(r.res.status, expected, JSON.stringify(rolesClaim));
    }
  });

  it('not-found mode answers 404 NOT_FOUND, like a missing resource', async () => {
    const member = await token('mia', { roles: ['member'] });
    const r = await call('GET', '/internal/flags', member);
    assert.equal(r.res.status, 404);
    assert.equal(problemOf(r.res.headers.get('content-type'), r.body).code, 'NOT_FOUND');
    assert.equal(r.reached, false);
    const admin = await token('ada', { roles: ['admin'] });
    assert.equal((await call('GET', '/internal/flags', admin)).res.status, 200);
  });

  it('no credential: 401 before rbac; a forged token: 401; the upstream is never called', async () => {
    const none = await call('DELETE', '/admin/users/1');
    assert.equal(none.res.status, 401);
    assert.equal(none.reached, false);
    const forged = await call(
      'DELETE',
      '/admin/users/1',
      await token('ada', { roles: ['admin'] }, 'x'.repeat(32)),
    );
    assert.equal(forged.res.status, 401);
    assert.equal(forged.reached, false);
  });
});

describe('rbac monitor mode', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(config(upstream.url, { mode: 'monitor' }));
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('lets the request through; the access log shows monitored and deniedBy, the audit event monitor: true', async () => {
    const member = await token('mia', { roles: ['member'] });
    const before = upstream.calls.length;
    const res = await fetch(`${gw.url}/admin/users/9`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${member}` },
    });
    assert.equal(res.status, 200);
    await res.text();
    assert.equal(upstream.calls.length, before + 1);
    const line = await waitForLog(gw, (l) => l.log === 'access' && l.path === '/admin/users/9');
    assert.deepEqual(line.monitored, [{ plugin: 'rbac', code: 'FORBIDDEN' }]);
    assert.equal(line.deniedBy, 'rbac:require.permissions');
    const audit = await waitForLog(gw, (l) => l.log === 'audit' && l.reqId === line.reqId);
    assert.equal(audit.event, 'authorization.deny');
    assert.equal(audit.monitor, true);
  });
});

describe('rbac configuration errors at start-up', () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
  });
  after(async () => {
    await upstream.close();
  });

  const refused = (cfg: Record<string, unknown>, pattern: RegExp) =>
    assert.rejects(startGateway(cfg), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, pattern);
      return true;
    });

  it('an inheritance cycle names the path and the roles', async () => {
    await refused(
      config(upstream.url, {
        roles: { a: { inherits: ['b'] }, b: { inherits: ['a'] }, admin: { permissions: ['*'] } },
      }),
      /routes\[0\]\.plugins\.rbac: .*roles\.b\.inherits: role inheritance has a cycle \(a → b → a\)/,
    );
  });

  it('an unknown inherited role names the path and the role', async () => {
    await refused(
      config(upstream.url, { roles: { admin: { inherits: ['superuser'] } } }),
      /routes\[0\]\.plugins\.rbac: .*roles\.admin\.inherits\[0\]: unknown role "superuser"/,
    );
  });

  it('a route whose requirement is empty for a method it serves is refused, saying what to set', async () => {
    await refused(
      config(upstream.url, {}, [
        {
          id: 'open-delete',
          path: '/things/:id',
          methods: ['GET', 'DELETE'],
          upstream: 'api',
          plugins: { rbac: { methods: { GET: { permissions: ['orders:read'] } } } },
        },
      ]),
      /routes\[0\]\.plugins\.rbac: .*the route serves DELETE but rbac requires nothing for it; set require\.permissions or require\.scopes \(or methods\.DELETE\)/,
    );
  });

  it('the schema refuses wildcards in a requirement and malformed permissions', async () => {
    await refused(
      config(upstream.url, {}, [
        {
          id: 'x',
          path: '/x',
          upstream: 'api',
          plugins: { rbac: { require: { permissions: ['orders:*'] } } },
        },
      ]),
      /routes\[0\]\.plugins\.rbac\.require\.permissions\/?\[?0/,
    );
    await refused(
      config(upstream.url, { roles: { bad: { permissions: ['orders:*:read'] } } }),
      /plugins\.rbac\.roles/,
    );
  });

  it('deny by default: authorization.allow rules is satisfied by rbac on the route', async () => {
    const gw = await startGateway(config(upstream.url));
    await gw.close();
  });
});

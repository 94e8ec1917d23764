import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
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
  issuers: [
    { issuer: 'https://idp.test', audience: ['api'], secret, algorithms: ['HS256'], tenantClaim: 'tid' },
  ],
};

const token = testToken;

const routes = [
  {
    id: 'user-orders',
    path: '/users/:userId/orders/:id',
    methods: ['GET', 'PUT', 'DELETE'],
    upstream: 'api',
    plugins: {
      policy: {
        rules: [
          {
            name: 'own-orders',
            // Each user reads and changes only their own orders; an admin reads everyone's.
            allow:
              "request.params.userId == principal.subject || ('admin' in principal.roles && request.method == 'GET')",
          },
        ],
      },
    },
  },
  {
    id: 'user-docs',
    path: '/users/:userId/docs/:id',
    methods: ['GET'],
    upstream: 'api',
    plugins: {
      policy: {
        rules: [
          { name: 'own-docs', allow: 'request.params.userId == principal.subject', onDeny: 'not-found' },
        ],
      },
    },
  },
  {
    id: 'tenant-things',
    path: '/tenants/:tenant/things',
    methods: ['GET'],
    upstream: 'api',
    plugins: {
      policy: {
        rules: [
          {
            name: 'tenant-isolation',
            allow:
              'request.params.tenant == principal.tenant || (has(principal.claims.tenants) && request.params.tenant in principal.claims.tenants)',
          },
        ],
      },
    },
  },
  {
    id: 'broken',
    path: '/broken/:kind',
    methods: ['GET'],
    upstream: 'api',
    plugins: {
      policy: {
        rules: [
          {
            name: 'missing-claim',
            allow: "request.params.kind != 'missing' || principal.claims.missing.x == 1",
          },
          { name: 'not-bool', allow: "request.params.kind != 'dyn' || principal.claims.flag" },
        ],
      },
    },
  },
  {
    id: 'watched',
    path: '/watched/:userId',
    methods: ['GET'],
    upstream: 'api',
    plugins: {
      policy: {
        rules: [
          { name: 'watch-owner', allow: 'request.params.userId == principal.subject', mode: 'monitor' },
          { name: 'working-hours', allow: "request.query.override == 'yes' || true" },
        ],
      },
    },
  },
];

function config(upstreamUrl: string, extraRoutes: unknown[] = routes) {
  return baseConfig(upstreamUrl, {
    routes: extraRoutes,
    plugins: { jwt, authentication: { anonymous: false }, authorization: { allow: 'rules' } },
  });
}

describe('policy (CEL) through the gateway', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let alice: string;
  let bob: string;
  let admin: string;
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
    alice = await token('alice', { tid: 'acme' });
    bob = await token('bob', { tid: 'globex', tenants: ['globex', 'initech'] });
    admin = await token('root', { roles: ['admin'], tid: 'acme' });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('BOLA: each user reads and changes their own orders', async () => {
    for (const [who, bearer] of [
      ['alice', alice],
      ['bob', bob],
    ] as const) {
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const r = await call(method, `/users/${who}/orders/1`, bearer);
        assert.equal(r.res.status, 200, `${who} ${method}`);
        assert.equal(r.reached, true);
      }
    }
  });

  it('BOLA: another user’s order answers 403 FORBIDDEN, never reaches the upstream, and names no rule', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const r = await call(method, '/users/bob/orders/1', alice);
      assert.equal(r.res.status, 403);
      const p = problemOf(r.res.headers.get('content-type'), r.body);
      assert.equal(p.code, 'FORBIDDEN');
      assert.equal(r.reached, false);
      assert.doesNotMatch(r.body, /own-orders|policy|principal|bob|alice/);
      const line = await waitForLog(gw, (l) => l.log === 'access' && l.reqId === p.requestId);
      assert.equal(line.deniedBy, 'policy:own-orders');
      const audit = await waitForLog(gw, (l) => l.log === 'audit' && l.reqId === p.requestId);
      assert.equal(audit.event, 'authorization.deny');
      assert.equal(audit.plugin, 'policy');
      assert.equal(audit.rule, 'own-orders');
      assert.equal(audit.route, 'user-orders');
      assert.equal(audit.principal, 'jwt:https://idp.test|alice');
    }
  });

  it('BOLA: encoded and look-alike ids do not pass', async () => {
    for (const path of [
      '/users/bob%00/orders/1',
      '/users/Alice/orders/1',
      '/users/alice%20/orders/1',
      '/users/%61lice%2F..%2Fbob/orders/1',
      '/users/bob/orders/1?userId=alice',
    ]) {
      const r = await call('GET', path, alice);
      assert.notEqual(r.res.status, 200, path);
      assert.equal(r.reached, false, path);
    }
    // The percent-encoded form of the caller's own id is the same id.
    const ok = await call('GET', '/users/%61lice/orders/1', alice);
    assert.equal(ok.res.status, 200);
  });

  it('an admin reads every order but cannot change another user’s', async () => {
    const read = await call('GET', '/users/bob/orders/9', admin);
    assert.equal(read.res.status, 200);
    assert.equal(read.reached, true);
    const write = await call('PUT', '/users/bob/orders/9', admin);
    assert.equal(write.res.status, 403);
    assert.equal(write.reached, false);
  });

  it('onDeny not-found hides the object: 404 NOT_FOUND', async () => {
    const r = await call('GET', '/users/bob/docs/1', alice);
    assert.equal(r.res.status, 404);
    const p = problemOf(r.res.headers.get('content-type'), r.body);
    assert.equal(p.code, 'NOT_FOUND');
    assert.equal(r.reached, false);
    const line = await waitForLog(gw, (l) => l.log === 'access' && l.reqId === p.requestId);
    assert.equal(line.deniedBy, 'policy:own-docs');
    const own = await call('GET', '/users/alice/docs/1', alice);
    assert.equal(own.res.status, 200);
  });

  it('tenant isolation: own tenant and listed tenants pass, others are refused', async () => {
    assert.equal((await call('GET', '/tenants/acme/things', alice)).res.status, 200);
    assert.equal((await call('GET', '/tenants/globex/things', bob)).res.status, 200);
    assert.equal((await call('GET', '/tenants/initech/things', bob)).res.status, 200);
    for (const [path, bearer] of [
      ['/tenants/globex/things', alice],
      ['/tenants/acme/things', bob],
      ['/tenants/ACME/things', alice],
      ['/tenants//things', alice],
    ] as const) {
      const r = await call('GET', path, bearer);
      assert.ok(r.res.status === 403 || r.res.status === 404, `${path}: ${r.res.status}`);
      assert.equal(r.reached, false, path);
    }
  });

  it('a token without a tenant gets no tenant’s data', async () => {
    const none = await token('carol');
    const r = await call('GET', '/tenants/acme/things', none);
    assert.equal(r.res.status, 403);
    // The empty tenant matches no tenant path either.
    assert.equal((await call('GET', '/tenants/%20/things', none)).reached, false);
  });

  it('an evaluation error denies (fail closed), is logged without request data, and the gateway keeps serving', async () => {
    const r = await call('GET', '/broken/missing', alice);
    assert.equal(r.res.status, 403);
    const p = problemOf(r.res.headers.get('content-type'), r.body);
    assert.equal(r.reached, false);
    const warn = await waitForLog(
      gw,
      (l) => l.reqId === p.requestId && l.msg === 'policy rule could not be evaluated; denied',
    );
    assert.equal(warn.rule, 'missing-claim');
    assert.doesNotMatch(JSON.stringify(warn), /Bearer|eyJ/);
    const line = await waitForLog(gw, (l) => l.log === 'access' && l.reqId === p.requestId);
    assert.equal(line.deniedBy, 'policy:missing-claim');
    // A claim that is not a bool where a bool is needed also denies.
    const flagged = await token('alice', { flag: 'yes' });
    const d = await call('GET', '/broken/dyn', flagged);
    assert.equal(d.res.status, 403);
    assert.equal(d.reached, false);
    const t = await token('alice', { flag: true });
    assert.equal((await call('GET', '/broken/dyn', t)).res.status, 200);
    // Still serving.
    assert.equal((await call('GET', '/users/alice/orders/1', alice)).res.status, 200);
  });

  it('monitor mode lets the request through, audits it and lists it under monitored', async () => {
    const r = await call('GET', '/watched/bob', alice);
    assert.equal(r.res.status, 200);
    assert.equal(r.reached, true);
    const reqId = r.res.headers.get('x-request-id');
    const line = await waitForLog(
      gw,
      (l) => l.log === 'access' && (reqId === null ? l.path === '/watched/bob' : l.reqId === reqId),
    );
    assert.deepEqual(line.monitored, [{ plugin: 'policy', code: 'FORBIDDEN' }]);
    assert.equal(line.deniedBy, undefined);
    const audit = await waitForLog(gw, (l) => l.log === 'audit' && l.rule === 'watch-owner');
    assert.equal(audit.monitor, true);
    assert.equal(audit.event, 'authorization.deny');
  });

  it('no credential: 401 before any policy runs', async () => {
    const r = await call('GET', '/users/alice/orders/1');
    assert.equal(r.res.status, 401);
    assert.equal(r.reached, false);
  });
});

describe('policy errors at start-up', () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream();
  });
  after(async () => {
    await upstream.close();
  });

  const bad = async (allow: string) => {
    const route = {
      id: 'r',
      path: '/r/:id',
      methods: ['GET'],
      upstream: 'api',
      plugins: {
        policy: {
          rules: [
            { name: 'fine', allow: 'true' },
            { name: 'typo', allow },
          ],
        },
      },
    };
    try {
      const gw = await startGateway(config(upstream.url, [route]));
      await gw.close();
    } catch (err) {
      return err;
    }
    return undefined;
  };

  it('an unknown field is a ConfigError naming the route and the rule', async () => {
    const err = await bad('principal.subjct == request.params.id');
    assert.ok(err instanceof ConfigError, String(err));
    assert.match(
      err.message,
      /routes\[0\]\.plugins\.policy:.*rules\[1\]\.allow: rule "typo": type error: No such key: subjct/,
    );
  });

  it('a type error, a syntax error, a non-bool and an unsafe pattern are refused', async () => {
    for (const [allow, re] of [
      ['principal.roles + 1 == 2', /type error/],
      ['principal.subject ==', /syntax error/],
      ['principal.subject', /not bool/],
      ['request.path.matches("(a+)+b")', /catastrophic/],
    ] as const) {
      const err = await bad(allow);
      assert.ok(err instanceof ConfigError, `${allow}: ${String(err)}`);
      assert.match(err.message, /rule "typo"/);
      assert.match(err.message, re);
    }
  });

  it('a rule name that is not kebab-case is refused by the schema', async () => {
    const route = {
      id: 'r',
      path: '/r',
      methods: ['GET'],
      upstream: 'api',
      plugins: { policy: { rules: [{ name: 'Bad Name', allow: 'true' }] } },
    };
    await assert.rejects(startGateway(config(upstream.url, [route])), ConfigError);
  });
});

describe('policy: what the response side cannot be fooled by', () => {
  let upstream: TestUpstream;
  before(async () => {
    // An upstream that gzips whatever it is asked: the gateway cannot read such a body.
    upstream = await startUpstream((_req, res) => {
      const body = gzipSync(JSON.stringify({ id: '43', ownerId: 'bob', secret: 'bob-data' }));
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        'content-length': body.length,
      });
      res.end(body);
    });
  });
  after(async () => {
    await upstream.close();
  });

  it('an unreadable answer is denied by the first enforced rule, even behind a monitored one', async () => {
    const gw = await startGateway(
      config(upstream.url, [
        {
          id: 'order',
          path: '/orders/:id',
          methods: ['GET'],
          upstream: 'api',
          plugins: {
            policy: {
              response: {
                rules: [
                  { name: 'trial-rule', allow: 'response.status == 200', mode: 'monitor' },
                  {
                    name: 'own-order',
                    allow: 'response.body.ownerId == principal.subject',
                    onDeny: 'not-found',
                  },
                ],
              },
            },
          },
        },
      ]),
    );
    try {
      const res = await fetch(`${gw.url}/orders/43`, {
        headers: { authorization: `Bearer ${await token('alice')}` },
      });
      assert.equal(res.status, 404);
      assert.doesNotMatch(await res.text(), /bob-data/);
    } finally {
      await gw.close();
    }
  });

  it('a policy with nothing to check, or only response rules on a write route, is refused at start-up', async () => {
    for (const [policy, pattern] of [
      [{}, /nothing to check/],
      [
        { response: { rules: [{ name: 'own', allow: 'true' }] } },
        /no request rule: response rules run after the upstream/,
      ],
    ] as const) {
      await assert.rejects(
        startGateway(
          config(upstream.url, [
            {
              id: 'w',
              path: '/orders/:id',
              methods: ['GET', 'DELETE'],
              upstream: 'api',
              plugins: { policy },
            },
          ]),
        ),
        (err: unknown) => err instanceof ConfigError && pattern.test(err.message),
      );
    }
  });
});

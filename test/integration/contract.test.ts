import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
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

// Tests run from dist/test/integration; the fixture lives in the source tree.
const SHOP = fileURLToPath(new URL('../../../test/fixtures/contract/shop.yaml', import.meta.url));

type Answer = { status: number; type?: string; body: string };
let answer: Answer;

function json(status: number, value: unknown): Answer {
  return { status, type: 'application/json', body: JSON.stringify(value) };
}

describe('contract: the OpenAPI description enforced in both directions', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let handler: (...args: unknown[]) => void;

  before(async () => {
    upstream = await startUpstream((_req, res) => {
      const headers: Record<string, string> = {};
      if (answer.type) headers['content-type'] = answer.type;
      res.writeHead(answer.status, headers);
      res.end(answer.body);
    });
    handler = upstream.server.listeners('request')[0] as (...args: unknown[]) => void;
    gw = await startGateway(
      baseConfig(upstream.url, {
        routes: [
          { id: 'shop', path: '/api/*', methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'], upstream: 'api' },
        ],
        plugins: {
          contract: {
            spec: SHOP,
            basePath: '/api',
            json: { maxDepth: 8, maxStringBytes: 4096 },
            limits: { maxStringLength: 1000 },
          },
        },
      }),
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });
  beforeEach(() => {
    upstream.calls.length = 0;
    answer = json(200, []);
  });

  async function send(
    method: string,
    path: string,
    body?: string | Buffer,
    headers: Record<string, string> = {},
  ) {
    const res = await fetch(gw.url + path, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body,
    });
    return { res, text: await res.text() };
  }

  async function refused(
    method: string,
    path: string,
    code: string,
    body?: string | Buffer,
    headers?: Record<string, string>,
  ) {
    const { res, text } = await send(method, path, body, headers);
    const p = problemOf(res.headers.get('content-type'), text) as ReturnType<typeof problemOf> & {
      errors?: { pointer: string; detail: string }[];
    };
    assert.equal(p.code, code, text);
    assert.equal(upstream.calls.length, 0, 'the upstream must not be called');
    return { res, p };
  }

  it('a valid request passes, with parameters coerced as OpenAPI serializes them', async () => {
    const { res } = await send('GET', '/api/products?limit=10&tags=red&tags=blue&ids=1,2,3&filter[min]=1.5');
    assert.equal(res.status, 200);
    assert.equal(upstream.calls.length, 1);
    assert.equal(
      upstream.calls[0]?.url,
      '/api/products?limit=10&tags=red&tags=blue&ids=1,2,3&filter[min]=1.5',
    );
  });

  it('undeclared paths answer 404 and undeclared methods 405 with Allow, never proxied (shadow endpoints)', async () => {
    await refused('GET', '/api/admin/debug', 'ROUTE_NOT_FOUND');
    const { res } = await refused('DELETE', '/api/users/1', 'METHOD_NOT_ALLOWED');
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
  });

  it('type confusion in path, query and header parameters is refused with pointers', async () => {
    const { p } = await refused('GET', '/api/users/abc', 'REQUEST_INVALID');
    assert.deepEqual(p.errors, [{ pointer: '/path/userId', detail: 'must be integer' }]);
    const q = await refused('GET', '/api/products?limit=1000&ids=1,x', 'REQUEST_INVALID');
    assert.deepEqual(q.p.errors?.map((e) => e.pointer).sort(), ['/query/ids/1', '/query/limit']);
    const h = await refused('GET', '/api/users/1', 'REQUEST_INVALID', undefined, { 'x-trace': 'not-hex!' });
    assert.equal(h.p.errors?.[0]?.pointer, '/header/X-Trace');
  });

  it('undeclared and repeated query parameters are refused (strict mode, parameter pollution)', async () => {
    const { p } = await refused('GET', '/api/products?limit=1&debug=true', 'REQUEST_INVALID');
    assert.deepEqual(p.errors, [{ pointer: '/query/debug', detail: 'is not a declared query parameter' }]);
    const r = await refused('GET', '/api/products?limit=1&limit=2', 'REQUEST_INVALID');
    assert.deepEqual(r.p.errors, [{ pointer: '/query/limit', detail: 'must not be repeated' }]);
  });

  it('a valid JSON body passes and reaches the upstream unchanged', async () => {
    answer = json(201, { id: 7, email: 'a@example.com', name: 'Ann' });
    const body = JSON.stringify({
      email: 'a@example.com',
      name: 'Ann',
      password: 'long-enough',
      address: { city: 'Oslo' },
    });
    const { res } = await send('POST', '/api/users', body);
    assert.equal(res.status, 201);
    assert.equal(upstream.calls[0]?.body.toString(), body);
  });

  it('mass assignment: undeclared and read-only body properties are refused, nested too', async () => {
    const { p } = await refused(
      'POST',
      '/api/users',
      'REQUEST_INVALID',
      JSON.stringify({
        email: 'a@example.com',
        name: 'Ann',
        isAdmin: true,
        role: 'admin',
        address: { city: 'x', country: 'y' },
      }),
    );
    const pointers = p.errors?.map((e) => `${e.pointer} ${e.detail}`).sort();
    assert.deepEqual(pointers, [
      '/body/address/country is not declared in the API description',
      '/body/isAdmin is not declared in the API description',
      '/body/role is read-only and may not be sent',
    ]);
  });

  it('formats, required members and default string limits are enforced; values are never echoed', async () => {
    const secret = 'x'.repeat(2000);
    const { p, res } = await refused(
      'POST',
      '/api/users',
      'REQUEST_INVALID',
      JSON.stringify({ email: 'not-mail', name: 'A', nickname: secret }),
    );
    const text = JSON.stringify(p);
    assert.equal(res.status, 400);
    assert.ok(!text.includes('not-mail') && !text.includes('xxxxxxxxxx'), text);
    assert.ok(p.errors?.some((e) => e.pointer === '/body/email' && e.detail.includes('format')));
    assert.ok(p.errors?.some((e) => e.pointer === '/body/nickname' && e.detail.includes('1000')));
    const missing = await refused('POST', '/api/users', 'REQUEST_INVALID', JSON.stringify({ name: 'A' }));
    assert.deepEqual(missing.p.errors, [{ pointer: '/body/email', detail: 'is required' }]);
  });

  it('nullable fields accept null; a required body may not be missing', async () => {
    answer = json(201, { id: 1, email: 'a@example.com', name: 'A' });
    const { res } = await send(
      'POST',
      '/api/users',
      JSON.stringify({ email: 'a@example.com', name: 'A', nickname: null }),
    );
    assert.equal(res.status, 201);
    upstream.calls.length = 0;
    const r = await fetch(`${gw.url}/api/users`, { method: 'POST' });
    const p = problemOf(r.headers.get('content-type'), await r.text()) as { code: string; errors?: unknown };
    assert.equal(p.code, 'REQUEST_INVALID');
    assert.deepEqual(p.errors, [{ pointer: '/body', detail: 'is required' }]);
    assert.equal(upstream.calls.length, 0);
  });

  it('a discriminator picks the branch by its tag', async () => {
    answer = { status: 202, body: '' };
    const ok = await send(
      'POST',
      '/api/payments',
      JSON.stringify({ method: 'card', amount: 5, cardToken: 't' }),
    );
    assert.equal(ok.res.status, 202);
    upstream.calls.length = 0;
    const bad = await refused(
      'POST',
      '/api/payments',
      'REQUEST_INVALID',
      JSON.stringify({ method: 'card', amount: 5, iban: 'x' }),
    );
    assert.ok(
      bad.p.errors?.some((e) => e.pointer === '/body/iban'),
      JSON.stringify(bad.p.errors),
    );
    const tag = await refused(
      'POST',
      '/api/payments',
      'REQUEST_INVALID',
      JSON.stringify({ method: 'cash', amount: 5 }),
    );
    assert.ok(
      tag.p.errors?.some((e) => e.pointer === '/body/method'),
      JSON.stringify(tag.p.errors),
    );
  });

  it('form bodies are validated too, with values coerced', async () => {
    answer = json(201, { id: 1, email: 'a@example.com', name: 'A' });
    const ok = await send('POST', '/api/users', 'email=a%40example.com&name=A', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    assert.equal(ok.res.status, 201);
    upstream.calls.length = 0;
    const bad = await refused(
      'POST',
      '/api/users',
      'REQUEST_INVALID',
      'email=a%40example.com&name=A&isAdmin=1',
      {
        'content-type': 'application/x-www-form-urlencoded',
      },
    );
    assert.deepEqual(
      bad.p.errors?.map((e) => e.pointer),
      ['/body/isAdmin'],
    );
  });

  it('an undeclared media type answers 415; a body on an operation without one is refused', async () => {
    const { res } = await refused('POST', '/api/users', 'UNSUPPORTED_MEDIA_TYPE', '<user/>', {
      'content-type': 'application/xml',
    });
    assert.match(res.headers.get('accept-post') ?? '', /application\/json/);
    const raw = await rawRequest(
      gw.port,
      'GET /api/products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
    );
    assert.equal(raw.status, 400);
    const p = JSON.parse(raw.body) as { code: string; errors: unknown };
    assert.equal(p.code, 'REQUEST_INVALID');
    assert.deepEqual(p.errors, [{ pointer: '/body', detail: 'this operation takes no request body' }]);
    assert.equal(upstream.calls.length, 0);
  });

  it('hostile JSON is refused before it is parsed: syntax, duplicates, prototype keys, depth, long strings', async () => {
    await refused('POST', '/api/users', 'JSON_INVALID', '{"email": "a@example.com", "name": ');
    await refused('POST', '/api/users', 'JSON_INVALID', '{"email":"a@example.com","name":"A","name":"B"}');
    await refused(
      'POST',
      '/api/users',
      'JSON_UNSAFE_KEY',
      '{"email":"a@example.com","name":"A","__proto__":{"isAdmin":true}}',
    );
    await refused(
      'POST',
      '/api/users',
      'JSON_UNSAFE_KEY',
      '{"email":"a@example.com","name":"A","metadata":{"constructor":{"prototype":{}}}}',
    );
    await refused(
      'POST',
      '/api/users',
      'JSON_UNSAFE_KEY',
      '{"email":"a@example.com","name":"A","__pro\\u0074o__":{}}',
    );
    await refused(
      'POST',
      '/api/users',
      'JSON_TOO_COMPLEX',
      `{"metadata":${'['.repeat(50)}${']'.repeat(50)}}`,
    );
    await refused(
      'POST',
      '/api/users',
      'JSON_TOO_COMPLEX',
      JSON.stringify({ email: 'a@example.com', name: 'a'.repeat(5000) }),
    );
    await refused(
      'POST',
      '/api/users',
      'JSON_INVALID',
      Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
    );
    // The gateway is still answering.
    answer = json(200, []);
    assert.equal((await send('GET', '/api/products')).res.status, 200);
  });

  it('answers: undeclared properties stripped, write-only ones removed, sensitive values masked', async () => {
    answer = json(200, {
      id: 1,
      email: 'a@example.com',
      name: 'Ann',
      password: 'hunter22',
      passwordHash: '$2b$10$abc',
      internalNotes: 'VIP',
      address: { city: 'Oslo', geo: { lat: 1 } },
      metadata: { cardOnFile: '4111 1111 1111 1111', anything: 'goes' },
    });
    const { res, text } = await send('GET', '/api/users/1');
    assert.equal(res.status, 200);
    const body = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(body, {
      id: 1,
      email: 'a@example.com',
      name: 'Ann',
      address: { city: 'Oslo' },
      metadata: { cardOnFile: '**** **** **** 1111', anything: 'goes' },
    });
    assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(text)));
  });

  it('an undeclared status is replaced by a 502 problem', async () => {
    answer = json(418, { teapot: true });
    const { res, text } = await send('GET', '/api/users/1');
    assert.equal(res.status, 502);
    assert.equal(problemOf(res.headers.get('content-type'), text).code, 'RESPONSE_CONTRACT');
  });

  it('stack traces never reach the client, whatever the status', async () => {
    answer = {
      status: 404,
      type: 'text/plain',
      body: 'TypeError: x is undefined\n    at getUser (/srv/app/users.js:10:5)\n    at Layer.handle (/srv/node_modules/express/lib/router/layer.js:95:5)\n',
    };
    const { res, text } = await send('GET', '/api/users/1');
    assert.equal(res.status, 404);
    assert.equal(problemOf(res.headers.get('content-type'), text).code, 'UPSTREAM_ERROR');
    assert.ok(!text.includes('users.js'));
    answer = {
      status: 500,
      type: 'text/html',
      body: 'Traceback (most recent call last):\n  File "/app/x.py", line 3, in f\n',
    };
    const five = await send('GET', '/api/users/1');
    assert.equal(five.res.status, 500);
    assert.ok(!five.text.includes('x.py'));
  });

  it('compressed bodies cannot be checked: a gzip request is refused, a gzip answer withheld', async () => {
    const { p } = await refused(
      'POST',
      '/api/users',
      'UNSUPPORTED_MEDIA_TYPE',
      gzipSync('{"email":"a@example.com","name":"A"}'),
      {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      },
    );
    assert.match((p as { detail?: string }).detail ?? '', /Content-Encoding/);
    answer = { status: 200, type: 'application/json', body: '' };
    upstream.server.removeAllListeners('request');
    upstream.server.on('request', (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        res.end(gzipSync(JSON.stringify({ id: 1, email: 'a@example.com', name: 'A', password: 'x' })));
      });
    });
    try {
      const r = await fetch(`${gw.url}/api/users/1`);
      assert.equal(r.status, 502);
      assert.equal(problemOf(r.headers.get('content-type'), await r.text()).code, 'RESPONSE_CONTRACT');
    } finally {
      upstream.server.removeAllListeners('request');
      upstream.server.on('request', handler);
    }
  });

  it('a response that breaks its schema is logged in monitor mode and passes', async () => {
    answer = json(200, { id: 'not-a-number', email: 'a@example.com', name: 'A' });
    const { res } = await send('GET', '/api/users/1');
    assert.equal(res.status, 200);
    await waitForLog(gw, (l) => l.msg === 'contract: answer does not match the response schema');
  });
});

describe('contract: response validation in enforce mode, monitor mode on requests', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream((_req, res) => {
      res.writeHead(answer.status, answer.type ? { 'content-type': answer.type } : {});
      res.end(answer.body);
    });
    gw = await startGateway(
      baseConfig(upstream.url, {
        routes: [{ id: 'user', path: '/users/:id', methods: ['GET'], upstream: 'api' }],
        plugins: { contract: { spec: SHOP, mode: 'monitor', response: { validate: 'enforce' } } },
      }),
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('an invalid answer becomes 502 RESPONSE_CONTRACT', async () => {
    answer = json(200, { id: 'x', email: 'a@example.com', name: 'A' });
    const res = await fetch(`${gw.url}/users/1`);
    assert.equal(res.status, 502);
    assert.equal(problemOf(res.headers.get('content-type'), await res.text()).code, 'RESPONSE_CONTRACT');
  });

  it('monitor mode lets an invalid request through and logs it', async () => {
    answer = json(200, { id: 1, email: 'a@example.com', name: 'A' });
    upstream.calls.length = 0;
    const res = await fetch(`${gw.url}/users/abc`);
    assert.equal(res.status, 200);
    assert.equal(upstream.calls.length, 1);
  });
});

describe('contract: config errors at start-up', () => {
  it('a route that serves no operation of the description is refused', async () => {
    const upstream = await startUpstream();
    try {
      await assert.rejects(
        startGateway(
          baseConfig(upstream.url, {
            routes: [{ id: 'x', path: '/nothing/here', methods: ['GET'], upstream: 'api' }],
            plugins: { contract: { spec: SHOP } },
          }),
        ),
        /serves no operation/,
      );
      await assert.rejects(
        startGateway(baseConfig(upstream.url, { plugins: { contract: { spec: '/no/such/file.yaml' } } })),
        /cannot read the description/,
      );
    } finally {
      await upstream.close();
    }
  });
});

import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  baseConfig,
  problemOf,
  type RawResponse,
  rawRequest,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
} from '../helpers.js';

/**
 * Hostile input: every case gets a problem+json answer with its code, the upstream never sees the
 * request, and the gateway keeps serving afterwards.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An upstream that also counts requests it merely started to receive (headers only). */
interface Watched {
  upstream: TestUpstream;
  /** Requests whose headers reached the upstream, complete or not. */
  started: number;
  /** Requests the upstream saw end without their body (the gateway aborted them). */
  aborted: number;
}

async function watchedUpstream(): Promise<Watched> {
  const upstream = await startUpstream();
  const w: Watched = { upstream, started: 0, aborted: 0 };
  upstream.server.on('request', (req: IncomingMessage) => {
    w.started++;
    req.once('close', () => {
      if (!req.complete) w.aborted++;
    });
  });
  return w;
}

interface Expect {
  status: number;
  code: string;
  /** The answer must close the connection (framing that cannot be trusted). */
  close?: boolean;
  /**
   * The body is streamed, so the upstream may have seen the headers before the gateway gave up;
   * then only "no complete request reached the upstream" is asserted.
   */
  streamed?: boolean;
}

/** Sends raw bytes and asserts the problem answer and an untouched upstream. */
async function expectRefused(
  gw: TestGateway,
  w: Watched,
  data: string | Buffer,
  e: Expect,
): Promise<RawResponse> {
  const calls = w.upstream.calls.length;
  const started = w.started;
  const res = await rawRequest(gw.port, data, 2500);
  assert.equal(res.status, e.status, `status; got ${res.raw.slice(0, 300)}`);
  const p = problemOf(res.headers['content-type'], res.body);
  assert.equal(p.code, e.code);
  assert.equal(p.status, e.status);
  assert.equal(p.requestId, res.headers['x-request-id']);
  if (e.close) assert.equal(res.headers.connection?.toLowerCase(), 'close', 'connection must be closed');
  // Let anything the gateway might (wrongly) have sent on reach the upstream before counting.
  await sleep(15);
  assert.equal(w.upstream.calls.length, calls, 'the upstream received a complete request');
  if (!e.streamed) assert.equal(w.started, started, 'the upstream saw the request start');
  return res;
}

async function assertServing(gw: TestGateway, w: Watched): Promise<void> {
  const calls = w.upstream.calls.length;
  const res = await fetch(`${gw.url}/items?still=serving`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true, method: 'GET', url: '/items?still=serving' });
  assert.equal(w.upstream.calls.length, calls + 1);
}

/** A raw connection the test drives step by step; `done` resolves with all bytes once it closes. */
function rawSession(port: number, timeoutMs = 3000) {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => undefined);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  const done = new Promise<string>((resolve) =>
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    }),
  );
  return {
    socket,
    done,
    send: (data: string) => new Promise<void>((resolve) => socket.write(data, () => resolve())),
    received: () => Buffer.concat(chunks).toString('latin1'),
  };
}

function parseFirst(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const end = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const len = Number(headers['content-length'] ?? 0);
  return { status: Number(statusLine.split(' ')[1]), headers, body: raw.slice(end + 4, end + 4 + len) };
}

const chunk = (s: string) => `${s.length.toString(16)}\r\n${s}\r\n`;
const get = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\nHost: a\r\n${extra}\r\n`;
const post = (headers: string, body: string) => `POST /items HTTP/1.1\r\nHost: a\r\n${headers}\r\n${body}`;

describe('hostile input', () => {
  let w: Watched;
  let gw: TestGateway;

  before(async () => {
    w = await watchedUpstream();
    const config = baseConfig(w.upstream.url);
    config.routes = [
      ...(config.routes as unknown[]),
      {
        id: 'small-upload',
        path: '/small',
        methods: ['POST'],
        upstream: 'api',
        plugins: { 'request-guard': { maxBodyBytes: 1024 } },
      },
      { id: 'internal', host: 'internal.example', path: '/internal', methods: ['GET'], upstream: 'api' },
    ];
    gw = await startGateway(config);
  });
  after(async () => {
    await gw.close();
    await w.upstream.close();
  });

  describe('malformed HTTP', () => {
    const cases: [string, string | Buffer, Expect][] = [
      ['garbage request line', 'GARBAGE\r\n\r\n', { status: 400, code: 'BAD_REQUEST', close: true }],
      [
        'unknown HTTP version',
        'GET /items HTTP/1.2\r\nHost: a\r\n\r\n',
        { status: 400, code: 'BAD_REQUEST' },
      ],
      [
        'HTTP/2.0 request line',
        'GET /items HTTP/2.0\r\nHost: a\r\n\r\n',
        { status: 400, code: 'BAD_REQUEST' },
      ],
      [
        'HTTP/0.9 request (no version)',
        'GET /items\r\n\r\n',
        { status: 400, code: 'BAD_REQUEST', close: true },
      ],
      [
        'HTTP/2 preface on HTTP/1 listener',
        'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
        { status: 400, code: 'BAD_REQUEST' },
      ],
      [
        'invalid method token',
        'X(y) /items HTTP/1.1\r\nHost: a\r\n\r\n',
        { status: 400, code: 'BAD_REQUEST' },
      ],
      ['NUL in a header value', get('/items', 'X: a\u0000b\r\n'), { status: 400, code: 'BAD_REQUEST' }],
      ['header line without colon', get('/items', 'Broken\r\n'), { status: 400, code: 'BAD_REQUEST' }],
      ['invalid header name', get('/items', 'X(y): 1\r\n'), { status: 400, code: 'BAD_REQUEST' }],
      ['obs-fold continuation line', get('/items', 'X: a\r\n b\r\n'), { status: 400, code: 'BAD_REQUEST' }],
      ['bare LF line endings', 'GET /items HTTP/1.1\nHost: a\n\n', { status: 400, code: 'BAD_REQUEST' }],
      [
        'control character in the URL',
        'GET /it\u0001ems HTTP/1.1\r\nHost: a\r\n\r\n',
        { status: 400, code: 'BAD_REQUEST' },
      ],
      [
        'raw non-ASCII byte in the URL',
        Buffer.from('GET /it\xffems HTTP/1.1\r\nHost: a\r\n\r\n', 'latin1'),
        { status: 400, code: 'BAD_REQUEST' },
      ],
      ['fragment in the query', get('/items?a=1#frag'), { status: 400, code: 'BAD_REQUEST' }],
      [
        'HTTP/1.1 without Host',
        'GET /items HTTP/1.1\r\n\r\n',
        { status: 400, code: 'BAD_REQUEST', close: true },
      ],
      [
        'chunk size that is not hex',
        post('Transfer-Encoding: chunked\r\n', 'zz\r\nhello\r\n0\r\n\r\n'),
        { status: 400, code: 'BAD_REQUEST', streamed: true },
      ],
      [
        'chunk size overflowing 64 bits',
        post('Transfer-Encoding: chunked\r\n', 'FFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n'),
        { status: 400, code: 'BAD_REQUEST', streamed: true },
      ],
      [
        'chunk without its CRLF',
        post('Transfer-Encoding: chunked\r\n', '5\r\nhelloXX0\r\n\r\n'),
        { status: 400, code: 'BAD_REQUEST', streamed: true },
      ],
    ];
    for (const [name, data, e] of cases) {
      it(`${name} → ${e.status} ${e.code}`, () => expectRefused(gw, w, data, e).then(() => undefined));
    }
    it('keeps serving', () => assertServing(gw, w));
  });

  describe('oversized URL, headers and body', () => {
    it('URL longer than maxUrlLength → 414 URL_TOO_LONG', async () => {
      await expectRefused(gw, w, get(`/items?q=${'a'.repeat(9000)}`), { status: 414, code: 'URL_TOO_LONG' });
      await expectRefused(gw, w, get(`/items/${'a'.repeat(9000)}`), { status: 414, code: 'URL_TOO_LONG' });
    });
    it('request line beyond maxHeaderBytes → 431 HEADERS_TOO_LARGE', async () => {
      await expectRefused(gw, w, get(`/items?q=${'a'.repeat(20000)}`), {
        status: 431,
        code: 'HEADERS_TOO_LARGE',
        close: true,
      });
    });
    it('one header beyond maxHeaderBytes → 431 HEADERS_TOO_LARGE', async () => {
      await expectRefused(gw, w, get('/items', `X-Big: ${'a'.repeat(17000)}\r\n`), {
        status: 431,
        code: 'HEADERS_TOO_LARGE',
        close: true,
      });
    });
    it('header section of many small headers beyond maxHeaderBytes → 431', async () => {
      const headers = Array.from({ length: 90 }, (_, i) => `X-H${i}: ${'v'.repeat(200)}\r\n`).join('');
      await expectRefused(gw, w, get('/items', headers), {
        status: 431,
        code: 'HEADERS_TOO_LARGE',
        close: true,
      });
    });
    it('more header fields than maxHeaders → 431 HEADERS_TOO_LARGE', async () => {
      const headers = Array.from({ length: 150 }, (_, i) => `X-${i}: 1\r\n`).join('');
      await expectRefused(gw, w, get('/items', headers), { status: 431, code: 'HEADERS_TOO_LARGE' });
    });
    it('declared Content-Length over the route limit → 413 before any body is read', async () => {
      await expectRefused(gw, w, 'POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\nabc', {
        status: 413,
        code: 'BODY_TOO_LARGE',
        close: true,
      });
    });
    it('huge but valid Content-Length values → 413, not a framing error', async () => {
      for (const cl of ['99999999999', '1234567890123456', '18446744073709551615']) {
        await expectRefused(gw, w, `POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: ${cl}\r\n\r\nabc`, {
          status: 413,
          code: 'BODY_TOO_LARGE',
          close: true,
        });
      }
    });
    it('chunked body over the limit (no Content-Length) → 413, counted on the stream', async () => {
      const body = `${chunk('a'.repeat(600)) + chunk('b'.repeat(600))}0\r\n\r\n`;
      await expectRefused(
        gw,
        w,
        `POST /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
        {
          status: 413,
          code: 'BODY_TOO_LARGE',
          streamed: true,
        },
      );
    });
    it('chunked body crossing the limit after the upstream call started → 413, upstream call aborted', async () => {
      const calls = w.upstream.calls.length;
      const started = w.started;
      const aborted = w.aborted;
      const s = rawSession(gw.port);
      await s.send(
        `POST /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunk('a'.repeat(1000))}`,
      );
      // Wait until the upstream is receiving the streamed request.
      for (let i = 0; i < 100 && w.started === started; i++) await sleep(10);
      assert.equal(w.started, started + 1, 'the upstream call should have started');
      await s.send(chunk('b'.repeat(100)));
      const raw = await s.done;
      const res = parseFirst(raw);
      assert.equal(res.status, 413);
      assert.equal(problemOf(res.headers['content-type'], res.body).code, 'BODY_TOO_LARGE');
      for (let i = 0; i < 100 && w.aborted === aborted; i++) await sleep(10);
      assert.equal(w.aborted, aborted + 1, 'the upstream request must be cut, not completed');
      assert.equal(w.upstream.calls.length, calls);
    });
    it('chunked body exactly at the limit passes', async () => {
      const calls = w.upstream.calls.length;
      const body = `${chunk('a'.repeat(1000)) + chunk('b'.repeat(24))}0\r\n\r\n`;
      const res = await rawRequest(
        gw.port,
        `POST /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body}`,
      );
      assert.equal(res.status, 200);
      assert.equal(w.upstream.calls.length, calls + 1);
      assert.equal(w.upstream.calls.at(-1)?.body.length, 1024);
    });
    it('keeps serving', () => assertServing(gw, w));
  });

  describe('path traversal and ambiguous paths', () => {
    const refused = [
      '/items/../../etc/passwd',
      '/../items',
      '/%2e%2e/items',
      '/%2E%2E/%2E%2E/etc/passwd',
      '/items/%2e%2e/%2e%2e/x',
      '/items/.%2e/.%2e/x',
      '/items%2f1',
      '/items/1%2F..%2F..%2Fadmin',
      '/items%5c1',
      '/items/..%5c..%5cadmin',
      '/items\\..\\admin',
      '/items/%252e%252e/x',
      '/items/%252f',
      '/items/%25%32%65%25%32%65/x',
      '/items/%25%32%66',
      '/items/%c0%ae%c0%ae/admin',
      '/items/%c0%af',
      '/items/..;/admin',
      '/items/%2e%2e;x=1/admin',
      '/items/%zz',
      '/items/%',
      '/items/%u002e',
      '/items/%00',
      '/items/a%0d%0aX-Injected:%201',
      '/items#fragment',
      'http://evil.example/items',
      '*',
    ];
    for (const target of refused) {
      it(`${JSON.stringify(target)} → 400 BAD_PATH`, async () => {
        await expectRefused(gw, w, get(target), { status: 400, code: 'BAD_PATH' });
      });
    }

    const normalized: [string, string][] = [
      ['/admin/../items', '/items'],
      ['/items/./1', '/items/1'],
      ['//items', '/items'],
      ['/items//1', '/items/1'],
      ['/%69tems/%7E1', '/items/~1'],
      ['/items/a%3bb', '/items/a%3Bb'],
      ['/items/%e2%82%ac', '/items/%E2%82%AC'],
      ['/x/%2e%2e/items?next=%2F..%2F', '/items?next=%2F..%2F'],
    ];
    for (const [target, upstreamUrl] of normalized) {
      it(`${JSON.stringify(target)} is normalized to ${JSON.stringify(upstreamUrl)} before routing and forwarding`, async () => {
        const res = await rawRequest(gw.port, get(target, 'Connection: close\r\n'));
        assert.equal(res.status, 200, res.raw.slice(0, 300));
        assert.equal(w.upstream.calls.at(-1)?.url, upstreamUrl);
      });
    }
    it('keeps serving', () => assertServing(gw, w));
  });

  describe('request smuggling shapes', () => {
    const framing: Expect = { status: 400, code: 'AMBIGUOUS_FRAMING', close: true };
    const malformed: Expect = { status: 400, code: 'BAD_REQUEST', close: true };
    const cases: [string, string, Expect][] = [
      ['two equal Content-Length', post('Content-Length: 5\r\nContent-Length: 5\r\n', 'hello'), framing],
      ['two different Content-Length', post('Content-Length: 5\r\nContent-Length: 6\r\n', 'hello!'), framing],
      ['Content-Length list', post('Content-Length: 5, 5\r\n', 'hello'), framing],
      ['signed Content-Length', post('Content-Length: +5\r\n', 'hello'), framing],
      ['non-numeric Content-Length', post('Content-Length: abc\r\n', 'hello'), framing],
      ['CL.TE', post('Content-Length: 6\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\nG'), framing],
      [
        'TE.CL',
        post('Transfer-Encoding: chunked\r\nContent-Length: 3\r\n', '8\r\nSMUGGLED\r\n0\r\n\r\n'),
        framing,
      ],
      ['Transfer-Encoding: identity', post('Transfer-Encoding: identity\r\n', ''), framing],
      ['Transfer-Encoding: xchunked', post('Transfer-Encoding: xchunked\r\n', '0\r\n\r\n'), framing],
      [
        'Transfer-Encoding: gzip, chunked',
        post('Transfer-Encoding: gzip, chunked\r\n', '0\r\n\r\n'),
        framing,
      ],
      [
        'Transfer-Encoding: chunked, chunked',
        post('Transfer-Encoding: chunked, chunked\r\n', '0\r\n\r\n'),
        framing,
      ],
      [
        'Transfer-Encoding twice',
        post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'),
        framing,
      ],
      [
        'Transfer-Encoding chunked then x',
        post('Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n', '0\r\n\r\n'),
        framing,
      ],
      [
        'Transfer_Encoding (underscore) with Content-Length',
        post('Transfer_Encoding: chunked\r\nContent-Length: 5\r\n', 'hello'),
        framing,
      ],
      [
        'Content_Length (underscore) with chunked',
        post('Content_Length: 5\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'),
        framing,
      ],
      [
        'Transfer-Encoding on HTTP/1.0',
        'POST /items HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        framing,
      ],
      ['two Host headers', get('/items', 'Host: b\r\n'), framing],
      [
        'Transfer-Encoding with vertical tab',
        post('Transfer-Encoding: \u000bchunked\r\n', '0\r\n\r\n'),
        malformed,
      ],
      [
        'Transfer-Encoding with a trailing no-break space',
        post('Transfer-Encoding: chunked\u00a0\r\n', '0\r\n\r\n'),
        framing,
      ],
      [
        'Transfer-Encoding with a form feed',
        post('Transfer-Encoding: chunked\u000c\r\n', '0\r\n\r\n'),
        malformed,
      ],
      ['space before the colon', post('Transfer-Encoding : chunked\r\n', '0\r\n\r\n'), malformed],
    ];
    for (const [name, data, e] of cases) {
      it(`${name} → ${e.status} ${e.code}, connection closed`, () =>
        expectRefused(gw, w, data, e).then(() => undefined));
    }

    it('a request smuggled behind an ambiguous one is never parsed nor forwarded', async () => {
      const calls = w.upstream.calls.length;
      const started = w.started;
      const s = rawSession(gw.port);
      await s.send(
        post('Transfer-Encoding: gzip, chunked\r\n', '0\r\n\r\n') +
          'GET /items/smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
      );
      const raw = await s.done;
      assert.equal(raw.split('HTTP/1.1 ').length - 1, 1, `exactly one response: ${raw}`);
      const res = parseFirst(raw);
      assert.equal(res.status, 400);
      assert.equal(problemOf(res.headers['content-type'], res.body).code, 'AMBIGUOUS_FRAMING');
      await sleep(15);
      assert.equal(w.upstream.calls.length, calls);
      assert.equal(w.started, started);
    });
    it('keeps serving', () => assertServing(gw, w));
  });

  describe('undeclared routes and methods', () => {
    const notFound = ['/admin', '/items/1/extra', '/ITEMS', '/', '/internal'];
    for (const target of notFound) {
      it(`GET ${target} → 404 ROUTE_NOT_FOUND`, async () => {
        await expectRefused(gw, w, get(target), { status: 404, code: 'ROUTE_NOT_FOUND' });
      });
    }
    it('a host-bound route does not answer for another Host → 404', async () => {
      await expectRefused(gw, w, 'GET /internal HTTP/1.1\r\nHost: other.example\r\n\r\n', {
        status: 404,
        code: 'ROUTE_NOT_FOUND',
      });
      const ok = await rawRequest(
        gw.port,
        'GET /internal HTTP/1.1\r\nHost: Internal.Example:8080\r\nConnection: close\r\n\r\n',
      );
      assert.equal(ok.status, 200);
    });

    const methods: [string, string, string][] = [
      ['DELETE', '/items', 'GET, HEAD, POST'],
      ['PATCH', '/items', 'GET, HEAD, POST'],
      ['OPTIONS', '/items', 'GET, HEAD, POST'],
      ['TRACE', '/items', 'GET, HEAD, POST'],
      ['PROPFIND', '/items', 'GET, HEAD, POST'],
      ['POST', '/items/1', 'GET, HEAD, PUT, DELETE'],
      ['GET', '/small', 'POST'],
    ];
    for (const [method, target, allow] of methods) {
      it(`${method} ${target} → 405 METHOD_NOT_ALLOWED with Allow: ${allow}`, async () => {
        const res = await expectRefused(
          gw,
          w,
          `${method} ${target} HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n`,
          {
            status: 405,
            code: 'METHOD_NOT_ALLOWED',
          },
        );
        assert.equal(res.headers.allow, allow);
      });
    }
    it('a method the parser does not know → 400 BAD_REQUEST', async () => {
      await expectRefused(gw, w, 'FOO /items HTTP/1.1\r\nHost: a\r\n\r\n', {
        status: 400,
        code: 'BAD_REQUEST',
      });
    });
    it('HEAD is allowed where GET is', async () => {
      const res = await fetch(`${gw.url}/items`, { method: 'HEAD' });
      assert.equal(res.status, 200);
    });
    it('keeps serving', () => assertServing(gw, w));
  });
});

describe('slow clients', () => {
  let w: Watched;
  let gw: TestGateway;

  before(async () => {
    w = await watchedUpstream();
    gw = await startGateway(
      baseConfig(w.upstream.url, {
        listeners: [
          { name: 'test', host: '127.0.0.1', port: 0, headersTimeoutMs: 300, requestTimeoutMs: 600 },
        ],
      }),
    );
  });
  after(async () => {
    await gw.close();
    await w.upstream.close();
  });

  /** Sends `first`, then whatever `trickle` yields every 50 ms, and returns the answer and its delay. */
  async function stall(
    first: string,
    trickle?: string,
  ): Promise<{ res: ReturnType<typeof parseFirst>; ms: number }> {
    const t0 = performance.now();
    const s = rawSession(gw.port, 2500);
    await s.send(first);
    if (trickle !== undefined) {
      let i = 0;
      const timer = setInterval(() => {
        if (s.socket.writable && i < trickle.length) s.socket.write(trickle[i++] as string);
      }, 50);
      s.done.finally(() => clearInterval(timer));
    }
    const raw = await s.done;
    return { res: parseFirst(raw), ms: performance.now() - t0 };
  }

  it('headers never finished (slowloris) → 408 REQUEST_TIMEOUT within about a second', async () => {
    const calls = w.upstream.calls.length;
    const { res, ms } = await stall('GET /items HTTP/1.1\r\nHost: a\r\n');
    assert.equal(res.status, 408);
    assert.equal(problemOf(res.headers['content-type'], res.body).code, 'REQUEST_TIMEOUT');
    assert.ok(ms < 1500, `took ${ms} ms`);
    assert.equal(w.upstream.calls.length, calls);
  });

  it('headers trickled one byte at a time → 408 (the timeout counts from the first byte)', async () => {
    const started = w.started;
    const { res, ms } = await stall(
      'GET /items HTTP/1.1\r\n',
      'X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n',
    );
    assert.equal(res.status, 408);
    assert.equal(problemOf(res.headers['content-type'], res.body).code, 'REQUEST_TIMEOUT');
    assert.ok(ms < 1500, `took ${ms} ms`);
    assert.equal(w.started, started);
  });

  it('body never finished → 408 REQUEST_TIMEOUT, and the upstream call is aborted', async () => {
    const calls = w.upstream.calls.length;
    const aborted = w.aborted;
    const { res, ms } = await stall('POST /items HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc');
    assert.equal(res.status, 408);
    assert.equal(problemOf(res.headers['content-type'], res.body).code, 'REQUEST_TIMEOUT');
    assert.ok(ms < 1800, `took ${ms} ms`);
    for (let i = 0; i < 50 && w.aborted === aborted; i++) await sleep(10);
    assert.equal(w.upstream.calls.length, calls);
    assert.equal(w.aborted, aborted + 1, 'the streamed upstream request must be cut');
  });

  it('chunked body trickled past requestTimeout → 408 REQUEST_TIMEOUT', async () => {
    const calls = w.upstream.calls.length;
    const { res, ms } = await stall(
      'POST /items HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n',
      '1\r\na\r\n'.repeat(40),
    );
    assert.equal(res.status, 408);
    assert.equal(problemOf(res.headers['content-type'], res.body).code, 'REQUEST_TIMEOUT');
    assert.ok(ms < 1800, `took ${ms} ms`);
    await sleep(15);
    assert.equal(w.upstream.calls.length, calls);
  });

  it('keeps serving', () => assertServing(gw, w));
});

describe('listener edges: CONNECT, Expect, timeouts after the response started', () => {
  let w: Watched;
  let gw: TestGateway;

  before(async () => {
    w = await watchedUpstream();
    gw = await startGateway(
      baseConfig(w.upstream.url, {
        listeners: [
          { name: 'test', host: '127.0.0.1', port: 0, headersTimeoutMs: 300, requestTimeoutMs: 600 },
        ],
      }),
    );
  });
  after(async () => {
    await gw.close();
    await w.upstream.close();
  });

  it('CONNECT gets a problem+json answer (405), not a silently closed socket', async () => {
    const res = await rawRequest(
      gw.port,
      'CONNECT internal.example:443 HTTP/1.1\r\nHost: internal.example:443\r\n\r\n',
    );
    assert.equal(res.status, 405);
    assert.equal(problemOf(res.headers['content-type'], res.body).code, 'METHOD_NOT_ALLOWED');
  });

  it('an unknown Expect gets a problem+json 417, not a bare Node answer', async () => {
    const res = await rawRequest(gw.port, get('/items', 'Expect: something-else\r\n'), 500);
    assert.equal(res.status, 417);
    problemOf(res.headers['content-type'], res.body);
  });

  it('a request timeout after the response started cuts the connection instead of writing a 408 into the body', async () => {
    const up = await startUpstream();
    // An upstream that answers at once and streams slowly, without waiting for the request body.
    up.server.removeAllListeners('request');
    up.server.on('request', (req: IncomingMessage, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      let n = 0;
      const t = setInterval(() => {
        res.write(`tick${n};`);
        if (++n === 8) {
          clearInterval(t);
          res.end();
        }
      }, 150);
      res.on('close', () => clearInterval(t));
    });
    const g = await startGateway(
      baseConfig(up.url, {
        listeners: [
          { name: 'test', host: '127.0.0.1', port: 0, headersTimeoutMs: 300, requestTimeoutMs: 600 },
        ],
      }),
    );
    try {
      const s = rawSession(g.port, 2500);
      await s.send('POST /items HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc');
      const raw = await s.done;
      assert.equal(raw.split('HTTP/1.1 ').length - 1, 1, `a second status line was written: ${raw}`);
    } finally {
      await g.close();
      await up.close();
    }
  });
});

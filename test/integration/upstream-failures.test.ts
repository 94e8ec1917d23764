import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
  type UpstreamCall,
  waitForLog,
} from '../helpers.js';

/**
 * The upstream fails in every way it can: refused, silent, reset, not HTTP, 5xx with internal
 * detail, too large. The client always gets a problem+json with the right code and nothing of the
 * upstream's internals, the upstream call is aborted when the client leaves, and large uploads
 * stream through intact.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const SECRET = 'Traceback: at db.connect(password=hunter2) /srv/app/internal.py:42';
const LIMIT = 64 * 1024;

/** What the upstream does, by path. Requests reach the handler once their body has ended. */
function behave(req: IncomingMessage, res: ServerResponse, call: UpstreamCall, held: ServerResponse[]): void {
  const path = call.url.split('?')[0];
  switch (path) {
    case '/api/boom':
      res.writeHead(500, { 'content-type': 'text/plain', 'x-internal-trace': 'db-7.internal:5432' });
      res.end(SECRET);
      return;
    case '/api/unavailable':
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '5' });
      res.end(JSON.stringify({ error: SECRET }));
      return;
    case '/api/bad-gateway':
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end(`<pre>${SECRET}</pre>`);
      return;
    case '/api/reset':
      req.socket.destroy();
      return;
    case '/api/garbage':
      req.socket.end('THIS IS NOT HTTP\r\n\r\n');
      return;
    case '/api/hang':
    case '/api/hold':
      // Never answers; the response is closed when the gateway gives up or the test ends.
      held.push(res);
      return;
    case '/api/exactly-limit':
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': LIMIT });
      res.end(Buffer.alloc(LIMIT, 1));
      return;
    case '/api/too-large':
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': LIMIT + 1 });
      res.end(Buffer.alloc(LIMIT + 1, 1));
      return;
    case '/api/not-modified':
      res.writeHead(304, { etag: '"v1"', 'content-length': LIMIT * 2 });
      res.end();
      return;
    case '/api/too-large-error':
      res.writeHead(500, { 'content-type': 'text/plain', 'content-length': LIMIT * 4 });
      res.end(Buffer.alloc(LIMIT * 4, 0x41));
      return;
    case '/api/too-large-chunked':
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let i = 0; i < 4; i++) res.write(Buffer.alloc(LIMIT / 2, 2));
      res.end();
      return;
    case '/upload':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ bytes: call.body.length, sha256: sha256(call.body) }));
      return;
    default:
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, url: call.url }));
  }
}

/** A port on which nothing listens: bound once, then closed. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('upstream failures', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const held: ServerResponse[] = [];
  /** Upstream requests, complete or not, and how each ended. */
  const seen: { url: string; req: IncomingMessage; res: ServerResponse; closedEarly: Promise<boolean> }[] =
    [];

  before(async () => {
    upstream = await startUpstream((req, res, call) => behave(req, res, call, held));
    upstream.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const closedEarly = new Promise<boolean>((resolve) =>
        res.once('close', () => resolve(!res.writableFinished)),
      );
      seen.push({ url: req.url ?? '', req, res, closedEarly });
    });
    const dead = await deadPort();
    const config = baseConfig(upstream.url, {
      upstreams: {
        api: { url: upstream.url, connectTimeoutMs: 500, headersTimeoutMs: 2000, maxResponseBytes: LIMIT },
        slow: { url: upstream.url, connectTimeoutMs: 500, headersTimeoutMs: 200 },
        dead: { url: `http://127.0.0.1:${dead}`, connectTimeoutMs: 500 },
      },
      routes: [
        { id: 'items', path: '/items', methods: ['GET'], upstream: 'api' },
        { id: 'api', path: '/api/*', methods: ['GET', 'POST', 'HEAD'], upstream: 'api' },
        { id: 'slow', path: '/slow/*', methods: ['GET'], upstream: 'slow', stripPrefix: '/slow' },
        { id: 'dead', path: '/dead', methods: ['GET'], upstream: 'dead' },
        {
          id: 'upload',
          path: '/upload',
          methods: ['POST', 'PUT'],
          upstream: 'api',
          plugins: { 'request-guard': { maxBodyBytes: 8 * 1024 * 1024 } },
        },
      ],
    });
    gw = await startGateway(config);
  });
  after(async () => {
    for (const res of held) res.destroy();
    await gw.close();
    await upstream.close();
  });

  async function expectProblem(path: string, status: number, code: string, init?: RequestInit) {
    const res = await fetch(`${gw.url}${path}`, init);
    const text = await res.text();
    assert.equal(res.status, status, text);
    const p = problemOf(res.headers.get('content-type'), text);
    assert.equal(p.code, code);
    assert.equal(p.status, status);
    assert.equal(p.requestId, res.headers.get('x-request-id'));
    assert.ok(!text.includes('hunter2'), 'upstream body leaked');
    assert.ok(!/ECONN|UND_ERR|undici|socket|at \//i.test(text), `library detail leaked: ${text}`);
    return { res, text };
  }

  async function assertServing(): Promise<void> {
    const res = await fetch(`${gw.url}/items`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true, url: '/items' });
  }

  describe('unreachable or broken upstream', () => {
    it('connection refused → 502 UPSTREAM_UNAVAILABLE', async () => {
      await expectProblem('/dead', 502, 'UPSTREAM_UNAVAILABLE');
    });
    it('no response headers within headersTimeoutMs → 504 UPSTREAM_TIMEOUT', async () => {
      const t0 = performance.now();
      await expectProblem('/slow/api/hang', 504, 'UPSTREAM_TIMEOUT');
      const ms = performance.now() - t0;
      assert.ok(ms >= 150 && ms < 1500, `took ${ms} ms`);
    });
    it('connection reset by the upstream → 502 UPSTREAM_UNAVAILABLE', async () => {
      await expectProblem('/api/reset', 502, 'UPSTREAM_UNAVAILABLE');
    });
    it('an answer that is not HTTP → 502 UPSTREAM_UNAVAILABLE', async () => {
      await expectProblem('/api/garbage', 502, 'UPSTREAM_UNAVAILABLE');
    });
    it('the failures are logged without the library message', async () => {
      const access = await waitForLog(gw, (l) => l.log === 'access' && l.route === 'dead');
      const warn = gw.logs.filter((l) => l.msg === 'upstream call failed');
      assert.ok(warn.length >= 3);
      assert.equal(access?.code, 'UPSTREAM_UNAVAILABLE');
      assert.equal(access?.status, 502);
    });
    it('keeps serving', assertServing);
  });

  describe('upstream errors are masked', () => {
    it('500 with a stack trace → 500 UPSTREAM_ERROR, body and internal headers dropped', async () => {
      const { res } = await expectProblem('/api/boom', 500, 'UPSTREAM_ERROR');
      assert.equal(res.headers.get('x-internal-trace'), null);
    });
    it('503 keeps its status → 503 UPSTREAM_ERROR', async () => {
      await expectProblem('/api/unavailable', 503, 'UPSTREAM_ERROR');
    });
    it('502 from the upstream → 502 UPSTREAM_ERROR', async () => {
      await expectProblem('/api/bad-gateway', 502, 'UPSTREAM_ERROR');
    });
    it('a HEAD answered 500 → 500 without a body', async () => {
      const res = await fetch(`${gw.url}/api/boom`, { method: 'HEAD' });
      assert.equal(res.status, 500);
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      assert.equal(await res.text(), '');
    });
    it('keeps serving', assertServing);
  });

  describe('maxResponseBytes', () => {
    it('a response of exactly maxResponseBytes passes', async () => {
      const res = await fetch(`${gw.url}/api/exactly-limit`);
      assert.equal(res.status, 200);
      assert.equal((await res.arrayBuffer()).byteLength, LIMIT);
    });
    it('a larger announced response → 502 UPSTREAM_RESPONSE_TOO_LARGE', async () => {
      await expectProblem('/api/too-large', 502, 'UPSTREAM_RESPONSE_TOO_LARGE');
    });
    it('HEAD of a larger resource passes: its Content-Length announces no body', async () => {
      const res = await fetch(`${gw.url}/api/too-large`, { method: 'HEAD' });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-length'), String(LIMIT + 1));
      assert.equal(await res.text(), '');
    });
    it('304 Not Modified of a larger resource passes', async () => {
      const res = await fetch(`${gw.url}/api/not-modified`, { headers: { 'if-none-match': '"v1"' } });
      assert.equal(res.status, 304);
      assert.equal(res.headers.get('etag'), '"v1"');
    });
    it('a larger announced 5xx → 502 UPSTREAM_RESPONSE_TOO_LARGE, its body never read', async () => {
      await expectProblem('/api/too-large-error', 502, 'UPSTREAM_RESPONSE_TOO_LARGE');
    });
    it('a larger chunked response is cut: the client never gets a complete 200', async () => {
      let outcome: string;
      try {
        const res = await fetch(`${gw.url}/api/too-large-chunked`);
        outcome = `${res.status} ${(await res.arrayBuffer()).byteLength}`;
      } catch {
        outcome = 'cut';
      }
      // Headers may be out before the size is known: then the only honest signal is a cut connection.
      assert.equal(outcome, 'cut');
    });
    it('keeps serving', assertServing);
  });

  describe('client goes away', () => {
    it('disconnecting while waiting for the upstream aborts the upstream call', async () => {
      const before = seen.length;
      const socket = connect(gw.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write('GET /api/hold HTTP/1.1\r\nHost: a\r\n\r\n');
      for (let i = 0; i < 100 && seen.length === before; i++) await sleep(10);
      const call = seen[before];
      assert.ok(call, 'the upstream call should have started');
      assert.equal(call.url, '/api/hold');
      socket.destroy();
      const early = await Promise.race([call.closedEarly, sleep(1000).then(() => 'still open')]);
      assert.equal(early, true, 'the upstream connection must be closed without an answer');
    });

    it('disconnecting mid-upload aborts the upstream call; no request completes', async () => {
      const before = seen.length;
      const calls = upstream.calls.length;
      const socket = connect(gw.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n');
      socket.write(Buffer.alloc(64 * 1024, 7));
      for (let i = 0; i < 100 && seen.length === before; i++) await sleep(10);
      const call = seen[before];
      assert.ok(call, 'the upstream call should have started');
      socket.destroy();
      const early = await Promise.race([call.closedEarly, sleep(1000).then(() => 'still open')]);
      assert.equal(early, true, 'the upstream request must be cut');
      assert.equal(call.req.complete, false);
      await sleep(20);
      assert.equal(upstream.calls.length, calls);
    });

    it('disconnecting mid chunked upload aborts the upstream call', async () => {
      const before = seen.length;
      const calls = upstream.calls.length;
      const socket = connect(gw.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(
        `POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n${'x'.repeat(4096)}\r\n`,
      );
      for (let i = 0; i < 100 && seen.length === before; i++) await sleep(10);
      const call = seen[before];
      assert.ok(call, 'the upstream call should have started');
      socket.destroy();
      const early = await Promise.race([call.closedEarly, sleep(1000).then(() => 'still open')]);
      assert.equal(early, true, 'the upstream request must be cut');
      await sleep(20);
      assert.equal(upstream.calls.length, calls);
    });
    it('keeps serving', assertServing);
  });

  describe('large uploads stream through intact', () => {
    const payload = randomBytes(1536 * 1024 + 7);
    const expected = { bytes: payload.length, sha256: sha256(payload) };

    it('1.5 MB with Content-Length', async () => {
      const res = await fetch(`${gw.url}/upload`, { method: 'POST', body: payload });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), expected);
      assert.equal(upstream.calls.at(-1)?.headers['content-length'], String(payload.length));
    });

    it('1.5 MB chunked (no Content-Length), in uneven pieces', async () => {
      let offset = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (offset >= payload.length) return controller.close();
          const size = 1 + ((offset * 7919) % 65521);
          controller.enqueue(payload.subarray(offset, offset + size));
          offset += size;
        },
      });
      const res = await fetch(`${gw.url}/upload`, { method: 'PUT', body, duplex: 'half' } as RequestInit);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), expected);
      assert.equal(upstream.calls.at(-1)?.headers['transfer-encoding'], 'chunked');
    });

    it('1.5 MB sent after "Expect: 100-continue" (curl does this above 1 KB)', async () => {
      const result = await new Promise<{ status: number; body: string; continued: boolean }>(
        (resolve, reject) => {
          let continued = false;
          const req = request(`${gw.url}/upload`, {
            method: 'POST',
            headers: { expect: '100-continue', 'content-length': payload.length },
          });
          req.on('continue', () => {
            continued = true;
            req.end(payload);
          });
          req.on('response', (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => {
              body += c;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body, continued }));
          });
          req.on('error', reject);
          req.setTimeout(3000, () => req.destroy(new Error('timed out')));
        },
      );
      assert.equal(result.status, 200, result.body);
      assert.equal(result.continued, true);
      assert.deepEqual(JSON.parse(result.body), expected);
      assert.equal(upstream.calls.at(-1)?.headers.expect, undefined);
    });

    it('the same upload on a route with the default 1 MiB limit → 413, upstream not called', async () => {
      const calls = upstream.calls.length;
      await expectProblem('/api/upload-here', 413, 'BODY_TOO_LARGE', { method: 'POST', body: payload });
      await sleep(20);
      assert.equal(upstream.calls.length, calls);
    });
    it('keeps serving', assertServing);
  });
});

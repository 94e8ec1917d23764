import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { baseConfig, rawRequest, startGateway, startUpstream } from '../helpers.js';

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

describe('listener guards', () => {
  it('answers connections beyond maxConnections with 503 CONNECTION_LIMIT and keeps serving', async () => {
    const upstream = await startUpstream();
    const gw = await startGateway(
      baseConfig(upstream.url, { listeners: [{ name: 't', port: 0, maxConnections: 2 }] }),
    );
    const held: Socket[] = [];
    try {
      held.push(await open(gw.port), await open(gw.port));
      await new Promise((r) => setTimeout(r, 50));
      const res = await rawRequest(gw.port, 'GET /items HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.equal(res.status, 503);
      assert.equal(JSON.parse(res.body).code, 'CONNECTION_LIMIT');
      assert.equal(upstream.calls.length, 0);
      for (const s of held) s.destroy();
      await new Promise((r) => setTimeout(r, 50));
      const ok = await rawRequest(gw.port, 'GET /items HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      assert.equal(ok.status, 200);
    } finally {
      for (const s of held) s.destroy();
      await gw.close();
      await upstream.close();
    }
  });

  it('refuses protocol upgrades with 501 problem+json', async () => {
    const upstream = await startUpstream();
    const gw = await startGateway(baseConfig(upstream.url));
    try {
      const res = await rawRequest(
        gw.port,
        'GET /items HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      );
      assert.equal(res.status, 501);
      assert.equal(res.headers['content-type'], 'application/problem+json');
      assert.equal(JSON.parse(res.body).code, 'UPGRADE_NOT_SUPPORTED');
      assert.equal(upstream.calls.length, 0);
    } finally {
      await gw.close();
      await upstream.close();
    }
  });

  it('graceful close: in-flight requests inside the deadline finish, later ones are cut and counted', async () => {
    const upstream = await startUpstream(async (_req, res, call) => {
      await new Promise((r) => setTimeout(r, call.url === '/items/fast' ? 100 : 4000));
      res.end('done');
    });
    const gw = await startGateway(baseConfig(upstream.url));
    try {
      const fast = fetch(`${gw.url}/items/fast`);
      const slow = fetch(`${gw.url}/items/slow`).then(
        (r) => r.text(),
        () => 'cut',
      );
      // Both requests must be in flight (at the upstream) before the close starts; a fixed sleep
      // was not enough on a busy machine.
      const deadline = Date.now() + 5000;
      while (upstream.calls.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(upstream.calls.length, 2);
      const { cut } = await gw.gateway.close(1000);
      const res = await fast;
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'done');
      assert.equal(cut, 1);
      assert.equal(await slow, 'cut');
      await assert.rejects(fetch(`${gw.url}/items/fast`));
    } finally {
      await upstream.close();
    }
  });

  it('Expect: 100-continue: a refused body is never invited; an accepted one is', async () => {
    const upstream = await startUpstream();
    const gw = await startGateway(
      baseConfig(upstream.url, { plugins: { 'request-guard': { maxBodyBytes: 10 } } }),
    );
    try {
      const refused = await rawRequest(
        gw.port,
        'POST /items HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n',
      );
      assert.equal(refused.status, 413);
      assert.doesNotMatch(refused.raw, /100 Continue/);
      assert.equal(upstream.calls.length, 0);

      const accepted = await new Promise<string>((resolve) => {
        const s = connect(gw.port, '127.0.0.1');
        let seen = '';
        s.on('data', (c: Buffer) => {
          seen += c.toString('latin1');
          if (seen.startsWith('HTTP/1.1 100') && !seen.includes('sent')) {
            seen += '|sent|';
            s.write('0123456789');
          }
          if (seen.includes('"ok":true')) s.end();
        });
        s.on('close', () => resolve(seen));
        s.write('POST /items HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n');
      });
      assert.match(accepted, /^HTTP\/1\.1 100 Continue/);
      assert.match(accepted, /HTTP\/1\.1 200 OK/);
      assert.equal(upstream.calls.at(-1)?.body.toString(), '0123456789');
    } finally {
      await gw.close();
      await upstream.close();
    }
  });

  it('refuses requests pipelined past maxPipelinedRequests and closes the connection', async () => {
    const upstream = await startUpstream(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 50));
      res.end('ok');
    });
    const gw = await startGateway(
      baseConfig(upstream.url, { listeners: [{ name: 't', port: 0, maxPipelinedRequests: 2 }] }),
    );
    try {
      const res = await new Promise<string>((resolve) => {
        const s = connect(gw.port, '127.0.0.1');
        let seen = '';
        s.on('data', (c: Buffer) => {
          seen += c.toString('latin1');
        });
        s.on('close', () => resolve(seen));
        s.on('error', () => undefined);
        s.write('GET /items HTTP/1.1\r\nHost: a\r\n\r\n'.repeat(50));
        setTimeout(() => s.destroy(), 1500);
      });
      const statuses = [...res.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
      assert.deepEqual(statuses.slice(0, 3), ['200', '200', '503']);
      assert.match(res, /"code":"PIPELINE_LIMIT"/);
      assert.ok(upstream.calls.length <= 2, `upstream saw ${upstream.calls.length} calls`);
    } finally {
      await gw.close();
      await upstream.close();
    }
  });

  it('a request cut at the shutdown deadline still gets its access log line', async () => {
    const upstream = await startUpstream(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 1500));
      res.end('late');
    });
    const gw = await startGateway(baseConfig(upstream.url));
    try {
      const pending = fetch(`${gw.url}/items/slow`).catch(() => 'cut');
      await new Promise((r) => setTimeout(r, 50));
      const { cut } = await gw.gateway.close(100);
      assert.equal(cut, 1);
      assert.equal(await pending, 'cut');
      const line = gw.logs.find((l) => l.log === 'access' && l.route === 'item');
      assert.equal(line?.aborted, true);
    } finally {
      await upstream.close();
    }
  });

  it('a response that starts while the gateway drains closes its connection', async () => {
    const upstream = await startUpstream(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 200));
      res.end('done');
    });
    const gw = await startGateway(baseConfig(upstream.url));
    try {
      const pending = rawRequest(gw.port, 'GET /items/1 HTTP/1.1\r\nHost: a\r\n\r\n', 3000);
      await new Promise((r) => setTimeout(r, 50));
      const closing = gw.gateway.close(2000);
      const res = await pending;
      assert.equal(res.status, 200);
      assert.equal(res.headers.connection, 'close');
      assert.equal((await closing).cut, 0);
    } finally {
      await upstream.close();
    }
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { baseConfig, startGateway, startUpstream } from '../helpers.js';

describe('readiness while draining', () => {
  it('answers 503 "draining" as soon as shutdown starts, while a request is still in flight', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const up = await startUpstream(async (_req, res) => {
      await held;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('late');
    });
    const token = 'drain-viewer-token-0123456789abcdef0123';
    const gw = await startGateway(
      baseConfig(up.url, {
        admin: { enabled: true, port: 0, tokens: [{ name: 'v', role: 'viewer', token: '${env:PC_DRAIN}' }] },
      }),
      { PC_DRAIN: token },
    );
    const admin = gw.gateway.admin?.url as string;
    try {
      assert.equal((await fetch(`${admin}/health/ready`)).status, 200);
      const slow = fetch(`${gw.url}/items`);
      while (gw.gateway.inFlight === 0) await new Promise((r) => setTimeout(r, 5));
      const closing = gw.gateway.close(5000);
      const ready = await fetch(`${admin}/health/ready`);
      assert.equal(ready.status, 503);
      const body = (await ready.json()) as { ready: boolean; checks: { listener: string } };
      assert.equal(body.ready, false);
      assert.equal(body.checks.listener, 'draining');
      release();
      assert.equal((await slow).status, 200, 'the request in flight still finishes');
      assert.deepEqual(await closing, { cut: 0 });
    } finally {
      release();
      await up.close();
    }
  });
});

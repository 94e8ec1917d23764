import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../../observability/logger.js';
import { createLookups } from './lookup.js';

describe('policy ownership lookups', () => {
  let server: Server;
  let base: string;
  let calls = 0;
  before(async () => {
    server = createServer((req, res) => {
      calls++;
      if (req.url === '/orders/big') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"ownerId":"ann","pad":"${'x'.repeat(2 << 20)}"}`);
      } else if (req.url === '/orders/slow') {
        setTimeout(() => res.end('{"ownerId":"ann"}'), 500);
      } else if (req.url === '/orders/boom') {
        res.writeHead(500);
        res.end();
      } else if (req.url === '/orders/a%2Fb') {
        res.end('{"ownerId":"encoded"}');
      } else {
        setTimeout(() => res.end('{"ownerId":"ann","meta":{"team":"red"}}'), 20);
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  const settings = (field = 'ownerId', timeoutMs = 200) => ({
    url: `${base}/orders/{id}`,
    field,
    cacheSeconds: 30,
    timeoutMs,
  });

  it('reads each field, caches per URL and field, and shares one call between concurrent requests', async () => {
    const lookup = createLookups({ owner: settings(), team: settings('meta.team') }, createLogger('silent'));
    assert.ok(lookup);
    const before = calls;
    const answers = await Promise.all([lookup({ id: '7' }, 'r1'), lookup({ id: '7' }, 'r2')]);
    assert.deepEqual(answers[0], { owner: 'ann', team: 'red' });
    assert.deepEqual(answers[1], { owner: 'ann', team: 'red' });
    // One call per lookup (two fields of one URL are two lookups), shared by both requests.
    assert.equal(calls - before, 2);
    await lookup({ id: '7' }, 'r3');
    assert.equal(calls - before, 2);
  });

  it('fails closed: too large, too slow, an error status or a missing parameter all give null', async () => {
    const lookup = createLookups({ owner: settings() }, createLogger('silent'));
    assert.ok(lookup);
    for (const id of ['big', 'slow', 'boom'])
      assert.deepEqual(await lookup({ id }, 'r'), { owner: null }, id);
    assert.deepEqual(await lookup({}, 'r'), { owner: null });
  });

  it('percent-encodes the parameter, so it cannot name another resource', async () => {
    const lookup = createLookups({ owner: settings() }, createLogger('silent'));
    assert.deepEqual(await lookup?.({ id: 'a/b' }, 'r'), { owner: 'encoded' });
  });
});

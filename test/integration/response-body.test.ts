import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import type { RequestContext, ResponseHead } from '../../src/core/context.js';
import { GatewayError } from '../../src/core/errors.js';
import { definePlugin } from '../../src/core/plugin.js';
import { createDefaultRegistry } from '../../src/plugins/index.js';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
} from '../helpers.js';

/**
 * A stand-in for response-side authorization: the proxy's held-body contract (ctx.responseBodyCheck)
 * tested on its own. Objects must belong to the caller (x-user); lists are filtered to the caller's.
 */
let checks = 0;
const ownerCheck = definePlugin({
  name: 'owner-check',
  phase: 'authorize',
  priority: 100,
  description: 'test',
  schema: Type.Object({}, { additionalProperties: false }),
  enabledByDefault: false,
  enforcing: false,
  optional: true,
  create() {
    function check(ctx: RequestContext, head: ResponseHead, body: Buffer): Buffer {
      checks++;
      if (ctx.path === '/items/crash') throw new Error('bug in a check');
      if (head.status !== 200) return body;
      const user = ctx.req.headers['x-user'];
      const data = JSON.parse(body.toString('utf8')) as { ownerId?: string } | { ownerId?: string }[];
      if (Array.isArray(data)) return Buffer.from(JSON.stringify(data.filter((i) => i.ownerId === user)));
      if (data.ownerId !== user) throw new GatewayError('NOT_FOUND');
      return body;
    }
    return {
      onRequest(ctx: RequestContext) {
        ctx.responseBodyCheck = check;
      },
    };
  },
});

describe('the proxy holds a response body for a stage that must check it', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream((req, res) => {
      const send = (status: number, value: unknown, chunked = false) => {
        const text = JSON.stringify(value);
        res.writeHead(
          status,
          chunked
            ? { 'content-type': 'application/json' }
            : {
                'content-type': 'application/json',
                'content-length': Buffer.byteLength(text),
              },
        );
        if (chunked) {
          res.write(text.slice(0, 5));
          setTimeout(() => res.end(text.slice(5)), 10);
        } else res.end(text);
      };
      if (req.url === '/items')
        return send(
          200,
          [
            { id: 1, ownerId: 'ann' },
            { id: 2, ownerId: 'bob' },
            { id: 3, ownerId: 'ann' },
          ],
          true,
        );
      if (req.url === '/items/1') return send(200, { id: 1, ownerId: 'ann', secret: 'ann-only' });
      if (req.url === '/items/big') return send(200, { ownerId: 'ann', pad: 'x'.repeat(5000) });
      if (req.url === '/items/none') {
        res.writeHead(204);
        res.end();
        return;
      }
      return send(200, { ownerId: 'ann' });
    });
    const registry = createDefaultRegistry().register(ownerCheck);
    const config = baseConfig(upstream.url, { plugins: { 'owner-check': {} } });
    (config.upstreams as { api: Record<string, unknown> }).api.maxResponseBytes = 4096;
    gw = await startGateway(config, {}, registry);
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('an object of the caller passes unchanged; the upstream was asked for an unencoded body', async () => {
    const res = await fetch(`${gw.url}/items/1`, { headers: { 'x-user': 'ann', 'accept-encoding': 'gzip' } });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.equal(JSON.parse(text).secret, 'ann-only');
    assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(text)));
    assert.equal(upstream.calls.at(-1)?.headers['accept-encoding'], 'identity');
  });

  it("someone else's object is answered by the check's problem; its body never leaves", async () => {
    const res = await fetch(`${gw.url}/items/1`, { headers: { 'x-user': 'bob' } });
    assert.equal(res.status, 404);
    const body = await res.text();
    assert.equal(problemOf(res.headers.get('content-type'), body).code, 'NOT_FOUND');
    assert.doesNotMatch(body, /ann-only/);
  });

  it('a list (chunked from the upstream) is rewritten to the caller’s items, with a fresh length', async () => {
    const res = await fetch(`${gw.url}/items`, { headers: { 'x-user': 'ann' } });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.deepEqual(
      JSON.parse(text).map((i: { id: number }) => i.id),
      [1, 3],
    );
    assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(text)));
    assert.equal(res.headers.get('transfer-encoding'), null);
  });

  it('an answer over maxResponseBytes is refused, not half-checked', async () => {
    const res = await fetch(`${gw.url}/items/big`, { headers: { 'x-user': 'ann' } });
    assert.equal(res.status, 502);
    assert.equal(
      problemOf(res.headers.get('content-type'), await res.text()).code,
      'UPSTREAM_RESPONSE_TOO_LARGE',
    );
  });

  it('a check that crashes fails closed: 500, nothing of the body', async () => {
    const res = await fetch(`${gw.url}/items/crash`, { headers: { 'x-user': 'ann' } });
    assert.equal(res.status, 500);
    const body = await res.text();
    assert.equal(problemOf(res.headers.get('content-type'), body).code, 'INTERNAL_ERROR');
    assert.doesNotMatch(body, /ownerId|bug in a check/);
    assert.equal((await fetch(`${gw.url}/items/1`, { headers: { 'x-user': 'ann' } })).status, 200);
  });

  it('an answer without a body is not held', async () => {
    const before = checks;
    const res = await fetch(`${gw.url}/items/none`, { headers: { 'x-user': 'ann' } });
    assert.equal(res.status, 204);
    assert.equal(checks, before);
  });
});

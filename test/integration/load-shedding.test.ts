import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventLoopDelayMs } from '../../src/plugins/rate-limit/load-shedding/index.js';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  TEST_IDP,
  type TestGateway,
  type TestUpstream,
  testToken,
} from '../helpers.js';

const jwt = {
  issuers: [{ issuer: TEST_IDP.issuer, audience: ['api'], secret: TEST_IDP.secret, algorithms: ['HS256'] }],
};

async function statusOf(gw: TestGateway, headers: Record<string, string> = {}) {
  const res = await fetch(`${gw.url}/items`, { headers });
  const text = await res.text();
  return { res, text };
}

describe('load-shedding', () => {
  let slow: TestUpstream;
  const waiting: (() => void)[] = [];
  before(async () => {
    slow = await startUpstream((_req, res) => {
      waiting.push(() => res.end('{}'));
    });
  });
  after(async () => {
    for (const done of waiting.splice(0)) done();
    await slow.close();
  });

  it('past maxInFlight, anonymous callers are shed first, then authenticated, premium last', async () => {
    const gw = await startGateway(
      baseConfig(slow.url, {
        plugins: {
          jwt,
          authentication: { anonymous: true },
          'load-shedding': {
            maxEventLoopDelayMs: 0,
            maxInFlight: 4,
            premium: { roles: ['gold'] },
          },
        },
      }),
    );
    try {
      const alice = { authorization: `Bearer ${await testToken('alice')}` };
      const gold = { authorization: `Bearer ${await testToken('gus', { roles: ['gold'] })}` };
      const before = slow.calls.length;
      // Three requests held by the upstream: the fourth arriving makes four in flight (pressure 1).
      const held = [fetch(`${gw.url}/items`), fetch(`${gw.url}/items`), fetch(`${gw.url}/items`)];
      while (waiting.length < 3) await new Promise((r) => setTimeout(r, 5));
      const anon = await statusOf(gw);
      assert.equal(anon.res.status, 503);
      assert.equal(anon.res.headers.get('retry-after'), '2');
      assert.equal(problemOf(anon.res.headers.get('content-type'), anon.text).code, 'OVERLOADED');
      // Authenticated callers pass until pressure 1.5, premium ones until 2.
      const auth = fetch(`${gw.url}/items`, { headers: alice });
      while (waiting.length < 4) await new Promise((r) => setTimeout(r, 5));
      const auth2 = fetch(`${gw.url}/items`, { headers: alice });
      while (waiting.length < 5) await new Promise((r) => setTimeout(r, 5));
      // Six in flight with this one: 1.5.
      assert.equal((await statusOf(gw, alice)).res.status, 503);
      const premium = fetch(`${gw.url}/items`, { headers: gold });
      while (waiting.length < 6) await new Promise((r) => setTimeout(r, 5));
      assert.equal((await statusOf(gw)).res.status, 503, 'anonymous still shed');
      assert.equal(slow.calls.length - before, 6, 'shed requests never reached the upstream');
      for (const done of waiting.splice(0)) done();
      for (const r of [...held, auth, auth2, premium]) assert.equal((await r).status, 200);
      // Load gone: everybody is served again.
      const after = fetch(`${gw.url}/items`);
      while (waiting.length < 1) await new Promise((r) => setTimeout(r, 5));
      for (const done of waiting.splice(0)) done();
      assert.equal((await after).status, 200);
    } finally {
      for (const done of waiting.splice(0)) done();
      await gw.close();
    }
  });

  it('a blocked event loop sheds anonymous traffic until the delay is gone', async () => {
    const fast = await startUpstream();
    const gw = await startGateway(
      baseConfig(fast.url, {
        plugins: { 'load-shedding': { maxEventLoopDelayMs: 100, maxInFlight: 0, sampleMs: 100 } },
      }),
    );
    try {
      assert.equal((await statusOf(gw)).res.status, 200);
      // Block this process's event loop (the gateway's too) for 300 ms, then let one sample pass.
      const until = Date.now() + 300;
      while (Date.now() < until) {
        /* busy: the delay the monitor must see */
      }
      await new Promise((r) => setTimeout(r, 60));
      assert.ok(eventLoopDelayMs() >= 100, `delay seen ${eventLoopDelayMs()} ms`);
      const shed = await statusOf(gw);
      assert.equal(shed.res.status, 503);
      assert.equal(problemOf(shed.res.headers.get('content-type'), shed.text).code, 'OVERLOADED');
      // Two quiet samples later the delay is back under the threshold.
      await new Promise((r) => setTimeout(r, 350));
      assert.equal((await statusOf(gw)).res.status, 200);
    } finally {
      await gw.close();
      await fast.close();
    }
  });

  it('refuses a config that watches nothing', async () => {
    await assert.rejects(
      startGateway(
        baseConfig(slow.url, { plugins: { 'load-shedding': { maxEventLoopDelayMs: 0, maxInFlight: 0 } } }),
      ),
      /nothing to watch/,
    );
  });
});

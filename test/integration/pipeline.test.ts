import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfigObject } from '../../src/config/load.js';
import type { RequestContext } from '../../src/core/context.js';
import { GatewayError } from '../../src/core/errors.js';
import { definePlugin } from '../../src/core/plugin.js';
import { PluginDefinitionError, Registry } from '../../src/core/registry.js';
import { createDefaultRegistry } from '../../src/plugins/index.js';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
  waitForLog,
} from '../helpers.js';

const HEADER = 'x-test-trail';

/** A test stage that appends its name to a request header, or rejects / crashes on demand. */
function trailPlugin(name: string, phase: 'guard' | 'validate', priority: number) {
  return definePlugin({
    name,
    phase,
    priority,
    description: `test stage ${name}`,
    schema: Type.Object(
      {
        reject: Type.Boolean({ description: 'throw a GatewayError', default: false }),
        crash: Type.Boolean({ description: 'throw a plain Error', default: false }),
      },
      { additionalProperties: false },
    ),
    enabledByDefault: false,
    enforcing: true,
    optional: true,
    create(config) {
      return {
        onRequest(ctx: RequestContext) {
          if (config.crash) throw new Error('boom: internal detail that must not leak');
          if (config.reject) throw new GatewayError('BODY_TOO_LARGE');
          const prev = ctx.req.headers[HEADER];
          ctx.req.headers[HEADER] = prev ? `${prev},${name}` : name;
        },
      };
    },
  });
}

function registry(): Registry {
  return createDefaultRegistry()
    .register(trailPlugin('zeta', 'guard', 5))
    .register(trailPlugin('alpha', 'guard', 5))
    .register(trailPlugin('high', 'guard', 50))
    .register(trailPlugin('late', 'validate', 1000));
}

describe('pipeline: order, per-route settings, monitor mode, fail closed', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    const config = baseConfig(upstream.url, {
      routes: [
        { id: 'all', path: '/all', upstream: 'api' },
        { id: 'off', path: '/off', upstream: 'api', plugins: { alpha: false, zeta: false } },
        { id: 'reject', path: '/reject', upstream: 'api', plugins: { high: { reject: true } } },
        {
          id: 'monitor',
          path: '/monitor',
          upstream: 'api',
          plugins: { high: { reject: true, mode: 'monitor' } },
        },
        { id: 'crash', path: '/crash', upstream: 'api', plugins: { alpha: { crash: true } } },
        {
          id: 'crash-monitor',
          path: '/crash-monitor',
          upstream: 'api',
          plugins: { alpha: { crash: true, mode: 'monitor' } },
        },
      ],
      plugins: { zeta: {}, alpha: {}, high: {}, late: {} },
    });
    gw = await startGateway(config, {}, registry());
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('orders stages by phase, then priority (higher first), then name', async () => {
    const res = await fetch(`${gw.url}/all`);
    assert.equal(res.status, 200);
    assert.equal(upstream.calls.at(-1)?.headers[HEADER], 'high,alpha,zeta,late');
  });

  it('lets a route turn an optional plugin off', async () => {
    await fetch(`${gw.url}/off`);
    assert.equal(upstream.calls.at(-1)?.headers[HEADER], 'high,late');
  });

  it('a GatewayError rejects with its code and the upstream is not called', async () => {
    const n = upstream.calls.length;
    const res = await fetch(`${gw.url}/reject`);
    assert.equal(res.status, 413);
    assert.equal(problemOf(res.headers.get('content-type'), await res.text()).code, 'BODY_TOO_LARGE');
    assert.equal(upstream.calls.length, n);
  });

  it('monitor mode logs the decision and lets the request pass', async () => {
    const res = await fetch(`${gw.url}/monitor`);
    assert.equal(res.status, 200);
    const line = await waitForLog(gw, (l) => l.log === 'access' && l.route === 'monitor');
    assert.deepEqual(line?.monitored, [{ plugin: 'high', code: 'BODY_TOO_LARGE' }]);
  });

  it('an unexpected error fails closed: 500 INTERNAL_ERROR, no detail, upstream not called', async () => {
    for (const path of ['/crash', '/crash-monitor']) {
      const n = upstream.calls.length;
      const res = await fetch(`${gw.url}${path}`);
      assert.equal(res.status, 500);
      const body = await res.text();
      assert.equal(problemOf(res.headers.get('content-type'), body).code, 'INTERNAL_ERROR');
      assert.doesNotMatch(body, /boom|internal detail|at /);
      assert.equal(upstream.calls.length, n);
    }
    // The process keeps serving.
    assert.equal((await fetch(`${gw.url}/all`)).status, 200);
  });

  it('check prints the same order as the chain runs', () => {
    const route = gw.gateway.plan.routes.find((r) => r.id === 'all');
    assert.deepEqual(
      // The authenticate-phase core stages and the authorization gate have their own tests.
      route?.chain.stages
        .filter((s) => s.phase !== 'authenticate' && s.plugin !== 'authorization')
        .map((s) => s.plugin),
      [
        'request-guard',
        'high',
        'alpha',
        'zeta',
        'late',
        'forward',
        'security-headers',
        'response-hygiene',
        'version-lifecycle',
        'access-log',
      ],
    );
  });
});

describe('plugin registry', () => {
  const base = {
    phase: 'guard' as const,
    priority: 0,
    description: 'x',
    enabledByDefault: false,
    enforcing: false,
    optional: true,
    create: () => ({ onRequest: () => undefined }),
  };
  it('refuses bad names, duplicate names and settings without description or default', () => {
    const schema = Type.Object({}, { additionalProperties: false });
    assert.throws(
      () => new Registry().register({ ...base, name: 'Bad_Name', schema }),
      PluginDefinitionError,
    );
    assert.throws(
      () => new Registry().register({ ...base, name: 'a', schema }).register({ ...base, name: 'a', schema }),
      PluginDefinitionError,
    );
    const undocumented = Type.Object({ x: Type.Number({ default: 1 }) }, { additionalProperties: false });
    assert.throws(
      () => new Registry().register({ ...base, name: 'b', schema: undocumented }),
      /description and a default/,
    );
    const open = Type.Object({});
    assert.throws(() => new Registry().register({ ...base, name: 'c', schema: open }), /closed object/);
  });

  it('refuses a plugin whose create does not return its phase handler', async () => {
    const reg = createDefaultRegistry().register({
      ...base,
      name: 'wrong',
      phase: 'respond',
      schema: Type.Object({}, { additionalProperties: false }),
      enabledByDefault: true,
    });
    const upstream = await startUpstream();
    try {
      await assert.rejects(startGateway(baseConfig(upstream.url), {}, reg), /must return onResponse/);
    } finally {
      await upstream.close();
    }
  });

  it('refuses to turn off the spine', () => {
    const reg = createDefaultRegistry();
    for (const config of [
      baseConfig('http://127.0.0.1:1', { plugins: { forward: false } }),
      baseConfig('http://127.0.0.1:1', {
        routes: [{ id: 'a', path: '/a', upstream: 'api', plugins: { router: false } }],
      }),
    ]) {
      assert.throws(
        () => loadConfigObject(config, { registry: reg }),
        (err: unknown) =>
          err instanceof ConfigError &&
          /^(plugins\.forward|routes\[0\]\.plugins\.router)$/.test(err.issues[0]?.path ?? ''),
      );
    }
  });
});

describe('reload', () => {
  it('swaps plans atomically; in-flight requests finish on their plan; a bad config keeps the old plan', async () => {
    const upstream = await startUpstream(async (_req, res, call) => {
      if (call.url === '/slow') await new Promise((r) => setTimeout(r, 200));
      res.end(call.url);
    });
    const gw = await startGateway(
      baseConfig(upstream.url, { routes: [{ id: 'slow', path: '/slow', upstream: 'api' }] }),
    );
    try {
      const inFlight = fetch(`${gw.url}/slow`);
      await new Promise((r) => setTimeout(r, 50));
      const reg = createDefaultRegistry();
      const next = loadConfigObject(
        baseConfig(upstream.url, { routes: [{ id: 'fresh', path: '/fresh', upstream: 'api' }] }),
        { registry: reg },
      );
      const plan = await gw.gateway.reload(next);
      assert.equal(plan.version, 2);
      const old = await inFlight;
      assert.equal(old.status, 200);
      assert.equal(await old.text(), '/slow');
      assert.equal((await fetch(`${gw.url}/fresh`)).status, 200);
      assert.equal((await fetch(`${gw.url}/slow`)).status, 404);

      const broken = loadConfigObject(
        baseConfig(upstream.url, { routes: [{ id: 'x', path: '/x', upstream: 'missing' }] }),
        { registry: reg },
      );
      await assert.rejects(gw.gateway.reload(broken), ConfigError);
      assert.equal(gw.gateway.plan.version, 2);
      assert.equal((await fetch(`${gw.url}/fresh`)).status, 200);
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});

describe('reload edge cases', () => {
  it('a request inside an async stage across a reload still reaches the upstream', async () => {
    const slowStage = definePlugin({
      name: 'slow-stage',
      phase: 'validate',
      priority: 0,
      description: 'waits 150 ms',
      schema: Type.Object({}, { additionalProperties: false }),
      enabledByDefault: true,
      enforcing: false,
      optional: true,
      create: () => ({ onRequest: () => new Promise<void>((r) => setTimeout(r, 150)) }),
    });
    const upstream = await startUpstream();
    const reg = createDefaultRegistry().register(slowStage);
    const gw = await startGateway(baseConfig(upstream.url), {}, reg);
    try {
      const pending = fetch(`${gw.url}/items`);
      await new Promise((r) => setTimeout(r, 30));
      await gw.gateway.reload(loadConfigObject(baseConfig(upstream.url), { registry: reg }));
      const res = await pending;
      assert.equal(res.status, 200);
      assert.equal(upstream.calls.length, 1);
    } finally {
      await gw.close();
      await upstream.close();
    }
  });

  it('a reload that removes a trusted proxy takes effect at once', async () => {
    const upstream = await startUpstream();
    const trusting = baseConfig(upstream.url, {
      listeners: [{ name: 'test', port: 0, trustedProxies: ['127.0.0.1'] }],
    });
    const gw = await startGateway(trusting);
    try {
      await fetch(`${gw.url}/items`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
      assert.equal(upstream.calls.at(-1)?.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
      const reg = createDefaultRegistry();
      await gw.gateway.reload(
        loadConfigObject(baseConfig(upstream.url, { listeners: [{ name: 'test', port: 0 }] }), {
          registry: reg,
        }),
      );
      await fetch(`${gw.url}/items`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
      assert.equal(upstream.calls.at(-1)?.headers['x-forwarded-for'], '127.0.0.1');
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});

describe('a crashing respond stage', () => {
  it('fails closed with 500 INTERNAL_ERROR, never the upstream body, and keeps serving', async () => {
    const crashing = definePlugin({
      name: 'crashing-respond',
      phase: 'respond',
      priority: 5,
      description: 'throws on upstream responses',
      schema: Type.Object({}, { additionalProperties: false }),
      enabledByDefault: true,
      enforcing: false,
      optional: true,
      create: () => ({
        onResponse: (_ctx: RequestContext, head: { source: string }) => {
          if (head.source === 'upstream') throw new Error('respond stage crashed');
        },
      }),
    });
    const upstream = await startUpstream();
    const gw = await startGateway(baseConfig(upstream.url), {}, createDefaultRegistry().register(crashing));
    try {
      const res = await fetch(`${gw.url}/items`);
      assert.equal(res.status, 500);
      const body = await res.text();
      assert.equal(problemOf(res.headers.get('content-type'), body).code, 'INTERNAL_ERROR');
      assert.doesNotMatch(body, /"ok":true|crashed/);
      assert.equal((await fetch(`${gw.url}/nope`)).status, 404);
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});

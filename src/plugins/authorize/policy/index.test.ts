import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import type { Plan } from '../../../core/plan.js';
import type { CreateContext, PluginDeps, StageHandlers } from '../../../core/plugin.js';
import type { Principal } from '../../../core/principal.js';
import { createLogger } from '../../../observability/logger.js';
import policy, { policySchema } from './index.js';

function setup(settings: Record<string, unknown>, mode: 'enforce' | 'monitor' = 'enforce') {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n'))
        if (l) logs.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const logger = createLogger('info', sink);
  const config = Value.Default(policySchema, structuredClone(settings)) as never;
  const ctx = {
    deps: { logger } as unknown as PluginDeps,
    route: {
      id: 'orders',
      host: undefined,
      path: '/users/:userId/orders/:id',
      methods: ['GET'],
      upstream: 'api',
      stripPrefix: undefined,
      versions: undefined,
    },
    configPath: 'routes[0].plugins.policy',
  } as CreateContext;
  const handlers = policy.create({ ...(config as object), mode } as never, ctx) as StageHandlers;
  return { handlers, logs };
}

const alice: Principal = Object.freeze({
  id: 'u:alice',
  kind: 'user',
  subject: 'alice',
  roles: Object.freeze([]),
  scopes: Object.freeze([]),
  claims: Object.freeze({}),
  method: 'jwt',
});

function request(params: Record<string, string>): RequestContext {
  const req = { method: 'GET', headers: {}, url: '/' } as unknown as IncomingMessage;
  const ctx = new RequestContext(
    'r1',
    {} as Plan,
    req,
    {} as ServerResponse,
    'test',
    'http',
    '127.0.0.1',
    false,
    0,
  );
  ctx.params = params;
  ctx.principal = alice;
  return ctx;
}

const own = { name: 'own', allow: 'request.params.userId == principal.subject' };

describe('policy plugin', () => {
  it('allows when every rule is true', () => {
    const { handlers } = setup({ rules: [own] });
    const ctx = request({ userId: 'alice' });
    handlers.onRequest?.(ctx);
    assert.equal(ctx.deniedBy, undefined);
  });

  it('denies 403 with deniedBy and an audit event', () => {
    const { handlers, logs } = setup({ rules: [own] });
    const ctx = request({ userId: 'bob' });
    assert.throws(
      () => handlers.onRequest?.(ctx),
      (e: unknown) => e instanceof GatewayError && e.code === 'FORBIDDEN',
    );
    assert.equal(ctx.deniedBy, 'policy:own');
    const audit = logs.find((l) => l.log === 'audit');
    assert.equal(audit?.event, 'authorization.deny');
    assert.equal(audit?.rule, 'own');
  });

  it('onDeny not-found answers NOT_FOUND', () => {
    const { handlers } = setup({ rules: [{ ...own, onDeny: 'not-found' }] });
    assert.throws(
      () => handlers.onRequest?.(request({ userId: 'bob' })),
      (e: unknown) => e instanceof GatewayError && e.code === 'NOT_FOUND',
    );
  });

  it('an evaluation error denies and logs only its kind', () => {
    const { handlers, logs } = setup({
      rules: [{ name: 'broken', allow: 'principal.claims.secretthing == "x"' }],
    });
    const ctx = request({ userId: 'alice' });
    assert.throws(() => handlers.onRequest?.(ctx), GatewayError);
    assert.equal(ctx.deniedBy, 'policy:broken');
    const warn = logs.find((l) => l.msg === 'policy rule could not be evaluated; denied');
    assert.ok(warn);
    assert.doesNotMatch(JSON.stringify(warn), /secretthing/);
  });

  it('a dyn that is not a bool denies', () => {
    const { handlers } = setup({ rules: [{ name: 'dyn', allow: 'principal.claims.level' }] });
    const ctx = request({});
    (ctx as { principal: Principal }).principal = Object.freeze({ ...alice, claims: { level: 'yes' } });
    assert.throws(() => handlers.onRequest?.(ctx), GatewayError);
  });

  it('a monitored rule records and lets the request go on', () => {
    const { handlers, logs } = setup({ rules: [{ ...own, mode: 'monitor' }] });
    const ctx = request({ userId: 'bob' });
    handlers.onRequest?.(ctx);
    assert.deepEqual(ctx.monitored, [{ plugin: 'policy', code: 'FORBIDDEN' }]);
    assert.equal(ctx.deniedBy, undefined);
    assert.equal(logs.find((l) => l.log === 'audit')?.monitor, true);
  });

  it('plugin-level monitor mode watches every rule', () => {
    const { handlers } = setup({ rules: [own, { name: 'never', allow: 'false' }] }, 'monitor');
    const ctx = request({ userId: 'bob' });
    handlers.onRequest?.(ctx);
    assert.equal(ctx.monitored?.length, 2);
  });

  it('a compile error names the rule', () => {
    assert.throws(
      () => setup({ rules: [own, { name: 'typo', allow: 'principal.subjct == "x"' }] }),
      /rules\[1\]\.allow: rule "typo": type error: No such key: subjct/,
    );
    assert.throws(() => setup({ rules: [own, own] }), /named twice/);
  });
});

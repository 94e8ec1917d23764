import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Principal } from '../core/principal.js';
import { unsafePattern } from '../core/safe-pattern.js';
import { type Activation, compileExpression, principalView, RequestView, RouteView } from './cel.js';

const alice: Principal = Object.freeze({
  id: 'jwt:https://idp.test|alice',
  kind: 'user',
  subject: 'alice',
  tenant: 'acme',
  roles: Object.freeze(['member']),
  scopes: Object.freeze(['orders:read']),
  claims: Object.freeze({ tenants: ['acme', 'globex'], level: 3 }),
  method: 'jwt',
});

function activation(
  params: Record<string, string> = {},
  extra: { query?: string; headers?: Record<string, string>; time?: Date; principal?: Principal } = {},
): Activation {
  return {
    lookup: {},
    principal: principalView(extra.principal ?? alice),
    request: new RequestView({
      method: 'GET',
      path: '/users/alice/orders/1',
      params,
      query: extra.query ?? '',
      headers: extra.headers ?? {},
      clientIp: '192.0.2.1',
      ...(extra.time ? { time: extra.time } : {}),
    }),
    route: new RouteView('orders', '/users/:userId/orders/:id'),
  };
}

describe('policy CEL compile', () => {
  it('refuses unknown fields and type errors', () => {
    assert.throws(() => compileExpression('principal.subjct == "x"'), /type error: No such key: subjct/);
    assert.throws(() => compileExpression('principal.roles + 1'), /type error: no such overload/);
    assert.throws(() => compileExpression('request.nope == 1'), /type error/);
    assert.throws(() => compileExpression('unknownVar == 1'), /type error/);
    assert.throws(() => compileExpression('principal.subject =='), /syntax error/);
  });

  it('refuses an expression that is not a bool', () => {
    assert.throws(() => compileExpression('principal.subject'), /gives string, not bool/);
    assert.throws(() => compileExpression('size(principal.roles)'), /gives int, not bool/);
  });

  it('refuses matches() with a computed or dangerous pattern', () => {
    assert.throws(() => compileExpression('request.path.matches(request.query.p)'), /string literal/);
    assert.throws(() => compileExpression('request.path.matches("(a+)+$")'), /catastrophic/);
    assert.throws(() => compileExpression('request.path.matches("(a)\\\\1")'), /back-reference/);
    assert.throws(() => compileExpression('matches(request.path, "(x*)*")'));
    assert.throws(() => compileExpression('request.path.matches("[")'), /not a valid/);
    assert.doesNotThrow(() => compileExpression('request.path.matches("^/users/[a-z]+$")'));
  });

  it('the pattern check accepts ordinary patterns', () => {
    assert.equal(unsafePattern('^[a-z0-9-]{1,64}$'), undefined);
    assert.equal(unsafePattern('^(GET|HEAD)$'), undefined);
    assert.notEqual(unsafePattern('(\\w+\\s?)*$'), undefined);
    assert.notEqual(unsafePattern('^(a{1,3})*$'), undefined);
    // Nested and alternation shapes, and polynomial ones (found in review: these used to pass).
    for (const p of ['^((a)+)+$', '^(?:(a)*)*$', '^((ab)*)*$', '^(\\w|\\d)+$', '^\\w*\\w*!'])
      assert.notEqual(unsafePattern(p), undefined, p);
    assert.equal(unsafePattern('^ord-[0-9]+$'), undefined);
  });

  it('refuses expressions over the size limits', () => {
    const big = Array.from({ length: 1500 }, (_, i) => `principal.subject == "${i}"`).join(' || ');
    assert.throws(() => compileExpression(big));
  });
});

describe('policy CEL evaluation', () => {
  it('BOLA: the path owner must be the caller', () => {
    const own = compileExpression('request.params.userId == principal.subject');
    assert.equal(own(activation({ userId: 'alice' })), true);
    assert.equal(own(activation({ userId: 'bob' })), false);
  });

  it('tenant isolation and admin override', () => {
    const tenant = compileExpression('request.params.tenant == principal.tenant');
    assert.equal(tenant(activation({ tenant: 'acme' })), true);
    assert.equal(tenant(activation({ tenant: 'initech' })), false);
    const tenants = compileExpression('request.params.tenant in principal.claims.tenants');
    assert.equal(tenants(activation({ tenant: 'globex' })), true);
    assert.equal(tenants(activation({ tenant: 'initech' })), false);
    const admin = compileExpression(
      "'admin' in principal.roles || request.params.owner == principal.subject",
    );
    assert.equal(admin(activation({ owner: 'bob' })), false);
    const root = Object.freeze({ ...alice, roles: Object.freeze(['admin']) });
    assert.equal(admin(activation({ owner: 'bob' }, { principal: root })), true);
  });

  it('macros, string functions, query, headers, time', () => {
    const e = compileExpression(
      'principal.scopes.exists(s, s.startsWith("orders:")) && principal.roles.all(r, r.matches("^[a-z]+$")) && has(request.query.page) && request.query.page == "2" && request.headers["x-trace"] == "t1" && request.time.getHours("UTC") >= 9 && route.id == "orders"',
    );
    const at10 = new Date('2024-05-01T10:00:00Z');
    assert.equal(e(activation({}, { query: 'page=2', headers: { 'X-Trace': 't1' }, time: at10 })), true);
    // A repeated name is ambiguous (parameter pollution): reading the query fails, the rule denies.
    assert.throws(() =>
      e(activation({}, { query: 'page=2&page=3', headers: { 'X-Trace': 't1' }, time: at10 })),
    );
    assert.equal(e(activation({}, { query: 'page=3', headers: { 'x-trace': 't1' }, time: at10 })), false);
  });

  it('never shows credential headers', () => {
    const e = compileExpression(
      "has(request.headers.authorization) || has(request.headers.cookie) || 'x-api-key' in request.headers || 'proxy-authorization' in request.headers || has(request.headers.dpop)",
    );
    const headers = {
      authorization: 'Bearer x',
      cookie: 'a=b',
      'x-api-key': 'k',
      'proxy-authorization': 'Basic y',
      dpop: 'z',
    };
    assert.equal(e(activation({}, { headers })), false);
  });

  it('a missing key is an evaluation error; an absent tenant reads as ""', () => {
    const missing = compileExpression('principal.claims.missing.x == 1');
    assert.throws(() => missing(activation()));
    const noTenant = Object.freeze({ ...alice, tenant: undefined }) as Principal;
    const tenant = compileExpression('principal.tenant == ""');
    assert.equal(tenant(activation({}, { principal: noTenant })), true);
  });

  it('request maps have no prototype keys', () => {
    const e = compileExpression('has(request.params.constructor) || has(request.query.__proto__)');
    assert.equal(e(activation({}, { query: 'a=1' })), false);
  });
});

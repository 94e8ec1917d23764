import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import pino from 'pino';
import type { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import type { PluginDeps, RouteInfo } from '../../../core/plugin.js';
import { ANONYMOUS, type Principal } from '../../../core/principal.js';
import rbac, { rbacSchema } from './index.js';
import { grantingStrings, resolveRoles } from './roles.js';

const role = (permissions: string[], inherits: string[] = []) => ({ permissions, inherits });

function principal(roles: unknown, scopes: unknown = []): Principal {
  return {
    id: 'jwt:x|u',
    kind: 'user',
    subject: 'u',
    roles: roles as string[],
    scopes: scopes as string[],
    claims: {},
    method: 'jwt',
  };
}

function ctx(method: string, p: Principal | undefined): RequestContext {
  return { id: 'r1', method, path: '/', clientIp: '127.0.0.1', principal: p } as unknown as RequestContext;
}

function create(settings: Record<string, unknown>, methods: string[] = ['GET', 'POST', 'DELETE']) {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  const config = Value.Default(rbacSchema, structuredClone(settings)) as never;
  const route = { id: 'r', path: '/', methods, upstream: 'api' } as unknown as RouteInfo;
  const handlers = rbac.create(
    { ...(config as object), mode: (settings.mode as 'enforce' | 'monitor') ?? 'enforce' } as never,
    {
      deps: { logger } as unknown as PluginDeps,
      route,
      configPath: 'plugins.rbac',
    },
  ) as { onRequest: (c: RequestContext) => void };
  return { run: handlers.onRequest, lines };
}

function outcome(run: (c: RequestContext) => void, c: RequestContext): string {
  try {
    run(c);
    return 'allow';
  } catch (err) {
    if (err instanceof GatewayError) return `${err.code} ${c.deniedBy}`;
    throw err;
  }
}

describe('rbac roles', () => {
  it('grantingStrings lists every wildcard that grants a permission', () => {
    assert.deepEqual(grantingStrings('orders:read'), ['*', 'orders:*', 'orders:read']);
    assert.deepEqual(grantingStrings('a:b:c'), ['*', 'a:*', 'a:b:*', 'a:b:c']);
    assert.deepEqual(grantingStrings('admin'), ['*', 'admin']);
  });

  it('resolves inheritance transitively', () => {
    const r = resolveRoles({
      viewer: role(['orders:read']),
      member: role(['orders:write'], ['viewer']),
      admin: role(['users:delete'], ['member']),
    });
    assert.deepEqual([...(r.get('admin') ?? [])].sort(), ['orders:read', 'orders:write', 'users:delete']);
    assert.deepEqual([...(r.get('viewer') ?? [])], ['orders:read']);
  });

  it('refuses a cycle, naming the role and the cycle', () => {
    assert.throws(
      () => resolveRoles({ a: role([], ['b']), b: role([], ['c']), c: role([], ['a']) }),
      /roles\.c\.inherits: role inheritance has a cycle \(a → b → c → a\)/,
    );
    assert.throws(() => resolveRoles({ self: role([], ['self']) }), /roles\.self\.inherits: .*self → self/);
  });

  it('refuses an unknown inherited role, naming the role', () => {
    assert.throws(
      () => resolveRoles({ admin: role([], ['member', 'ghost']), member: role([]) }),
      /roles\.admin\.inherits\[1\]: unknown role "ghost"/,
    );
  });

  it('an inherited name like __proto__ or constructor is unknown, not a prototype', () => {
    assert.throws(() => resolveRoles({ a: role([], ['constructor']) }), /unknown role "constructor"/);
  });
});

describe('rbac decisions', () => {
  const roles = {
    member: role(['orders:read', 'orders:write']),
    admin: role(['users:*'], ['member']),
    root: role(['*']),
  };

  it('requires every permission with match all, one with match any', () => {
    const all = create({ roles, require: { permissions: ['orders:read', 'users:delete'] } });
    assert.equal(outcome(all.run, ctx('GET', principal(['member']))), 'FORBIDDEN rbac:require.permissions');
    assert.equal(outcome(all.run, ctx('GET', principal(['admin']))), 'allow');
    const any = create({ roles, require: { permissions: ['orders:read', 'users:delete'], match: 'any' } });
    assert.equal(outcome(any.run, ctx('GET', principal(['member']))), 'allow');
    assert.equal(outcome(any.run, ctx('GET', principal(['nobody']))), 'FORBIDDEN rbac:require.permissions');
  });

  it('wildcards: "users:*" grants users:x and users:x:y but not "users" or "usersx:y"; "*" grants all', () => {
    const r = (p: string) => create({ roles, require: { permissions: [p] } }).run;
    assert.equal(outcome(r('users:delete'), ctx('GET', principal(['admin']))), 'allow');
    assert.equal(outcome(r('users:keys:rotate'), ctx('GET', principal(['admin']))), 'allow');
    assert.equal(outcome(r('users'), ctx('GET', principal(['admin']))), 'FORBIDDEN rbac:require.permissions');
    assert.equal(
      outcome(r('usersx:y'), ctx('GET', principal(['admin']))),
      'FORBIDDEN rbac:require.permissions',
    );
    assert.equal(outcome(r('anything:at:all'), ctx('GET', principal(['root']))), 'allow');
    // Exact and case-sensitive.
    assert.equal(
      outcome(r('Orders:read'), ctx('GET', principal(['member']))),
      'FORBIDDEN rbac:require.permissions',
    );
    assert.equal(
      outcome(r('orders:read'), ctx('GET', principal(['Member']))),
      'FORBIDDEN rbac:require.permissions',
    );
  });

  it('scopes all / any, and a scope never stands in for a permission', () => {
    const all = create({ roles, require: { scopes: ['a', 'b'] } });
    assert.equal(outcome(all.run, ctx('GET', principal([], ['a']))), 'FORBIDDEN rbac:require.scopes');
    assert.equal(outcome(all.run, ctx('GET', principal([], ['b', 'a']))), 'allow');
    const any = create({ roles, require: { scopes: ['a', 'b'], match: 'any' } });
    assert.equal(outcome(any.run, ctx('GET', principal([], ['b']))), 'allow');
    const both = create({
      roles,
      require: { permissions: ['orders:read'], scopes: ['orders'], match: 'any' },
    });
    assert.equal(outcome(both.run, ctx('GET', principal(['member'], []))), 'FORBIDDEN rbac:require.scopes');
    assert.equal(
      outcome(both.run, ctx('GET', principal([], ['orders']))),
      'FORBIDDEN rbac:require.permissions',
    );
    assert.equal(outcome(both.run, ctx('GET', principal(['member'], ['orders']))), 'allow');
  });

  it('per-method requirements replace require; HEAD follows GET', () => {
    const r = create(
      {
        roles,
        require: { permissions: ['users:delete'] },
        methods: { GET: { permissions: ['orders:read'] }, POST: { permissions: ['orders:write'] } },
      },
      ['GET', 'POST', 'DELETE'],
    );
    const member = principal(['member']);
    assert.equal(outcome(r.run, ctx('GET', member)), 'allow');
    assert.equal(outcome(r.run, ctx('HEAD', member)), 'allow');
    assert.equal(outcome(r.run, ctx('POST', member)), 'allow');
    assert.equal(outcome(r.run, ctx('DELETE', member)), 'FORBIDDEN rbac:require.permissions');
    // A method the route does not serve is refused.
    assert.equal(outcome(r.run, ctx('OPTIONS', member)), 'FORBIDDEN rbac:require.method');
  });

  it('anonymous is refused, even with anyAuthenticated', () => {
    const r = create({ roles, require: { anyAuthenticated: true } });
    assert.equal(outcome(r.run, ctx('GET', ANONYMOUS)), 'FORBIDDEN rbac:require.anyAuthenticated');
    assert.equal(outcome(r.run, ctx('GET', undefined)), 'FORBIDDEN rbac:require.anyAuthenticated');
    assert.equal(outcome(r.run, ctx('GET', principal([]))), 'allow');
  });

  it('onDeny not-found answers NOT_FOUND', () => {
    const r = create({ roles, require: { permissions: ['users:delete'] }, onDeny: 'not-found' });
    assert.equal(outcome(r.run, ctx('GET', principal(['member']))), 'NOT_FOUND rbac:require.permissions');
  });

  it('a bad runtime type denies (fail closed) and is logged', () => {
    const r = create({ roles, require: { permissions: ['orders:read'] } });
    assert.equal(outcome(r.run, ctx('GET', principal('member'))), 'FORBIDDEN rbac:error');
    assert.ok(r.lines.some((l) => l.msg === 'rbac evaluation failed; request denied'));
    assert.ok(r.lines.some((l) => l.log === 'audit' && l.rule === 'error'));
  });

  it('hostile roles: many, duplicated, unknown, prototype names grant nothing extra', () => {
    const r = create({ roles, require: { permissions: ['users:delete'] } });
    const many = Array.from({ length: 5000 }, (_, i) => `r${i}`);
    assert.equal(
      outcome(r.run, ctx('GET', principal([...many, '__proto__', 'constructor', 'member,admin']))),
      'FORBIDDEN rbac:require.permissions',
    );
    assert.equal(outcome(r.run, ctx('GET', principal([...many, 'admin', 'admin']))), 'allow');
  });

  it('audits every deny with the rule; allows are sampled', () => {
    const r = create({ roles, require: { permissions: ['users:delete'] }, auditAllowSampleRate: 1 });
    outcome(r.run, ctx('GET', principal(['member'])));
    outcome(r.run, ctx('GET', principal(['admin'])));
    const audit = r.lines.filter((l) => l.log === 'audit');
    assert.equal(audit.length, 2);
    assert.equal(audit[0]?.event, 'authorization.deny');
    assert.equal(audit[0]?.rule, 'require.permissions');
    assert.equal(audit[1]?.event, 'authorization.allow');
    const none = create({ roles, require: { permissions: ['users:delete'] }, auditAllowSampleRate: 0 });
    outcome(none.run, ctx('GET', principal(['admin'])));
    assert.equal(none.lines.filter((l) => l.log === 'audit').length, 0);
  });

  it('monitor mode: still throws (the core lets it pass) and audits with monitor: true', () => {
    const r = create({ roles, require: { permissions: ['users:delete'] }, mode: 'monitor' });
    assert.equal(outcome(r.run, ctx('GET', principal(['member']))), 'FORBIDDEN rbac:require.permissions');
    assert.equal(r.lines.find((l) => l.log === 'audit')?.monitor, true);
  });

  it('an empty requirement for a served method is a start-up error saying what to set', () => {
    assert.throws(
      () => create({ roles }, ['GET']),
      /require: the route serves GET but rbac requires nothing for it; set require\.permissions or require\.scopes \(or methods\.GET\), or require\.anyAuthenticated: true/,
    );
    assert.throws(
      () => create({ roles, methods: { GET: { permissions: ['orders:read'] } } }, ['GET', 'DELETE']),
      /the route serves DELETE but rbac requires nothing/,
    );
    assert.throws(
      () => create({ roles, require: { anyAuthenticated: true, scopes: ['x'] } }, ['GET']),
      /cannot be combined/,
    );
    // A method entry for a method the route does not serve is ignored.
    create({ roles, require: { permissions: ['orders:read'] }, methods: { PUT: { scopes: ['x'] } } }, [
      'GET',
    ]);
  });
});

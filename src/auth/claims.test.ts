import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  audienceMatches,
  checkTimes,
  compileClaimMapping,
  compileClaimPath,
  compileRequiredClaims,
  confirmationOf,
  validUntilMs,
} from './claims.js';

describe('claims', () => {
  it('claim paths: full name first, then dotted path over own properties only', () => {
    const claims = JSON.parse(
      '{"https://ex.com/roles":["a"],"realm_access":{"roles":["b"]},"__proto__":{"polluted":1},"arr":[{"x":1}]}',
    );
    assert.deepEqual(compileClaimPath('https://ex.com/roles')(claims), ['a']);
    assert.deepEqual(compileClaimPath('realm_access.roles')(claims), ['b']);
    assert.equal(compileClaimPath('constructor.name')(claims), undefined);
    assert.equal(compileClaimPath('realm_access.toString')(claims), undefined);
    assert.equal(compileClaimPath('arr.0.x')(claims), undefined, 'arrays are not walked');
    assert.equal(compileClaimPath('')(claims), undefined);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('principal mapping', () => {
    const m = compileClaimMapping({
      rolesClaim: 'roles',
      scopesClaim: 'scope',
      consumerClaim: 'client_id',
      tenantClaim: 'tid',
    });
    const p = m.toPrincipal(
      'jwt',
      'https://i',
      { sub: 'u', azp: 'app', scp: ['s1', 7, 's2'], roles: 'r1 r2', tid: 't' },
      'j',
    );
    assert.ok(p);
    assert.equal(p.id, 'jwt:https://i|u');
    assert.equal(p.kind, 'user');
    assert.equal(p.consumer, 'app');
    assert.equal(p.tenant, 't');
    assert.deepEqual(p.scopes, ['s1', 's2']);
    assert.deepEqual(p.roles, ['r1', 'r2']);
    assert.equal(p.credentialId, 'j');
    assert.ok(Object.isFrozen(p) && Object.isFrozen(p.roles) && Object.isFrozen(p.claims));
    assert.equal(m.toPrincipal('jwt', 'i', { client_id: 'svc' }, undefined)?.kind, 'service');
    assert.equal(m.toPrincipal('jwt', 'i', { scope: 'x' }, undefined), undefined);
    assert.equal(m.toPrincipal('jwt', 'i', { sub: 42 }, undefined), undefined);
  });

  it('time checks with skew and max age', () => {
    const rules = { skewSeconds: 10, maxAgeSeconds: 0, requireExp: true };
    assert.equal(checkTimes({ exp: 100 }, 105, rules), undefined);
    assert.equal(checkTimes({ exp: 100 }, 110, rules), 'expired');
    assert.equal(checkTimes({}, 0, rules), 'missing_exp');
    assert.equal(checkTimes({ exp: '100' }, 0, rules), 'malformed_claims');
    assert.equal(checkTimes({ exp: Number.NaN }, 0, rules), 'malformed_claims');
    assert.equal(checkTimes({ exp: 200, nbf: 115 }, 100, rules), 'not_yet_valid');
    assert.equal(checkTimes({ exp: 200, nbf: 110 }, 100, rules), undefined);
    assert.equal(checkTimes({ exp: 200, iat: 111 }, 100, rules), 'not_yet_valid');
    const aged = { ...rules, maxAgeSeconds: 60 };
    assert.equal(checkTimes({ exp: 500 }, 100, aged), 'missing_iat');
    assert.equal(checkTimes({ exp: 500, iat: 20 }, 100, aged), 'too_old');
    assert.equal(validUntilMs({ exp: 500, iat: 100 }, aged), 170_000);
    assert.equal(validUntilMs({ exp: 500 }, rules), 510_000);
  });

  it('audience and required claims', () => {
    const allowed = new Set(['api']);
    assert.equal(audienceMatches('api', allowed), true);
    assert.equal(audienceMatches(['x', 'api'], allowed), true);
    assert.equal(audienceMatches(['x'], allowed), false);
    assert.equal(audienceMatches(undefined, allowed), false);
    assert.equal(audienceMatches({ api: true }, allowed), false);
    const req = compileRequiredClaims({ tier: ['gold', 'silver'], n: 1, 'a.b': true });
    assert.equal(req({ tier: 'gold', n: 1, a: { b: true } }), undefined);
    assert.equal(req({ tier: ['x', 'silver'], n: 1, a: { b: true } }), undefined);
    assert.equal(req({ tier: 'gold', n: '1', a: { b: true } }), 'claim_mismatch');
    assert.equal(req({ tier: 'gold', n: 1 }), 'claim_mismatch');
  });

  it('confirmation claim', () => {
    assert.equal(confirmationOf(undefined), undefined);
    assert.deepEqual(confirmationOf({}), {});
    assert.deepEqual(confirmationOf({ jkt: 'a', other: 1 }), { jkt: 'a' });
    assert.deepEqual(confirmationOf({ 'x5t#S256': 'b' }), { 'x5t#S256': 'b' });
    // A binding that cannot be checked never degrades to a bearer token: an empty thumbprint,
    // which token-binding refuses.
    assert.deepEqual(confirmationOf('x'), { jkt: '' });
    assert.deepEqual(confirmationOf({ jwk: {} }), { jkt: '' });
    assert.deepEqual(confirmationOf({ jkt: 42 }), { jkt: '' });
    assert.deepEqual(confirmationOf({ 'x5t#S256': ['b'] }), { 'x5t#S256': '' });
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createNonces, perProcessSecret } from './nonce.js';

describe('stateless DPoP nonces', () => {
  const secret = Buffer.alloc(32, 1);

  it('one nonce per window, accepted in its window and the next, then stale', () => {
    let now = 1_000_000_000_000;
    const n = createNonces(secret, 60, () => now);
    const a = n.issue();
    assert.equal(n.issue(), a);
    assert.match(a, /^[A-Za-z0-9_-]{27}$/);
    assert.equal(n.check(a), 'current');
    now += 60_000;
    assert.notEqual(n.issue(), a);
    assert.equal(n.check(a), 'previous');
    now += 60_000;
    assert.equal(n.check(a), 'stale');
  });

  it('works across nodes with the same secret, not with another', () => {
    const now = () => 1_000_000_000_000;
    const a = createNonces(secret, 60, now).issue();
    assert.equal(createNonces(Buffer.from(secret), 60, now).check(a), 'current');
    assert.equal(createNonces(Buffer.alloc(32, 2), 60, now).check(a), 'invalid');
  });

  it('refuses forged, malformed and non-string nonces', () => {
    const now = () => 1_000_000_000_000;
    const n = createNonces(secret, 60, now);
    const good = n.issue();
    const flipped = `${good.slice(0, 10)}${good[10] === 'A' ? 'B' : 'A'}${good.slice(11)}`;
    for (const bad of [flipped, '', 'x', `${good}A`, good.replace(/.$/, '*'), 42, undefined, null, { good }])
      assert.equal(n.check(bad), 'invalid', String(bad));
    // A future window with a valid MAC is not accepted either.
    const later = createNonces(secret, 60, () => now() + 120_000).issue();
    assert.equal(n.check(later), 'stale');
  });

  it('the per-process secret is random and stable', () => {
    assert.equal(perProcessSecret().length, 32);
    assert.equal(perProcessSecret(), perProcessSecret());
  });
});

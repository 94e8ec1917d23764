import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { concurrencyItem, policyItem, rateItem, retryAfterSeconds } from './headers.js';

describe('RateLimit fields (draft-ietf-httpapi-ratelimit-headers)', () => {
  it('writes the draft examples exactly', () => {
    // The draft's own examples: a policy of 100 per 10 s, and 50 left with 30 s to go.
    assert.equal(policyItem('default', 100, 10), '"default";q=100;w=10');
    const o = {
      name: 'default',
      quota: 100,
      windowSeconds: 10,
      remaining: 50,
      resetMs: 30_000,
      allowed: true,
      retryAfterMs: 0,
    };
    assert.equal(rateItem(o), '"default";r=50;t=30');
    // Several policies are one list, comma-separated.
    assert.equal(
      [policyItem('burst', 100, 60), policyItem('daily', 1000, 86400)].join(', '),
      '"burst";q=100;w=60, "daily";q=1000;w=86400',
    );
  });

  it('rounds the reset time up and never sends a negative or fractional count', () => {
    const o = {
      name: 'x',
      quota: 7,
      windowSeconds: 1,
      remaining: 2.9999,
      resetMs: 142.857,
      allowed: true,
      retryAfterMs: 0,
    };
    assert.equal(rateItem(o), '"x";r=2;t=1');
    assert.equal(rateItem({ ...o, remaining: -1, resetMs: -5 }), '"x";r=0;t=0');
  });

  it('names a concurrency limit by its quota unit and gives no window', () => {
    assert.equal(
      policyItem('concurrency', 4, undefined, 'concurrent-requests'),
      '"concurrency";q=4;qu="concurrent-requests"',
    );
    assert.equal(concurrencyItem('concurrency', 3), '"concurrency";r=3');
  });

  it('keeps the field well formed whatever the name holds', () => {
    assert.equal(policyItem('a"b\\c', 1, 1), '"a\\"b\\\\c";q=1;w=1');
  });

  it('Retry-After is whole seconds, at least 1', () => {
    assert.equal(retryAfterSeconds(0.2), 1);
    assert.equal(retryAfterSeconds(1000), 1);
    assert.equal(retryAfterSeconds(1001), 2);
    assert.equal(retryAfterSeconds(0), 1);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lockoutAddress, lockoutLength, memoryCounters } from './lockout.js';

const rule = { threshold: 3, windowMs: 1000, lockoutMs: 10_000, maxLockoutMs: 35_000 };

describe('lockout counters', () => {
  it('blocks on the threshold-th failure within the window, not before', () => {
    let now = 0;
    const c = memoryCounters(1000, () => now);
    assert.equal(c.fail('k', rule), 0);
    assert.equal(c.fail('k', rule), 0);
    assert.equal(c.blockedFor('k'), 0);
    assert.equal(c.fail('k', rule), 10_000);
    now = 4000;
    assert.equal(c.blockedFor('k'), 6000);
    now = 10_000;
    assert.equal(c.blockedFor('k'), 0);
  });

  it('a new window starts the count again', () => {
    let now = 0;
    const c = memoryCounters(1000, () => now);
    c.fail('k', rule);
    c.fail('k', rule);
    now = 1000;
    assert.equal(c.fail('k', rule), 0);
    assert.equal(c.blockedFor('k'), 0);
  });

  it('repeated lockouts double, up to the cap', () => {
    let now = 0;
    const c = memoryCounters(1000, () => now);
    const lengths: number[] = [];
    for (let round = 0; round < 4; round++) {
      let got = 0;
      for (let i = 0; i < 3; i++) got = c.fail('k', rule) as number;
      lengths.push(got);
      now += got;
    }
    assert.deepEqual(lengths, [10_000, 20_000, 35_000, 35_000]);
    assert.equal(lockoutLength(rule, 40), 35_000);
  });

  it('stays bounded under many keys', () => {
    const c = memoryCounters(1000, () => 0);
    for (let i = 0; i < 50_000; i++) c.fail(`k${i}`, rule);
    // The newest keys are still counted; the oldest were dropped.
    c.fail('k49999', rule);
    assert.equal(c.fail('k49999', rule), 10_000);
    assert.equal(c.blockedFor('k0'), 0);
  });

  it('repeatThreshold 1: once blocked, every further failure blocks again for twice as long', () => {
    let now = 0;
    const backoff = {
      threshold: 3,
      windowMs: 60_000,
      lockoutMs: 1000,
      maxLockoutMs: 5000,
      repeatThreshold: 1,
      memoryMs: 60_000,
    };
    const c = memoryCounters(1000, () => now);
    assert.equal(c.fail('k', backoff), 0);
    assert.equal(c.fail('k', backoff), 0);
    const lengths: number[] = [];
    for (let i = 0; i < 5; i++) {
      const got = c.fail('k', backoff) as number;
      lengths.push(got);
      now += got;
    }
    assert.deepEqual(lengths, [1000, 2000, 4000, 5000, 5000]);
    // Remembered for memoryMs after the last block ended, then forgotten: free failures again.
    now += 59_999;
    assert.equal(c.fail('k', backoff), 5000);
    now += 5000 + 60_000;
    assert.equal(c.fail('k', backoff), 0);
    assert.equal(c.fail('k', backoff), 0);
    assert.equal(c.fail('k', backoff), 1000);
  });

  it('clear forgets the count, the block and the repeats', () => {
    let now = 0;
    const c = memoryCounters(1000, () => now);
    for (let i = 0; i < 3; i++) c.fail('k', rule);
    assert.equal(c.blockedFor('k'), 10_000);
    c.fail('other', rule);
    c.clear('k');
    assert.equal(c.blockedFor('k'), 0);
    assert.equal(c.fail('k', rule), 0);
    assert.equal(c.fail('k', rule), 0);
    // A first block again, not a doubled one.
    assert.equal(c.fail('k', rule), 10_000);
    now = 1;
    c.clear('missing');
    assert.equal(c.blockedFor('k'), 9999);
  });

  it('counts IPv4 as is and IPv6 by its /64', () => {
    assert.equal(lockoutAddress('203.0.113.7'), '203.0.113.7');
    assert.equal(lockoutAddress('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(lockoutAddress('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(lockoutAddress('2001:DB8:1:2::9'), '2001:db8:1:2::/64');
    assert.equal(lockoutAddress('2001:0db8::1'), '2001:db8:0:0::/64');
    assert.equal(lockoutAddress('::1'), '0:0:0:0::/64');
    assert.equal(lockoutAddress('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(lockoutAddress('2001:db8:1:2:aaaa::1'), lockoutAddress('2001:db8:1:2:bbbb::2'));
  });
});

describe('memory lockout eviction', () => {
  it('a flood of junk keys never drops a block in force', () => {
    let t = 1_000_000;
    const c = memoryCounters(100, () => t);
    const rule = { threshold: 3, windowMs: 60_000, lockoutMs: 900_000, maxLockoutMs: 900_000 };
    for (let i = 0; i < 3; i++) c.fail('alice', rule);
    assert.ok((c.blockedFor('alice') as number) > 0);
    for (let i = 0; i < 1000; i++) {
      t += 1;
      c.fail(`junk-${i}`, rule);
    }
    assert.ok((c.blockedFor('alice') as number) > 800_000, 'still blocked after 1000 other keys');
  });
});

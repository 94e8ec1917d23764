import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration, parseExpiry } from './keys.js';

describe('keys CLI parsing', () => {
  it('parses durations', () => {
    assert.equal(parseDuration('30d'), 30 * 86_400_000);
    assert.equal(parseDuration('12h'), 12 * 3_600_000);
    assert.equal(parseDuration('0s'), 0);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('2w'), 14 * 86_400_000);
    for (const bad of ['', 'd', '1y', '-1h', '1.5h', '1 h', '9999999999d'])
      assert.equal(parseDuration(bad), undefined, bad);
  });

  it('parses expiries: ISO dates in the future or durations from now', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    assert.equal(parseExpiry('1h', now), now + 3_600_000);
    assert.equal(parseExpiry('2030-02-01', now), Date.parse('2030-02-01'));
    assert.equal(parseExpiry('2030-02-01T12:30:00Z', now), Date.parse('2030-02-01T12:30:00Z'));
    assert.throws(() => parseExpiry('2029-12-31', now), /in the past/);
    assert.throws(() => parseExpiry('0h', now), /more than 0/);
    assert.throws(() => parseExpiry('tomorrow', now), /neither an ISO date/);
    assert.throws(() => parseExpiry('12/01/2030', now), /neither an ISO date/);
  });
});

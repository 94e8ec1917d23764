import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { traceparentFor } from './gateway.js';
import { plainIp, TrustedProxies } from './trust.js';

describe('trusted proxies', () => {
  const trust = new TrustedProxies(['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);

  it('matches addresses and CIDRs of both families', () => {
    assert.ok(trust.has('10.1.2.3'));
    assert.ok(trust.has('192.168.1.7'));
    assert.ok(!trust.has('192.168.1.8'));
    assert.ok(trust.has('fd12::1'));
    assert.ok(!trust.has('2001:db8::1'));
    assert.ok(!trust.has('not-an-ip'));
  });

  it('walks X-Forwarded-For from the right, skipping trusted hops', () => {
    assert.equal(trust.clientFrom('10.0.0.1', '203.0.113.9, 10.0.0.2'), '203.0.113.9');
    // A client cannot push a fake address in front of the real one.
    assert.equal(trust.clientFrom('10.0.0.1', '1.1.1.1, 203.0.113.9'), '203.0.113.9');
    assert.equal(trust.clientFrom('10.0.0.1', undefined), '10.0.0.1');
    // Garbage stops the walk at the last good hop.
    assert.equal(trust.clientFrom('10.0.0.1', '203.0.113.9, <script>'), '10.0.0.1');
  });

  it('refuses malformed entries at start-up', () => {
    assert.throws(() => new TrustedProxies(['10.0.0.0/33']), /prefix/);
    assert.throws(() => new TrustedProxies(['example.com']), /not an IP/);
    assert.throws(() => new TrustedProxies(['10.0.0.0/8x']), /prefix/);
  });

  it('an empty list trusts nobody', () => {
    assert.ok(!new TrustedProxies([]).has('127.0.0.1'));
  });

  it('unwraps IPv4-mapped IPv6 peers', () => {
    assert.equal(plainIp('::ffff:10.0.0.1'), '10.0.0.1');
    assert.equal(plainIp('::1'), '::1');
  });
});

describe('traceparent', () => {
  it('keeps a valid one and replaces invalid ones', () => {
    const ok = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    assert.equal(traceparentFor(ok), ok);
    for (const bad of [
      undefined,
      '',
      'garbage',
      ok.toUpperCase(),
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      ['a', 'b'],
    ]) {
      const made = traceparentFor(bad);
      assert.match(made, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      assert.notEqual(made, bad);
    }
  });
});

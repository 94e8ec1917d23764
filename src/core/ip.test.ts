import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressGroup } from './ip.js';

describe('addressGroup', () => {
  it('keeps IPv4 addresses whole by default and groups them by prefix when asked', () => {
    assert.equal(addressGroup('192.0.2.77'), '192.0.2.77');
    assert.equal(addressGroup('192.0.2.77', 64, 24), '192.0.2.0/24');
    assert.equal(addressGroup('::ffff:192.0.2.77'), '192.0.2.77');
  });

  it('groups every address of one IPv6 /64 together, in any spelling', () => {
    const a = addressGroup('2001:db8:1:2:aaaa:bbbb:cccc:dddd');
    assert.equal(a, '2001:db8:1:2::/64');
    assert.equal(addressGroup('2001:0db8:0001:0002::1'), a);
    assert.equal(addressGroup('2001:DB8:1:2:ffff::ffff%eth0'), a);
    assert.notEqual(addressGroup('2001:db8:1:3::1'), a);
    assert.equal(addressGroup('::1'), '0:0:0:0::/64');
  });

  it('honours other prefixes, including ones inside a group', () => {
    assert.equal(addressGroup('2001:db8:abcd:1234::1', 48), '2001:db8:abcd::/48');
    assert.equal(addressGroup('2001:db8:abcd:1234::1', 56), '2001:db8:abcd:1200::/56');
    assert.equal(addressGroup('2001:db8::1', 128), '2001:db8:0:0:0:0:0:1');
  });
});

describe('addressGroup: IPv4 inside IPv6, in every spelling', () => {
  it('reads mapped and compatible addresses as the IPv4 address they carry', () => {
    for (const s of [
      '::ffff:1.2.3.4',
      '0:0:0:0:0:ffff:1.2.3.4',
      '::ffff:102:304',
      '0:0:0:0:0:FFFF:0102:0304',
      '::1.2.3.4',
    ])
      assert.equal(addressGroup(s), '1.2.3.4', s);
    assert.equal(addressGroup('::ffff:5.6.7.8'), '5.6.7.8');
    // Loopback and the unspecified address are not IPv4-compatible addresses.
    assert.equal(addressGroup('::1'), '0:0:0:0::/64');
    assert.equal(addressGroup('::'), '0:0:0:0::/64');
  });

  it('keeps a dotted tail in a non-mapped address in its /64', () => {
    assert.equal(addressGroup('64:ff9b::192.0.2.33'), '64:ff9b:0:0::/64');
    assert.equal(addressGroup('2001:db8:1:2:3:4:1.2.3.4'), '2001:db8:1:2::/64');
  });

  it('returns what is not an address unchanged', () => {
    assert.equal(addressGroup('not-an-ip'), 'not-an-ip');
  });
});

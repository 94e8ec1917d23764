import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdminAccess, plainPeer, roleAllows } from './access.js';

const tokens = [
  { name: 'vera', role: 'viewer' as const, token: 'v'.repeat(32) },
  { name: 'ada', role: 'admin' as const, token: 'a'.repeat(32) },
];

describe('admin access rules', () => {
  it('roles are ordered viewer < operator < admin', () => {
    assert.ok(roleAllows('admin', 'operator'));
    assert.ok(roleAllows('operator', 'viewer'));
    assert.ok(!roleAllows('viewer', 'operator'));
    assert.ok(!roleAllows('operator', 'admin'));
  });

  it('identifies a bearer token by its hash, and nothing else', () => {
    const a = new AdminAccess({ tokens, allowFrom: ['127.0.0.1/32'] });
    assert.deepEqual(a.identify(`Bearer ${'a'.repeat(32)}`), { name: 'ada', role: 'admin' });
    assert.deepEqual(a.identify(`bearer ${'v'.repeat(32)}`), { name: 'vera', role: 'viewer' });
    for (const h of [
      undefined,
      '',
      'Bearer ',
      `Basic ${'a'.repeat(32)}`,
      `Bearer ${'a'.repeat(31)}`,
      `Bearer ${'x'.repeat(5000)}`,
    ])
      assert.equal(a.identify(h), undefined, String(h).slice(0, 20));
  });

  it('allowFrom: CIDRs and single addresses, IPv4-mapped peers as IPv4', () => {
    const a = new AdminAccess({
      tokens: [],
      allowFrom: ['127.0.0.1/32', '::1/128', '10.1.0.0/16', '192.0.2.7'],
    });
    for (const ip of ['127.0.0.1', '::1', '10.1.200.3', '192.0.2.7', plainPeer('::ffff:10.1.0.9')])
      assert.ok(a.peerAllowed(ip), ip);
    for (const ip of ['127.0.0.2', '10.2.0.1', '192.0.2.8', '::2', '', 'not-an-ip'])
      assert.ok(!a.peerAllowed(ip), ip);
  });

  it('refuses an allowFrom entry that is not an address or CIDR', () => {
    for (const bad of ['localhost', '10.0.0.0/33', '::/129', '10.0.0.0/x'])
      assert.throws(() => new AdminAccess({ tokens: [], allowFrom: [bad] }), /admin\.allowFrom/, bad);
  });
});

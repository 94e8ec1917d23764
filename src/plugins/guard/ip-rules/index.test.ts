import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileIpRules } from './index.js';

describe('ip-rules matcher', () => {
  it('allows everyone when both lists are empty', () => {
    const rules = compileIpRules([], []);
    assert.equal(rules.permits('10.0.0.1'), true);
    assert.equal(rules.permits('2001:db8::1'), true);
  });

  it('denies single IPv4 addresses and CIDRs', () => {
    const rules = compileIpRules([], ['192.0.2.7', '10.0.0.0/8']);
    assert.equal(rules.permits('192.0.2.7'), false);
    assert.equal(rules.permits('192.0.2.8'), true);
    assert.equal(rules.permits('10.255.1.2'), false);
    assert.equal(rules.permits('11.0.0.1'), true);
  });

  it('matches IPv6 rules', () => {
    const rules = compileIpRules([], ['2001:db8::/32', '::1']);
    assert.equal(rules.permits('2001:db8::1'), false);
    assert.equal(rules.permits('2001:db8:ffff::abcd'), false);
    assert.equal(rules.permits('2001:db9::1'), true);
    assert.equal(rules.permits('::1'), false);
    assert.equal(rules.permits('::2'), true);
  });

  it('matches IPv4-mapped IPv6 clients against IPv4 rules', () => {
    const deny = compileIpRules([], ['10.0.0.0/8']);
    assert.equal(deny.permits('::ffff:10.0.0.1'), false);
    assert.equal(deny.permits('::ffff:11.0.0.1'), true);
    const allow = compileIpRules(['10.0.0.0/8'], []);
    assert.equal(allow.permits('::ffff:10.0.0.1'), true);
  });

  it('a non-empty allow list lets only matching clients pass', () => {
    const rules = compileIpRules(['127.0.0.0/8', '2001:db8::/32'], []);
    assert.equal(rules.permits('127.0.0.1'), true);
    assert.equal(rules.permits('2001:db8::5'), true);
    assert.equal(rules.permits('192.0.2.1'), false);
    assert.equal(rules.permits('::1'), false);
  });

  it('deny wins over allow', () => {
    const rules = compileIpRules(['10.0.0.0/8'], ['10.1.0.0/16']);
    assert.equal(rules.permits('10.2.0.1'), true);
    assert.equal(rules.permits('10.1.0.1'), false);
  });

  it('fails closed on a client address that is not an IP', () => {
    const rules = compileIpRules([], []);
    for (const bad of ['', 'localhost', '10.0.0.256', 'not-an-ip']) assert.equal(rules.permits(bad), false);
  });

  it('refuses malformed entries, naming the list', () => {
    const cases: [string[], string[], RegExp][] = [
      [[], ['10.0.0.0/33'], /^deny: .*10\.0\.0\.0\/33.*prefix/],
      [['not-an-ip'], [], /^allow: .*not-an-ip/],
      [[], ['2001:db8::/129'], /^deny: /],
      [[], ['10.0.0.0/'], /^deny: /],
      [[], ['10.0.0.0/8/9'], /^deny\[0\]: /],
      [['fe80::1%eth0'], [], /^allow\[0\]: /],
      [[], ['10.0.0.0/-1'], /^deny: /],
      [[], [''], /^deny: /],
    ];
    for (const [allow, deny, message] of cases)
      assert.throws(() => compileIpRules(allow, deny), { message }, `${allow} ${deny}`);
  });
});

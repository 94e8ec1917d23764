import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from '../engine.js';
import type { Input } from '../types.js';
import { ldapDetector } from './ldap.js';

function attack(value: string): boolean {
  const inputs: Input[] = [{ location: 'query', name: 'user', value }];
  return inspect(inputs, { paranoia: 2, threshold: 5, exclusions: [], detectors: [ldapDetector] }).attack;
}

describe('LDAP filter injection', () => {
  it('flags values that close the filter and open a clause', () => {
    for (const v of [
      '*)(uid=*))(|(uid=*',
      'admin)(&)',
      'admin)(|(password=*)',
      'x)!(sn=*',
      'x) ( & ',
      'x)\t(\t|',
      'john)(sn~=smith',
      'val)(gidNumber<=100',
      'bob)(mail=*',
      'void)(objectClass=users))(&(objectClass=void',
      'aaa*aaa)(cn>=bob)',
      'a)(someAttr=1',
    ])
      assert.equal(attack(v), true, v);
  });

  it('leaves balanced filters, arithmetic and smileys alone', () => {
    for (const v of [
      '(&(objectCategory=computer)(cn=web01))',
      '(userAccountControl:1.2.840.113556.1.4.803:=2)(&(objectCategory=group))',
      '(a+b)*c',
      '(1+2)+(3+4)',
      'Great job :) (really)',
      'f(x)(y)',
      'admin',
    ])
      assert.equal(attack(v), false, v);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from '../engine.js';
import { extractInputs } from '../inputs.js';
import type { Input, Location, Paranoia } from '../types.js';
import { protoDetector } from './proto.js';

function attack(inputs: Input[], paranoia: Paranoia = 1): boolean {
  return inspect(inputs, { paranoia, threshold: 5, exclusions: [], detectors: [protoDetector] }).attack;
}
const at = (location: Location, value: string, name = 'x'): Input[] => [{ location, name, value }];

function request(query: string, body?: string): Input[] {
  return extractInputs(
    {
      method: body === undefined ? 'GET' : 'POST',
      path: '/api',
      query,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : Buffer.from(body),
    },
    { skipHeaders: new Set(), maxInputs: 100, maxValueBytes: 65536 },
  ).inputs;
}

describe('prototype pollution detector', () => {
  it('keys and paths through __proto__ in query, form, cookie and JSON', () => {
    assert.equal(attack(request('user[__proto__][isAdmin]=1')), true);
    assert.equal(attack(request('__proto__.isAdmin=1')), true);
    assert.equal(attack(request('a%5B__proto__%5D%5Bx%5D=1')), true);
    assert.equal(attack(request('', '{"profile":{"__proto__":{"isAdmin":true}}}')), true);
    assert.equal(attack(at('cookie', '__proto__.x=1', 'prefs')), true);
    assert.equal(attack(at('query', '$1:__proto__:then')), true);
    assert.equal(attack(at('json', 'settings.__proto__.polluted')), true);
    assert.equal(attack(at('query', '__proto__')), true);
    assert.equal(attack(at('cookie', '__\\u0070roto__[x]=1')), true);
  });

  it('constructor.prototype in every spelling', () => {
    assert.equal(attack(request('a[constructor][prototype][isAdmin]=1')), true);
    assert.equal(attack(request('constructor.prototype.isAdmin=1')), true);
    assert.equal(attack(request("x=constructor['prototype'].y")), true);
    assert.equal(attack(request('', '{"constructor":{"prototype":{"isAdmin":true}}}')), true);
  });

  it('ordinary names and values pass; a mention in prose is only suspicious', () => {
    assert.equal(attack(request('proto=https&protocol=h2&prototype=v2&constructor=Ferrari')), false);
    assert.equal(attack(request('', '{"constructor":"Ferrari","team":{"prototype":"car"}}')), false);
    assert.equal(attack(request('', '{"q":"prototype constructor pattern"}')), false);
    assert.equal(attack(at('json', 'Avoid obj.__proto__ in new code'), 2), false);
    assert.equal(attack(at('json', 'my__proto__name')), false);
  });
});

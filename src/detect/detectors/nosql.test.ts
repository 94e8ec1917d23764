import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from '../engine.js';
import { extractInputs } from '../inputs.js';
import type { Input, Location } from '../types.js';
import { nosqlDetector } from './nosql.js';

function attack(inputs: Input[]): boolean {
  return inspect(inputs, { paranoia: 2, threshold: 5, exclusions: [], detectors: [nosqlDetector] }).attack;
}
const at = (location: Location, value: string, name = 'x'): Input[] => [{ location, name, value }];

function request(query: string, body?: string): Input[] {
  return extractInputs(
    {
      method: 'POST',
      path: '/login',
      query,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : Buffer.from(body),
    },
    { skipHeaders: new Set(), maxInputs: 100, maxValueBytes: 65536 },
  ).inputs;
}

describe('NoSQL operator injection', () => {
  it('flags operators as JSON keys, bracketed query names and JSON text in values', () => {
    assert.equal(attack(request('', '{"user":"admin","password":{"$ne":null}}')), true);
    assert.equal(attack(request('', '{"$where":"sleep(5000)"}')), true);
    assert.equal(attack(request('user=admin&password[$ne]=x')), true);
    assert.equal(attack(request('password%5B%24regex%5D=.*')), true);
    assert.equal(attack(request('filter[status][$in][]=a')), true);
    assert.equal(attack(at('query', '{"$gt": ""}')), true);
    assert.equal(attack(at('cookie', "{ $where: 'this.a == 1' }")), true);
    assert.equal(attack(at('body', 'user[$ne]=1&x=2', '')), true);
    assert.equal(attack(at('query', "x'; return true; var y='")), true);
  });

  it('leaves JSON Schema keywords, prices and template placeholders alone', () => {
    assert.equal(
      attack(
        request('', '{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"x","$ref":"#/a"}'),
      ),
      false,
    );
    assert.equal(attack(at('query', 'Price: $5 or $10, not $new')), false);
    assert.equal(attack(at('json', 'Use $ne to compare values in a MongoDB filter.')), false);
    assert.equal(attack(at('query-name', 'amount$')), false);
    assert.equal(attack(at('json', "He said 'hi'; returned later")), false);
  });
});

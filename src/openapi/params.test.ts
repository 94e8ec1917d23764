import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Violation } from '../core/errors.js';
import type { ParamSpec } from './operations.js';
import { parseQuery, readParams } from './params.js';

function p(over: Partial<ParamSpec> & Pick<ParamSpec, 'name' | 'in'>): ParamSpec {
  return {
    required: false,
    schema: {},
    style: over.in === 'query' || over.in === 'cookie' ? 'form' : 'simple',
    explode: over.in === 'query' || over.in === 'cookie',
    shape: 'primitive',
    properties: [],
    json: false,
    ...over,
  };
}

function read(params: ParamSpec[], query: string, headers = {}, path = {}, strict = true) {
  const violations: Violation[] = [];
  const q = parseQuery(query);
  assert.ok(q);
  const raw = readParams(params, path, q, headers, strict, violations);
  // Null-prototype objects (no prototype pollution): compared as plain JSON.
  const values = JSON.parse(JSON.stringify(raw)) as typeof raw;
  return { values, violations };
}

describe('parseQuery', () => {
  it('form-decodes names and values, keeps repeats in order', () => {
    const q = parseQuery('a=1&b=x%20y&a=2&c=a+b&empty=&flag');
    assert.deepEqual(
      [...(q ?? [])],
      [
        ['a', ['1', '2']],
        ['b', ['x y']],
        ['c', ['a b']],
        ['empty', ['']],
        ['flag', ['']],
      ],
    );
  });

  it('refuses broken percent-encoding and more than 256 pairs', () => {
    assert.equal(parseQuery('a=%E0%A4%A'), undefined);
    assert.equal(parseQuery('a=%zz'), undefined);
    assert.equal(parseQuery(Array.from({ length: 257 }, (_, i) => `k${i}=1`).join('&')), undefined);
  });
});

describe('readParams: OpenAPI serialization styles', () => {
  it('form exploded arrays, comma arrays, space and pipe delimited arrays', () => {
    const params = [
      p({ name: 'tag', in: 'query', shape: 'array' }),
      p({ name: 'ids', in: 'query', shape: 'array', explode: false }),
      p({ name: 'words', in: 'query', shape: 'array', style: 'spaceDelimited', explode: false }),
      p({ name: 'pipes', in: 'query', shape: 'array', style: 'pipeDelimited', explode: false }),
    ];
    const { values, violations } = read(params, 'tag=a&tag=b&ids=1,2&words=x%20y&pipes=p|q');
    assert.deepEqual(violations, []);
    assert.deepEqual(values.query, {
      tag: ['a', 'b'],
      ids: ['1', '2'],
      words: ['x', 'y'],
      pipes: ['p', 'q'],
    });
  });

  it('deepObject and exploded form objects; comma objects', () => {
    const params = [
      p({ name: 'filter', in: 'query', shape: 'object', style: 'deepObject' }),
      p({ name: 'point', in: 'query', shape: 'object', properties: ['x', 'y'] }),
      p({ name: 'color', in: 'query', shape: 'object', explode: false }),
    ];
    const { values, violations } = read(params, 'filter[min]=1&filter[max]=9&x=3&y=4&color=R,100,G,200');
    assert.deepEqual(violations, []);
    assert.deepEqual(values.query, {
      filter: { min: '1', max: '9' },
      point: { x: '3', y: '4' },
      color: { R: '100', G: '200' },
    });
  });

  it('path label and matrix styles, header arrays, cookies, JSON content parameters', () => {
    const params = [
      p({ name: 'a', in: 'path', style: 'label' }),
      p({ name: 'b', in: 'path', style: 'matrix' }),
      p({ name: 'X-Ids', in: 'header', shape: 'array' }),
      p({ name: 'session', in: 'cookie' }),
      p({ name: 'where', in: 'query', json: true }),
    ];
    const { values, violations } = read(
      params,
      'where=%7B%22a%22%3A1%7D',
      { 'x-ids': '1, 2,3', cookie: 'theme=dark; session=abc' },
      { a: '.5', b: ';b=7' },
    );
    assert.deepEqual(violations, []);
    assert.deepEqual(values.path, { a: '5', b: '7' });
    assert.deepEqual(values.header, { 'X-Ids': ['1', '2', '3'] });
    assert.deepEqual(values.cookie, { session: 'abc' });
    assert.deepEqual(values.query, { where: { a: 1 } });
  });

  it('strict mode refuses undeclared names; a repeated primitive is refused in any mode; bad JSON too', () => {
    const params = [p({ name: 'limit', in: 'query' }), p({ name: 'q', in: 'query', json: true })];
    assert.deepEqual(read(params, 'limit=1&debug=1').violations, [
      { pointer: '/query/debug', detail: 'is not a declared query parameter' },
    ]);
    assert.deepEqual(read(params, 'limit=1&debug=1', {}, {}, false).violations, []);
    assert.deepEqual(read(params, 'limit=1&limit=2', {}, {}, false).violations, [
      { pointer: '/query/limit', detail: 'must not be repeated' },
    ]);
    assert.deepEqual(read(params, 'q=%7Bnope').violations, [{ pointer: '/query/q', detail: 'must be JSON' }]);
  });

  it('credential query parameters named by the security schemes are not undeclared', () => {
    const violations: Violation[] = [];
    readParams(
      [],
      {},
      parseQuery('api_key=k') as Map<string, string[]>,
      {},
      true,
      violations,
      new Set(['api_key']),
    );
    assert.deepEqual(violations, []);
  });

  it('pointer segments escape "/" and "~" and cut long names', () => {
    const long = 'n'.repeat(200);
    const { violations } = read([], `a%2Fb~c=1&${long}=1`);
    assert.deepEqual(
      violations.map((v) => v.pointer),
      ['/query/a~1b~0c', `/query/${'n'.repeat(64)}`],
    );
  });
});

describe('readParams: copies servers read differently', () => {
  it('a repeated cookie, a repeated exploded member and prototype names are refused', () => {
    const params = [
      p({ name: 'session', in: 'cookie' }),
      p({ name: 'range', in: 'query', shape: 'object', properties: ['min'] }),
    ];
    const r = read(
      params,
      'min=1&min=1000&__proto__=x&f[constructor]=1',
      { cookie: 'session=a; session=b' },
      {},
      false,
    );
    assert.deepEqual(
      r.violations.map((v) => `${v.pointer} ${v.detail}`),
      [
        '/cookie/session must not be repeated',
        '/query/min must not be repeated',
        '/query/__proto__ is a forbidden name',
        '/query/f[constructor] is a forbidden name',
      ],
    );
  });
});

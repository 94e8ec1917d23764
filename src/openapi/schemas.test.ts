import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SchemaCompiler, violationsOf } from './schemas.js';

const doc = {
  openapi: '3.0.3',
  components: {
    schemas: {
      Base: {
        type: 'object',
        required: ['kind'],
        properties: { kind: { type: 'string' }, id: { type: 'integer', readOnly: true } },
      },
      Cat: {
        allOf: [
          { $ref: '#/components/schemas/Base' },
          { type: 'object', properties: { meow: { type: 'boolean' } } },
        ],
      },
      Dog: {
        allOf: [
          { $ref: '#/components/schemas/Base' },
          { type: 'object', properties: { bark: { type: 'boolean' } } },
        ],
      },
      Open: { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: true },
      Free: { type: 'object' },
      Node: {
        type: 'object',
        properties: { value: { type: 'integer' }, next: { $ref: '#/components/schemas/Node' } },
      },
      Account: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          password: { type: 'string', writeOnly: true },
          meta: { $ref: '#/components/schemas/Free' },
        },
      },
    },
  },
};

const limits = { maxStringLength: 5, maxItems: 2, maxProperties: 3 };
const request = () => new SchemaCompiler(doc, { version: '3.0', strict: true, limits });

describe('SchemaCompiler: strict request schemas', () => {
  it('closes objects where they are used, so allOf composition keeps working', () => {
    const v = request().compile({ $ref: '#/components/schemas/Cat' }, 'request', 't');
    assert.equal(v({ kind: 'cat', meow: true }), true);
    assert.equal(v({ kind: 'cat', meow: true, isAdmin: true }), false);
    assert.deepEqual(violationsOf(v.errors, '/body', 'request'), [
      { pointer: '/body/isAdmin', detail: 'is not declared in the API description' },
    ]);
  });

  it('refuses read-only properties and no longer requires them', () => {
    const v = request().compile({ $ref: '#/components/schemas/Base' }, 'request', 't');
    assert.equal(v({ kind: 'x' }), true);
    assert.equal(v({ kind: 'x', id: 1 }), false);
    assert.deepEqual(violationsOf(v.errors, '/body', 'request'), [
      { pointer: '/body/id', detail: 'is read-only and may not be sent' },
    ]);
  });

  it('leaves open what the description opened on purpose, and free-form objects', () => {
    const c = request();
    assert.equal(c.compile({ $ref: '#/components/schemas/Open' }, 'request', 't')({ a: 'x', b: 1 }), true);
    assert.equal(
      c.compile({ $ref: '#/components/schemas/Free' }, 'request', 't')({ any: 1, thing: 2 }),
      true,
    );
  });

  it('adds default limits where none are set', () => {
    const v = request().compile(
      {
        type: 'object',
        properties: { s: { type: 'string' }, l: { type: 'array', items: { type: 'integer' } } },
      },
      'request',
      't',
    );
    assert.equal(v({ s: 'abcde', l: [1, 2] }), true);
    assert.equal(v({ s: 'abcdef' }), false);
    assert.equal(v({ l: [1, 2, 3] }), false);
    assert.equal(v({ s: 'a', l: [], x: 1 }), false);
  });

  it('recursive schemas compile once and validate at depth', () => {
    const v = request().compile({ $ref: '#/components/schemas/Node' }, 'request', 't');
    assert.equal(v({ value: 1, next: { value: 2, next: { value: 3 } } }), true);
    assert.equal(v({ value: 1, next: { value: 'two' } }), false);
    assert.equal(v({ value: 1, next: { value: 2, extra: true } }), false);
  });

  it('a discriminator picks one branch by the tag; an unknown tag is refused', () => {
    const schema = {
      oneOf: [{ $ref: '#/components/schemas/Cat' }, { $ref: '#/components/schemas/Dog' }],
      discriminator: { propertyName: 'kind', mapping: { cat: '#/components/schemas/Cat', dog: 'Dog' } },
    };
    const v = request().compile(schema, 'request', 't');
    // Both branches would accept {kind: "cat"} alone: plain oneOf refuses it, the discriminator does not.
    assert.equal(v({ kind: 'cat' }), true);
    assert.equal(v({ kind: 'dog', bark: true }), true);
    assert.equal(v({ kind: 'cat', bark: true }), false);
    assert.equal(v({ kind: 'cow' }), false);
  });

  it('OpenAPI 3.0 nullable and boolean exclusive bounds', () => {
    const v = request().compile(
      {
        type: 'object',
        properties: { n: { type: 'integer', nullable: true, minimum: 0, exclusiveMinimum: true } },
      },
      'request',
      't',
    );
    assert.equal(v({ n: null }), true);
    assert.equal(v({ n: 1 }), true);
    assert.equal(v({ n: 0 }), false);
  });

  it('the same schema used by many operations compiles to one validator', () => {
    const c = request();
    assert.equal(
      c.compile({ $ref: '#/components/schemas/Cat' }, 'request', 'a'),
      c.compile({ $ref: '#/components/schemas/Cat' }, 'request', 'b'),
    );
  });
});

describe('SchemaCompiler: answers', () => {
  it('strip removes undeclared and write-only properties, keeps open objects whole', () => {
    const c = new SchemaCompiler(doc, { version: '3.0', strict: true, limits: undefined });
    const value = { name: 'a', password: 'p', hash: 'h', meta: { anything: 1 } };
    assert.equal(c.strip(value, { $ref: '#/components/schemas/Account' }), 2);
    assert.deepEqual(value, { name: 'a', meta: { anything: 1 } });
    const list = [
      { kind: 'cat', meow: true, secret: 1 },
      { kind: 'dog', bark: false },
    ];
    assert.equal(
      c.strip(list, {
        type: 'array',
        items: { oneOf: [{ $ref: '#/components/schemas/Cat' }, { $ref: '#/components/schemas/Dog' }] },
      }),
      1,
    );
    assert.deepEqual(list, [
      { kind: 'cat', meow: true },
      { kind: 'dog', bark: false },
    ]);
  });

  it('response schemas are not closed (stripping handles extras) and refuse write-only members', () => {
    const c = new SchemaCompiler(doc, { version: '3.0', strict: true, limits: undefined });
    const v = c.compile({ $ref: '#/components/schemas/Account' }, 'response', 't');
    assert.equal(v({ name: 'a', extra: 1 }), true);
    assert.equal(v({ name: 'a', password: 'x' }), false);
  });
});

describe('SchemaCompiler: parameter coercion', () => {
  const c = new SchemaCompiler(doc, { version: '3.0', strict: true, limits: undefined });
  it('integers only from canonical decimals in the safe range; numbers from the JSON grammar and finite', () => {
    const int = { type: 'integer' };
    assert.equal(c.coerce('42', int), 42);
    assert.equal(c.coerce('-7', int), -7);
    for (const s of [
      '1000e-1',
      '0x64',
      '0o144',
      '0b1',
      '007',
      '1.0',
      'Infinity',
      '',
      ' 1',
      '9007199254740993',
    ])
      assert.equal(c.coerce(s, int), s, s);
    const num = { type: 'number' };
    assert.equal(c.coerce('1.5e2', num), 150);
    for (const s of ['1e400', '-1e999', 'Infinity', 'NaN', '.5', '5.', '+1'])
      assert.equal(c.coerce(s, num), s, s);
    assert.equal(c.coerce('true', { type: 'boolean' }), true);
    assert.equal(c.coerce('yes', { type: 'boolean' }), 'yes');
  });

  it('follows arrays, object properties, $refs and composition', () => {
    assert.deepEqual(c.coerce(['1', 'x'], { type: 'array', items: { type: 'integer' } }), [1, 'x']);
    const obj = c.coerce({ value: '3', next: { value: '4' } }, { $ref: '#/components/schemas/Node' });
    assert.deepEqual(JSON.parse(JSON.stringify(obj)), { value: 3, next: { value: 4 } });
    assert.equal(c.coerce('5', { oneOf: [{ type: 'integer' }, { type: 'string' }] }), 5);
  });
});

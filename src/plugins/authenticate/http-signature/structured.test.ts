import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_LIMITS,
  parseDictionary,
  parseItem,
  StructuredFieldError,
  serializeInnerList,
  serializeItem,
  serializeMember,
} from './structured.js';

const bad = (input: string, limits = DEFAULT_LIMITS) =>
  assert.throws(() => parseDictionary(input, limits), StructuredFieldError, JSON.stringify(input));

describe('structured fields (RFC 8941 subset)', () => {
  it('parses a Signature-Input dictionary with an inner list and parameters', () => {
    const d = parseDictionary(
      'sig1=("@method" "@query-param";name="Pet" "content-digest");created=1618884473;keyid="k";alg="ed25519"',
    );
    const m = d.get('sig1');
    assert.ok(m && m.kind === 'inner-list');
    assert.equal(m.items.length, 3);
    assert.deepEqual(m.items[1]?.params.get('name'), { type: 'string', value: 'Pet' });
    assert.deepEqual(m.params.get('created'), { type: 'integer', value: 1618884473 });
    assert.equal(
      serializeInnerList(m),
      '("@method" "@query-param";name="Pet" "content-digest");created=1618884473;keyid="k";alg="ed25519"',
    );
  });

  it('parses every bare item type and serializes them back', () => {
    const d = parseDictionary(
      'a=1, b=-42, c=1.5, d="x\\"y\\\\z", e=tok/en:1, f=:AQID:, g=?0, h, i;p=?1;q=2, j=()',
    );
    const ser = [...d].map(([k, v]) => `${k}=${serializeMember(v)}`);
    assert.deepEqual(ser, [
      'a=1',
      'b=-42',
      'c=1.5',
      'd="x\\"y\\\\z"',
      'e=tok/en:1',
      'f=:AQID:',
      'g=?0',
      'h=?1',
      'i=?1;p;q=2',
      'j=()',
    ]);
    assert.deepEqual((d.get('f') as { value: { value: Buffer } }).value.value, Buffer.from([1, 2, 3]));
  });

  it('tolerates whitespace where RFC 8941 allows it', () => {
    const d = parseDictionary('  a=1 ,\tb=( "x"  "y" )  ');
    assert.equal(d.size, 2);
    assert.equal(serializeMember(d.get('b') as never), '("x" "y")');
  });

  it('refuses duplicates (a stricter reading than RFC 8941)', () => {
    bad('a=1, a=2');
    bad('a=("x");created=1;created=2');
    bad('a=("x";p=1;p=2)');
  });

  it('refuses garbage', () => {
    for (const input of [
      'A=1', // upper-case key
      '1a=1',
      'a=',
      'a=1,',
      'a=1,,b=2',
      'a=1 b=2',
      'a="unterminated',
      'a="bad\\escape"',
      'a="tab\there"',
      'a="ünïcode"',
      'a=:not base64!:',
      'a=:AQID', // unterminated bytes
      'a=:A=B=:',
      'a=:A:', // impossible base64 length
      'a=?2',
      'a=1.2345', // four fractional digits
      'a=1234567890123456', // 16-digit integer
      'a=("x""y")', // no space between items
      'a=("x"',
      'a=@1659578233', // RFC 9651 date: not accepted here
      'a=%"display"',
      'a=1;',
      'a=1;P=2',
    ])
      bad(input);
  });

  it('enforces the limits', () => {
    const small = {
      ...DEFAULT_LIMITS,
      maxLength: 20,
      maxMembers: 2,
      maxInnerItems: 2,
      maxParams: 1,
      maxKeyLength: 4,
    };
    bad('a="0123456789012345678"', small);
    bad('a=1, b=2, c=3', small);
    bad('a=(1 2 3)', small);
    bad('a=1;p=1;q=2', small);
    bad('abcde=1', small);
    assert.equal(parseDictionary('a=(1 2);p=1', small).size, 1);
  });

  it('stays linear on long hostile input', () => {
    const started = performance.now();
    for (const input of ['a=("x" '.repeat(1000), `a="${'\\"'.repeat(3000)}`, `a=${'('.repeat(5000)}`])
      assert.throws(() =>
        parseDictionary(input, { ...DEFAULT_LIMITS, maxLength: 100_000, maxInnerItems: 10_000 }),
      );
    assert.ok(performance.now() - started < 500);
  });

  it('parses a single item', () => {
    assert.equal(serializeItem(parseItem('"@query-param";name="Pet"')), '"@query-param";name="Pet"');
    assert.throws(() => parseItem('"a" "b"'), StructuredFieldError);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  base64Segments,
  compact,
  decodeInto,
  htmlDecode,
  jsUnescape,
  percentDecode,
  variants,
} from './decode.js';

describe('decoding pipeline', () => {
  it('percent-decodes UTF-8 sequences and IIS %u escapes; broken sequences stay', () => {
    assert.equal(percentDecode('%3Cscript%3E'), '<script>');
    assert.equal(percentDecode('caf%C3%A9'), 'café');
    assert.equal(percentDecode('%u003c'), '<');
    assert.equal(percentDecode('100%'), '100%');
    assert.equal(percentDecode('%zz%4'), '%zz%4');
    assert.equal(percentDecode('%c0%ae%c0%ae%c0%afetc'), '../etc');
  });

  it('HTML references: named, decimal, hex, with or without ";"', () => {
    assert.equal(htmlDecode('&lt;a&gt; &#60;b&#62; &#x3c;c&#x3E; &lt'), '<a> <b> <c> <');
    assert.equal(htmlDecode('Tom &amp; Jerry &unknown;'), 'Tom & Jerry &unknown;');
    assert.equal(htmlDecode('&#99999999999;'), '&#99999999999;');
  });

  it('JS and JSON escapes', () => {
    assert.equal(jsUnescape('\\u003cscript\\x3e \\u{1F600} \\101\\n'), '<script> 😀 A\n');
    assert.equal(jsUnescape('c\\a\\t'), 'ca\t');
  });

  it('SQL comments and whitespace runs fold to one space', () => {
    assert.equal(compact('UN/**/ION\t\tSEL/*x*/ECT'), 'UN ION SEL ECT');
    assert.equal(compact('a  \n b'), 'a b');
  });

  it('printable base64 segments are decoded; binary and short ones are not', () => {
    assert.deepEqual(base64Segments(`x=${Buffer.from('<script>alert(1)</script>').toString('base64')}`), [
      '<script>alert(1)</script>',
    ]);
    assert.deepEqual(
      base64Segments(Buffer.from([0, 1, 2, 3, 250, 251, 252, 253, 254, 255, 1, 2, 3, 4]).toString('base64')),
      [],
    );
    assert.deepEqual(base64Segments('short'), []);
  });

  it('variants: as sent, fully decoded (double encoding, entities, full-width forms), folded; no duplicates', () => {
    assert.deepEqual(variants('hello'), ['hello']);
    assert.ok(variants('%253Cscript%253E').includes('<script>'));
    assert.ok(variants('＜script＞').includes('<script>'));
    assert.ok(variants('&lt;img src=x onerror=alert(1)&gt;').includes('<img src=x onerror=alert(1)>'));
    assert.ok(variants("1'/**/OR/**/1=1").includes("1' OR 1=1"));
  });

  it('a base64 segment is also read with its JS escapes undone', () => {
    const b64 = Buffer.from('{"run":"\\u0065val(1)"}').toString('base64');
    assert.ok(variants(`token=${b64}`).includes('{"run":"eval(1)"}'));
  });

  it('decodeInto writes the same forms as variants() and leaves plain values alone', () => {
    const out = ['stale', 'stale', 'stale'];
    assert.equal(decodeInto('hello', out), 1);
    assert.equal(out[0], 'hello');
    // Ids, paths and UUIDs have long base64-alphabet runs but decode to nothing printable.
    for (const v of ['/api/v1/users/8cc42459-98ae-41fb-b4a5-6c5f40171c1f', 'notification_email'])
      assert.deepEqual(variants(v), [v]);
    const chars = [...'aZ09+/-_=%&\\*<> \t\n;', '\u00e9', '\uff1c'];
    const value = fc.array(fc.constantFrom(...chars), { maxLength: 60 }).map((a) => a.join(''));
    fc.assert(
      fc.property(value, (v) => {
        const n = decodeInto(v, out);
        assert.deepEqual(out.slice(0, n), variants(v));
        assert.equal(out[0], v);
      }),
    );
  });

  it('stays linear on hostile shapes', () => {
    for (const v of ['%'.repeat(100_000), '&#'.repeat(50_000), '\\u'.repeat(50_000), '/*'.repeat(50_000)]) {
      const t = performance.now();
      variants(v);
      assert.ok(performance.now() - t < 500, `${v.slice(0, 4)}… took too long`);
    }
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exponentialShape, guardedRegExp, UnsafePatternError } from './linear-regexp.js';

describe('exponentialShape', () => {
  it('flags groups repeated without a fixed count whose body can match several ways', () => {
    for (const p of [
      '^([a-z]+)+$',
      '(a|aa)*',
      '^(\\w+\\s?)*$',
      '((ab)*)+',
      '(a{1,3}){2,}',
      '^(?:[a-z0-9]+\\.)*x$',
    ])
      assert.equal(exponentialShape(p), true, p);
  });
  it('leaves ordinary patterns alone', () => {
    for (const p of [
      '^[a-z]+-[0-9]+$',
      '^([0-9a-fA-F]{40}(?:[0-9a-fA-F]{24})?)$',
      '^(ab)+$',
      '^(a{3})+$',
      '^[(a+)+]$',
      '^\\(a+\\)+$',
      '^(a|b)$',
      '^\\d{4}-\\d{2}-\\d{2}$',
    ])
      assert.equal(exponentialShape(p), false, p);
  });
});

describe('guardedRegExp', () => {
  it('runs an exponential pattern in linear time with the same answers', () => {
    const r = guardedRegExp('^([a-z]+)+$');
    assert.equal(r.test('abc'), true);
    const t0 = performance.now();
    assert.equal(r.test(`${'a'.repeat(5000)}!`), false);
    assert.ok(performance.now() - t0 < 500);
  });
  it('refuses an exponential pattern the linear engine cannot run; reports invalid patterns as such', () => {
    assert.throws(() => guardedRegExp('^(a+)+\\1$'), UnsafePatternError);
    assert.throws(() => guardedRegExp('(('), SyntaxError);
    assert.equal(guardedRegExp('^(?=a)a$').test('a'), true, 'lookaround in a safe pattern still runs');
  });
});

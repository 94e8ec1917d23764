import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileField, FORM, mediaTypeOf, normaliseUsername, usernamesIn } from './username.js';

const json = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

describe('login-throttle usernames', () => {
  it('normalises case, width and surrounding space', () => {
    assert.equal(normaliseUsername('ALICE'), 'alice');
    assert.equal(normaliseUsername('ａｌｉｃｅ'), 'alice');
    assert.equal(normaliseUsername('\u3000Alice@Example.COM '), 'alice@example.com');
    assert.equal(normaliseUsername('   '), '');
  });

  it('reads a top-level member or a JSON pointer', () => {
    const top = compileField('username');
    assert.deepEqual(usernamesIn(top, 'application/json', json({ username: 'Bob' })), ['bob']);
    const ptr = compileField('/user/e~1mail');
    assert.deepEqual(ptr.tokens, ['user', 'e/mail']);
    assert.equal(ptr.formName, 'e/mail');
    assert.deepEqual(usernamesIn(ptr, 'application/vnd.api+json', json({ user: { 'e/mail': 'X@y' } })), [
      'x@y',
    ]);
    const arr = compileField('/users/1');
    assert.deepEqual(usernamesIn(arr, 'application/json', json({ users: ['a', 'b'] })), ['b']);
    assert.deepEqual(usernamesIn(arr, 'application/json', json({ users: { 1: 'c' } })), ['c']);
  });

  it('missing, not a string, empty, unparsable or another media type: no username', () => {
    const f = compileField('username');
    assert.deepEqual(usernamesIn(f, 'application/json', json({ user: 'a' })), []);
    assert.deepEqual(usernamesIn(f, 'application/json', json({ username: 42 })), []);
    assert.deepEqual(usernamesIn(f, 'application/json', json({ username: ['a'] })), []);
    assert.deepEqual(usernamesIn(f, 'application/json', json({ username: ' ' })), []);
    assert.deepEqual(usernamesIn(f, 'application/json', json('{"username": "a"')), []);
    assert.deepEqual(usernamesIn(f, 'application/json', json('"username"')), []);
    assert.deepEqual(usernamesIn(f, 'application/json', json('null')), []);
    assert.deepEqual(usernamesIn(f, 'text/plain', json({ username: 'a' })), []);
    assert.deepEqual(usernamesIn(f, 'application/json', Buffer.alloc(0)), []);
    assert.deepEqual(usernamesIn(compileField('/__proto__/x'), 'application/json', json({})), []);
    assert.deepEqual(usernamesIn(compileField('constructor'), 'application/json', json({})), []);
    assert.deepEqual(usernamesIn(compileField('/a/b'), 'application/json', json({ a: 'str' })), []);
    // Deep nesting does not throw.
    assert.deepEqual(
      usernamesIn(f, 'application/json', json(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)),
      [],
    );
  });

  it('a repeated JSON member counts its first and last values; escapes and nesting are read right', () => {
    const f = compileField('username');
    const dup = Buffer.from('{"username": "a", "x": {"username": "n"}, "username": 7, "username": "C"}');
    assert.deepEqual(usernamesIn(f, 'application/json', dup), ['a', 'c']);
    const esc = Buffer.from('{"us\\u0065rname": "B\\"ob", "list": ["username", {"username": "q"}]}');
    assert.deepEqual(usernamesIn(f, 'application/json', esc), ['b"ob']);
    const ptr = compileField('/user/email');
    const nested = Buffer.from('{"user": {"email": [1], "x": "y"}, "email": "no", "user": {"email": "Z"}}');
    assert.deepEqual(usernamesIn(ptr, 'application/json', nested), ['z']);
    const proto = Buffer.from('{"__proto__": {"x": "A"}}');
    assert.deepEqual(usernamesIn(compileField('/__proto__/x'), 'application/json', proto), ['a']);
    const arr = compileField('/u/2');
    assert.deepEqual(
      usernamesIn(arr, 'application/json', Buffer.from('{"u": ["a", {"b": "c"}, "d", "e"]}')),
      ['d'],
    );
  });

  it('reads forms; a repeated field counts its first and last values', () => {
    const f = compileField('username');
    assert.deepEqual(usernamesIn(f, FORM, Buffer.from('username=Al%C3%8Dce+B&password=x')), ['alice b']);
    assert.deepEqual(usernamesIn(f, FORM, Buffer.from('username=a&username=b&username=c')), ['a', 'c']);
    assert.deepEqual(usernamesIn(f, FORM, Buffer.from('username=a&username=A')), ['a']);
    assert.deepEqual(usernamesIn(f, FORM, Buffer.from('user=a')), []);
    assert.deepEqual(usernamesIn(f, FORM, Buffer.from('username=%zz')), ['%zz']);
    assert.deepEqual(usernamesIn(compileField('/user/email'), FORM, Buffer.from('email=E')), ['e']);
  });

  it('folds spellings an accent- and ignorable-insensitive account store reads as one', () => {
    const f = compileField('username');
    const one = (raw: string) =>
      usernamesIn(f, 'application/json', Buffer.from(JSON.stringify({ username: raw })));
    for (const s of [
      'alice',
      'ALICE',
      'ａｌｉｃｅ',
      'alicé',
      'àlice',
      'ali\u200bce',
      'alice\u00ad',
      'al\u2060ice',
      ' Alice ',
    ])
      assert.deepEqual(one(s), ['alice'], JSON.stringify(s));
  });

  it('reads a JSON body behind a UTF-8 byte order mark, and UTF-16 JSON', () => {
    const f = compileField('username');
    const json = JSON.stringify({ username: 'alice', password: 'x' });
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json)]);
    assert.deepEqual(usernamesIn(f, 'application/json', bom), ['alice']);
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(json, 'utf16le')]);
    assert.deepEqual(usernamesIn(f, 'application/json', le), ['alice']);
    assert.deepEqual(usernamesIn(f, 'application/json', Buffer.from(json, 'utf16le')), ['alice']);
    const be = Buffer.from(json, 'utf16le');
    be.swap16();
    assert.deepEqual(usernamesIn(f, 'application/json', be), ['alice']);
  });

  it('refuses a malformed pointer at start-up', () => {
    assert.throws(() => compileField('/a~2'), /~/);
    assert.throws(() => compileField('/a//b'), /empty/);
  });

  it('media types', () => {
    assert.equal(mediaTypeOf('Application/JSON; charset=utf-8'), 'application/json');
    assert.equal(mediaTypeOf(undefined), '');
  });
});

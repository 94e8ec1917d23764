import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { normalizePath } from './normalize.js';

const REFUSED = undefined;

/** [input, expected with mergeSlashes, expected without (defaults to the first)] */
const TABLE: readonly (readonly [string, string | undefined, (string | undefined)?])[] = [
  // already normal: returned as is
  ['/', '/'],
  ['/items', '/items'],
  ['/items/', '/items/'],
  ['/a/b;c=d', '/a/b;c=d'],
  ['/.well-known/x', '/.well-known/x'],
  ['/a/...', '/a/...'],
  // dot segments (RFC 3986 §5.2.4)
  ['/a/./b/../c', '/a/c'],
  ['/a/b/..', '/a/'],
  ['/a/b/.', '/a/b/'],
  ['/a/.', '/a/'],
  ['/.', '/'],
  ['/a/..', '/'],
  ['/a/b/../../c', '/c'],
  ['/a/%2e%2e/b', '/b'],
  ['/a/%2E/b', '/a/b'],
  ['/a/.%2e/b', '/b'],
  // percent-encoding: unreserved decoded, the rest upper-cased
  ['/%7Euser', '/~user'],
  ['/%7euser', '/~user'],
  ['/%61%62%63', '/abc'],
  ['/a%3bb', '/a%3Bb'],
  ['/a%20b', '/a%20b'],
  ['/%e2%82%ac', '/%E2%82%AC'],
  ['/%F0%9F%98%80', '/%F0%9F%98%80'],
  ['/%25', '/%25'],
  ['/%25zz', '/%25zz'],
  // slashes
  ['//a', '/a', '//a'],
  ['/a//b', '/a/b', '/a//b'],
  ['/a//', '/a/', '/a//'],
  ['//', '/', '//'],
  ['/a//..', '/', '/a/'],
  // refused: climbing above the root
  ['/..', REFUSED],
  ['/../a', REFUSED],
  ['/a/../..', REFUSED],
  ['/%2e%2e', REFUSED],
  ['/%2E%2E/etc/passwd', REFUSED],
  ['/./..', REFUSED],
  ['//..', REFUSED, '/'],
  // refused: encoded or raw separators
  ['/a%2fb', REFUSED],
  ['/a%2Fb', REFUSED],
  ['/a%5cb', REFUSED],
  ['/a%5Cb', REFUSED],
  ['/a\\b', REFUSED],
  ['/a\\..\\b', REFUSED],
  // refused: invalid percent-encoding
  ['/%', REFUSED],
  ['/%4', REFUSED],
  ['/%zz', REFUSED],
  ['/%g0', REFUSED],
  ['/%u002e', REFUSED],
  ['/%%32%65', REFUSED],
  // refused: double encoding, sent raw or itself encoded
  ['/a/%252e', REFUSED],
  ['/a/%252f', REFUSED],
  ['/a/%255c', REFUSED],
  ['/%252e%252e/x', REFUSED],
  ['/%25%32%66', REFUSED],
  ['/%25%32%65%25%32%65/x', REFUSED],
  ['/%25%41%42', REFUSED],
  ['/%25u002e', REFUSED],
  ['/%25%75002e', REFUSED],
  // refused: control characters, NUL, space, fragment, raw non-ASCII
  ['/a%00', REFUSED],
  ['/a%0a', REFUSED],
  ['/a%0D%0Ab', REFUSED],
  ['/a%7f', REFUSED],
  ['/a\u0000', REFUSED],
  ['/a b', REFUSED],
  ['/a#b', REFUSED],
  ['/caf\u00e9', REFUSED],
  // refused: encoded bytes that are not UTF-8 (overlong dots and slashes, stray bytes, cut sequences)
  ['/%c0%ae%c0%ae/x', REFUSED],
  ['/%c0%af', REFUSED],
  ['/%e0%80%ae', REFUSED],
  ['/%ff', REFUSED],
  ['/%80', REFUSED],
  ['/%c3', REFUSED],
  ['/%c3/%a9', REFUSED],
  ['/%ed%a0%80', REFUSED],
  ['/%f4%90%80%80', REFUSED],
  // refused: dot segments with path parameters (read as ".." by servers that strip ";…")
  ['/..;/admin', REFUSED],
  ['/a/..;/b', REFUSED],
  ['/a/..;x=1/b', REFUSED],
  ['/a/.;/b', REFUSED],
  ['/a/%2e%2e;/b', REFUSED],
  // refused: not origin-form
  ['', REFUSED],
  ['a/b', REFUSED],
  ['*', REFUSED],
  ['http://evil.example/a', REFUSED],
];

describe('normalizePath: table', () => {
  for (const row of TABLE) {
    const [input, merged] = row;
    const unmerged = row.length === 3 ? row[2] : merged;
    it(`${JSON.stringify(input)} → ${JSON.stringify(merged)}`, () => {
      assert.equal(normalizePath(input, true), merged, 'mergeSlashes: true');
      assert.equal(normalizePath(input, false), unmerged, 'mergeSlashes: false');
    });
  }
});

// Characters a path may carry, weighted towards the ones that matter for normalization.
const pathChar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('/', '.', '%', ';', 'a', 'b', '~', '-', '_') },
  { weight: 4, arbitrary: fc.constantFrom('2', '5', 'e', 'E', 'f', 'F', 'c', 'C', '0', '3', '4', '7') },
  { weight: 2, arbitrary: fc.constantFrom('%2e', '%2E', '%2f', '%5c', '%25', '%7e', '%41', '%c3%a9', '%C0') },
  { weight: 1, arbitrary: fc.constantFrom('\\', '#', ' ', '?', '\u0000', '\u00e9', ':', '@', '!', '$') },
);
const hostilePath = fc.array(pathChar, { maxLength: 40 }).map((parts) => `/${parts.join('')}`);
const anyPath = fc.oneof(
  hostilePath,
  fc.string({ maxLength: 40 }).map((s) => `/${s}`),
);
const merge = fc.boolean();

function segments(path: string): string[] {
  return path.split('/').slice(1);
}

describe('normalizePath: properties', () => {
  it('is idempotent: normalize(normalize(x)) === normalize(x)', () => {
    fc.assert(
      fc.property(anyPath, merge, (p, m) => {
        const once = normalizePath(p, m);
        if (once === undefined) return;
        assert.equal(normalizePath(once, m), once);
      }),
      { numRuns: 5000 },
    );
  });

  it('never returns a "." or ".." segment', () => {
    fc.assert(
      fc.property(anyPath, merge, (p, m) => {
        const out = normalizePath(p, m);
        if (out === undefined) return;
        for (const seg of segments(out)) {
          assert.notEqual(seg, '.');
          assert.notEqual(seg, '..');
          assert.ok(!/^\.\.?;/.test(seg), `dot segment with parameters in ${out}`);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('never returns an encoded separator, a backslash or double encoding', () => {
    fc.assert(
      fc.property(anyPath, merge, (p, m) => {
        const out = normalizePath(p, m);
        if (out === undefined) return;
        const upper = out.toUpperCase();
        assert.ok(!upper.includes('%2F'), out);
        assert.ok(!upper.includes('%5C'), out);
        assert.ok(!out.includes('\\'), out);
        assert.ok(!/%25([0-9A-Fa-f]{2}|[uU])/.test(out), out);
      }),
      { numRuns: 5000 },
    );
  });

  it('returns an origin-form path of printable ASCII with well-formed, upper-case escapes', () => {
    fc.assert(
      fc.property(anyPath, merge, (p, m) => {
        const out = normalizePath(p, m);
        if (out === undefined) return;
        assert.equal(out[0], '/');
        assert.ok(/^[\x21-\x7e]*$/.test(out), out);
        assert.ok(!out.includes('#'), out);
        for (let i = out.indexOf('%'); i !== -1; i = out.indexOf('%', i + 1))
          assert.ok(/^%[0-9A-F]{2}/.test(out.slice(i, i + 3)), out);
        // Decoding once gives valid UTF-8 (decodeURIComponent throws otherwise) without a new "/".
        const decoded = decodeURIComponent(out);
        assert.equal(decoded.split('/').length, out.split('/').length, out);
      }),
      { numRuns: 5000 },
    );
  });

  it('with mergeSlashes, never returns an empty segment except a trailing one', () => {
    fc.assert(
      fc.property(anyPath, (p) => {
        const out = normalizePath(p, true);
        if (out === undefined) return;
        const segs = segments(out);
        for (let i = 0; i < segs.length - 1; i++) assert.notEqual(segs[i], '', out);
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with URL resolution on paths of plain segments and dot segments', () => {
    const seg = fc.constantFrom('a', 'b', 'c1', '.', '..', '~x');
    fc.assert(
      fc.property(fc.array(seg, { minLength: 1, maxLength: 8 }), (segs) => {
        const p = `/${segs.join('/')}`;
        const out = normalizePath(p, true);
        // URL clamps ".." at the root where we refuse; elsewhere the two must agree.
        if (out !== undefined) assert.equal(out, new URL(p, 'http://x').pathname);
      }),
      { numRuns: 2000 },
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeHtu, normalizeOrigins, normalizePercent, requestTarget } from './htu.js';

describe('htu normalization', () => {
  it('percent-encoding: unreserved decoded, others upper-cased, broken escapes refused', () => {
    assert.equal(normalizePercent('/a%7eb%2fc%41'), '/a~b%2FcA');
    assert.equal(normalizePercent('/plain'), '/plain');
    assert.equal(normalizePercent('/bad%zz'), undefined);
    assert.equal(normalizePercent('/cut%4'), undefined);
  });

  it('absolute http(s) URIs only; no userinfo; query and fragment dropped', () => {
    assert.deepEqual(normalizeHtu('HTTP://EXAMPLE.com:80/a/./b/../c?q#f'), {
      origin: 'http://example.com',
      path: '/a/c',
    });
    assert.deepEqual(normalizeHtu('https://[::1]:8443/x'), { origin: 'https://[::1]:8443', path: '/x' });
    for (const bad of [
      '/relative',
      'mailto:a@b',
      'https://u:p@example.com/',
      'javascript:alert(1)',
      '',
      'x'.repeat(9000),
    ])
      assert.equal(normalizeHtu(bad), undefined, bad.slice(0, 20));
  });

  it('request target from scheme, Host and the origin-form path', () => {
    assert.deepEqual(requestTarget('https', 'API.example.com:443', '/items/%7e?x=1'), {
      origin: 'https://api.example.com',
      path: '/items/~',
    });
    assert.deepEqual(requestTarget('http', '127.0.0.1:8080', '/'), {
      origin: 'http://127.0.0.1:8080',
      path: '/',
    });
    for (const [host, url] of [
      [undefined, '/'],
      ['a.example', undefined],
      ['a.example/evil', '/'],
      ['user@a.example', '/'],
      ['a.example?', '/'],
      ['a.example#', '/'],
      ['a.example\\b', '/'],
      ['', '/'],
      ['a.example', 'http://b.example/'],
      ['a.example', '*'],
    ] as const)
      assert.equal(requestTarget('https', host, url), undefined, `${host} ${url}`);
  });

  it('configured origins: bare http(s) origins only', () => {
    assert.deepEqual(
      [...normalizeOrigins(['https://API.example.com/', 'http://x.example:8080'])],
      ['https://api.example.com', 'http://x.example:8080'],
    );
    for (const bad of ['https://a.example/p', 'https://a.example?x', 'a.example', 'ws://a.example'])
      assert.throws(() => normalizeOrigins([bad]), /origins\[0\]/, bad);
  });
});

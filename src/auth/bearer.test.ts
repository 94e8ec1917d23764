import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import {
  bearerFromHeader,
  bearerFromQuery,
  callEndpoint,
  checkEndpointUrl,
  createEndpointAgent,
  isB64Token,
  isJwtShaped,
  MAX_TOKEN_LENGTH,
  TtlCache,
  takeQueryParameter,
} from './bearer.js';

describe('bearer token extraction', () => {
  it('reads Bearer and DPoP tokens, scheme case-insensitive', () => {
    assert.deepEqual(bearerFromHeader('Bearer abc.def-_~+/='), {
      token: 'abc.def-_~+/=',
      scheme: 'Bearer',
      from: 'header',
    });
    assert.deepEqual(bearerFromHeader('bearer  abc'), { token: 'abc', scheme: 'Bearer', from: 'header' });
    assert.deepEqual(bearerFromHeader('DPoP abc'), { token: 'abc', scheme: 'DPoP', from: 'header' });
    assert.deepEqual(bearerFromHeader('dpop abc'), { token: 'abc', scheme: 'DPoP', from: 'header' });
    assert.equal(bearerFromHeader('DPoP abc', false), undefined);
  });

  it('other schemes are not tokens (Node trims a bare "Bearer " to "Bearer")', () => {
    for (const v of [
      undefined,
      '',
      'Basic dXNlcjpwdw==',
      'ApiKey pcl_x',
      'Bearer',
      'Bearerabc',
      'Signature x',
      'BearerX abc',
    ])
      assert.equal(bearerFromHeader(v), undefined, String(v));
  });

  it('refuses tokens of the wrong syntax or size', () => {
    for (const v of [
      'Bearer a b',
      'Bearer a,b',
      'Bearer ä',
      'Bearer =abc',
      'Bearer ===',
      'Bearer a=b',
      'Bearer a"b',
      'Bearer a\tb',
    ])
      assert.deepEqual(bearerFromHeader(v), { error: 'malformed' }, v);
    assert.deepEqual(bearerFromHeader(`Bearer ${'a'.repeat(MAX_TOKEN_LENGTH + 1)}`), { error: 'oversized' });
    assert.ok('token' in (bearerFromHeader(`Bearer ${'a'.repeat(MAX_TOKEN_LENGTH)}`) ?? {}));
  });

  it('b64token check is linear on hostile input', () => {
    const long = `${'a'.repeat(MAX_TOKEN_LENGTH - 1)}!`;
    const start = performance.now();
    for (let i = 0; i < 1000; i++) isB64Token(long);
    assert.ok(performance.now() - start < 1000);
    assert.equal(isB64Token(long), false);
  });

  it('JWT shape: three base64url segments, header and payload not empty', () => {
    assert.equal(isJwtShaped('a.b.c'), true);
    assert.equal(isJwtShaped('a.b.'), true, 'unsigned tokens still look like JWTs (refused later)');
    for (const t of ['a.b', 'a.b.c.d', '.b.c', 'a..c', 'a+b.c.d', 'a/b.c.d', 'a.b.c=', 'abc', 'a.b.c.d.e'])
      assert.equal(isJwtShaped(t), false, t);
  });

  it('query tokens: taken out of the query, decoded, one at most', () => {
    assert.deepEqual(takeQueryParameter('a=1&access_token=xyz&b=2', 'access_token'), {
      values: ['xyz'],
      rest: 'a=1&b=2',
    });
    assert.deepEqual(takeQueryParameter('access%5Ftoken=x%2By', 'access_token'), {
      values: ['x+y'],
      rest: '',
    });
    assert.deepEqual(takeQueryParameter('a=1', 'access_token'), { values: [], rest: 'a=1' });
    assert.deepEqual(takeQueryParameter('access_token=%E0%A4%A', 'access_token').values, ['\0']);
    assert.deepEqual(bearerFromQuery(['a', 'b']), { error: 'multiple_tokens' });
    assert.deepEqual(bearerFromQuery(['\0']), { error: 'malformed' });
    assert.deepEqual(bearerFromQuery(['x.y.z']), { token: 'x.y.z', scheme: 'Bearer', from: 'query' });
  });
});

describe('identity-provider endpoints', () => {
  it('https anywhere, http only to loopback, no credentials or fragment in the URL', () => {
    for (const ok of [
      'https://idp.example/jwks',
      'http://127.0.0.1:8080/x',
      'http://localhost/x',
      'http://[::1]:9/x',
    ])
      assert.doesNotThrow(() => checkEndpointUrl(ok, 'u'), ok);
    for (const bad of [
      'http://idp.example/x',
      'http://10.0.0.1/x',
      'ftp://idp/x',
      'file:///etc/passwd',
      'https://a:b@idp/x',
      'https://idp/x#f',
      'nope',
    ])
      assert.throws(() => checkEndpointUrl(bad, 'u'), /^Error: u /, bad);
  });

  it('answers larger than the limit are refused; slow ones time out', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/big') res.end('x'.repeat(5000));
      else if (req.url === '/chunked') {
        res.write('x'.repeat(3000));
        res.end('x'.repeat(3000));
      }
      // '/slow' never answers
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const agent = createEndpointAgent(200);
    try {
      const call = { method: 'GET' as const, timeoutMs: 200, maxBytes: 4096 };
      await assert.rejects(callEndpoint(agent, new URL(`${base}/big`), call), { kind: 'too_large' });
      await assert.rejects(callEndpoint(agent, new URL(`${base}/chunked`), call), { kind: 'too_large' });
      await assert.rejects(callEndpoint(agent, new URL(`${base}/slow`), call), { kind: 'timeout' });
      await assert.rejects(callEndpoint(agent, new URL('http://127.0.0.1:1/'), call), { kind: 'network' });
    } finally {
      await agent.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('TtlCache', () => {
  it('expires entries and evicts the oldest when full', () => {
    const c = new TtlCache<number>(2);
    c.set('a', 1, 100);
    c.set('b', 2, 100);
    assert.equal(c.get('a', 50), 1);
    assert.equal(c.get('a', 100), undefined, 'expired at expiresAt');
    c.set('c', 3, 200);
    c.set('d', 4, 200);
    assert.equal(c.size, 2);
    assert.equal(c.get('b', 0), undefined);
    assert.equal(c.get('d', 0), 4);
    const off = new TtlCache<number>(0);
    off.set('a', 1, 100);
    assert.equal(off.get('a', 0), undefined);
  });
});

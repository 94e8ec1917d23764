import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
} from '../helpers.js';

/** A real JWK Set endpoint on port 0 that counts its hits and can misbehave on demand. */
interface JwksServer {
  url: string;
  hits: number;
  keys: JWK[];
  mode: 'ok' | 'hang' | '500' | 'garbage';
  cacheControl: string | undefined;
  close(): Promise<void>;
}

async function startJwks(keys: JWK[] = []): Promise<JwksServer> {
  const state = {
    hits: 0,
    keys,
    mode: 'ok' as JwksServer['mode'],
    cacheControl: undefined as string | undefined,
  };
  const server: Server = createServer((_req, res) => {
    state.hits++;
    if (state.mode === 'hang') return; // never answers: the gateway's timeout must fire
    if (state.mode === '500') {
      res.writeHead(500).end('oops');
      return;
    }
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (state.cacheControl) headers['cache-control'] = state.cacheControl;
    res
      .writeHead(200, headers)
      .end(state.mode === 'garbage' ? '{"keys": [' : JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/jwks`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  }) as JwksServer;
}

interface Pair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}
async function keyPair(alg: string, kid: string): Promise<Pair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ISS = 'https://idp.test';
const ROT = 'https://rotating.test';
const FLAKY = 'https://flaky.test';

describe('jwt authenticator through the gateway', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let jwks: JwksServer;
  let rotating: JwksServer;
  let flaky: JwksServer;
  let attacker: JwksServer;
  let rsa: Pair;
  let ec: Pair;
  let rot1: Pair;
  let rot2: Pair;
  let flaky1: Pair;
  let evil: Pair;

  const claims = (over: Record<string, unknown> = {}) => ({
    iss: ISS,
    aud: 'orders-api',
    sub: 'alice',
    exp: nowS() + 600,
    iat: nowS(),
    scope: 'orders:read',
    jti: `j-${Math.random()}`,
    ...over,
  });
  const sign = (pair: Pair, over: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
    new SignJWT(claims(over))
      .setProtectedHeader({ alg: String(pair.jwk.alg), kid: String(pair.jwk.kid), ...header })
      .sign(pair.privateKey);

  const issuerFor = (issuer: string, jwksUri: string, over: Record<string, unknown> = {}) => ({
    issuer,
    audience: ['orders-api'],
    jwksUri,
    jwks: { cooldownSeconds: 1, timeoutMs: 300 },
    ...over,
  });
  const route = (id: string, jwt: Record<string, unknown>) => ({
    id,
    path: `/${id}`,
    methods: ['GET'],
    upstream: 'api',
    // Many refusals come from one client IP here: never lock (auth-lockout has its own tests).
    plugins: {
      authentication: { anonymous: false },
      'auth-lockout': { perIp: { threshold: 0 }, perCredential: { threshold: 0 } },
      jwt,
    },
  });

  before(async () => {
    upstream = await startUpstream();
    [rsa, ec, rot1, rot2, flaky1, evil] = await Promise.all([
      keyPair('RS256', 'rsa-1'),
      keyPair('ES256', 'ec-1'),
      keyPair('RS256', 'rot-1'),
      keyPair('ES256', 'rot-2'),
      keyPair('RS256', 'flaky-1'),
      keyPair('RS256', 'rsa-1'), // the attacker reuses the real kid
    ]);
    jwks = await startJwks([rsa.jwk, ec.jwk]);
    rotating = await startJwks([rot1.jwk]);
    flaky = await startJwks([flaky1.jwk]);
    attacker = await startJwks([evil.jwk]);
    const main = { issuers: [issuerFor(ISS, jwks.url)], revokedJtis: ['revoked-jti'] };
    gw = await startGateway(
      baseConfig(upstream.url, {
        routes: [
          route('api', main),
          route('typed', { issuers: [issuerFor(ISS, jwks.url, { typ: ['at+jwt'] })] }),
          route('query', { ...main, queryParameter: 'access_token' }),
          route('noforward', { ...main, forwardToken: false }),
          route('rot', { issuers: [issuerFor(ROT, rotating.url)] }),
          route('flaky', { issuers: [issuerFor(FLAKY, flaky.url)] }),
        ],
      }),
    );
  });
  after(async () => {
    await gw.close();
    await Promise.all([upstream, jwks, rotating, flaky, attacker].map((s) => s.close()));
  });

  const call = (path: string, token?: string, scheme = 'Bearer') =>
    fetch(
      `${gw.url}${path}`,
      token === undefined ? {} : { headers: { authorization: `${scheme} ${token}` } },
    );

  /** Refused with 401 UNAUTHENTICATED, the given challenge, and never proxied. */
  async function refused(
    path: string,
    token: string | undefined,
    challenge = 'Bearer realm="portcullis", error="invalid_token"',
  ): Promise<void> {
    const before = upstream.calls.length;
    const res = await call(path, token);
    const body = await res.text();
    assert.equal(res.status, 401, body);
    assert.equal(problemOf(res.headers.get('content-type'), body).code, 'UNAUTHENTICATED');
    assert.equal(res.headers.get('www-authenticate'), challenge);
    assert.equal(upstream.calls.length, before, 'the upstream must not be called');
  }

  it('valid RS256 and ES256 tokens pass; the upstream gets the request and the verified identity', async () => {
    for (const pair of [rsa, ec]) {
      const token = await sign(pair);
      const before = upstream.calls.length;
      const res = await call('/api', token);
      assert.equal(res.status, 200, await res.text());
      assert.equal(upstream.calls.length, before + 1);
      const seen = upstream.calls.at(-1)?.headers ?? {};
      assert.equal(seen.authorization, `Bearer ${token}`);
      assert.equal(seen['x-portcullis-principal'], `jwt:${ISS}|alice`);
      assert.equal(seen['x-portcullis-auth-method'], 'jwt');
      assert.equal(seen['x-portcullis-scopes'], 'orders:read');
    }
    assert.equal(jwks.hits, 1, 'one JWKS fetch for both keys');
  });

  it('a cached token passes again without another JWKS fetch', async () => {
    const token = await sign(rsa);
    for (let i = 0; i < 3; i++) assert.equal((await call('/api', token)).status, 200);
    assert.equal(jwks.hits, 1);
  });

  it('no token: 401 with the route challenge, not proxied', async () => {
    await refused('/api', undefined, 'Bearer realm="portcullis"');
  });

  it('alg none (any spelling) is refused', async () => {
    for (const alg of ['none', 'None', 'NONE']) {
      await refused('/api', `${b64({ alg, kid: 'rsa-1' })}.${b64(claims())}.`);
      await refused('/api', `${b64({ alg, kid: 'rsa-1' })}.${b64(claims())}.c2ln`);
    }
  });

  it('alg confusion: HS256 signed with the RSA public key as the secret is refused', async () => {
    const pem = await exportSPKI(rsa.publicKey);
    for (const secret of [pem, pem.trim(), JSON.stringify(rsa.jwk)]) {
      const token = await new SignJWT(claims())
        .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
        .sign(new TextEncoder().encode(secret));
      await refused('/api', token);
    }
  });

  it('kid with path traversal or SQL is just an unknown kid (and costs no extra JWKS fetch storm)', async () => {
    const hits = jwks.hits;
    for (const kid of [
      '../../../../etc/passwd',
      "x' OR '1'='1",
      '1; DROP TABLE keys; --',
      '__proto__',
      'rsa-1\u0000',
    ])
      await refused('/api', await sign(rsa, {}, { kid }));
    assert.ok(jwks.hits <= hits + 1, `JWKS hits ${jwks.hits - hits}`);
  });

  it('jku / x5u / jwk / x5c headers pointing elsewhere are ignored: an attacker-signed token is refused', async () => {
    const header = {
      jku: attacker.url,
      x5u: attacker.url,
      jwk: evil.jwk,
      x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'],
    };
    await refused('/api', await sign(evil, {}, header));
    await refused(
      '/api',
      await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', jwk: evil.jwk }).sign(evil.privateKey),
    );
    assert.equal(attacker.hits, 0, 'the gateway never fetched the attacker URL');
  });

  it('expired, not yet valid, wrong audience, wrong issuer, missing exp, revoked jti are refused', async () => {
    await refused('/api', await sign(rsa, { exp: nowS() - 120 }));
    await refused('/api', await sign(rsa, { nbf: nowS() + 600 }));
    await refused('/api', await sign(rsa, { aud: 'billing-api' }));
    await refused('/api', await sign(rsa, { iss: 'https://evil.test' }));
    await refused('/api', await sign(rsa, { exp: undefined }));
    await refused('/api', await sign(rsa, { jti: 'revoked-jti' }));
  });

  it('a tampered token is refused, also after the original was cached', async () => {
    const token = await sign(rsa, { sub: 'bob' });
    assert.equal((await call('/api', token)).status, 200);
    const [h, p, s] = token.split('.') as [string, string, string];
    const admin = b64({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'admin' });
    await refused('/api', `${h}.${admin}.${s}`);
    await refused('/api', `${h}.${p}.${s.slice(0, -4)}AAAA`);
  });

  it('malformed and oversized tokens are refused', async () => {
    await refused('/api', 'a b');
    await refused('/api', 'abc%def');
    await refused('/api', `${b64({ alg: 'RS256' })}.!!!.${'A'.repeat(10)}`);
    await refused('/api', 'eyJhbGciOi.eyJzdWIi.c2ln'); // JWT-shaped, not JSON
    await refused('/api', `${b64({ alg: 'RS256', kid: 'rsa-1' })}.${'A'.repeat(9000)}.AAAA`);
    // Not JWT-shaped (opaque): not a credential the jwt authenticator takes; the route challenge.
    await refused('/api', 'opaque-token-value', 'Bearer realm="portcullis"');
  });

  it('a token in the query is not read when queryParameter is off', async () => {
    const token = await sign(rsa);
    const before = upstream.calls.length;
    const res = await fetch(`${gw.url}/api?access_token=${token}`);
    assert.equal(res.status, 401);
    assert.equal(problemOf(res.headers.get('content-type'), await res.text()).code, 'UNAUTHENTICATED');
    assert.equal(upstream.calls.length, before);
  });

  it('queryParameter on: the token is read, and removed from the URL sent upstream', async () => {
    const token = await sign(rsa);
    const res = await fetch(`${gw.url}/query?a=1&access_token=${token}&b=2`);
    assert.equal(res.status, 200);
    assert.equal(upstream.calls.at(-1)?.url, '/query?a=1&b=2');
    assert.equal(upstream.calls.at(-1)?.headers.authorization, `Bearer ${token}`, 'moved to the header');
    // Both a header and a query token: refused (RFC 6750 allows one method per request).
    const before = upstream.calls.length;
    const both = await fetch(`${gw.url}/query?access_token=${token}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(both.status, 401);
    assert.equal(both.headers.get('www-authenticate'), 'Bearer realm="portcullis", error="invalid_request"');
    assert.equal(upstream.calls.length, before);
  });

  it('typ: a route that wants at+jwt refuses other types', async () => {
    await refused('/typed', await sign(rsa));
    await refused('/typed', await sign(rsa, {}, { typ: 'JWT' }));
    assert.equal((await call('/typed', await sign(rsa, {}, { typ: 'at+jwt' }))).status, 200);
  });

  it('forwardToken false: the upstream never sees the token', async () => {
    const res = await call('/noforward', await sign(rsa));
    assert.equal(res.status, 200);
    assert.equal(upstream.calls.at(-1)?.headers.authorization, undefined);
  });

  it('key rotation: a new kid is accepted after one refetch; unknown kids refetch at most once per cooldown', async () => {
    const signRot = (pair: Pair, kid?: string) => sign(pair, { iss: ROT }, kid ? { kid } : {});
    assert.equal((await call('/rot', await signRot(rot1))).status, 200);
    assert.equal(rotating.hits, 1);
    // rot-2 is not published yet, and the cooldown (1 s) has not passed: no refetch.
    await refused('/rot', await signRot(rot2));
    assert.equal(rotating.hits, 1);
    rotating.keys = [rot1.jwk, rot2.jwk];
    await sleep(1100);
    assert.equal((await call('/rot', await signRot(rot2))).status, 200);
    assert.equal(rotating.hits, 2, 'exactly one refetch');
    // A burst of unknown kids right after: no new fetch inside the cooldown.
    for (let i = 0; i < 20; i++) await refused('/rot', await signRot(rot2, `random-${i}`));
    assert.equal(rotating.hits, 2);
    assert.equal((await call('/rot', await signRot(rot1))).status, 200, 'old key still served');
  });

  it('JWKS down: known keys keep working; an unknown kid answers 503 AUTH_UNAVAILABLE', async () => {
    const signFlaky = (kid?: string) => sign(flaky1, { iss: FLAKY }, kid ? { kid } : {});
    assert.equal((await call('/flaky', await signFlaky())).status, 200);
    assert.equal(flaky.hits, 1);
    flaky.mode = 'hang';
    await sleep(1100);
    const before = upstream.calls.length;
    const res = await call('/flaky', await signFlaky('rotated-away'));
    const body = await res.text();
    assert.equal(res.status, 503, body);
    assert.equal(problemOf(res.headers.get('content-type'), body).code, 'AUTH_UNAVAILABLE');
    assert.equal(upstream.calls.length, before);
    assert.equal(flaky.hits, 2);
    // Inside the cooldown after a failed fetch: still undecidable, no new fetch.
    assert.equal((await call('/flaky', await signFlaky('other-unknown'))).status, 503);
    assert.equal(flaky.hits, 2);
    // A new token with the known key: verified with the cached key while the endpoint is down.
    assert.equal((await call('/flaky', await signFlaky())).status, 200);
    for (const mode of ['500', 'garbage'] as const) {
      flaky.mode = mode;
      await sleep(1100);
      assert.equal((await call('/flaky', await signFlaky(`unknown-${mode}`))).status, 503, mode);
      assert.equal((await call('/flaky', await signFlaky())).status, 200, mode);
    }
    flaky.mode = 'ok';
  });
});

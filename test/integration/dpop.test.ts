import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  CompactSign,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';
import {
  baseConfig,
  problemOf,
  rawRequest,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
} from '../helpers.js';
import { deletePrefix, REDIS_URL, redisSkipReason, uniquePrefix } from '../stores/redis-env.js';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

interface ProofKey {
  privateKey: PrivateKey;
  jwk: JWK;
  jkt: string;
}

async function proofKey(): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

// Many refusals come from one client IP here: count them, never lock (auth-lockout has its own tests).
const noLockout = { perIp: { threshold: 0 }, perCredential: { threshold: 0 } };

const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

let jti = 0;

/** A DPoP proof; claims and header fields override the defaults (undefined removes one). */
async function proof(
  key: ProofKey,
  htu: string,
  token: string,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const payload: Record<string, unknown> = {
    jti: `proof-${process.pid}-${++jti}`,
    htm: 'GET',
    htu,
    iat: Math.floor(Date.now() / 1000),
    ath: ath(token),
    ...claims,
  };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk, ...header } as never)
    .sign(key.privateKey);
}

describe('DPoP-bound access tokens (RFC 9449) through the gateway', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let issuerKey: PrivateKey;
  let jwtSettings: Record<string, unknown>;
  let holder: ProofKey;
  let boundToken: string;
  let plainToken: string;
  let itemsUrl: string;

  const accessToken = (claims: JWTPayload) =>
    new SignJWT({ sub: 'alice', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://idp.test')
      .setAudience('api')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(issuerKey);

  before(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    issuerKey = pair.privateKey;
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
    jwtSettings = {
      issuers: [{ issuer: 'https://idp.test', audience: ['api'], keys: [publicJwk], algorithms: ['ES256'] }],
    };
    holder = await proofKey();
    boundToken = await accessToken({ cnf: { jkt: holder.jkt } });
    plainToken = await accessToken({});
    upstream = await startUpstream();
    gw = await startGateway(
      baseConfig(upstream.url, {
        plugins: { jwt: jwtSettings, authentication: { anonymous: false }, 'auth-lockout': noLockout },
      }),
    );
    itemsUrl = `${gw.url}/items`;
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const call = (url: string, headers: Record<string, string>, method = 'GET') =>
    fetch(url, { method, headers, ...(method === 'POST' ? { body: '{}' } : {}) });

  async function refused(res: Response, error: string): Promise<void> {
    assert.equal(res.status, 401);
    assert.equal(problemOf(res.headers.get('content-type'), await res.text()).code, 'UNAUTHENTICATED');
    const challenge = res.headers.get('www-authenticate') ?? '';
    assert.match(challenge, new RegExp(`^DPoP realm="[^"]*", error="${error}"`));
    assert.match(challenge, /algs="ES256 RS256 PS256 EdDSA"/);
  }

  it('a valid proof with the bound token passes to the upstream', async () => {
    const before = upstream.calls.length;
    const res = await call(`${itemsUrl}?page=2`, {
      authorization: `DPoP ${boundToken}`,
      dpop: await proof(holder, itemsUrl, boundToken),
    });
    assert.equal(res.status, 200);
    await res.text();
    assert.equal(upstream.calls.length, before + 1);
    assert.equal(upstream.calls.at(-1)?.headers['x-portcullis-subject'], 'alice');
  });

  it('a POST proof, and htu compared after normalization (case, default port, dot segments, escapes)', async () => {
    const res = await call(
      itemsUrl,
      {
        authorization: `DPoP ${boundToken}`,
        dpop: await proof(holder, `${gw.url.replace('http:', 'HTTP:')}/x/../%69tems`, boundToken, {
          htm: 'POST',
        }),
      },
      'POST',
    );
    assert.equal(res.status, 200);
    await res.text();
  });

  it('a replayed proof is refused and never reaches the upstream', async () => {
    const dpop = await proof(holder, itemsUrl, boundToken);
    const first = await call(itemsUrl, { authorization: `DPoP ${boundToken}`, dpop });
    assert.equal(first.status, 200);
    await first.text();
    const before = upstream.calls.length;
    await refused(await call(itemsUrl, { authorization: `DPoP ${boundToken}`, dpop }), 'invalid_dpop_proof');
    assert.equal(upstream.calls.length, before);
  });

  it('refuses wrong htm, wrong htu, stale or future iat, ath or jkt mismatch, and a missing proof', async () => {
    const other = await proofKey();
    const port = new URL(gw.url).port;
    const proofs: [string, Promise<string | undefined>][] = [
      ['htm', proof(holder, itemsUrl, boundToken, { htm: 'POST' })],
      ['htu path', proof(holder, `${gw.url}/items/1`, boundToken)],
      ['htu scheme', proof(holder, itemsUrl.replace('http:', 'https:'), boundToken)],
      ['htu host', proof(holder, `http://localhost:${port}/items`, boundToken)],
      ['htu port', proof(holder, `http://127.0.0.1:${Number(port) + 1}/items`, boundToken)],
      ['stale iat', proof(holder, itemsUrl, boundToken, { iat: Math.floor(Date.now() / 1000) - 3600 })],
      ['future iat', proof(holder, itemsUrl, boundToken, { iat: Math.floor(Date.now() / 1000) + 3600 })],
      ['ath', proof(holder, itemsUrl, boundToken, { ath: ath(plainToken) })],
      ['no ath', proof(holder, itemsUrl, boundToken, { ath: undefined })],
      ['jkt', proof(other, itemsUrl, boundToken)],
      ['typ', proof(holder, itemsUrl, boundToken, {}, { typ: 'JWT' })],
      ['missing', Promise.resolve(undefined)],
    ];
    const before = upstream.calls.length;
    for (const [label, p] of proofs) {
      const dpop = await p;
      const headers: Record<string, string> = { authorization: `DPoP ${boundToken}` };
      if (dpop !== undefined) headers.dpop = dpop;
      const res = await call(itemsUrl, headers);
      assert.equal(res.status, 401, label);
      await refused(res, 'invalid_dpop_proof');
    }
    assert.equal(upstream.calls.length, before);
  });

  it('refuses several, oversized and malformed DPoP headers, and a proof with a private key', async () => {
    const good = await proof(holder, itemsUrl, boundToken);
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const withPrivate = await proof(holder, itemsUrl, boundToken, {}, { jwk: await exportJWK(privateKey) });
    const before = upstream.calls.length;
    for (const dpop of [
      `${good}, ${good}`,
      `${good}.${'A'.repeat(5000)}`,
      'not-a-jwt',
      `${good}%`,
      withPrivate,
    ]) {
      await refused(
        await call(itemsUrl, { authorization: `DPoP ${boundToken}`, dpop }),
        'invalid_dpop_proof',
      );
    }
    // Two DPoP header lines on the wire.
    const port = Number(new URL(gw.url).port);
    const two = await proof(holder, itemsUrl, boundToken);
    const res = await rawRequest(
      port,
      `GET /items HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: DPoP ${boundToken}\r\nDPoP: ${two}\r\nDPoP: ${two}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(res.status, 401);
    assert.match(res.headers['www-authenticate'] ?? '', /error="invalid_dpop_proof"/);
    assert.equal(upstream.calls.length, before);
  });

  it('a DPoP-bound token sent as a Bearer token is a downgrade, refused even with a valid proof', async () => {
    const before = upstream.calls.length;
    const res = await call(itemsUrl, {
      authorization: `Bearer ${boundToken}`,
      dpop: await proof(holder, itemsUrl, boundToken),
    });
    await refused(res, 'invalid_token');
    assert.equal(upstream.calls.length, before);
  });

  it('an unbound token sent with the DPoP scheme is refused; sent as Bearer it passes', async () => {
    await refused(
      await call(itemsUrl, {
        authorization: `DPoP ${plainToken}`,
        dpop: await proof(holder, itemsUrl, plainToken),
      }),
      'invalid_token',
    );
    const res = await call(itemsUrl, { authorization: `Bearer ${plainToken}` });
    assert.equal(res.status, 200);
    await res.text();
  });

  it('a token bound by a confirmation the gateway cannot check is refused, never used as a bearer token', async () => {
    const before = upstream.calls.length;
    for (const cnf of [{ jwk: holder.jwk }, { jkt: 42 }, { 'x5t#S256': ['x'] }, 'bound']) {
      const token = await accessToken({ cnf } as JWTPayload);
      const res = await call(itemsUrl, { authorization: `Bearer ${token}` });
      assert.equal(res.status, 401, JSON.stringify(cnf));
      assert.equal(problemOf(res.headers.get('content-type'), await res.text()).code, 'UNAUTHENTICATED');
    }
    assert.equal(upstream.calls.length, before);
  });

  describe('server nonces', () => {
    const secret = 'n'.repeat(40);
    let a: TestGateway;
    let b: TestGateway;
    before(async () => {
      const config = baseConfig(upstream.url, {
        plugins: {
          jwt: jwtSettings,
          authentication: { anonymous: false },
          'auth-lockout': noLockout,
          'token-binding': { nonce: 'required', nonceSecret: secret },
        },
      });
      a = await startGateway(config);
      b = await startGateway(config);
    });
    after(async () => {
      await a?.close();
      await b?.close();
    });

    it('no nonce → 401 use_dpop_nonce with DPoP-Nonce; the retry with it passes, on another node too', async () => {
      const url = `${a.url}/items`;
      const first = await call(url, {
        authorization: `DPoP ${boundToken}`,
        dpop: await proof(holder, url, boundToken),
      });
      assert.equal(first.status, 401);
      await first.text();
      assert.match(
        first.headers.get('www-authenticate') ?? '',
        /^DPoP realm="[^"]*", error="use_dpop_nonce"/,
      );
      const nonce = first.headers.get('dpop-nonce');
      assert.ok(nonce, 'DPoP-Nonce header');
      const retry = await call(url, {
        authorization: `DPoP ${boundToken}`,
        dpop: await proof(holder, url, boundToken, { nonce }),
      });
      assert.equal(retry.status, 200);
      await retry.text();
      // Stateless: node b (same secret) accepts the nonce node a issued.
      const urlB = `${b.url}/items`;
      const onB = await call(urlB, {
        authorization: `DPoP ${boundToken}`,
        dpop: await proof(holder, urlB, boundToken, { nonce }),
      });
      assert.equal(onB.status, 200);
      await onB.text();
    });

    it('a forged nonce gets a new one', async () => {
      const url = `${a.url}/items`;
      const res = await call(url, {
        authorization: `DPoP ${boundToken}`,
        dpop: await proof(holder, url, boundToken, { nonce: 'A'.repeat(27) }),
      });
      assert.equal(res.status, 401);
      await res.text();
      assert.match(res.headers.get('www-authenticate') ?? '', /error="use_dpop_nonce"/);
      assert.ok(res.headers.get('dpop-nonce'));
    });
  });

  describe('replay across nodes sharing Redis', () => {
    let skip: string | false = false;
    let prefix = '';
    let a: TestGateway;
    let b: TestGateway;
    before(async () => {
      skip = await redisSkipReason('DPoP replay across nodes');
      if (skip) return;
      prefix = uniquePrefix();
      const config = baseConfig(upstream.url, {
        stores: { redis: { url: REDIS_URL, keyPrefix: prefix }, replay: { backend: 'redis' } },
        plugins: { jwt: jwtSettings, authentication: { anonymous: false }, 'auth-lockout': noLockout },
      });
      a = await startGateway(config);
      b = await startGateway(config);
    });
    after(async () => {
      await a?.close();
      await b?.close();
      if (prefix) await deletePrefix(prefix);
    });

    it('a proof used on one node is refused on the other', async (t) => {
      if (skip) return t.skip(skip);
      // Nodes behind one load balancer share a host name; here each has its own port, so node b
      // is sent node a's Host header (the htu names node a).
      const url = `${a.url}/items`;
      const dpop = await proof(holder, url, boundToken);
      const first = await call(url, { authorization: `DPoP ${boundToken}`, dpop });
      assert.equal(first.status, 200);
      await first.text();
      // Same Host header as the first request, sent to node b.
      const port = Number(new URL(b.url).port);
      const host = new URL(a.url).host;
      const res = await rawRequest(
        port,
        `GET /items HTTP/1.1\r\nHost: ${host}\r\nAuthorization: DPoP ${boundToken}\r\nDPoP: ${dpop}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(res.status, 401);
      assert.match(res.headers['www-authenticate'] ?? '', /error="invalid_dpop_proof"/);
    });
  });
});

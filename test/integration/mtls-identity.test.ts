import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { createDevCertificates, type DevCertificates, type DevKeyPair } from '../../src/server/dev-certs.js';
import { baseConfig, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(
  url: string,
  ca: string,
  client: DevKeyPair | undefined,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { ca, servername: 'localhost', agent: false, headers, ...(client ?? {}) },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.setTimeout(3000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** RFC 8705 §3.1: base64url(SHA-256(DER)), computed here independently of the gateway. */
function x5tS256(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');
}

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

describe('mTLS identity and certificate-bound tokens', () => {
  let certs: DevCertificates;
  let upstream: TestUpstream;
  let gw: TestGateway;
  let issuerKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

  const token = (claims: JWTPayload) =>
    new SignJWT({ sub: 'alice', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://idp.test')
      .setAudience('api')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(issuerKey);

  before(async () => {
    certs = await createDevCertificates();
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-mtls-id-'));
    const file = (name: string, text: string): string => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const pair = await generateKeyPair('ES256', { extractable: true });
    issuerKey = pair.privateKey;
    const jwt = {
      issuers: [
        {
          issuer: 'https://idp.test',
          audience: ['api'],
          keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }],
          algorithms: ['ES256'],
        },
      ],
    };
    upstream = await startUpstream();
    const authn = { authentication: { anonymous: false } };
    gw = await startGateway(
      baseConfig(upstream.url, {
        // Many refusals come from one client IP here: count them, never lock.
        plugins: { 'auth-lockout': { perIp: { threshold: 0 }, perCredential: { threshold: 0 } } },
        listeners: [
          {
            name: 'mtls',
            port: 0,
            tls: {
              cert: file('server.crt', certs.server.cert),
              key: file('server.key', certs.server.key),
              // Both dev CAs are trusted, so `client` and `otherClient` are two verified certificates.
              clientCertificates: {
                mode: 'optional',
                ca: [file('ca.crt', certs.ca.cert), file('other-ca.crt', certs.otherCa.cert)],
              },
            },
          },
        ],
        routes: [
          {
            id: 'svc',
            path: '/svc',
            upstream: 'api',
            plugins: {
              ...authn,
              mtls: { principals: { 'dev-client': { consumer: 'dev', roles: ['reader', 'writer'] } } },
            },
          },
          {
            id: 'pinned',
            path: '/pinned',
            upstream: 'api',
            plugins: {
              ...authn,
              mtls: { subjectFrom: 'fingerprint', allowed: [fingerprint(certs.client.cert)] },
            },
          },
          { id: 'bound', path: '/bound', upstream: 'api', plugins: { ...authn, jwt } },
          { id: 'either', path: '/either', upstream: 'api', plugins: { ...authn, jwt, mtls: {} } },
        ],
      }),
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const url = (path: string) => `${gw.url.replace('127.0.0.1', 'localhost')}${path}`;

  it('a verified client certificate authenticates; the upstream sees the principal, not the client copy', async () => {
    const before = upstream.calls.length;
    const res = await call(url('/svc'), certs.ca.cert, certs.client, {
      'x-portcullis-principal': 'forged',
      'x-portcullis-roles': 'admin',
    });
    assert.equal(res.status, 200);
    assert.equal(upstream.calls.length, before + 1);
    const seen = upstream.calls.at(-1)?.headers ?? {};
    assert.equal(seen['x-portcullis-principal'], `mtls:${fingerprint(certs.client.cert)}`);
    assert.equal(seen['x-portcullis-subject'], 'dev-client');
    assert.equal(seen['x-portcullis-consumer'], 'dev');
    assert.equal(seen['x-portcullis-roles'], 'reader,writer');
    assert.equal(seen['x-portcullis-auth-method'], 'mtls');
  });

  it('no certificate or an unverified one (expired) → 401 on a route with only mtls; nothing reaches the upstream', async () => {
    const before = upstream.calls.length;
    for (const client of [undefined, certs.expiredClient]) {
      const res = await call(url('/svc'), certs.ca.cert, client);
      assert.equal(res.status, 401);
      assert.equal(JSON.parse(res.body).code, 'UNAUTHENTICATED');
    }
    assert.equal(upstream.calls.length, before);
  });

  it('allowed by fingerprint: the pinned certificate passes, another verified one does not', async () => {
    assert.equal((await call(url('/pinned'), certs.ca.cert, certs.client)).status, 200);
    const before = upstream.calls.length;
    const other = await call(url('/pinned'), certs.ca.cert, certs.otherClient);
    assert.equal(other.status, 401);
    assert.equal(upstream.calls.length, before);
    // The same other certificate is fine where any verified certificate is.
    assert.equal((await call(url('/svc'), certs.ca.cert, certs.otherClient)).status, 200);
  });

  it('a certificate-bound JWT passes over a connection with its certificate', async () => {
    const bound = await token({ cnf: { 'x5t#S256': x5tS256(certs.client.cert) } });
    const res = await call(url('/bound'), certs.ca.cert, certs.client, { authorization: `Bearer ${bound}` });
    assert.equal(res.status, 200);
    assert.equal(upstream.calls.at(-1)?.headers['x-portcullis-auth-method'], 'jwt');
  });

  it('a certificate-bound JWT over another certificate, an unverified one, or none → 401 invalid_token', async () => {
    const bound = await token({ cnf: { 'x5t#S256': x5tS256(certs.client.cert) } });
    const before = upstream.calls.length;
    for (const client of [certs.otherClient, certs.expiredClient, undefined]) {
      const res = await call(url('/bound'), certs.ca.cert, client, { authorization: `Bearer ${bound}` });
      assert.equal(res.status, 401);
      assert.equal(JSON.parse(res.body).code, 'UNAUTHENTICATED');
      assert.match(String(res.headers['www-authenticate']), /^Bearer realm="[^"]*", error="invalid_token"/);
    }
    // Bound to the other certificate, presented with `client`.
    const wrong = await token({ cnf: { 'x5t#S256': x5tS256(certs.otherClient.cert) } });
    const res = await call(url('/bound'), certs.ca.cert, certs.client, { authorization: `Bearer ${wrong}` });
    assert.equal(res.status, 401);
    assert.equal(upstream.calls.length, before);
  });

  it('an unbound JWT needs no certificate', async () => {
    const plain = await token({});
    assert.equal(
      (await call(url('/bound'), certs.ca.cert, undefined, { authorization: `Bearer ${plain}` })).status,
      200,
    );
  });

  it('jwt and mtls on one route: a bound token is checked even when a certificate could authenticate alone', async () => {
    const wrong = await token({ cnf: { 'x5t#S256': x5tS256(certs.otherClient.cert) } });
    const before = upstream.calls.length;
    const res = await call(url('/either'), certs.ca.cert, certs.client, { authorization: `Bearer ${wrong}` });
    assert.equal(res.status, 401);
    assert.equal(upstream.calls.length, before);
    // Without a token, the certificate alone is enough.
    const cert = await call(url('/either'), certs.ca.cert, certs.client);
    assert.equal(cert.status, 200);
    assert.equal(upstream.calls.at(-1)?.headers['x-portcullis-auth-method'], 'mtls');
  });
});

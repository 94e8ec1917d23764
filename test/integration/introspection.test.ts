import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
} from '../helpers.js';

const CLIENT_ID = 'gateway';
const CLIENT_SECRET = 'gateway-secret';
const BASIC = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;
const ISS = 'https://idp.test/';

/** A small real authorization server with an RFC 7662 endpoint on port 0. */
interface FakeIdp {
  url: string;
  calls: { headers: IncomingHttpHeaders; body: URLSearchParams }[];
  answers: Map<string, Record<string, unknown>>;
  mode: 'ok' | 'hang' | '500' | 'garbage' | 'no-active';
  close(): Promise<void>;
}

async function startIdp(): Promise<FakeIdp> {
  const state = {
    calls: [] as FakeIdp['calls'],
    answers: new Map<string, Record<string, unknown>>(),
    mode: 'ok' as FakeIdp['mode'],
  };
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => {
      raw += c.toString();
    });
    req.on('end', () => {
      const body = new URLSearchParams(raw);
      state.calls.push({ headers: req.headers, body });
      if (state.mode === 'hang') return;
      if (state.mode === '500') return void res.writeHead(502).end('bad gateway');
      const json = (status: number, doc: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
      if (state.mode === 'garbage') return void res.writeHead(200).end('<html>not json');
      if (state.mode === 'no-active') return json(200, { sub: 'alice' });
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/x-www-form-urlencoded')
        return json(400, { error: 'invalid_request' });
      // The resource server must authenticate (RFC 7662 2.1).
      if (req.headers.authorization !== BASIC) return json(401, { error: 'invalid_client' });
      json(200, state.answers.get(body.get('token') ?? '') ?? { active: false });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/oauth/introspect`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}

const nowS = () => Math.floor(Date.now() / 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const noLockout = { perIp: { threshold: 0 }, perCredential: { threshold: 0 } };

describe('introspection authenticator through the gateway', () => {
  let upstream: TestUpstream;
  let idp: FakeIdp;
  let gw: TestGateway;
  let jwtToken: string;
  let seq = 0;

  /** A fresh opaque token the IdP knows as `answer` (null: a token the IdP never issued). */
  const token = (answer: Record<string, unknown> | null = {}) => {
    const t = `opaque-${++seq}-${Math.random().toString(36).slice(2)}`;
    if (answer !== null)
      idp.answers.set(t, {
        active: true,
        sub: 'alice',
        client_id: 'web-app',
        scope: 'orders:read orders:write',
        iss: ISS,
        aud: 'orders-api',
        exp: nowS() + 600,
        ...answer,
      });
    return t;
  };

  before(async () => {
    upstream = await startUpstream();
    idp = await startIdp();
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1' };
    jwtToken = await new SignJWT({ sub: 'jwt-user' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://jwt.test')
      .setAudience('orders-api')
      .setExpirationTime('5m')
      .sign(privateKey);
    const introspection = {
      endpoint: idp.url,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      timeoutMs: 300,
      negativeCacheSeconds: 1,
      audience: ['orders-api'],
      issuer: ISS,
    };
    const route = (id: string, plugins: Record<string, unknown>) => ({
      id,
      path: `/${id}`,
      methods: ['GET'],
      upstream: 'api',
      plugins: { authentication: { anonymous: false }, 'auth-lockout': noLockout, ...plugins },
    });
    gw = await startGateway(
      baseConfig(upstream.url, {
        routes: [
          route('api', { introspection }),
          route('post', { introspection: { ...introspection, clientAuth: 'client_secret_post' } }),
          route('wrongclient', { introspection: { ...introspection, clientSecret: 'not-the-secret' } }),
          route('mixed', {
            introspection,
            jwt: { issuers: [{ issuer: 'https://jwt.test', audience: ['orders-api'], keys: [jwk] }] },
          }),
        ],
      }),
    );
  });
  after(async () => {
    await gw.close();
    await Promise.all([upstream.close(), idp.close()]);
  });

  const call = (path: string, t?: string) =>
    fetch(`${gw.url}${path}`, t === undefined ? {} : { headers: { authorization: `Bearer ${t}` } });

  async function refused(path: string, t: string, status = 401, challenge?: string): Promise<void> {
    const before = upstream.calls.length;
    const res = await call(path, t);
    const body = await res.text();
    assert.equal(res.status, status, body);
    assert.equal(
      problemOf(res.headers.get('content-type'), body).code,
      status === 503 ? 'AUTH_UNAVAILABLE' : 'UNAUTHENTICATED',
    );
    if (challenge !== undefined) assert.equal(res.headers.get('www-authenticate'), challenge);
    assert.equal(upstream.calls.length, before, 'the upstream must not be called');
  }
  const INVALID = 'Bearer realm="portcullis", error="invalid_token"';

  it('an active token passes; the IdP saw a form POST with the client authenticated', async () => {
    const t = token();
    const res = await call('/api', t);
    assert.equal(res.status, 200, await res.text());
    const seen = upstream.calls.at(-1)?.headers ?? {};
    assert.equal(seen['x-portcullis-principal'], `introspection:${ISS}|alice`);
    assert.equal(seen['x-portcullis-consumer'], 'web-app');
    assert.equal(seen['x-portcullis-scopes'], 'orders:read orders:write');
    assert.equal(seen.authorization, `Bearer ${t}`);
    const asked = idp.calls.at(-1);
    assert.equal(asked?.headers.authorization, BASIC);
    assert.equal(asked?.body.get('token'), t);
    assert.equal(asked?.body.get('token_type_hint'), 'access_token');
    assert.equal(asked?.body.get('client_secret'), null);
  });

  it('client_secret_post: the credentials travel in the form (this fake IdP wants Basic, so it refuses: 503)', async () => {
    await refused('/post', token(), 503);
    const asked = idp.calls.at(-1);
    assert.equal(asked?.headers.authorization, undefined);
    assert.equal(asked?.body.get('client_id'), CLIENT_ID);
    assert.equal(asked?.body.get('client_secret'), CLIENT_SECRET);
  });

  it('wrong client credentials at the IdP: 503 (fail closed), not proxied', async () => {
    await refused('/wrongclient', token(), 503);
  });

  it('positive cache: two requests, one IdP call', async () => {
    const t = token();
    const before = idp.calls.length;
    assert.equal((await call('/api', t)).status, 200);
    assert.equal((await call('/api', t)).status, 200);
    assert.equal(idp.calls.length, before + 1);
  });

  it('concurrent requests with one token share one IdP call', async () => {
    const t = token();
    const before = idp.calls.length;
    const answers = await Promise.all(Array.from({ length: 5 }, () => call('/api', t)));
    for (const a of answers) assert.equal(a.status, 200);
    assert.equal(idp.calls.length, before + 1);
  });

  it('inactive and unknown tokens: 401 invalid_token; the refusal is cached briefly', async () => {
    const inactive = token({ active: false });
    const before = idp.calls.length;
    await refused('/api', inactive, 401, INVALID);
    await refused('/api', inactive, 401, INVALID);
    assert.equal(idp.calls.length, before + 1, 'negative cache');
    await sleep(1100);
    await refused('/api', inactive, 401, INVALID);
    assert.equal(idp.calls.length, before + 2, 'negative cache expired');
    await refused('/api', token(null), 401, INVALID);
  });

  it('an active answer is still checked: expired, wrong audience, wrong issuer', async () => {
    await refused('/api', token({ exp: nowS() - 5 }), 401, INVALID);
    await refused('/api', token({ aud: 'billing-api' }), 401, INVALID);
    await refused('/api', token({ iss: 'https://evil.test/' }), 401, INVALID);
  });

  it("a positive answer is cached no longer than the token's exp", async () => {
    const t = token({ exp: nowS() + 1 });
    assert.equal((await call('/api', t)).status, 200);
    await sleep(1100);
    idp.answers.set(t, { active: false });
    await refused('/api', t, 401, INVALID);
  });

  it('malformed or oversized tokens are refused without asking the IdP', async () => {
    const before = idp.calls.length;
    await refused('/api', 'a b', 401, INVALID);
    await refused('/api', 'x'.repeat(9000), 401, INVALID);
    assert.equal(idp.calls.length, before);
  });

  it('IdP timeout, 5xx, garbage or an answer without "active": 503 AUTH_UNAVAILABLE, not proxied', async () => {
    for (const mode of ['hang', '500', 'garbage', 'no-active'] as const) {
      idp.mode = mode;
      const started = Date.now();
      await refused('/api', token(), 503);
      if (mode === 'hang') assert.ok(Date.now() - started < 2000, 'the timeout fired');
    }
    idp.mode = 'ok';
    // Failures are not cached: the next request asks again and passes.
    assert.equal((await call('/api', token())).status, 200);
  });

  it('jwt and introspection on one route: a JWT the jwt authenticator accepted is never introspected', async () => {
    const before = idp.calls.length;
    const res = await call('/mixed', jwtToken);
    assert.equal(res.status, 200);
    assert.equal(upstream.calls.at(-1)?.headers['x-portcullis-auth-method'], 'jwt');
    assert.equal(idp.calls.length, before);
    assert.equal((await call('/mixed', token())).status, 200);
    assert.equal(upstream.calls.at(-1)?.headers['x-portcullis-auth-method'], 'introspection');
    assert.equal(idp.calls.length, before + 1);
  });
});

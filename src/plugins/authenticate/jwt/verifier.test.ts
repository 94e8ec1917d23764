import assert from 'node:assert/strict';
import { KeyObject, sign as nodeSign } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import pino from 'pino';
import type { IssuerSettings, JwtSettings } from './schema.js';
import { JwtVerifier } from './verifier.js';

const ISS = 'https://idp.example';
const silent = pino({ level: 'silent' });

function issuer(over: Partial<IssuerSettings> = {}): IssuerSettings {
  return {
    issuer: ISS,
    audience: ['api'],
    jwksUri: '',
    keys: [],
    secret: '',
    algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'],
    clockSkewSeconds: 30,
    maxAgeSeconds: 0,
    requiredClaims: {},
    typ: [],
    rolesClaim: 'roles',
    scopesClaim: 'scope',
    consumerClaim: 'client_id',
    tenantClaim: '',
    jwks: { cacheSeconds: 300, cooldownSeconds: 30, timeoutMs: 2000 },
    ...over,
  };
}

function settings(issuers: IssuerSettings[], over: Partial<JwtSettings> = {}): JwtSettings {
  return { issuers, queryParameter: '', forwardToken: true, cacheMaxEntries: 100, revokedJtis: [], ...over };
}

async function verifierFor(s: JwtSettings, clock?: () => number): Promise<JwtVerifier> {
  const v = new JwtVerifier(s, { logger: silent, ...(clock ? { clock } : {}) });
  await v.init();
  return v;
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** Signs an RSA JWS by hand (PKCS#1 v1.5), so headers jose would refuse to produce can be tested. */
function rawRsaJws(
  header: Record<string, unknown>,
  claims: unknown,
  key: CryptoKey,
  hash = 'sha256',
): string {
  const input = `${b64(header)}.${b64(claims)}`;
  const sig = nodeSign(hash, Buffer.from(input), KeyObject.from(key as never));
  return `${input}.${sig.toString('base64url')}`;
}

describe('JwtVerifier', () => {
  let rsa: { privateKey: CryptoKey; publicKey: CryptoKey };
  let ec: { privateKey: CryptoKey; publicKey: CryptoKey };
  let rsaJwk: Record<string, unknown>;
  let ecJwk: Record<string, unknown>;
  let v: JwtVerifier;

  const sign = (
    claims: Record<string, unknown>,
    header: Record<string, unknown> = {},
    key: CryptoKey = rsa.privateKey,
    alg = 'RS256',
  ) => new SignJWT(claims).setProtectedHeader({ alg, kid: 'rsa1', ...header }).sign(key);
  const good = (extra: Record<string, unknown> = {}) => ({
    iss: ISS,
    aud: 'api',
    sub: 'alice',
    exp: now() + 600,
    iat: now(),
    ...extra,
  });

  before(async () => {
    rsa = await generateKeyPair('RS256', { extractable: true });
    ec = await generateKeyPair('ES256', { extractable: true });
    rsaJwk = { ...(await exportJWK(rsa.publicKey)), kid: 'rsa1' };
    ecJwk = { ...(await exportJWK(ec.publicKey)), kid: 'ec1' };
    v = await verifierFor(settings([issuer({ keys: [rsaJwk, ecJwk], rolesClaim: 'realm.roles' })]));
  });

  it('accepts RS256 and ES256, maps claims to the principal and caches the result', async () => {
    const token = await sign(
      good({
        scope: 'read write',
        client_id: 'app1',
        realm: { roles: ['admin'] },
        jti: 'j1',
        cnf: { jkt: 'abc' },
      }),
    );
    const out = await v.verify(token);
    assert.ok(out.ok);
    const p = out.token.principal;
    assert.equal(p.id, `jwt:${ISS}|alice`);
    assert.equal(p.kind, 'user');
    assert.equal(p.subject, 'alice');
    assert.equal(p.consumer, 'app1');
    assert.deepEqual(p.roles, ['admin']);
    assert.deepEqual(p.scopes, ['read', 'write']);
    assert.equal(p.credentialId, 'j1');
    assert.equal(p.method, 'jwt');
    assert.deepEqual(out.token.cnf, { jkt: 'abc' });
    assert.ok(Object.isFrozen(p) && Object.isFrozen(p.claims) && Object.isFrozen(p.claims.realm));
    assert.equal(v.lookup(token, Date.now()), out.token, 'cache hit is the same verified token');

    const es = await sign(
      good({ sub: 'svc', client_id: 'svc', scp: ['a', 'b'] }),
      { kid: 'ec1' },
      ec.privateKey,
      'ES256',
    );
    const out2 = await v.verify(es);
    assert.ok(out2.ok);
    assert.equal(out2.token.principal.kind, 'service');
    assert.deepEqual(out2.token.principal.scopes, ['a', 'b']);
  });

  const refusals: [string, () => Promise<string>, string][] = [
    ['expired', () => sign(good({ exp: now() - 60 })), 'expired'],
    ['expired within skew is accepted? no: past skew', () => sign(good({ exp: now() - 31 })), 'expired'],
    ['not yet valid', () => sign(good({ nbf: now() + 120 })), 'not_yet_valid'],
    ['issued in the future', () => sign(good({ iat: now() + 120 })), 'not_yet_valid'],
    ['missing exp', () => sign({ iss: ISS, aud: 'api', sub: 'a' }), 'missing_exp'],
    ['exp not a number', () => sign(good({ exp: String(now() + 60) })), 'malformed_claims'],
    ['wrong audience', () => sign(good({ aud: ['other', 'x'] })), 'bad_audience'],
    ['no audience', () => sign(good({ aud: undefined })), 'bad_audience'],
    ['wrong issuer', () => sign(good({ iss: 'https://evil.example' })), 'bad_issuer'],
    ['no subject', () => sign(good({ sub: undefined })), 'missing_sub'],
    ['kid with path traversal', () => sign(good(), { kid: '../../../etc/passwd' }), 'unknown_kid'],
    ['kid with SQL', () => sign(good(), { kid: "' OR 1=1 --" }), 'unknown_kid'],
    ['kid __proto__', () => sign(good(), { kid: '__proto__' }), 'unknown_kid'],
    ['kid not a string', () => sign(good(), { kid: 7 }), 'malformed'],
    [
      'RS384 not allowed',
      async () => rawRsaJws({ alg: 'RS384', kid: 'rsa1' }, good(), rsa.privateKey, 'sha384'),
      'alg_not_allowed',
    ],
    [
      'ES256 header with the RSA kid',
      () => sign(good(), { kid: 'rsa1' }, ec.privateKey, 'ES256'),
      'alg_mismatch',
    ],
    [
      'signed by another key',
      async () => sign(good(), {}, (await generateKeyPair('RS256')).privateKey),
      'bad_signature',
    ],
    ['alg none', async () => `${b64({ alg: 'none' })}.${b64(good())}.`, 'alg_not_allowed'],
    ['alg None', async () => `${b64({ alg: 'None', kid: 'rsa1' })}.${b64(good())}.`, 'alg_not_allowed'],
    ['no signature', async () => `${b64({ alg: 'RS256', kid: 'rsa1' })}.${b64(good())}.`, 'bad_signature'],
    ['header not JSON', async () => `bm90anNvbg.${b64(good())}.AAAA`, 'malformed'],
    ['payload an array', async () => `${b64({ alg: 'RS256' })}.${b64([1])}.AAAA`, 'malformed'],
    [
      'crit header not understood',
      async () =>
        rawRsaJws({ alg: 'RS256', kid: 'rsa1', crit: ['x-unknown'], 'x-unknown': 1 }, good(), rsa.privateKey),
      'malformed',
    ],
    [
      'hand-signed RS256 control',
      async () => rawRsaJws({ alg: 'RS256', kid: 'rsa1' }, good({ aud: 'x' }), rsa.privateKey),
      'bad_audience',
    ],
  ];
  for (const [name, make, reason] of refusals) {
    it(`refuses: ${name} (${reason})`, async () => {
      const out = await v.verify(await make());
      assert.deepEqual(out, { ok: false, reason });
    });
  }

  it('alg confusion: HS256 signed with the RSA public key (PEM or JWK) as the secret is refused', async () => {
    const pem = await exportSPKI(rsa.publicKey);
    for (const secret of [pem, JSON.stringify(rsaJwk), String(rsaJwk.n)]) {
      const token = await new SignJWT(good())
        .setProtectedHeader({ alg: 'HS256', kid: 'rsa1' })
        .sign(new TextEncoder().encode(secret));
      assert.deepEqual(await v.verify(token), { ok: false, reason: 'alg_not_allowed' });
    }
  });

  it('jku, x5u, jwk and x5c headers are never used to find a key', async () => {
    const attacker = await generateKeyPair('RS256', { extractable: true });
    const attackerJwk = await exportJWK(attacker.publicKey);
    const token = await sign(
      good(),
      { kid: 'rsa1', jku: 'http://127.0.0.1:1/jwks', x5u: 'http://127.0.0.1:1/x5u', jwk: attackerJwk },
      attacker.privateKey,
    );
    assert.deepEqual(await v.verify(token), { ok: false, reason: 'bad_signature' });
    const noKid = await new SignJWT(good())
      .setProtectedHeader({ alg: 'RS256', jwk: attackerJwk })
      .sign(attacker.privateKey);
    assert.deepEqual(await v.verify(noKid), { ok: false, reason: 'bad_signature' });
  });

  it('remembers a refusal briefly (same token, no second signature check)', async () => {
    const token = await sign(good({ aud: 'nope' }));
    assert.deepEqual(await v.verify(token), { ok: false, reason: 'bad_audience' });
    assert.equal(v.lookup(token, Date.now()), 'bad_audience');
  });

  it('typ, required claims, max age, revoked jti, tenant', async () => {
    const strict = await verifierFor(
      settings(
        [
          issuer({
            keys: [rsaJwk],
            typ: ['at+jwt'],
            requiredClaims: { tier: ['gold', 'silver'], 'org.verified': true, groups: 'staff' },
            maxAgeSeconds: 300,
            tenantClaim: 'org.id',
          }),
        ],
        { revokedJtis: ['bad-jti'] },
      ),
    );
    const ok = good({ tier: 'gold', org: { verified: true, id: 't1' }, groups: ['x', 'staff'] });
    const accepted = await strict.verify(await sign(ok, { typ: 'application/AT+JWT' }));
    assert.ok(accepted.ok);
    assert.equal(accepted.token.principal.tenant, 't1');
    const cases: [Record<string, unknown>, Record<string, unknown>, string][] = [
      [ok, { typ: 'JWT' }, 'bad_typ'],
      [ok, {}, 'bad_typ'],
      [{ ...ok, tier: 'bronze' }, { typ: 'at+jwt' }, 'claim_mismatch'],
      [{ ...ok, org: { verified: 'true', id: 't1' } }, { typ: 'at+jwt' }, 'claim_mismatch'],
      [{ ...ok, groups: ['x'] }, { typ: 'at+jwt' }, 'claim_mismatch'],
      [{ ...ok, iat: now() - 400 }, { typ: 'at+jwt' }, 'too_old'],
      [{ ...ok, iat: undefined }, { typ: 'at+jwt' }, 'missing_iat'],
      [{ ...ok, jti: 'bad-jti' }, { typ: 'at+jwt' }, 'revoked'],
    ];
    for (const [claims, header, reason] of cases)
      assert.deepEqual(await strict.verify(await sign(claims, header)), { ok: false, reason }, reason);
  });

  it('cache entries end at exp (clock moved), then the token is refused as expired', async () => {
    let t = Date.now();
    const clocked = await verifierFor(settings([issuer({ keys: [rsaJwk], clockSkewSeconds: 0 })]), () => t);
    const token = await sign(good({ exp: Math.floor(t / 1000) + 60 }));
    assert.ok((await clocked.verify(token)).ok);
    assert.ok(typeof clocked.lookup(token, t + 59_000) === 'object');
    t += 61_000;
    assert.equal(clocked.lookup(token, t), undefined);
    assert.deepEqual(await clocked.verify(token), { ok: false, reason: 'expired' });
  });

  it('the cache is bounded', async () => {
    const small = await verifierFor(settings([issuer({ keys: [rsaJwk] })], { cacheMaxEntries: 2 }));
    const tokens = await Promise.all([1, 2, 3].map((i) => sign(good({ sub: `u${i}` }))));
    for (const token of tokens) assert.ok((await small.verify(token)).ok);
    assert.equal(small.lookup(tokens[0] as string, Date.now()), undefined, 'oldest evicted');
    assert.ok(typeof small.lookup(tokens[2] as string, Date.now()) === 'object');
  });

  it('HMAC issuers: secret only, never mixed with public keys', async () => {
    const secret = 'a-very-long-shared-secret-of-at-least-32-bytes!';
    const hs = await verifierFor(settings([issuer({ secret, algorithms: ['HS256'] })]));
    const token = await new SignJWT(good())
      .setProtectedHeader({ alg: 'HS256', kid: 'any' })
      .sign(new TextEncoder().encode(secret));
    assert.ok((await hs.verify(token)).ok);
    const rs = await sign(good());
    assert.deepEqual(await hs.verify(rs), { ok: false, reason: 'alg_not_allowed' });
  });

  it('refuses unsafe configurations at start-up, naming the setting but never the secret', () => {
    const cases: [IssuerSettings[], RegExp][] = [
      [
        [issuer({ keys: [rsaJwk], algorithms: ['HS256'], secret: 'x'.repeat(40) })],
        /never with "jwksUri" or "keys"/,
      ],
      [[issuer({ secret: 'x'.repeat(40), algorithms: ['HS256', 'RS256'] })], /cannot be mixed/],
      [[issuer({ secret: 'short-secret', algorithms: ['HS256'] })], /at least 32 bytes/],
      [[issuer({ secret: 'x'.repeat(40), algorithms: ['HS512'] })], /at least 64 bytes/],
      [[issuer({ algorithms: ['HS256'] })], /need a secret/],
      [[issuer({ keys: [rsaJwk], secret: 'x'.repeat(40) })], /only with HS\* algorithms/],
      [[issuer({})], /no verification key/],
      [[issuer({ jwksUri: 'http://idp.example/jwks' })], /https:\/\//],
      [[issuer({ jwksUri: 'https://user:pw@idp.example/jwks' })], /credentials/],
      [[issuer({ jwksUri: 'not a url' })], /not a valid absolute URL/],
      [[issuer({ keys: [{ ...rsaJwk, d: 'secret-part' }] })], /private key material/],
      [[issuer({ keys: [{ kty: 'oct', k: 'abc' }] })], /symmetric/],
      [[issuer({ keys: [rsaJwk] }), issuer({ keys: [rsaJwk] })], /duplicate issuer/],
    ];
    for (const [issuers, message] of cases) {
      assert.throws(
        () => new JwtVerifier(settings(issuers), { logger: silent }),
        (err: Error) =>
          message.test(err.message) &&
          !err.message.includes('x'.repeat(40)) &&
          !err.message.includes('secret-part'),
        String(message),
      );
    }
    assert.doesNotThrow(() =>
      new JwtVerifier(settings([issuer({ jwksUri: 'http://127.0.0.1:9/jwks' })]), { logger: silent }).close(),
    );
    assert.doesNotThrow(() =>
      new JwtVerifier(settings([issuer({ jwksUri: 'http://[::1]:9/jwks' })]), { logger: silent }).close(),
    );
  });

  it('a static key that supports none of the allowed algorithms is a start-up error', async () => {
    const bad = new JwtVerifier(settings([issuer({ keys: [ecJwk], algorithms: ['RS256'] })]), {
      logger: silent,
    });
    await assert.rejects(bad.init(), /keys\[0\] supports none/);
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { compactVerify, importJWK, type JWK } from 'jose';
import pino from 'pino';
import { algorithmsForJwk, importPublicJwk } from './keys.js';
import { JwtVerifier } from './verifier.js';

// RFC examples kept as data in test/vectors (tests run from dist/src/plugins/authenticate/jwt).
const vectors = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../../../test/vectors/${name}`, import.meta.url), 'utf8'));

interface Vector {
  id: string;
  alg: string;
  jwk: Record<string, unknown>;
  jws: string;
  protectedHeader?: Record<string, unknown>;
}
const rfc7515 = vectors('rfc7515-appendix-a.json') as { payloadJson: string; vectors: Vector[] };
const rfc7520 = vectors('rfc7520-section4.json') as { payload: string; vectors: Vector[] };

function tamper(jws: string): string {
  const last = jws.at(-2) === 'A' ? 'B' : 'A';
  return `${jws.slice(0, -2)}${last}${jws.at(-1)}`;
}

describe('RFC 7515 appendix A (JWS examples) at the signature layer', () => {
  for (const v of rfc7515.vectors) {
    it(`${v.id} ${v.alg} verifies with the RFC key; a changed signature does not`, async () => {
      const key = await importJWK(v.jwk as JWK, v.alg);
      const { payload, protectedHeader } = await compactVerify(v.jws, key, { algorithms: [v.alg] });
      assert.equal(new TextDecoder().decode(payload), rfc7515.payloadJson);
      assert.deepEqual(protectedHeader, v.protectedHeader);
      await assert.rejects(compactVerify(tamper(v.jws), key, { algorithms: [v.alg] }));
    });
  }

  for (const v of rfc7515.vectors.filter((x) => x.jwk.kty !== 'oct')) {
    it(`${v.id} ${v.alg} verifies with the key as this plugin imports it (public members only, alg by key type)`, async () => {
      const entry = await importPublicJwk(v.jwk, new Set([v.alg]));
      assert.ok(entry);
      const key = entry.byAlg.get(v.alg);
      assert.ok(key);
      await compactVerify(v.jws, key, { algorithms: [v.alg] });
    });
  }

  it('a public key never becomes an HMAC key (alg confusion)', () => {
    const all = new Set(['HS256', 'HS384', 'HS512', 'RS256', 'ES256']);
    for (const v of rfc7515.vectors.filter((x) => x.jwk.kty !== 'oct'))
      for (const alg of algorithmsForJwk(v.jwk, all)) assert.ok(!alg.startsWith('HS'), `${v.id}: ${alg}`);
  });

  it('A.2 and A.3 through the full verifier: the signature passes, then the missing aud refuses it', async () => {
    // The examples carry iss "joe" and an exp in 2011 but no aud: with the clock set before exp,
    // the only thing left to refuse is the audience (so the signature check passed).
    const clock = () => 1300819000 * 1000;
    for (const v of rfc7515.vectors.filter((x) => x.jwk.kty !== 'oct')) {
      const verifier = new JwtVerifier(
        {
          issuers: [
            {
              issuer: 'joe',
              audience: ['api'],
              jwksUri: '',
              keys: [v.jwk],
              secret: '',
              algorithms: [v.alg as 'RS256'],
              clockSkewSeconds: 0,
              maxAgeSeconds: 0,
              requiredClaims: {},
              typ: [],
              rolesClaim: 'roles',
              scopesClaim: 'scope',
              consumerClaim: 'client_id',
              tenantClaim: '',
              jwks: { cacheSeconds: 300, cooldownSeconds: 30, timeoutMs: 2000 },
            },
          ],
          queryParameter: '',
          forwardToken: true,
          cacheMaxEntries: 100,
          revokedJtis: [],
        },
        { logger: pino({ level: 'silent' }), clock },
      );
      await verifier.init();
      assert.deepEqual(await verifier.verify(v.jws), { ok: false, reason: 'bad_audience' }, v.id);
      assert.deepEqual(await verifier.verify(tamper(v.jws)), { ok: false, reason: 'bad_signature' }, v.id);
      await verifier.close();
    }
  });
});

describe('RFC 7520 section 4 (JOSE cookbook signatures)', () => {
  for (const v of rfc7520.vectors) {
    it(`${v.id} ${v.alg} verifies with the cookbook key`, async () => {
      const key =
        v.jwk.kty === 'oct'
          ? await importJWK(v.jwk as JWK, v.alg)
          : (await importPublicJwk(v.jwk, new Set([v.alg])))?.byAlg.get(v.alg);
      assert.ok(key);
      const { payload, protectedHeader } = await compactVerify(v.jws, key, { algorithms: [v.alg] });
      assert.equal(new TextDecoder().decode(payload), rfc7520.payload);
      assert.equal(protectedHeader.kid, v.jwk.kid);
      await assert.rejects(compactVerify(tamper(v.jws), key, { algorithms: [v.alg] }));
      // The same JWS is never accepted under another algorithm.
      await assert.rejects(
        compactVerify(v.jws, key, { algorithms: [v.alg === 'RS256' ? 'PS256' : 'RS256'] }),
      );
    });
  }
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { ClientCertificate } from '../../../core/context.js';
import { certificateBindingProblem, isThumbprint, x5tS256FromFingerprint } from './cert-bound.js';
import { accessTokenHash, createDpopVerifier } from './dpop.js';
import { normalizeHtu } from './htu.js';

const vectors = (name: string): Record<string, Record<string, unknown>> =>
  JSON.parse(readFileSync(new URL(`../../../../../test/vectors/${name}`, import.meta.url), 'utf8'));

const rfc9449 = vectors('rfc9449.json') as {
  publicJwk: { jwk: Record<string, string>; jkt: string };
  tokenRequestProof: { proof: string; payload: { iat: number; htu: string } };
  boundAccessTokenClaims: { claims: { cnf: { jkt: string } } };
  protectedResourceRequest: {
    method: string;
    uri: string;
    accessToken: string;
    ath: string;
    proof: string;
    payload: { iat: number };
  };
};
const rfc8705 = vectors('rfc8705.json') as { jwtClaims: { claims: { cnf: { 'x5t#S256': string } } } };

function memoryReplay() {
  const seen = new Set<string>();
  return {
    claim: async (key: string) => {
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    },
    close: async () => {},
  };
}

describe('RFC 9449 vectors', () => {
  it('§6.1: the thumbprint of the example key is the example cnf.jkt', async () => {
    const { calculateJwkThumbprint } = await import('jose');
    assert.equal(await calculateJwkThumbprint(rfc9449.publicJwk.jwk), rfc9449.publicJwk.jkt);
    assert.equal(rfc9449.boundAccessTokenClaims.claims.cnf.jkt, rfc9449.publicJwk.jkt);
  });

  it('§7.1: ath is base64url(SHA-256(access token))', () => {
    const r = rfc9449.protectedResourceRequest;
    assert.equal(accessTokenHash(r.accessToken), r.ath);
  });

  const verifierAt = (iat: number, replay = memoryReplay()) =>
    createDpopVerifier({
      algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'],
      iatWindowSeconds: 60,
      clockSkewSeconds: 5,
      maxProofBytes: 4096,
      nonces: undefined,
      origins: new Set(),
      now: () => iat * 1000 + 2000,
      replay: () => replay,
      replayTimeoutMs: 1000,
    });

  it('§7.1: the example resource request proof passes every check, once', async () => {
    const r = rfc9449.protectedResourceRequest;
    const verify = verifierAt(r.payload.iat);
    const request = {
      header: r.proof,
      method: r.method,
      target: normalizeHtu(r.uri),
      accessToken: r.accessToken,
      jkt: rfc9449.publicJwk.jkt,
    };
    assert.deepEqual(await verify(request), { ok: true, jkt: rfc9449.publicJwk.jkt });
    assert.deepEqual(await verify(request), {
      ok: false,
      reason: 'dpop_proof_replayed',
      error: 'invalid_dpop_proof',
    });
  });

  it('§7.1: the example proof is refused for another token, method, URI, key or time', async () => {
    const r = rfc9449.protectedResourceRequest;
    const base = {
      header: r.proof,
      method: r.method,
      target: normalizeHtu(r.uri),
      accessToken: r.accessToken,
      jkt: rfc9449.publicJwk.jkt,
    };
    const cases: [Partial<typeof base>, number, string][] = [
      [{ accessToken: `${r.accessToken}x` }, r.payload.iat, 'dpop_proof_ath_mismatch'],
      [{ method: 'POST' }, r.payload.iat, 'dpop_proof_htm_mismatch'],
      [
        { target: normalizeHtu('https://resource.example.org/other') },
        r.payload.iat,
        'dpop_proof_htu_mismatch',
      ],
      [
        { target: normalizeHtu('http://resource.example.org/protectedresource') },
        r.payload.iat,
        'dpop_proof_htu_mismatch',
      ],
      [{ jkt: 'A'.repeat(43) }, r.payload.iat, 'dpop_proof_jkt_mismatch'],
      [{}, r.payload.iat + 120, 'dpop_proof_stale'],
      [{}, r.payload.iat - 60, 'dpop_proof_from_future'],
    ];
    for (const [change, iat, reason] of cases) {
      const result = await verifierAt(iat)({ ...base, ...change });
      assert.equal(result.ok ? 'ok' : result.reason, reason);
    }
  });

  it('§4.1: the token-request proof (no ath) is refused at a resource server', async () => {
    const t = rfc9449.tokenRequestProof;
    const result = await verifierAt(t.payload.iat)({
      header: t.proof,
      method: 'POST',
      target: normalizeHtu(t.payload.htu),
      accessToken: 'any',
      jkt: rfc9449.publicJwk.jkt,
    });
    assert.equal(result.ok ? 'ok' : result.reason, 'dpop_proof_ath_mismatch');
  });

  it('§4.3: htu compares after normalization', () => {
    const expected = normalizeHtu('https://resource.example.org/protectedresource');
    for (const same of [
      'HTTPS://Resource.Example.ORG:443/protectedresource',
      'https://resource.example.org/protectedresource?query=1#frag',
      'https://resource.example.org/a/../protectedresource',
      'https://resource.example.org/%70rotectedresource',
    ])
      assert.deepEqual(normalizeHtu(same), expected, same);
    assert.notDeepEqual(normalizeHtu('https://resource.example.org:8443/protectedresource'), expected);
  });
});

describe('RFC 8705 vectors', () => {
  const example = rfc8705.jwtClaims.claims.cnf['x5t#S256'];
  // The RFC gives no certificate: take the hash its example decodes to, in Node's colon-hex form.
  const hash = Buffer.from(example, 'base64url');
  const fingerprint256 = hash.toString('hex').toUpperCase().match(/../g)?.join(':') ?? '';
  const canonical = hash.toString('base64url');
  const cert = (over: Partial<ClientCertificate> = {}): ClientCertificate => ({
    subject: 'ty.webb',
    issuer: 'ca',
    sans: [],
    fingerprint256,
    serialNumber: '01',
    validFrom: '',
    validTo: '',
    verified: true,
    error: undefined,
    ...over,
  });

  it('§3.1: the example is 43 base64url characters of a 32-byte hash, but not canonically encoded', () => {
    assert.equal(example.length, 43);
    assert.equal(hash.length, 32);
    // Its last character carries stray low bits ("2" where a SHA-256 encoding can only end in
    // A, E, I, …, 0, 4, 8, c, g, …): no certificate hash is ever written that way.
    assert.notEqual(canonical, example);
    assert.equal(canonical, `${example.slice(0, 42)}0`);
    assert.equal(isThumbprint(example), false);
    assert.equal(isThumbprint(canonical), true);
  });

  it('§3.1: x5t#S256 is base64url of the SHA-256 hash Node reports as fingerprint256', () => {
    assert.equal(x5tS256FromFingerprint(fingerprint256), canonical);
  });

  it('§3.1: a token binds to the verified certificate with that hash, and no other', () => {
    assert.equal(certificateBindingProblem(cert(), canonical), undefined);
    assert.equal(certificateBindingProblem(undefined, canonical), 'certificate_missing');
    assert.equal(certificateBindingProblem(cert({ verified: false }), canonical), 'certificate_not_verified');
    assert.equal(
      certificateBindingProblem(cert({ fingerprint256: fingerprint256.replace(/^../, '00') }), canonical),
      'certificate_mismatch',
    );
  });

  it('§3.1: the example value as written, a padded or a non-string value are malformed, never compared', () => {
    assert.equal(certificateBindingProblem(cert(), example), 'cnf_x5t_malformed');
    assert.equal(certificateBindingProblem(cert(), `${canonical}=`), 'cnf_x5t_malformed');
    assert.equal(certificateBindingProblem(cert(), canonical.replace(/^./, '+')), 'cnf_x5t_malformed');
    assert.equal(certificateBindingProblem(cert(), 42), 'cnf_x5t_malformed');
  });
});

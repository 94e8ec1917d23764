import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { CompactSign, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { ReplayCache } from '../../../stores/types.js';
import {
  accessTokenHash,
  createDpopVerifier,
  type DpopRequest,
  type DpopVerifierOptions,
  replayKey,
} from './dpop.js';
import { normalizeHtu } from './htu.js';
import { createNonces } from './nonce.js';

const NOW = 1_700_000_000_000;
const URI = 'https://api.example.com/items';
const TOKEN = 'access-token-123';

interface Key {
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  jwk: JWK;
  jkt: string;
  alg: string;
}

async function key(alg = 'ES256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk), alg };
}

async function proof(
  k: Key,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const payload = {
    jti: `jti-${Math.random()}`,
    htm: 'GET',
    htu: URI,
    iat: Math.floor(NOW / 1000),
    ath: accessTokenHash(TOKEN),
    ...claims,
  };
  for (const [name, v] of Object.entries(claims))
    if (v === undefined) delete payload[name as keyof typeof payload];
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ typ: 'dpop+jwt', alg: k.alg, jwk: k.jwk, ...header } as never)
    .sign(k.privateKey);
}

class MemoryReplay implements ReplayCache {
  readonly keys = new Map<string, number>();
  async claim(k: string, ttlMs: number): Promise<boolean> {
    if (this.keys.has(k)) return false;
    this.keys.set(k, ttlMs);
    return true;
  }
  async close(): Promise<void> {}
}

function verifier(over: Partial<DpopVerifierOptions> = {}, replay: ReplayCache = new MemoryReplay()) {
  return createDpopVerifier({
    algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'],
    iatWindowSeconds: 60,
    clockSkewSeconds: 5,
    maxProofBytes: 4096,
    nonces: undefined,
    origins: new Set(),
    now: () => NOW,
    replay: () => replay,
    replayTimeoutMs: 200,
    ...over,
  });
}

function request(header: DpopRequest['header'], k: Key, over: Partial<DpopRequest> = {}): DpopRequest {
  return { header, method: 'GET', target: normalizeHtu(URI), accessToken: TOKEN, jkt: k.jkt, ...over };
}

const reasonOf = (r: Awaited<ReturnType<ReturnType<typeof verifier>>>): string => (r.ok ? 'ok' : r.reason);

describe('DPoP proof checks', () => {
  it('accepts a valid proof for ES256, RS256, PS256 and EdDSA keys', async () => {
    for (const alg of ['ES256', 'RS256', 'PS256', 'EdDSA']) {
      const k = await key(alg);
      const result = await verifier()(request(await proof(k), k));
      assert.deepEqual(result, { ok: true, jkt: k.jkt }, alg);
    }
  });

  it('claims the jti once, keyed by thumbprint, for the window plus twice the skew', async () => {
    const k = await key();
    const replay = new MemoryReplay();
    const verify = verifier({}, replay);
    const p = await proof(k, { jti: 'once' });
    assert.equal(reasonOf(await verify(request(p, k))), 'ok');
    assert.equal(reasonOf(await verify(request(p, k))), 'dpop_proof_replayed');
    assert.deepEqual([...replay.keys], [[replayKey(k.jkt, 'once'), 70_000]]);
    // Another key may use the same jti.
    const other = await key();
    assert.equal(reasonOf(await verify(request(await proof(other, { jti: 'once' }), other))), 'ok');
  });

  it('refuses a missing, several, oversized or malformed DPoP header', async () => {
    const k = await key();
    const p = await proof(k);
    const verify = verifier();
    const cases: [DpopRequest['header'], string][] = [
      [undefined, 'dpop_proof_missing'],
      [[p, p], 'dpop_proof_multiple'],
      [`${p}, ${p}`, 'dpop_proof_multiple'],
      [`${p}.${'a'.repeat(5000)}`, 'dpop_proof_oversized'],
      ['', 'dpop_proof_malformed'],
      ['a.b', 'dpop_proof_malformed'],
      ['a..c', 'dpop_proof_malformed'],
      [`${p}.x`, 'dpop_proof_malformed'],
      [` ${p}`, 'dpop_proof_malformed'],
      [p.replace('.', '+.'), 'dpop_proof_malformed'],
      ['e30.e30.e30', 'dpop_proof_wrong_typ'],
      ['bm90LWpzb24.e30.e30', 'dpop_proof_malformed'],
    ];
    for (const [header, reason] of cases) assert.equal(reasonOf(await verify(request(header, k))), reason);
  });

  it('refuses a wrong typ, a forbidden alg, no jwk or a private jwk', async () => {
    const k = await key();
    const verify = verifier();
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    const cases: [Record<string, unknown>, string][] = [
      [{ typ: 'JWT' }, 'dpop_proof_wrong_typ'],
      [{ typ: 'application/dpop+jwt' }, 'dpop_proof_wrong_typ'],
      [{ jwk: undefined }, 'dpop_proof_no_jwk'],
      [{ jwk: 'key' }, 'dpop_proof_no_jwk'],
      [{ jwk: privateJwk }, 'dpop_proof_private_key'],
      [{ jwk: { ...k.jwk, k: 'c2VjcmV0' } }, 'dpop_proof_private_key'],
    ];
    for (const [header, reason] of cases)
      assert.equal(reasonOf(await verify(request(await proof(k, {}, header), k))), reason, reason);
    // alg none and HS256, hand-built (jose will not sign them with this key).
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const body = b64({ jti: 'x', htm: 'GET', htu: URI, iat: NOW / 1000, ath: accessTokenHash(TOKEN) });
    for (const alg of ['none', 'HS256', 'ES384']) {
      const forged = `${b64({ typ: 'dpop+jwt', alg, jwk: k.jwk })}.${body}.${b64('sig')}`;
      assert.equal(reasonOf(await verify(request(forged, k))), 'dpop_proof_alg_not_allowed', alg);
    }
    // HS256 "signed" with the public key bytes (algorithm confusion) is still refused by alg.
    const input = `${b64({ typ: 'dpop+jwt', alg: 'HS256', jwk: k.jwk })}.${body}`;
    const mac = createHmac('sha256', JSON.stringify(k.jwk)).update(input).digest('base64url');
    assert.equal(reasonOf(await verify(request(`${input}.${mac}`, k))), 'dpop_proof_alg_not_allowed');
  });

  it('refuses a bad signature: tampered payload, a proof signed by another key, alg not matching the key', async () => {
    const k = await key();
    const other = await key();
    const verify = verifier();
    const p = await proof(k);
    const [h, , s] = p.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ jti: 'x', htm: 'GET', htu: URI, iat: NOW / 1000 })).toString('base64url')}.${s}`;
    assert.equal(reasonOf(await verify(request(tampered, k))), 'dpop_proof_bad_signature');
    // The header names k's public key but other's private key signed.
    const swapped = await proof({ ...other, jwk: k.jwk });
    assert.equal(reasonOf(await verify(request(swapped, k))), 'dpop_proof_bad_signature');
    // A P-256 key under alg ES384 (both allowed): the key does not fit the algorithm.
    const es384 = verifier({ algorithms: ['ES256', 'ES384'] });
    const [, body, sig] = p.split('.');
    const header = Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES384', jwk: k.jwk })).toString(
      'base64url',
    );
    assert.equal(reasonOf(await es384(request(`${header}.${body}.${sig}`, k))), 'dpop_proof_bad_signature');
  });

  it('requires jti, htm, htu and iat of the right types', async () => {
    const k = await key();
    const verify = verifier();
    const cases: [Record<string, unknown>, string][] = [
      [{ jti: undefined }, 'dpop_proof_bad_jti'],
      [{ jti: '' }, 'dpop_proof_bad_jti'],
      [{ jti: 'x'.repeat(257) }, 'dpop_proof_bad_jti'],
      [{ jti: 7 }, 'dpop_proof_bad_jti'],
      [{ htm: undefined }, 'dpop_proof_missing_claims'],
      [{ htu: undefined }, 'dpop_proof_missing_claims'],
      [{ iat: undefined }, 'dpop_proof_missing_claims'],
      [{ iat: '1700000000' }, 'dpop_proof_missing_claims'],
    ];
    for (const [claims, reason] of cases)
      assert.equal(
        reasonOf(await verify(request(await proof(k, claims), k))),
        reason,
        JSON.stringify(claims),
      );
  });

  it('htm must equal the request method exactly; htu the request URI after normalization', async () => {
    const k = await key();
    const verify = verifier();
    assert.equal(
      reasonOf(await verify(request(await proof(k, { htm: 'get' }), k))),
      'dpop_proof_htm_mismatch',
    );
    assert.equal(
      reasonOf(await verify(request(await proof(k, { htm: 'POST' }), k))),
      'dpop_proof_htm_mismatch',
    );
    for (const htu of [
      'https://api.example.com/other',
      'http://api.example.com/items',
      'https://evil.example.com/items',
      'https://api.example.com:8443/items',
      'https://api.example.com/items/',
      '/items',
      'not a uri',
      'ftp://api.example.com/items',
      'https://user@api.example.com/items',
    ])
      assert.equal(
        reasonOf(await verify(request(await proof(k, { htu }), k))),
        'dpop_proof_htu_mismatch',
        htu,
      );
    for (const htu of [
      'HTTPS://API.example.com:443/items',
      'https://api.example.com/items?x=1',
      'https://api.example.com/%69tems',
    ])
      assert.equal(reasonOf(await verify(request(await proof(k, { htu }), k))), 'ok', htu);
    // No request URI could be formed (no Host): nothing matches.
    assert.equal(
      reasonOf(await verify(request(await proof(k), k, { target: undefined }))),
      'dpop_proof_htu_mismatch',
    );
  });

  it('with configured origins, the htu origin must be one of them', async () => {
    const k = await key();
    const verify = verifier({ origins: new Set(['https://public.example.com']) });
    const behindProxy = { target: normalizeHtu('http://10.0.0.5:8080/items') };
    assert.equal(
      reasonOf(
        await verify(request(await proof(k, { htu: 'https://public.example.com/items' }), k, behindProxy)),
      ),
      'ok',
    );
    assert.equal(
      reasonOf(await verify(request(await proof(k, { htu: 'http://10.0.0.5:8080/items' }), k, behindProxy))),
      'dpop_proof_htu_mismatch',
    );
    assert.equal(
      reasonOf(
        await verify(request(await proof(k, { htu: 'https://public.example.com/other' }), k, behindProxy)),
      ),
      'dpop_proof_htu_mismatch',
    );
  });

  it('iat must lie within the window (with skew) of the injected clock', async () => {
    const k = await key();
    const verify = verifier();
    const t = NOW / 1000;
    const cases: [number, string][] = [
      [t, 'ok'],
      [t - 65, 'ok'],
      [t - 66, 'dpop_proof_stale'],
      [t + 5, 'ok'],
      [t + 6, 'dpop_proof_from_future'],
      [t - 86400, 'dpop_proof_stale'],
    ];
    for (const [iat, reason] of cases)
      assert.equal(reasonOf(await verify(request(await proof(k, { iat }), k))), reason, String(iat - t));
  });

  it('ath must be the hash of the presented access token', async () => {
    const k = await key();
    const verify = verifier();
    assert.equal(
      reasonOf(await verify(request(await proof(k, { ath: accessTokenHash('other') }), k))),
      'dpop_proof_ath_mismatch',
    );
    assert.equal(
      reasonOf(await verify(request(await proof(k, { ath: undefined }), k))),
      'dpop_proof_ath_mismatch',
    );
    assert.equal(
      reasonOf(await verify(request(await proof(k), k, { accessToken: `${TOKEN}x` }))),
      'dpop_proof_ath_mismatch',
    );
  });

  it('the proof key must be the one the token is bound to (cnf.jkt)', async () => {
    const k = await key();
    const other = await key();
    assert.equal(reasonOf(await verifier()(request(await proof(other), k))), 'dpop_proof_jkt_mismatch');
  });

  it('a replay store that fails or hangs fails closed as unavailable; a refused proof claims nothing', async () => {
    const k = await key();
    const broken: ReplayCache = { claim: () => Promise.reject(new Error('down')), close: async () => {} };
    const down = await verifier({}, broken)(request(await proof(k), k));
    assert.deepEqual(down, {
      ok: false,
      reason: 'replay_cache_unavailable',
      error: 'invalid_dpop_proof',
      unavailable: true,
    });
    const hanging: ReplayCache = { claim: () => new Promise(() => {}), close: async () => {} };
    const slow = await verifier({}, hanging)(request(await proof(k), k));
    assert.equal(slow.ok, false);
    assert.equal(!slow.ok && slow.unavailable, true);
    const throwing = verifier({
      replay: () => {
        throw new Error('store not implemented yet');
      },
    });
    const stub = await throwing(request(await proof(k), k));
    assert.equal(!stub.ok && stub.unavailable, true);
    const replay = new MemoryReplay();
    await verifier({}, replay)(request(await proof(k, { htm: 'POST' }), k));
    assert.equal(replay.keys.size, 0);
  });

  it('nonces: none or a forged one → use_dpop_nonce with a fresh nonce; current passes; previous passes with a new one', async () => {
    const k = await key();
    let now = NOW;
    const nonces = createNonces(Buffer.alloc(32, 7), 300, () => now);
    const verify = verifier({ nonces, now: () => now });
    const missing = await verify(request(await proof(k), k));
    assert.equal(missing.ok, false);
    if (missing.ok) return;
    assert.equal(missing.error, 'use_dpop_nonce');
    assert.equal(missing.reason, 'dpop_nonce_missing');
    assert.equal(missing.nonce, nonces.issue());
    const forged = await verify(request(await proof(k, { nonce: 'A'.repeat(27) }), k));
    assert.equal(!forged.ok && forged.error, 'use_dpop_nonce');
    const nonce = nonces.issue();
    assert.deepEqual(await verify(request(await proof(k, { nonce }), k)), { ok: true, jkt: k.jkt });
    now += 300_000;
    const iat = Math.floor(now / 1000);
    const previous = await verify(request(await proof(k, { nonce, iat }), k));
    assert.equal(previous.ok, true);
    assert.ok(previous.ok && previous.nonce !== undefined && previous.nonce !== nonce);
    now += 300_000;
    const stale = await verify(request(await proof(k, { nonce, iat: Math.floor(now / 1000) }), k));
    assert.equal(!stale.ok && stale.reason, 'dpop_nonce_stale');
  });
});

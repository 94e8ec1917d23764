import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CompactSign, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { ClientCertificate, RequestContext } from '../../../core/context.js';
import type { CreateContext, PluginDeps } from '../../../core/plugin.js';
import type { PresentedToken, Principal } from '../../../core/principal.js';
import type { ReplayCache, Stores } from '../../../stores/types.js';
import { x5tS256FromFingerprint } from './cert-bound.js';
import { accessTokenHash } from './dpop.js';
import tokenBinding, { createTokenBinding } from './index.js';
import { createNonces } from './nonce.js';

const NOW = 1_700_000_000_000;
const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';
const FP = `${'AB:'.repeat(31)}CD`;
const SECRET = 's'.repeat(32);

const config = {
  algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'],
  iatWindowSeconds: 60,
  clockSkewSeconds: 5,
  maxProofBytes: 4096,
  nonce: 'off' as 'off' | 'required',
  nonceSecret: '',
  nonceLifetimeSeconds: 300,
  origins: [] as string[],
  replayTimeoutMs: 500,
};

class MemoryReplay implements ReplayCache {
  readonly keys = new Set<string>();
  opened = 0;
  async claim(k: string): Promise<boolean> {
    if (this.keys.has(k)) return false;
    this.keys.add(k);
    return true;
  }
  async close(): Promise<void> {}
}

const PRINCIPAL = Object.freeze({ id: 'jwt:x', method: 'jwt' }) as unknown as Principal;

function ctxFor(
  token: PresentedToken | undefined,
  opts: {
    dpop?: string | string[];
    cert?: ClientCertificate;
    method?: string;
    url?: string;
    host?: string;
  } = {},
): RequestContext {
  return {
    token,
    principal: token === undefined ? undefined : PRINCIPAL,
    authFailure: undefined,
    responseHeaders: undefined,
    clientCertificate: opts.cert,
    method: opts.method ?? 'GET',
    scheme: 'https',
    req: {
      url: opts.url ?? '/items?page=2',
      headers: {
        host: opts.host ?? 'api.example.com',
        ...(opts.dpop === undefined ? {} : { dpop: opts.dpop }),
      },
    },
  } as unknown as RequestContext;
}

async function dpopKey() {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = await exportJWK(publicKey);
  const jkt = await calculateJwkThumbprint(jwk);
  const proof = (claims: Record<string, unknown> = {}) =>
    new CompactSign(
      new TextEncoder().encode(
        JSON.stringify({
          jti: `j${Math.random()}`,
          htm: 'GET',
          htu: 'https://api.example.com/items',
          iat: NOW / 1000,
          ath: accessTokenHash(TOKEN),
          ...claims,
        }),
      ),
    )
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk })
      .sign(privateKey);
  return { jkt, proof };
}

function cert(over: Partial<ClientCertificate> = {}): ClientCertificate {
  return {
    subject: 'svc',
    issuer: 'ca',
    sans: [],
    fingerprint256: FP,
    serialNumber: '01',
    validFrom: '',
    validTo: '',
    verified: true,
    error: undefined,
    ...over,
  };
}

const ALGS = 'algs="ES256 RS256 PS256 EdDSA"';

describe('token-binding stage', () => {
  const make = (over: Partial<typeof config> = {}, replay = new MemoryReplay()) => {
    let opened = 0;
    const handler = createTokenBinding(
      { ...config, ...over },
      {
        replay: () => {
          opened++;
          return replay;
        },
        now: () => NOW,
      },
    );
    return { handler, replay, opened: () => opened };
  };

  it('without a token: returns synchronously and opens no store', () => {
    const { handler, opened } = make();
    const ctx = ctxFor(undefined, { dpop: 'garbage' });
    assert.equal(handler(ctx), undefined);
    assert.equal(ctx.authFailure, undefined);
    assert.equal(opened(), 0);
  });

  it('a plain bearer token passes synchronously; a DPoP header beside it is ignored', () => {
    const { handler } = make();
    const ctx = ctxFor({ raw: TOKEN, scheme: 'Bearer', cnf: undefined }, { dpop: 'garbage' });
    assert.equal(handler(ctx), undefined);
    assert.equal(ctx.principal, PRINCIPAL);
    assert.equal(ctx.authFailure, undefined);
  });

  it('does nothing after an earlier refusal', () => {
    const { handler } = make();
    const ctx = ctxFor({ raw: TOKEN, scheme: 'DPoP', cnf: undefined });
    ctx.authFailure = { method: 'jwt', reason: 'expired' };
    ctx.principal = undefined;
    handler(ctx);
    assert.equal(ctx.authFailure.method, 'jwt');
  });

  describe('certificate-bound tokens (RFC 8705)', () => {
    const x5t = x5tS256FromFingerprint(FP);
    it('pass over a connection with the verified certificate they name', () => {
      const { handler } = make();
      const ctx = ctxFor({ raw: TOKEN, scheme: 'Bearer', cnf: { 'x5t#S256': x5t } }, { cert: cert() });
      assert.equal(handler(ctx), undefined);
      assert.equal(ctx.principal, PRINCIPAL);
    });

    it('are refused with Bearer error="invalid_token" without it, with another or an unverified one', () => {
      const { handler } = make();
      const cases: [ClientCertificate | undefined, string][] = [
        [undefined, 'certificate_missing'],
        [cert({ fingerprint256: FP.replace('AB', '00') }), 'certificate_mismatch'],
        [cert({ verified: false }), 'certificate_not_verified'],
      ];
      for (const [c, reason] of cases) {
        const ctx = ctxFor({ raw: TOKEN, scheme: 'Bearer', cnf: { 'x5t#S256': x5t } }, c ? { cert: c } : {});
        handler(ctx);
        assert.equal(ctx.principal, undefined);
        assert.deepEqual(ctx.authFailure, {
          method: 'token-binding',
          reason,
          challenge: 'Bearer error="invalid_token"',
        });
      }
    });
  });

  describe('DPoP-bound tokens (RFC 9449)', () => {
    it('a valid proof passes, the same proof again is refused as a replay', async () => {
      const { handler, replay, opened } = make();
      const k = await dpopKey();
      const proof = await k.proof();
      const token: PresentedToken = { raw: TOKEN, scheme: 'DPoP', cnf: { jkt: k.jkt } };
      const ok = ctxFor(token, { dpop: proof });
      await handler(ok);
      assert.equal(ok.authFailure, undefined);
      assert.equal(ok.principal, PRINCIPAL);
      assert.equal(replay.keys.size, 1);
      const again = ctxFor(token, { dpop: proof });
      await handler(again);
      assert.equal(again.principal, undefined);
      assert.deepEqual(again.authFailure, {
        method: 'token-binding',
        reason: 'dpop_proof_replayed',
        challenge: `DPoP error="invalid_dpop_proof", ${ALGS}`,
      });
      assert.equal(opened(), 1, 'the replay store is asked for once');
    });

    it('htu is the scheme, Host and path the client addressed', async () => {
      const { handler } = make();
      const k = await dpopKey();
      const token: PresentedToken = { raw: TOKEN, scheme: 'DPoP', cnf: { jkt: k.jkt } };
      const wrongHost = ctxFor(token, { dpop: await k.proof(), host: 'other.example.com' });
      await handler(wrongHost);
      assert.equal(wrongHost.authFailure?.reason, 'dpop_proof_htu_mismatch');
      const oddHost = ctxFor(token, { dpop: await k.proof(), host: 'api.example.com@evil' });
      await handler(oddHost);
      assert.equal(oddHost.authFailure?.reason, 'dpop_proof_htu_mismatch');
      const post = ctxFor(token, { dpop: await k.proof(), method: 'POST' });
      await handler(post);
      assert.equal(post.authFailure?.reason, 'dpop_proof_htm_mismatch');
    });

    it('a DPoP-bound token sent as Bearer is a downgrade, refused without looking at any proof', () => {
      const { handler, opened } = make();
      const ctx = ctxFor({ raw: TOKEN, scheme: 'Bearer', cnf: { jkt: 'A'.repeat(43) } }, { dpop: 'x.y.z' });
      assert.equal(handler(ctx), undefined);
      assert.deepEqual(ctx.authFailure, {
        method: 'token-binding',
        reason: 'dpop_bound_token_as_bearer',
        challenge: `DPoP error="invalid_token", ${ALGS}`,
      });
      assert.equal(ctx.principal, undefined);
      assert.equal(opened(), 0);
    });

    it('a token sent with the DPoP scheme but bound to no key, or a malformed jkt, is refused', () => {
      const { handler } = make();
      const unbound = ctxFor({ raw: TOKEN, scheme: 'DPoP', cnf: undefined });
      handler(unbound);
      assert.equal(unbound.authFailure?.reason, 'token_not_dpop_bound');
      assert.equal(unbound.authFailure?.challenge, `DPoP error="invalid_token", ${ALGS}`);
      const malformed = ctxFor({ raw: TOKEN, scheme: 'DPoP', cnf: { jkt: 'short' } });
      handler(malformed);
      assert.equal(malformed.authFailure?.reason, 'cnf_jkt_malformed');
    });

    it('a token bound to both a certificate and a key needs both', async () => {
      const { handler } = make();
      const k = await dpopKey();
      const token: PresentedToken = {
        raw: TOKEN,
        scheme: 'DPoP',
        cnf: { jkt: k.jkt, 'x5t#S256': x5tS256FromFingerprint(FP) },
      };
      const noCert = ctxFor(token, { dpop: await k.proof() });
      await handler(noCert);
      assert.equal(noCert.authFailure?.reason, 'certificate_missing');
      assert.equal(noCert.authFailure?.challenge, `DPoP error="invalid_token", ${ALGS}`);
      const both = ctxFor(token, { dpop: await k.proof(), cert: cert() });
      await handler(both);
      assert.equal(both.authFailure, undefined);
    });

    it('a replay store that cannot answer fails closed as unavailable', async () => {
      const handler = createTokenBinding(config, {
        replay: () => {
          throw new Error('store not implemented yet');
        },
        now: () => NOW,
      });
      const k = await dpopKey();
      const ctx = ctxFor({ raw: TOKEN, scheme: 'DPoP', cnf: { jkt: k.jkt } }, { dpop: await k.proof() });
      await handler(ctx);
      assert.deepEqual(ctx.authFailure, {
        method: 'token-binding',
        reason: 'replay_cache_unavailable',
        unavailable: true,
      });
    });

    it('nonce required: use_dpop_nonce with a DPoP-Nonce header, then the retry with it passes', async () => {
      const { handler } = make({ nonce: 'required', nonceSecret: SECRET });
      const k = await dpopKey();
      const token: PresentedToken = { raw: TOKEN, scheme: 'DPoP', cnf: { jkt: k.jkt } };
      const first = ctxFor(token, { dpop: await k.proof() });
      await handler(first);
      assert.equal(first.authFailure?.reason, 'dpop_nonce_missing');
      assert.equal(
        first.authFailure?.challenge,
        `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", ${ALGS}`,
      );
      const nonce = first.authFailure?.headers?.['dpop-nonce'];
      assert.equal(typeof nonce, 'string');
      // Stateless: another node with the same secret issues the same nonce.
      assert.equal(createNonces(Buffer.from(SECRET), 300, () => NOW).issue(), nonce);
      const retry = ctxFor(token, { dpop: await k.proof({ nonce }) });
      await handler(retry);
      assert.equal(retry.authFailure, undefined);
      assert.equal(retry.responseHeaders, undefined);
    });

    it('refuses a short nonce secret at start-up without echoing it', () => {
      assert.throws(
        () => make({ nonce: 'required', nonceSecret: 'short-secret' }),
        (err: Error) => /at least 32/.test(err.message) && !err.message.includes('short-secret'),
      );
      assert.throws(() => make({ origins: ['https://api.example.com/path'] }), /origins\[0\]/);
      assert.throws(() => make({ origins: ['ftp://api.example.com'] }), /origins\[0\]/);
      make({ origins: ['https://api.example.com', 'https://API.example.com:443/'] });
    });
  });
});

describe('token-binding plugin', () => {
  it('is on by default, not optional, and sets no challenge of its own', async () => {
    assert.equal(tokenBinding.enabledByDefault, true);
    assert.equal(tokenBinding.optional, false);
    assert.equal(tokenBinding.priority, 50);
    const stores = {
      replay: () => {
        throw new Error('must not be opened at create');
      },
    } as unknown as Stores;
    const handlers = await tokenBinding.create(
      { ...config, mode: 'enforce' } as never,
      {
        deps: { stores } as unknown as PluginDeps,
        route: undefined,
        configPath: 'plugins.token-binding',
      } as CreateContext,
    );
    assert.equal(handlers.challenge, undefined);
    assert.equal(typeof handlers.onRequest, 'function');
  });
});

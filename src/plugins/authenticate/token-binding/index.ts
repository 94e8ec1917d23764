import { Type } from '@sinclair/typebox';
import type { RequestContext } from '../../../core/context.js';
import { definePlugin, type RequestHandler } from '../../../core/plugin.js';
import type { PresentedToken } from '../../../core/principal.js';
import type { ReplayCache } from '../../../stores/types.js';
import { certificateBindingProblem, isThumbprint } from './cert-bound.js';
import { createDpopVerifier, DPOP_ALGORITHMS, type DpopResult } from './dpop.js';
import { normalizeOrigins, requestTarget } from './htu.js';
import { createNonces, perProcessSecret } from './nonce.js';

export const tokenBindingSchema = Type.Object(
  {
    algorithms: Type.Array(Type.Union(DPOP_ALGORITHMS.map((a) => Type.Literal(a))), {
      minItems: 1,
      uniqueItems: true,
      description:
        'JWS algorithms accepted for DPoP proofs, announced in the algs parameter of the DPoP challenge. Asymmetric only: none and HMAC algorithms cannot be listed.',
      default: ['ES256', 'RS256', 'PS256', 'EdDSA'],
    }),
    iatWindowSeconds: Type.Integer({
      minimum: 1,
      maximum: 600,
      description:
        'How old (by its iat) a DPoP proof may be. Proof ids (jti) are remembered this long plus twice the clock skew, in the replay store (stores.replay).',
      default: 60,
    }),
    clockSkewSeconds: Type.Integer({
      minimum: 0,
      maximum: 300,
      description: 'Tolerated difference between the client clock and ours, either way, for a proof iat.',
      default: 5,
    }),
    maxProofBytes: Type.Integer({
      minimum: 256,
      maximum: 16384,
      description: 'Longest DPoP header accepted; a longer one is refused before any decoding.',
      default: 4096,
    }),
    nonce: Type.Union([Type.Literal('off'), Type.Literal('required')], {
      description:
        'required: every DPoP proof must carry a server nonce (RFC 9449 §9); a proof without one, or with an old one, gets 401 DPoP error="use_dpop_nonce" and a DPoP-Nonce header to retry with.',
      default: 'off',
    }),
    nonceSecret: Type.String({
      description:
        'Secret (32 characters or more, e.g. ${env:DPOP_NONCE_SECRET}) for the HMAC of stateless nonces; give every gateway node the same one. Empty: a random secret per process (nonces then work on one node only and not across restarts).',
      default: '',
    }),
    nonceLifetimeSeconds: Type.Integer({
      minimum: 10,
      maximum: 3600,
      description:
        'A nonce is valid for one to two lifetimes; once it is past the first, the answer carries a fresh DPoP-Nonce.',
      default: 300,
    }),
    origins: Type.Array(Type.String(), {
      description:
        'Public origins (e.g. https://api.example.com) a proof htu may name. Empty: the scheme of the listener and the Host header the request arrived with. Set it behind a TLS-terminating proxy or load balancer, where the gateway sees http or another host.',
      default: [],
    }),
    replayTimeoutMs: Type.Integer({
      minimum: 10,
      maximum: 10000,
      description:
        'Longest wait for the replay store to record a proof id; slower (or down) answers 503 AUTH_UNAVAILABLE (fail closed).',
      default: 1000,
    }),
  },
  { additionalProperties: false },
);

type TokenBindingConfig = {
  readonly algorithms: readonly string[];
  readonly iatWindowSeconds: number;
  readonly clockSkewSeconds: number;
  readonly maxProofBytes: number;
  readonly nonce: 'off' | 'required';
  readonly nonceSecret: string;
  readonly nonceLifetimeSeconds: number;
  readonly origins: readonly string[];
  readonly replayTimeoutMs: number;
};

export interface TokenBindingDeps {
  /** The jti replay cache; called on the first DPoP proof only (stores open lazily). */
  readonly replay: () => ReplayCache;
  /** Epoch milliseconds. */
  readonly now?: () => number;
}

const METHOD = 'token-binding';
const MIN_SECRET_LENGTH = 32;

/** The hot-path handler, with its dependencies injected (tests pass their own replay cache and clock). */
export function createTokenBinding(config: TokenBindingConfig, deps: TokenBindingDeps): RequestHandler {
  if (config.nonceSecret !== '' && config.nonceSecret.length < MIN_SECRET_LENGTH)
    throw new Error(`nonceSecret must be at least ${MIN_SECRET_LENGTH} characters`);
  const now = deps.now ?? Date.now;
  const algs = config.algorithms.join(' ');
  const challenge = {
    proof: `DPoP error="invalid_dpop_proof", algs="${algs}"`,
    nonce: `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="${algs}"`,
    DPoP: `DPoP error="invalid_token", algs="${algs}"`,
    Bearer: 'Bearer error="invalid_token"',
  } as const;
  const nonces =
    config.nonce === 'required'
      ? createNonces(
          config.nonceSecret === '' ? perProcessSecret() : Buffer.from(config.nonceSecret, 'utf8'),
          config.nonceLifetimeSeconds,
          now,
        )
      : undefined;
  let replay: ReplayCache | undefined;
  const verify = createDpopVerifier({
    algorithms: config.algorithms,
    iatWindowSeconds: config.iatWindowSeconds,
    clockSkewSeconds: config.clockSkewSeconds,
    maxProofBytes: config.maxProofBytes,
    nonces,
    origins: normalizeOrigins(config.origins),
    now,
    replay: () => {
      replay ??= deps.replay();
      return replay;
    },
    replayTimeoutMs: config.replayTimeoutMs,
  });

  function fail(
    ctx: RequestContext,
    reason: string,
    challengeValue: string | undefined,
    extra: { credentialId?: string; headers?: Record<string, string>; unavailable?: boolean } = {},
  ): void {
    ctx.principal = undefined;
    ctx.authFailure = Object.freeze({
      method: METHOD,
      reason,
      ...(challengeValue === undefined ? {} : { challenge: challengeValue }),
      ...extra,
    });
  }

  function applyDpop(ctx: RequestContext, result: DpopResult): void {
    if (result.ok) {
      if (result.nonce !== undefined)
        ctx.responseHeaders = { ...ctx.responseHeaders, 'dpop-nonce': result.nonce };
      return;
    }
    if (result.unavailable === true) fail(ctx, result.reason, undefined, { unavailable: true });
    else if (result.error === 'use_dpop_nonce')
      fail(ctx, result.reason, challenge.nonce, { headers: { 'dpop-nonce': result.nonce as string } });
    else fail(ctx, result.reason, challenge.proof);
  }

  function bind(ctx: RequestContext, token: PresentedToken): void | Promise<void> {
    if (ctx.authFailure !== undefined) return;
    const scheme = token.scheme;
    const cnf = token.cnf;
    const x5t = cnf?.['x5t#S256'];
    if (x5t !== undefined) {
      // RFC 8705 §3: a certificate-bound token only over a connection with that very certificate.
      const problem = certificateBindingProblem(ctx.clientCertificate, x5t);
      if (problem !== undefined) return fail(ctx, problem, challenge[scheme]);
    }
    const jkt = cnf?.jkt;
    if (jkt === undefined) {
      // A plain bearer token (or an mTLS-bound one that just passed).
      if (scheme === 'Bearer') return;
      // "Authorization: DPoP" with a token that is not bound to a key: nothing to prove.
      return fail(ctx, 'token_not_dpop_bound', challenge.DPoP);
    }
    if (!isThumbprint(jkt)) return fail(ctx, 'cnf_jkt_malformed', challenge[scheme]);
    // RFC 9449 §7.2: a DPoP-bound token sent as a bearer token is a downgrade.
    if (scheme !== 'DPoP') return fail(ctx, 'dpop_bound_token_as_bearer', challenge.DPoP);
    const req = ctx.req;
    return verify({
      header: req.headers.dpop,
      method: ctx.method,
      target: requestTarget(ctx.scheme, req.headers.host, req.url),
      accessToken: token.raw,
      jkt,
    }).then((result) => applyDpop(ctx, result));
  }

  return function checkTokenBinding(ctx: RequestContext): void | Promise<void> {
    const token = ctx.token;
    if (token === undefined) return;
    return bind(ctx, token);
  };
}

export default definePlugin({
  name: 'token-binding',
  phase: 'authenticate',
  // After every token authenticator (100–900), before the authentication gate (0).
  priority: 50,
  description:
    'Checks that a sender-constrained access token is used by its holder: DPoP proofs (RFC 9449) and certificate-bound tokens (RFC 8705). Does nothing for requests without an accepted access token.',
  schema: tokenBindingSchema,
  enabledByDefault: true,
  enforcing: false,
  optional: false,
  create(config, { deps }) {
    return {
      // Not an authenticator of its own: no challenge, so a route is not counted as authenticated by it.
      onRequest: createTokenBinding(config, { replay: () => deps.stores.replay() }),
    };
  },
});

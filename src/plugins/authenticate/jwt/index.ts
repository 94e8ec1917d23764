import {
  type BearerResult,
  bearerFromHeader,
  bearerFromQuery,
  isJwtShaped,
  type PresentedBearer,
  refuseBearer,
  settleBearer,
  setUpstreamHeader,
  sharedWithinPlan,
  takeQueryParameter,
  unsafeHeaderToken,
} from '../../../auth/bearer.js';
import type { RequestContext } from '../../../core/context.js';
import { definePlugin } from '../../../core/plugin.js';
import { jwtSchema } from './schema.js';
import { JwtVerifier, type Outcome, type VerifiedToken } from './verifier.js';

export { jwtSchema } from './schema.js';
export { JwtVerifier } from './verifier.js';

const METHOD = 'jwt';

function refuse(ctx: RequestContext, reason: string, presented: PresentedBearer | undefined): void {
  refuseBearer(ctx, METHOD, reason, presented?.scheme);
}

export default definePlugin({
  name: METHOD,
  phase: 'authenticate',
  priority: 500,
  description:
    'Authenticates JWT access tokens (Authorization: Bearer or DPoP) per issuer: JWKS (cached, refetched on an unknown kid at most once per cooldown) or static keys or an HMAC secret; algorithm allowlist, iss/aud/exp required, nbf/iat with clock skew, max age, required claims, typ; verified tokens cached until exp.',
  schema: jwtSchema,
  enabledByDefault: false,
  enforcing: false,
  optional: true,
  async create(config, { deps }) {
    const shared = sharedWithinPlan(deps, `jwt\0${JSON.stringify(config)}`, () => {
      const verifier = new JwtVerifier(config, { logger: deps.logger });
      return { value: { verifier, ready: verifier.init() }, close: () => verifier.close() };
    });
    try {
      await shared.value.ready;
    } catch (err) {
      await shared.release();
      throw err;
    }
    const { verifier } = shared.value;
    const queryParameter = config.queryParameter;
    const forwardToken = config.forwardToken;

    function accept(ctx: RequestContext, verified: VerifiedToken, presented: PresentedBearer): void {
      ctx.principal = verified.principal;
      ctx.token = { raw: presented.token, scheme: presented.scheme, cnf: verified.cnf };
      if (!forwardToken) setUpstreamHeader(ctx, 'authorization', null);
      else if (presented.from === 'query')
        setUpstreamHeader(ctx, 'authorization', `Bearer ${presented.token}`);
    }

    function settle(ctx: RequestContext, outcome: Outcome, presented: PresentedBearer): void {
      settleBearer(ctx, METHOD, outcome, presented, accept);
    }

    return {
      challenge: 'Bearer',
      close: shared.release,
      onRequest: function authenticateJwt(ctx: RequestContext): void | Promise<void> {
        if (ctx.principal !== undefined || ctx.authFailure !== undefined) {
          // Decided by another authenticator: a token in the URL still never travels on.
          if (queryParameter !== '') ctx.query = takeQueryParameter(ctx.query, queryParameter).rest;
          return;
        }
        const header = ctx.req.headers.authorization;
        if (queryParameter === '') {
          // Hot path: a token verified before. Only checked tokens are cached, so a hit needs no
          // syntax check; anything else takes the full path below.
          const raw = unsafeHeaderToken(header);
          if (raw === undefined) return;
          const known = verifier.lookup(raw.token, Date.now());
          if (known !== undefined && typeof known !== 'string') {
            accept(ctx, known, { token: raw.token, scheme: raw.scheme, from: 'header' });
            return;
          }
        }
        let found: BearerResult = bearerFromHeader(header);
        if (queryParameter !== '') {
          const taken = takeQueryParameter(ctx.query, queryParameter);
          if (taken.values.length > 0) {
            // The token never travels on in the URL, and never reaches the access log.
            ctx.query = taken.rest;
            found = found === undefined ? bearerFromQuery(taken.values) : { error: 'multiple_tokens' };
          }
        }
        if (found === undefined) return;
        if ('error' in found) {
          refuse(ctx, found.error, undefined);
          return;
        }
        // An opaque token is not ours: another authenticator (introspection) may take it.
        if (!isJwtShaped(found.token)) return;
        const presented = found;
        const known = verifier.lookup(presented.token, Date.now());
        if (known !== undefined) {
          if (typeof known === 'string') refuse(ctx, known, presented);
          else accept(ctx, known, presented);
          return;
        }
        return verifier.verify(presented.token).then((outcome) => settle(ctx, outcome, presented));
      },
    };
  },
});

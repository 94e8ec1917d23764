import {
  bearerFromHeader,
  type PresentedBearer,
  refuseBearer,
  settleBearer,
  setUpstreamHeader,
  sharedWithinPlan,
  unsafeHeaderToken,
} from '../../../auth/bearer.js';
import type { RequestContext } from '../../../core/context.js';
import { definePlugin } from '../../../core/plugin.js';
import { type Introspected, Introspector, type Outcome } from './introspector.js';
import { introspectionSchema } from './schema.js';

export { Introspector } from './introspector.js';
export { introspectionSchema } from './schema.js';

const METHOD = 'introspection';

export default definePlugin({
  name: METHOD,
  phase: 'authenticate',
  // After jwt (500): a JWT the jwt authenticator decided is never introspected.
  priority: 400,
  description:
    'Authenticates opaque OAuth2 access tokens (Authorization: Bearer or DPoP) by RFC 7662 introspection: client authentication to the endpoint, active answers cached until min(exp, TTL), refusals briefly, timeout or endpoint error → 503 (fail closed).',
  schema: introspectionSchema,
  enabledByDefault: false,
  enforcing: false,
  optional: true,
  create(config, { deps }) {
    const shared = sharedWithinPlan(deps, `introspection\0${JSON.stringify(config)}`, () => {
      const introspector = new Introspector(config, { logger: deps.logger });
      return { value: introspector, close: () => introspector.close() };
    });
    const introspector = shared.value;
    const forwardToken = config.forwardToken;

    function accept(ctx: RequestContext, found: Introspected, presented: PresentedBearer): void {
      ctx.principal = found.principal;
      ctx.token = { raw: presented.token, scheme: presented.scheme, cnf: found.cnf };
      if (!forwardToken) setUpstreamHeader(ctx, 'authorization', null);
    }

    function refuse(ctx: RequestContext, reason: string, presented: PresentedBearer | undefined): void {
      refuseBearer(ctx, METHOD, reason, presented?.scheme);
    }

    function settle(ctx: RequestContext, outcome: Outcome, presented: PresentedBearer): void {
      settleBearer(ctx, METHOD, outcome, presented, accept);
    }

    return {
      challenge: 'Bearer',
      close: shared.release,
      onRequest: function authenticateIntrospection(ctx: RequestContext): void | Promise<void> {
        // A token another authenticator (jwt) accepted or refused is already decided.
        if (ctx.principal !== undefined || ctx.authFailure !== undefined) return;
        const header = ctx.req.headers.authorization;
        const raw = unsafeHeaderToken(header);
        if (raw === undefined) return;
        // Hot path: only checked tokens are ever cached, so a hit needs no syntax check.
        const hit = introspector.lookup(raw.token, Date.now());
        if (hit !== undefined && typeof hit !== 'string') {
          accept(ctx, hit, { token: raw.token, scheme: raw.scheme, from: 'header' });
          return;
        }
        const found = bearerFromHeader(header);
        if (found === undefined) return;
        if ('error' in found) {
          refuse(ctx, found.error, undefined);
          return;
        }
        const known = introspector.lookup(found.token, Date.now());
        if (known !== undefined) {
          if (typeof known === 'string') refuse(ctx, known, found);
          else accept(ctx, known, found);
          return;
        }
        return introspector.check(found.token).then((outcome) => settle(ctx, outcome, found));
      },
    };
  },
});

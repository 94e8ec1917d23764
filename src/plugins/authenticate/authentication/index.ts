import { Type } from '@sinclair/typebox';
import type { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import type { Chain } from '../../../core/plan.js';
import { definePlugin } from '../../../core/plugin.js';
import { ANONYMOUS, type AuthFailure, type Principal } from '../../../core/principal.js';
import { createIdentityHeaders, IDENTITY_FIELDS } from './identity.js';
import { createUpstreamToken, UpstreamTokenSchema } from './upstream-token.js';

export const authenticationSchema = Type.Object(
  {
    anonymous: Type.Boolean({
      description:
        'Let requests without a credential through as the anonymous principal. A route with no authenticator must say this explicitly (deny by default); a credential that is presented and refused is still refused.',
      default: false,
    }),
    realm: Type.String({
      pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e ]*$',
      description: 'realm parameter of every WWW-Authenticate challenge.',
      default: 'portcullis',
    }),
    identityHeaders: Type.Record(
      Type.String({ pattern: '^[a-z0-9-]+$' }),
      Type.Union(IDENTITY_FIELDS.map((f) => Type.Literal(f))),
      {
        description:
          'Headers set toward the upstream from the verified principal (lower-case name → principal field). Any copy the client sent is removed first, on every route, authenticated or not. Lists are joined: roles with ",", scopes with " ". Values outside visible ASCII are percent-encoded.',
        default: {
          'x-portcullis-principal': 'id',
          'x-portcullis-subject': 'subject',
          'x-portcullis-consumer': 'consumer',
          'x-portcullis-tenant': 'tenant',
          'x-portcullis-roles': 'roles',
          'x-portcullis-scopes': 'scopes',
          'x-portcullis-auth-method': 'method',
        },
      },
    ),
    stripHeaders: Type.Array(Type.String({ pattern: '^[a-z0-9-]+$' }), {
      description:
        'More client headers removed before forwarding because the upstream trusts them as identity (e.g. x-user-id). Every x-portcullis-* header from the client is removed anyway.',
      default: [],
    }),
    upstreamToken: UpstreamTokenSchema,
  },
  { additionalProperties: false },
);

/** "Bearer error=…" → "Bearer realm="r", error=…": the realm goes first, as in RFC 6750's examples. */
function withRealm(challenge: string, realm: string): string {
  const space = challenge.indexOf(' ');
  const scheme = space === -1 ? challenge : challenge.slice(0, space);
  const params = space === -1 ? '' : challenge.slice(space + 1).trim();
  return params === '' ? `${scheme} realm="${realm}"` : `${scheme} realm="${realm}", ${params}`;
}

function lockedError(seconds: number): GatewayError {
  return new GatewayError('AUTH_LOCKED', { headers: { 'retry-after': String(Math.ceil(seconds)) } });
}

export default definePlugin({
  name: 'authentication',
  phase: 'authenticate',
  // Last in its phase: every authenticator has had its turn.
  priority: 0,
  description:
    'Decides authentication: the principal an authenticator proved, anonymous only where the route allows it, otherwise one uniform 401 with WWW-Authenticate. Passes the verified identity to the upstream and removes client-sent copies.',
  schema: authenticationSchema,
  enabledByDefault: true,
  enforcing: true,
  optional: false,
  async create(config) {
    const realm = config.realm;
    const identity = createIdentityHeaders(config.identityHeaders, config.stripHeaders, config.upstreamToken);
    const upstreamToken = await createUpstreamToken(config.upstreamToken);
    // Filled by checkChain once the route's chain (and so its authenticators) is known.
    let challengeHeader = '';

    function unauthenticated(failure: AuthFailure | undefined): never {
      const challenge =
        failure?.challenge !== undefined ? withRealm(failure.challenge, realm) : challengeHeader;
      const headers: Record<string, string> =
        challenge === '' ? { ...failure?.headers } : { 'www-authenticate': challenge, ...failure?.headers };
      throw new GatewayError('UNAUTHENTICATED', { headers });
    }

    function refuse(ctx: RequestContext, failure: AuthFailure | undefined): void | Promise<void> {
      // In monitor mode the request goes on: it must still not carry client-made identity.
      ctx.upstreamHeaders = identity.headersFor(ctx, undefined);
      if (failure === undefined) unauthenticated(undefined);
      // An outage is not the client's failed attempt: never counted toward a lockout.
      if (failure.unavailable === true)
        throw new GatewayError('AUTH_UNAVAILABLE', { headers: { 'retry-after': '5' } });
      const attempts = ctx.authAttempts;
      if (attempts === undefined) unauthenticated(failure);
      attempts.failed(ctx, failure);
      const credential = failure.credentialId;
      if (credential === undefined) unauthenticated(failure);
      // A locked credential answers 429 whether the secret was right or wrong, so the answer
      // never tells a guesser which one it was.
      const locked = attempts.credentialLockedFor(credential);
      if (typeof locked === 'number') {
        if (locked > 0) throw lockedError(locked);
        unauthenticated(failure);
      }
      return locked.then((seconds) => {
        if (seconds > 0) throw lockedError(seconds);
        unauthenticated(failure);
      });
    }

    function admit(ctx: RequestContext, principal: Principal): void | Promise<void> {
      if (upstreamToken === undefined || principal === ANONYMOUS) {
        ctx.upstreamHeaders = identity.headersFor(ctx, principal);
        return;
      }
      const token = upstreamToken.cached(principal, ctx);
      if (typeof token === 'string') {
        ctx.upstreamHeaders = identity.headersFor(ctx, principal, token);
        return;
      }
      return token.then((t) => {
        ctx.upstreamHeaders = identity.headersFor(ctx, principal, t);
      });
    }

    function lockedCheck(ctx: RequestContext, principal: Principal, seconds: number): void | Promise<void> {
      if (seconds > 0) {
        ctx.upstreamHeaders = identity.headersFor(ctx, undefined);
        throw lockedError(seconds);
      }
      return admit(ctx, principal);
    }

    return {
      challenge: undefined,
      summary: config.anonymous ? 'anonymous allowed' : 'credential required',
      checkChain(chain: Chain): string | undefined {
        challengeHeader = chain.challenges
          .filter((c) => c !== '')
          .map((c) => withRealm(c, realm))
          .join(', ');
        if (chain.challenges.length === 0 && !config.anonymous)
          return 'the route has no authenticator; enable one (api-key, jwt, introspection, mtls, http-signature) or set plugins.authentication.anonymous: true to make it public';
        return undefined;
      },
      onRequest: function authenticate(ctx: RequestContext): void | Promise<void> {
        const principal = ctx.principal;
        if (principal !== undefined) {
          // A principal or key the anomaly detector blocked (autoBlock: enforce) is refused here,
          // once it is known.
          const blocked = ctx.server.blockedFor?.(principal.id, principal.credentialId) ?? 0;
          if (blocked > 0)
            throw new GatewayError('CLIENT_BLOCKED', {
              headers: { 'retry-after': String(Math.ceil(blocked / 1000)) },
            });
          const attempts = ctx.authAttempts;
          const credential = principal.credentialId;
          if (attempts !== undefined && credential !== undefined) {
            const locked = attempts.credentialLockedFor(credential);
            if (typeof locked === 'number') return lockedCheck(ctx, principal, locked);
            return locked.then((s) => lockedCheck(ctx, principal, s));
          }
          return admit(ctx, principal);
        }
        if (ctx.authFailure !== undefined || !config.anonymous) return refuse(ctx, ctx.authFailure);
        ctx.principal = ANONYMOUS;
        ctx.upstreamHeaders = identity.headersFor(ctx, ANONYMOUS);
      },
      close: () => upstreamToken?.close(),
    };
  },
});

import { type Static, Type } from '@sinclair/typebox';
import { claimMappingProperties } from '../../../auth/claims.js';

export const introspectionSchema = Type.Object(
  {
    endpoint: Type.String({
      description:
        "The authorization server's introspection endpoint (RFC 7662): https://, or http:// to a loopback address. Required.",
      default: '',
    }),
    clientId: Type.String({
      description: 'Client id the gateway authenticates to the endpoint with. Required.',
      default: '',
    }),
    clientSecret: Type.String({
      description: 'Client secret for the endpoint; treat as a secret (use ${env:NAME}). Required.',
      default: '',
    }),
    clientAuth: Type.Union([Type.Literal('client_secret_basic'), Type.Literal('client_secret_post')], {
      description:
        'How the client authenticates: HTTP Basic (RFC 6749 2.3.1) or client_id/client_secret in the form body.',
      default: 'client_secret_basic',
    }),
    tokenTypeHint: Type.String({
      description: 'token_type_hint sent with each request; empty: none.',
      default: 'access_token',
    }),
    timeoutMs: Type.Integer({
      minimum: 100,
      maximum: 30000,
      description:
        'Time limit for one introspection call; past it the request is refused with 503 (fail closed).',
      default: 2000,
    }),
    cacheTtlSeconds: Type.Integer({
      minimum: 0,
      maximum: 86400,
      description: 'Active answers are cached until min(exp, this many seconds); 0 = ask every time.',
      default: 300,
    }),
    negativeCacheSeconds: Type.Integer({
      minimum: 0,
      maximum: 3600,
      description: 'Inactive (or otherwise refused) tokens are remembered this long; 0 = not at all.',
      default: 10,
    }),
    cacheMaxEntries: Type.Integer({
      minimum: 0,
      description: 'Most tokens cached (positive and negative each).',
      default: 10000,
    }),
    audience: Type.Array(Type.String({ minLength: 1 }), {
      description: 'When not empty, the answer\'s "aud" must name one of these.',
      default: [],
    }),
    issuer: Type.String({
      description: 'When set, the answer\'s "iss" must equal it.',
      default: '',
    }),
    ...claimMappingProperties,
    forwardToken: Type.Boolean({
      description: 'Send the token on to the upstream in Authorization. False: the upstream never sees it.',
      default: true,
    }),
  },
  { additionalProperties: false },
);

export type IntrospectionSettings = Static<typeof introspectionSchema>;

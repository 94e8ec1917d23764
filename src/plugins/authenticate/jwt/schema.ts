import { type Static, Type } from '@sinclair/typebox';
import { claimMappingProperties } from '../../../auth/claims.js';

/** Signature algorithms an issuer may allow. `none` is not one of them, by construction. */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export const ALGORITHMS = [...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

const AlgorithmSchema = Type.Union(
  ALGORITHMS.map((a) => Type.Literal(a)),
  { description: 'A JWS signature algorithm (RFC 7518, RFC 8037).' },
);

const ClaimValueSchema = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);

export const IssuerSchema = Type.Object(
  {
    issuer: Type.String({
      minLength: 1,
      description: 'The exact "iss" value of this issuer\'s tokens.',
    }),
    audience: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description: 'Accepted "aud" values: a token must name at least one of them.',
    }),
    jwksUri: Type.String({
      description:
        'URL of the issuer\'s JWK Set (https://, or http:// to a loopback address). Empty: only "keys" and "secret" are used.',
      default: '',
    }),
    keys: Type.Array(Type.Record(Type.String(), Type.Unknown()), {
      description: 'Static public keys as JWK objects (RSA, EC or OKP). Private keys are refused.',
      default: [],
    }),
    secret: Type.String({
      description:
        'HMAC secret (UTF-8, at least 32 bytes) for HS256/384/512 tokens; treat as a secret (use ${env:NAME}). HS algorithms are allowed only with a secret and never together with jwksUri or keys.',
      default: '',
    }),
    algorithms: Type.Array(AlgorithmSchema, {
      minItems: 1,
      uniqueItems: true,
      description: 'Allowed signature algorithms ("none" is never allowed).',
      default: ['RS256', 'ES256', 'PS256', 'EdDSA'],
    }),
    clockSkewSeconds: Type.Integer({
      minimum: 0,
      maximum: 600,
      description: 'Tolerated clock difference for exp, nbf and iat.',
      default: 30,
    }),
    maxAgeSeconds: Type.Integer({
      minimum: 0,
      description: 'Refuse tokens whose "iat" is older than this (iat then required); 0 = off.',
      default: 0,
    }),
    requiredClaims: Type.Record(Type.String(), Type.Union([ClaimValueSchema, Type.Array(ClaimValueSchema)]), {
      description:
        'Claims that must be present with this value, or one of these values when an array is given (claim names may be dotted paths; an array claim passes when one element matches).',
      default: {},
    }),
    typ: Type.Array(Type.String({ minLength: 1 }), {
      description:
        'Accepted "typ" header values, compared case-insensitively without "application/" (e.g. ["at+jwt"] for RFC 9068 access tokens). Empty: any.',
      default: [],
    }),
    ...claimMappingProperties,
    jwks: Type.Object(
      {
        cacheSeconds: Type.Integer({
          minimum: 60,
          maximum: 86400,
          description:
            'How long a fetched JWK Set is fresh when the answer has no Cache-Control max-age (a max-age is honoured, held within 60..86400).',
          default: 300,
        }),
        cooldownSeconds: Type.Integer({
          minimum: 1,
          maximum: 3600,
          description: 'A token with an unknown kid triggers a refetch at most once per this many seconds.',
          default: 30,
        }),
        timeoutMs: Type.Integer({
          minimum: 100,
          maximum: 30000,
          description: 'Time limit for one JWK Set fetch (connect, headers and body).',
          default: 2000,
        }),
      },
      { additionalProperties: false, default: {}, description: 'JWK Set fetching and caching.' },
    ),
  },
  { additionalProperties: false },
);

export const jwtSchema = Type.Object(
  {
    issuers: Type.Array(IssuerSchema, {
      description: 'Trusted token issuers. A token is checked against the issuer named by its "iss".',
      default: [],
    }),
    queryParameter: Type.String({
      description:
        'Also read the token from this query parameter (e.g. "access_token", RFC 6750 2.3; discouraged). It is removed from the query sent upstream and from the access log. Empty: off.',
      default: '',
    }),
    forwardToken: Type.Boolean({
      description:
        'Send the token on to the upstream in Authorization (a query token is moved there). False: the upstream never sees it.',
      default: true,
    }),
    cacheMaxEntries: Type.Integer({
      minimum: 0,
      description: 'Verified tokens kept (until their exp) so a signature is checked once; 0 = no cache.',
      default: 10000,
    }),
    revokedJtis: Type.Array(Type.String(), {
      description: 'Token ids ("jti") refused even when otherwise valid.',
      default: [],
    }),
  },
  { additionalProperties: false },
);

export type JwtSettings = Static<typeof jwtSchema>;
export type IssuerSettings = Static<typeof IssuerSchema>;

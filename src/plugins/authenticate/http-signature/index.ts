import { Type } from '@sinclair/typebox';
import { readBody } from '../../../core/body.js';
import type { RequestContext } from '../../../core/context.js';
import { definePlugin } from '../../../core/plugin.js';
import { ALGORITHMS } from './algorithms.js';
import { viewOf } from './base.js';
import { DIGEST_ALGORITHMS } from './digest.js';
import { createVerifier, type Outcome, type VerifierSettings } from './verifier.js';

const KeySchema = Type.Object(
  {
    algorithm: Type.Union(
      ALGORITHMS.map((a) => Type.Literal(a)),
      {
        description:
          'The one algorithm this key verifies. The request\'s "alg" parameter never chooses it; if present it must be equal.',
      },
    ),
    publicKey: Type.Optional(
      Type.Union([Type.String(), Type.Object({ kty: Type.String() }, { additionalProperties: true })], {
        description: 'The public key: a PEM "PUBLIC KEY" block or a public JWK. Not for hmac-sha256.',
      }),
    ),
    secret: Type.Optional(
      Type.String({
        description:
          'hmac-sha256 only: the shared secret, base64, at least 32 bytes. Use ${env:NAME} to keep it out of the file.',
      }),
    ),
    consumer: Type.Optional(
      Type.String({ minLength: 1, description: 'Consumer the key belongs to (also the principal subject).' }),
    ),
    roles: Type.Array(Type.String(), { description: 'Roles of the principal.', default: [] }),
    scopes: Type.Array(Type.String(), { description: 'Scopes of the principal.', default: [] }),
    tenant: Type.Optional(Type.String({ minLength: 1, description: 'Tenant of the principal.' })),
  },
  { additionalProperties: false },
);

export const httpSignatureSchema = Type.Object(
  {
    keys: Type.Record(
      Type.String({ minLength: 1, maxLength: 256, pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$' }),
      KeySchema,
      {
        description:
          'Registered client keys by keyid (the "keyid" signature parameter). Each names its algorithm and the identity it proves.',
        default: {},
      },
    ),
    requiredComponents: Type.Array(Type.String({ minLength: 1 }), {
      description:
        'Components every signature must cover. "@target-uri" counts for "@authority" and "@path". "content-digest" is required only when the request has a body, and is then checked against the body.',
      default: ['@method', '@authority', '@path', 'content-digest'],
    }),
    maxAgeSeconds: Type.Integer({
      minimum: 1,
      maximum: 86400,
      description:
        'Oldest accepted signature, by its "created" parameter (which is required). Also how long nonces are remembered.',
      default: 300,
    }),
    clockSkewSeconds: Type.Integer({
      minimum: 0,
      maximum: 300,
      description: 'Tolerance for "created" in the future and for "expires" in the past.',
      default: 30,
    }),
    requireNonce: Type.Boolean({
      description:
        'Require a "nonce" parameter. A nonce, required or not, is always claimed once in the replay store, so a replayed signature is refused.',
      default: false,
    }),
    label: Type.String({
      pattern: '^([a-z*][a-z0-9_.*-]{0,63})?$',
      description:
        'Only verify the signature with this label. Empty: the first signature whose keyid is registered.',
      default: '',
    }),
    digestAlgorithms: Type.Array(Type.Union(DIGEST_ALGORITHMS.map((a) => Type.Literal(a))), {
      minItems: 1,
      description:
        'Content-Digest algorithms accepted (RFC 9530). Every accepted one present must match; at least one must be present.',
      default: ['sha-256', 'sha-512'],
    }),
  },
  { additionalProperties: false },
);

/** Every header line of `name` (lower case) joined with ", ", or undefined when absent. */
function combined(raw: readonly string[], name: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i] as string;
    if (n.length !== name.length || n.toLowerCase() !== name) continue;
    out = out === undefined ? (raw[i + 1] as string) : `${out}, ${raw[i + 1] as string}`;
  }
  return out;
}

export default definePlugin({
  name: 'http-signature',
  phase: 'authenticate',
  priority: 700,
  description:
    'Authenticates HTTP Message Signatures (RFC 9421) from registered client keys (ed25519, ecdsa-p256-sha256, rsa-pss-sha512, rsa-v1_5-sha256, hmac-sha256), with Content-Digest (RFC 9530) checked against the body, a created/expires window and nonce replay protection.',
  schema: httpSignatureSchema,
  enabledByDefault: false,
  enforcing: false,
  optional: true,
  create(config, { deps }) {
    const verify = createVerifier(config as unknown as VerifierSettings, {
      replay: () => deps.stores.replay(),
    });

    function apply(ctx: RequestContext, outcome: Outcome): void {
      if (outcome.ok) {
        ctx.principal = outcome.principal;
        return;
      }
      ctx.authFailure = {
        method: 'http-signature',
        reason: outcome.reason,
        ...(outcome.keyid === undefined ? {} : { credentialId: outcome.keyid }),
        ...(outcome.unavailable === true ? { unavailable: true } : {}),
      };
    }

    return {
      challenge: 'Signature',
      onRequest: function verifyHttpSignature(ctx: RequestContext): void | Promise<void> {
        if (ctx.principal !== undefined || ctx.authFailure !== undefined) return;
        const req = ctx.req;
        const raw = req.rawHeaders;
        const signatureInput = combined(raw, 'signature-input');
        const signature = combined(raw, 'signature');
        if (signatureInput === undefined && signature === undefined) return;
        const te = req.headers['transfer-encoding'];
        const cl = req.headers['content-length'];
        const outcome = verify({
          view: viewOf(ctx.method, ctx.scheme, req.url ?? '/', raw),
          signatureInput,
          signature,
          hasBody: te !== undefined || (cl !== undefined && Number(cl) !== 0),
          readBody: () => readBody(ctx),
        });
        if (outcome instanceof Promise) return outcome.then((o) => apply(ctx, o));
        apply(ctx, outcome);
      },
    };
  },
});

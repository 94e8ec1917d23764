import { Type } from '@sinclair/typebox';
import type { ClientCertificate, RequestContext } from '../../../core/context.js';
import { definePlugin } from '../../../core/plugin.js';
import type { AuthFailure, Principal } from '../../../core/principal.js';
import { canonicalFingerprint, createIdentityMapper, isPrincipal } from './identity.js';

export const mtlsSchema = Type.Object(
  {
    subjectFrom: Type.Union(
      [
        Type.Literal('subject-cn'),
        Type.Literal('san-dns'),
        Type.Literal('san-uri'),
        Type.Literal('san-email'),
        Type.Literal('fingerprint'),
      ],
      {
        description:
          'Which part of the verified client certificate names the caller (the principal subject): the subject common name, a DNS, URI (e.g. SPIFFE id) or e-mail subjectAltName, or the SHA-256 fingerprint. With several SANs of the type, the first allowed one that names a configured principal wins.',
        default: 'subject-cn',
      },
    ),
    allowed: Type.Array(Type.String({ minLength: 1 }), {
      description:
        'Subjects (after mapping by subjectFrom) allowed to call; empty = any certificate the listener verified. DNS names compare case-insensitively; fingerprints may be written with or without colons.',
      default: [],
    }),
    principals: Type.Record(
      Type.String({ minLength: 1 }),
      Type.Object(
        {
          consumer: Type.Optional(Type.String({ description: 'Consumer the certificate belongs to.' })),
          tenant: Type.Optional(Type.String({ description: 'Tenant of the caller.' })),
          roles: Type.Array(Type.String(), { description: 'Roles of the caller.', default: [] }),
          scopes: Type.Array(Type.String(), {
            description: 'OAuth-style scopes of the caller.',
            default: [],
          }),
        },
        { additionalProperties: false },
      ),
      {
        description:
          'Principal details by mapped subject or by SHA-256 fingerprint (a subject entry wins). A certificate without an entry still authenticates (no roles, no scopes) unless `allowed` says otherwise.',
        default: {},
      },
    ),
    kind: Type.Union([Type.Literal('service'), Type.Literal('user'), Type.Literal('consumer')], {
      description: 'Principal kind of a certificate caller.',
      default: 'service',
    }),
  },
  { additionalProperties: false },
);

export default definePlugin({
  name: 'mtls',
  phase: 'authenticate',
  priority: 300,
  description:
    'Authenticates the verified TLS client certificate of the connection (listener tls.clientCertificates.mode optional or required): subject CN, a SAN or the fingerprint names the principal.',
  schema: mtlsSchema,
  enabledByDefault: false,
  enforcing: false,
  optional: true,
  create(config) {
    if (config.subjectFrom === 'fingerprint') {
      config.allowed.forEach((a, i) => {
        if (canonicalFingerprint(a) === undefined)
          throw new Error(`allowed[${i}] is not a SHA-256 fingerprint (64 hex digits, colons optional)`);
      });
    }
    const map = createIdentityMapper(config);
    // One decision per certificate object: the listener keeps one per TLS session, so a
    // keep-alive connection maps its certificate once. Weak keys: gone with the connection.
    const decided = new WeakMap<ClientCertificate, Principal | AuthFailure>();
    return {
      // No HTTP challenge exists for a TLS client certificate.
      challenge: '',
      onRequest: function authenticateClientCertificate(ctx: RequestContext): void {
        const cert = ctx.clientCertificate;
        if (cert === undefined || ctx.principal !== undefined || ctx.authFailure !== undefined) return;
        let decision = decided.get(cert);
        if (decision === undefined) {
          decision = map(cert);
          decided.set(cert, decision);
        }
        if (isPrincipal(decision)) ctx.principal = decision;
        else ctx.authFailure = decision;
      },
    };
  },
});

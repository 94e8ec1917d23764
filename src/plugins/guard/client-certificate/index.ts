import { Type } from '@sinclair/typebox';
import type { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import { definePlugin } from '../../../core/plugin.js';

export const clientCertificateSchema = Type.Object(
  {
    required: Type.Boolean({
      description:
        'true: a request without a client certificate gets 401 CLIENT_CERT_REQUIRED. false: none is needed, but one that is presented must verify.',
      default: true,
    }),
  },
  { additionalProperties: false },
);

export default definePlugin({
  name: 'client-certificate',
  phase: 'guard',
  priority: 250,
  description:
    'Per-route mTLS on a listener with clientCertificates.mode "optional": requires a verified client certificate (expired, revoked or foreign ones are refused).',
  schema: clientCertificateSchema,
  enabledByDefault: false,
  enforcing: true,
  optional: true,
  create(config) {
    const required = config.required;
    return {
      onRequest: function checkClientCertificate(ctx: RequestContext): void {
        const cert = ctx.clientCertificate;
        if (cert === undefined) {
          // Plain HTTP, a listener that does not ask, or no certificate sent: all fail closed here.
          if (required) throw new GatewayError('CLIENT_CERT_REQUIRED');
          return;
        }
        if (!cert.verified) throw new GatewayError('CLIENT_CERT_INVALID');
      },
    };
  },
});

import { Type } from '@sinclair/typebox';
import type { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import { definePlugin } from '../../../core/plugin.js';

export const requestGuardSchema = Type.Object(
  {
    maxHeaders: Type.Integer({
      minimum: 1,
      maximum: 1000,
      description: 'Most header fields a request may carry; more gets 431.',
      default: 100,
    }),
    maxBodyBytes: Type.Integer({
      minimum: 0,
      description:
        'Largest request body. Checked against Content-Length before the upstream is called, and counted on the stream.',
      default: 1048576,
    }),
  },
  { additionalProperties: false },
);

const DIGITS = /^\d+$/;

export default definePlugin({
  name: 'request-guard',
  phase: 'guard',
  priority: 100,
  description:
    'Cheap size limits before any expensive stage: header count and body size (declared and streamed).',
  schema: requestGuardSchema,
  enabledByDefault: true,
  enforcing: true,
  optional: true,
  create(config) {
    const maxRaw = config.maxHeaders * 2;
    const maxBody = config.maxBodyBytes;
    const enforce = config.mode === 'enforce';
    return {
      summary: `body ≤ ${maxBody} bytes, ≤ ${config.maxHeaders} headers`,
      onRequest: function guardRequest(ctx: RequestContext): void {
        const req = ctx.req;
        if (req.rawHeaders.length > maxRaw) throw new GatewayError('HEADERS_TOO_LARGE');
        const declared = req.headers['content-length'];
        if (declared !== undefined) {
          if (!DIGITS.test(declared)) throw new GatewayError('AMBIGUOUS_FRAMING');
          // A valid but huge length (Node's parser takes up to 2^64 - 1) is too large, not ambiguous;
          // past 15 digits Number() is no longer exact, and no sane limit is that high.
          if (declared.length > 15 || Number(declared) > maxBody) throw new GatewayError('BODY_TOO_LARGE');
        }
        // In monitor mode a streamed body is not cut; the declared size above is still reported.
        if (enforce) ctx.bodyLimit = maxBody;
      },
    };
  },
});

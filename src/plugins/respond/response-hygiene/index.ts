import { Type } from '@sinclair/typebox';
import type { RequestContext, ResponseHead } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import { definePlugin } from '../../../core/plugin.js';

export const responseHygieneSchema = Type.Object(
  {
    removeHeaders: Type.Array(Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$" }), {
      description:
        'Response headers that reveal the software behind the gateway; removed from every response.',
      default: [
        'server',
        'x-powered-by',
        'x-aspnet-version',
        'x-aspnetmvc-version',
        'x-runtime',
        'x-generator',
      ],
    }),
    maskUpstreamErrors: Type.Boolean({
      description:
        'Replace the body of an upstream 5xx with an UPSTREAM_ERROR problem (status kept), so stack traces and internal detail never leak.',
      default: true,
    }),
    requestIdHeader: Type.Boolean({
      description: 'Echo the request id in X-Request-Id on every response.',
      default: true,
    }),
  },
  { additionalProperties: false },
);

export default definePlugin({
  name: 'response-hygiene',
  phase: 'respond',
  priority: 0,
  description:
    'Removes revealing headers, masks upstream 5xx bodies and stamps the request id on every response.',
  schema: responseHygieneSchema,
  enabledByDefault: true,
  enforcing: false,
  optional: true,
  create(config) {
    const remove = config.removeHeaders.map((h) => h.toLowerCase());
    const { maskUpstreamErrors, requestIdHeader } = config;
    return {
      onResponse: function cleanResponse(ctx: RequestContext, head: ResponseHead): void {
        const headers = head.headers;
        for (let i = 0; i < remove.length; i++) delete headers[remove[i] as string];
        if (requestIdHeader) headers['x-request-id'] = ctx.id;
        if (maskUpstreamErrors && head.source === 'upstream' && head.status >= 500) {
          head.replaceWith = new GatewayError('UPSTREAM_ERROR', {
            status: head.status < 600 ? head.status : 502,
          });
        }
      },
    };
  },
});

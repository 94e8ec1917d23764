import { Type } from '@sinclair/typebox';
import type { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import { reply } from '../../../core/pipeline.js';
import { definePlugin } from '../../../core/plugin.js';

const ORIGIN = '^(\\*|https?://(\\*\\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?)$';
/** The part a "*." pattern stands for: DNS labels only, so "evil.com?" or "a@b" never match. */
const SUBDOMAIN = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/;
const TOKEN = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$";

export const corsSchema = Type.Object(
  {
    origins: Type.Array(Type.String({ pattern: ORIGIN }), {
      description:
        'Allowed origins, exactly as browsers send them ("https://app.example.com", port included if not default). "https://*.example.com" allows subdomains of example.com (not example.com itself). "*" allows any origin without credentials. "null" is never allowed.',
      default: [],
    }),
    methods: Type.Array(Type.String({ pattern: TOKEN }), {
      description: "Methods a preflight may ask for; empty means the route's own methods.",
      default: [],
    }),
    allowHeaders: Type.Array(Type.String({ pattern: TOKEN }), {
      description:
        'Request headers a preflight may ask for (case-insensitive). CORS-safelisted headers need no entry.',
      default: ['authorization', 'content-type'],
    }),
    exposeHeaders: Type.Array(Type.String({ pattern: TOKEN }), {
      description: 'Response headers scripts may read (Access-Control-Expose-Headers).',
      default: ['x-request-id'],
    }),
    credentials: Type.Boolean({
      description:
        'Allow cookies and Authorization on cross-origin calls (Access-Control-Allow-Credentials). Refused together with "*".',
      default: false,
    }),
    maxAgeSeconds: Type.Integer({
      minimum: 0,
      maximum: 86400,
      description: 'How long browsers may cache a preflight answer (Access-Control-Max-Age).',
      default: 600,
    }),
  },
  { additionalProperties: false },
);

/** Exact origins in a set; "https://*.example.com" patterns as (scheme, suffix) pairs. No regex on input. */
export interface OriginMatcher {
  readonly any: boolean;
  matches(origin: string): boolean;
}

export function compileOrigins(origins: readonly string[], credentials: boolean): OriginMatcher {
  const exact = new Set<string>();
  const suffixes: { scheme: string; suffix: string }[] = [];
  let any = false;
  for (const o of origins) {
    if (o === '*') {
      if (credentials) throw new Error('origins: "*" cannot be combined with credentials: true');
      any = true;
      continue;
    }
    const star = o.indexOf('://*.');
    if (star === -1) exact.add(o.toLowerCase());
    else
      suffixes.push({ scheme: o.slice(0, star + 3).toLowerCase(), suffix: o.slice(star + 4).toLowerCase() });
  }
  return {
    any,
    matches(origin: string): boolean {
      if (origin === 'null') return false;
      if (any) return true;
      const o = origin.toLowerCase();
      if (exact.has(o)) return true;
      for (const { scheme, suffix } of suffixes) {
        // "https://*.example.com" matches "https://a.example.com", never "https://evilexample.com".
        if (o.startsWith(scheme) && o.endsWith(suffix) && o.length > scheme.length + suffix.length) {
          const host = o.slice(scheme.length, o.length - suffix.length);
          if (SUBDOMAIN.test(host)) return true;
        }
      }
      return false;
    },
  };
}

export default definePlugin({
  name: 'cors',
  phase: 'guard',
  priority: 150,
  description:
    'CORS at the gateway: preflights answered here, allowed origins echoed exactly, never an arbitrary one.',
  schema: corsSchema,
  enabledByDefault: false,
  enforcing: false,
  optional: true,
  create(config, { route }) {
    const origins = compileOrigins(config.origins, config.credentials);
    const methods = (config.methods.length ? config.methods : (route?.methods ?? [])).map((m) =>
      m.toUpperCase(),
    );
    const allowMethods = methods.join(', ');
    const allowHeaders = new Set(config.allowHeaders.map((h) => h.toLowerCase()));
    const allowHeadersValue = [...allowHeaders].join(', ');
    const expose = config.exposeHeaders.join(', ');
    const maxAge = String(config.maxAgeSeconds);

    function requestedHeadersAllowed(value: string | undefined): boolean {
      if (value === undefined || value.trim() === '') return true;
      for (const h of value.split(',')) {
        const name = h.trim().toLowerCase();
        if (name !== '' && !allowHeaders.has(name)) return false;
      }
      return true;
    }

    return {
      onRequest: function applyCors(ctx: RequestContext): void {
        const origin = ctx.req.headers.origin;
        // The gateway owns CORS on this route: the upstream's own CORS headers never pass, and
        // every answer depends on Origin, allowed or not, so caches must key on it.
        const headers: Record<string, string | null> = {
          vary: 'Origin',
          'access-control-allow-origin': null,
          'access-control-allow-credentials': null,
          'access-control-allow-methods': null,
          'access-control-allow-headers': null,
          'access-control-expose-headers': null,
          'access-control-max-age': null,
        };
        ctx.responseHeaders =
          ctx.responseHeaders === undefined ? headers : Object.assign(ctx.responseHeaders, headers);
        if (origin === undefined) return;
        const allowed = origins.matches(origin);
        if (ctx.preflight) {
          const asked = String(ctx.req.headers['access-control-request-method']).toUpperCase();
          const askedHeaders = ctx.req.headers['access-control-request-headers'];
          if (!allowed || !methods.includes(asked) || !requestedHeadersAllowed(askedHeaders)) {
            throw new GatewayError('CORS_REJECTED');
          }
          headers['access-control-allow-origin'] = origins.any ? '*' : origin;
          headers['access-control-allow-methods'] = allowMethods;
          if (allowHeadersValue !== '') headers['access-control-allow-headers'] = allowHeadersValue;
          headers['access-control-max-age'] = maxAge;
          if (config.credentials) headers['access-control-allow-credentials'] = 'true';
          reply(ctx, 204, {}, '');
          return;
        }
        if (!allowed) return;
        headers['access-control-allow-origin'] = origins.any ? '*' : origin;
        if (config.credentials) headers['access-control-allow-credentials'] = 'true';
        if (expose !== '') headers['access-control-expose-headers'] = expose;
      },
    };
  },
});

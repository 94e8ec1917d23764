import { Type } from '@sinclair/typebox';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import type { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import type { CompiledRoute } from '../../../core/plan.js';
import { definePlugin } from '../../../core/plugin.js';
import { normalizePath } from './normalize.js';

const ROUTER_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export const routerSchema = Type.Object(
  {
    maxUrlLength: Type.Integer({
      minimum: 64,
      maximum: 65536,
      description: 'Longest request target (path and query); longer gets 414.',
      default: 8192,
    }),
    mergeSlashes: Type.Boolean({
      description: 'Treat "//" as "/" when normalizing the path (the upstream receives the merged path).',
      default: true,
    }),
    caseSensitive: Type.Boolean({
      description: 'Match static path segments case-sensitively.',
      default: true,
    }),
    ignoreTrailingSlash: Type.Boolean({
      description: 'Let "/a/" match a route declared as "/a".',
      default: false,
    }),
  },
  { additionalProperties: false },
);

function hostOf(header: string | undefined): string {
  if (header === undefined) return '';
  // "[::1]:8080" → "[::1]"; "api.example.com:443" → "api.example.com"
  const end = header.charCodeAt(0) === 91 ? header.indexOf(']') + 1 : header.indexOf(':');
  return (end > 0 ? header.slice(0, end) : header).toLowerCase();
}

/**
 * Message framing that two HTTP parsers could read differently (request smuggling): more than one
 * Content-Length or Host, Content-Length with Transfer-Encoding, or any Transfer-Encoding other
 * than exactly "chunked". Node's parser refuses most of these; this is the second lock.
 */
function ambiguousFraming(raw: readonly string[]): boolean {
  let contentLength = 0;
  let transferEncoding = 0;
  let host = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const len = name.length;
    if (len === 14 && name.toLowerCase() === 'content-length') contentLength++;
    else if (len === 17 && name.toLowerCase() === 'transfer-encoding') {
      transferEncoding++;
      if ((raw[i + 1] as string).trim().toLowerCase() !== 'chunked') return true;
    } else if (len === 4 && name.toLowerCase() === 'host') host++;
  }
  return contentLength > 1 || transferEncoding > 1 || host > 1 || (contentLength > 0 && transferEncoding > 0);
}

export default definePlugin({
  name: 'router',
  phase: 'route',
  priority: 0,
  description:
    'Normalizes the path, refuses ambiguous requests, and matches host + method + path to a declared route.',
  schema: routerSchema,
  enabledByDefault: true,
  enforcing: false,
  optional: false,
  create(config, { deps }) {
    const router = FindMyWay({
      caseSensitive: config.caseSensitive,
      ignoreTrailingSlash: config.ignoreTrailingSlash,
      maxParamLength: 1024,
    });
    for (const route of deps.routes as readonly CompiledRoute[]) {
      const methods = new Set(route.methods);
      // HEAD is GET without a body (RFC 9110 §9.3.2).
      if (methods.has('GET')) methods.add('HEAD');
      const opts = route.host === undefined ? {} : { constraints: { host: route.host.toLowerCase() } };
      router.on([...methods] as HTTPMethod[], route.path, opts, () => undefined, route);
    }

    function allowedMethods(path: string, host: string): string[] {
      const allowed: string[] = [];
      for (const m of ROUTER_METHODS) if (router.find(m, path, { host }) !== null) allowed.push(m);
      return allowed;
    }

    return {
      onRequest: function route(ctx: RequestContext): void {
        const req = ctx.req;
        const url = req.url ?? '/';
        if (url.length > config.maxUrlLength) throw new GatewayError('URL_TOO_LONG');
        if (ambiguousFraming(req.rawHeaders)) throw new GatewayError('AMBIGUOUS_FRAMING');
        const hostHeader = req.headers.host;
        if (hostHeader === undefined && req.httpVersionMinor === 1) {
          throw new GatewayError('BAD_REQUEST', { detail: 'HTTP/1.1 requests need a Host header.' });
        }
        const q = url.indexOf('?');
        const rawPath = q === -1 ? url : url.slice(0, q);
        const path = normalizePath(rawPath, config.mergeSlashes);
        if (path === undefined) throw new GatewayError('BAD_PATH');
        ctx.path = path;
        ctx.query = q === -1 ? '' : url.slice(q + 1);
        ctx.host = hostOf(hostHeader);
        const found = router.find(ctx.method as HTTPMethod, path, { host: ctx.host });
        if (found === null) {
          const allowed = allowedMethods(path, ctx.host);
          if (allowed.length === 0) throw new GatewayError('ROUTE_NOT_FOUND');
          throw new GatewayError('METHOD_NOT_ALLOWED', { headers: { allow: allowed.join(', ') } });
        }
        ctx.route = found.store as CompiledRoute;
        ctx.params = found.params;
      },
    };
  },
});

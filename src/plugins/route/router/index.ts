import { Type } from '@sinclair/typebox';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import { HTTP_METHODS } from '../../../config/schema.js';
import type { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import type { CompiledRoute } from '../../../core/plan.js';
import { definePlugin } from '../../../core/plugin.js';
import { normalizePath } from './normalize.js';

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

/** "chunked" in any case, with only HTTP whitespace (SP, HTAB) around it; String#trim strips more. */
function isExactlyChunked(value: string): boolean {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 32 || value.charCodeAt(start) === 9)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end--;
  return end - start === 7 && value.slice(start, end).toLowerCase() === 'chunked';
}

/**
 * Message framing that two HTTP parsers could read differently (request smuggling): more than one
 * Content-Length or Host, Content-Length with Transfer-Encoding, any Transfer-Encoding other than
 * exactly "chunked", Transfer-Encoding on an HTTP/1.0 request (RFC 9112 §6.1: the framing is
 * faulty), or a framing header spelled with "_" ("Transfer_Encoding"), which servers that map
 * header names to CGI-style variables read as the real one. Node's parser refuses most of these;
 * this is the second lock.
 */
function ambiguousFraming(raw: readonly string[], http10: boolean): boolean {
  let contentLength = 0;
  let transferEncoding = 0;
  let host = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const len = name.length;
    if (len === 14) {
      const lower = name.toLowerCase();
      if (lower === 'content-length') contentLength++;
      else if (lower.replaceAll('_', '-') === 'content-length') return true;
    } else if (len === 17) {
      const lower = name.toLowerCase();
      if (lower === 'transfer-encoding') {
        transferEncoding++;
        if (!isExactlyChunked(raw[i + 1] as string)) return true;
      } else if (lower.replaceAll('_', '-') === 'transfer-encoding') return true;
    } else if (len === 4 && name.toLowerCase() === 'host') host++;
  }
  return (
    contentLength > 1 ||
    transferEncoding > 1 ||
    host > 1 ||
    (contentLength > 0 && transferEncoding > 0) ||
    (http10 && transferEncoding > 0)
  );
}

/**
 * Connections whose framing can no longer be trusted. Node's parser goes on reading requests
 * pipelined behind a refused one and emits them before the connection closes; those are exactly
 * what a smuggling attempt hides there, so every later request on such a socket is refused too.
 * Shared by every router instance (a reload may swap the plan between two pipelined requests);
 * a WeakSet, so it never outlives its sockets.
 */
const untrusted = new WeakSet<object>();

/** Refuses the request and closes the connection after the answer: its framing cannot be trusted. */
function refuseAndClose(
  ctx: RequestContext,
  code: 'AMBIGUOUS_FRAMING' | 'BAD_REQUEST',
  detail?: string,
): never {
  ctx.res.shouldKeepAlive = false;
  untrusted.add(ctx.req.socket);
  throw new GatewayError(code, detail === undefined ? {} : { detail });
}

/** Routes sharing host, method and path: one per API version, and one serving every version. */
interface VersionedRoutes {
  any: CompiledRoute | undefined;
  readonly byVersion: Map<string, CompiledRoute>;
}

function addToGroup(group: VersionedRoutes, route: CompiledRoute, method: string): void {
  const clash = (other: CompiledRoute): never => {
    throw new Error(
      `routes "${other.id}" and "${route.id}" both serve ${method} ${route.path}${route.versions === undefined ? '' : ` in version ${route.versions.join(', ')}`}`,
    );
  };
  if (route.versions === undefined) {
    if (group.any !== undefined) clash(group.any);
    group.any = route;
    return;
  }
  for (const v of route.versions) {
    const other = group.byVersion.get(v);
    if (other !== undefined) clash(other);
    group.byVersion.set(v, route);
  }
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
    const versioning = deps.versioning.enabled ? deps.versioning : undefined;
    if (versioning === undefined) {
      for (const route of deps.routes as readonly CompiledRoute[]) {
        const methods = new Set(route.methods);
        // HEAD is GET without a body (RFC 9110 §9.3.2).
        if (methods.has('GET')) methods.add('HEAD');
        const opts = route.host === undefined ? {} : { constraints: { host: route.host.toLowerCase() } };
        router.on([...methods] as HTTPMethod[], route.path, opts, () => undefined, route);
      }
    } else {
      // Several routes may share host, method and path, one per version: the router holds groups.
      const groups = new Map<string, VersionedRoutes>();
      for (const route of deps.routes as readonly CompiledRoute[]) {
        const methods = new Set(route.methods);
        if (methods.has('GET')) methods.add('HEAD');
        const host = route.host?.toLowerCase();
        for (const method of methods) {
          const key = `${host ?? ''}\n${method}\n${route.path}`;
          let group = groups.get(key);
          if (group === undefined) {
            group = { any: undefined, byVersion: new Map() };
            groups.set(key, group);
            const opts = host === undefined ? {} : { constraints: { host } };
            router.on(method as HTTPMethod, route.path, opts, () => undefined, group);
          }
          addToGroup(group, route, method);
        }
      }
    }

    function allowedMethods(path: string, host: string): string[] {
      const allowed: string[] = [];
      for (const m of HTTP_METHODS) if (router.find(m, path, { host }) !== null) allowed.push(m);
      return allowed;
    }

    return {
      onRequest: function route(ctx: RequestContext): void {
        const req = ctx.req;
        const url = req.url ?? '/';
        if (untrusted.has(req.socket)) refuseAndClose(ctx, 'AMBIGUOUS_FRAMING');
        // HTTP/0.9 ("GET /path" without a version) is still accepted by Node's parser.
        if (req.httpVersionMajor !== 1)
          refuseAndClose(ctx, 'BAD_REQUEST', 'Only HTTP/1.0 and HTTP/1.1 requests are served.');
        if (url.length > config.maxUrlLength) throw new GatewayError('URL_TOO_LONG');
        if (ambiguousFraming(req.rawHeaders, req.httpVersionMinor === 0))
          refuseAndClose(ctx, 'AMBIGUOUS_FRAMING');
        const hostHeader = req.headers.host;
        if (hostHeader === undefined && req.httpVersionMinor === 1) {
          refuseAndClose(ctx, 'BAD_REQUEST', 'HTTP/1.1 requests need a Host header.');
        }
        const q = url.indexOf('?');
        const rawPath = q === -1 ? url : url.slice(0, q);
        const path = normalizePath(rawPath, config.mergeSlashes);
        if (path === undefined) throw new GatewayError('BAD_PATH');
        ctx.path = path;
        ctx.query = q === -1 ? '' : url.slice(q + 1);
        // Node's parser lets "#" through; the upstream may read it as query data or cut it off.
        if (ctx.query.includes('#'))
          throw new GatewayError('BAD_REQUEST', {
            detail: 'A request target never carries a fragment ("#").',
          });
        ctx.host = hostOf(hostHeader);
        let found = router.find(ctx.method as HTTPMethod, path, { host: ctx.host });
        if (found === null && ctx.method === 'OPTIONS') {
          // A CORS preflight asks about another method: it belongs to the route of that method.
          // Unless a stage of that route answers it, the pipeline refuses it (never proxied).
          const asked = req.headers['access-control-request-method'];
          if (typeof asked === 'string' && req.headers.origin !== undefined && asked !== 'OPTIONS') {
            found = router.find(asked.toUpperCase() as HTTPMethod, path, { host: ctx.host });
            if (found !== null) ctx.preflight = true;
          }
        }
        if (found === null) {
          // A retired or unknown version is answered as such even where no route matches.
          if (versioning !== undefined) versioning.select(ctx);
          const allowed = allowedMethods(path, ctx.host);
          if (allowed.length === 0) throw new GatewayError('ROUTE_NOT_FOUND');
          throw new GatewayError('METHOD_NOT_ALLOWED', { headers: { allow: allowed.join(', ') } });
        }
        if (versioning === undefined) ctx.route = found.store as CompiledRoute;
        else {
          const version = versioning.select(ctx);
          const group = found.store as VersionedRoutes;
          const chosen = version === undefined ? group.any : (group.byVersion.get(version.key) ?? group.any);
          if (chosen === undefined) {
            if (version === undefined) throw versioning.required();
            throw new GatewayError('ROUTE_NOT_FOUND', {
              detail: `Not served in API version ${version.name}.`,
            });
          }
          ctx.route = chosen;
        }
        ctx.params = found.params;
      },
    };
  },
});

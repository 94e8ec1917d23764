import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import { definePlugin } from '../../../core/plugin.js';
import { upstreamRequestHeaders } from '../../../proxy/headers.js';
import { Exchange, type ExchangeSettings } from './exchange.js';

export const forwardSchema = Type.Object(
  {
    xForwarded: Type.Boolean({
      description:
        'Set X-Forwarded-For, -Proto and -Host towards the upstream (client values kept only from trusted proxies).',
      default: true,
    }),
  },
  { additionalProperties: false },
);

/** Streams a body of unknown length, counting bytes and stopping at the limit. */
async function* limited(req: IncomingMessage, ctx: RequestContext): AsyncGenerator<Buffer> {
  for await (const chunk of req as AsyncIterable<Buffer>) {
    ctx.bytesIn += chunk.length;
    if (ctx.bytesIn > ctx.bodyLimit) throw new GatewayError('BODY_TOO_LARGE');
    yield chunk;
  }
}

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

export default definePlugin({
  name: 'forward',
  phase: 'proxy',
  priority: 0,
  description: "Forwards the request to the route's upstream over a keep-alive pool, streaming both bodies.",
  schema: forwardSchema,
  enabledByDefault: true,
  enforcing: false,
  optional: false,
  create(config, { deps, route }) {
    if (route === undefined) throw new Error('forward is a route-scoped plugin');
    const upstream = deps.upstreams.get(route.upstream);
    if (upstream === undefined) throw new Error(`unknown upstream ${route.upstream}`);
    const { pool, basePath, hostHeader } = upstream;
    const { preserveHost, maxResponseBytes } = upstream.settings;
    const strip = route.stripPrefix;
    const exchangeSettings: ExchangeSettings = {
      maxResponseBytes,
      upstream: route.upstream,
      logger: deps.logger,
    };

    function upstreamPath(ctx: RequestContext): string {
      let path = ctx.path;
      if (strip !== undefined && path.startsWith(strip)) path = path.slice(strip.length) || '/';
      if (path.charCodeAt(0) !== 47) path = `/${path}`;
      return ctx.query === '' ? basePath + path : `${basePath + path}?${ctx.query}`;
    }

    return {
      onRequest: function forward(ctx: RequestContext): void {
        const { req, res } = ctx;
        const incoming = req.headers;
        const headers = upstreamRequestHeaders(incoming);
        headers.host = preserveHost && incoming.host !== undefined ? incoming.host : hostHeader;
        headers['x-request-id'] = ctx.id;
        headers.traceparent = ctx.traceparent;
        if (config.xForwarded) {
          const trusted = ctx.trustedPeer;
          const xff = trusted ? firstValue(incoming['x-forwarded-for']) : undefined;
          headers['x-forwarded-for'] = xff ? `${xff}, ${ctx.peerIp}` : ctx.peerIp;
          headers['x-forwarded-proto'] = (trusted && firstValue(incoming['x-forwarded-proto'])) || ctx.scheme;
          const xfh = (trusted && firstValue(incoming['x-forwarded-host'])) || incoming.host;
          if (xfh !== undefined) headers['x-forwarded-host'] = xfh;
        }
        const extra = ctx.upstreamHeaders;
        if (extra !== undefined) {
          for (const name in extra) {
            const value = extra[name];
            if (value === null || value === undefined) delete headers[name];
            else headers[name] = value;
          }
        }
        // A stage will read the answer's body: ask for it unencoded (no gzip to undo).
        if (ctx.responseBodyCheck !== undefined) headers['accept-encoding'] = 'identity';
        const declared = incoming['content-length'];
        let body: Readable | Buffer | null = null;
        if (ctx.body !== undefined) {
          // A stage has read the body already (signature digest, contract): send what it checked.
          if (ctx.body.length > 0) {
            body = ctx.body;
            headers['content-length'] = String(ctx.body.length);
          }
          delete headers['transfer-encoding'];
        } else if (declared !== undefined) {
          // Node's parser holds a Content-Length body to exactly that length; the guard checked it.
          if (declared !== '0') {
            body = req;
            ctx.bytesIn = Number(declared);
            if (ctx.bytesIn > ctx.bodyLimit) throw new GatewayError('BODY_TOO_LARGE');
            headers['content-length'] = declared;
          }
        } else if (incoming['transfer-encoding'] !== undefined) {
          body = Readable.from(limited(req, ctx), { objectMode: false });
        }

        if (body !== null && ctx.expectContinue && ctx.body === undefined) res.writeContinue();
        ctx.upstreamStartedAt = performance.now();
        pool.dispatch(
          {
            // A HEAD whose answer must be checked asks for the body (the client still gets none).
            method: (ctx.method === 'HEAD' && ctx.responseBodyCheck !== undefined
              ? 'GET'
              : ctx.method) as 'GET',
            path: upstreamPath(ctx),
            headers,
            body,
          },
          new Exchange(ctx, exchangeSettings),
        );
      },
    };
  },
});

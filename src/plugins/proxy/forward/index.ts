import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Type } from '@sinclair/typebox';
import type { Dispatcher } from 'undici';
import type { RequestContext, ResponseHead } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import { runResponseHooks, sendError } from '../../../core/pipeline.js';
import { definePlugin } from '../../../core/plugin.js';
import { clientResponseHeaders, upstreamRequestHeaders } from '../../../proxy/headers.js';
import { upstreamError } from './errors.js';

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

/** Throws an upstream body away without an unhandled 'error' (undici emits one on destroy). */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.dump({ limit: 65536 }).catch(() => undefined);
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
    const logger = deps.logger;

    function upstreamPath(ctx: RequestContext): string {
      let path = ctx.path;
      if (strip !== undefined && path.startsWith(strip)) path = path.slice(strip.length) || '/';
      if (path.charCodeAt(0) !== 47) path = `/${path}`;
      return ctx.query === '' ? basePath + path : `${basePath + path}?${ctx.query}`;
    }

    return {
      onRequest: async function forward(ctx: RequestContext): Promise<void> {
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
        const declared = incoming['content-length'];
        let body: Readable | null = null;
        if (declared !== undefined) {
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

        if (body !== null && ctx.expectContinue) res.writeContinue();
        const abort = new AbortController();
        const onClose = (): void => {
          if (!res.writableFinished) abort.abort();
        };
        res.once('close', onClose);
        // The client may have gone while an earlier (asynchronous) stage ran: 'close' has fired already.
        if (res.destroyed) abort.abort();
        ctx.upstreamStartedAt = performance.now();
        let upstreamRes: Dispatcher.ResponseData;
        try {
          upstreamRes = await pool.request({
            method: ctx.method as 'GET',
            path: upstreamPath(ctx),
            headers,
            body,
            signal: abort.signal,
          });
        } catch (err) {
          ctx.upstreamMs = performance.now() - ctx.upstreamStartedAt;
          const mapped = upstreamError(err);
          if (!(err instanceof GatewayError) && !abort.signal.aborted) {
            logger.warn(
              { reqId: ctx.id, upstream: route.upstream, code: (err as { code?: string }).code },
              'upstream call failed',
            );
          }
          throw mapped;
        }
        ctx.upstreamStatus = upstreamRes.statusCode;
        const upstreamBody = upstreamRes.body;

        // A HEAD answer, a 204 or a 304 has no body: its Content-Length describes the representation.
        const status = upstreamRes.statusCode;
        const hasBody = ctx.method !== 'HEAD' && status !== 204 && status !== 304 && status >= 200;
        const announced = upstreamRes.headers['content-length'];
        if (hasBody && typeof announced === 'string' && Number(announced) > maxResponseBytes) {
          discard(upstreamBody);
          throw new GatewayError('UPSTREAM_RESPONSE_TOO_LARGE');
        }
        const head: ResponseHead = {
          status: upstreamRes.statusCode,
          headers: clientResponseHeaders(upstreamRes.headers),
          source: 'upstream',
          replaceWith: undefined,
        };
        runResponseHooks(ctx, head);
        if (head.replaceWith !== undefined) {
          discard(upstreamBody);
          ctx.upstreamMs = performance.now() - ctx.upstreamStartedAt;
          sendError(ctx, head.replaceWith, logger);
          return;
        }
        if (!hasBody) {
          // Nothing to stream. undici holds a 304's body to its Content-Length and would fail it.
          discard(upstreamBody);
          ctx.upstreamMs = performance.now() - ctx.upstreamStartedAt;
          res.off('close', onClose);
          res.writeHead(head.status, head.headers);
          res.end();
          return;
        }
        upstreamBody.once('end', () => {
          ctx.upstreamMs = performance.now() - ctx.upstreamStartedAt;
        });
        res.writeHead(head.status, head.headers);
        const length = head.headers['content-length'];
        try {
          const done = pipeline(upstreamBody, res);
          if (length !== undefined) ctx.bytesOut = Number(length);
          else
            upstreamBody.on('data', (chunk: Buffer) => {
              ctx.bytesOut += chunk.length;
            });
          await done;
        } catch (err) {
          // Headers are out: the only honest signal left is to cut the connection.
          if (!res.destroyed) res.destroy();
          if (!abort.signal.aborted) {
            logger.warn(
              { reqId: ctx.id, upstream: route.upstream, code: (err as { code?: string }).code },
              'response stream failed',
            );
          }
        } finally {
          res.off('close', onClose);
        }
      },
    };
  },
});

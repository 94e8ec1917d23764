import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { RequestContext, ResponseHead } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import { runResponseHooks, sendError } from '../../../core/pipeline.js';
import { clientResponseHeaders } from '../../../proxy/headers.js';
import { upstreamError } from './errors.js';

/** Why we aborted an upstream call ourselves (client gone, body masked): nothing to log. */
export class ClientGone extends Error {
  override name = 'ClientGone';
}

/** Settings one route's forwarder shares with each of its exchanges. */
export interface ExchangeSettings {
  readonly maxResponseBytes: number;
  readonly upstream: string;
  readonly logger: Logger;
}

/**
 * One upstream call, driven by undici's dispatch handler API: the response head goes through the
 * respond hooks, then the body is written straight into the client's response with backpressure
 * (pause/resume). No promise, stream pipeline or AbortController per request.
 */
export class Exchange implements Dispatcher.DispatchHandler {
  readonly #ctx: RequestContext;
  readonly #settings: ExchangeSettings;
  #controller: Dispatcher.DispatchController | undefined;
  /** The client has its answer (or has gone): whatever the upstream still sends is dropped. */
  #done = false;
  #resume: (() => void) | undefined;
  /** Announced body length, -1 if unknown: lets the last chunk go out with end() in one write. */
  #length = -1;
  /** The head held back while the body is gathered for ctx.responseBodyCheck. */
  #held: ResponseHead | undefined;
  #chunks: Buffer[] = [];
  #heldBytes = 0;

  constructor(ctx: RequestContext, settings: ExchangeSettings) {
    this.#ctx = ctx;
    this.#settings = settings;
    ctx.onClientGone = () => {
      this.#done = true;
      this.#controller?.abort(new ClientGone());
    };
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    // The client may have left while an earlier stage or the pool queue held the request.
    if (this.#done || this.#ctx.res.destroyed) controller.abort(new ClientGone());
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    status: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (status < 200 || this.#done) return;
    const ctx = this.#ctx;
    const res = ctx.res;
    ctx.upstreamStatus = status;
    // A HEAD answer, a 204 or a 304 has no body: its Content-Length describes the representation.
    // A HEAD for a route whose answers are checked went upstream as a GET: its body is checked too.
    const checked = ctx.responseBodyCheck !== undefined;
    const hasBody = (ctx.method !== 'HEAD' || checked) && status !== 204 && status !== 304;
    const announced = headers['content-length'];
    if (hasBody && typeof announced === 'string' && Number(announced) > this.#settings.maxResponseBytes) {
      controller.abort(new GatewayError('UPSTREAM_RESPONSE_TOO_LARGE'));
      return;
    }
    const head: ResponseHead = {
      status,
      headers: clientResponseHeaders(headers),
      source: 'upstream',
      replaceWith: undefined,
    };
    try {
      ctx.responseHeadCheck?.(ctx, head);
    } catch (err) {
      // The contract refuses this answer (an undeclared status): its body is never read.
      this.#done = true;
      sendError(ctx, err, this.#settings.logger);
      controller.abort(new ClientGone());
      return;
    }
    try {
      runResponseHooks(ctx, head);
    } catch (err) {
      // A respond stage that crashes is a gateway bug: fail closed with INTERNAL_ERROR, never the body.
      this.#done = true;
      sendError(ctx, err, this.#settings.logger);
      controller.abort(new ClientGone());
      return;
    }
    if (head.replaceWith !== undefined) {
      // Masked: the upstream body is never read. Aborting costs one pooled connection on a rare
      // path, and a slow or endless error body can neither hold the connection nor shutdown.
      this.#done = true;
      sendError(ctx, head.replaceWith, this.#settings.logger);
      controller.abort(new ClientGone());
      return;
    }
    if (hasBody && checked) {
      // A stage must see the whole body first: nothing goes to the client until it has.
      this.#held = head;
      return;
    }
    try {
      res.writeHead(head.status, head.headers);
    } catch (err) {
      // A header a stage set that Node refuses to write: never hang the client, cut the answer.
      this.#done = true;
      this.#settings.logger.error({ err, reqId: ctx.id }, 'response head could not be written');
      res.destroy();
      controller.abort(new ClientGone());
      return;
    }
    const length = head.headers['content-length'];
    if (typeof length === 'string') this.#length = Number(length);
    if (!hasBody) {
      this.#done = true;
      res.end();
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#done) return;
    if (this.#held !== undefined) {
      this.#heldBytes += chunk.length;
      if (this.#heldBytes > this.#settings.maxResponseBytes) {
        controller.abort(new GatewayError('UPSTREAM_RESPONSE_TOO_LARGE'));
        return;
      }
      this.#chunks.push(chunk);
      return;
    }
    const ctx = this.#ctx;
    ctx.bytesOut += chunk.length;
    if (ctx.bytesOut === this.#length) {
      // The whole announced body is here: head, body and end leave in one write.
      this.#done = true;
      ctx.res.end(chunk);
      return;
    }
    if (!ctx.res.write(chunk)) {
      controller.pause();
      this.#resume ??= () => this.#controller?.resume();
      ctx.res.once('drain', this.#resume);
    }
  }

  onResponseEnd(): void {
    const ctx = this.#ctx;
    ctx.upstreamMs = performance.now() - ctx.upstreamStartedAt;
    if (this.#done) return;
    this.#done = true;
    const head = this.#held;
    if (head !== undefined) this.#sendChecked(ctx, head);
    else ctx.res.end();
  }

  /** The held answer, through the stage's check: the (possibly rewritten) body, or its problem. */
  #sendChecked(ctx: RequestContext, head: ResponseHead): void {
    const body = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks);
    this.#chunks = [];
    let out: Buffer;
    try {
      out = (ctx.responseBodyCheck as NonNullable<RequestContext['responseBodyCheck']>)(ctx, head, body);
    } catch (err) {
      // A GatewayError is the stage's answer; anything else is a bug: INTERNAL_ERROR, never the body.
      sendError(ctx, err, this.#settings.logger);
      return;
    }
    delete head.headers['transfer-encoding'];
    if (out !== body) {
      // Validators of the upstream's body do not describe a rewritten one.
      delete head.headers.etag;
      delete head.headers['content-md5'];
      delete head.headers.digest;
      delete head.headers['content-digest'];
      delete head.headers['last-modified'];
    }
    head.headers['content-length'] = out.length;
    if (ctx.method === 'HEAD') {
      ctx.res.writeHead(head.status, head.headers);
      ctx.res.end();
      return;
    }
    ctx.bytesOut = out.length;
    ctx.res.writeHead(head.status, head.headers);
    ctx.res.end(out);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    const ctx = this.#ctx;
    ctx.upstreamMs = performance.now() - ctx.upstreamStartedAt;
    if (this.#done || err instanceof ClientGone) {
      this.#done = true;
      return;
    }
    this.#done = true;
    const res = ctx.res;
    if (!(err instanceof GatewayError)) {
      this.#settings.logger.warn(
        { reqId: ctx.id, upstream: this.#settings.upstream, code: (err as { code?: string }).code },
        res.headersSent ? 'response stream failed' : 'upstream call failed',
      );
    }
    // sendError answers with a problem, or cuts the connection if the head is already out.
    sendError(ctx, upstreamError(err), this.#settings.logger);
  }
}

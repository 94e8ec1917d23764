import type { RequestContext } from './context.js';
import { GatewayError } from './errors.js';

/**
 * Reads the whole request body once, held to `ctx.bodyLimit` (on Content-Length before reading,
 * and on the stream for chunked bodies), and keeps it on `ctx.body`: the proxy then forwards that
 * buffer instead of the stream. Stages that must see the body (signature digests, the contract,
 * attack detection) call this; everyone else streams. `inspect` sees each chunk as it arrives and
 * may throw to refuse the body before the rest is read (the JSON scanner's limits).
 */
/** Does the request announce a body (a non-zero Content-Length, or chunked transfer)? */
export function hasRequestBody(ctx: RequestContext): boolean {
  const h = ctx.req.headers;
  const length = h['content-length'];
  return (length !== undefined && length !== '0') || h['transfer-encoding'] !== undefined;
}

export function readBody(ctx: RequestContext, inspect?: (chunk: Buffer) => void): Promise<Buffer> {
  if (ctx.body !== undefined) {
    // An earlier stage read it already: the inspector sees it whole.
    if (inspect !== undefined && ctx.body.length > 0) {
      try {
        inspect(ctx.body);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return Promise.resolve(ctx.body);
  }
  const req = ctx.req;
  const declared = req.headers['content-length'];
  if (declared === '0' || (declared === undefined && req.headers['transfer-encoding'] === undefined)) {
    ctx.body = EMPTY;
    return Promise.resolve(EMPTY);
  }
  if (declared !== undefined && Number(declared) > ctx.bodyLimit)
    return Promise.reject(new GatewayError('BODY_TOO_LARGE'));
  if (ctx.expectContinue) {
    ctx.res.writeContinue();
    ctx.expectContinue = false;
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > ctx.bodyLimit) {
        cleanup();
        req.resume();
        reject(new GatewayError('BODY_TOO_LARGE'));
        return;
      }
      if (inspect !== undefined) {
        try {
          inspect(chunk);
        } catch (err) {
          // The inspector refused what it has seen so far (hostile JSON): stop reading here.
          cleanup();
          req.resume();
          reject(err);
          return;
        }
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      ctx.bytesIn = size;
      ctx.body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      resolve(ctx.body);
    };
    const onError = (): void => {
      cleanup();
      reject(new GatewayError('BAD_REQUEST'));
    };
    const onAborted = (): void => {
      cleanup();
      reject(new GatewayError('REQUEST_TIMEOUT'));
    };
    function cleanup(): void {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onAborted);
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onAborted);
  });
}

const EMPTY = Buffer.alloc(0);

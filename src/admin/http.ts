import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ErrorCode, GatewayError, type GatewayErrorOptions } from '../core/errors.js';
import { PROBLEM_CONTENT_TYPE, problemBody } from '../core/problem.js';

/** Small HTTP helpers of the admin listener: security headers, JSON and problem answers, bodies. */

/** The dashboard loads only its own files: no inline script or style, no framing, no plugins. */
export const ADMIN_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Headers on every admin answer. */
export function securityHeaders(res: ServerResponse, tls: boolean): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Security-Policy', ADMIN_CSP);
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
  if (tls) res.setHeader('Strict-Transport-Security', 'max-age=31536000');
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** A problem+json answer like the gateway's (type, title, status, code, requestId; never a stack). */
export function sendProblem(
  res: ServerResponse,
  code: ErrorCode,
  requestId: string,
  options: GatewayErrorOptions & { extra?: Record<string, unknown>; typeBase?: string } = {},
): void {
  const err = new GatewayError(code, options);
  const body = JSON.stringify({ ...problemBody(err, requestId, options.typeBase), ...(options.extra ?? {}) });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(err.status, {
    ...(err.headers ?? {}),
    'Content-Type': PROBLEM_CONTENT_TYPE,
    'Content-Length': Buffer.byteLength(body),
    'X-Request-Id': requestId,
  });
  res.end(body);
}

/** A request body over its limit (413), or a client that went away. */
export class BodyError extends Error {
  constructor(readonly code: 'BODY_TOO_LARGE' | 'BAD_REQUEST') {
    super(code);
  }
}

/** Reads a whole request body, at most `limit` bytes (checked on Content-Length and on the stream). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      reject(new BodyError('BODY_TOO_LARGE'));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        reject(new BodyError('BODY_TOO_LARGE'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks));
    });
    req.on('error', () => {
      if (done) return;
      done = true;
      reject(new BodyError('BAD_REQUEST'));
    });
  });
}

import { ERRORS, type ErrorCode, type GatewayError, type Violation } from './errors.js';

/** Default base of the problem `type` URI; a URN so it never points at a page that does not exist. */
export const DEFAULT_TYPE_BASE = 'urn:portcullis:error:';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const kebabCache = new Map<string, string>();
function kebab(code: string): string {
  let k = kebabCache.get(code);
  if (k === undefined) {
    k = code.toLowerCase().replaceAll('_', '-');
    kebabCache.set(code, k);
  }
  return k;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail?: string;
  instance?: string;
  requestId: string;
  errors?: readonly Violation[];
  [extension: string]: unknown;
}

/** RFC 9457 body: type, title, status, code and the request id — never a stack or a library message. */
export function problemBody(err: GatewayError, requestId: string, typeBase = DEFAULT_TYPE_BASE): ProblemBody {
  const body: ProblemBody = {
    type: typeBase + kebab(err.code),
    title: ERRORS[err.code].title,
    status: err.status,
    code: err.code,
    requestId,
  };
  if (err.detail !== undefined) body.detail = err.detail;
  if (err.violations !== undefined) body.errors = err.violations;
  if (err.extensions !== undefined) {
    for (const [k, v] of Object.entries(err.extensions)) if (!(k in body)) body[k] = v;
  }
  return body;
}

/**
 * A complete raw HTTP/1.1 response for places where no ServerResponse exists (parser errors,
 * connection limits, upgrades). Always closes the connection.
 */
export function rawProblemResponse(code: ErrorCode, requestId: string, typeBase = DEFAULT_TYPE_BASE): string {
  const spec = ERRORS[code];
  const body = JSON.stringify({
    type: typeBase + kebab(code),
    title: spec.title,
    status: spec.status,
    code,
    requestId,
  });
  return (
    `HTTP/1.1 ${spec.status} ${spec.title}\r\n` +
    `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Cache-Control: no-store\r\n' +
    'X-Content-Type-Options: nosniff\r\n' +
    `X-Request-Id: ${requestId}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

import { GatewayError } from '../../../core/errors.js';

const TIMEOUTS = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/** An upstream failure as the client may see it: a code and status, never the library's message. */
export function upstreamError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (TIMEOUTS.has(code)) return new GatewayError('UPSTREAM_TIMEOUT', { cause: err });
    if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE')
      return new GatewayError('UPSTREAM_RESPONSE_TOO_LARGE', { cause: err });
  }
  return new GatewayError('UPSTREAM_UNAVAILABLE', { cause: err });
}

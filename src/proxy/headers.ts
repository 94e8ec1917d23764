import type { IncomingHttpHeaders } from 'node:http';

/** RFC 9110 §7.6.1 connection-specific fields, plus the de-facto ones; never forwarded either way. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * Headers the gateway sets itself towards the upstream (whatever the client sent is replaced), and
 * Expect: the listener has already answered "100-continue" (or refused any other expectation), so
 * the expectation is met hop by hop; undici refuses to send it anyway, which turned every upload
 * carrying "Expect: 100-continue" (curl's default above 1 KB) into a 502.
 */
const GATEWAY_SET = new Set([
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'forwarded',
  'x-request-id',
  'expect',
  // Headers that frameworks let override the method, the path or the client address: the
  // upstream must act on what the gateway checked, never on what the client claims.
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-original-url',
  'x-rewrite-url',
  'x-original-method',
  'x-forwarded-prefix',
  'x-forwarded-port',
  'x-forwarded-server',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'x-cluster-client-ip',
]);

function connectionTokens(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const joined = Array.isArray(value) ? value.join(',') : value;
  const out: string[] = [];
  for (const t of joined.split(',')) {
    const name = t.trim().toLowerCase();
    if (name && name !== 'close' && name !== 'keep-alive') out.push(name);
  }
  return out.length ? out : undefined;
}

/**
 * Request headers for the upstream: hop-by-hop fields and anything named in Connection removed,
 * gateway-owned fields left for the caller to set.
 */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders): Record<string, string | string[]> {
  const extra = connectionTokens(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    if (HOP_BY_HOP.has(name) || GATEWAY_SET.has(name)) continue;
    if (extra?.includes(name)) continue;
    const v = incoming[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/** Response headers for the client: hop-by-hop fields and anything named in Connection removed. */
export function clientResponseHeaders(
  upstream: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const extra = connectionTokens(upstream.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in upstream) {
    if (HOP_BY_HOP.has(name)) continue;
    if (extra?.includes(name)) continue;
    const v = upstream[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

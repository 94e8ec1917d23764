import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { Pool } from 'undici';
import { listenAndAnnounce, UPSTREAM_CONNECTIONS, upstreamFromEnv } from '../child.js';

/**
 * The Node ceiling: the least a correct reverse proxy on node:http + undici does, written plainly.
 * A keep-alive Pool, the request body streamed through, the response piped back by undici's
 * stream API, hop-by-hop headers dropped both ways, /api stripped from the path. No logging,
 * no security stages: whatever Portcullis costs above this is the price of its features.
 */

const upstream = upstreamFromEnv();
const pool = new Pool(upstream.origin, {
  connections: UPSTREAM_CONNECTIONS,
  pipelining: 1,
  keepAliveTimeout: 60_000,
});
const PREFIX = '/api/';

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
  'host',
]);

/** Names listed in a Connection header are hop-by-hop too (RFC 9110 §7.6.1). */
function listedInConnection(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const names = new Set<string>();
  for (const t of (Array.isArray(value) ? value.join(',') : value).split(','))
    names.add(t.trim().toLowerCase());
  return names;
}

function endToEnd(
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const listed = listedInConnection(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    const v = headers[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

function fail(res: ServerResponse, status: number): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': 0 });
  res.end();
}

function proxy(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  if (!url.startsWith(PREFIX)) {
    req.resume();
    fail(res, 404);
    return;
  }
  const headers = endToEnd(req.headers);
  headers.host = upstream.host;
  const hasBody =
    req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.stream(
    {
      method: (req.method ?? 'GET') as 'GET',
      path: url.slice(PREFIX.length - 1),
      headers,
      body: hasBody ? req : null,
      opaque: res,
    },
    ({ statusCode, headers: upstreamHeaders, opaque }) => {
      const out = opaque as ServerResponse;
      out.writeHead(statusCode, endToEnd(upstreamHeaders));
      // undici writes the body into the response and ends it; a client that goes away aborts the call.
      return out;
    },
    (err) => {
      if (err) fail(res, 502);
    },
  );
}

await listenAndAnnounce(createServer({ keepAliveTimeout: 60_000 }, proxy));

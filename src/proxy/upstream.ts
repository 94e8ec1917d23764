import { Pool } from 'undici';
import type { UpstreamConfig } from '../config/schema.js';

/** A named upstream: its keep-alive pool and what forwarding needs to know, prepared once. */
export interface Upstream {
  readonly name: string;
  readonly origin: string;
  /** Path prefix of the upstream URL without a trailing slash ("" for none). */
  readonly basePath: string;
  /** Host header value sent when preserveHost is off. */
  readonly hostHeader: string;
  readonly settings: UpstreamConfig;
  readonly pool: Pool;
}

export function createUpstream(name: string, settings: UpstreamConfig): Upstream {
  const url = new URL(settings.url);
  const pool = new Pool(url.origin, {
    connections: settings.connections,
    pipelining: settings.pipelining,
    keepAliveTimeout: settings.keepAliveTimeoutMs,
    keepAliveMaxTimeout: Math.max(settings.keepAliveTimeoutMs, 600_000),
    connectTimeout: settings.connectTimeoutMs,
    headersTimeout: settings.headersTimeoutMs,
    bodyTimeout: settings.bodyTimeoutMs,
    maxResponseSize: settings.maxResponseBytes,
  });
  return {
    name,
    origin: url.origin,
    basePath: url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, ''),
    hostHeader: url.host,
    settings,
    pool,
  };
}

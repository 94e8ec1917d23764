import type { ConnectionOptions } from 'node:tls';
import { Pool } from 'undici';
import { ConfigError } from '../config/errors.js';
import type { UpstreamConfig } from '../config/schema.js';
import { checkCaBundle, readPemFile } from '../server/tls.js';

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

/** TLS options for undici's connector, read once; files that cannot be read are config errors. */
function connectOptions(
  name: string,
  settings: UpstreamConfig,
  url: URL,
  file: string | undefined,
): ConnectionOptions | undefined {
  if (url.protocol !== 'https:') return undefined;
  const tls = settings.tls;
  const path = `upstreams.${name}.tls`;
  const read = (f: string, key: string): string => readPemFile(f, `${path}.${key}`, file);
  if ((tls.cert === '') !== (tls.key === '')) {
    throw new ConfigError([
      { file, path, reason: 'cert and key go together', hint: 'give both, or neither' },
    ]);
  }
  return {
    rejectUnauthorized: !tls.insecureSkipVerify,
    minVersion: 'TLSv1.2',
    ...(tls.ca.length
      ? { ca: tls.ca.map((f, i) => checkCaBundle(read(f, `ca[${i}]`), `${path}.ca[${i}]`, file)) }
      : {}),
    ...(tls.servername ? { servername: tls.servername } : {}),
    ...(tls.cert ? { cert: read(tls.cert, 'cert'), key: read(tls.key, 'key') } : {}),
  };
}

export function createUpstream(name: string, settings: UpstreamConfig, file?: string): Upstream {
  const url = new URL(settings.url);
  const tls = connectOptions(name, settings, url, file);
  const pool = new Pool(url.origin, {
    ...(tls ? { connect: tls } : {}),
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

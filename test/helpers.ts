import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SignJWT } from 'jose';
import { loadConfigObject } from '../src/config/load.js';
import type { Registry } from '../src/core/registry.js';
import { createLogger } from '../src/observability/logger.js';
import { createDefaultRegistry } from '../src/plugins/index.js';
import { Gateway } from '../src/server/gateway.js';

/** What the test upstream saw of one request. */
export interface UpstreamCall {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface TestUpstream {
  url: string;
  port: number;
  calls: UpstreamCall[];
  server: Server;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, call: UpstreamCall) => void | Promise<void>;

/** A real HTTP upstream on port 0 that records every request it receives (after reading its body). */
export async function startUpstream(handler?: Handler): Promise<TestUpstream> {
  const calls: UpstreamCall[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const call: UpstreamCall = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      calls.push(call);
      if (handler) {
        void handler(req, res, call);
        return;
      }
      const body = JSON.stringify({ ok: true, method: call.method, url: call.url });
      res.writeHead(200, {
        'content-type': 'application/json',
        server: 'test-upstream',
        'x-powered-by': 'tests',
      });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    calls,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface TestGateway {
  url: string;
  port: number;
  gateway: Gateway;
  /** Parsed JSON log lines written so far (access log and gateway log). */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/** A minimal valid config around one upstream, for tests to extend (routes public: anonymous allowed). */
/** The audit trail of gateways started by this test process. */
export const TEST_AUDIT_PATH = join(tmpdir(), `portcullis-test-audit-${process.pid}`, 'audit.db');

export function baseConfig(
  upstreamUrl: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    listeners: [{ name: 'test', host: '127.0.0.1', port: 0 }],
    upstreams: { api: { url: upstreamUrl, connectTimeoutMs: 500, headersTimeoutMs: 2000 } },
    routes: [
      { id: 'items', path: '/items', methods: ['GET', 'POST'], upstream: 'api' },
      { id: 'item', path: '/items/:id', methods: ['GET', 'PUT', 'DELETE'], upstream: 'api' },
    ],
    // Each test process keeps its own audit trail (not the project's .portcullis/audit.db).
    observability: { audit: { path: TEST_AUDIT_PATH } },
    ...extra,
    // Routes in these tests are public unless a test turns authentication on (deny is the default).
    plugins: {
      authentication: { anonymous: true },
      // Tests of authentication let every authenticated caller in unless they test authorization.
      authorization: { allow: 'authenticated' },
      ...((extra.plugins as Record<string, unknown> | undefined) ?? {}),
    },
  };
}

/** A real gateway on port 0 from a config object, its logs captured in memory. */
export async function startGateway(
  config: Record<string, unknown>,
  env: NodeJS.ProcessEnv = {},
  registry: Registry = createDefaultRegistry(),
): Promise<TestGateway> {
  const loaded = loadConfigObject(config, { registry, env });
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = createLogger('info', sink);
  const gateway = await Gateway.create({ loaded, logger, registry });
  const [bound] = await gateway.listen();
  if (!bound) throw new Error('no listener');
  return {
    url: bound.url,
    port: bound.port,
    gateway,
    logs,
    close: () => gateway.close(500).then(() => undefined),
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  raw: string;
}

/** Sends raw bytes on a fresh TCP connection and reads until the server closes or timeoutMs passes. */
export function rawRequest(port: number, data: string | Buffer, timeoutMs = 2000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      // One response is enough: stop once the announced body is complete.
      const parsed = parseRaw(Buffer.concat(chunks).toString('latin1'));
      const len = Number(parsed.headers['content-length'] ?? Number.NaN);
      if (!Number.isNaN(len) && Buffer.byteLength(parsed.body, 'latin1') >= len) socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      if (text === '') reject(new Error('connection closed without a response'));
      else resolve(parseRaw(text));
    });
    socket.write(data);
  });
}

function parseRaw(text: string): RawResponse {
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const body = end === -1 ? '' : text.slice(end + 4);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body, raw: text };
}

/** Asserts the shape every problem+json answer must have, and returns the parsed body. */
export function problemOf(
  contentType: string | null | undefined,
  body: string,
): { code: string; status: number; requestId: string; type: string; title: string } {
  if (!contentType?.startsWith('application/problem+json'))
    throw new Error(`expected problem+json, got ${contentType}: ${body.slice(0, 200)}`);
  const p = JSON.parse(body) as {
    code: string;
    status: number;
    requestId: string;
    type: string;
    title: string;
  };
  for (const k of ['type', 'title', 'status', 'code', 'requestId'] as const) {
    if (p[k] === undefined) throw new Error(`problem lacks ${k}`);
  }
  return p;
}

/** Access log lines leave in batches (up to 25 ms late): wait until one matching `match` is there. */
export async function waitForLog(
  gw: TestGateway,
  match: (line: Record<string, unknown>) => boolean,
  timeoutMs = 2000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = gw.logs.filter(match).at(-1);
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new Error('no matching log line');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The tests' identity provider: HS256 tokens from https://idp.test for audience "api". */
export const TEST_IDP = {
  issuer: 'https://idp.test',
  audience: ['api'],
  secret: 's'.repeat(32),
  algorithms: ['HS256'],
} as const;

/** A token of the test identity provider for `sub` (valid five minutes), signed with `key`. */
export function testToken(
  sub: string,
  claims: Record<string, unknown> = {},
  key: string = TEST_IDP.secret,
): Promise<string> {
  return new SignJWT({ sub, ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(TEST_IDP.issuer)
    .setAudience(TEST_IDP.audience[0])
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(key));
}

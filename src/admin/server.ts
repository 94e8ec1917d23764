import { randomUUID } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import type { ErrorCode } from '../core/errors.js';
import { addressGroup } from '../core/ip.js';
import type { Plan } from '../core/plan.js';
import { rawProblemResponse } from '../core/problem.js';
import type { Registry } from '../core/registry.js';
import type { SecurityEventType } from '../observability/events.js';
import type { Observability } from '../observability/hub.js';
import type { AdminConfig } from '../observability/schema.js';
import type { AppliedConfig } from '../server/gateway.js';
import { checkCaBundle, readPemFile } from '../server/tls.js';
import {
  type AdminAccess,
  type AdminIdentity,
  type AdminRole,
  accessOf,
  plainPeer,
  roleAllows,
} from './access.js';
import { API_ROUTES, type ApiRoute, type CallContext, HttpFailure } from './api.js';
import { dashboardAsset } from './dashboard/assets.js';
import { BodyError, securityHeaders, sendProblem } from './http.js';

/** What the admin API may see of and do to the gateway (the Gateway class implements it). */
export interface AdminGateway {
  readonly obs: Observability;
  readonly logger: Logger;
  /** The running config (secretPaths: what came from ${env:…}). */
  readonly loaded: LoadedConfig;
  readonly plan: Plan;
  readonly inFlight: number;
  readonly registry: Registry;
  /** The last applied configs, oldest first. */
  readonly configHistory: readonly AppliedConfig[];
  /** The history as stored now (other nodes sharing the directory may have added entries). */
  refreshHistory(): Promise<readonly AppliedConfig[]>;
  /** Shutting down: readiness answers 503 from the first moment, so a load balancer stops sending. */
  readonly draining: boolean;
  reload(loaded: LoadedConfig, meta?: { by?: string; yaml?: string }): Promise<Plan>;
}

export interface AdminServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

type Match = { route: ApiRoute; params: Record<string, string> } | { allow: string[] } | undefined;

const SEGMENT = /^[A-Za-z0-9._:~@+=-]{1,200}$/;

function decodeSegment(s: string): string | undefined {
  try {
    const d = decodeURIComponent(s);
    return SEGMENT.test(d) ? d : undefined;
  } catch {
    return undefined;
  }
}

/** The API route for a method and path; { allow } when the path exists with other methods. */
function match(method: string, path: string): Match {
  const parts = path.split('/');
  const allow: string[] = [];
  for (const route of API_ROUTES) {
    if (route.parts.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < parts.length && ok; i++) {
      const want = route.parts[i] as string;
      const have = parts[i] as string;
      if (want.startsWith(':')) {
        const v = decodeSegment(have);
        if (v === undefined) ok = false;
        else params[want.slice(1)] = v;
      } else if (want !== have) ok = false;
    }
    if (!ok) continue;
    if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { route, params };
    allow.push(route.method);
  }
  return allow.length > 0 ? { allow } : undefined;
}

/**
 * The admin listener: health, the admin API, /metrics and the dashboard, on its own address
 * (loopback by default), over TLS when admin.tls has a certificate, with client certificates
 * required when admin.tls.clientCa is set. Every call passes, in order: the peer address check
 * (admin.allowFrom, on the socket address; X-Forwarded-For is never read), the client certificate
 * (mTLS), then the bearer token and its role. Refusals and write actions are audited.
 */
export async function startAdmin(config: AdminConfig, gw: AdminGateway): Promise<AdminServer | undefined> {
  const tls = config.tls.cert !== '' && config.tls.key !== '';
  const mtls = tls && config.tls.clientCa !== '';
  if (config.tls.clientCa !== '' && !tls)
    throw new Error(
      'admin.tls.clientCa needs admin.tls.cert and admin.tls.key (client certificates need TLS)',
    );
  const loopback = config.host === '127.0.0.1' || config.host === '::1' || config.host === 'localhost';
  if (!loopback && !tls)
    gw.logger.warn(
      { host: config.host },
      'admin: listening beyond loopback without TLS: admin tokens cross the network in clear text; set admin.tls',
    );
  const file = gw.loaded.file;
  const httpOptions: ServerOptions = {
    maxHeaderSize: 16 * 1024,
    headersTimeout: 10_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 5_000,
    requireHostHeader: false,
    joinDuplicateHeaders: false,
  };
  let closing = false;
  // A config reloaded with an allowFrom entry that does not parse keeps the last good rules.
  let lastGood = accessOf(config);
  let reported: object | undefined;
  const currentAccess = (): AdminAccess => {
    const admin = gw.loaded.config.admin;
    try {
      lastGood = accessOf(admin);
    } catch (err) {
      // Fail closed: never keep tokens the running config removed (the compile step refuses such a
      // config, so this only guards against rules that stop parsing some other way).
      if (reported !== admin)
        gw.logger.error({ err }, 'admin: access rules do not parse; refusing every call');
      reported = admin;
      lastGood = accessOf({ ...admin, tokens: [], allowFrom: [] });
    }
    return lastGood;
  };
  const deniedThrottle = new DeniedThrottle();
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      gw.logger.error({ err }, 'admin: request failed');
      if (!res.headersSent) sendProblem(res, 'INTERNAL_ERROR', randomUUID());
      else res.destroy();
    });
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    securityHeaders(res, tls);
    res.setHeader('X-Request-Id', requestId);
    const peer = plainPeer(req.socket.remoteAddress);
    const ip = addressGroup(peer);
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : rawUrl.slice(q + 1));
    const method = req.method ?? 'GET';
    const typeBase = gw.plan.problemTypeBase;
    const problem = (code: ErrorCode, options: Parameters<typeof sendProblem>[3] = {}): void =>
      sendProblem(res, code, requestId, { ...options, typeBase });
    // The running config's access rules: a reload that changes tokens or allowFrom applies here.
    const access = currentAccess();
    const audit = (type: SecurityEventType, actor: string | undefined, code: string, detail?: object) =>
      gw.obs.emit({
        type,
        at: Date.now(),
        severity: type === 'admin.denied' ? 'warning' : 'info',
        ip,
        requestId,
        ...(actor === undefined ? {} : { actor }),
        code,
        ...(detail === undefined ? {} : { detail: detail as Record<string, unknown> }),
      });

    const m = match(method, path);
    const action =
      m !== undefined && 'route' in m
        ? m.route.action
        : path.startsWith('/health/')
          ? 'health'
          : path === '/' || path.startsWith('/assets/')
            ? 'dashboard'
            : 'unknown';
    // Refusals are audited, at most DENIED_PER_MINUTE per address: a flood cannot fill the trail.
    const denied = (actor: string | undefined, detail: object): void => {
      if (deniedThrottle.allow(ip, Date.now())) audit('admin.denied', actor, action, detail);
    };

    if (!access.peerAllowed(peer)) {
      denied(undefined, { reason: 'address not in admin.allowFrom', status: 403 });
      return problem('ADMIN_FORBIDDEN', {
        detail: 'The client address is not allowed on the admin listener (admin.allowFrom).',
      });
    }
    if (mtls && !(req.socket as TLSSocket).authorized) {
      denied(undefined, { reason: 'no valid client certificate', status: 403 });
      return problem('ADMIN_FORBIDDEN', {
        detail: 'A client certificate signed by admin.tls.clientCa is required.',
      });
    }

    if (method === 'GET' || method === 'HEAD') {
      if (path === '/health/live') return send(res, 200, { status: 'ok' }, method);
      if (path === '/health/ready') {
        const down = closing || gw.draining;
        const checks = {
          listener: closing ? 'closing' : gw.draining ? 'draining' : 'ok',
          config: `v${gw.plan.version}`,
          metrics: gw.obs.metricsPart === undefined ? 'disabled' : 'ok',
          audit: gw.obs.auditPart === undefined ? 'disabled' : 'ok',
          anomaly: gw.obs.anomalyPart === undefined ? 'disabled' : 'ok',
        };
        return send(res, down ? 503 : 200, { ready: !down, checks }, method);
      }
      if (path === '/' || path === '/index.html' || path.startsWith('/assets/')) {
        const asset = dashboardAsset(path);
        if (asset !== undefined) {
          res.writeHead(200, { 'Content-Type': asset.type, 'Content-Length': asset.body.length });
          res.end(method === 'HEAD' ? undefined : asset.body);
          return;
        }
        return problem('ROUTE_NOT_FOUND');
      }
    }

    if (m === undefined) return problem('ROUTE_NOT_FOUND');
    if ('allow' in m) return problem('METHOD_NOT_ALLOWED', { headers: { Allow: m.allow.join(', ') } });
    const { route, params } = m;

    const who: AdminIdentity | undefined = access.identify(req.headers.authorization);
    if (who === undefined) {
      denied(undefined, {
        reason: req.headers.authorization === undefined ? 'no token' : 'unknown token',
        status: 401,
      });
      return problem('ADMIN_UNAUTHENTICATED', {
        headers: { 'WWW-Authenticate': 'Bearer realm="portcullis-admin"' },
      });
    }
    if (!roleAllows(who.role, route.role)) {
      denied(who.name, { reason: `role ${who.role} below ${route.role}`, status: 403 });
      return problem('ADMIN_FORBIDDEN', {
        detail: `This call needs the ${route.role} role.`,
      });
    }

    const call: CallContext = {
      req,
      res,
      requestId,
      peer,
      params,
      query,
      who,
      gw,
      audit: (code, detail) => audit('admin.action', who.name, code, detail),
      event: (type, code, detail) => audit(type, who.name, code, detail),
    };
    try {
      await route.handle(call);
    } catch (err) {
      if (err instanceof HttpFailure)
        return problem(err.code, {
          ...(err.detail === undefined ? {} : { detail: err.detail }),
          ...(err.extra === undefined ? {} : { extra: err.extra }),
        });
      if (err instanceof BodyError) {
        res.setHeader('Connection', 'close');
        return problem(err.code, {
          detail: err.code === 'BODY_TOO_LARGE' ? 'The request body is too large for this call.' : undefined,
        });
      }
      throw err;
    }
  }

  let server: Server | HttpsServer;
  if (tls) {
    const cert = readPemFile(config.tls.cert, 'admin.tls.cert', file);
    const key = readPemFile(config.tls.key, 'admin.tls.key', file);
    const ca = mtls
      ? checkCaBundle(
          readPemFile(config.tls.clientCa, 'admin.tls.clientCa', file),
          'admin.tls.clientCa',
          file,
        )
      : undefined;
    server = createHttpsServer(
      {
        ...httpOptions,
        cert,
        key,
        minVersion: 'TLSv1.2',
        ...(ca === undefined ? {} : { ca, requestCert: true, rejectUnauthorized: false }),
      },
      handler,
    );
  } else server = createHttpServer(httpOptions, handler);
  server.maxConnections = 256;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(
      rawProblemResponse(
        err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : 'BAD_REQUEST',
        randomUUID(),
      ),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `${tls ? 'https' : 'http'}://${host}:${port}`;
  gw.logger.info({ url, tls, mtls }, 'admin listener started');
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const DENIED_PER_MINUTE = 30;

/** Counts refusals per address per minute (bounded: at most 10 000 addresses tracked). */
class DeniedThrottle {
  readonly #counts = new Map<string, { start: number; n: number }>();
  allow(ip: string, now: number): boolean {
    let c = this.#counts.get(ip);
    if (c === undefined || now - c.start >= 60_000) {
      if (c === undefined && this.#counts.size >= 10_000) this.#counts.clear();
      c = { start: now, n: 0 };
      this.#counts.set(ip, c);
    }
    c.n++;
    return c.n <= DENIED_PER_MINUTE;
  }
}

function send(res: ServerResponse, status: number, value: unknown, method: string): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(method === 'HEAD' ? undefined : body);
}

export type { AdminRole };

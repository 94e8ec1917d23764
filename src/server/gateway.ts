import { randomFillSync, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { type AdminServer, startAdmin } from '../admin/server.js';
import { compilePlan } from '../config/compile.js';
import { ConfigError } from '../config/errors.js';
import { type ConfigHistory, type HistoryEntry, MemoryConfigHistory } from '../config/history.js';
import type { LoadedConfig } from '../config/load.js';
import type { ListenerConfig } from '../config/schema.js';
import { type ClientCertificate, RequestContext, type ServerState } from '../core/context.js';
import type { ErrorCode } from '../core/errors.js';
import { GatewayError } from '../core/errors.js';
import { addressGroup } from '../core/ip.js';
import { chainOf, reply, runRequest, sendError } from '../core/pipeline.js';
import type { Plan } from '../core/plan.js';
import { rawProblemResponse } from '../core/problem.js';
import type { Registry } from '../core/registry.js';
import { Observability } from '../observability/hub.js';
import { attachParts } from '../observability/parts.js';
import { traceRequest } from '../observability/tracing.js';
import { createDefaultRegistry } from '../plugins/index.js';
import { createTlsServer } from './tls.js';
import { plainIp, TrustedProxies } from './trust.js';

export interface GatewayOptions {
  readonly loaded: LoadedConfig;
  readonly logger: Logger;
  readonly registry?: Registry;
  /**
   * Where applied configs are recorded (`portcullis start` passes the directory of
   * reload.history); without one, the history is kept in memory (reload.history.keep entries).
   */
  readonly history?: ConfigHistory;
}

/** One entry of the applied-config history, as the admin API lists it. */
export interface AppliedConfig {
  /** The entry's number in the history (it continues across restarts with a history directory). */
  readonly version: number;
  readonly appliedAt: number;
  /** Who applied it: "startup", "file", "sighup", or the admin token name. */
  readonly by: string;
  readonly sha256: string;
  /** The config file it was read from (undefined: posted to the admin API or built in code). */
  readonly source: string | undefined;
  /** This is the config running now. */
  readonly running: boolean;
  /** Its exact YAML text (undefined when the history no longer has it). */
  text(): Promise<string | undefined>;
}

/** What reload() records about a config besides its text. */
export interface ReloadMeta {
  /** Who applied it ("file", "sighup" or the admin token name); "reload" if unsaid. */
  readonly by?: string;
  /** The text to record when it differs from loaded.text (kept for the admin API's callers). */
  readonly yaml?: string;
}

/**
 * What a running process reads at start only: listener addresses, timeouts and TLS (their trusted
 * proxies reload with the plan), the admin listener's address and TLS (its tokens and allowFrom
 * reload), and the observability hub.
 */
function startOnly(config: LoadedConfig['config']): Record<string, string> {
  const { enabled, host, port, tls } = config.admin;
  return {
    listeners: JSON.stringify(config.listeners.map((l) => ({ ...l, trustedProxies: undefined }))),
    admin: JSON.stringify({ enabled, host, port, tls }),
    observability: JSON.stringify(config.observability),
  };
}

export interface BoundListener {
  readonly name: string;
  readonly url: string;
  readonly port: number;
}

interface Listener {
  readonly config: ListenerConfig;
  readonly server: Server;
  readonly scheme: 'http' | 'https';
  /** The listener asks for client certificates. */
  readonly mtls: boolean;
  connections: number;
  /** Stops certificate watching and ticket-key rotation. */
  stop(): void;
}

const NOBODY = new TrustedProxies([]);
/**
 * Requests in flight per connection (pipelining). A WeakMap, not a property on the socket: a new
 * property would change the shape of Node's own socket objects and slow its hot paths.
 */
const inFlightOn = new WeakMap<Socket, number>();

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

// Trace ids come from a pool refilled every 256 requests: one CSPRNG call instead of one per request.
const RANDOM_POOL = Buffer.alloc(24 * 256);
let randomOffset = RANDOM_POOL.length;
function randomHex24(): string {
  if (randomOffset === RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomOffset = 0;
  }
  const hex = RANDOM_POOL.toString('hex', randomOffset, randomOffset + 24);
  randomOffset += 24;
  return hex;
}

/** W3C trace context: keep a valid incoming traceparent, else start a new trace. */
export function traceparentFor(incoming: string | string[] | undefined): string {
  if (typeof incoming === 'string' && incoming.length === 55) {
    const m = TRACEPARENT.exec(incoming);
    if (m && !/^0+$/.test(m[1] as string) && !/^0+$/.test(m[2] as string)) return incoming;
  }
  const ids = randomHex24();
  return `00-${ids.slice(0, 32)}-${ids.slice(32)}-01`;
}

const SAFE_HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

/** A plain-HTTP listener in "redirect" or "refuse" mode: nothing is routed or proxied. */
function plaintextAnswer(ctx: RequestContext, config: ListenerConfig, logger: Logger): void {
  const host = ctx.req.headers.host;
  if (config.plaintext === 'refuse' || host === undefined || !SAFE_HOST.test(host)) {
    sendError(ctx, new GatewayError('HTTPS_REQUIRED'), logger);
    return;
  }
  const target = ctx.req.url ?? '/';
  // Only an origin-form target ("/path?query") is sent back; anything else could bend the URL.
  if (target.charCodeAt(0) !== 47 || target.charCodeAt(1) === 47) {
    sendError(ctx, new GatewayError('BAD_PATH'), logger);
    return;
  }
  const end = host.charCodeAt(0) === 91 ? host.indexOf(']') + 1 : host.indexOf(':');
  const name = end > 0 ? host.slice(0, end) : host;
  const port = config.redirectPort === 443 ? '' : `:${config.redirectPort}`;
  // 308 keeps the method and body (RFC 9110 §15.4.9); the path is sent back as the client gave it.
  ctx.res.shouldKeepAlive = false;
  reply(ctx, 308, { location: `https://${name}${port}${target}`, 'cache-control': 'no-store' }, '');
}

/** The certificate is the same for the whole TLS session: read it once per connection. */
const certificates = new WeakMap<TLSSocket, ClientCertificate | null>();

function clientCertificateOf(socket: TLSSocket): ClientCertificate | undefined {
  let known = certificates.get(socket);
  if (known === undefined) {
    const peer = socket.getPeerCertificate();
    known =
      peer === null || peer.fingerprint256 === undefined
        ? null
        : {
            subject: typeof peer.subject?.CN === 'string' ? peer.subject.CN : '',
            issuer: typeof peer.issuer?.CN === 'string' ? peer.issuer.CN : '',
            sans: peer.subjectaltname ? peer.subjectaltname.split(', ') : [],
            fingerprint256: peer.fingerprint256,
            serialNumber: peer.serialNumber,
            validFrom: peer.valid_from,
            validTo: peer.valid_to,
            verified: socket.authorized,
            error: socket.authorized ? undefined : String(socket.authorizationError ?? 'UNVERIFIED'),
          };
    certificates.set(socket, known);
  }
  return known ?? undefined;
}

/** Parser and socket errors → the problem code the client gets on the raw socket. */
function clientErrorCode(code: string | undefined): ErrorCode {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'HEADERS_TOO_LARGE';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'REQUEST_TIMEOUT';
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return 'AMBIGUOUS_FRAMING';
    default:
      return 'BAD_REQUEST';
  }
}

/**
 * The data plane: listeners in front of a compiled plan. A reload compiles a new plan beside the
 * old one and swaps it atomically; requests in flight finish on the plan they started with.
 */
export class Gateway {
  #plan: Plan;
  readonly #logger: Logger;
  readonly #registry: Registry;
  readonly #listeners: Listener[] = [];
  #loaded: LoadedConfig;
  /**
   * Requests in flight, in all and per plan. Counters only: a collection holding the contexts
   * would keep every in-flight request reachable from old space and cost more than the pipeline.
   */
  #inFlight = 0;
  readonly #perPlan = new Map<Plan, number>();
  /** Shared with every request; the respond path reads it to close connections while draining. */
  readonly #server: ServerState = { draining: false, inFlight: 0 };
  /** Plans replaced by a reload, closed once their last request is done. */
  readonly #retired = new Set<Plan>();
  #reloading: Promise<unknown> = Promise.resolve();
  #drained: (() => void) | undefined;
  /** Metrics, audit trail, anomaly detection: one hub for the process, kept across reloads. */
  readonly obs: Observability;
  #admin: AdminServer | undefined;
  readonly #history: ConfigHistory;
  /** The history as last read (after each record), newest last. */
  #entries: readonly HistoryEntry[] = [];
  /** The history entry of the running config (0: not recorded). */
  #runningSeq = 0;

  private constructor(
    plan: Plan,
    loaded: LoadedConfig,
    logger: Logger,
    registry: Registry,
    history: ConfigHistory,
  ) {
    this.#plan = plan;
    this.#loaded = loaded;
    this.#logger = logger;
    this.#registry = registry;
    this.#history = history;
    this.obs = new Observability(loaded.config.observability, logger, {
      inFlight: () => this.#inFlight,
      configVersion: () => this.#plan.version,
      startedAt: Date.now(),
    });
    attachParts(this.obs, loaded);
    if (this.obs.anomalyPart !== undefined) {
      const anomaly = this.obs.anomalyPart;
      this.#server.blockedFor = (principal, credential) => anomaly.blockedFor('', principal, credential);
    }
  }

  /**
   * The applied-config history as this gateway last read it (at start-up and after each config it
   * applied), oldest first. With a shared history directory, call refreshHistory() first to see
   * what other nodes added since.
   */
  get configHistory(): readonly AppliedConfig[] {
    const history = this.#history;
    return this.#entries.map((e) => ({
      version: e.seq,
      appliedAt: e.appliedAt,
      by: e.by,
      sha256: e.sha256,
      source: e.source,
      running: e.seq === this.#runningSeq,
      text: () => history.read(e.seq),
    }));
  }

  /** The history store (file or memory). */
  get history(): ConfigHistory {
    return this.#history;
  }

  /** Re-reads the history (entries other nodes sharing the directory added). */
  async refreshHistory(): Promise<readonly AppliedConfig[]> {
    this.#entries = await this.#history.list();
    return this.configHistory;
  }

  /** Records the running config; a history that cannot be written is logged, never fatal to a reload. */
  async #record(text: string, by: string, source: string | undefined): Promise<void> {
    try {
      const { entry } = await this.#history.record(text, { by, source });
      this.#runningSeq = entry.seq;
      this.#entries = await this.#history.list();
    } catch (err) {
      this.#runningSeq = 0;
      this.#logger.error(
        { err: { message: (err as Error).message }, history: this.#history.location },
        'config history: the applied config could not be recorded',
      );
    }
  }

  /**
   * Records a refused config (it did not load, did not compile, or the admin API refused it): one
   * config.rejected event, which the reload metrics count. reload() calls it for a compile failure;
   * callers that refuse a config before reload() call it themselves.
   */
  configRejected(by: string, issues: number, source?: string): void {
    this.obs.emit({
      type: 'config.rejected',
      at: Date.now(),
      severity: 'warning',
      actor: by,
      code: 'config.reload',
      detail: source === undefined ? { issues } : { issues, source },
    });
  }

  /** The plugin registry the plan was compiled with (to validate a new config the same way). */
  get registry(): Registry {
    return this.#registry;
  }

  /** The running config as loaded (secret paths included, for redaction). */
  get loaded(): LoadedConfig {
    return this.#loaded;
  }

  get logger(): Logger {
    return this.#logger;
  }

  /** The admin listener, once started by listen() (when admin.enabled). */
  get admin(): AdminServer | undefined {
    return this.#admin;
  }

  static async create(options: GatewayOptions): Promise<Gateway> {
    const registry = options.registry ?? createDefaultRegistry();
    const plan = await compilePlan(options.loaded, { registry, logger: options.logger, version: 1 });
    const history = options.history ?? new MemoryConfigHistory(options.loaded.config.reload.history.keep);
    const gateway = new Gateway(plan, options.loaded, options.logger, registry, history);
    await gateway.#record(options.loaded.text, 'startup', options.loaded.file);
    return gateway;
  }

  get plan(): Plan {
    return this.#plan;
  }

  /** Shutting down (close() started): new requests close their connections; readiness is 503. */
  get draining(): boolean {
    return this.#server.draining;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Compiles the new config; only a plan that compiled completely replaces the current one.
   * Reloads run one at a time. The old plan's pools and stages are released once the last request
   * that started on it has finished.
   */
  reload(loaded: LoadedConfig, meta: ReloadMeta = {}): Promise<Plan> {
    const actor = meta.by ?? 'reload';
    const next = this.#reloading.then(async () => {
      let plan: Plan;
      try {
        plan = await compilePlan(loaded, {
          registry: this.#registry,
          logger: this.#logger,
          version: this.#plan.version + 1,
        });
      } catch (err) {
        this.configRejected(actor, err instanceof ConfigError ? err.issues.length : 1, loaded.file);
        throw err;
      }
      const old = this.#plan;
      const before = this.#loaded.config;
      this.#plan = plan;
      this.#loaded = loaded;
      // Sections read at start only: say so instead of letting an operator think they took effect.
      const was = startOnly(before);
      const now = startOnly(loaded.config);
      const needRestart = Object.keys(now).filter((k) => now[k] !== was[k]);
      if (needRestart.length > 0)
        this.#logger.warn(
          { sections: needRestart },
          'config reloaded, but these settings take effect only on restart (the running ones stay)',
        );
      this.#retired.add(old);
      this.#retireIfIdle(old);
      this.#logger.info({ version: plan.version, by: actor }, 'config reloaded');
      await this.#record(meta.yaml ?? loaded.text, actor, loaded.file);
      this.obs.emit({
        type: 'config.applied',
        at: Date.now(),
        severity: 'info',
        actor,
        code: `v${plan.version}`,
        detail: { historyVersion: this.#runningSeq },
      });
      return plan;
    });
    this.#reloading = next.catch(() => undefined);
    return next;
  }

  #retireIfIdle(plan: Plan): void {
    if (!this.#retired.has(plan) || (this.#perPlan.get(plan) ?? 0) > 0) return;
    this.#retired.delete(plan);
    this.#perPlan.delete(plan);
    plan
      .close()
      .catch((err: unknown) =>
        this.#logger.error({ err, version: plan.version }, 'closing a retired plan failed'),
      );
  }

  async listen(): Promise<BoundListener[]> {
    const bound: BoundListener[] = [];
    for (const config of this.#loaded.config.listeners) {
      const listener = this.#createListener(config, this.#listeners.length);
      this.#listeners.push(listener);
      await new Promise<void>((resolve, reject) => {
        listener.server.once('error', reject);
        listener.server.listen(config.port, config.host, () => {
          listener.server.off('error', reject);
          resolve();
        });
      });
      const port = (listener.server.address() as AddressInfo).port;
      const host = config.host.includes(':') ? `[${config.host}]` : config.host;
      bound.push({ name: config.name, port, url: `${listener.scheme}://${host}:${port}` });
    }
    const admin = this.#loaded.config.admin;
    if (admin.enabled && this.#admin === undefined) this.#admin = await startAdmin(admin, this);
    return bound;
  }

  #createListener(config: ListenerConfig, index: number): Listener {
    const httpOptions = {
      maxHeaderSize: config.maxHeaderBytes,
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      keepAliveTimeout: config.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs),
      requireHostHeader: false,
      joinDuplicateHeaders: false,
    };
    const logger = this.#logger;
    let server: Server;
    let stop = (): void => undefined;
    if (config.tls === undefined) {
      server = createServer(httpOptions);
    } else {
      const tls = createTlsServer(
        config.tls,
        httpOptions,
        `listeners[${index}].tls`,
        this.#loaded.file,
        logger,
        config.name,
      );
      server = tls.server;
      stop = tls.stop;
    }
    const listener: Listener = {
      config,
      server,
      scheme: config.tls === undefined ? 'http' : 'https',
      mtls: config.tls !== undefined && config.tls.clientCertificates.mode !== 'off',
      connections: 0,
      stop,
    };

    server.on('connection', (socket: Socket) => {
      listener.connections++;
      socket.once('close', () => {
        listener.connections--;
      });
      if (listener.connections > config.maxConnections) {
        // Before a TLS handshake there is nobody to read an HTTP answer: just close.
        if (listener.scheme === 'https') {
          socket.destroy();
          return;
        }
        socket.end(rawProblemResponse('CONNECTION_LIMIT', randomUUID(), this.#plan.problemTypeBase));
        socket.destroySoon();
        return;
      }
      const hooks = this.#plan.connection;
      for (let i = 0; i < hooks.length; i++) {
        let admitted = false;
        try {
          admitted = (hooks[i] as (s: Socket) => boolean)(socket);
        } catch (err) {
          // Fail closed: a connection stage that crashes refuses the connection.
          logger.error({ err }, 'connection stage failed');
        }
        if (!admitted) {
          socket.destroy();
          return;
        }
      }
    });

    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      // Node's own handler does the same: once a response has started, a problem written now
      // would land inside its body, so the only honest answer left is to cut the connection.
      const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
        socket.destroy();
        return;
      }
      const code = clientErrorCode(err.code);
      const id = randomUUID();
      logger.info(
        {
          log: 'access',
          reqId: id,
          code,
          parserError: err.code,
          clientIp: plainIp(socket.remoteAddress),
          listener: config.name,
        },
        'client error',
      );
      socket.end(rawProblemResponse(code, id, this.#plan.problemTypeBase));
    });

    server.on('upgrade', (_req: IncomingMessage, socket: Socket) => {
      socket.end(rawProblemResponse('UPGRADE_NOT_SUPPORTED', randomUUID(), this.#plan.problemTypeBase));
    });

    server.on('connect', (_req: IncomingMessage, socket: Socket) => {
      socket.end(rawProblemResponse('METHOD_NOT_ALLOWED', randomUUID(), this.#plan.problemTypeBase));
    });

    server.on('request', (req: IncomingMessage, res: ServerResponse) =>
      this.#handle(listener, req, res, 'none'),
    );
    // Without these listeners Node answers "100 Continue" itself (before any stage could refuse the
    // body) and a bare 417 for other expectations.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) =>
      this.#handle(listener, req, res, 'continue'),
    );
    server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) =>
      this.#handle(listener, req, res, 'unsupported'),
    );
    return listener;
  }

  #handle(
    listener: Listener,
    req: IncomingMessage,
    res: ServerResponse,
    expect: 'none' | 'continue' | 'unsupported',
  ): void {
    const startedAt = performance.now();
    const plan = this.#plan;
    const trust = plan.trust.get(listener.config.name) ?? NOBODY;
    const peer = plainIp(req.socket.remoteAddress);
    const trusted = trust.has(peer);
    const incomingId = req.headers['x-request-id'];
    const id =
      trusted && typeof incomingId === 'string' && SAFE_REQUEST_ID.test(incomingId)
        ? incomingId
        : randomUUID();
    const ctx = new RequestContext(
      id,
      plan,
      req,
      res,
      listener.config.name,
      listener.scheme,
      peer,
      trusted,
      startedAt,
    );
    if (trusted) {
      const xff = req.headers['x-forwarded-for'];
      ctx.clientIp = trust.clientFrom(peer, Array.isArray(xff) ? xff.join(',') : xff);
    }
    ctx.traceparent = traceparentFor(req.headers.traceparent);
    traceRequest(this.obs, ctx);
    ctx.expectContinue = expect === 'continue';
    ctx.server = this.#server;
    if (listener.mtls) ctx.clientCertificate = clientCertificateOf(req.socket as TLSSocket);
    this.#inFlight++;
    this.#server.inFlight = this.#inFlight;
    this.#perPlan.set(plan, (this.#perPlan.get(plan) ?? 0) + 1);
    if (this.#server.draining) res.shouldKeepAlive = false;
    const socket = req.socket;
    const pipelined = (inFlightOn.get(socket) ?? 0) + 1;
    inFlightOn.set(socket, pipelined);
    res.once('close', () => this.#finished(ctx, socket));
    if (expect === 'unsupported') {
      // An Expect other than 100-continue: answered like any problem, through the respond and log hooks.
      res.shouldKeepAlive = false;
      sendError(ctx, new GatewayError('EXPECTATION_FAILED'), this.#logger);
      return;
    }
    if (listener.scheme === 'http' && listener.config.plaintext !== 'serve') {
      try {
        plaintextAnswer(ctx, listener.config, this.#logger);
      } catch (err) {
        sendError(ctx, err, this.#logger);
      }
      return;
    }
    if (pipelined > listener.config.maxPipelinedRequests) {
      // Node parses and emits every pipelined request at once; past the cap, refuse and close.
      res.shouldKeepAlive = false;
      sendError(ctx, new GatewayError('PIPELINE_LIMIT'), this.#logger);
      return;
    }
    // Automatic blocks of the anomaly detector (autoBlock enforce): the client's address group.
    const anomaly = this.obs.anomalyPart;
    if (anomaly !== undefined) {
      const blockedMs = anomaly.blockedFor(addressGroup(ctx.clientIp), undefined);
      if (blockedMs > 0) {
        const headers = { 'retry-after': String(Math.ceil(blockedMs / 1000)) };
        sendError(ctx, new GatewayError('CLIENT_BLOCKED', { headers }), this.#logger);
        return;
      }
    }
    runRequest(ctx, this.#logger);
  }

  #finished(ctx: RequestContext, socket: Socket): void {
    this.#inFlight--;
    this.#server.inFlight = this.#inFlight;
    this.#perPlan.set(ctx.plan, (this.#perPlan.get(ctx.plan) ?? 1) - 1);
    inFlightOn.set(socket, (inFlightOn.get(socket) ?? 1) - 1);
    if (ctx.onClientGone !== undefined && !ctx.res.writableFinished) ctx.onClientGone();
    const hooks = chainOf(ctx).log;
    for (let i = 0; i < hooks.length; i++) {
      try {
        (hooks[i] as (c: RequestContext) => void)(ctx);
      } catch (err) {
        this.#logger.error({ err, reqId: ctx.id }, 'log hook failed');
      }
    }
    this.obs.requestFinished(ctx);
    if (this.#retired.size > 0) this.#retireIfIdle(ctx.plan);
    if (this.#server.draining && this.#inFlight === 0) this.#drained?.();
  }

  /** Resolves once no request is in flight, or after `ms`; true if none is left. */
  #idle(ms: number): Promise<boolean> {
    if (this.#inFlight === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.#drained = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  /**
   * Graceful stop: refuse new connections, let in-flight requests finish up to graceMs, then
   * close what is left and the upstream pools.
   */
  async close(graceMs: number = this.#loaded.config.shutdown.graceMs): Promise<{ cut: number }> {
    this.#server.draining = true;
    for (const l of this.#listeners) l.stop();
    const closed = this.#listeners.map(
      (l) => new Promise<void>((resolve) => l.server.close(() => resolve())),
    );
    for (const l of this.#listeners) l.server.closeIdleConnections();
    const drained = await this.#idle(graceMs);
    const cut = drained ? 0 : this.#inFlight;
    for (const l of this.#listeners) l.server.closeAllConnections();
    // Cut requests still log their line: wait for their 'close' events before the plan goes.
    if (!drained) await this.#idle(1000);
    await Promise.all(closed);
    await Promise.allSettled([...this.#retired].map((p) => p.close(true)));
    await this.#plan.close(!drained);
    await this.#admin?.close();
    await this.obs.close();
    if (cut > 0) this.#logger.warn({ cut }, 'shutdown deadline passed; requests still in flight were cut');
    return { cut };
  }
}

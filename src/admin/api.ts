import type { IncomingMessage, ServerResponse } from 'node:http';
import { keyJson } from '../cli/keys.js';
import { routeInventory } from '../cli/routes.js';
import { buildReport } from '../cli/versions.js';
import { compilePlan } from '../config/compile.js';
import { ConfigError, type ConfigIssue } from '../config/errors.js';
import { type LoadedConfig, loadConfigText, recordingEnv, scrubEnv } from '../config/load.js';
import type { ErrorCode } from '../core/errors.js';
import type { SecurityEventType } from '../observability/events.js';
import type { AuditQuery } from '../observability/hub.js';
import { KeyService, KeyServiceError } from '../stores/key-service.js';
import { VERSION } from '../version.js';
import { readUsage } from '../versioning/usage.js';
import { AdminAccess, type AdminIdentity, type AdminRole } from './access.js';
import { readBody, sendJson } from './http.js';
import { redactConfig } from './redact.js';
import type { AdminGateway } from './server.js';
import { versionInfo } from './version-info.js';

/** The admin API's calls (behind the address, certificate and token checks of server.ts). */

/** A refusal with a problem+json answer. */
export class HttpFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly detail?: string,
    readonly extra?: Record<string, unknown>,
  ) {
    super(code);
  }
}

export interface CallContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly requestId: string;
  /** The peer address (IPv4-mapped addresses as IPv4). */
  readonly peer: string;
  readonly params: Record<string, string>;
  readonly query: URLSearchParams;
  readonly who: AdminIdentity;
  readonly gw: AdminGateway;
  /** Records an admin.action event (actor: the token name). */
  audit(code: string, detail?: Record<string, unknown>): void;
  /** Records another event type on behalf of the caller (key.created, config.rejected…). */
  event(type: SecurityEventType, code: string, detail?: Record<string, unknown>): void;
}

export interface ApiRoute {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** "/api/v1/keys/:id/revoke" split on "/". */
  readonly parts: readonly string[];
  readonly role: AdminRole;
  /** Audit name of the call ("keys.create"). */
  readonly action: string;
  handle(c: CallContext): Promise<void> | void;
}

const CONFIG_LIMIT = 1024 * 1024;
const JSON_LIMIT = 64 * 1024;

function disabled(what: string): HttpFailure {
  return new HttpFailure('ADMIN_FEATURE_DISABLED', `${what} is not enabled in this config.`);
}

async function jsonBody(c: CallContext): Promise<Record<string, unknown>> {
  const buf = await readBody(c.req, JSON_LIMIT);
  if (buf.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(buf.toString('utf8'));
  } catch {
    throw new HttpFailure('JSON_INVALID', 'The body is not valid JSON.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new HttpFailure('REQUEST_INVALID', 'The body must be a JSON object.');
  return value as Record<string, unknown>;
}

function intParam(q: URLSearchParams, name: string, def: number, min: number, max: number): number {
  const v = q.get(name);
  if (v === null || v === '') return def;
  if (!/^\d{1,9}$/.test(v)) throw new HttpFailure('REQUEST_INVALID', `${name} must be a whole number.`);
  return Math.max(min, Math.min(max, Number(v)));
}

/** Epoch ms or an ISO 8601 date. */
function timeParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (/^\d{1,15}$/.test(v)) return Number(v);
  const t = v.length <= 40 ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(t))
    throw new HttpFailure('REQUEST_INVALID', `${name} must be epoch milliseconds or an ISO 8601 date.`);
  return t;
}

function textParam(q: URLSearchParams, name: string): string | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (v.length > 200) throw new HttpFailure('REQUEST_INVALID', `${name} is too long.`);
  return v;
}

function auditQuery(q: URLSearchParams, defaultLimit: number | undefined): AuditQuery {
  const limit =
    defaultLimit === undefined && !q.has('limit')
      ? undefined
      : intParam(q, 'limit', defaultLimit ?? 100, 1, 1000);
  const out: Record<string, unknown> = {};
  for (const name of ['type', 'actor', 'ip', 'route'] as const) {
    const v = textParam(q, name);
    if (v !== undefined) out[name] = v;
  }
  const since = timeParam(q, 'since');
  const until = timeParam(q, 'until');
  if (since !== undefined) out.since = since;
  if (until !== undefined) out.until = until;
  if (limit !== undefined) out.limit = limit;
  return out as AuditQuery;
}

function issuesOf(err: ConfigError, seen: ReadonlySet<string> = new Set()): Record<string, unknown>[] {
  return err.issues.map((i: ConfigIssue) => {
    const o: Record<string, unknown> = { reason: scrubEnv(i.reason, seen) };
    if (i.path !== undefined) o.path = scrubEnv(i.path, seen);
    if (i.line !== undefined) o.line = i.line;
    if (i.column !== undefined) o.column = i.column;
    if (i.hint !== undefined) o.hint = scrubEnv(i.hint, seen);
    return o;
  });
}

/**
 * What the admin API checks beyond the loader: admin.allowFrom parses, and (for apply and rollback)
 * the caller would keep the admin role from its address with its token — an apply never locks the
 * admin API out; that takes a restart with a new file.
 */
function checkAdmin(c: CallContext, loaded: LoadedConfig, applying: boolean): void {
  let access: AdminAccess;
  try {
    access = new AdminAccess(loaded.config.admin);
  } catch (err) {
    throw new ConfigError([{ path: 'admin.allowFrom', reason: (err as Error).message }]);
  }
  if (!applying) return;
  if (access.identify(c.req.headers.authorization)?.role !== 'admin')
    throw new ConfigError([
      {
        path: 'admin.tokens',
        reason:
          'the token making this call would no longer have the admin role: the admin API would be locked out',
        hint: 'keep your admin token in admin.tokens (restart with a new file to remove it)',
      },
    ]);
  if (!access.peerAllowed(c.peer))
    throw new ConfigError([
      {
        path: 'admin.allowFrom',
        reason: 'the address making this call would no longer be allowed: the admin API would be locked out',
        hint: 'keep this address in admin.allowFrom (restart with a new file to remove it)',
      },
    ]);
}

/** Parses, validates and compiles a posted YAML config (the plan is closed again). */
async function checkConfig(c: CallContext, text: string, env: NodeJS.ProcessEnv): Promise<LoadedConfig> {
  const loaded = loadConfigText(text, 'admin-api.yaml', { registry: c.gw.registry, env });
  checkAdmin(c, loaded, false);
  const plan = await compilePlan(loaded, {
    registry: c.gw.registry,
    logger: c.gw.logger,
    version: c.gw.plan.version + 1,
  });
  await plan.close();
  return { ...loaded, file: undefined };
}

async function yamlBody(c: CallContext): Promise<string> {
  const buf = await readBody(c.req, CONFIG_LIMIT);
  if (buf.length === 0) throw new HttpFailure('REQUEST_INVALID', 'The body must be the YAML config.');
  return buf.toString('utf8');
}

function notCompiled(err: ConfigError, seen: ReadonlySet<string>): HttpFailure {
  return new HttpFailure(
    'ADMIN_CONFIG_INVALID',
    'The config did not compile; the running config is unchanged.',
    {
      issues: issuesOf(err, seen),
    },
  );
}

/**
 * Applies a loaded config through the gateway (which records it in the config history). Answers
 * the history version now running and the plan version (the process's reload counter).
 */
async function apply(
  c: CallContext,
  loaded: LoadedConfig,
  action: string,
  detail: Record<string, unknown>,
  seen: ReadonlySet<string> = new Set(),
): Promise<{ version: number; planVersion: number }> {
  try {
    checkAdmin(c, loaded, true);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    c.event('config.rejected', action, { issues: err.issues.length });
    throw notCompiled(err, seen);
  }
  let planVersion: number;
  try {
    // A config that does not compile is recorded as config.rejected by the gateway itself.
    planVersion = (await c.gw.reload(loaded, { by: c.who.name })).version;
  } catch (err) {
    if (err instanceof ConfigError) throw notCompiled(err, seen);
    throw err;
  }
  const version = c.gw.configHistory.find((h) => h.running)?.version ?? planVersion;
  c.audit(action, { ...detail, version, planVersion });
  return { version, planVersion };
}

function keyService(c: CallContext): KeyService {
  const stores = c.gw.plan.stores;
  let pepper: Buffer;
  try {
    pepper = stores.keyPepper();
  } catch {
    throw disabled('The API key store (stores.keys pepper)');
  }
  return new KeyService(stores.keys(), pepper);
}

function keyFailure(err: unknown): never {
  if (err instanceof KeyServiceError)
    throw new HttpFailure(err.kind === 'not_found' ? 'NOT_FOUND' : 'REQUEST_INVALID', err.message);
  throw err;
}

function strings(body: Record<string, unknown>, name: string): string[] | undefined {
  const v = body[name];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new HttpFailure('REQUEST_INVALID', `${name} must be a list of strings.`);
  return v as string[];
}

function expiry(v: unknown): number | null | undefined {
  if (v === undefined || v === null) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'string' && v.length <= 40) {
    const t = Date.parse(v);
    if (!Number.isNaN(t)) return t;
  }
  throw new HttpFailure('REQUEST_INVALID', 'expiresAt must be epoch milliseconds or an ISO 8601 date.');
}

const route = (
  method: ApiRoute['method'],
  path: string,
  role: AdminRole,
  action: string,
  handle: ApiRoute['handle'],
): ApiRoute => ({ method, parts: path.split('/'), role, action, handle });

export const API_ROUTES: readonly ApiRoute[] = [
  route('POST', '/api/v1/login', 'viewer', 'login', (c) => {
    c.event('admin.login', 'login', { role: c.who.role });
    sendJson(c.res, 200, { name: c.who.name, role: c.who.role });
  }),

  route('GET', '/api/v1/overview', 'viewer', 'overview', (c) => {
    const metrics = c.gw.obs.metricsPart;
    if (metrics === undefined) throw disabled('Metrics (observability.metrics)');
    const o = metrics.overview();
    const view = c.gw.obs.gateway;
    sendJson(c.res, 200, {
      version: VERSION,
      configVersion: view.configVersion(),
      uptimeSeconds: Math.floor((Date.now() - view.startedAt) / 1000),
      inFlight: c.gw.inFlight,
      totals: o.totals,
      blockedByReason: o.blockedByReason,
      topIps: o.topIps,
      topKeys: o.topKeys,
      recentAlerts: c.gw.obs.anomalyPart?.alerts(10) ?? [],
    });
  }),

  route('GET', '/api/v1/traffic', 'viewer', 'traffic', (c) => {
    const metrics = c.gw.obs.metricsPart;
    if (metrics === undefined) throw disabled('Metrics (observability.metrics)');
    sendJson(c.res, 200, { points: metrics.traffic(intParam(c.query, 'seconds', 300, 1, 3600)) });
  }),

  route('GET', '/api/v1/config', 'viewer', 'config.read', (c) => {
    const { config, secretPaths } = c.gw.loaded;
    sendJson(c.res, 200, { version: c.gw.plan.version, config: redactConfig(config, secretPaths) });
  }),

  route('GET', '/api/v1/config/history', 'viewer', 'config.history', async (c) => {
    // Re-read: other nodes sharing the history directory may have applied configs since.
    const history = await c.gw.refreshHistory();
    sendJson(c.res, 200, {
      versions: history.map((h) => ({
        version: h.version,
        appliedAt: h.appliedAt,
        by: h.by,
        running: h.running,
        sha256: h.sha256,
        ...(h.source === undefined ? {} : { source: h.source }),
      })),
    });
  }),

  route('POST', '/api/v1/config/validate', 'operator', 'config.validate', async (c) => {
    const text = await yamlBody(c);
    const { env, seen } = recordingEnv();
    try {
      await checkConfig(c, text, env);
      sendJson(c.res, 200, { valid: true, errors: [] });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      sendJson(c.res, 200, { valid: false, errors: issuesOf(err, seen) });
    }
  }),

  route('POST', '/api/v1/config/apply', 'admin', 'config.apply', async (c) => {
    const text = await yamlBody(c);
    const { env, seen } = recordingEnv();
    let loaded: LoadedConfig;
    try {
      loaded = loadConfigText(text, 'admin-api.yaml', { registry: c.gw.registry, env });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      c.event('config.rejected', 'config.apply', { issues: err.issues.length });
      throw new HttpFailure(
        'ADMIN_CONFIG_INVALID',
        'The config is not valid; the running config is unchanged.',
        {
          issues: issuesOf(err, seen),
        },
      );
    }
    const applied = await apply(c, { ...loaded, file: undefined }, 'config.apply', {}, seen);
    sendJson(c.res, 200, applied);
  }),

  route('POST', '/api/v1/config/rollback', 'admin', 'config.rollback', async (c) => {
    const body = await jsonBody(c);
    const want = body.version;
    if (typeof want !== 'number' || !Number.isSafeInteger(want))
      throw new HttpFailure('REQUEST_INVALID', 'version must be the number of a version in the history.');
    const entry = c.gw.configHistory.find((h) => h.version === want);
    const text = await entry?.text();
    if (entry === undefined || text === undefined)
      throw new HttpFailure('NOT_FOUND', `Version ${want} is not in the config history.`);
    // Loaded again from its text, with the environment of now (as a SIGHUP reload would).
    const { env, seen } = recordingEnv();
    let loaded: LoadedConfig;
    try {
      loaded = loadConfigText(text, entry.source ?? 'config-history.yaml', { registry: c.gw.registry, env });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      c.event('config.rejected', 'config.rollback', { issues: err.issues.length });
      throw notCompiled(err, seen);
    }
    const applied = await apply(c, { ...loaded, file: entry.source }, 'config.rollback', { to: want }, seen);
    sendJson(c.res, 200, { ...applied, rolledBackTo: want });
  }),

  route('GET', '/api/v1/routes', 'viewer', 'routes', (c) => {
    sendJson(c.res, 200, { routes: routeInventory(c.gw.plan) });
  }),

  route('GET', '/api/v1/versions', 'viewer', 'versions', (c) => {
    // Counts come from the usage file: at most versioning.usage.flushMs old, all nodes sharing it.
    const versioning = c.gw.loaded.config.versioning;
    sendJson(c.res, 200, { versions: buildReport(versioning, readUsage(versioning.usage.path)) });
  }),

  route('GET', '/api/v1/keys', 'viewer', 'keys.list', async (c) => {
    const consumer = textParam(c.query, 'consumer');
    const keys = await keyService(c).list(consumer === undefined ? {} : { consumer });
    const now = Date.now();
    sendJson(c.res, 200, { keys: keys.map((k) => keyJson(k, now)) });
  }),

  route('POST', '/api/v1/keys', 'operator', 'keys.create', async (c) => {
    const body = await jsonBody(c);
    if (typeof body.consumer !== 'string') throw new HttpFailure('REQUEST_INVALID', 'consumer is required.');
    if (body.name !== undefined && typeof body.name !== 'string')
      throw new HttpFailure('REQUEST_INVALID', 'name must be a string.');
    const scopes = strings(body, 'scopes');
    const roles = strings(body, 'roles');
    const allowedCidrs = strings(body, 'allowedCidrs');
    const expiresAt = expiry(body.expiresAt);
    const service = keyService(c);
    const created = await service
      .create({
        consumer: body.consumer,
        ...(body.name === undefined ? {} : { name: body.name as string }),
        ...(scopes === undefined ? {} : { scopes }),
        ...(roles === undefined ? {} : { roles }),
        ...(allowedCidrs === undefined ? {} : { allowedCidrs }),
        ...(expiresAt === undefined ? {} : { expiresAt }),
      })
      .catch(keyFailure);
    const detail = { keyId: created.info.id, consumer: created.info.consumer };
    c.event('key.created', 'keys.create', detail);
    c.audit('keys.create', detail);
    sendJson(c.res, 201, { ...keyJson(created.info), key: created.key });
  }),

  route('POST', '/api/v1/keys/:id/revoke', 'operator', 'keys.revoke', async (c) => {
    const id = c.params.id as string;
    const info = await keyService(c).revoke(id).catch(keyFailure);
    const detail = { keyId: info.id, consumer: info.consumer };
    c.event('key.revoked', 'keys.revoke', detail);
    c.audit('keys.revoke', detail);
    sendJson(c.res, 200, keyJson(info));
  }),

  route('GET', '/api/v1/audit', 'viewer', 'audit.query', (c) => {
    const audit = c.gw.obs.auditPart;
    if (audit === undefined) throw disabled('The audit trail (observability.audit)');
    sendJson(c.res, 200, { events: audit.query(auditQuery(c.query, 100)) });
  }),

  route('GET', '/api/v1/audit/export', 'admin', 'audit.export', (c) => {
    const audit = c.gw.obs.auditPart;
    if (audit === undefined) throw disabled('The audit trail (observability.audit)');
    const q = auditQuery(c.query, undefined);
    c.audit('audit.export', { filters: Object.keys(q) });
    c.res.writeHead(200, {
      'Content-Type': 'application/x-ndjson; charset=utf-8',
      'Content-Disposition': 'attachment; filename="portcullis-audit.jsonl"',
    });
    audit.exportJsonl(q, (line) => c.res.write(line));
    c.res.end();
  }),

  route('GET', '/api/v1/audit/verify', 'viewer', 'audit.verify', (c) => {
    const audit = c.gw.obs.auditPart;
    if (audit === undefined) throw disabled('The audit trail (observability.audit)');
    sendJson(c.res, 200, audit.verify());
  }),

  route('GET', '/api/v1/alerts', 'viewer', 'alerts', (c) => {
    const anomaly = c.gw.obs.anomalyPart;
    if (anomaly === undefined) throw disabled('Anomaly detection (observability.anomaly)');
    sendJson(c.res, 200, { alerts: anomaly.alerts(intParam(c.query, 'limit', 50, 1, 1000)) });
  }),

  route('GET', '/api/v1/blocks', 'viewer', 'blocks.list', (c) => {
    const anomaly = c.gw.obs.anomalyPart;
    if (anomaly === undefined) throw disabled('Anomaly detection (observability.anomaly)');
    sendJson(c.res, 200, { blocks: anomaly.blocks() });
  }),

  route('DELETE', '/api/v1/blocks/:id', 'operator', 'blocks.remove', (c) => {
    const anomaly = c.gw.obs.anomalyPart;
    if (anomaly === undefined) throw disabled('Anomaly detection (observability.anomaly)');
    const id = c.params.id as string;
    if (!anomaly.unblock(id)) throw new HttpFailure('NOT_FOUND', `No block with id ${id}.`);
    c.audit('blocks.remove', { blockId: id });
    sendJson(c.res, 200, { id, removed: true });
  }),

  route('GET', '/api/v1/version', 'viewer', 'version', (c) => {
    sendJson(c.res, 200, versionInfo());
  }),

  route('GET', '/metrics', 'viewer', 'metrics', async (c) => {
    const metrics = c.gw.obs.metricsPart;
    if (metrics === undefined) throw disabled('Metrics (observability.metrics)');
    const text = await metrics.render();
    c.res.writeHead(200, { 'Content-Type': metrics.contentType, 'Content-Length': Buffer.byteLength(text) });
    c.res.end(text);
  }),
];

import type { RequestContext } from '../core/context.js';
import { addressGroup } from '../core/ip.js';

/**
 * What the observability parts (metrics, audit trail, anomaly detector, admin API) learn about the
 * gateway: one RequestRecord per finished request, and SecurityEvents for what a security team
 * wants on record. Built once per request in the gateway's finish path; never holds a credential,
 * a body or a raw query.
 */

export type SecurityEventType =
  | 'auth.failure'
  | 'authz.deny'
  | 'request.blocked'
  | 'rate.limited'
  | 'key.created'
  | 'key.revoked'
  | 'config.applied'
  | 'config.rejected'
  | 'admin.login'
  | 'admin.denied'
  | 'admin.action'
  | 'alert'
  | 'block.added';

export type Severity = 'info' | 'warning' | 'critical';

export interface SecurityEvent {
  readonly type: SecurityEventType;
  /** Epoch ms. */
  readonly at: number;
  readonly severity: Severity;
  readonly requestId?: string;
  readonly route?: string;
  /** Client address (the address group for IPv6: /64). */
  readonly ip?: string;
  /** Principal id, admin token name, or key id: who acted or was acted on. Never a secret. */
  readonly actor?: string;
  /** Error code (RATE_LIMITED, ATTACK_DETECTED…), rule (policy:own-orders), or action name. */
  readonly code?: string;
  /** Small structured details (reason, rule ids, counts). Never a credential or a payload. */
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** One finished request as metrics and the anomaly detector see it. */
export interface RequestRecord {
  /** Epoch ms at the finish. */
  readonly at: number;
  readonly requestId: string;
  /** Route id; "(none)" before routing (404, 400 on the path). Bounded: never a raw path. */
  readonly route: string;
  readonly method: string;
  /** Status sent (0 when the client went away first). */
  readonly status: number;
  /** Gateway error code of the answer, if the gateway answered with a problem. */
  readonly code: string | undefined;
  readonly totalMs: number;
  /** Time in the upstream call (0 when not called). */
  readonly upstreamMs: number;
  readonly upstreamCalled: boolean;
  /** Client address group (IPv4 as is, IPv6 /64). */
  readonly ip: string;
  /** Authenticated principal id (undefined when anonymous). */
  readonly principal: string | undefined;
  readonly consumer: string | undefined;
  /** API key id / credential id used, if any. */
  readonly credentialId: string | undefined;
  /** Authentication method that proved the principal, or that refused the credential. */
  readonly authMethod: string | undefined;
  /** Internal reason of an authentication refusal ("expired", "bad_signature"…). */
  readonly authFailure: string | undefined;
  /** The rule that denied authorization ("rbac:require.permissions", "policy:own-orders"). */
  readonly deniedBy: string | undefined;
  /** The route's object id (the `id` path parameter or the last one), for enumeration/BOLA signals. */
  readonly objectId: string | undefined;
}

const OBJECT_PARAM = /(^id$|Id$|_id$)/;

function objectIdOf(params: Record<string, string | undefined>): string | undefined {
  let last: string | undefined;
  for (const name in params) {
    const v = params[name];
    if (v === undefined) continue;
    if (OBJECT_PARAM.test(name)) return v.length > 128 ? v.slice(0, 128) : v;
    last = v;
  }
  return last !== undefined && last.length > 128 ? last.slice(0, 128) : last;
}

/** The record of a finished request (called once, from the gateway's finish path). */
export function recordOf(ctx: RequestContext, now: number): RequestRecord {
  const p = ctx.principal;
  const known = p !== undefined && p.kind !== 'anonymous';
  const res = ctx.res;
  return {
    at: now,
    requestId: ctx.id,
    route: ctx.route?.id ?? '(none)',
    method: ctx.method,
    status: res.headersSent ? res.statusCode : 0,
    code: ctx.error?.code,
    totalMs: performance.now() - ctx.startedAt,
    upstreamMs: ctx.upstreamMs,
    upstreamCalled: ctx.upstreamStartedAt !== 0,
    ip: addressGroup(ctx.clientIp),
    principal: known ? p.id : undefined,
    consumer: known ? p.consumer : undefined,
    credentialId: known ? p.credentialId : ctx.authFailure?.credentialId,
    authMethod: known ? p.method : ctx.authFailure?.method,
    authFailure: ctx.authFailure?.reason,
    deniedBy: ctx.deniedBy,
    objectId: objectIdOf(ctx.params),
  };
}

const BLOCK_CODES = new Set([
  'ATTACK_DETECTED',
  'VIRTUAL_PATCH',
  'REQUEST_INVALID',
  'JSON_UNSAFE_KEY',
  'BAD_PATH',
  'AMBIGUOUS_FRAMING',
  'IP_DENIED',
]);
const RATE_CODES = new Set([
  'RATE_LIMITED',
  'QUOTA_EXCEEDED',
  'CONCURRENCY_LIMITED',
  'LOGIN_THROTTLED',
  'AUTH_LOCKED',
  'OVERLOADED',
]);

/** The security events one finished request stands for (most requests: none). */
export function eventsOf(r: RequestRecord): SecurityEvent[] {
  const base = { at: r.at, requestId: r.requestId, route: r.route, ip: r.ip };
  if (r.authFailure !== undefined)
    return [
      {
        ...base,
        type: 'auth.failure',
        severity: 'warning',
        actor: r.credentialId,
        code: r.code,
        detail: { method: r.authMethod, reason: r.authFailure },
      },
    ];
  // A deny in monitor mode names its rule but lets the request through: not a deny on record.
  if (r.deniedBy !== undefined && r.code !== undefined)
    return [{ ...base, type: 'authz.deny', severity: 'warning', actor: r.principal, code: r.deniedBy }];
  if (r.code !== undefined && BLOCK_CODES.has(r.code))
    return [{ ...base, type: 'request.blocked', severity: 'warning', actor: r.principal, code: r.code }];
  if (r.code !== undefined && RATE_CODES.has(r.code))
    return [{ ...base, type: 'rate.limited', severity: 'info', actor: r.principal, code: r.code }];
  return [];
}

type Listener = (e: SecurityEvent) => void;

/** Synchronous fan-out of security events (the audit trail, the log, the anomaly detector…). */
export class EventBus {
  readonly #listeners: Listener[] = [];
  on(listener: Listener): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i !== -1) this.#listeners.splice(i, 1);
    };
  }
  emit(e: SecurityEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch {
        // A listener's failure never reaches the request path; each part logs its own errors.
      }
    }
  }
}

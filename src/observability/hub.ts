import type { Logger } from 'pino';
import type { RequestContext } from '../core/context.js';
import { EventBus, eventsOf, type RequestRecord, recordOf, type SecurityEvent } from './events.js';
import type { ObservabilityConfig } from './schema.js';

/** A part that sees every finished request (metrics, traffic series, anomaly detector). */
export interface RequestObserver {
  observe(r: RequestRecord): void;
}

/** A part with something to release when the gateway stops. */
export interface Closable {
  close(): void | Promise<void>;
}

/**
 * What the gateway exposes to the observability parts and the admin API, without them importing
 * the server: read-only views and the few actions the admin API may take.
 */
export interface GatewayView {
  readonly inFlight: () => number;
  readonly configVersion: () => number;
  readonly startedAt: number;
}

/**
 * The observability hub: created once per gateway process (it outlives config reloads), fed one
 * RequestRecord per finished request and the security events they stand for. The parts — metrics,
 * audit trail, anomaly detector, admin API — attach to it; each failure inside a part is its own
 * and never reaches a request.
 */
/** The metrics part, as the admin API reads it (src/observability/metrics.ts). */
export interface MetricsPart {
  render(): Promise<string>;
  readonly contentType: string;
  /** One point per second for the last `seconds` (dashboard charts). */
  traffic(seconds: number): TrafficPoint[];
  overview(): Overview;
}

export interface TrafficPoint {
  readonly t: number;
  readonly requests: number;
  readonly errors4xx: number;
  readonly errors5xx: number;
  readonly blocked: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface Overview {
  readonly totals: { requests: number; errors4xx: number; errors5xx: number; blocked: number };
  readonly blockedByReason: Record<string, number>;
  readonly topIps: { ip: string; count: number }[];
  readonly topKeys: { key: string; count: number }[];
}

export interface AuditQuery {
  readonly type?: string;
  readonly since?: number;
  readonly until?: number;
  readonly actor?: string;
  readonly ip?: string;
  readonly route?: string;
  readonly limit?: number;
}

/** The audit trail, as the admin API reads it (src/observability/audit-store.ts). */
export interface AuditPart {
  query(q: AuditQuery): unknown[];
  exportJsonl(q: AuditQuery, write: (line: string) => void): number;
  verify(): { ok: boolean; checked: number; brokenAt?: number };
}

export interface Alert {
  readonly id: string;
  readonly at: number;
  readonly rule: string;
  readonly severity: 'info' | 'warning' | 'critical';
  readonly subject: { kind: 'ip' | 'principal' | 'key' | 'route'; id: string };
  readonly summary: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

/** The anomaly detector, as the admin API and the request path read it (src/observability/anomaly.ts). */
export interface AnomalyPart {
  alerts(limit: number): Alert[];
  blocks(): {
    id: string;
    kind: 'ip' | 'principal' | 'key';
    subject: string;
    until: number;
    reason: string;
  }[];
  unblock(id: string): boolean;
  /** Blocks an address group, principal or key for `seconds` (what an alert does in enforce mode). */
  block(kind: 'ip' | 'principal' | 'key', subject: string, seconds: number, reason: string): { id: string };
  /** Milliseconds an address group, principal or credential (API key id) stays blocked (0: not blocked). */
  blockedFor(ip: string, principal: string | undefined, credential?: string): number;
}

export class Observability {
  readonly events = new EventBus();
  metricsPart: MetricsPart | undefined;
  auditPart: AuditPart | undefined;
  anomalyPart: AnomalyPart | undefined;
  readonly #observers: RequestObserver[] = [];
  readonly #closables: Closable[] = [];
  readonly logger: Logger;
  readonly config: ObservabilityConfig;
  readonly gateway: GatewayView;

  constructor(config: ObservabilityConfig, logger: Logger, gateway: GatewayView) {
    this.config = config;
    this.logger = logger;
    this.gateway = gateway;
  }

  /** Adds a part that sees every finished request. */
  observe(o: RequestObserver): void {
    this.#observers.push(o);
  }

  /** Adds a part to close with the gateway. */
  own(c: Closable): void {
    this.#closables.push(c);
  }

  /** Called once per finished request by the gateway (after the log hooks). */
  requestFinished(ctx: RequestContext): void {
    const r = recordOf(ctx, Date.now());
    for (let i = 0; i < this.#observers.length; i++) {
      try {
        (this.#observers[i] as RequestObserver).observe(r);
      } catch (err) {
        this.logger.error({ err }, 'observability: a part failed on a request');
      }
    }
    const events = eventsOf(r);
    for (let i = 0; i < events.length; i++) this.events.emit(events[i] as SecurityEvent);
  }

  /** Records an event that is not a request's (key created, config applied, admin action…). */
  emit(e: SecurityEvent): void {
    this.events.emit(e);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#closables.map((c) => c.close()));
  }
}

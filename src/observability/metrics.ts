import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { LoadedConfig } from '../config/load.js';
import type { RequestRecord } from './events.js';
import type { MetricsPart, Observability, Overview, TrafficPoint } from './hub.js';
import type { ObservabilityConfig } from './schema.js';

/**
 * Prometheus metrics and the live traffic series of the dashboard. The hot path (one call per
 * finished request) touches only preallocated cells: the series of a (route, method, status
 * class) are looked up once and cached, histograms are arrays of counts, and the text is built
 * only when /metrics is scraped (through a prom-client Registry of our own, never the global one).
 * Every label value is bounded: route ids come from the config (capped), methods from a fixed set,
 * statuses as classes, rules and reasons capped at a number of distinct values then "other".
 */

type MetricsConfig = ObservabilityConfig['metrics'];

// ---------------------------------------------------------------------------------------------
// Bounded label values

export const OTHER = 'other';

/** Keeps at most `cap` distinct values; any further value is reported as "other". */
export class BoundedLabel {
  readonly #seen = new Set<string>();
  readonly #cap: number;
  constructor(cap: number) {
    this.#cap = cap;
  }
  of(value: string): string {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.#cap) return OTHER;
    this.#seen.add(value);
    return value;
  }
  get size(): number {
    return this.#seen.size;
  }
}

export const METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'TRACE',
  'CONNECT',
  'OTHER',
];

/** Index of a method in METHODS; anything outside the fixed set is OTHER. */
export function methodIndex(m: string): number {
  switch (m) {
    case 'GET':
      return 0;
    case 'HEAD':
      return 1;
    case 'POST':
      return 2;
    case 'PUT':
      return 3;
    case 'PATCH':
      return 4;
    case 'DELETE':
      return 5;
    case 'OPTIONS':
      return 6;
    case 'TRACE':
      return 7;
    case 'CONNECT':
      return 8;
    default:
      return 9;
  }
}

export const STATUS_CLASSES = ['0', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** 1..5 for 1xx..5xx; 0 for no status (client gone) or anything out of range. */
export function statusClassIndex(status: number): number {
  return status >= 100 && status < 600 ? (status / 100) | 0 : 0;
}

/** Validation and detection refusals (blocks). */
export const BLOCK_CODES: ReadonlySet<string> = new Set([
  'ATTACK_DETECTED',
  'VIRTUAL_PATCH',
  'REQUEST_INVALID',
  'JSON_INVALID',
  'JSON_UNSAFE_KEY',
  'JSON_TOO_COMPLEX',
  'UNSUPPORTED_MEDIA_TYPE',
  'BAD_PATH',
  'AMBIGUOUS_FRAMING',
  'IP_DENIED',
  'CLIENT_BLOCKED',
  'CORS_REJECTED',
  'HTTPS_REQUIRED',
  'CLIENT_CERT_REQUIRED',
  'CLIENT_CERT_INVALID',
]);
/** Rate-limit decisions that refused a request. */
export const RATE_CODES: ReadonlySet<string> = new Set([
  'RATE_LIMITED',
  'QUOTA_EXCEEDED',
  'CONCURRENCY_LIMITED',
  'LOGIN_THROTTLED',
  'AUTH_LOCKED',
  'OVERLOADED',
]);
/** Authentication and authorization refusals. */
export const AUTH_CODES: ReadonlySet<string> = new Set(['UNAUTHENTICATED', 'FORBIDDEN']);

/** The refusal code a request counts as "blocked" under, or undefined. */
export function blockedReason(r: RequestRecord): string | undefined {
  const code = r.code;
  if (code !== undefined && (BLOCK_CODES.has(code) || RATE_CODES.has(code) || AUTH_CODES.has(code)))
    return code;
  if (r.authFailure !== undefined) return code ?? 'UNAUTHENTICATED';
  if (r.deniedBy !== undefined) return code ?? 'FORBIDDEN';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Metric families kept as plain numbers, rendered by prom-client's text format at scrape time

type Labels = Record<string, string>;
interface Value {
  labels: Labels;
  value: number;
  metricName?: string;
}

class CounterCell {
  value = 0;
  constructor(readonly labels: Labels) {}
}

class HistogramCell {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(value: number): void {
    // A clock oddity must not poison the sum for good.
    const seconds = value < 0 || Number.isNaN(value) ? 0 : value;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > (b[i] as number)) i++;
    (this.counts as Float64Array)[i]++;
    this.sum += seconds;
    this.count++;
  }
}

/** The object prom-client's Registry renders (name, help, type, get()). */
abstract class Family {
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  abstract values(): Value[];
  get(): { name: string; help: string; type: string; values: Value[]; aggregator: string } {
    return { name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: 'sum' };
  }
}

class CounterFamily extends Family {
  readonly type = 'counter';
  readonly #cells = new Map<string, CounterCell>();
  /** The cell of a label set (created once; callers keep it for the hot path). */
  cell(labels: Labels, key: string): CounterCell {
    let c = this.#cells.get(key);
    if (c === undefined) {
      c = new CounterCell(labels);
      this.#cells.set(key, c);
    }
    return c;
  }
  values(): Value[] {
    const out: Value[] = [];
    for (const c of this.#cells.values()) out.push({ labels: c.labels, value: c.value });
    return out;
  }
}

class HistogramFamily extends Family {
  readonly type = 'histogram';
  readonly #cells = new Map<string, HistogramCell>();
  constructor(
    name: string,
    help: string,
    readonly bounds: readonly number[],
  ) {
    super(name, help);
  }
  cell(labels: Labels, key: string): HistogramCell {
    let c = this.#cells.get(key);
    if (c === undefined) {
      c = new HistogramCell(labels, this.bounds);
      this.#cells.set(key, c);
    }
    return c;
  }
  values(): Value[] {
    const out: Value[] = [];
    const bucket = `${this.name}_bucket`;
    for (const c of this.#cells.values()) {
      if (c.count === 0) continue;
      let acc = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        acc += c.counts[i] as number;
        const le = i < this.bounds.length ? String(this.bounds[i]) : '+Inf';
        out.push({ labels: { ...c.labels, le }, value: acc, metricName: bucket });
      }
      out.push({ labels: c.labels, value: c.sum, metricName: `${this.name}_sum` });
      out.push({ labels: c.labels, value: c.count, metricName: `${this.name}_count` });
    }
    return out;
  }
}

class GaugeFamily extends Family {
  readonly type = 'gauge';
  constructor(
    name: string,
    help: string,
    readonly read: () => Value[],
  ) {
    super(name, help);
  }
  values(): Value[] {
    return this.read();
  }
}

// ---------------------------------------------------------------------------------------------
// Rate-limit store health: the rate-limit stage registers its backend's counters here

export interface StoreHealthStats {
  /** 1 while the store is failing, else 0. */
  readonly degraded: number;
  /** Decisions taken without the shared store (by the fallback policy). */
  readonly fallbacks: number;
  /** Store calls that failed or timed out. */
  readonly failures: number;
}

interface StoreEntry {
  readonly store: string;
  /** Weak: a retired plan's backend is collected without anyone unregistering it. */
  readonly stats: WeakRef<StoreHealthStats>;
  /** The counts at the last read, folded into the totals once the backend is gone. */
  fallbacks: number;
  failures: number;
}
const liveStores = new Set<StoreEntry>();
/** Counts of backends gone (replaced plans), so the counters never go down. */
const retiredCounts = new Map<string, { fallbacks: number; failures: number }>();

function retire(entry: StoreEntry): void {
  if (!liveStores.delete(entry)) return;
  const r = retiredCounts.get(entry.store) ?? { fallbacks: 0, failures: 0 };
  r.fallbacks += entry.fallbacks;
  r.failures += entry.failures;
  retiredCounts.set(entry.store, r);
}

/**
 * Makes a rate-limit store's health visible in the metrics (e.g. a ResilientBackend's `stats`,
 * read at scrape time). The stats object is held weakly: once its backend is collected (a
 * replaced plan), it drops out and its last counts stay in the totals. The returned function
 * unregisters it at once (optional).
 */
export function registerStoreHealth(store: string, stats: StoreHealthStats): () => void {
  const entry: StoreEntry = { store, stats: new WeakRef(stats), fallbacks: 0, failures: 0 };
  liveStores.add(entry);
  return () => {
    entry.fallbacks = stats.fallbacks;
    entry.failures = stats.failures;
    retire(entry);
  };
}

function storeValues(field: 'degraded' | 'fallbacks' | 'failures'): Value[] {
  const by = new Map<string, number>();
  for (const e of [...liveStores]) {
    const stats = e.stats.deref();
    if (stats === undefined) {
      retire(e);
      continue;
    }
    e.fallbacks = stats.fallbacks;
    e.failures = stats.failures;
    const v = stats[field];
    const prev = by.get(e.store) ?? 0;
    by.set(e.store, field === 'degraded' ? Math.max(prev, v) : prev + v);
  }
  if (field !== 'degraded')
    for (const [store, r] of retiredCounts) by.set(store, (by.get(store) ?? 0) + r[field]);
  return [...by].map(([store, value]) => ({ labels: { store }, value }));
}

// ---------------------------------------------------------------------------------------------
// Certificate expiry

/** Seconds until the leaf certificate of each TLS listener expires (read from its cert file). */
export function certificateExpiry(
  listeners: readonly { name: string; tls?: { cert: string } | undefined }[],
  now: number,
): Value[] {
  const out: Value[] = [];
  for (const l of listeners) {
    if (l.tls === undefined) continue;
    try {
      const cert = new X509Certificate(readFileSync(l.tls.cert));
      out.push({ labels: { listener: l.name }, value: Math.round((Date.parse(cert.validTo) - now) / 1000) });
    } catch {
      // An unreadable file: no sample (the listener itself reports the problem).
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The traffic ring: one bucket per second for the last hour

/** Upper bounds (ms) of the small latency histogram kept per second for p50/p99. */
export const RING_BOUNDS_MS = [
  0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000,
  10000,
];
const NB = RING_BOUNDS_MS.length + 1;
const RING = 3600;
const F_REQ = 0;
const F_4XX = 1;
const F_5XX = 2;
const F_BLOCKED = 3;
const FIELDS = 4;

export class TrafficRing {
  readonly #stamp = new Float64Array(RING).fill(-1);
  readonly #counts = new Uint32Array(RING * FIELDS);
  readonly #lat = new Uint32Array(RING * NB);

  #slot(sec: number): number {
    const i = sec % RING;
    if (this.#stamp[i] !== sec) {
      this.#stamp[i] = sec;
      this.#counts.fill(0, i * FIELDS, i * FIELDS + FIELDS);
      this.#lat.fill(0, i * NB, i * NB + NB);
    }
    return i;
  }

  add(atMs: number, status: number, blocked: boolean, totalMs: number): void {
    const i = this.#slot(Math.floor(atMs / 1000));
    const c = this.#counts;
    const o = i * FIELDS;
    c[o + F_REQ]++;
    if (status >= 500) c[o + F_5XX]++;
    else if (status >= 400) c[o + F_4XX]++;
    if (blocked) c[o + F_BLOCKED]++;
    let b = 0;
    while (b < NB - 1 && totalMs > (RING_BOUNDS_MS[b] as number)) b++;
    this.#lat[i * NB + b]++;
  }

  /** One point per second, oldest first, ending at the second of `nowMs` (empty seconds: zeros). */
  points(seconds: number, nowMs: number): TrafficPoint[] {
    const n = Math.max(1, Math.min(RING, Math.floor(seconds) || 0));
    const end = Math.floor(nowMs / 1000);
    const out: TrafficPoint[] = [];
    for (let sec = end - n + 1; sec <= end; sec++) {
      const i = ((sec % RING) + RING) % RING;
      if (this.#stamp[i] !== sec) {
        out.push({ t: sec * 1000, requests: 0, errors4xx: 0, errors5xx: 0, blocked: 0, p50Ms: 0, p99Ms: 0 });
        continue;
      }
      const o = i * FIELDS;
      const c = this.#counts;
      const requests = c[o + F_REQ] as number;
      out.push({
        t: sec * 1000,
        requests,
        errors4xx: c[o + F_4XX] as number,
        errors5xx: c[o + F_5XX] as number,
        blocked: c[o + F_BLOCKED] as number,
        p50Ms: this.#quantile(i, requests, 0.5),
        p99Ms: this.#quantile(i, requests, 0.99),
      });
    }
    return out;
  }

  /** The upper bound of the bucket holding the q-quantile (the last finite bound for overflow). */
  #quantile(i: number, total: number, q: number): number {
    if (total === 0) return 0;
    const rank = Math.ceil(q * total);
    let acc = 0;
    for (let b = 0; b < NB; b++) {
      acc += this.#lat[i * NB + b] as number;
      if (acc >= rank) return RING_BOUNDS_MS[Math.min(b, NB - 2)] as number;
    }
    return RING_BOUNDS_MS[NB - 2] as number;
  }
}

// ---------------------------------------------------------------------------------------------
// Top offenders: space-saving top-k (bounded memory whatever the number of distinct values)

export class TopK {
  readonly #counts = new Map<string, number>();
  readonly #k: number;
  constructor(k: number) {
    this.#k = k;
  }
  add(item: string): void {
    const m = this.#counts;
    const c = m.get(item);
    if (c !== undefined) {
      m.set(item, c + 1);
      return;
    }
    if (m.size < this.#k) {
      m.set(item, 1);
      return;
    }
    // Space-saving: the new item takes the place of the least counted one and inherits its count.
    let minKey = '';
    let min = Number.POSITIVE_INFINITY;
    for (const [key, n] of m) {
      if (n < min) {
        min = n;
        minKey = key;
      }
    }
    m.delete(minKey);
    m.set(item, min + 1);
  }
  top(n: number): { item: string; count: number }[] {
    return [...this.#counts]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([item, count]) => ({ item, count }));
  }
}

// ---------------------------------------------------------------------------------------------
// The part

const MAX_ROUTES = 500;
const MAX_RULES = 100;
const CELLS_PER_ROUTE = METHODS.length * STATUS_CLASSES.length;

interface RequestCells {
  readonly requests: CounterCell;
  readonly total: HistogramCell;
  readonly gateway: HistogramCell;
  readonly upstream: HistogramCell;
}

export interface MetricsHandle extends MetricsPart {
  readonly registry: Registry;
  /** Feeds one finished request (what the hub calls). */
  observe(r: RequestRecord): void;
  /** Counts one attempt to apply a new config (file, SIGHUP, admin API) and its outcome. */
  configReloaded(ok: boolean, at: number): void;
}

/** Builds the metrics part (without attaching it): used by attachMetrics and the unit tests. */
export function createMetrics(
  config: MetricsConfig,
  views: {
    configVersion?: () => number;
    inFlight?: () => number;
    listeners?: readonly { name: string; tls?: { cert: string } | undefined }[];
    processMetrics?: boolean;
  } = {},
): MetricsHandle {
  const registry = new Registry();
  const buckets = [...config.latencyBuckets].sort((a, b) => a - b);
  const p = 'portcullis_';

  const requests = new CounterFamily(
    `${p}requests_total`,
    'Requests finished, by route id ("(none)" before routing), method and status class.',
  );
  const total = new HistogramFamily(
    `${p}request_duration_seconds`,
    'Time from the request arriving to the response finishing.',
    buckets,
  );
  const gatewayAdded = new HistogramFamily(
    `${p}gateway_duration_seconds`,
    'Time spent in the gateway itself: total minus the upstream call.',
    buckets,
  );
  const upstream = new HistogramFamily(
    `${p}upstream_duration_seconds`,
    'Time spent in the upstream call (requests that reached the upstream).',
    buckets,
  );
  const authFailures = new CounterFamily(
    `${p}auth_failures_total`,
    'Refused credentials, by authentication method and reason.',
  );
  const denies = new CounterFamily(
    `${p}authz_denies_total`,
    'Authorization denies, by the rule that denied.',
  );
  const blocks = new CounterFamily(
    `${p}blocks_total`,
    'Requests refused by validation, detection and guards, by error code.',
  );
  const limited = new CounterFamily(
    `${p}rate_limited_total`,
    'Requests refused by rate limiting, quotas, concurrency, login throttling, lockout and load shedding, by route and code.',
  );
  const families: Family[] = [requests, total, gatewayAdded, upstream, authFailures, denies, blocks, limited];
  families.push(
    new GaugeFamily(`${p}config_version`, 'Version of the running config (1 at start, +1 per reload).', () =>
      views.configVersion ? [{ labels: {}, value: views.configVersion() }] : [],
    ),
    new GaugeFamily(`${p}in_flight_requests`, 'Requests in flight.', () =>
      views.inFlight ? [{ labels: {}, value: views.inFlight() }] : [],
    ),
    new GaugeFamily(
      `${p}certificate_expiry_seconds`,
      "Seconds until the listener's TLS certificate expires (negative: expired).",
      () => certificateExpiry(views.listeners ?? [], Date.now()),
    ),
    new GaugeFamily(`${p}ratelimit_store_degraded`, '1 while a rate-limit store is failing.', () =>
      storeValues('degraded'),
    ),
  );
  // Counters computed at scrape time: same render path, typed as counters.
  for (const [name, help, field] of [
    ['ratelimit_store_fallbacks_total', 'Rate-limit decisions taken by the fallback policy.', 'fallbacks'],
    ['ratelimit_store_failures_total', 'Rate-limit store calls that failed or timed out.', 'failures'],
  ] as const) {
    const g = new GaugeFamily(`${p}${name}`, help, () => storeValues(field));
    (g as { type: string }).type = 'counter';
    families.push(g);
  }
  // Config reloads (fed by config.applied / config.rejected events): an alert can watch for failures.
  const reloads = new CounterFamily(
    `${p}config_reload_total`,
    'Attempts to apply a new config (file change, SIGHUP, admin API), by result.',
  );
  const reloadOk = reloads.cell({ result: 'success' }, 'success');
  const reloadFailed = reloads.cell({ result: 'failure' }, 'failure');
  const lastReload = { ok: 1, at: Date.now() / 1000 };
  families.push(
    reloads,
    new GaugeFamily(
      `${p}config_last_reload_success`,
      '1 if the last attempt to apply a config succeeded (or none was made since start), 0 if it failed and the previous config still runs.',
      () => [{ labels: {}, value: lastReload.ok }],
    ),
    new GaugeFamily(
      `${p}config_last_reload_timestamp_seconds`,
      'When the last attempt to apply a config was made, successful or not (the start time until then).',
      () => [{ labels: {}, value: lastReload.at }],
    ),
  );
  for (const f of families) registry.registerMetric(f as never);
  if (views.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: p });

  const routes = new BoundedLabel(MAX_ROUTES);
  const byRoute = new Map<string, (RequestCells | undefined)[]>();
  const authLabels = new BoundedLabel(MAX_RULES);
  const ruleLabels = new BoundedLabel(MAX_RULES);
  const authCells = new Map<string, CounterCell>();
  const denyCells = new Map<string, CounterCell>();
  const blockCells = new Map<string, CounterCell>();
  const limitCells = new Map<string, CounterCell>();

  function cellsOf(route: string, m: number, s: number): RequestCells {
    let row = byRoute.get(route);
    if (row === undefined) {
      row = new Array<RequestCells | undefined>(CELLS_PER_ROUTE).fill(undefined);
      byRoute.set(route, row);
    }
    const idx = m * STATUS_CLASSES.length + s;
    let cells = row[idx];
    if (cells === undefined) {
      const label = routes.of(route);
      const labels = {
        route: label,
        method: METHODS[m] as string,
        status_class: STATUS_CLASSES[s] as string,
      };
      const key = `${label}\n${m}\n${s}`;
      cells = {
        requests: requests.cell(labels, key),
        total: total.cell(labels, key),
        gateway: gatewayAdded.cell(labels, key),
        upstream: upstream.cell(labels, key),
      };
      row[idx] = cells;
    }
    return cells;
  }

  function count(
    family: CounterFamily,
    cache: Map<string, CounterCell>,
    key: string,
    labels: () => Labels,
  ): void {
    let c = cache.get(key);
    if (c === undefined) {
      const l = labels();
      c = family.cell(l, Object.values(l).join('\n'));
      // Past the bound, new raw keys would map to "other": cache them too, but only up to a limit.
      if (cache.size < 4 * MAX_RULES) cache.set(key, c);
    }
    c.value++;
  }

  const ring = new TrafficRing();
  const totals = { requests: 0, errors4xx: 0, errors5xx: 0, blocked: 0 };
  const blockedBy = new Map<string, number>();
  const topIps = new TopK(50);
  const topKeys = new TopK(50);

  function observe(r: RequestRecord): void {
    const s = statusClassIndex(r.status);
    const cells = cellsOf(r.route, methodIndex(r.method), s);
    cells.requests.value++;
    const totalS = r.totalMs / 1000;
    cells.total.observe(totalS);
    if (r.upstreamCalled) {
      const up = r.upstreamMs / 1000;
      cells.upstream.observe(up);
      cells.gateway.observe(totalS > up ? totalS - up : 0);
    } else cells.gateway.observe(totalS);

    totals.requests++;
    if (s === 4) totals.errors4xx++;
    else if (s === 5) totals.errors5xx++;
    const reason = blockedReason(r);
    ring.add(r.at, r.status, reason !== undefined, r.totalMs);
    if (reason === undefined) return;
    // Refusals only from here: the rest of the work is off the common path.
    totals.blocked++;
    blockedBy.set(reason, (blockedBy.get(reason) ?? 0) + 1);
    topIps.add(r.ip);
    if (r.credentialId !== undefined) topKeys.add(r.credentialId);
    const code = r.code;
    if (r.authFailure !== undefined) {
      const method = r.authMethod ?? 'unknown';
      const why = r.authFailure;
      count(authFailures, authCells, `${method}\n${why}`, () => {
        const bounded = authLabels.of(`${method}\n${why}`);
        return bounded === OTHER ? { method: OTHER, reason: OTHER } : { method, reason: why };
      });
    } else if (r.deniedBy !== undefined) {
      const rule = r.deniedBy;
      count(denies, denyCells, rule, () => ({ rule: ruleLabels.of(rule) }));
    } else if (code !== undefined && RATE_CODES.has(code)) {
      const route = r.route;
      count(limited, limitCells, `${route}\n${code}`, () => ({ route: routes.of(route), code }));
    } else if (code !== undefined && BLOCK_CODES.has(code)) {
      count(blocks, blockCells, code, () => ({ code }));
    }
  }

  return {
    registry,
    contentType: registry.contentType,
    observe,
    configReloaded(ok: boolean, at: number): void {
      (ok ? reloadOk : reloadFailed).value++;
      lastReload.ok = ok ? 1 : 0;
      lastReload.at = at / 1000;
    },
    render: () => registry.metrics(),
    traffic: (seconds: number) => ring.points(seconds, Date.now()),
    overview(): Overview {
      return {
        totals: { ...totals },
        blockedByReason: Object.fromEntries(blockedBy),
        topIps: topIps.top(50).map((e) => ({ ip: e.item, count: e.count })),
        topKeys: topKeys.top(50).map((e) => ({ key: e.item, count: e.count })),
      };
    },
  };
}

/**
 * Attaches the metrics part to the hub: observes every finished request and registers itself as
 * obs.metricsPart (rendered by the admin listener at /metrics, read by the dashboard).
 */
export function attachMetrics(obs: Observability, config: MetricsConfig, loaded?: LoadedConfig): void {
  const m = createMetrics(config, {
    configVersion: obs.gateway.configVersion,
    inFlight: obs.gateway.inFlight,
    listeners: loaded?.config.listeners ?? [],
  });
  obs.observe(m);
  obs.events.on((e) => {
    if (e.type === 'config.applied') m.configReloaded(true, e.at);
    else if (e.type === 'config.rejected') m.configReloaded(false, e.at);
  });
  obs.metricsPart = m;
}

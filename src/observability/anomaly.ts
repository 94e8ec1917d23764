import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { RequestRecord } from './events.js';
import type { Alert, AnomalyPart, Observability } from './hub.js';
import type { ObservabilityConfig } from './schema.js';
import { type WebhookOptions, WebhookSender } from './webhooks.js';

/**
 * Anomaly detection on live traffic. Every finished request updates time-bucketed counters (one
 * bucket per `bucketSeconds`, a window of a few buckets per rule) kept per address group, route,
 * principal (or address when anonymous) and failing credential, each with a slow exponential
 * baseline for the spike rules. Memory is bounded: each kind of subject keeps at most
 * `maxSubjects`, the least recently seen forgotten first, and each distinct-value tracker stops at
 * its threshold. Alerts are de-duplicated per (rule, subject) for `cooldownSeconds`, logged
 * ("log":"alert"), published as SecurityEvents of type "alert", sent to the webhooks, and may block
 * the offender (autoBlock).
 */

export type AnomalyConfig = ObservabilityConfig['anomaly'];
type Severity = Alert['severity'];
type SubjectKind = Alert['subject']['kind'];

/** The detector's time source; tests replace `now` to move time (windows, cooldowns, block expiry). */
export const clock = { now: (): number => Date.now() };

const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/** Counts per bucket over a window of `n` buckets, with a running total and a slow baseline. */
export class Ring {
  readonly #counts: Float64Array;
  #last = Number.NaN;
  #total = 0;
  /** Exponential average of the count per bucket (updated as buckets close). */
  baseline = 0;
  /** End of the cooldown of the alert this counter last raised (epoch ms). */
  quiet = 0;
  /** Bucket number of the first count: the baseline means something once it has aged. */
  born = Number.NaN;
  readonly #alpha: number;

  constructor(n: number, alpha: number) {
    this.#counts = new Float64Array(n);
    this.#alpha = alpha;
  }

  #advance(b: number): void {
    const n = this.#counts.length;
    if (Number.isNaN(this.#last)) {
      this.#last = b;
      this.born = b;
      return;
    }
    if (b <= this.#last) return;
    const gap = b - this.#last;
    const a = this.#alpha;
    this.baseline += a * ((this.#counts[this.#last % n] as number) - this.baseline);
    if (gap > 1) this.baseline *= (1 - a) ** Math.min(gap - 1, 100_000);
    const clear = Math.min(gap, n);
    for (let i = 1; i <= clear; i++) {
      const k = (this.#last + i) % n;
      this.#total -= this.#counts[k] as number;
      this.#counts[k] = 0;
    }
    if (clear === n) this.#total = 0;
    this.#last = b;
  }

  /** Adds `k` in bucket `b` and returns the window's total. */
  add(b: number, k = 1): number {
    this.#advance(b);
    const i = this.#last % this.#counts.length;
    this.#counts[i] = (this.#counts[i] as number) + k;
    this.#total += k;
    return this.#total;
  }

  /** The window's total as of bucket `b`. */
  total(b: number): number {
    this.#advance(b);
    return this.#total;
  }

  /** The usual count over a whole window (0 until the baseline has seen `warm` buckets). */
  expected(b: number, warm: number): number {
    return b - this.born < warm ? 0 : this.baseline * this.#counts.length;
  }
}

/**
 * Distinct values seen in the last `n` buckets, at most `cap` of them (enough to tell a threshold
 * is reached). A Map kept in last-seen order, so expired values leave from the front.
 */
export class Distinct {
  readonly #seen = new Map<string, number>();
  /** End of the cooldown of the alert this counter last raised (epoch ms). */
  quiet = 0;
  readonly #n: number;
  readonly #cap: number;
  #pruned = Number.NaN;

  constructor(n: number, cap: number) {
    this.#n = n;
    this.#cap = cap;
  }

  /** Records `v` in bucket `b`; returns how many distinct values the window holds. */
  add(v: string, b: number): number {
    const seen = this.#seen;
    const had = seen.get(v);
    if (had !== b) {
      // Moved to the back: the Map stays ordered by bucket, oldest first.
      if (had !== undefined) seen.delete(v);
      seen.set(v, b);
    }
    if (b !== this.#pruned || seen.size > this.#cap) this.#prune(b);
    return seen.size;
  }

  #prune(b: number): void {
    this.#pruned = b;
    const seen = this.#seen;
    const oldest = b - this.#n;
    for (const [k, at] of seen) {
      if (at > oldest && seen.size <= this.#cap) break;
      seen.delete(k);
    }
  }

  values(): string[] {
    return [...this.#seen.keys()];
  }
}

/** A Map capped at `cap` entries that forgets the least recently touched first. */
class Subjects<T> {
  readonly #map = new Map<string, { state: T; touched: number }>();
  readonly #cap: number;
  readonly #make: () => T;

  constructor(cap: number, make: () => T) {
    this.#cap = cap;
    this.#make = make;
  }

  get size(): number {
    return this.#map.size;
  }

  touch(id: string, b: number): T {
    const map = this.#map;
    const hit = map.get(id);
    if (hit !== undefined) {
      // Re-ordered at most once per bucket: cheap, and close enough to least-recently-used.
      if (hit.touched !== b) {
        map.delete(id);
        hit.touched = b;
        map.set(id, hit);
      }
      return hit.state;
    }
    const entry = { state: this.#make(), touched: b };
    map.set(id, entry);
    if (map.size > this.#cap) {
      const first = map.keys().next().value as string;
      map.delete(first);
    }
    return entry.state;
  }
}

/** A counter that can raise an alert, and remembers its cooldown. */
interface Mark {
  quiet: number;
}

const CLASSES = ['401', '403', '429', '5xx'] as const;
type ErrorClass = (typeof CLASSES)[number];

function classOf(status: number): ErrorClass | undefined {
  if (status === 401) return '401';
  if (status === 403) return '403';
  if (status === 429) return '429';
  if (status >= 500) return '5xx';
  return undefined;
}

/** Gateway codes that stand for a refused or throttled login attempt even without authFailure. */
const LOGIN_REFUSALS = new Set(['LOGIN_THROTTLED', 'AUTH_LOCKED']);

/** A failed login: an authenticator refused a credential, a login throttle answered, or the upstream said 401. */
function failedLogin(r: RequestRecord): boolean {
  if (r.authFailure !== undefined) return true;
  if (r.code !== undefined) return LOGIN_REFUSALS.has(r.code);
  return r.status === 401 && r.upstreamCalled;
}

interface SpikeState {
  readonly rings: Partial<Record<ErrorClass, Ring>>;
}

interface IpState extends SpikeState {
  fails: Ring | undefined;
  creds: Distinct | undefined;
}

interface ActorState {
  volume: Ring | undefined;
  objects: Distinct | undefined;
  probes: Ring | undefined;
}

interface CredentialState {
  ips: Distinct | undefined;
}

export interface BlockEntry {
  readonly id: string;
  readonly kind: 'ip' | 'principal' | 'key';
  readonly subject: string;
  readonly until: number;
  readonly reason: string;
}

export interface AnomalyOptions {
  readonly webhook?: WebhookOptions;
}

/** The detector; attachAnomaly() wires one to a hub. Exported for unit tests. */
export class AnomalyDetector implements AnomalyPart {
  readonly #c: AnomalyConfig;
  readonly #logger: Logger;
  readonly #publish: (a: Alert) => void;
  readonly #webhooks: WebhookSender | undefined;
  readonly #bucketMs: number;
  readonly #alpha: number;
  /** Buckets a baseline needs before spikes are judged against it (a third of its memory). */
  readonly #warm: number;
  readonly #n: { spike: number; stuffing: number; enumeration: number; scraping: number };
  readonly #ips: Subjects<IpState>;
  readonly #routes: Subjects<SpikeState>;
  readonly #principals: Subjects<ActorState>;
  readonly #anonymous: Subjects<ActorState>;
  readonly #credentials: Subjects<CredentialState>;
  readonly #recent: Alert[] = [];
  readonly #blocks = new Map<string, BlockEntry>();

  constructor(
    config: AnomalyConfig,
    logger: Logger,
    publish: (a: Alert) => void,
    options: AnomalyOptions = {},
  ) {
    this.#c = config;
    this.#logger = logger;
    this.#publish = publish;
    this.#bucketMs = config.bucketSeconds * 1000;
    const baselineBuckets = Math.max(1, (config.baselineMinutes * 60) / config.bucketSeconds);
    this.#alpha = Math.min(1, 1 / baselineBuckets);
    this.#warm = Math.ceil(baselineBuckets / 3);
    const buckets = (s: number) => Math.max(1, Math.ceil(s / config.bucketSeconds));
    const r = config.rules;
    this.#n = {
      spike: buckets(r['error-spike'].windowSeconds),
      stuffing: buckets(r['credential-stuffing'].windowSeconds),
      enumeration: buckets(r.enumeration.windowSeconds),
      scraping: buckets(r.scraping.windowSeconds),
    };
    const cap = config.maxSubjects;
    this.#ips = new Subjects(cap, () => ({ rings: {}, fails: undefined, creds: undefined }));
    this.#routes = new Subjects(cap, () => ({ rings: {} }));
    const actor = (): ActorState => ({ volume: undefined, objects: undefined, probes: undefined });
    this.#principals = new Subjects(cap, actor);
    this.#anonymous = new Subjects(cap, actor);
    this.#credentials = new Subjects(cap, () => ({ ips: undefined }));
    this.#webhooks =
      config.webhooks.length > 0 ? new WebhookSender(config.webhooks, logger, options.webhook) : undefined;
  }

  /** One finished request. */
  observe(r: RequestRecord): void {
    if (r.code === 'CLIENT_BLOCKED') return;
    const now = clock.now();
    this.#now = now;
    const b = Math.floor(now / this.#bucketMs);
    const rules = this.#c.rules;
    const cls = classOf(r.status);

    if (cls !== undefined && rules['error-spike'].enabled) {
      this.#spike(this.#routes.touch(r.route, b), cls, b, 'route', r.route);
      this.#spike(this.#ips.touch(r.ip, b), cls, b, 'ip', r.ip);
    }

    if (rules['credential-stuffing'].enabled && failedLogin(r)) this.#stuffing(r, b);

    const enumOn = rules.enumeration.enabled && r.objectId !== undefined;
    const scrapeOn = rules.scraping.enabled && r.principal !== undefined;
    if (enumOn || scrapeOn) {
      const kind: SubjectKind = r.principal !== undefined ? 'principal' : 'ip';
      const id = r.principal ?? r.ip;
      const actor = (kind === 'principal' ? this.#principals : this.#anonymous).touch(id, b);
      if (enumOn) this.#enumeration(actor, r, b, kind, id);
      if (scrapeOn) this.#scraping(actor, b, id);
    }
  }

  /** Time of the request being observed. */
  #now = 0;

  /** True while `mark` is in its cooldown (an alert on it was raised less than cooldownSeconds ago). */
  #quiet(mark: Mark): boolean {
    return mark.quiet > this.#now;
  }

  #spike(state: SpikeState, cls: ErrorClass, b: number, kind: SubjectKind, id: string): void {
    const rule = this.#c.rules['error-spike'];
    let ring = state.rings[cls];
    if (ring === undefined) {
      ring = new Ring(this.#n.spike, this.#alpha);
      state.rings[cls] = ring;
    }
    const count = ring.add(b);
    if (count < rule.minCount || this.#quiet(ring)) return;
    const expected = ring.expected(b, this.#warm);
    if (count < rule.factor * expected) return;
    this.#raise(
      ring,
      'error-spike',
      rule.severity,
      { kind, id },
      `${count} ${cls} answers in ${rule.windowSeconds} s for ${kind} ${id} (usual: ${expected.toFixed(1)})`,
      { class: cls, count, expected: round(expected), windowSeconds: rule.windowSeconds },
    );
  }

  #stuffing(r: RequestRecord, b: number): void {
    const rule = this.#c.rules['credential-stuffing'];
    const ip = this.#ips.touch(r.ip, b);
    ip.fails ??= new Ring(this.#n.stuffing, this.#alpha);
    const failures = ip.fails.add(b);
    let distinct = 0;
    if (r.credentialId !== undefined) {
      ip.creds ??= new Distinct(this.#n.stuffing, rule.distinctCredentials);
      distinct = ip.creds.add(r.credentialId, b);
      const cred = this.#credentials.touch(r.credentialId, b);
      cred.ips ??= new Distinct(this.#n.stuffing, rule.distinctIps);
      const ips = cred.ips.add(r.ip, b);
      if (ips >= rule.distinctIps && !this.#quiet(cred.ips))
        this.#raise(
          cred.ips,
          'credential-stuffing',
          rule.severity,
          { kind: 'key', id: r.credentialId },
          `credential ${r.credentialId} failed from ${ips} addresses in ${rule.windowSeconds} s`,
          { distinctIps: ips, windowSeconds: rule.windowSeconds, route: r.route, method: r.authMethod },
        );
    }
    if ((distinct >= rule.distinctCredentials || failures >= rule.failures) && !this.#quiet(ip.fails))
      this.#raise(
        ip.fails,
        'credential-stuffing',
        rule.severity,
        { kind: 'ip', id: r.ip },
        `${failures} failed logins with ${distinct} distinct credentials from ${r.ip} in ${rule.windowSeconds} s`,
        {
          failures,
          distinctCredentials: distinct,
          windowSeconds: rule.windowSeconds,
          route: r.route,
          method: r.authMethod,
          reason: r.authFailure,
        },
      );
  }

  #enumeration(actor: ActorState, r: RequestRecord, b: number, kind: SubjectKind, id: string): void {
    const rule = this.#c.rules.enumeration;
    actor.objects ??= new Distinct(this.#n.enumeration, rule.distinctObjects);
    // Keyed by the id alone (ids of different routes rarely collide, and no string is built).
    const objects = actor.objects.add(r.objectId as string, b);
    let probes = 0;
    if (r.status === 403 || r.status === 404) {
      actor.probes ??= new Ring(this.#n.enumeration, this.#alpha);
      probes = actor.probes.add(b);
    }
    if (objects < rule.distinctObjects && probes < rule.deniedOrMissing) return;
    if (this.#quiet(actor.objects)) return;
    this.#raise(
      actor.objects,
      'enumeration',
      rule.severity,
      { kind, id },
      probes >= rule.deniedOrMissing
        ? `${probes} denied or missing objects for ${kind} ${id} in ${rule.windowSeconds} s`
        : `${objects} distinct objects touched by ${kind} ${id} in ${rule.windowSeconds} s`,
      {
        distinctObjects: objects,
        deniedOrMissing: probes,
        windowSeconds: rule.windowSeconds,
        route: r.route,
      },
    );
  }

  #scraping(actor: ActorState, b: number, id: string): void {
    const rule = this.#c.rules.scraping;
    actor.volume ??= new Ring(this.#n.scraping, this.#alpha);
    const count = actor.volume.add(b);
    if (count < rule.minCount || this.#quiet(actor.volume)) return;
    const expected = actor.volume.expected(b, this.#warm);
    if (count < rule.factor * expected) return;
    this.#raise(
      actor.volume,
      'scraping',
      rule.severity,
      { kind: 'principal', id },
      `${count} requests from principal ${id} in ${rule.windowSeconds} s (usual: ${expected.toFixed(1)})`,
      { count, expected: round(expected), windowSeconds: rule.windowSeconds },
    );
  }

  /**
   * Raises an alert. `mark` is the counter that tripped: it holds the (rule, subject) cooldown, so
   * a flood past a threshold costs one comparison per request, not one alert.
   */
  #raise(
    mark: Mark,
    rule: string,
    severity: Severity,
    subject: Alert['subject'],
    summary: string,
    detail: Record<string, unknown>,
  ): void {
    const now = this.#now;
    mark.quiet = now + this.#c.cooldownSeconds * 1000;
    const alert: Alert = {
      id: randomBytes(8).toString('hex'),
      at: now,
      rule,
      severity,
      subject,
      summary,
      detail,
    };
    this.#recent.push(alert);
    if (this.#recent.length > this.#c.keepAlerts)
      this.#recent.splice(0, this.#recent.length - this.#c.keepAlerts);
    const line = { log: 'alert', alertId: alert.id, rule, severity, subject, detail };
    if (severity === 'critical') this.#logger.error(line, summary);
    else this.#logger.warn(line, summary);
    try {
      this.#publish(alert);
    } catch (err) {
      this.#logger.error({ err }, 'anomaly: publishing an alert failed');
    }
    this.#webhooks?.send(alert);
    this.#respond(alert);
  }

  /** The automatic response to an alert (autoBlock). */
  #respond(alert: Alert): void {
    const ab = this.#c.autoBlock;
    if (ab.mode === 'off' || RANK[alert.severity] < RANK[ab.minSeverity]) return;
    const kind = alert.subject.kind;
    if (kind === 'route') return;
    const reason = `${alert.rule}: ${alert.summary}`;
    if (ab.mode === 'monitor') {
      this.#logger.warn(
        {
          log: 'alert',
          action: 'would block',
          alertId: alert.id,
          subject: alert.subject,
          seconds: ab.seconds,
        },
        `would block ${kind} ${alert.subject.id} for ${ab.seconds} s (autoBlock monitor)`,
      );
      return;
    }
    this.block(kind, alert.subject.id, ab.seconds, reason, alert.id);
  }

  /** Blocks an address group, principal or key for `seconds` (extends an existing block). */
  block(
    kind: BlockEntry['kind'],
    subject: string,
    seconds: number,
    reason: string,
    alertId?: string,
  ): BlockEntry {
    const now = clock.now();
    const key = `${kind} ${subject}`;
    const old = this.#blocks.get(key);
    const until = Math.max(now + seconds * 1000, old?.until ?? 0);
    const entry: BlockEntry = { id: old?.id ?? randomBytes(8).toString('hex'), kind, subject, until, reason };
    this.#blocks.set(key, entry);
    if (this.#blocks.size > this.#c.maxSubjects) this.#prune(now);
    if (this.#blocks.size > this.#c.maxSubjects)
      this.#blocks.delete(this.#blocks.keys().next().value as string);
    this.#logger.warn(
      {
        log: 'alert',
        action: 'block',
        blockId: entry.id,
        alertId,
        kind,
        subject,
        until,
        enforced: kind === 'ip',
      },
      `blocked ${kind} ${subject} for ${seconds} s`,
    );
    this.#onBlock?.(entry, alertId);
    return entry;
  }

  #onBlock: ((b: BlockEntry, alertId: string | undefined) => void) | undefined;

  /** Called for each block made (attachAnomaly publishes a "block.added" event). */
  onBlock(listener: (b: BlockEntry, alertId: string | undefined) => void): void {
    this.#onBlock = listener;
  }

  #prune(now: number): void {
    for (const [k, e] of this.#blocks) if (e.until <= now) this.#blocks.delete(k);
  }

  alerts(limit: number): Alert[] {
    const n = Math.max(0, Math.min(limit, this.#recent.length));
    const out: Alert[] = [];
    for (let i = this.#recent.length - 1; out.length < n; i--) out.push(this.#recent[i] as Alert);
    return out;
  }

  blocks(): BlockEntry[] {
    this.#prune(clock.now());
    return [...this.#blocks.values()];
  }

  unblock(id: string): boolean {
    for (const [k, e] of this.#blocks) {
      if (e.id !== id) continue;
      this.#blocks.delete(k);
      this.#logger.info(
        { log: 'alert', action: 'unblock', blockId: id, kind: e.kind, subject: e.subject },
        'block lifted',
      );
      return true;
    }
    return false;
  }

  blockedFor(ip: string, principal: string | undefined, credential?: string): number {
    if (this.#blocks.size === 0) return 0;
    const now = clock.now();
    let ms = this.#left(`ip ${ip}`, now);
    if (principal !== undefined) {
      ms = Math.max(ms, this.#left(`principal ${principal}`, now));
    }
    if (credential !== undefined) ms = Math.max(ms, this.#left(`key ${credential}`, now));
    return ms;
  }

  #left(key: string, now: number): number {
    const e = this.#blocks.get(key);
    if (e === undefined) return 0;
    if (e.until > now) return e.until - now;
    this.#blocks.delete(key);
    return 0;
  }

  /** Deliveries still pending on the webhooks (tests). */
  get webhookPending(): number {
    return this.#webhooks?.pending ?? 0;
  }

  async close(): Promise<void> {
    await this.#webhooks?.close();
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Attaches the anomaly detector to the hub: observer, alerts as events, the admin API's part. */
export function attachAnomaly(
  obs: Observability,
  config: AnomalyConfig,
  options: AnomalyOptions = {},
): AnomalyDetector {
  const detector = new AnomalyDetector(
    config,
    obs.logger,
    (a) =>
      obs.emit({
        type: 'alert',
        at: a.at,
        severity: a.severity,
        ...(a.subject.kind === 'ip' ? { ip: a.subject.id } : {}),
        ...(a.subject.kind === 'route' ? { route: a.subject.id } : {}),
        ...(a.subject.kind === 'principal' || a.subject.kind === 'key' ? { actor: a.subject.id } : {}),
        code: a.rule,
        detail: { alertId: a.id, subject: a.subject, summary: a.summary, ...a.detail },
      }),
    options,
  );
  detector.onBlock((b, alertId) =>
    obs.emit({
      type: 'block.added',
      at: clock.now(),
      severity: 'warning',
      ...(b.kind === 'ip' ? { ip: b.subject } : { actor: b.subject }),
      code: 'CLIENT_BLOCKED',
      detail: { blockId: b.id, kind: b.kind, until: b.until, reason: b.reason, alertId },
    }),
  );
  obs.observe(detector);
  obs.anomalyPart = detector;
  obs.own(detector);
  return detector;
}

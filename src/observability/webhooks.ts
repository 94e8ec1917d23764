import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import type { Alert } from './hub.js';
import type { ObservabilityConfig } from './schema.js';

type Webhook = ObservabilityConfig['anomaly']['webhooks'][number];

const RANK = { info: 0, warning: 1, critical: 2 } as const;

/**
 * The signature of one delivery: hex HMAC-SHA256, keyed by the webhook's secret, of
 * `${timestamp}.${body}` (timestamp: the X-Portcullis-Timestamp header, Unix seconds; body: the raw
 * request body bytes). Receivers recompute it, compare in constant time, and refuse timestamps
 * older than a few minutes (replays).
 */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export interface WebhookOptions {
  /** First retry delay; each next one doubles (1 s, 2 s, 4 s). */
  readonly baseDelayMs?: number;
  /** Deliveries waiting or in flight at most; past it new ones are dropped (and logged). */
  readonly maxPending?: number;
  readonly now?: () => number;
}

/**
 * Delivers alerts to the configured webhooks: one POST of the alert as JSON per receiver at or
 * above its minSeverity, signed, retried with exponential backoff. Fire and forget: never awaited on
 * a request's path; every failure is logged, none is thrown.
 */
export class WebhookSender {
  readonly #hooks: readonly Webhook[];
  readonly #logger: Logger;
  readonly #baseDelayMs: number;
  readonly #maxPending: number;
  readonly #now: () => number;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #aborts = new Set<AbortController>();
  readonly #agent = new Agent({ connections: 8, keepAliveTimeout: 10_000 });
  #pending = 0;
  #closed = false;

  constructor(hooks: readonly Webhook[], logger: Logger, options: WebhookOptions = {}) {
    this.#hooks = hooks;
    this.#logger = logger;
    this.#baseDelayMs = options.baseDelayMs ?? 1000;
    this.#maxPending = options.maxPending ?? 200;
    this.#now = options.now ?? Date.now;
  }

  /** Deliveries not finished yet (waiting for a retry or in flight). */
  get pending(): number {
    return this.#pending;
  }

  send(alert: Alert): void {
    if (this.#closed) return;
    let body: string | undefined;
    for (const hook of this.#hooks) {
      if (RANK[alert.severity] < RANK[hook.minSeverity]) continue;
      if (this.#pending >= this.#maxPending) {
        this.#logger.warn(
          { log: 'alert', webhook: safeUrl(hook.url), alertId: alert.id },
          'webhook queue full; alert not delivered',
        );
        continue;
      }
      body ??= JSON.stringify(alert);
      this.#pending++;
      void this.#attempt(hook, alert.id, body, 0);
    }
  }

  async #attempt(hook: Webhook, alertId: string, body: string, attempt: number): Promise<void> {
    let failure: string;
    const abort = new AbortController();
    this.#aborts.add(abort);
    const timer = setTimeout(() => abort.abort(), hook.timeoutMs);
    timer.unref();
    try {
      const timestamp = String(Math.floor(this.#now() / 1000));
      const res = await request(hook.url, {
        method: 'POST',
        dispatcher: this.#agent,
        signal: abort.signal,
        headersTimeout: hook.timeoutMs,
        bodyTimeout: hook.timeoutMs,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'portcullis-alerts',
          'x-portcullis-timestamp': timestamp,
          'x-portcullis-signature': signWebhook(hook.secret, timestamp, body),
        },
        body,
      });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) {
        this.#pending--;
        return;
      }
      failure = `status ${res.statusCode}`;
    } catch (err) {
      failure = abort.signal.aborted ? 'timeout' : ((err as Error).message ?? String(err));
    } finally {
      clearTimeout(timer);
      this.#aborts.delete(abort);
    }
    if (this.#closed) {
      this.#pending--;
      return;
    }
    const retry = attempt < hook.retries;
    this.#logger.warn(
      { log: 'alert', webhook: safeUrl(hook.url), alertId, attempt: attempt + 1, failure, retry },
      retry ? 'webhook delivery failed; retrying' : 'webhook delivery failed; giving up',
    );
    if (!retry) {
      this.#pending--;
      return;
    }
    const wait = setTimeout(
      () => {
        this.#timers.delete(wait);
        void this.#attempt(hook, alertId, body, attempt + 1);
      },
      this.#baseDelayMs * 2 ** attempt,
    );
    wait.unref();
    this.#timers.add(wait);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const a of this.#aborts) a.abort();
    await this.#agent.close().catch(() => undefined);
  }
}

/** The receiver's address without credentials, query or fragment, for logs. */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

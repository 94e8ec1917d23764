import type { Logger } from 'pino';
import type { MemoryLimitBackend } from './memory.js';
import type { Charge, Decision, Lease, LimitBackend } from './types.js';

/** What a limiter does while its shared store (Redis) fails or is slow. */
export type StoreFailurePolicy = 'local' | 'allow' | 'deny';

/** Thrown by the resilient backend under the `deny` policy: the stage answers 503. */
export class LimitStoreUnavailable extends Error {
  constructor() {
    super('the rate-limit store is unavailable');
    this.name = 'LimitStoreUnavailable';
  }
}

export interface ResilienceStats {
  /** Decisions taken without the shared store (by the fallback policy). */
  fallbacks: number;
  /** Store calls that failed or timed out. */
  failures: number;
  /** 1 while the store is failing, else 0. */
  degraded: number;
}

const ALLOW_ALL: Decision = { allowed: true, outcomes: [], retryAfterMs: 0 };

/**
 * A shared backend with a bounded wait: each call races a timeout; on an error, a timeout or a
 * connection that is not up, the decision is taken by the policy at once (no request waits for a
 * dead store): `local` counts on this node's own memory counters, `allow` admits, `deny` refuses
 * with 503. While degraded, the store is still tried on every call (ioredis reconnects in the
 * background), so the first call after it is back uses it again. One log line per outage and one
 * when it ends; counts in `stats` for the metrics.
 */
export class ResilientBackend implements LimitBackend {
  readonly kind: 'memory' | 'redis';
  readonly stats: ResilienceStats = { fallbacks: 0, failures: 0, degraded: 0 };
  constructor(
    private readonly primary: LimitBackend,
    /** This node's own counters, used by the `local` policy (shared by every route of the plan). */
    private readonly local: MemoryLimitBackend,
    private readonly policy: StoreFailurePolicy,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
    /** False when the store's connection is known to be down: skip the wait entirely. */
    private readonly isUp: () => boolean = () => true,
  ) {
    this.kind = primary.kind;
  }

  private timed<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`rate-limit store did not answer within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  private failed(err: unknown): void {
    this.stats.failures++;
    if (this.stats.degraded === 0) {
      this.stats.degraded = 1;
      this.logger.error(
        { err: (err as Error).message, policy: this.policy },
        `rate-limit: shared store failing; deciding by the "${this.policy}" policy until it is back`,
      );
    }
  }

  private recovered(): void {
    if (this.stats.degraded === 0) return;
    this.stats.degraded = 0;
    this.logger.info('rate-limit: shared store is back');
  }

  async charge(charges: readonly Charge[], now: number): Promise<Decision> {
    if (this.isUp()) {
      try {
        const d = await this.timed(this.primary.charge(charges, now));
        this.recovered();
        void this.#retryReleases();
        return d;
      } catch (err) {
        this.failed(err);
      }
    } else this.failed(new Error('connection down'));
    this.stats.fallbacks++;
    if (this.policy === 'local') return this.local.chargeNow(charges, now);
    if (this.policy === 'allow') return ALLOW_ALL;
    throw new LimitStoreUnavailable();
  }

  /** Releases the store could not take (down, slow): retried on the next call that reaches it. */
  readonly #pendingReleases = new Map<string, string>();

  #retryReleases(): Promise<unknown> {
    if (this.#pendingReleases.size === 0) return Promise.resolve();
    const batch = [...this.#pendingReleases];
    this.#pendingReleases.clear();
    return Promise.allSettled(
      batch.map(([token, key]) =>
        this.primary.release(key, token).catch(() => this.#queueRelease(key, token)),
      ),
    );
  }

  #queueRelease(key: string, token: string): void {
    // Bounded: past this many, the slot lapses by its lease in the store.
    if (this.#pendingReleases.size < 10_000) this.#pendingReleases.set(token, key);
  }

  async acquire(key: string, limit: number, leaseMs: number, token: string, now: number): Promise<Lease> {
    if (this.isUp()) {
      // Slots whose release could not be sent are given back first: a client must not be refused
      // for its own earlier requests.
      if (this.#pendingReleases.size > 0) await this.timed(this.#retryReleases()).catch(() => undefined);
      const attempt = this.primary.acquire(key, limit, leaseMs, token, now);
      try {
        const l = await this.timed(attempt);
        this.recovered();
        return l;
      } catch (err) {
        this.failed(err);
        // A slot the store grants after we stopped waiting is given back, or it would stay taken
        // for its whole lease.
        attempt.then(
          (late) => {
            if (late.acquired) this.primary.release(key, token).catch(() => this.#queueRelease(key, token));
          },
          () => undefined,
        );
      }
    } else this.failed(new Error('connection down'));
    this.stats.fallbacks++;
    if (this.policy === 'local') return this.local.acquireNow(key, limit, leaseMs, token, now);
    if (this.policy === 'allow') return { acquired: true, inFlight: 0 };
    throw new LimitStoreUnavailable();
  }

  async release(key: string, token: string): Promise<void> {
    // The slot may live in either place; releasing an absent token is a no-op in both.
    this.local.releaseNow(key, token);
    if (!this.isUp()) {
      this.#queueRelease(key, token);
      return;
    }
    try {
      await this.timed(this.primary.release(key, token));
      void this.#retryReleases();
    } catch (err) {
      this.failed(err);
      this.#queueRelease(key, token);
    }
  }

  /** The backends belong to the stores, which close them with the plan. */
  async close(): Promise<void> {}
}

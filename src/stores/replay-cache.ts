import type { Redis } from 'ioredis';
import { whenReady } from './redis.js';
import type { ReplayCache } from './types.js';

/**
 * One-time values in memory, for one node. Bounded: beyond `maxEntries` the oldest claims are
 * dropped first (a value dropped that early could be replayed, so size it for the traffic times
 * the longest TTL). Expired entries are dropped as new claims come in.
 */
export class MemoryReplayCache implements ReplayCache {
  readonly #entries = new Map<string, number>();
  readonly #maxEntries: number;
  readonly #now: () => number;
  #closed = false;

  constructor(maxEntries: number, now: () => number = Date.now) {
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    return this.claimSync(key, ttlMs);
  }

  /** The same as claim, for callers on a synchronous path. */
  claimSync(key: string, ttlMs: number): boolean {
    if (this.#closed) throw new Error('the replay cache is closed');
    const now = this.#now();
    const entries = this.#entries;
    // Amortised clean-up: look at the two oldest entries on every claim.
    for (let i = 0; i < 2; i++) {
      const first = entries.entries().next();
      if (first.done || first.value[1] > now) break;
      entries.delete(first.value[0]);
    }
    const until = entries.get(key);
    if (until !== undefined && until > now) return false;
    entries.delete(key);
    entries.set(key, now + Math.max(1, ttlMs));
    while (entries.size > this.#maxEntries) {
      const oldest = entries.keys().next();
      if (oldest.done) break;
      entries.delete(oldest.value);
    }
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#entries.clear();
  }
}

/** One-time values in the shared Redis (SET NX PX: atomic across every node). */
export class RedisReplayCache implements ReplayCache {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #readyTimeoutMs: number;
  #closed = false;

  constructor(redis: Redis, keyPrefix: string, readyTimeoutMs: number) {
    this.#redis = redis;
    this.#prefix = `${keyPrefix}replay:`;
    this.#readyTimeoutMs = readyTimeoutMs;
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    if (this.#closed) throw new Error('the replay cache is closed');
    await whenReady(this.#redis, this.#readyTimeoutMs);
    const ok = await this.#redis.set(this.#prefix + key, '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX');
    return ok === 'OK';
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

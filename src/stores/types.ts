import type { Redis } from 'ioredis';
import type { MemoryLimitBackend } from '../ratelimit/memory.js';
import type { RedisLimitBackend } from '../ratelimit/redis.js';

/**
 * One stored API key. The secret itself is never stored: only HMAC-SHA256(pepper, secret).
 * Times are epoch milliseconds.
 */
export interface ApiKeyRecord {
  /** Public key id (the part of the key after "pcl_"); names the record. */
  readonly id: string;
  /** HMAC-SHA256(pepper, secret), 32 bytes. */
  readonly hash: Buffer;
  readonly consumer: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  /** The key works only from these addresses/CIDRs; empty = anywhere. */
  readonly allowedCidrs: readonly string[];
  readonly createdAt: number;
  /** Refused from this time on (null = never). Rotation sets it on the old key (the overlap). */
  readonly expiresAt: number | null;
  /** Refused from this time on, on every node within one second. */
  readonly revokedAt: number | null;
  /** Updated in batches (write-behind), so it may lag by a few seconds. */
  readonly lastUsedAt: number | null;
  /** Id of the key that replaced this one by rotation, if any. */
  readonly replacedBy: string | null;
}

/** Where API keys live: SQLite on one machine (default), Redis for several nodes. */
export interface KeyStore {
  /** Adds a key; rejects if the id exists. */
  insert(record: ApiKeyRecord): Promise<void>;
  get(id: string): Promise<ApiKeyRecord | undefined>;
  /** All keys (optionally of one consumer), newest first. */
  list(filter?: { consumer?: string }): Promise<ApiKeyRecord[]>;
  /** Marks a key revoked at `at`; false if there is no such key. Notifies every watcher. */
  revoke(id: string, at: number): Promise<boolean>;
  /** Sets or changes the expiry (rotation overlap), and who replaced it; false if no such key. */
  expire(id: string, at: number, replacedBy: string | null): Promise<boolean>;
  /** Records last use for many keys at once (write-behind from the authenticator). */
  touch(lastUsed: ReadonlyMap<string, number>): Promise<void>;
  /**
   * Calls `listener` with the id of every key changed anywhere (any process, any node), or null
   * when changes may have been missed (reconnect): within one second of the change. Returns an
   * unsubscribe function.
   */
  watch(listener: (id: string | null) => void): () => void;
  close(): Promise<void>;
}

/** Remembers one-time values (DPoP jti, signature nonces) across requests and, with Redis, nodes. */
export interface ReplayCache {
  /** True the first time `key` is claimed within `ttlMs`; false on a replay. Atomic across nodes. */
  claim(key: string, ttlMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Shared state handed to plugins through `deps.stores`. Each store is opened on first use (so a
 * config without API keys never creates a database file) and closed with the plan.
 */
export interface Stores {
  keys(): KeyStore;
  /** The server-side pepper for API key hashes (from config or the pepper file). */
  keyPepper(): Buffer;
  replay(): ReplayCache;
  /** Rate-limit counters of this node, shared by every route of the plan (and the Redis backend's fallback). */
  limitMemory(): MemoryLimitBackend;
  /** Rate-limit counters in the shared Redis (stores.redis), shared by every node. */
  limitRedis(): RedisLimitBackend;
  /** The shared Redis connection (stores.redis), for plugins with their own scripts. */
  redis(): Redis;
  /** stores.redis.keyPrefix: every Redis key a plugin writes starts with it. */
  readonly redisKeyPrefix: string;
  /** stores.redis.connectTimeoutMs: how long a plugin waits for the first connection at start-up. */
  readonly redisConnectTimeoutMs: number;
}

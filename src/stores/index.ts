import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { StoresConfig } from '../config/schema.js';
import { MemoryLimitBackend } from '../ratelimit/memory.js';
import { RedisLimitBackend } from '../ratelimit/redis.js';
import { loadPepper } from './pepper.js';
import { closeRedis, createRedis } from './redis.js';
import { RedisKeyStore } from './redis-key-store.js';
import { MemoryReplayCache, RedisReplayCache } from './replay-cache.js';
import { SqliteKeyStore } from './sqlite-key-store.js';
import type { KeyStore, ReplayCache, Stores } from './types.js';

export interface OpenStores extends Stores {
  /** Closes whatever was opened. */
  close(): Promise<void>;
}

export interface OpenStoresOptions {
  /** Where REDIS_URL is read from (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Opens stores lazily from the `stores` config section: nothing is created or connected until a
 * plugin (or the CLI) first asks, so a config that never uses API keys creates no database file
 * and opens no Redis connection. One Redis connection per OpenStores (plus one for pub/sub when a
 * Redis key store is watched).
 */
export function openStores(
  config: StoresConfig,
  logger: Logger,
  options: OpenStoresOptions = {},
): OpenStores {
  let keys: KeyStore | undefined;
  let pepper: Buffer | undefined;
  let replay: ReplayCache | undefined;
  let redis: Redis | undefined;
  let limitMemory: MemoryLimitBackend | undefined;
  let limitRedis: RedisLimitBackend | undefined;
  let closed = false;

  const open = (): void => {
    if (closed) throw new Error('the stores are closed');
  };

  const stores: OpenStores = {
    keys(): KeyStore {
      open();
      if (keys === undefined) {
        const k = config.keys;
        keys =
          k.backend === 'redis'
            ? new RedisKeyStore(stores.redis(), {
                keyPrefix: config.redis.keyPrefix,
                pollMs: k.pollMs,
                connectTimeoutMs: config.redis.connectTimeoutMs,
              })
            : openSqlite(k.path, k.pollMs);
      }
      return keys;
    },
    keyPepper(): Buffer {
      open();
      pepper ??= loadPepper(config.keys, logger);
      return pepper;
    },
    replay(): ReplayCache {
      open();
      replay ??=
        config.replay.backend === 'redis'
          ? new RedisReplayCache(stores.redis(), config.redis.keyPrefix, config.redis.connectTimeoutMs)
          : new MemoryReplayCache(config.replay.maxEntries);
      return replay;
    },
    limitMemory(): MemoryLimitBackend {
      open();
      limitMemory ??= new MemoryLimitBackend(config.rateLimit.maxKeys);
      return limitMemory;
    },
    limitRedis(): RedisLimitBackend {
      open();
      limitRedis ??= new RedisLimitBackend(stores.redis(), {
        keyPrefix: config.redis.keyPrefix,
        clock: config.rateLimit.clock,
      });
      return limitRedis;
    },
    redisKeyPrefix: config.redis.keyPrefix,
    redisConnectTimeoutMs: config.redis.connectTimeoutMs,
    redis(): Redis {
      open();
      redis ??= createRedis(config.redis, logger, options.env);
      return redis;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.allSettled([keys?.close(), replay?.close(), limitMemory?.close(), limitRedis?.close()]);
      if (redis !== undefined) await closeRedis(redis);
      pepper?.fill(0);
    },
  };
  return stores;
}

function openSqlite(path: string, pollMs: number): SqliteKeyStore {
  try {
    return new SqliteKeyStore(path, pollMs);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`stores.keys.path ${path}: cannot open the key database (${e.code ?? e.message})`);
  }
}

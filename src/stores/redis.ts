import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

export interface RedisSettings {
  readonly url: string;
  readonly keyPrefix: string;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** stores.redis.url, else REDIS_URL, else the local default. */
export function redisUrl(settings: RedisSettings, env: NodeJS.ProcessEnv = process.env): string {
  return settings.url || env.REDIS_URL || DEFAULT_REDIS_URL;
}

/** A Redis URL without its credentials, for logs. */
export function redactedRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(unparsable Redis URL)';
  }
}

/**
 * One Redis connection that fails fast: no offline queue (a command while disconnected is
 * rejected at once, so the stage using it fails closed instead of piling requests up), a
 * command timeout, one attempt per command, and reconnection in the background.
 */
export function createRedis(
  settings: RedisSettings,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Redis {
  const url = redisUrl(settings, env);
  const redis = new Redis(url, {
    connectTimeout: settings.connectTimeoutMs,
    commandTimeout: settings.commandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    lazyConnect: false,
    // Commands issued in the same tick (many requests deciding at once) leave in one write.
    enableAutoPipelining: true,
  });
  redis.on('ready', () => everReady.add(redis));
  watchHealth(redis, logger, url);
  return redis;
}

/**
 * Logs connection loss once per outage and its end (ioredis would otherwise print unhandled error
 * events). An outage starts on an error or on a lost connection: a server that dies closes its
 * sockets cleanly (no 'error'), and when it is back before the first reconnection attempt no
 * error is ever emitted, yet commands were refused meanwhile; 'reconnecting' marks that case
 * ('close' alone would also fire on quit or disconnect, which are not outages).
 */
/** Takes the connection's events only (a Redis connection is an EventEmitter). */
export function watchHealth(redis: EventEmitter, logger: Logger, url: string): void {
  let down = false;
  const lost = (reason: string): void => {
    if (down) return;
    down = true;
    logger.warn(
      { redis: redactedRedisUrl(url), err: reason },
      'Redis unreachable: stages that need it fail closed until it is back',
    );
  };
  redis.on('error', (err: Error) => lost(err.message));
  redis.on('reconnecting', () => lost('connection lost'));
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info({ redis: redactedRedisUrl(url) }, 'Redis reachable again');
  });
}

const everReady = new WeakSet<Redis>();
const pendingReady = new WeakMap<Redis, Promise<void>>();

/**
 * Resolves when the connection is ready. Only the first connection is waited for (up to
 * `timeoutMs`, so a command sent at start-up is not refused for being early); once a connection
 * has been up, a lost one fails at once: fail fast, fail closed.
 */
export function whenReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') {
    everReady.add(redis);
    return Promise.resolve();
  }
  if (redis.status === 'end') return Promise.reject(new Error('the Redis connection is closed'));
  if (everReady.has(redis) || redis.status === 'reconnecting')
    return Promise.reject(new Error('Redis is unavailable (reconnecting)'));
  let pending = pendingReady.get(redis);
  if (pending !== undefined) return pending;
  pending = new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('end', onEnd);
      pendingReady.delete(redis);
      if (err) reject(err);
      else {
        everReady.add(redis);
        resolve();
      }
    };
    const onReady = (): void => done();
    const onEnd = (): void => done(new Error('the Redis connection is closed'));
    const timer = setTimeout(() => done(new Error(`Redis not ready within ${timeoutMs} ms`)), timeoutMs);
    redis.on('ready', onReady);
    redis.on('end', onEnd);
  });
  pendingReady.set(redis, pending);
  return pending;
}

/** A Lua script run by EVALSHA, loaded with EVAL on the first NOSCRIPT. */
export function luaScript(
  source: string,
): (redis: Redis, keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown> {
  const sha = createHash('sha1').update(source).digest('hex');
  return async (redis, keys, args) => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err as Error).message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(source, keys.length, ...keys, ...args);
    }
  };
}

/** Closes a connection politely when it is up, at once when it is not. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  const timer = setTimeout(() => redis.disconnect(), 1000);
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  } finally {
    clearTimeout(timer);
  }
}

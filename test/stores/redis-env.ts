import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createLogger } from '../../src/observability/logger.js';
import { DEFAULT_REDIS_URL } from '../../src/stores/redis.js';

export const REDIS_URL = process.env.REDIS_URL || DEFAULT_REDIS_URL;

/**
 * Why Redis tests should be skipped, or false to run them. They skip only outside CI when no
 * Redis answers (the reason is printed); with CI=true they always run (and fail without Redis).
 */
export async function redisSkipReason(label: string): Promise<string | false> {
  if (process.env.CI === 'true') return false;
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => (times > 2 ? null : 100),
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
    return false;
  } catch (err) {
    const reason = `${label}: Redis unreachable at ${new URL(REDIS_URL).host} (${(err as Error).message}); skipped outside CI`;
    console.log(`# SKIP ${reason}`);
    return reason;
  } finally {
    redis.disconnect();
  }
}

/** A key prefix no other test run uses. */
export function uniquePrefix(): string {
  return `portcullis-test:${process.pid}-${randomBytes(4).toString('hex')}:`;
}

/** Deletes every key under `prefix`. */
export async function deletePrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export const silentLogger = createLogger('silent');

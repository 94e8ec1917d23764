import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisKeyStore } from '../../src/stores/redis-key-store.js';
import { SqliteKeyStore } from '../../src/stores/sqlite-key-store.js';
import { keyStoreConformance } from './key-store.conformance.js';
import { deletePrefix, REDIS_URL, redisSkipReason, uniquePrefix } from './redis-env.js';

keyStoreConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-keys-'));
  const file = join(dir, 'nested', 'keys.db');
  return {
    open: () => new SqliteKeyStore(file, 100),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

const skip = await redisSkipReason('KeyStore conformance: redis');
keyStoreConformance(
  'redis',
  async () => {
    const prefix = uniquePrefix();
    const connections: Redis[] = [];
    return {
      open: () => {
        // One connection per instance, as each node has its own.
        const redis = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
        connections.push(redis);
        return new RedisKeyStore(redis, { keyPrefix: prefix, pollMs: 100, connectTimeoutMs: 2000 });
      },
      cleanup: async () => {
        for (const c of connections) c.disconnect();
        await deletePrefix(prefix);
      },
    };
  },
  skip,
);

import { Redis } from 'ioredis';
import { MemoryReplayCache, RedisReplayCache } from '../../src/stores/replay-cache.js';
import { deletePrefix, REDIS_URL, redisSkipReason, uniquePrefix } from './redis-env.js';
import { replayCacheConformance } from './replay-cache.conformance.js';

replayCacheConformance('memory', async () => {
  const cache = new MemoryReplayCache(10_000);
  // One process: every "instance" is the same cache.
  return { open: () => cache, cleanup: async () => {} };
});

const skip = await redisSkipReason('ReplayCache conformance: redis');
replayCacheConformance(
  'redis',
  async () => {
    const prefix = uniquePrefix();
    const connections: Redis[] = [];
    return {
      open: () => {
        const redis = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
        connections.push(redis);
        return new RedisReplayCache(redis, prefix, 2000);
      },
      cleanup: async () => {
        for (const c of connections) c.disconnect();
        await deletePrefix(prefix);
      },
    };
  },
  skip,
);

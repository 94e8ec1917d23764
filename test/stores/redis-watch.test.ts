import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisKeyStore } from '../../src/stores/redis-key-store.js';
import { record } from './key-store.conformance.js';
import { deletePrefix, REDIS_URL, redisSkipReason, uniquePrefix } from './redis-env.js';

const skip = await redisSkipReason('Redis key store watch');

describe('Redis key store: missed changes', { skip }, () => {
  const prefix = uniquePrefix();
  let a: Redis;
  let b: Redis;
  const stores: RedisKeyStore[] = [];
  before(() => {
    a = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    b = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  });
  after(async () => {
    for (const s of stores) await s.close();
    a.disconnect();
    b.disconnect();
    await deletePrefix(prefix);
  });

  it('a change whose message was lost is noticed through the counter: listener(null) within two polls', async () => {
    const store = new RedisKeyStore(a, { keyPrefix: prefix, pollMs: 100, connectTimeoutMs: 2000 });
    stores.push(store);
    const seen: (string | null)[] = [];
    const unwatch = store.watch((id) => seen.push(id));
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(seen.length, 0, 'no change, no call');
    // A writer that bumped the counter but whose PUBLISH never arrived.
    await b.incr(`${prefix}{apikeys}:seq`);
    const start = Date.now();
    while (!seen.includes(null)) {
      if (Date.now() - start > 1000) assert.fail(`no listener(null) within 1 s: ${JSON.stringify(seen)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    // Regular changes still arrive by id, without a spurious null.
    const count = seen.filter((x) => x === null).length;
    const other = new RedisKeyStore(b, { keyPrefix: prefix, pollMs: 100, connectTimeoutMs: 2000 });
    stores.push(other);
    const r = record();
    await other.insert(r);
    await new Promise((res) => setTimeout(res, 400));
    assert.ok(seen.includes(r.id));
    assert.equal(seen.filter((x) => x === null).length, count);
    unwatch();
  });
});

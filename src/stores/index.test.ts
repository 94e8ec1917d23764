import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { StoresConfig } from '../config/schema.js';
import { createLogger } from '../observability/logger.js';
import { openStores } from './index.js';

const logger = createLogger('silent');

function config(dir: string, overrides: Partial<Record<keyof StoresConfig, object>> = {}): StoresConfig {
  return {
    redis: {
      url: 'redis://127.0.0.1:1',
      keyPrefix: 'portcullis-test:',
      connectTimeoutMs: 200,
      commandTimeoutMs: 200,
      ...overrides.redis,
    },
    keys: {
      backend: 'sqlite',
      path: join(dir, 'db', 'keys.db'),
      pepper: '',
      pepperFile: join(dir, 'pepper'),
      pollMs: 250,
      ...overrides.keys,
    },
    replay: { backend: 'memory', maxEntries: 1000, ...overrides.replay },
  } as StoresConfig;
}

describe('openStores', () => {
  it('opens nothing until asked: no database file, no pepper file, no connection', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-stores-'));
    const stores = openStores(config(dir), logger);
    await stores.close();
    assert.equal(existsSync(join(dir, 'db')), false);
    assert.equal(existsSync(join(dir, 'pepper')), false);
    assert.throws(() => stores.keys(), /closed/);
  });

  it('creates the SQLite file owner-only on first use and closes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-stores-'));
    const stores = openStores(config(dir), logger);
    const keys = stores.keys();
    assert.equal(stores.keys(), keys, 'one store per Stores');
    assert.equal(statSync(join(dir, 'db', 'keys.db')).mode & 0o777, 0o600);
    assert.equal(stores.keyPepper().length, 32);
    await stores.close();
    await assert.rejects(keys.get('x'), /closed/);
  });

  it('memory replay cache bounded by maxEntries', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-stores-'));
    const stores = openStores(config(dir), logger);
    const replay = stores.replay();
    for (let i = 0; i < 1500; i++) assert.equal(await replay.claim(`k${i}`, 60_000), true);
    assert.equal(await replay.claim('k1499', 60_000), false);
    // The oldest were dropped to stay within 1000 entries.
    assert.equal(await replay.claim('k0', 60_000), true);
    await stores.close();
  });

  it('a Redis that does not answer fails fast (no offline queue), and close does not hang', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-stores-'));
    const stores = openStores(
      config(dir, { keys: { backend: 'redis' }, replay: { backend: 'redis' } }),
      logger,
    );
    const started = Date.now();
    await assert.rejects(stores.keys().get('abc'));
    await assert.rejects(stores.replay().claim('abc', 1000));
    assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
    await stores.close();
  });

  it('takes the Redis URL from the config, else REDIS_URL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-stores-'));
    const stores = openStores(config(dir, { redis: { url: '' } }), logger, {
      env: { REDIS_URL: 'redis://127.0.0.1:2/3' },
    });
    const redis = stores.redis();
    assert.equal(redis.options.port, 2);
    assert.equal(redis.options.db, 3);
    await stores.close();
  });
});

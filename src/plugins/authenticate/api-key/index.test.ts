import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { RequestContext } from '../../../core/context.js';
import type { StageHandlers } from '../../../core/plugin.js';
import { createLogger } from '../../../observability/logger.js';
import { KeyService } from '../../../stores/key-service.js';
import type { ApiKeyRecord, KeyStore, Stores } from '../../../stores/types.js';
import { assembleApiKey, generateApiKey } from './format.js';
import plugin, { takeQueryParameter } from './index.js';

/** A KeyStore in memory that counts lookups and can be made slow or broken. */
class FakeStore implements KeyStore {
  readonly records = new Map<string, ApiKeyRecord>();
  readonly listeners = new Set<(id: string | null) => void>();
  gets = 0;
  touched = new Map<string, number>();
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  async insert(r: ApiKeyRecord): Promise<void> {
    if (this.records.has(r.id)) throw new Error('exists');
    this.records.set(r.id, r);
  }
  get(id: string): Promise<ApiKeyRecord | undefined> {
    this.gets++;
    if (this.mode === 'fail') return Promise.reject(new Error('ECONNREFUSED'));
    if (this.mode === 'hang') return new Promise(() => {});
    return Promise.resolve(this.records.get(id));
  }
  async list(): Promise<ApiKeyRecord[]> {
    return [...this.records.values()];
  }
  async revoke(id: string, at: number): Promise<boolean> {
    const r = this.records.get(id);
    if (!r) return false;
    this.records.set(id, { ...r, revokedAt: at });
    for (const l of this.listeners) l(id);
    return true;
  }
  async expire(id: string, at: number, replacedBy: string | null): Promise<boolean> {
    const r = this.records.get(id);
    if (!r) return false;
    this.records.set(id, { ...r, expiresAt: at, replacedBy });
    for (const l of this.listeners) l(id);
    return true;
  }
  async touch(lastUsed: ReadonlyMap<string, number>): Promise<void> {
    for (const [k, v] of lastUsed) this.touched.set(k, v);
  }
  watch(listener: (id: string | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  async close(): Promise<void> {}
}

const pepper = randomBytes(32);

async function setup(settings: Record<string, unknown> = {}) {
  const store = new FakeStore();
  const stores = {
    redisKeyPrefix: 'test:',
    redisConnectTimeoutMs: 100,
    keys: () => store,
    keyPepper: () => pepper,
    replay: () => {
      throw new Error('unused');
    },
    limitMemory: () => {
      throw new Error('unused');
    },
    limitRedis: () => {
      throw new Error('unused');
    },
    redis: () => {
      throw new Error('unused');
    },
  } as Stores;
  const config = {
    header: 'x-api-key',
    queryParameter: '',
    forwardKey: false,
    cacheTtlMs: 30000,
    negativeCacheTtlMs: 5000,
    cacheMaxEntries: 10000,
    lookupTimeoutMs: 500,
    ...settings,
  };
  const handlers = (await plugin.create(config as never, {
    deps: { logger: createLogger('silent'), stores } as never,
    route: undefined,
    configPath: 'plugins.api-key',
  })) as StageHandlers;
  const service = new KeyService(store, pepper);
  return { store, handlers, service };
}

function ctxOf(headers: Record<string, string>, query = '', clientIp = '127.0.0.1'): RequestContext {
  return {
    req: { headers },
    query,
    clientIp,
    principal: undefined,
    authFailure: undefined,
    upstreamHeaders: undefined,
  } as unknown as RequestContext;
}

async function run(h: StageHandlers, ctx: RequestContext): Promise<RequestContext> {
  await h.onRequest?.(ctx);
  return ctx;
}

describe('api-key authenticator', () => {
  it('accepts a valid key, builds the principal and strips the key toward the upstream', async () => {
    const { handlers, service } = await setup();
    const { key, info } = await service.create({
      consumer: 'acme',
      name: 'ci',
      scopes: ['a:read'],
      roles: ['r'],
    });
    const ctx = await run(handlers, ctxOf({ 'x-api-key': key }));
    assert.equal(ctx.authFailure, undefined);
    assert.deepEqual(ctx.principal, {
      id: `key:${info.id}`,
      kind: 'consumer',
      subject: 'acme',
      consumer: 'acme',
      roles: ['r'],
      scopes: ['a:read'],
      claims: { keyName: 'ci' },
      credentialId: info.id,
      method: 'api-key',
    });
    assert.ok(Object.isFrozen(ctx.principal));
    assert.deepEqual(ctx.upstreamHeaders, { 'x-api-key': null });
    assert.equal(handlers.challenge, 'ApiKey');
    await handlers.close?.();
  });

  it('reads Authorization: ApiKey (scheme in any case) and leaves other schemes alone', async () => {
    const { handlers, service } = await setup();
    const { key } = await service.create({ consumer: 'acme' });
    for (const auth of [`ApiKey ${key}`, `apikey ${key}`, `APIKEY ${key}`]) {
      const ctx = await run(handlers, ctxOf({ authorization: auth }));
      assert.equal(ctx.principal?.consumer, 'acme', auth);
      assert.deepEqual(ctx.upstreamHeaders, { authorization: null });
    }
    const bearer = await run(handlers, ctxOf({ authorization: `Bearer ${key}` }));
    assert.equal(bearer.principal, undefined);
    assert.equal(bearer.authFailure, undefined);
    assert.equal(bearer.upstreamHeaders, undefined, 'a Bearer token is not ours to strip');
    await handlers.close?.();
  });

  it('forwardKey: true leaves the header in place', async () => {
    const { handlers, service } = await setup({ forwardKey: true });
    const { key } = await service.create({ consumer: 'acme' });
    const ctx = await run(handlers, ctxOf({ 'x-api-key': key }));
    assert.equal(ctx.principal?.consumer, 'acme');
    assert.equal(ctx.upstreamHeaders, undefined);
    await handlers.close?.();
  });

  it('does nothing without a key, or when another authenticator already decided (but still strips)', async () => {
    const { handlers, service, store } = await setup();
    const none = await run(handlers, ctxOf({}));
    assert.equal(none.principal, undefined);
    assert.equal(none.authFailure, undefined);
    const { key } = await service.create({ consumer: 'acme' });
    const decided = ctxOf({ 'x-api-key': key });
    const other = Object.freeze({ id: 'jwt:x' }) as never;
    decided.principal = other;
    const gets = store.gets;
    await run(handlers, decided);
    assert.equal(decided.principal, other);
    assert.equal(store.gets, gets);
    assert.deepEqual(decided.upstreamHeaders, { 'x-api-key': null });
    await handlers.close?.();
  });

  it('refuses malformed and mistyped keys without any store lookup', async () => {
    const { handlers, store } = await setup();
    const { key } = generateApiKey();
    const typo = key.slice(0, 30) + (key[30] === 'a' ? 'b' : 'a') + key.slice(31);
    const cases: [string, string][] = [
      ['', 'malformed'],
      ['nonsense', 'malformed'],
      [`${key}x`, 'malformed'],
      ['pcl_'.padEnd(5000, 'A'), 'malformed'],
      [typo, 'checksum'],
    ];
    for (const [bad, reason] of cases) {
      const ctx = await run(handlers, ctxOf({ 'x-api-key': bad }));
      assert.equal(ctx.authFailure?.reason, reason, bad.slice(0, 40));
      assert.equal(ctx.authFailure?.credentialId, undefined);
      assert.equal(ctx.principal, undefined);
    }
    assert.equal(store.gets, 0);
    await handlers.close?.();
  });

  it('refuses unknown keys, caching the answer briefly (one lookup for repeated guesses)', async () => {
    const { handlers, store } = await setup();
    const { key, keyId } = generateApiKey();
    for (let i = 0; i < 20; i++) {
      const ctx = await run(handlers, ctxOf({ 'x-api-key': key }));
      assert.equal(ctx.authFailure?.reason, 'unknown_key');
      assert.equal(ctx.authFailure?.credentialId, keyId);
    }
    assert.equal(store.gets, 1);
    await handlers.close?.();
  });

  it('refuses a wrong secret for a known key id; never puts the secret in the failure', async () => {
    const { handlers, service } = await setup();
    const { key, info } = await service.create({ consumer: 'acme' });
    // Same key id, another secret, a valid checksum: only the hash comparison can refuse it.
    const other = generateApiKey();
    const wrong = assembleApiKey(info.id, other.secret);
    const ctx = await run(handlers, ctxOf({ 'x-api-key': wrong }));
    assert.deepEqual(ctx.authFailure, { method: 'api-key', reason: 'bad_secret', credentialId: info.id });
    assert.ok(!JSON.stringify(ctx.authFailure).includes(other.secret));
    assert.ok((await run(handlers, ctxOf({ 'x-api-key': key }))).principal, 'the real key still works');
    // Once the real key has been verified (and its digest cached), a wrong secret is still refused.
    const again = await run(handlers, ctxOf({ 'x-api-key': wrong }));
    assert.deepEqual(again.authFailure, { method: 'api-key', reason: 'bad_secret', credentialId: info.id });
    assert.equal(again.principal, undefined);
    assert.ok((await run(handlers, ctxOf({ 'x-api-key': key }))).principal);
    await handlers.close?.();
  });

  it('serves repeated requests from the cache synchronously', async () => {
    const { handlers, service, store } = await setup();
    const { key } = await service.create({ consumer: 'acme' });
    await run(handlers, ctxOf({ 'x-api-key': key }));
    const gets = store.gets;
    const ctx = ctxOf({ 'x-api-key': key });
    const result = handlers.onRequest?.(ctx);
    assert.equal(result, undefined, 'a cache hit returns no promise');
    assert.equal(ctx.principal?.consumer, 'acme');
    assert.equal(store.gets, gets);
    await handlers.close?.();
  });

  it('a revocation announced by the store takes effect at once, despite the cache', async () => {
    const { handlers, service, store } = await setup();
    const { key, info } = await service.create({ consumer: 'acme' });
    assert.ok((await run(handlers, ctxOf({ 'x-api-key': key }))).principal);
    await store.revoke(info.id, Date.now());
    assert.equal((await run(handlers, ctxOf({ 'x-api-key': key }))).authFailure?.reason, 'revoked');
    await handlers.close?.();
  });

  it('listener(null) drops every cached answer', async () => {
    const { handlers, service, store } = await setup();
    const { key, info } = await service.create({ consumer: 'acme' });
    assert.ok((await run(handlers, ctxOf({ 'x-api-key': key }))).principal);
    // Changed behind the watcher's back, then "changes may have been missed".
    store.records.set(info.id, { ...(store.records.get(info.id) as ApiKeyRecord), revokedAt: 1 });
    assert.ok((await run(handlers, ctxOf({ 'x-api-key': key }))).principal, 'still cached');
    for (const l of store.listeners) l(null);
    assert.equal((await run(handlers, ctxOf({ 'x-api-key': key }))).authFailure?.reason, 'revoked');
    await handlers.close?.();
  });

  it('refuses expired keys and keys used from outside their allowed CIDRs', async () => {
    const { handlers, service, store } = await setup();
    const { key, info } = await service.create({ consumer: 'acme', expiresAt: Date.now() + 60_000 });
    await store.expire(info.id, Date.now() - 1, null);
    assert.equal((await run(handlers, ctxOf({ 'x-api-key': key }))).authFailure?.reason, 'expired');
    const limited = await service.create({ consumer: 'acme', allowedCidrs: ['10.0.0.0/8', '2001:db8::/32'] });
    const h = { 'x-api-key': limited.key };
    assert.ok((await run(handlers, ctxOf(h, '', '10.1.2.3'))).principal);
    assert.ok((await run(handlers, ctxOf(h, '', '::ffff:10.1.2.3'))).principal);
    assert.ok((await run(handlers, ctxOf(h, '', '2001:db8::7'))).principal);
    assert.equal((await run(handlers, ctxOf(h, '', '127.0.0.1'))).authFailure?.reason, 'address_not_allowed');
    assert.equal((await run(handlers, ctxOf(h, '', 'garbage'))).authFailure?.reason, 'address_not_allowed');
    await handlers.close?.();
  });

  it('fails closed as unavailable when the store errors or times out', async () => {
    const { handlers, store } = await setup({ lookupTimeoutMs: 50 });
    const { key, keyId } = generateApiKey();
    store.mode = 'fail';
    let ctx = await run(handlers, ctxOf({ 'x-api-key': key }));
    assert.deepEqual(ctx.authFailure, {
      method: 'api-key',
      reason: 'store_unavailable',
      credentialId: keyId,
      unavailable: true,
    });
    store.mode = 'hang';
    const started = Date.now();
    ctx = await run(handlers, ctxOf({ 'x-api-key': generateApiKey().key }));
    assert.equal(ctx.authFailure?.unavailable, true);
    assert.ok(Date.now() - started < 400);
    await handlers.close?.();
  });

  it('coalesces concurrent lookups of one key id', async () => {
    const { handlers, service, store } = await setup();
    const { key } = await service.create({ consumer: 'acme' });
    const ctxs = Array.from({ length: 20 }, () => ctxOf({ 'x-api-key': key }));
    await Promise.all(ctxs.map((c) => handlers.onRequest?.(c)));
    assert.equal(store.gets, 1);
    for (const c of ctxs) assert.equal(c.principal?.consumer, 'acme');
    await handlers.close?.();
  });

  it('refuses two different keys in one request', async () => {
    const { handlers, service } = await setup();
    const a = await service.create({ consumer: 'acme' });
    const b = await service.create({ consumer: 'other' });
    const ctx = await run(handlers, ctxOf({ 'x-api-key': a.key, authorization: `ApiKey ${b.key}` }));
    assert.equal(ctx.authFailure?.reason, 'multiple_keys');
    const same = await run(handlers, ctxOf({ 'x-api-key': a.key, authorization: `ApiKey ${a.key}` }));
    assert.equal(same.principal?.consumer, 'acme');
    await handlers.close?.();
  });

  it('query parameter: ignored when off; read and removed from the query when on', async () => {
    const off = await setup();
    const k = await off.service.create({ consumer: 'acme' });
    const ignored = await run(off.handlers, ctxOf({}, `api_key=${k.key}`));
    assert.equal(ignored.principal, undefined);
    assert.equal(ignored.query, `api_key=${k.key}`);
    await off.handlers.close?.();

    const on = await setup({ queryParameter: 'api_key' });
    const k2 = await on.service.create({ consumer: 'acme' });
    const ctx = await run(on.handlers, ctxOf({}, `a=1&api_key=${k2.key}&b=2`));
    assert.equal(ctx.principal?.consumer, 'acme');
    assert.equal(ctx.query, 'a=1&b=2');
    const encoded = await run(on.handlers, ctxOf({}, `api%5Fkey=${encodeURIComponent(k2.key)}`));
    assert.equal(encoded.principal?.consumer, 'acme');
    assert.equal(encoded.query, '');
    await on.handlers.close?.();
  });

  it('writes last use behind, in a batch on close', async () => {
    const { handlers, service, store } = await setup();
    const { key, info } = await service.create({ consumer: 'acme' });
    await run(handlers, ctxOf({ 'x-api-key': key }));
    assert.equal(store.touched.size, 0);
    await handlers.close?.();
    assert.ok((store.touched.get(info.id) ?? 0) > 0);
  });
});

describe('takeQueryParameter', () => {
  it('removes every occurrence, keeps the rest byte for byte, survives bad encodings', () => {
    assert.deepEqual(takeQueryParameter('', 'k'), { query: '', values: undefined });
    assert.deepEqual(takeQueryParameter('a=1&b', 'k'), { query: 'a=1&b', values: undefined });
    assert.deepEqual(takeQueryParameter('k=1&a=%zz&k=2', 'k'), { query: 'a=%zz', values: ['1', '2'] });
    assert.deepEqual(takeQueryParameter('k', 'k'), { query: '', values: [''] });
    assert.deepEqual(takeQueryParameter('k=%zz', 'k'), { query: '', values: [''] });
    assert.deepEqual(takeQueryParameter('%zz=1&k=2', 'k'), { query: '%zz=1', values: ['2'] });
    const long = `${'x=1&'.repeat(10000)}k=v`;
    assert.equal(takeQueryParameter(long, 'k').values?.[0], 'v');
  });
});

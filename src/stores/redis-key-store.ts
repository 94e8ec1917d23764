import type { Redis } from 'ioredis';
import { luaScript, whenReady } from './redis.js';
import type { ApiKeyRecord, KeyStore } from './types.js';

// Every key of this store carries the same cluster hash tag, so multi-key scripts stay in one slot.
const TAG = '{apikeys}';

const INSERT = luaScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
local seq = redis.call('INCR', KEYS[4])
redis.call('PUBLISH', ARGV[1], seq .. ':' .. ARGV[2])
return 1
`);

const REVOKE = luaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local current = redis.call('HGET', KEYS[1], 'revokedAt')
if not current or current == '' then redis.call('HSET', KEYS[1], 'revokedAt', ARGV[2]) end
local seq = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], seq .. ':' .. ARGV[3])
return 1
`);

const EXPIRE = luaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'expiresAt', ARGV[2], 'replacedBy', ARGV[3])
local seq = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[1], seq .. ':' .. ARGV[4])
return 1
`);

const TOUCH = luaScript(`
for i, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then
    local cur = tonumber(redis.call('HGET', k, 'lastUsedAt')) or 0
    if tonumber(ARGV[i]) > cur then redis.call('HSET', k, 'lastUsedAt', ARGV[i]) end
  end
end
return 1
`);

const TOUCH_BATCH = 500;

function nullable(n: number | null): string {
  return n === null ? '' : String(n);
}

function num(v: string | undefined): number | null {
  if (v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function strings(v: string | undefined): readonly string[] {
  if (v === undefined || v === '') return Object.freeze([]);
  const parsed = JSON.parse(v) as unknown;
  return Object.freeze(Array.isArray(parsed) ? parsed.filter((x): x is string => typeof x === 'string') : []);
}

function toRecord(id: string, h: Record<string, string>): ApiKeyRecord {
  return Object.freeze({
    id,
    hash: Buffer.from(h.hash ?? '', 'hex'),
    consumer: h.consumer ?? '',
    name: h.name ?? '',
    scopes: strings(h.scopes),
    roles: strings(h.roles),
    allowedCidrs: strings(h.allowedCidrs),
    createdAt: num(h.createdAt) ?? 0,
    expiresAt: num(h.expiresAt),
    revokedAt: num(h.revokedAt),
    lastUsedAt: num(h.lastUsedAt),
    replacedBy: h.replacedBy || null,
  });
}

export interface RedisKeyStoreOptions {
  readonly keyPrefix: string;
  readonly pollMs: number;
  readonly connectTimeoutMs: number;
}

/**
 * API keys in a shared Redis, for several gateway nodes. Each key is a hash; sorted sets index
 * all keys and each consumer's keys by creation time. Every change bumps a counter and is
 * published; watchers get the message at once, and a watcher that misses one (reconnect, lost
 * message) notices through the polled counter and is told listener(null).
 */
export class RedisKeyStore implements KeyStore {
  readonly #redis: Redis;
  readonly #opts: RedisKeyStoreOptions;
  readonly #base: string;
  readonly #seqKey: string;
  readonly #allKey: string;
  readonly #channel: string;
  readonly #listeners = new Set<(id: string | null) => void>();
  #subscriber: Redis | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastSeq: number | undefined;
  #suspect: number | undefined;
  #pollFailed = false;
  #closed = false;

  constructor(redis: Redis, opts: RedisKeyStoreOptions) {
    this.#redis = redis;
    this.#opts = opts;
    this.#base = `${opts.keyPrefix}${TAG}:`;
    this.#seqKey = `${this.#base}seq`;
    this.#allKey = `${this.#base}all`;
    this.#channel = `${this.#base}changes`;
  }

  #recKey(id: string): string {
    return `${this.#base}key:${id}`;
  }

  #consumerKey(consumer: string): string {
    return `${this.#base}consumer:${consumer}`;
  }

  async #ready(): Promise<Redis> {
    if (this.#closed) throw new Error('the key store is closed');
    await whenReady(this.#redis, this.#opts.connectTimeoutMs);
    return this.#redis;
  }

  async insert(r: ApiKeyRecord): Promise<void> {
    const redis = await this.#ready();
    const fields = [
      'hash',
      r.hash.toString('hex'),
      'consumer',
      r.consumer,
      'name',
      r.name,
      'scopes',
      JSON.stringify(r.scopes),
      'roles',
      JSON.stringify(r.roles),
      'allowedCidrs',
      JSON.stringify(r.allowedCidrs),
      'createdAt',
      String(r.createdAt),
      'expiresAt',
      nullable(r.expiresAt),
      'revokedAt',
      nullable(r.revokedAt),
      'lastUsedAt',
      nullable(r.lastUsedAt),
      'replacedBy',
      r.replacedBy ?? '',
    ];
    const added = await INSERT(
      redis,
      [this.#recKey(r.id), this.#allKey, this.#consumerKey(r.consumer), this.#seqKey],
      [this.#channel, r.id, r.createdAt, ...fields],
    );
    if (added !== 1) throw new Error(`an API key with id ${r.id} exists already`);
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    const redis = await this.#ready();
    const h = await redis.hgetall(this.#recKey(id));
    return h.hash === undefined ? undefined : toRecord(id, h);
  }

  async list(filter?: { consumer?: string }): Promise<ApiKeyRecord[]> {
    const redis = await this.#ready();
    const index = filter?.consumer === undefined ? this.#allKey : this.#consumerKey(filter.consumer);
    const ids = await redis.zrevrange(index, 0, -1);
    if (ids.length === 0) return [];
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.#recKey(id));
    const results = (await pipeline.exec()) ?? [];
    const out: ApiKeyRecord[] = [];
    results.forEach(([err, h], i) => {
      if (err) throw err;
      const hash = h as Record<string, string>;
      if (hash.hash !== undefined) out.push(toRecord(ids[i] as string, hash));
    });
    return out;
  }

  async revoke(id: string, at: number): Promise<boolean> {
    const redis = await this.#ready();
    return (await REVOKE(redis, [this.#recKey(id), this.#seqKey], [this.#channel, at, id])) === 1;
  }

  async expire(id: string, at: number, replacedBy: string | null): Promise<boolean> {
    const redis = await this.#ready();
    return (
      (await EXPIRE(redis, [this.#recKey(id), this.#seqKey], [this.#channel, at, replacedBy ?? '', id])) === 1
    );
  }

  async touch(lastUsed: ReadonlyMap<string, number>): Promise<void> {
    if (lastUsed.size === 0) return;
    const redis = await this.#ready();
    const entries = [...lastUsed];
    for (let i = 0; i < entries.length; i += TOUCH_BATCH) {
      const batch = entries.slice(i, i + TOUCH_BATCH);
      await TOUCH(
        redis,
        batch.map(([id]) => this.#recKey(id)),
        batch.map(([, at]) => at),
      );
    }
  }

  watch(listener: (id: string | null) => void): () => void {
    if (this.#closed) throw new Error('the key store is closed');
    if (this.#listeners.size === 0) this.#startWatching();
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stopWatching();
    };
  }

  #emit(id: string | null): void {
    for (const l of this.#listeners) {
      try {
        l(id);
      } catch {
        // One listener's bug must not keep a revocation from the others.
      }
    }
  }

  #startWatching(): void {
    // Pub/sub needs a connection of its own; it may queue its SUBSCRIBE until connected.
    const sub = this.#redis.duplicate({ enableOfflineQueue: true, lazyConnect: false });
    this.#subscriber = sub;
    // The main connection logs outages; this one only must not raise unhandled error events.
    sub.on('error', () => {});
    let readyOnce = false;
    sub.on('ready', () => {
      // After a reconnect, messages sent while away are lost: everything may have changed.
      if (readyOnce) this.#emit(null);
      readyOnce = true;
    });
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      const colon = message.indexOf(':');
      const seq = Number(message.slice(0, colon));
      const id = message.slice(colon + 1);
      if (colon < 1 || !Number.isSafeInteger(seq) || id === '') {
        this.#emit(null);
        return;
      }
      this.#emit(id);
      if (this.#lastSeq !== undefined && seq > this.#lastSeq + 1) this.#emit(null);
      if (this.#lastSeq === undefined || seq > this.#lastSeq) this.#lastSeq = seq;
    });
    sub.subscribe(this.#channel).catch(() => {
      // Reconnection resubscribes; until then the polled counter covers missed changes.
    });
    this.#timer = setInterval(() => void this.#poll(), this.#opts.pollMs);
    this.#timer.unref();
    void this.#poll();
  }

  #stopWatching(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
    this.#lastSeq = undefined;
    this.#suspect = undefined;
  }

  async #poll(): Promise<void> {
    if (this.#closed || this.#redis.status !== 'ready') {
      this.#pollFailed = true;
      return;
    }
    let seq: number;
    try {
      seq = Number((await this.#redis.get(this.#seqKey)) ?? 0);
    } catch {
      this.#pollFailed = true;
      return;
    }
    if (this.#timer === undefined) return;
    if (this.#lastSeq === undefined) {
      // The first answer is the baseline: nothing was known before it, so nothing was missed.
      this.#lastSeq = seq;
      this.#pollFailed = false;
      return;
    }
    if (this.#pollFailed) {
      // We could not look for a while: anything may have changed.
      this.#pollFailed = false;
      this.#lastSeq = Math.max(this.#lastSeq, seq);
      this.#suspect = undefined;
      this.#emit(null);
      return;
    }
    if (seq <= this.#lastSeq) {
      this.#suspect = undefined;
      return;
    }
    // The counter is ahead of the messages seen. Messages arrive within milliseconds, so if it
    // was already ahead at the previous poll and still is, some were missed.
    if (this.#suspect !== undefined && this.#lastSeq < this.#suspect) {
      this.#lastSeq = seq;
      this.#suspect = undefined;
      this.#emit(null);
      return;
    }
    this.#suspect = seq;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopWatching();
    this.#listeners.clear();
  }
}

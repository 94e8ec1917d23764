import { hash, timingSafeEqual } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { RequestContext } from '../../../core/context.js';
import { definePlugin } from '../../../core/plugin.js';
import type { AuthFailure, Principal } from '../../../core/principal.js';
import type { ApiKeyRecord, KeyStore } from '../../../stores/types.js';
import { compileCidrs } from './cidrs.js';
import { parseApiKey, secretMatches } from './format.js';

export const apiKeySchema = Type.Object(
  {
    header: Type.String({
      minLength: 1,
      pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
      description:
        'Request header that carries the key. "Authorization: ApiKey <key>" is always accepted as well.',
      default: 'x-api-key',
    }),
    queryParameter: Type.String({
      description:
        'Query parameter that may carry the key (empty: keys in the URL are ignored). When set, the parameter is removed from the query, so it is neither forwarded nor logged.',
      default: '',
    }),
    forwardKey: Type.Boolean({
      description: 'Send the key on to the upstream (false: the key header, or Authorization, is removed).',
      default: false,
    }),
    cacheTtlMs: Type.Integer({
      minimum: 0,
      maximum: 3600000,
      description:
        'How long a key found in the store is remembered (revocations still take effect within a second through the store watch).',
      default: 30000,
    }),
    negativeCacheTtlMs: Type.Integer({
      minimum: 0,
      maximum: 600000,
      description: 'How long an unknown key id is remembered, so repeated guesses do not reach the store.',
      default: 5000,
    }),
    cacheMaxEntries: Type.Integer({
      minimum: 1,
      maximum: 10000000,
      description: 'Most keys remembered (known and unknown ones each); the oldest are dropped first.',
      default: 10000,
    }),
    lookupTimeoutMs: Type.Integer({
      minimum: 1,
      maximum: 60000,
      description: 'A store lookup taking longer is refused as unavailable (503, fail closed).',
      default: 500,
    }),
  },
  { additionalProperties: false },
);

/** How often last-use times are written back to the store. */
export const TOUCH_INTERVAL_MS = 5000;
/** Most pending last-use times kept between writes. */
const TOUCH_MAX_PENDING = 100000;

const METHOD = 'api-key';

interface Found {
  readonly record: ApiKeyRecord;
  readonly principal: Principal;
  readonly allowed: (clientIp: string) => boolean;
  readonly until: number;
  /**
   * SHA-256 of the secret once it has matched the stored HMAC: later requests compare against it
   * (one fast one-shot hash) instead of recomputing the HMAC. Never the secret itself; like the
   * stored hash, it cannot be turned back into a key.
   */
  verified: Buffer | undefined;
}

/** A small bounded map: insertion order is age; the oldest entries are dropped beyond the bound. */
class BoundedCache<V extends { until: number }> {
  readonly #map = new Map<string, V>();
  constructor(readonly max: number) {}
  get(key: string, now: number): V | undefined {
    const v = this.#map.get(key);
    if (v === undefined) return undefined;
    if (v.until <= now) {
      this.#map.delete(key);
      return undefined;
    }
    return v;
  }
  set(key: string, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.max) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
  }
  delete(key: string): void {
    this.#map.delete(key);
  }
  clear(): void {
    this.#map.clear();
  }
  get size(): number {
    return this.#map.size;
  }
}

function principalOf(r: ApiKeyRecord): Principal {
  return Object.freeze({
    id: `key:${r.id}`,
    kind: 'consumer',
    subject: r.consumer,
    consumer: r.consumer,
    roles: Object.freeze([...r.roles]),
    scopes: Object.freeze([...r.scopes]),
    claims: Object.freeze({ keyName: r.name }),
    credentialId: r.id,
    method: METHOD,
  });
}

function failure(reason: string, credentialId?: string, unavailable?: boolean): AuthFailure {
  return Object.freeze({
    method: METHOD,
    reason,
    ...(credentialId === undefined ? {} : { credentialId }),
    ...(unavailable ? { unavailable: true } : {}),
  });
}

const MALFORMED = failure('malformed');
const CHECKSUM = failure('checksum');
const AMBIGUOUS = failure('multiple_keys');

/** "ApiKey <key>" (scheme case-insensitive, RFC 9110) → the key; anything else → undefined. */
function fromAuthorization(value: string | undefined): string | undefined {
  if (value === undefined || value.length < 7) return undefined;
  if (value.charCodeAt(6) !== 32 || value.slice(0, 6).toLowerCase() !== 'apikey') return undefined;
  return value.slice(7).trim();
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

/**
 * Takes `name` out of a raw query string: returns the remaining query and every value found
 * (undefined if the parameter is absent). Linear, no regular expression on client input.
 */
export function takeQueryParameter(
  query: string,
  name: string,
): { query: string; values: string[] | undefined } {
  if (query === '') return { query, values: undefined };
  let values: string[] | undefined;
  const kept: string[] = [];
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const decodedName = rawName.includes('%') || rawName.includes('+') ? safeDecode(rawName) : rawName;
    if (decodedName === name) {
      values ??= [];
      values.push(eq === -1 ? '' : (safeDecode(part.slice(eq + 1)) ?? ''));
    } else kept.push(part);
  }
  return values === undefined ? { query, values } : { query: kept.join('&'), values };
}

/** The last-use times waiting to be written, flushed every few seconds and on close. */
class TouchBuffer {
  #pending = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;
  constructor(
    readonly store: KeyStore,
    readonly onError: (err: unknown) => void,
  ) {
    this.#timer = setInterval(() => void this.flush(), TOUCH_INTERVAL_MS);
    this.#timer.unref();
  }
  add(id: string, at: number): void {
    if (this.#pending.size >= TOUCH_MAX_PENDING && !this.#pending.has(id)) return;
    this.#pending.set(id, at);
  }
  async flush(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    try {
      await this.store.touch(batch);
    } catch (err) {
      this.onError(err);
    }
  }
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}

class LookupTimeout extends Error {}

export default definePlugin({
  name: 'api-key',
  phase: 'authenticate',
  priority: 600,
  description:
    'Authenticates API keys (pcl_ format) from a header, "Authorization: ApiKey", or an opt-in query parameter against the key store: cached lookups, peppered hashes compared in constant time, revocation on every node within a second.',
  schema: apiKeySchema,
  enabledByDefault: false,
  enforcing: false,
  optional: true,
  create(config, { deps }) {
    const store = deps.stores.keys();
    const pepper = deps.stores.keyPepper();
    const logger = deps.logger.child({ plugin: METHOD });
    const header = config.header.toLowerCase();
    const queryParameter = config.queryParameter;
    const stripHeader = !config.forwardKey;
    const found = new BoundedCache<Found>(config.cacheMaxEntries);
    const missing = new BoundedCache<{ until: number }>(config.cacheMaxEntries);
    const inflight = new Map<string, Promise<ApiKeyRecord | undefined>>();
    // Bumped by every invalidation: a lookup that started before one must not fill the cache.
    let generation = 0;
    let lastErrorLog = 0;

    const logStoreError = (err: unknown, what: string): void => {
      const now = Date.now();
      if (now - lastErrorLog < 5000) return;
      lastErrorLog = now;
      logger.warn({ err: (err as Error).message }, what);
    };

    const unwatch = store.watch((id) => {
      generation++;
      if (id === null) {
        found.clear();
        missing.clear();
      } else {
        found.delete(id);
        missing.delete(id);
      }
    });
    const touches = new TouchBuffer(store, (err) => logStoreError(err, 'could not record API key last use'));

    function lookup(kid: string): Promise<ApiKeyRecord | undefined> {
      let pending = inflight.get(kid);
      if (pending !== undefined) return pending;
      const started = generation;
      pending = new Promise<ApiKeyRecord | undefined>((resolve, reject) => {
        const timer = setTimeout(() => reject(new LookupTimeout()), config.lookupTimeoutMs);
        store.get(kid).then(
          (r) => {
            clearTimeout(timer);
            resolve(r);
          },
          (err: unknown) => {
            clearTimeout(timer);
            reject(err);
          },
        );
      }).then(
        (record) => {
          inflight.delete(kid);
          if (generation === started) {
            const now = Date.now();
            if (record === undefined) missing.set(kid, { until: now + config.negativeCacheTtlMs });
            else
              found.set(kid, {
                record,
                principal: principalOf(record),
                allowed: compileCidrs(record.allowedCidrs),
                until: now + config.cacheTtlMs,
                verified: undefined,
              });
          }
          return record;
        },
        (err: unknown) => {
          inflight.delete(kid);
          throw err;
        },
      );
      inflight.set(kid, pending);
      return pending;
    }

    function decide(ctx: RequestContext, entry: Found, secret: string): void {
      const r = entry.record;
      const verified = entry.verified;
      if (verified !== undefined) {
        const digest = hash('sha256', secret, 'buffer');
        if (!timingSafeEqual(digest, verified)) {
          ctx.authFailure = failure('bad_secret', r.id);
          return;
        }
      } else if (secretMatches(secret, r.hash, pepper)) {
        entry.verified = hash('sha256', secret, 'buffer');
      } else {
        ctx.authFailure = failure('bad_secret', r.id);
        return;
      }
      const now = Date.now();
      if (r.revokedAt !== null && r.revokedAt <= now) {
        ctx.authFailure = failure('revoked', r.id);
        return;
      }
      if (r.expiresAt !== null && r.expiresAt <= now) {
        ctx.authFailure = failure('expired', r.id);
        return;
      }
      if (!entry.allowed(ctx.clientIp)) {
        ctx.authFailure = failure('address_not_allowed', r.id);
        return;
      }
      ctx.principal = entry.principal;
      touches.add(r.id, now);
    }

    function strip(ctx: RequestContext, name: string): void {
      if (ctx.upstreamHeaders === undefined) ctx.upstreamHeaders = {};
      ctx.upstreamHeaders[name] = null;
    }

    /** The presented key, or null when two different keys came along; undefined when none. */
    function presentedKey(ctx: RequestContext): string | null | undefined {
      const headers = ctx.req.headers;
      let key: string | undefined;
      let conflict = false;
      const h = headers[header];
      if (h !== undefined) {
        key = Array.isArray(h) ? h.join(', ') : h;
        if (stripHeader) strip(ctx, header);
      }
      const fromAuth = fromAuthorization(headers.authorization);
      if (fromAuth !== undefined) {
        if (key === undefined) key = fromAuth;
        else if (key !== fromAuth) conflict = true;
        if (stripHeader) strip(ctx, 'authorization');
      }
      if (queryParameter !== '' && ctx.query !== '') {
        const taken = takeQueryParameter(ctx.query, queryParameter);
        if (taken.values !== undefined) {
          // Out of the query: never forwarded, never in the access log.
          ctx.query = taken.query;
          for (const v of taken.values) {
            if (key === undefined) key = v;
            else if (key !== v) conflict = true;
          }
        }
      }
      return conflict ? null : key;
    }

    return {
      challenge: 'ApiKey',
      onRequest: function apiKey(ctx: RequestContext): void | Promise<void> {
        // Read (and strip) the key even when another authenticator already decided: a key must
        // never travel on to the upstream or into the logs by accident.
        const key = presentedKey(ctx);
        if (ctx.principal !== undefined || ctx.authFailure !== undefined || key === undefined) return;
        if (key === null) {
          ctx.authFailure = AMBIGUOUS;
          return;
        }
        const parsed = parseApiKey(key);
        if (!parsed.ok) {
          // Refused on its shape alone: no store lookup for a mistyped or made-up key.
          ctx.authFailure = parsed.reason === 'checksum' ? CHECKSUM : MALFORMED;
          return;
        }
        const { keyId, secret } = parsed;
        const now = Date.now();
        const hit = found.get(keyId, now);
        if (hit !== undefined) {
          decide(ctx, hit, secret);
          return;
        }
        if (missing.get(keyId, now) !== undefined) {
          ctx.authFailure = failure('unknown_key', keyId);
          return;
        }
        return lookup(keyId).then(
          (record) => {
            if (ctx.principal !== undefined || ctx.authFailure !== undefined) return;
            if (record === undefined) {
              ctx.authFailure = failure('unknown_key', keyId);
              return;
            }
            const entry = found.get(keyId, Date.now()) ?? {
              record,
              principal: principalOf(record),
              allowed: compileCidrs(record.allowedCidrs),
              until: 0,
              verified: undefined,
            };
            decide(ctx, entry, secret);
          },
          (err: unknown) => {
            logStoreError(
              err,
              err instanceof LookupTimeout
                ? 'API key store lookup timed out: refusing (fail closed)'
                : 'API key store lookup failed: refusing (fail closed)',
            );
            ctx.authFailure = failure('store_unavailable', keyId, true);
          },
        );
      },
      async close(): Promise<void> {
        unwatch();
        await touches.close();
        found.clear();
        missing.clear();
      },
    };
  },
});

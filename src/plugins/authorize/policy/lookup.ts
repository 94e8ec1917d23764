import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import { request } from 'undici';

export const LookupSchema = Type.Object(
  {
    url: Type.String({
      pattern: '^https?://',
      description:
        'URL asked for the object, with {name} replaced by the route parameter of that name (percent-encoded), e.g. http://orders.internal/orders/{id}.',
      default: 'http://127.0.0.1/',
    }),
    field: Type.String({
      pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$',
      description:
        'Dotted path of the value in the JSON answer that rules see as lookup.<name> (e.g. ownerId).',
      default: 'ownerId',
    }),
    cacheSeconds: Type.Integer({
      minimum: 0,
      maximum: 3600,
      description:
        'How long an answer is reused for the same URL (0: ask every time). A 404 is kept 5 s at most.',
      default: 30,
    }),
    timeoutMs: Type.Integer({
      minimum: 1,
      maximum: 60000,
      description: 'A lookup that takes longer fails, and the rules then see null (and deny).',
      default: 1000,
    }),
  },
  { additionalProperties: false },
);

interface Settings {
  readonly url: string;
  readonly field: string;
  readonly cacheSeconds: number;
  readonly timeoutMs: number;
}

const MAX_CACHED = 10_000;
const MAX_BYTES = 1 << 20;

/**
 * Ownership lookups: before the rules run, ask another service about the object the request names
 * (who owns order 43?), so a write can be checked before it is made. Answers are cached per URL;
 * a failure (timeout, 5xx, not JSON) gives null, never an exception: the rule then denies.
 */
export function createLookups(
  lookups: Readonly<Record<string, Settings>>,
  logger: Logger,
):
  | ((
      params: Readonly<Record<string, string | undefined>>,
      reqId: string,
    ) => Promise<Record<string, unknown>>)
  | undefined {
  const entries = Object.entries(lookups);
  if (entries.length === 0) return undefined;
  const cache = new Map<string, { value: unknown; until: number }>();
  const compiled = entries.map(([name, s]) => ({
    name,
    settings: s,
    parts: s.url.split(/(\{[A-Za-z0-9_]+\})/),
    path: s.field.split('.'),
  }));

  /** Concurrent requests for the same object share one call. */
  const inflight = new Map<string, Promise<unknown>>();

  function fetchValue(
    name: string,
    url: string,
    s: Settings,
    path: string[],
    reqId: string,
  ): Promise<unknown> {
    // Two lookups may ask one URL for different fields: the key names both.
    const key = `${s.field}\n${url}`;
    const hit = cache.get(key);
    if (hit !== undefined && hit.until > Date.now()) return Promise.resolve(hit.value);
    let pending = inflight.get(key);
    if (pending === undefined) {
      pending = callOnce(name, url, key, s, path, reqId).finally(() => inflight.delete(key));
      inflight.set(key, pending);
    }
    return pending;
  }

  async function callOnce(
    name: string,
    url: string,
    key: string,
    s: Settings,
    path: string[],
    reqId: string,
  ): Promise<unknown> {
    try {
      const res = await request(url, {
        method: 'GET',
        headers: { accept: 'application/json' },
        headersTimeout: s.timeoutMs,
        bodyTimeout: s.timeoutMs,
        signal: AbortSignal.timeout(s.timeoutMs),
      });
      if (res.statusCode === 404) {
        await res.body.dump();
        remember(key, null, Math.min(s.cacheSeconds, 5));
        return null;
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new Error(`status ${res.statusCode}`);
      }
      // Counted while reading: a huge (or endless) answer is cut at the limit, never buffered whole.
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_BYTES) {
          res.body.destroy();
          throw Object.assign(new Error('answer too large'), { name: 'TooLarge' });
        }
        chunks.push(chunk);
      }
      let value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      for (const key of path) value = (value as Record<string, unknown> | null)?.[key] ?? null;
      remember(key, value, s.cacheSeconds);
      return value;
    } catch (err) {
      logger.warn(
        { reqId, plugin: 'policy', lookup: name, error: (err as Error).name },
        'policy lookup failed; its rules deny',
      );
      return null;
    }
  }

  function remember(key: string, value: unknown, seconds: number): void {
    if (seconds <= 0) return;
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(key, { value, until: Date.now() + seconds * 1000 });
  }

  return async function lookup(params, reqId) {
    const out: Record<string, unknown> = {};
    await Promise.all(
      compiled.map(async ({ name, settings, parts, path }) => {
        let url = '';
        for (const part of parts) {
          if (part.startsWith('{') && part.endsWith('}')) {
            const value = params[part.slice(1, -1)];
            // A missing parameter cannot name an object: null, and the rule denies.
            if (value === undefined) {
              out[name] = null;
              return;
            }
            url += encodeURIComponent(value);
          } else url += part;
        }
        out[name] = await fetchValue(name, url, settings, path, reqId);
      }),
    );
    return out;
  };
}

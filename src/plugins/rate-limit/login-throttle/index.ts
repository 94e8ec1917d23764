import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { hasRequestBody, readBody } from '../../../core/body.js';
import type { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import { addressGroup } from '../../../core/ip.js';
import { definePlugin } from '../../../core/plugin.js';
import { type LockoutRule, openLockoutCounters } from '../../../ratelimit/lockout.js';
import { compileField, mediaTypeOf, usernamesIn } from './username.js';

const rule = (what: string, freeAttempts: number, windowSeconds: number) =>
  Type.Object(
    {
      freeAttempts: Type.Integer({
        minimum: 0,
        maximum: 1_000_000,
        description: `Failed sign-ins ${what} answered without delay; the last of them starts the backoff (0: this rule is off).`,
        default: freeAttempts,
      }),
      windowSeconds: Type.Integer({
        minimum: 1,
        maximum: 31_536_000,
        description:
          'Failures count within this window (from the first one); a backoff is forgotten this long after its last delay ended.',
        default: windowSeconds,
      }),
      baseDelaySeconds: Type.Integer({
        minimum: 1,
        maximum: 86_400,
        description: 'The first delay; each further failure doubles it.',
        default: 1,
      }),
      maxDelaySeconds: Type.Integer({
        minimum: 1,
        maximum: 86_400,
        description: 'The longest delay.',
        default: 900,
      }),
    },
    { additionalProperties: false, default: {}, description: `Backoff ${what}.` },
  );

export const loginThrottleSchema = Type.Object(
  {
    usernameField: Type.String({
      minLength: 1,
      maxLength: 256,
      description:
        'Where the body names the username. JSON: a top-level member ("username") or a JSON pointer ("/user/email"). Form (application/x-www-form-urlencoded): the field name (the last segment of a pointer). A request without one is counted by its address only.',
      default: 'username',
    }),
    failureStatuses: Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), {
      minItems: 1,
      maxItems: 50,
      description:
        "Upstream statuses that are a failed sign-in. Any other 2xx is a success: it clears the username's count (not the address's).",
      default: [401, 403],
    }),
    perUsername: rule('naming one username (from any address)', 5, 900),
    perIp: rule('from one client address (IPv6: its /64), whatever the username', 20, 900),
    maxBodyBytes: Type.Integer({
      minimum: 1024,
      maximum: 16_777_216,
      description:
        'Largest body read for the username; a larger one is refused with 413 BODY_TOO_LARGE (a sign-in is small, and the route body limit still applies when lower).',
      default: 65536,
    }),
    backend: Type.Union([Type.Literal('memory'), Type.Literal('redis')], {
      description:
        'memory: counters per node. redis: shared by every node (stores.redis); if Redis fails, the node falls back to its own counters and logs it.',
      default: 'memory',
    }),
    maxEntries: Type.Integer({
      minimum: 1000,
      description:
        'Memory backend: most counters kept at once. Entries with nothing to remember go first, then plain counts (least recently failed first); blocks in force go last.',
      default: 100000,
    }),
  },
  { additionalProperties: false },
);

/** The clock the memory counters read (tests move it). */
export const loginThrottleClock: { now: () => number } = { now: () => Date.now() };

function toRule(r: {
  freeAttempts: number;
  windowSeconds: number;
  baseDelaySeconds: number;
  maxDelaySeconds: number;
}): LockoutRule | undefined {
  if (r.freeAttempts === 0) return undefined;
  return {
    // The freeAttempts-th failure starts a delay of baseDelay; every further one doubles it
    // (baseDelay × 2^(failures − freeAttempts), capped), until the backoff is forgotten.
    threshold: r.freeAttempts,
    repeatThreshold: 1,
    windowMs: r.windowSeconds * 1000,
    lockoutMs: r.baseDelaySeconds * 1000,
    maxLockoutMs: Math.max(r.maxDelaySeconds, r.baseDelaySeconds) * 1000,
    memoryMs: r.windowSeconds * 1000,
  };
}

function throttled(ms: number): GatewayError {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  return new GatewayError('LOGIN_THROTTLED', {
    detail: `Retry after ${seconds} second${seconds === 1 ? '' : 's'}.`,
    headers: { 'retry-after': String(seconds) },
  });
}

/** Usernames are hashed before they become keys: neither memory, Redis nor the logs hold them raw. */
function usernameKey(name: string): string {
  return createHash('sha256').update(`login-throttle\u0000${name}`).digest('base64url');
}

/** What a forwarded login attempt counts against, once its answer is known. */
interface Attempt {
  readonly ipKey: string | undefined;
  readonly userKeys: readonly string[];
}

export default definePlugin({
  name: 'login-throttle',
  phase: 'rateLimit',
  // Before the general rate limit: a throttled sign-in costs none of its budget.
  priority: 800,
  description:
    'Slows brute force on login routes: counts failed sign-ins (by the upstream status) per username read from the body and per client address (IPv6 by /64); past the free attempts, refuses with 429 LOGIN_THROTTLED and Retry-After, each further failure doubling the delay, without calling the upstream.',
  schema: loginThrottleSchema,
  enabledByDefault: false,
  enforcing: true,
  optional: true,
  routeScoped: true,
  async create(config, { deps, route, configPath }) {
    let field: ReturnType<typeof compileField>;
    try {
      field = compileField(config.usernameField);
    } catch (err) {
      throw new Error(`${configPath}.usernameField: ${(err as Error).message}`);
    }
    const userRule = toRule(config.perUsername);
    const ipRule = toRule(config.perIp);
    if (userRule === undefined && ipRule === undefined)
      throw new Error(
        `${configPath}: perUsername and perIp are both off (freeAttempts 0): nothing to enforce`,
      );
    const failures = new Set(config.failureStatuses);
    const maxBodyBytes = config.maxBodyBytes;
    const routeId = route?.id ?? '';
    // Each route counts on its own (one login operation, one set of settings).
    const base = `login:${routeId}:`;

    const counters = await openLockoutCounters({
      backend: config.backend,
      stores: deps.stores,
      logger: deps.logger,
      maxEntries: config.maxEntries,
      now: () => loginThrottleClock.now(),
      label: 'login-throttle',
      fields: { route: routeId },
    });

    const enforce = config.mode === 'enforce';
    const attempts = new WeakMap<RequestContext, Attempt>();

    async function usernameKeys(ctx: RequestContext): Promise<string[]> {
      if (userRule === undefined || !hasRequestBody(ctx)) return [];
      // A body the gateway cannot read (too large, cut off) refuses the request: it is never
      // forwarded, so nothing is let through on an error. A sign-in is small: a body larger than
      // maxBodyBytes is refused rather than parsed (or let through uncounted). Monitor mode refuses
      // nothing, so it keeps the route's own limit.
      if (enforce && ctx.bodyLimit > maxBodyBytes) ctx.bodyLimit = maxBodyBytes;
      const body = await readBody(ctx);
      return usernamesIn(field, mediaTypeOf(ctx.req.headers['content-type']), body).map(
        (name) => `${base}u:${usernameKey(name)}`,
      );
    }

    async function longest(keys: readonly string[]): Promise<number> {
      let most = 0;
      const left = await Promise.all(keys.map((k) => counters.blockedFor(k)));
      for (const ms of left) if (ms > most) most = ms;
      return most;
    }

    function started(ctx: RequestContext, kind: string, key: string, ms: number | Promise<number>): void {
      const log = (length: number) => {
        if (length > 0)
          deps.logger.warn(
            { reqId: ctx.id, route: routeId, throttle: kind, key, seconds: Math.ceil(length / 1000) },
            'login throttle delay started',
          );
      };
      if (typeof ms === 'number') log(ms);
      else ms.then(log, () => undefined);
    }

    /** Attempts in flight per counter key on this node (see throttleLogin). */
    const pending = new Map<string, number>();
    const ipInFlight = Math.max(1, config.perIp.freeAttempts);

    const parts: string[] = [];
    if (userRule !== undefined)
      parts.push(`username "${config.usernameField}" ${config.perUsername.freeAttempts} free`);
    if (ipRule !== undefined) parts.push(`address ${config.perIp.freeAttempts} free`);

    return {
      summary: `${parts.join(', ')}; fails on ${[...failures].join('/')} (${config.backend})`,
      onRequest: async function throttleLogin(ctx: RequestContext): Promise<void> {
        if (ctx.preflight) return;
        const ipKey = ipRule === undefined ? undefined : `${base}ip:${addressGroup(ctx.clientIp, 64)}`;
        const ipLeft = ipKey === undefined ? 0 : await counters.blockedFor(ipKey);
        // The address first: a throttled client's body is not even read (monitor mode reads it,
        // since the request goes on and its outcome counts).
        if (ipLeft > 0 && enforce) throw throttled(ipLeft);
        const userKeys = await usernameKeys(ctx);
        const left = userKeys.length === 0 ? ipLeft : Math.max(ipLeft, await longest(userKeys));
        if (left > 0) throw throttled(left);
        // Failures are counted when the upstream has answered, so attempts sent side by side would
        // all be checked against the count as it stood: one attempt per username (and at most the
        // free attempts per address) may be in flight on this node; the others wait their turn.
        for (const key of userKeys) if ((pending.get(key) ?? 0) >= 1) throw throttled(1000);
        if (ipKey !== undefined && (pending.get(ipKey) ?? 0) >= ipInFlight) throw throttled(1000);
        for (const key of userKeys) pending.set(key, (pending.get(key) ?? 0) + 1);
        if (ipKey !== undefined) pending.set(ipKey, (pending.get(ipKey) ?? 0) + 1);
        attempts.set(ctx, { ipKey, userKeys });
      },
      onLog: function countLogin(ctx: RequestContext): void {
        const attempt = attempts.get(ctx);
        if (attempt === undefined) return;
        attempts.delete(ctx);
        for (const key of attempt.ipKey === undefined
          ? attempt.userKeys
          : [...attempt.userKeys, attempt.ipKey]) {
          const n = (pending.get(key) ?? 1) - 1;
          if (n <= 0) pending.delete(key);
          else pending.set(key, n);
        }
        // Only what the upstream answered counts: a refused or abandoned request is no sign-in.
        const status = ctx.upstreamStatus;
        if (status === 0) return;
        try {
          if (failures.has(status)) {
            if (attempt.ipKey !== undefined && ipRule !== undefined)
              started(ctx, 'address', attempt.ipKey, counters.fail(attempt.ipKey, ipRule));
            if (userRule !== undefined)
              for (const key of attempt.userKeys) started(ctx, 'username', key, counters.fail(key, userRule));
          } else if (status >= 200 && status < 300 && attempt.userKeys.length === 1) {
            // A success clears the username, not the address: one good account must not reset a
            // spray. A body naming two (a repeated field) clears neither: the attacker's own account
            // must not wipe the count of the one it names beside it.
            const done = counters.clear(attempt.userKeys[0] as string);
            if (done !== undefined) done.catch(() => undefined);
          }
        } catch (err) {
          deps.logger.error(
            { reqId: ctx.id, err: (err as Error).message },
            'login-throttle: counting failed',
          );
        }
      },
      close: () => counters.close(),
    };
  },
});

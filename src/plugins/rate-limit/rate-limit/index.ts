import { createHash, randomUUID } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import {
  type CompiledExpression,
  compileExpression,
  errorKind,
  principalView,
  RequestView,
  RouteView,
  requestFactsOf,
} from '../../../cel/cel.js';
import type { RequestContext } from '../../../core/context.js';
import { type ErrorCode, GatewayError } from '../../../core/errors.js';
import { addressGroup } from '../../../core/ip.js';
import { definePlugin } from '../../../core/plugin.js';
import { registerStoreHealth } from '../../../observability/metrics.js';
import { LimitStoreUnavailable, ResilientBackend } from '../../../ratelimit/fallback.js';
import { concurrencyItem, policyItem, rateItem, retryAfterSeconds } from '../../../ratelimit/headers.js';
import type { Charge, Decision, Limit, LimitBackend } from '../../../ratelimit/types.js';
import { windowSecondsOf } from '../../../ratelimit/types.js';
import { whenReady } from '../../../stores/redis.js';

const NAME = { pattern: '^[A-Za-z0-9_.-]{1,32}$' };

const limitSchema = Type.Object(
  {
    name: Type.String({
      ...NAME,
      description: 'Policy name, sent in the RateLimit fields ("burst", "sustained").',
    }),
    algorithm: Type.Union([Type.Literal('gcra'), Type.Literal('sliding-window')], {
      description:
        'gcra: a bucket of `burst` requests refilled at limit/window (smooth, no boundary bursts, one number per client). sliding-window: at most `limit` in ANY interval of the window (exact; keeps one entry per admission, so limit ≤ 10000).',
      default: 'gcra',
    }),
    limit: Type.Integer({
      minimum: 1,
      maximum: 1_000_000_000,
      description: 'Requests (cost units) per window.',
    }),
    windowSeconds: Type.Number({
      exclusiveMinimum: 0,
      maximum: 31_536_000,
      description: 'The window, in seconds.',
    }),
    burst: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          'gcra: requests admitted at once from a full bucket. Default: `limit` (a whole window at once).',
      }),
    ),
  },
  { additionalProperties: false },
);

const quotaSchema = Type.Object(
  {
    name: Type.String({ ...NAME, description: 'Policy name, sent in the RateLimit fields ("daily").' }),
    limit: Type.Integer({ minimum: 1, description: 'Requests (cost units) per period.' }),
    period: Type.Union([Type.Literal('day'), Type.Literal('month')], {
      description:
        'Calendar period (UTC): the quota is whole again at midnight UTC, or on the 1st of the month.',
    }),
  },
  { additionalProperties: false },
);

const concurrencySchema = Type.Object(
  {
    limit: Type.Integer({
      minimum: 0,
      description: 'Requests of one client in flight at once (0: no limit).',
      default: 0,
    }),
    leaseSeconds: Type.Integer({
      minimum: 1,
      description:
        'A slot whose release was lost (a node crashed mid-request) lapses after this long. Longer than the slowest request.',
      default: 300,
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'In-flight requests per caller (answers 429 CONCURRENCY_LIMITED past the limit).',
  },
);

const tierSchema = Type.Object(
  {
    limits: Type.Array(limitSchema, { default: [], description: 'Rate limits of this tier.' }),
    quotas: Type.Array(quotaSchema, { default: [], description: 'Quotas of this tier.' }),
    concurrency: Type.Optional(concurrencySchema),
  },
  { additionalProperties: false },
);

export const rateLimitSchema = Type.Object(
  {
    key: Type.Union(
      [
        Type.Literal('principal'),
        Type.Literal('consumer'),
        Type.Literal('api-key'),
        Type.Literal('ip'),
        Type.Literal('route'),
        Type.Literal('header'),
        Type.Literal('expression'),
      ],
      {
        description:
          "Whose counter a request charges. principal: the authenticated caller (anonymous callers: their address group). consumer: the principal's consumer (else as principal). api-key: the API key id (else the address group). ip: the client address, IPv6 grouped by ipv6Prefix. route: one counter for everybody. header: the value of `header` (absent: the address group). expression: the string a CEL `expression` gives (an error or an empty string: the address group).",
        default: 'principal',
      },
    ),
    header: Type.String({ description: 'key: header — the request header to key by.', default: '' }),
    expression: Type.String({
      description:
        'key: expression — a CEL expression giving a string, over principal, request and route (as in plugins.policy), e.g. principal.tenant.',
      default: '',
    }),
    scope: Type.Union([Type.Literal('route'), Type.Literal('global')], {
      description:
        'route: each route counts on its own. global: every route with scope global shares the counters of a client (one budget across the API); a name must then mean one algorithm everywhere (checked at start-up).',
      default: 'route',
    }),
    ipv6Prefix: Type.Integer({
      minimum: 32,
      maximum: 128,
      description: 'IPv6 clients are counted per prefix of this length (a host usually holds a whole /64).',
      default: 64,
    }),
    ipv4Prefix: Type.Integer({
      minimum: 8,
      maximum: 32,
      description: 'IPv4 clients per prefix of this length.',
      default: 32,
    }),
    limits: Type.Array(limitSchema, {
      default: [],
      description:
        'Rate limits for every caller (several: e.g. a burst and a sustained rate); all must admit.',
    }),
    quotas: Type.Array(quotaSchema, {
      default: [],
      description: 'Daily or monthly quotas for every caller.',
    }),
    concurrency: concurrencySchema,
    cost: Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      description: "Units this route's requests cost (an expensive operation may cost 10).",
      default: 1,
    }),
    plans: Type.Object(
      {
        claim: Type.String({
          minLength: 1,
          description:
            "Principal claim (JWT claim, introspection field) naming the caller's tier; when absent or unknown, a role named like a tier; else `defaultTier`.",
          default: 'plan',
        }),
        defaultTier: Type.String({
          description: 'Tier of callers without one (and of anonymous callers).',
          default: '',
        }),
        tiers: Type.Record(Type.String({ ...NAME }), tierSchema, {
          description: 'Limits, quotas and concurrency per tier, applied besides the ones above.',
          default: {},
        }),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'Plan tiers (free, premium…): none when `tiers` is empty.',
      },
    ),
    backend: Type.Union([Type.Literal('memory'), Type.Literal('redis')], {
      description:
        "memory: this node's counters (exact for one node). redis: counters shared by every node (stores.redis), exact across nodes.",
      default: 'memory',
    }),
    onStoreFailure: Type.Union([Type.Literal('local'), Type.Literal('allow'), Type.Literal('deny')], {
      description:
        "redis backend, when Redis fails or is slower than storeTimeoutMs: local — count on this node's own counters (each node admits up to the limit); allow — admit (fail open, an explicit choice); deny — refuse with 503 RATE_LIMIT_UNAVAILABLE.",
      default: 'local',
    }),
    storeTimeoutMs: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      description: 'redis backend: longest wait for a decision before the onStoreFailure policy decides.',
      default: 100,
    }),
    headers: Type.Boolean({
      description:
        'Send RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers) on every answer of the route.',
      default: true,
    }),
  },
  { additionalProperties: false },
);

type Config = Static<typeof rateLimitSchema>;
type LimitConfig = Static<typeof limitSchema>;
type QuotaConfig = Static<typeof quotaSchema>;
type TierConfig = Static<typeof tierSchema>;

/** What one tier (or the route without plans) charges: compiled once. */
interface Tier {
  readonly limits: readonly Limit[];
  readonly concurrency: { readonly limit: number; readonly leaseMs: number } | undefined;
  /** RateLimit-Policy value (null: nothing to tell). */
  readonly policy: string | null;
}

/** The clock the stage reads (tests move it). */
export const rateLimitClock: { now: () => number } = { now: () => Date.now() };

function toLimits(limits: readonly LimitConfig[], quotas: readonly QuotaConfig[], where: string): Limit[] {
  const out: Limit[] = [];
  const names = new Set<string>();
  for (const l of limits) {
    const windowMs = Math.round(l.windowSeconds * 1000);
    if (l.algorithm === 'sliding-window') {
      if (l.limit > 10_000)
        throw new Error(
          `${where}: sliding-window limit "${l.name}" is ${l.limit}; at most 10000 (it keeps one entry per admission): use gcra for larger limits`,
        );
      if (l.burst !== undefined)
        throw new Error(`${where}: "burst" applies to gcra limits only ("${l.name}")`);
      out.push({ kind: 'sliding-window', name: l.name, limit: l.limit, windowMs });
    } else out.push({ kind: 'gcra', name: l.name, limit: l.limit, windowMs, burst: l.burst ?? l.limit });
  }
  for (const q of quotas) out.push({ kind: 'quota', name: q.name, limit: q.limit, period: q.period });
  for (const l of out) {
    if (names.has(l.name)) throw new Error(`${where}: two limits are named "${l.name}"`);
    names.add(l.name);
  }
  return out;
}

function compileTier(
  base: readonly Limit[],
  baseConcurrency: Config['concurrency'],
  tier: TierConfig | undefined,
  where: string,
): Tier {
  const own = tier === undefined ? [] : toLimits(tier.limits, tier.quotas, where);
  const limits = [...base, ...own];
  const seen = new Set<string>();
  for (const l of limits) {
    if (seen.has(l.name))
      throw new Error(`${where}: a tier limit repeats the name "${l.name}" of a route limit`);
    seen.add(l.name);
  }
  const c =
    tier?.concurrency !== undefined && tier.concurrency.limit > 0 ? tier.concurrency : baseConcurrency;
  const concurrency = c.limit === 0 ? undefined : { limit: c.limit, leaseMs: c.leaseSeconds * 1000 };
  const items = limits.map((l) => policyItem(l.name, l.limit, windowSecondsOf(l)));
  if (concurrency !== undefined)
    items.push(policyItem('concurrency', concurrency.limit, undefined, 'concurrent-requests'));
  return { limits, concurrency, policy: items.length === 0 ? null : items.join(', ') };
}

/**
 * Identities are hashed before they become counter keys: a header value may be a credential (an
 * API key header), and no principal id, header value or expression result should sit readable in
 * Redis key names. Addresses and "route" stay readable (operators look them up).
 */
function compactId(prefix: string, id: string): string {
  return `${prefix}#${createHash('sha256').update(id).digest('base64url').slice(0, 32)}`;
}

/** Limits shared by `scope: global` routes, per plan: one definition per name. */
const GLOBAL_DEFINITIONS = new WeakMap<object, Map<string, string>>();

/**
 * What a counter's state means: its algorithm (and a quota's period). Rates may differ between
 * tiers or routes sharing a name (each checks its own numbers against the shared state); the
 * algorithm may not — a counter read by another algorithm is reset, which would be a way round it.
 */
function signatureOf(l: Limit): string {
  return l.kind === 'quota' ? `a ${l.period}ly quota` : `a ${l.kind} limit`;
}

function codeOf(limit: Limit | undefined): ErrorCode {
  return limit?.kind === 'quota' ? 'QUOTA_EXCEEDED' : 'RATE_LIMITED';
}

export default definePlugin({
  name: 'rate-limit',
  phase: 'rateLimit',
  priority: 500,
  description:
    'Limits requests per caller (principal, consumer, API key, address group, header or CEL expression): GCRA and exact sliding windows, daily and monthly quotas, concurrency, per-route cost and plan tiers; memory or Redis counters with a fallback policy; RateLimit and RateLimit-Policy fields, 429 with Retry-After.',
  schema: rateLimitSchema,
  enabledByDefault: false,
  enforcing: true,
  optional: true,
  async create(config, { deps, route, configPath }) {
    const base = toLimits(config.limits, config.quotas, configPath);
    const plain = compileTier(base, config.concurrency, undefined, configPath);
    const tiers = new Map<string, Tier>();
    const plans = Object.keys(config.plans.tiers).length === 0 ? undefined : config.plans;
    if (plans !== undefined) {
      if (plans.tiers[plans.defaultTier] === undefined)
        throw new Error(`${configPath}.plans: defaultTier "${plans.defaultTier}" is not among the tiers`);
      for (const [name, t] of Object.entries(plans.tiers))
        tiers.set(name, compileTier(base, config.concurrency, t, `${configPath}.plans.tiers.${name}`));
    }
    const defaultTier = plans === undefined ? plain : (tiers.get(plans.defaultTier) as Tier);
    const allTiers = [plain, ...tiers.values()];
    // A cost that no limit can ever hold would answer 429 forever while promising a Retry-After.
    for (const t of allTiers)
      for (const l of t.limits) {
        const room = l.kind === 'gcra' ? l.burst : l.limit;
        if (config.cost > room)
          throw new Error(
            `${configPath}: cost ${config.cost} is more than limit "${l.name}" can ever admit at once (${room}); raise its ${l.kind === 'gcra' ? 'burst' : 'limit'} or lower the cost`,
          );
      }
    {
      // Counters shared by name (tiers of a route; every route with scope global) must mean the
      // same thing: two algorithms under one name would reset each other's counters.
      const shared = config.scope === 'global' ? 'global' : `route ${route?.id ?? ''}`;
      let defs = GLOBAL_DEFINITIONS.get(deps.stores);
      if (defs === undefined) {
        defs = new Map();
        GLOBAL_DEFINITIONS.set(deps.stores, defs);
      }
      for (const t of allTiers)
        for (const l of t.limits) {
          const sig = signatureOf(l);
          const seen = defs.get(`${shared}\u0000${l.name}`);
          if (seen !== undefined && seen !== sig)
            throw new Error(
              `${configPath}: limit "${l.name}" is ${sig} here but ${seen} elsewhere (${shared}); counters shared by name must use one algorithm — rename one`,
            );
          defs.set(`${shared}\u0000${l.name}`, sig);
        }
    }
    const anyLimits =
      plain.limits.length > 0 ||
      plain.concurrency !== undefined ||
      [...tiers.values()].some((t) => t.limits.length > 0 || t.concurrency !== undefined);
    if (!anyLimits) throw new Error(`${configPath}: no limits, quotas or concurrency to enforce`);

    if (config.key === 'header' && config.header === '')
      throw new Error(`${configPath}: key "header" needs "header" (the header to key by)`);
    if (config.key === 'expression' && config.expression === '')
      throw new Error(
        `${configPath}: key "expression" needs "expression" (a CEL expression giving a string)`,
      );
    let expression: CompiledExpression | undefined;
    if (config.key === 'expression') {
      try {
        expression = compileExpression(config.expression, 'request', 'string');
      } catch (err) {
        throw new Error(`${configPath}.expression: ${(err as Error).message}`);
      }
    }
    const headerName = config.header.toLowerCase();
    const routeId = route?.id ?? '';
    const scope = config.scope === 'global' ? 'g' : `r:${routeId}`;
    const routeView = new RouteView(routeId, route?.path ?? '');
    const v6 = config.ipv6Prefix;
    const v4 = config.ipv4Prefix;

    const local = deps.stores.limitMemory();
    let backend: LimitBackend = local;
    if (config.backend === 'redis') {
      const redis = deps.stores.redis();
      // The first connection is waited for at start-up (bounded), so the first requests are not
      // decided by the failure policy for being early; if Redis is down now, the policy decides.
      await whenReady(redis, deps.stores.redisConnectTimeoutMs).catch(() => undefined);
      backend = new ResilientBackend(
        deps.stores.limitRedis(),
        local,
        config.onStoreFailure,
        config.storeTimeoutMs,
        deps.logger.child({ plugin: 'rate-limit', route: routeId }),
        () => redis.status === 'ready',
      );
      registerStoreHealth('redis', (backend as ResilientBackend).stats);
    }

    const address = (ctx: RequestContext): string => `ip:${addressGroup(ctx.clientIp, v6, v4)}`;

    function identity(ctx: RequestContext): string {
      const p = ctx.principal;
      const known = p !== undefined && p.kind !== 'anonymous';
      switch (config.key) {
        case 'principal':
          return known ? compactId('p', p.id) : address(ctx);
        case 'consumer':
          if (known && p.consumer !== undefined) return compactId('c', p.consumer);
          return known ? compactId('p', p.id) : address(ctx);
        case 'api-key':
          return known && p.method === 'api-key' && p.credentialId !== undefined
            ? compactId('k', p.credentialId)
            : address(ctx);
        case 'ip':
          return address(ctx);
        case 'route':
          return 'route';
        case 'header': {
          const v = ctx.req.headers[headerName];
          const s = Array.isArray(v) ? v.join(',') : v;
          return s === undefined || s === '' ? address(ctx) : compactId('h', s);
        }
        case 'expression': {
          try {
            const v = (expression as CompiledExpression)({
              principal: principalView(p),
              request: new RequestView(requestFactsOf(ctx)),
              route: routeView,
              lookup: {},
            });
            if (typeof v === 'string' && v !== '') return compactId('x', v);
          } catch (err) {
            deps.logger.warn(
              { reqId: ctx.id, err: errorKind(err) },
              'rate-limit: key expression failed; keyed by address',
            );
          }
          return address(ctx);
        }
      }
    }

    function tierOf(ctx: RequestContext): Tier {
      if (plans === undefined) return plain;
      const p = ctx.principal;
      if (p === undefined || p.kind === 'anonymous') return defaultTier;
      const claimed = p.claims[plans.claim];
      if (typeof claimed === 'string') {
        const t = tiers.get(claimed);
        if (t !== undefined) return t;
      }
      for (const r of p.roles) {
        const t = tiers.get(r);
        if (t !== undefined) return t;
      }
      return defaultTier;
    }

    const cost = config.cost;
    const sendHeaders = config.headers;
    /** Concurrency slots held by requests in flight on this route: released in the log phase. */
    const held = new WeakMap<RequestContext, string>();

    function refuse(code: ErrorCode, retryMs: number, headers: Record<string, string>): never {
      const seconds = retryAfterSeconds(retryMs);
      throw new GatewayError(code, {
        detail: `Retry after ${seconds} second${seconds === 1 ? '' : 's'}.`,
        headers: { ...headers, 'retry-after': String(seconds) },
      });
    }

    function fieldsOf(tier: Tier, d: Decision | undefined, free: number | undefined): Record<string, string> {
      if (!sendHeaders || tier.policy === null) return {};
      const items: string[] = d === undefined ? [] : d.outcomes.map(rateItem);
      if (free !== undefined) items.push(concurrencyItem('concurrency', free));
      const out: Record<string, string> = { 'ratelimit-policy': tier.policy };
      if (items.length > 0) out.ratelimit = items.join(', ');
      return out;
    }

    async function limitRequest(ctx: RequestContext): Promise<void> {
      if (ctx.preflight) return;
      const tier = tierOf(ctx);
      const key = `${scope}|${identity(ctx)}`;
      const now = rateLimitClock.now();
      let decision: Decision | undefined;
      let free: number | undefined;
      try {
        if (tier.limits.length > 0) {
          const charges: Charge[] = tier.limits.map((limit) => ({ key, limit, cost }));
          decision = await backend.charge(charges, now);
          if (!decision.allowed) {
            const refusing = decision.outcomes.findIndex((o) => !o.allowed);
            refuse(codeOf(tier.limits[refusing]), decision.retryAfterMs, fieldsOf(tier, decision, undefined));
          }
        }
        if (tier.concurrency !== undefined) {
          const token = randomUUID();
          const lease = await backend.acquire(
            key,
            tier.concurrency.limit,
            tier.concurrency.leaseMs,
            token,
            now,
          );
          if (!lease.acquired) refuse('CONCURRENCY_LIMITED', 1000, fieldsOf(tier, decision, 0));
          held.set(ctx, `${key}\u0000${token}`);
          free = Math.max(0, tier.concurrency.limit - lease.inFlight);
        }
      } catch (err) {
        if (err instanceof LimitStoreUnavailable)
          throw new GatewayError('RATE_LIMIT_UNAVAILABLE', { headers: { 'retry-after': '1' } });
        throw err;
      }
      const fields = fieldsOf(tier, decision, free);
      if (fields['ratelimit-policy'] !== undefined)
        ctx.responseHeaders =
          ctx.responseHeaders === undefined ? fields : Object.assign(ctx.responseHeaders, fields);
    }

    const parts = [
      ...plain.limits.map((l) =>
        l.kind === 'quota'
          ? `${l.name} ${l.limit}/${l.period}`
          : `${l.name} ${l.limit}/${l.windowMs / 1000}s`,
      ),
    ];
    if (plain.concurrency !== undefined) parts.push(`${plain.concurrency.limit} in flight`);
    if (plans !== undefined) parts.push(`tiers ${[...tiers.keys()].join('/')}`);

    return {
      summary: `per ${config.key}: ${parts.join(', ')}${cost > 1 ? `, cost ${cost}` : ''} (${config.backend})`,
      onRequest: limitRequest,
      onLog: function releaseSlot(ctx: RequestContext): void {
        const h = held.get(ctx);
        if (h === undefined) return;
        held.delete(ctx);
        const sep = h.indexOf('\u0000');
        backend.release(h.slice(0, sep), h.slice(sep + 1)).catch(() => undefined);
      },
    };
  },
});

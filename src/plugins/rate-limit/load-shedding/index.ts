import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Type } from '@sinclair/typebox';
import type { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import { definePlugin } from '../../../core/plugin.js';

export const loadSheddingSchema = Type.Object(
  {
    maxEventLoopDelayMs: Type.Integer({
      minimum: 0,
      description:
        'Event-loop delay (the 99th percentile over the last sample) at which pressure reaches 1: the process is too busy to answer in time. 0: not watched.',
      default: 200,
    }),
    maxInFlight: Type.Integer({
      minimum: 0,
      description: 'Requests in flight in this gateway process at which pressure reaches 1. 0: not watched.',
      default: 2000,
    }),
    sampleMs: Type.Integer({
      minimum: 50,
      maximum: 10_000,
      description: 'How often the event-loop delay is read (and its histogram restarted).',
      default: 500,
    }),
    shedAt: Type.Object(
      {
        anonymous: Type.Number({
          minimum: 0.1,
          description: 'Pressure at which requests without a principal are shed.',
          default: 1,
        }),
        authenticated: Type.Number({
          minimum: 0.1,
          description: 'Pressure at which authenticated requests are shed.',
          default: 1.5,
        }),
        premium: Type.Number({
          minimum: 0.1,
          description: 'Pressure at which premium requests are shed (last).',
          default: 2,
        }),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          'Pressure is the larger of delay/maxEventLoopDelayMs and inFlight/maxInFlight; each class of caller is shed from its own level, so premium traffic is shed last.',
      },
    ),
    premium: Type.Object(
      {
        roles: Type.Array(Type.String({ minLength: 1 }), {
          default: [],
          description: 'A principal with one of these roles is premium.',
        }),
        claim: Type.String({
          description: 'A principal claim naming its plan (e.g. "plan"); empty: none.',
          default: 'plan',
        }),
        plans: Type.Array(Type.String({ minLength: 1 }), {
          default: [],
          description: 'Plan names (values of `claim`) that are premium.',
        }),
      },
      { additionalProperties: false, default: {}, description: 'Which authenticated callers are premium.' },
    ),
    retryAfterSeconds: Type.Integer({
      minimum: 1,
      maximum: 3600,
      description: 'Retry-After sent with the 503.',
      default: 2,
    }),
  },
  { additionalProperties: false },
);

/**
 * One event-loop delay monitor per process, shared by every route's instance: started by the first
 * instance, stopped when the last one closes. `lagMs` is the last sample's 99th percentile.
 */
const loop = {
  users: 0,
  lagMs: 0,
  histogram: undefined as ReturnType<typeof monitorEventLoopDelay> | undefined,
  timer: undefined as NodeJS.Timeout | undefined,
  sampleMs: 500,
};

function startLoop(sampleMs: number): void {
  loop.users++;
  if (loop.users > 1) {
    loop.sampleMs = Math.min(loop.sampleMs, sampleMs);
    return;
  }
  loop.sampleMs = sampleMs;
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  loop.histogram = h;
  const tick = (): void => {
    loop.lagMs = h.count > 0 ? h.percentile(99) / 1e6 : 0;
    h.reset();
    loop.timer = setTimeout(tick, loop.sampleMs);
    loop.timer.unref();
  };
  loop.timer = setTimeout(tick, loop.sampleMs);
  loop.timer.unref();
}

function stopLoop(): void {
  loop.users--;
  if (loop.users > 0) return;
  clearTimeout(loop.timer);
  loop.histogram?.disable();
  loop.histogram = undefined;
  loop.lagMs = 0;
}

/** The last event-loop delay sample, in ms (for the metrics and the tests). */
export function eventLoopDelayMs(): number {
  return loop.lagMs;
}

export default definePlugin({
  name: 'load-shedding',
  phase: 'rateLimit',
  // Before the rate limiter: shedding must cost less than counting.
  priority: 900,
  description:
    'Sheds load when the event-loop delay or the requests in flight pass a threshold: 503 OVERLOADED with Retry-After; anonymous traffic first, then authenticated, premium last.',
  schema: loadSheddingSchema,
  enabledByDefault: false,
  enforcing: true,
  optional: true,
  create(config, { deps }) {
    const lagLimit = config.maxEventLoopDelayMs;
    const flightLimit = config.maxInFlight;
    if (lagLimit === 0 && flightLimit === 0)
      throw new Error('load-shedding: maxEventLoopDelayMs and maxInFlight are both 0; nothing to watch');
    const premiumRoles = new Set(config.premium.roles);
    const premiumPlans = new Set(config.premium.plans);
    const claim = config.premium.claim;
    const { anonymous, authenticated, premium } = config.shedAt;
    const retryAfter = String(config.retryAfterSeconds);
    if (lagLimit > 0) startLoop(config.sampleMs);
    let lastLog = 0;

    function levelOf(ctx: RequestContext): number {
      const p = ctx.principal;
      if (p === undefined || p.kind === 'anonymous') return anonymous;
      if (p.roles.some((r) => premiumRoles.has(r))) return premium;
      const plan = claim === '' ? undefined : p.claims[claim];
      if (typeof plan === 'string' && premiumPlans.has(plan)) return premium;
      return authenticated;
    }

    return {
      summary: `shed at ${[lagLimit > 0 ? `${lagLimit} ms delay` : '', flightLimit > 0 ? `${flightLimit} in flight` : ''].filter(Boolean).join(' or ')}`,
      onRequest: function shedLoad(ctx: RequestContext): void {
        const lag = lagLimit > 0 ? loop.lagMs / lagLimit : 0;
        const flight = flightLimit > 0 ? ctx.server.inFlight / flightLimit : 0;
        const pressure = Math.max(lag, flight);
        if (pressure < anonymous && pressure < authenticated && pressure < premium) return;
        if (pressure < levelOf(ctx)) return;
        const now = Date.now();
        if (now - lastLog > 1000) {
          lastLog = now;
          deps.logger.warn(
            {
              pressure: Math.round(pressure * 100) / 100,
              lagMs: Math.round(loop.lagMs),
              inFlight: ctx.server.inFlight,
            },
            'load-shedding: shedding requests',
          );
        }
        throw new GatewayError('OVERLOADED', { headers: { 'retry-after': retryAfter } });
      },
      close: () => {
        if (lagLimit > 0) stopLoop();
      },
    };
  },
});

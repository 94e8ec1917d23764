import { Type } from '@sinclair/typebox';
import type { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import { definePlugin } from '../../../core/plugin.js';
import type { AuthAttempts, AuthFailure } from '../../../core/principal.js';
import { type LockoutRule, lockoutAddress, openLockoutCounters } from '../../../ratelimit/lockout.js';

const rule = (what: string, threshold: number, windowSeconds: number, lockoutSeconds: number) =>
  Type.Object(
    {
      threshold: Type.Integer({
        minimum: 0,
        description: `Failed authentications ${what} within the window that start a lockout (0: count but never lock).`,
        default: threshold,
      }),
      windowSeconds: Type.Integer({ minimum: 1, description: 'Counting window.', default: windowSeconds }),
      lockoutSeconds: Type.Integer({
        minimum: 1,
        description: 'First lockout; each repeated lockout doubles it.',
        default: lockoutSeconds,
      }),
      maxLockoutSeconds: Type.Integer({ minimum: 1, description: 'Longest lockout.', default: 3600 }),
    },
    { additionalProperties: false, default: {}, description: `Lockout ${what}.` },
  );

export const authLockoutSchema = Type.Object(
  {
    perIp: rule('from one client IP', 20, 60, 60),
    perCredential: rule('naming one credential id (API key id, signature key id)', 50, 600, 300),
    backend: Type.Union([Type.Literal('memory'), Type.Literal('redis')], {
      description:
        'memory: counters per node. redis: shared by every node (stores.redis); if Redis fails, the node falls back to its own counters.',
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

function toRule(r: {
  threshold: number;
  windowSeconds: number;
  lockoutSeconds: number;
  maxLockoutSeconds: number;
}): LockoutRule {
  return {
    threshold: r.threshold === 0 ? Number.POSITIVE_INFINITY : r.threshold,
    windowMs: r.windowSeconds * 1000,
    lockoutMs: r.lockoutSeconds * 1000,
    maxLockoutMs: Math.max(r.maxLockoutSeconds, r.lockoutSeconds) * 1000,
  };
}

function locked(ms: number): GatewayError {
  return new GatewayError('AUTH_LOCKED', { headers: { 'retry-after': String(Math.ceil(ms / 1000)) } });
}

export default definePlugin({
  name: 'auth-lockout',
  phase: 'authenticate',
  // First in its phase: a locked-out client costs no signature check or store lookup.
  priority: 1000,
  description:
    'Counts failed authentications per client IP and per credential id; past a threshold, refuses them with 429 AUTH_LOCKED before any check runs, with a lockout that doubles on each repeat.',
  schema: authLockoutSchema,
  enabledByDefault: true,
  enforcing: true,
  optional: true,
  async create(config, { deps }) {
    const ipRule = toRule(config.perIp);
    const credentialRule = toRule(config.perCredential);
    const counters = await openLockoutCounters({
      backend: config.backend,
      stores: deps.stores,
      logger: deps.logger,
      maxEntries: config.maxEntries,
      label: 'auth-lockout',
    });

    function started(ctx: RequestContext, kind: string, key: string, ms: number | Promise<number>): void {
      const log = (length: number) => {
        if (length > 0)
          deps.logger.warn(
            { reqId: ctx.id, lockout: kind, key, seconds: Math.ceil(length / 1000) },
            'authentication lockout started',
          );
      };
      if (typeof ms === 'number') log(ms);
      else ms.then(log, () => undefined);
    }

    const attempts: AuthAttempts = {
      failed(ctx: RequestContext, failure: AuthFailure): void {
        const address = lockoutAddress(ctx.clientIp);
        started(ctx, 'ip', address, counters.fail(`ip:${address}`, ipRule));
        if (failure.credentialId !== undefined)
          started(
            ctx,
            'credential',
            failure.credentialId,
            counters.fail(`cred:${failure.credentialId}`, credentialRule),
          );
      },
      credentialLockedFor(credentialId: string): number | Promise<number> {
        const ms = counters.blockedFor(`cred:${credentialId}`);
        return typeof ms === 'number' ? ms / 1000 : ms.then((v) => v / 1000);
      },
    };

    return {
      onRequest: function checkLockout(ctx: RequestContext): void | Promise<void> {
        ctx.authAttempts = attempts;
        const ms = counters.blockedFor(`ip:${lockoutAddress(ctx.clientIp)}`);
        if (typeof ms === 'number') {
          if (ms > 0) throw locked(ms);
          return;
        }
        return ms.then((left) => {
          if (left > 0) throw locked(left);
        });
      },
      close: () => counters.close(),
    };
  },
});

import type { Logger } from 'pino';
import type { RequestContext } from '../core/context.js';

/** An authorization decision, as the audit trail records it. */
export interface Decision {
  /** The plugin that decided (rbac, policy, …). */
  readonly plugin: string;
  /** The rule that decided: a rule name, or e.g. "require.permissions". */
  readonly rule: string;
  readonly effect: 'allow' | 'deny';
  /** Monitor mode: the decision was logged, not enforced. */
  readonly monitor: boolean;
  /** Internal reason for the operator (never sent to the client). */
  readonly reason?: string;
}

export interface AuditSettings {
  /** Share of allow decisions recorded (0..1); every deny is recorded. */
  readonly allowSampleRate: number;
}

/**
 * Security events as JSON lines with `"log":"audit"` on the gateway log (the audit store of a later
 * issue reads the same events). Built once per plugin instance; `record` is the per-request call.
 */
export function createAudit(
  logger: Logger,
  settings: AuditSettings,
): (ctx: RequestContext, d: Decision) => void {
  const rate = settings.allowSampleRate;
  return function record(ctx: RequestContext, d: Decision): void {
    if (d.effect === 'allow' && (rate <= 0 || Math.random() >= rate)) return;
    logger.info(
      {
        log: 'audit',
        event: d.effect === 'deny' ? 'authorization.deny' : 'authorization.allow',
        reqId: ctx.id,
        route: ctx.route?.id,
        method: ctx.method,
        path: ctx.path,
        principal: ctx.principal?.id,
        clientIp: ctx.clientIp,
        plugin: d.plugin,
        rule: d.rule,
        monitor: d.monitor || undefined,
        reason: d.reason,
      },
      d.effect === 'deny' ? 'authorization denied' : 'authorization allowed',
    );
  };
}

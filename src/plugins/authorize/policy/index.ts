import { Type } from '@sinclair/typebox';
import type { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import { definePlugin } from '../../../core/plugin.js';
import { createAudit } from '../../../observability/audit.js';
import {
  type Activation,
  type CompiledExpression,
  compileExpression,
  errorKind,
  principalView,
  RequestView,
  RouteView,
  requestFactsOf,
} from './cel.js';

export const policyRuleSchema = Type.Object(
  {
    name: Type.String({
      pattern: '^[a-z0-9]+(?:-[a-z0-9]+)*$',
      maxLength: 64,
      description:
        'Kebab-case name of the rule: it appears in the access log (deniedBy: policy:<name>) and in audit events.',
      default: 'rule',
    }),
    allow: Type.String({
      minLength: 1,
      maxLength: 4096,
      description:
        'CEL expression over principal, request and route that must be true for the request to pass (e.g. request.params.userId == principal.subject). Compiled and type-checked at start-up.',
      default: 'false',
    }),
    onDeny: Type.Union([Type.Literal('forbidden'), Type.Literal('not-found')], {
      description:
        'forbidden answers 403 FORBIDDEN; not-found answers 404 NOT_FOUND, to hide that the object exists.',
      default: 'forbidden',
    }),
    mode: Type.Union([Type.Literal('enforce'), Type.Literal('monitor')], {
      description:
        'enforce: a false condition denies. monitor: the denial is logged, audited and listed under monitored in the access log, and the request goes on.',
      default: 'enforce',
    }),
  },
  { additionalProperties: false },
);

export const policySchema = Type.Object(
  {
    rules: Type.Array(policyRuleSchema, {
      maxItems: 64,
      description:
        'Rules evaluated in order; every rule must allow. The first enforced rule that does not allow denies the request.',
      default: [],
    }),
    auditAllowSampleRate: Type.Number({
      minimum: 0,
      maximum: 1,
      description: 'Share of allowed requests recorded as audit events (0..1). Every denial is recorded.',
      default: 0.01,
    }),
  },
  { additionalProperties: false },
);

interface CompiledRule {
  readonly name: string;
  readonly deniedBy: string;
  readonly code: 'FORBIDDEN' | 'NOT_FOUND';
  readonly monitor: boolean;
  readonly allow: CompiledExpression;
}

export default definePlugin({
  name: 'policy',
  phase: 'authorize',
  priority: 200,
  description:
    'CEL policies over principal, request and route: attribute rules and object-level (BOLA) checks such as request.params.userId == principal.subject.',
  schema: policySchema,
  enabledByDefault: false,
  enforcing: true,
  optional: true,
  create(config, { deps, route }) {
    const pluginMonitor = config.mode === 'monitor';
    const seen = new Set<string>();
    const rules: CompiledRule[] = config.rules.map((r, i) => {
      if (seen.has(r.name)) throw new Error(`rules[${i}]: rule "${r.name}" is named twice`);
      seen.add(r.name);
      let allow: CompiledExpression;
      try {
        allow = compileExpression(r.allow);
      } catch (err) {
        throw new Error(`rules[${i}].allow: rule "${r.name}": ${(err as Error).message}`);
      }
      return {
        name: r.name,
        deniedBy: `policy:${r.name}`,
        code: r.onDeny === 'not-found' ? 'NOT_FOUND' : 'FORBIDDEN',
        // The whole plugin in monitor mode: every rule only watches, and this stage never throws.
        monitor: pluginMonitor || r.mode === 'monitor',
        allow,
      };
    });
    const audit = createAudit(deps.logger, { allowSampleRate: config.auditAllowSampleRate });
    const routeView = new RouteView(route?.id ?? '', route?.path ?? '');
    const allRules = rules.map((r) => r.name).join(',');
    const logger = deps.logger;

    function deny(ctx: RequestContext, rule: CompiledRule, reason: string): void {
      audit(ctx, { plugin: 'policy', rule: rule.name, effect: 'deny', monitor: rule.monitor, reason });
      if (rule.monitor) {
        if (ctx.monitored === undefined) ctx.monitored = [];
        ctx.monitored.push({ plugin: 'policy', code: rule.code });
        return;
      }
      ctx.deniedBy = rule.deniedBy;
      throw new GatewayError(rule.code);
    }

    return {
      onRequest: function evaluatePolicies(ctx: RequestContext): void {
        if (rules.length === 0) return;
        const activation: Activation = {
          principal: principalView(ctx.principal),
          request: new RequestView(requestFactsOf(ctx)),
          route: routeView,
        };
        for (let i = 0; i < rules.length; i++) {
          const rule = rules[i] as CompiledRule;
          let result: unknown;
          try {
            result = rule.allow(activation);
          } catch (err) {
            // Fail closed. Only the kind of error is logged: its message may quote request data.
            logger.warn(
              {
                reqId: ctx.id,
                plugin: 'policy',
                route: routeView.id,
                rule: rule.name,
                error: errorKind(err),
              },
              'policy rule could not be evaluated; denied',
            );
            deny(ctx, rule, 'evaluation error');
            continue;
          }
          if (result === true) continue;
          if (result !== false) {
            logger.warn(
              { reqId: ctx.id, plugin: 'policy', route: routeView.id, rule: rule.name, error: 'not a bool' },
              'policy rule gave a value that is not a bool; denied',
            );
            deny(ctx, rule, 'not a bool');
            continue;
          }
          deny(ctx, rule, 'condition false');
        }
        audit(ctx, { plugin: 'policy', rule: allRules, effect: 'allow', monitor: false });
      },
    };
  },
});

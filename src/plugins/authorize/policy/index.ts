import { Type } from '@sinclair/typebox';
import {
  type Activation,
  type CompiledExpression,
  compileExpression,
  errorKind,
  principalView,
  RequestView,
  type ResponseActivation,
  ResponseView,
  RouteView,
  requestFactsOf,
} from '../../../cel/cel.js';
import { addResponseBodyCheck, type RequestContext, type ResponseHead } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import { definePlugin } from '../../../core/plugin.js';
import { createAudit } from '../../../observability/audit.js';
import { createLookups, LookupSchema } from './lookup.js';

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
    response: Type.Object(
      {
        rules: Type.Array(policyRuleSchema, {
          maxItems: 64,
          description:
            "Rules over the upstream's 2xx JSON answer, checked before the client sees it: CEL over principal, request, route and response (status, body), e.g. response.body.ownerId == principal.subject. A false rule answers the rule's onDeny instead of the body.",
          default: [],
        }),
        filter: Type.Object(
          {
            items: Type.String({
              pattern: '^$|^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$',
              description:
                'Dotted path of the list in the JSON body ("" = the body itself is the list, "data.items" = body.data.items).',
              default: '',
            }),
            keep: Type.String({
              maxLength: 4096,
              description:
                'CEL over item (one list element) and principal, request, route, response: items for which it is not true are removed (an error removes the item). Empty: no filtering.',
              default: '',
            }),
          },
          { additionalProperties: false, default: {}, description: 'List filtering by object ownership.' },
        ),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          'Response-side object-level authorization. When set, the gateway holds the answer (up to the upstream maxResponseBytes) and asks the upstream for an unencoded body.',
      },
    ),
    lookups: Type.Record(Type.String({ pattern: '^[a-z][A-Za-z0-9_]*$' }), LookupSchema, {
      description:
        'Ownership lookups run before the rules: name → a URL on another service (with {param} from the route) and the JSON field to read; rules see it as lookup.<name> (e.g. lookup.owner == principal.subject). Cached per URL; a failure gives null, so the rule denies.',
      default: {},
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

const NO_LOOKUP: Readonly<Record<string, unknown>> = Object.freeze({});

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
    const compileRule = (
      r: (typeof config.rules)[number],
      i: number,
      where: string,
      kind: 'request' | 'response',
    ) => {
      if (seen.has(r.name)) throw new Error(`${where}[${i}]: rule "${r.name}" is named twice`);
      seen.add(r.name);
      let allow: CompiledExpression;
      try {
        allow = compileExpression(r.allow, kind);
      } catch (err) {
        throw new Error(`${where}[${i}].allow: rule "${r.name}": ${(err as Error).message}`);
      }
      return {
        name: r.name,
        deniedBy: `policy:${r.name}`,
        code: r.onDeny === 'not-found' ? ('NOT_FOUND' as const) : ('FORBIDDEN' as const),
        monitor: pluginMonitor || r.mode === 'monitor',
        allow,
      };
    };
    const responseRules: CompiledRule[] = config.response.rules.map((r, i) =>
      compileRule(r, i, 'response.rules', 'response'),
    );
    let keep: CompiledExpression | undefined;
    if (config.response.filter.keep !== '') {
      try {
        keep = compileExpression(config.response.filter.keep, 'item');
      } catch (err) {
        throw new Error(`response.filter.keep: ${(err as Error).message}`);
      }
    }
    const itemsPath = config.response.filter.items === '' ? [] : config.response.filter.items.split('.');
    const checksResponse = responseRules.length > 0 || keep !== undefined;
    // A body that cannot be read (not JSON, encoded) is denied like the first response rule would.
    // A body that cannot be read (not JSON, encoded, no list) is denied like the first ENFORCED
    // response rule would; it only monitors when every response check only monitors.
    const enforced = responseRules.find((r) => !r.monitor);
    const allMonitor = enforced === undefined && (keep === undefined || pluginMonitor);
    const unreadable: CompiledRule = {
      name: enforced?.name ?? 'response-filter',
      deniedBy: enforced?.deniedBy ?? 'policy:response-filter',
      code: enforced?.code ?? (responseRules.some((r) => r.code === 'NOT_FOUND') ? 'NOT_FOUND' : 'FORBIDDEN'),
      monitor: allMonitor,
      allow: (() => false) as CompiledExpression,
    };
    // Some rule hides existence: a missing object must look exactly like a hidden one.
    const hidesExistence = responseRules.some((r) => r.code === 'NOT_FOUND' && !r.monitor);
    if (rules.length === 0 && !checksResponse)
      throw new Error('nothing to check: set rules, response.rules or response.filter (or drop the policy)');
    const writes = (route?.methods ?? []).filter((m) => m !== 'GET' && m !== 'HEAD' && m !== 'OPTIONS');
    if (writes.length > 0 && rules.length === 0)
      throw new Error(
        `the route serves ${writes.join(', ')} but has no request rule: response rules run after the upstream has acted, so they cannot protect a write`,
      );
    const audit = createAudit(deps.logger, { allowSampleRate: config.auditAllowSampleRate });
    const lookups = createLookups(config.lookups, deps.logger);
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

    /** True when the rule allows; false (logged, no request data) when it does not or cannot tell. */
    function holds(
      ctx: RequestContext,
      rule: CompiledRule | string,
      expr: CompiledExpression,
      act: unknown,
    ): boolean {
      try {
        const result = expr(act as Activation);
        if (result === true) return true;
        if (result !== false) throw Object.assign(new Error('not a bool'), { name: 'NotABool' });
        return false;
      } catch (err) {
        logger.warn(
          {
            reqId: ctx.id,
            plugin: 'policy',
            route: routeView.id,
            rule: typeof rule === 'string' ? rule : rule.name,
            error: errorKind(err),
          },
          'policy rule could not be evaluated; denied',
        );
        return false;
      }
    }

    function bodyDenied(ctx: RequestContext, rule: CompiledRule, reason: string, body: Buffer): Buffer {
      deny(ctx, rule, reason); // throws unless the rule only monitors
      return body;
    }

    /** The held upstream answer: response rules, then list filtering. */
    function checkResponse(ctx: RequestContext, head: ResponseHead, body: Buffer): Buffer {
      if (head.status === 404 && hidesExistence) {
        // The upstream's own 404 would differ from the hidden object's: answer both the same way.
        ctx.deniedBy = 'policy:not-found';
        throw new GatewayError('NOT_FOUND');
      }
      if (head.status < 200 || head.status > 299) return body;
      const encoding = head.headers['content-encoding'];
      const type = String(head.headers['content-type'] ?? '').toLowerCase();
      if ((encoding !== undefined && encoding !== 'identity') || !type.includes('json'))
        return bodyDenied(ctx, unreadable, 'response not plain JSON', body);
      let data: unknown;
      try {
        data = JSON.parse(body.toString('utf8'));
      } catch {
        return bodyDenied(ctx, unreadable, 'response not JSON', body);
      }
      const act: ResponseActivation = {
        principal: principalView(ctx.principal),
        request: new RequestView(requestFactsOf(ctx)),
        route: routeView,
        lookup: NO_LOOKUP,
        response: new ResponseView(head.status, data),
      };
      for (let i = 0; i < responseRules.length; i++) {
        const rule = responseRules[i] as CompiledRule;
        if (!holds(ctx, rule, rule.allow, act)) deny(ctx, rule, 'response condition false');
      }
      if (keep === undefined) return body;
      let parent: unknown = data;
      for (const key of itemsPath.slice(0, -1)) parent = (parent as Record<string, unknown> | null)?.[key];
      const last = itemsPath.at(-1);
      const list = last === undefined ? data : (parent as Record<string, unknown> | null)?.[last];
      if (!Array.isArray(list)) return bodyDenied(ctx, unreadable, 'no list to filter', body);
      const kept = list.filter((item) =>
        holds(ctx, 'response-filter', keep as CompiledExpression, { ...act, item }),
      );
      if (kept.length === list.length) return body;
      if (pluginMonitor) {
        if (ctx.monitored === undefined) ctx.monitored = [];
        ctx.monitored.push({ plugin: 'policy', code: 'FORBIDDEN' });
        audit(ctx, {
          plugin: 'policy',
          rule: 'response-filter',
          effect: 'deny',
          monitor: true,
          reason: `${list.length - kept.length} of ${list.length} items would be removed`,
        });
        return body;
      }
      audit(ctx, {
        plugin: 'policy',
        rule: 'response-filter',
        effect: 'deny',
        monitor: false,
        reason: `${list.length - kept.length} of ${list.length} items removed`,
      });
      if (last === undefined) return Buffer.from(JSON.stringify(kept));
      (parent as Record<string, unknown>)[last] = kept;
      return Buffer.from(JSON.stringify(data));
    }

    return {
      onRequest: function evaluatePolicies(ctx: RequestContext): void | Promise<void> {
        if (checksResponse) addResponseBodyCheck(ctx, checkResponse);
        if (rules.length === 0) return;
        if (lookups !== undefined) return lookups(ctx.params, ctx.id).then((found) => evaluate(ctx, found));
        evaluate(ctx, NO_LOOKUP);
      },
    };

    function evaluate(ctx: RequestContext, lookup: Readonly<Record<string, unknown>>): void {
      const activation: Activation = {
        principal: principalView(ctx.principal),
        request: new RequestView(requestFactsOf(ctx)),
        route: routeView,
        lookup,
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
    }
  },
});

import type { Check, PlannedOperation, Rule, ScanContext, ScanRequest, ScanResponse } from '../types.js';
import { showsRightfulAnswer } from './answers.js';
import { garbageOf } from './api2-auth.js';
import { is2xx, RealPaths, rawOperation } from './objects.js';

/**
 * API5 — Broken Function Level Authorization. Operations the description marks as privileged
 * (tagged admin, under /admin, x-admin, or needing an admin scope) are called by the low-privilege
 * second identity and without credentials. Only reads (GET) are sent: calling an administrative
 * write or delete on the API's real data to see whether it works is not a test a scanner may run.
 */

const RULES = {
  functionLevel: {
    id: 'api5-function-level',
    category: 'API5',
    // Proven with reads only (GET); an administrative write would be worse, but is never sent.
    severity: 'high',
    title: 'A low-privilege caller can use an administrative operation',
    why: 'An operation meant for administrators answered 2xx to an ordinary user (or to nobody at all): any user can perform administrative functions.',
    fix: "Check the caller's role or scope in every privileged operation (deny by default), not only in the user interface.",
    portcullis: `plugins:
  rbac:
    roles:
      admin: { permissions: [admin:access] }
routes:
  - id: admin
    path: /admin/*
    methods: [GET, POST, PUT, PATCH, DELETE]
    upstream: api
    plugins:
      rbac:
        require: { permissions: [admin:access] }
        onDeny: not-found`,
  },
} satisfies Record<string, Rule>;

/** Why the description marks this operation as privileged, or undefined. */
export function privilegeOf(ctx: ScanContext, p: PlannedOperation): string | undefined {
  if (p.op.tags.some((t) => /admin/i.test(t))) return 'tagged admin';
  if (p.op.path.split('/').some((seg) => /^(admin|administrator|administration|internal-admin)$/i.test(seg)))
    return 'under /admin';
  const raw = rawOperation(ctx.spec.doc, p);
  if (raw !== undefined && (raw['x-admin'] === true || raw['x-portcullis-admin'] === true)) return 'x-admin';
  for (const req of p.op.security ?? [])
    for (const scopes of Object.values(req))
      if (scopes.some((s) => /admin/i.test(s))) return 'needs an admin scope';
  return undefined;
}

interface Baselines {
  readonly own: ScanResponse | undefined;
  readonly garbage: ScanResponse | undefined;
}

async function baselinesOf(ctx: ScanContext, path: string): Promise<Baselines> {
  const own =
    ctx.auth === undefined
      ? undefined
      : await ctx.http.send({
          method: 'GET',
          path,
          as: ctx.auth,
          purpose: 'function level: A calls it (baseline)',
        });
  const bad = garbageOf(ctx.auth);
  const garbage = await ctx.http.send({
    method: 'GET',
    path,
    headers: { [bad.header]: bad.value },
    purpose: 'function level: a garbage token (what a refusal looks like)',
  });
  return { own, garbage };
}

export const api5FunctionLevel: Check = {
  id: 'api5-function-level',
  category: 'API5',
  description: 'Administrative operations called by the low-privilege identity and without credentials.',
  rules: Object.values(RULES),
  async run(ctx) {
    const paths = new RealPaths(ctx);
    for (const p of ctx.operations) {
      if (p.op.method !== 'GET') continue;
      const why = privilegeOf(ctx, p);
      if (why === undefined || ctx.http.remaining <= 0) continue;
      ctx.progress(`API5 ${p.label}`);
      // A path to a real object, found as the main (privileged) identity.
      const path = await paths.of(p, ctx.auth);
      // What the rightful caller gets and what a refusal looks like, asked once a caller gets 2xx:
      // a 2xx alone proves nothing (many APIs refuse with 200 + {"success": false}).
      let baselines: Promise<Baselines> | undefined;
      const callers = [
        ...(ctx.authSecond === undefined ? [] : [{ who: 'the low-privilege identity', as: ctx.authSecond }]),
        { who: 'a caller without credentials', as: undefined },
      ];
      for (const c of callers) {
        const request: ScanRequest = {
          method: 'GET',
          path,
          ...(c.as === undefined ? {} : { as: c.as }),
          purpose: `function level: ${c.who} calls an admin operation`,
        };
        const response = await ctx.http.send(request);
        if (!is2xx(response)) continue;
        // Without the main identity's answer: only a refused garbage token tells data from refusal.
        baselines ??= baselinesOf(ctx, path);
        const { own, garbage } = await baselines;
        const shows = is2xx(own)
          ? showsRightfulAnswer(response, own, garbage)
          : own === undefined && garbage !== undefined && garbage.status !== response.status;
        if (!shows) continue;
        ctx.report({
          rule: RULES.functionLevel,
          severity: RULES.functionLevel.severity,
          where: p.label,
          message: `${c.who} got ${response.status} from an operation ${why}`,
          evidence: [ctx.http.evidence(request, response, `${response.status} for ${c.who}`)],
        });
        break;
      }
    }
  },
};

import type { Check, PlannedOperation, Rule, ScanContext, ScanRequest, ScanResponse } from '../types.js';
import { WriteGuard } from './objects.js';
import { Allowance, build, eachLimited, identityOf, is2xx, randomText, sameAnswer } from './probe.js';

/**
 * API9 Improper inventory management: common debug and admin paths answering though the spec does
 * not list them, other versions of versioned paths still served, and documented operations that
 * the API does not serve as documented.
 */

const RULES = {
  undocumented: {
    id: 'api9-undocumented-endpoint',
    category: 'API9',
    severity: 'medium',
    title: 'Undocumented endpoint answers',
    why: 'A debug, admin, metrics or documentation endpoint the spec does not list answers: nobody reviews, secures or retires what nobody knows is there.',
    fix: 'Remove debug and admin endpoints from production builds, or document and protect them; keep the spec the complete inventory.',
    portcullis: `plugins:
  contract:                # only what the spec declares is proxied; anything else is 404
    spec: openapi.yaml
`,
  },
  oldVersion: {
    id: 'api9-old-version',
    category: 'API9',
    severity: 'low',
    title: 'Another API version still answers',
    why: 'An older (or unreleased) version of a documented path answers: old versions keep old flaws and usually miss the newer checks.',
    fix: 'Retire old versions (410 Gone) after a deprecation period; do not deploy versions that are not documented.',
    portcullis: `versioning:
  versions:
    - { name: v1, status: retired, deprecatedAt: "2025-01-01", sunset: "2025-12-31" }   # 410, never proxied
    - { name: v2 }
`,
  },
  mismatch: {
    id: 'api9-spec-mismatch',
    category: 'API9',
    severity: 'low',
    title: 'The API does not behave as its spec says',
    why: 'A documented operation is missing (404/405/501) or answers a status the spec does not declare: clients, tests and the gateway all rely on a spec that is wrong.',
    fix: 'Keep the spec and the code in step: generate one from the other, or test every documented operation and status in CI.',
    portcullis: `plugins:
  contract:
    spec: openapi.yaml
    response: { undeclaredStatus: refuse }   # an undeclared status becomes 502 RESPONSE_CONTRACT
`,
  },
} as const satisfies Record<string, Rule>;

/** Paths that often answer in production though nobody documented them. */
export const COMMON_PATHS: readonly string[] = [
  '/admin',
  '/admin/',
  '/debug',
  '/debug/vars',
  '/debug/pprof/',
  '/actuator',
  '/actuator/env',
  '/actuator/health',
  '/actuator/heapdump',
  '/actuator/mappings',
  '/.env',
  '/.git/HEAD',
  '/.git/config',
  '/server-status',
  '/server-info',
  '/phpinfo.php',
  '/info.php',
  '/console',
  '/h2-console',
  '/graphql',
  '/graphiql',
  '/swagger.json',
  '/swagger-ui.html',
  '/swagger-ui/',
  '/openapi.json',
  '/openapi.yaml',
  '/api-docs',
  '/v2/api-docs',
  '/v3/api-docs',
  '/metrics',
  '/prometheus',
  '/health/details',
  '/status',
  '/env',
  '/config.json',
  '/trace',
  '/_debug',
  '/internal',
  '/backup.zip',
  '/db.sql',
  '/web.config',
  '/.DS_Store',
];

/** Does a concrete path match one of the spec's path templates? */
export function documented(ctx: ScanContext, path: string): boolean {
  const clean = path.replace(/\/+$/, '') || '/';
  return ctx.operations.some((p) => {
    const re = new RegExp(
      `^${p.op.path
        .replace(/\/+$/, '')
        .split(/\{[^}]+\}/)
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]+')}$`,
    );
    return re.test(clean);
  });
}

const VERSION = /^\/v(\d+)(\/.*)?$/i;
const OLD_VERSION_CANDIDATES = 10;

export const api9InventoryCheck: Check = {
  id: 'api9-inventory',
  category: 'API9',
  description:
    'Undocumented debug and admin endpoints, other API versions still served, spec and reality disagreeing',
  rules: Object.values(RULES),
  async run(ctx) {
    const allow = new Allowance(ctx, 80 + ctx.operations.length, 0.3);
    const send = async (req: ScanRequest) => (allow.take() ? ctx.http.send(req) : undefined);
    const as = identityOf(ctx);

    // What the API answers for a path that cannot exist: a catch-all answers 2xx to anything.
    const randomReq: ScanRequest = {
      method: 'GET',
      path: `/portcullis-scan-${randomText()}`,
      purpose: 'API9: what an unknown path answers',
      ...(as === undefined ? {} : { as }),
    };
    const random = await send(randomReq);
    const looksReal = (res: ScanResponse | undefined, path: string): res is ScanResponse => {
      if (res === undefined || !is2xx(res)) return false;
      if (random === undefined || !is2xx(random)) return true;
      // A catch-all: count it only when the answer is clearly not the catch-all page.
      return !sameAnswer(random, res, [path, randomReq.path]) && res.body.length > 0;
    };

    const candidates = COMMON_PATHS.filter((path) => !documented(ctx, path));
    const hits: { path: string; req: ScanRequest; res: ScanResponse }[] = [];
    await eachLimited(candidates, 4, async (path) => {
      ctx.progress(`api9 ${path}`);
      const req: ScanRequest = {
        method: 'GET',
        path,
        purpose: 'API9: undocumented endpoint?',
        ...(as === undefined ? {} : { as }),
      };
      const res = await send(req);
      if (looksReal(res, path)) hits.push({ path, req, res });
    });
    hits.sort((a, b) => COMMON_PATHS.indexOf(a.path) - COMMON_PATHS.indexOf(b.path));
    for (const h of hits)
      ctx.report({
        rule: RULES.undocumented,
        severity: RULES.undocumented.severity,
        where: `GET ${h.path}`,
        message: `GET ${h.path} answers ${h.res.status} (${h.res.body.length} bytes) but the spec does not list it.`,
        evidence: [ctx.http.evidence(h.req, h.res, `${h.res.status} on an undocumented path`)],
      });

    await oldVersions(ctx, send, looksReal);
    await mismatches(ctx, send);
  },
};

type Send = (req: ScanRequest) => Promise<ScanResponse | undefined>;

async function oldVersions(
  ctx: ScanContext,
  send: Send,
  looksReal: (res: ScanResponse | undefined, path: string) => res is ScanResponse,
): Promise<void> {
  const as = identityOf(ctx);
  const seen = new Set<string>();
  const tries: { p: PlannedOperation; path: string }[] = [];
  for (const p of ctx.operations) {
    if (p.op.method !== 'GET') continue;
    const m = VERSION.exec(p.op.path);
    if (m === null) continue;
    const n = Number(m[1]);
    const planned = build(ctx, p, [], { purpose: '', as }).path;
    for (const other of [n - 1, n + 1]) {
      if (other < 0) continue;
      const path = planned.replace(/^\/v\d+/i, `/v${other}`);
      const template = p.op.path.replace(/^\/v\d+/i, `/v${other}`);
      if (seen.has(template) || documented(ctx, path.split('?')[0] as string)) continue;
      seen.add(template);
      tries.push({ p, path });
    }
  }
  // Operations without path parameters first: their answer does not hang on an example id.
  tries.sort((a, b) => Number(a.p.idParams.length > 0) - Number(b.p.idParams.length > 0));
  const reported = new Set<string>();
  for (const t of tries.slice(0, OLD_VERSION_CANDIDATES)) {
    const version = (VERSION.exec(t.path)?.[1] ?? '') as string;
    if (reported.has(version)) continue;
    const req: ScanRequest = {
      method: 'GET',
      path: t.path,
      headers: { accept: 'application/json, */*;q=0.5' },
      purpose: 'API9: another version of a documented path',
      ...(as === undefined ? {} : { as }),
    };
    const res = await send(req);
    if (!looksReal(res, t.path)) continue;
    reported.add(version);
    const where = `GET ${t.p.op.path.replace(/^\/v\d+/i, `/v${version}`)}`;
    ctx.report({
      rule: RULES.oldVersion,
      severity: RULES.oldVersion.severity,
      where,
      message: `${where} answers ${res.status}: version v${version} is served though the spec documents ${t.p.label}.`,
      evidence: [ctx.http.evidence(req, res, `${res.status} on an undocumented version`)],
    });
  }
}

/** Whether a status is declared by the operation ("200", "2XX", or "default"). */
function declared(p: PlannedOperation, status: number): boolean {
  const r = p.op.responses;
  return r.has(String(status)) || r.has(`${String(status)[0]}XX`) || r.has('DEFAULT');
}

async function mismatches(ctx: ScanContext, send: Send): Promise<void> {
  // Writes only where they harm nothing the scan did not create (see WriteGuard); DELETE never.
  const guard = new WriteGuard(ctx, 'API9 spec-vs-reality');
  const ops = ctx.operations.filter((p) => p.op.method !== 'DELETE' && guard.allows(p));
  await eachLimited(ops, 4, async (p) => {
    ctx.progress(`api9 spec ${p.label}`);
    const as = p.secured ? ctx.auth : undefined;
    const req = build(ctx, p, [], {
      purpose: 'API9: does the documented operation answer as documented?',
      as,
    });
    const res = await guard.send(p, req, send);
    if (res === undefined) return;
    const s = res.status;
    // Answers the scan itself may cause say nothing about the spec.
    if (s === 429 || s === 503 || s === 504) return;
    if (p.secured && ctx.auth === undefined && (s === 401 || s === 403)) return;
    let problem: string | undefined;
    if (s === 405 || s === 501) problem = `answers ${s}: the documented operation is not served`;
    else if (s === 404) {
      // With path parameters the scan's example id may simply not exist: 404 proves nothing.
      if (p.op.params.some((x) => x.in === 'path')) return;
      problem = 'answers 404: the documented operation is not served';
    } else if (p.op.responses.size > 0 && !declared(p, s))
      problem = `answers ${s}, a status the spec does not declare (declared: ${[...p.op.responses.keys()].join(', ')})`;
    if (problem === undefined) return;
    ctx.report({
      rule: RULES.mismatch,
      severity: RULES.mismatch.severity,
      where: p.label,
      message: `${p.label} ${problem}.`,
      evidence: [ctx.http.evidence(req, res, problem)],
    });
  });
  guard.done();
}

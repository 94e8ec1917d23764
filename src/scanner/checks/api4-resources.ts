import type { Check, PlannedOperation, Rule, ScanContext, ScanRequest, ScanResponse } from '../types.js';
import { WriteGuard } from './objects.js';
import {
  Allowance,
  build,
  identityOf,
  is2xx,
  isTextual,
  itemCount,
  type Point,
  pointsOf,
  type TimeProbe,
  timeBased,
} from './probe.js';

/**
 * API4 Unrestricted resource consumption: no rate limit on a burst, page sizes and bodies of any
 * size accepted, and inputs that make a pattern or a search slow. One burst of 30 requests on one
 * cheap GET; a handful of requests for the rest.
 */

const RULES = {
  rateLimit: {
    id: 'api4-no-rate-limit',
    category: 'API4',
    severity: 'medium',
    title: 'No rate limit',
    why: 'A burst of 30 requests in a fraction of a second is answered without a single 429: nothing stops scraping, brute force or a client exhausting the API for everyone.',
    fix: 'Limit requests per caller (and per IP for anonymous callers) and answer 429 with Retry-After.',
    portcullis: `plugins:
  rate-limit:
    key: principal           # anonymous callers are counted by address
    limits:
      - { name: burst, algorithm: gcra, limit: 10, windowSeconds: 1, burst: 20 }
`,
  },
  largePage: {
    id: 'api4-large-page',
    category: 'API4',
    severity: 'medium',
    title: 'Unbounded page size',
    why: 'A page size of 100000 is honoured: one request makes the API read, serialize and send its whole table, an easy way to exhaust it (and to scrape it).',
    fix: 'Cap page sizes on the server (and declare the maximum in the spec); refuse or clamp larger values.',
    portcullis: `plugins:
  contract:                  # enforces the spec's "maximum" of limit/size parameters (400 beyond)
    spec: openapi.yaml
    strict: true
`,
  },
  largeBody: {
    id: 'api4-large-body',
    category: 'API4',
    severity: 'medium',
    title: 'Very large request bodies accepted',
    why: 'A 2 MiB JSON body is accepted: large bodies cost memory and CPU to parse and store, and multiply into a denial of service.',
    fix: 'Limit request body size (per route) and declare maxLength/maxItems in the schemas.',
    portcullis: `plugins:
  request-guard:
    maxBodyBytes: 65536      # declared and streamed bodies; 413 beyond
  contract:
    spec: openapi.yaml
    limits: { maxStringLength: 10000, maxItems: 1000 }
`,
  },
  slowInput: {
    id: 'api4-slow-input',
    category: 'API4',
    severity: 'medium',
    title: 'Input that makes the API slow',
    why: 'A crafted value (a long run of one character, as catastrophic regular expressions choke on) makes the answer seconds slower: a few such requests tie up the API.',
    fix: 'Bound the length of every input before matching it; use linear-time matching (no nested quantifiers), or a regex engine without backtracking.',
    portcullis: `plugins:
  contract:                  # maxLength of the spec (or this default) checked before anything else
    spec: openapi.yaml
    limits: { maxStringLength: 256 }
  rate-limit:
    concurrency: { limit: 4 }
`,
  },
} as const satisfies Record<string, Rule>;

const PAGE_NAME = /^(limit|size|per_?page|page_?size|pagesize|count|max|max_?results|top|take|first|rows)$/i;
const SEARCH_NAME = /^(q|query|search|filter|term|keyword|keywords|text|tag|tags|pattern|regex|name|email)$/i;
const BURST = 30;
const PAGE_OPS = 5;
const BODY_OPS = 3;
const SLOW_OPS = 5;
const TWO_MIB = 2 * 1024 * 1024;

export const api4ResourcesCheck: Check = {
  id: 'api4-resources',
  category: 'API4',
  description: 'Rate limits on a burst, page sizes, 2 MiB bodies and slow (pattern) inputs',
  rules: Object.values(RULES),
  async run(ctx) {
    const allow = new Allowance(ctx, 120, 0.3);
    const send = async (req: ScanRequest) => (allow.take() ? ctx.http.send(req) : undefined);
    await largePage(ctx, send);
    await largeBody(ctx, send);
    await slowInput(ctx, allow);
    await burst(ctx, allow);
  },
};

type Send = (req: ScanRequest) => Promise<ScanResponse | undefined>;

/** Schema maximum of a page-size parameter, when declared. */
const maximumOf = (pt: Point): number | undefined =>
  typeof pt.schema.maximum === 'number' ? pt.schema.maximum : undefined;

async function largePage(ctx: ScanContext, send: Send): Promise<void> {
  const as = identityOf(ctx);
  const tries: { p: PlannedOperation; pt: Point }[] = [];
  for (const p of ctx.operations) {
    if (p.op.method !== 'GET') continue;
    const pt = pointsOf(ctx, p).find((x) => x.in === 'query' && PAGE_NAME.test(x.name));
    if (pt !== undefined) tries.push({ p, pt });
  }
  for (const { p, pt } of tries.slice(0, PAGE_OPS)) {
    ctx.progress(`api4 page size ${p.label}`);
    const req = build(ctx, p, [{ point: pt, value: '100000' }], { purpose: `API4: ${pt.name}=100000`, as });
    const res = await send(req);
    if (res === undefined || !is2xx(res)) continue;
    const n = itemCount(res.json);
    const max = maximumOf(pt);
    const bound = max !== undefined && max < 1000 ? max : 1000;
    if (n === undefined || n <= bound) continue;
    ctx.report({
      rule: RULES.largePage,
      severity: RULES.largePage.severity,
      where: p.label,
      message: `${pt.name}=100000 answers ${res.status} with ${n} items (${max === undefined ? 'no maximum declared' : `the spec's maximum is ${max}`}).`,
      evidence: [ctx.http.evidence(req, res, `${n} items in one page`)],
    });
  }
}

async function largeBody(ctx: ScanContext, send: Send): Promise<void> {
  const as = identityOf(ctx);
  // Only where nothing the scan did not create is changed: a create it deletes again, a sign-in.
  const guard = new WriteGuard(ctx, 'API4 large body');
  const ops = ctx.operations.filter(
    (p) =>
      (p.op.method === 'POST' || p.op.method === 'PUT' || p.op.method === 'PATCH') &&
      p.body !== undefined &&
      guard.allows(p),
  );
  // Creating operations first (POST), then the rest.
  ops.sort((a, b) => Number(b.op.method === 'POST') - Number(a.op.method === 'POST'));
  for (const p of ops.slice(0, BODY_OPS)) {
    ctx.progress(`api4 large body ${p.label}`);
    const field = pointsOf(ctx, p).find((pt) => pt.in === 'body' && typeof pt.original === 'string');
    const filler = 'A'.repeat(TWO_MIB);
    const req =
      field !== undefined
        ? build(ctx, p, [{ point: field, value: filler }], { purpose: 'API4: a 2 MiB JSON body', as })
        : build(ctx, p, [], {
            purpose: 'API4: a 2 MiB JSON body',
            as,
            body: Array.isArray(p.body) ? [...p.body, filler] : { padding: filler },
          });
    const res = await guard.send(p, req, send);
    if (res === undefined || !is2xx(res)) continue;
    const size = Buffer.byteLength(String(req.body ?? ''));
    ctx.report({
      rule: RULES.largeBody,
      severity: RULES.largeBody.severity,
      where: p.label,
      message: `A ${(size / 1048576).toFixed(1)} MiB JSON body${field ? ` (field ${field.name})` : ''} is accepted with ${res.status}.`,
      evidence: [ctx.http.evidence(req, res, `${size} bytes accepted`)],
    });
    break;
  }
  guard.done();
}

/**
 * A run of one character and a mismatch at the end: what nested quantifiers backtrack on. 25 makes
 * `^(a+)+$` take ~3 s in V8 (2^25 steps): enough to see, bounded enough not to hang the API.
 */
const PATHOLOGICAL = `${'a'.repeat(25)}!`;
const SHORT = 'aaaa!';

async function slowInput(ctx: ScanContext, allow: Allowance): Promise<void> {
  const as = identityOf(ctx);
  const tries: { p: PlannedOperation; pt: Point }[] = [];
  // Reads only: the time-based probe sends several requests it could not undo.
  const guard = new WriteGuard(ctx, 'API4 slow input');
  for (const p of ctx.operations) {
    const pts = pointsOf(ctx, p).filter((pt) => isTextual(pt) && typeof pt.original !== 'number');
    const pt =
      pts.find((x) => typeof x.schema.pattern === 'string') ?? pts.find((x) => SEARCH_NAME.test(x.name));
    if (pt !== undefined && guard.readOnly(p)) tries.push({ p, pt });
  }
  guard.done();
  // GETs first: a slow write would also store the value.
  tries.sort((a, b) => Number(a.p.op.method !== 'GET') - Number(b.p.op.method !== 'GET'));
  for (const { p, pt } of tries.slice(0, SLOW_OPS)) {
    // 3 baselines, then at most slow, short, slow, short, slow.
    if (!allow.take(8)) return;
    ctx.progress(`api4 slow input ${p.label}`);
    const mk = (value: unknown, timeoutMs?: number) =>
      build(ctx, p, [{ point: pt, value }], {
        purpose: `API4: slow input in ${pt.in} ${pt.name}`,
        as,
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      });
    const probe: TimeProbe = { slow: mk(PATHOLOGICAL, 3000), fast: mk(SHORT) };
    // The pathological value three times, a short one between: slow answers by chance are no finding.
    // At most three pathological requests per operation (3 s each): a real ReDoS holds the API.
    const hit = await timeBased(ctx, mk(pt.original), [probe]);
    if (hit === undefined) continue;
    ctx.report({
      rule: RULES.slowInput,
      severity: RULES.slowInput.severity,
      where: p.label,
      message: `A ${PATHOLOGICAL.length}-character run in ${pt.in} parameter "${pt.name}" ${hit.slow.timedOut ? 'got no answer within' : 'took'} ${Math.round(hit.slow.ms)} ms, three times out of three (baseline ${Math.round(hit.baselineMs)} ms, a short value ${Math.round(hit.fast.ms)} ms).`,
      evidence: [
        ctx.http.evidence(hit.probe.slow, hit.slow.res, `${Math.round(hit.slow.ms)} ms`),
        ...(hit.again === undefined
          ? []
          : [ctx.http.evidence(hit.probe.slow, hit.again.res, `again: ${Math.round(hit.again.ms)} ms`)]),
        ctx.http.evidence(hit.probe.fast, hit.fast.res, `short value: ${Math.round(hit.fast.ms)} ms`),
      ],
    });
  }
}

/** The cheapest GET: no path parameters, no required query, then the rest. */
function cheapGet(ctx: ScanContext): PlannedOperation | undefined {
  const gets = ctx.operations.filter((p) => p.op.method === 'GET');
  const score = (p: PlannedOperation) =>
    (p.op.params.some((x) => x.in === 'path') ? 2 : 0) + (p.query === '' ? 0 : 1);
  return [...gets].sort((a, b) => score(a) - score(b))[0];
}

async function burst(ctx: ScanContext, allow: Allowance): Promise<void> {
  const p = cheapGet(ctx);
  if (p === undefined || !allow.take(BURST)) return;
  ctx.progress(`api4 burst ${p.label}`);
  const req = build(ctx, p, [], { purpose: `API4: burst of ${BURST} requests`, as: identityOf(ctx) });
  const answers = await Promise.all(Array.from({ length: BURST }, () => ctx.http.send(req)));
  const got = answers.filter((r): r is ScanResponse => r !== undefined);
  // Too few answers (budget, dry run, network) or a refusal anywhere: nothing to say.
  if (got.length < BURST * 0.8) return;
  if (got.some((r) => r.status === 429 || r.status === 503)) return;
  // All refused (401, 404…): the limit may sit behind what refused them; nothing is proved.
  if (!got.some(is2xx)) return;
  const statuses = [...new Set(got.map((r) => r.status))].join(', ');
  ctx.report({
    rule: RULES.rateLimit,
    severity: RULES.rateLimit.severity,
    where: p.label,
    message: `${got.length} requests in a burst were all answered (${statuses}); none got 429.`,
    evidence: [
      ctx.http.evidence(
        req,
        got[got.length - 1],
        `request ${got.length} of ${BURST}: ${got[got.length - 1]?.status}, no 429`,
      ),
    ],
  });
}

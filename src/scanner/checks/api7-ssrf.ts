import type {
  Check,
  Evidence,
  PlannedOperation,
  Rule,
  ScanContext,
  ScanRequest,
  ScanResponse,
} from '../types.js';
import { WriteGuard } from './objects.js';
import {
  Allowance,
  build,
  eachLimited,
  identityOf,
  is2xx,
  LOOPBACK_HOST,
  type Point,
  pointsOf,
  randomText,
} from './probe.js';

/**
 * API7 Server-side request forgery: URL-taking parameters and body fields pointed at the scanner's
 * canary (a fetch proves the API goes where it is told) and at loopback and cloud-metadata
 * addresses (accepting them shows nothing stops it from reaching inside).
 */

const RULES = {
  ssrf: {
    id: 'api7-ssrf',
    category: 'API7',
    severity: 'high',
    title: 'Server-side request forgery',
    why: 'The API fetches a URL the caller chooses: an attacker makes it call internal services, cloud metadata endpoints or other hosts with its network position and credentials.',
    fix: 'Fetch only from an allow-list of hosts (and schemes, ports); resolve the name and refuse private, loopback and link-local addresses; do not follow redirects; do not return the fetched body.',
    portcullis: `plugins:
  attack-detection:        # the ssrf detector flags loopback, private and metadata URLs in any value
    paranoia: 2
  virtual-patch:            # until the API checks it: only the allowed host may be named
    patches:
      - id: fetch-allow-list
        reason: the fetch endpoint takes any URL
        expires: 2027-12-31
        methods: [GET]
        path: /fetch
        location: query
        name: url
        operator: prefix
        value: https://images.example.com/
        negate: true
`,
  },
  internal: {
    id: 'api7-ssrf-internal',
    category: 'API7',
    severity: 'high',
    title: 'Internal addresses accepted as URLs',
    why: 'URLs to loopback (127.0.0.1, [::1]) or cloud metadata (169.254.169.254, metadata.google.internal) are accepted: the API can be turned against the machine it runs on and steal its cloud credentials.',
    fix: 'Resolve the host and refuse loopback, private, link-local and metadata addresses (after redirects too), or fetch only allow-listed hosts.',
    portcullis: `plugins:
  attack-detection:        # ssrf: 127.0.0.1, [::1], 169.254.169.254, metadata names, also encoded
    paranoia: 2
    threshold: 5
`,
  },
} as const satisfies Record<string, Rule>;

const URL_NAME = /url|uri|link|callback|webhook|image|avatar|src|target|redirect|endpoint|feed|fetch|href/i;

/** Internal addresses other than loopback-to-the-canary (which the canary probe covers). */
const INTERNAL_URLS = [
  'http://169.254.169.254/latest/meta-data/',
  'http://[::1]/',
  'http://metadata.google.internal/computeMetadata/v1/',
];

const POINTS_PER_OP = 3;
const HIT_WAIT_MS = 1500;

function urlPoints(ctx: ScanContext, p: PlannedOperation): Point[] {
  return pointsOf(ctx, p)
    .filter(
      (pt) =>
        (typeof pt.original === 'string' || pt.original === null) &&
        (URL_NAME.test(pt.name) ||
          pt.schema.format === 'uri' ||
          pt.schema.format === 'url' ||
          (typeof pt.original === 'string' && /^https?:\/\//i.test(pt.original))),
    )
    .slice(0, POINTS_PER_OP);
}

interface Probe {
  readonly p: PlannedOperation;
  readonly pt: Point;
  readonly url: string;
  readonly req: ScanRequest;
  readonly res: ScanResponse | undefined;
}

export const api7SsrfCheck: Check = {
  id: 'api7-ssrf',
  category: 'API7',
  description: 'URL parameters pointed at a canary listener and at loopback and cloud-metadata addresses',
  rules: Object.values(RULES),
  async run(ctx) {
    const as = identityOf(ctx);
    const allow = new Allowance(ctx, 200, 0.2);
    // Writes (a webhook registration) only where they harm nothing the scan did not create.
    const guard = new WriteGuard(ctx, 'API7 SSRF');
    const targets = ctx.operations
      .filter((p) => p.op.method !== 'DELETE' && guard.allows(p))
      .map((p) => ({ p, points: urlPoints(ctx, p) }))
      .filter((t) => t.points.length > 0);
    const canaryLoopback = ctx.canary !== undefined && LOOPBACK_HOST.test(new URL(ctx.canary.url).hostname);
    const fetched: Probe[] = [];
    const internal: { probe: Probe; url: string }[] = [];

    const probe = async (p: PlannedOperation, pt: Point, url: string, purpose: string): Promise<Probe> => {
      const req = build(ctx, p, [{ point: pt, value: url }], {
        purpose: `SSRF: ${purpose} in ${pt.in} ${pt.name}`,
        as,
        timeoutMs: 4000,
      });
      const res = allow.take() ? await guard.send(p, req, (r) => ctx.http.send(r)) : undefined;
      return { p, pt, url, req, res };
    };

    const points = targets.flatMap(({ p, points }) => points.map((pt) => ({ p, pt })));
    const key = (p: PlannedOperation, pt: Point) => `${p.label} ${pt.in} ${pt.name}`;
    const fetchedAt = new Set<string>();

    // 1. The canary URL in every point, then one wait for all the fetches together.
    const canary = ctx.canary;
    if (canary !== undefined) {
      const sent: Probe[] = [];
      await eachLimited(points, 4, async ({ p, pt }) => {
        ctx.progress(`api7 canary ${p.label}`);
        sent.push(await probe(p, pt, canary.token(`${p.op.method}-${pt.name}`), 'canary URL'));
      });
      // Waited for whatever the answer: a webhook may be called after a 202.
      const hits = await Promise.all(sent.map((c) => canary.hit(c.url, HIT_WAIT_MS)));
      sent.forEach((c, i) => {
        if (!hits[i]) return;
        fetched.push(c);
        fetchedAt.add(key(c.p, c.pt));
        if (canaryLoopback && is2xx(c.res)) internal.push({ probe: c, url: c.url });
      });
    }

    // 2. Internal addresses, where the API is seen to check the value at all: a point that takes
    // "not a URL" with 2xx does not look at it, so its 2xx to 169.254.169.254 proves nothing.
    await eachLimited(points, 4, async ({ p, pt }) => {
      ctx.progress(`api7 internal ${p.label}`);
      if (!fetchedAt.has(key(p, pt))) {
        const control = await probe(p, pt, `portcullis-not-a-url-${randomText(4)}`, 'a value that is no URL');
        if (control.res === undefined || is2xx(control.res)) return;
      }
      const urls = canaryLoopback ? INTERNAL_URLS : ['http://127.0.0.1/', ...INTERNAL_URLS];
      for (const url of urls) {
        const r = await probe(p, pt, url, 'internal address');
        if (is2xx(r.res)) internal.push({ probe: r, url });
      }
    });

    const byOp = <T extends { p: PlannedOperation }>(list: readonly T[]) => {
      const out = new Map<string, T[]>();
      for (const x of list) out.set(x.p.label, [...(out.get(x.p.label) ?? []), x]);
      return out;
    };
    for (const [label, list] of byOp(fetched)) {
      const first = list[0] as Probe;
      ctx.report({
        rule: RULES.ssrf,
        severity: RULES.ssrf.severity,
        where: label,
        message: `The API fetched the scanner's canary URL given in ${list.map((x) => `${x.pt.in} ${x.pt.name}`).join(', ')}.`,
        evidence: [ctx.http.evidence(first.req, first.res, 'the canary listener received the fetch')],
      });
    }
    for (const [label, list] of byOp(internal.map((x) => ({ ...x, p: x.probe.p })))) {
      const evidence: Evidence[] = list
        .slice(0, 3)
        .map((x) =>
          ctx.http.evidence(x.probe.req, x.probe.res, `${x.url} accepted with ${x.probe.res?.status}`),
        );
      ctx.report({
        rule: RULES.internal,
        severity: RULES.internal.severity,
        where: label,
        message: `Internal URLs are accepted with 2xx in ${[...new Set(list.map((x) => `${x.probe.pt.in} ${x.probe.pt.name}`))].join(', ')}: ${[...new Set(list.map((x) => new URL(x.url).host))].join(', ')}.`,
        evidence,
      });
    }
    guard.done();
  },
};

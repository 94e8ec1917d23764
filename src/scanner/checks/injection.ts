import { isObj } from '../../openapi/load.js';
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
  type Change,
  eachLimited,
  identityOf,
  is2xx,
  isTextual,
  itemCount,
  type Point,
  pointsOf,
  randomText,
  sameAnswer,
  type TimeFinding,
  type TimeProbe,
  timeBased,
} from './probe.js';

/**
 * Injection (OWASP Top 10 2021 A03): SQL (error-, boolean- and time-based), NoSQL operators,
 * shell commands (time-based) and path traversal, each probed by changing one parameter of a
 * planned request. Bounded: three parameters per operation, time-based probes on five operations.
 */

const ATTACK_DETECTION = `plugins:
  attack-detection:        # tokenizer-based detectors on every value, decoded
    paranoia: 2
    threshold: 5
  contract:                # only declared parameters, with their types and lengths
    spec: openapi.yaml
    strict: true
`;

const RULES = {
  sqlError: {
    id: 'inj-sql-error',
    category: 'INJECTION',
    severity: 'critical',
    title: 'SQL injection (database error on a quote)',
    why: 'A quote in a parameter breaks the SQL the API builds: the value is pasted into the query, so an attacker can read or change any data the database holds.',
    fix: 'Use bound parameters (prepared statements) for every value; never build SQL from strings. Return a generic error, not the database message.',
    portcullis: ATTACK_DETECTION,
  },
  sqlBoolean: {
    id: 'inj-sql-boolean',
    category: 'INJECTION',
    severity: 'critical',
    title: 'SQL injection (boolean-based)',
    why: "Appending a true condition leaves the answer unchanged while a false one changes it: the API evaluates the caller's SQL, which lets an attacker extract the database bit by bit.",
    fix: 'Use bound parameters (prepared statements) for every value; validate types and lengths.',
    portcullis: ATTACK_DETECTION,
  },
  sqlTime: {
    id: 'inj-sql-time',
    category: 'INJECTION',
    severity: 'critical',
    title: 'SQL injection (time-based)',
    why: "A sleep function injected into a parameter delays the answer: the database runs the caller's SQL even where nothing of it shows in the answer.",
    fix: 'Use bound parameters (prepared statements) for every value; run the database user with least privilege.',
    portcullis: ATTACK_DETECTION,
  },
  nosql: {
    id: 'inj-nosql',
    category: 'INJECTION',
    severity: 'critical',
    title: 'NoSQL operator injection',
    why: 'Query operators such as {"$ne": null} sent where a plain value is expected change what the database matches: a login without the password, or a list of other users\' records.',
    fix: 'Accept only the declared types (a string is not an object); cast values before they reach the query; never pass request objects into a query filter.',
    portcullis: `plugins:
  contract:                # a string field refuses {"$ne": null}; no undeclared "x[$ne]" parameters
    spec: openapi.yaml
    strict: true
  attack-detection:        # the nosql detector flags $-operators in keys
    paranoia: 2
`,
  },
  commandTime: {
    id: 'inj-command-time',
    category: 'INJECTION',
    severity: 'critical',
    title: 'OS command injection (time-based)',
    why: 'A shell separator followed by "sleep 2" delays the answer: the value reaches a shell, so an attacker runs any command as the API.',
    fix: 'Never pass request values to a shell; call programs with an argument array (execFile) and validate values against a strict allow-list pattern.',
    portcullis: ATTACK_DETECTION,
  },
  traversal: {
    id: 'inj-path-traversal',
    category: 'INJECTION',
    severity: 'high',
    title: 'Path traversal',
    why: '"../" sequences in a file parameter read files outside the intended folder (/etc/passwd here): configuration, keys and source code are exposed.',
    fix: 'Map names to files through an allow-list or an id; resolve the path and check it stays inside the base folder; refuse "..", separators and encoded forms.',
    portcullis: `plugins:
  attack-detection:        # the lfi detector decodes and flags ../ in every encoding
    paranoia: 2
  contract:                # give file parameters a strict pattern in the spec
    spec: openapi.yaml
    strict: true
`,
  },
} as const satisfies Record<string, Rule>;

/** What databases print when the SQL they were given does not parse. */
const SQL_ERRORS: readonly RegExp[] = [
  /SQL syntax/i,
  /SQLSTATE\[/,
  /SQLITE_ERROR|SQLite3?::|sqlite3\.OperationalError/i,
  /unterminated quoted string/i,
  /unclosed quotation mark/i,
  /quoted string not properly terminated/i,
  /syntax error at or near/i,
  /\bORA-\d{5}\b/,
  /\bODBC\b.*(driver|error)/i,
  /\bPG::[A-Z]\w+/,
  /PSQLException|org\.postgresql\./,
  /com\.mysql\.jdbc|MySqlException|mysql_fetch|You have an error in your SQL/i,
  /Microsoft OLE DB Provider|System\.Data\.SqlClient/i,
  /near ".{1,40}": syntax error/i,
  /\bDB2 SQL error\b|SQLCODE=-?\d+/i,
];

export const sqlErrorIn = (body: string): string | undefined => {
  for (const re of SQL_ERRORS) {
    const m = re.exec(body);
    if (m) return m[0];
  }
  return undefined;
};

const PASSWD = /root:[x*!]?:0:0:/;
const WIN_INI = /\[fonts\]|for 16-bit app support/i;

const TRAVERSAL_NAME = /file|path|doc|template|download|attach|folder|dir|include|resource/i;
/** "name" is a file name in a query or path parameter far more often than in a JSON body. */
const TRAVERSAL_PARAM = /^(name|filename|page|src)$/i;
const DOWNLOAD_OP = /download|file|doc|attach|export|template|static|asset|media/i;
const COMMAND_NAME = /host|ip|addr|domain|cmd|command|exec|ping|server|target|dest|dir|file|path|name/i;
const SEARCH_NAME = /^(q|query|search|filter|term|keyword|keywords|text|name|category|sort|order|type|id)$/i;

const POINTS_PER_OP = 3;
const TIME_OPS = 5;

interface Found {
  readonly rule: Rule;
  readonly p: PlannedOperation;
  readonly message: string;
  readonly evidence: Evidence[];
}

function rank(pt: Point): number {
  const where = pt.in === 'query' ? 0 : pt.in === 'body' ? 1 : 2;
  return where * 2 + (SEARCH_NAME.test(pt.name) ? 0 : 1);
}

/** The parameters of an operation injection tries first: query, then body, then path; search-like names first. */
function textPoints(ctx: ScanContext, p: PlannedOperation): Point[] {
  return pointsOf(ctx, p)
    .filter(isTextual)
    .sort((a, b) => rank(a) - rank(b));
}

const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

export const injectionCheck: Check = {
  id: 'injection',
  category: 'INJECTION',
  description:
    'SQL (error, boolean, time), NoSQL operator, OS command (time) and path traversal injection into parameters and JSON fields',
  rules: Object.values(RULES),
  async run(ctx) {
    const as = identityOf(ctx);
    const allow = new Allowance(ctx, 600, 0.4);
    const report = (f: Found) =>
      ctx.report({
        rule: f.rule,
        severity: f.rule.severity,
        where: f.p.label,
        message: f.message,
        evidence: f.evidence,
      });
    const budgeted = async (req: ScanRequest): Promise<ScanResponse | undefined> =>
      allow.take() ? ctx.http.send(req) : undefined;
    // Payloads go only where they harm nothing the scan did not create (see WriteGuard); deleting
    // is another check's business.
    const guard = new WriteGuard(ctx, 'injection');
    const ops = ctx.operations.filter((o) => o.op.method !== 'DELETE' && guard.allows(o));

    // Reads first, writes after: a collection that write probes fill and empty meanwhile would make
    // the answers that boolean and NoSQL probes compare change for no reason of their own.
    const isWrite = (o: PlannedOperation) => !['GET', 'HEAD', 'OPTIONS'].includes(o.op.method);
    const ordered = [...ops.filter((o) => !isWrite(o)), ...ops.filter(isWrite)];
    const reads = ordered.filter((o) => !isWrite(o)).length;
    const probeOne = async (p: PlannedOperation) => {
      ctx.progress(`injection ${p.label}`);
      const send = (req: ScanRequest) => guard.send(p, req, budgeted);
      const baseReq = build(ctx, p, [], { purpose: 'injection: baseline', as });
      const base = await send(baseReq);
      if (base === undefined) return;
      const points = textPoints(ctx, p);
      for (const pt of points.slice(0, POINTS_PER_OP)) {
        for (const found of await sqlProbes(ctx, p, pt, base, send)) report(found);
      }
      const traversal = points.filter(
        (pt) =>
          TRAVERSAL_NAME.test(pt.name) ||
          (pt.in !== 'body' && TRAVERSAL_PARAM.test(pt.name)) ||
          (pt.in === 'path' && DOWNLOAD_OP.test(p.op.path)),
      );
      for (const pt of traversal.slice(0, 1)) {
        const found = await traversalProbes(ctx, p, pt, base, send);
        if (found !== undefined) {
          report(found);
          break;
        }
      }
      const nosql = await nosqlProbes(ctx, p, send);
      if (nosql !== undefined) report(nosql);
    };
    await eachLimited(ordered.slice(0, reads), 4, probeOne);
    await eachLimited(ordered.slice(reads), 4, probeOne);

    // Time-based probes last and one at a time: concurrent requests would blur the timings.
    // Reads only: a time-based probe sends several requests it could not undo.
    const timeOps = ops.filter((p) => textPoints(ctx, p).length > 0 && guard.readOnly(p));
    for (const p of pickTimeOps(ctx, timeOps, SEARCH_NAME)) {
      if (!allow.take(8)) break;
      ctx.progress(`injection SQL time ${p.label}`);
      const pt = textPoints(ctx, p)[0] as Point;
      const found = await sqlTime(ctx, p, pt);
      if (found !== undefined) report(found);
    }
    for (const p of pickTimeOps(ctx, timeOps, COMMAND_NAME)) {
      if (!allow.take(8)) break;
      ctx.progress(`injection command time ${p.label}`);
      const pt = commandPoint(ctx, p);
      const found = await commandTime(ctx, p, pt);
      if (found !== undefined) report(found);
    }
    guard.done();
  },
};

function commandPoint(ctx: ScanContext, p: PlannedOperation): Point {
  const points = textPoints(ctx, p);
  return points.find((pt) => COMMAND_NAME.test(pt.name)) ?? (points[0] as Point);
}

/** At most TIME_OPS operations, those with a parameter whose name suits the probe first. */
function pickTimeOps(ctx: ScanContext, ops: readonly PlannedOperation[], names: RegExp): PlannedOperation[] {
  const named = ops.filter((p) => textPoints(ctx, p).some((pt) => names.test(pt.name)));
  const rest = ops.filter((p) => !named.includes(p));
  return [...named, ...rest].slice(0, TIME_OPS);
}

type Send = (req: ScanRequest) => Promise<ScanResponse | undefined>;

async function sqlProbes(
  ctx: ScanContext,
  p: PlannedOperation,
  pt: Point,
  base: ScanResponse,
  send: Send,
): Promise<Found[]> {
  const out: Found[] = [];
  const as = identityOf(ctx);
  const s = text(pt.original);
  const mk = (value: string, purpose: string) =>
    build(ctx, p, [{ point: pt, value }], { purpose: `injection: ${purpose} in ${pt.in} ${pt.name}`, as });

  const quoteReq = mk(`${s}'`, 'SQL quote');
  const quote = await send(quoteReq);
  if (quote !== undefined) {
    const error = sqlErrorIn(quote.body);
    if (error !== undefined && sqlErrorIn(base.body) === undefined)
      out.push({
        rule: RULES.sqlError,
        p,
        message: `A quote in ${pt.in} parameter "${pt.name}" makes the API answer ${quote.status} with database error text ("${error}").`,
        evidence: [ctx.http.evidence(quoteReq, quote, `database error text "${error}" after a quote`)],
      });
  }
  // Boolean probes need a working baseline, and a quote that changes something: when a stray quote
  // answers exactly like the original, the value never reaches SQL as text.
  if (!is2xx(base) || quote === undefined || sameAnswer(base, quote, [`${s}'`])) return out;
  const pairs: [string, string][] = [];
  if (typeof pt.original === 'number' || /^-?\d+$/.test(s)) pairs.push([`${s} AND 1=1`, `${s} AND 1=2`]);
  pairs.push([`${s}' AND '1'='1`, `${s}' AND '1'='2`], [`${s}' AND 1=1-- -`, `${s}' AND 1=2-- -`]);
  for (const [t, f] of pairs) {
    const trueReq = mk(t, 'SQL true condition');
    const yes = await send(trueReq);
    if (yes === undefined || !sameAnswer(base, yes, [t])) continue;
    const falseReq = mk(f, 'SQL false condition');
    const no = await send(falseReq);
    if (no === undefined) continue;
    // Both conditions answer like the original: the input is neutralized; other quoting will not differ.
    if (sameAnswer(base, no, [f])) break;
    if (sameAnswer(yes, no, [t, f])) continue;
    // Confirm both ways: the true condition again matches the original and the false one again
    // differs the same way (a list that other probes grow and shrink meanwhile is not SQL).
    const again = await send(trueReq);
    if (again === undefined || !sameAnswer(base, again, [t])) continue;
    const noAgain = await send(falseReq);
    if (noAgain === undefined || sameAnswer(again, noAgain, [t, f]) || !sameAnswer(no, noAgain, [f]))
      continue;
    out.push({
      rule: RULES.sqlBoolean,
      p,
      message: `In ${pt.in} parameter "${pt.name}", "${t}" answers like the original value (${yes.status}) while "${f}" answers differently (${no.status}, ${no.body.length} bytes).`,
      evidence: [
        ctx.http.evidence(trueReq, yes, 'true condition: the same answer as the original value'),
        ctx.http.evidence(falseReq, no, 'false condition: a different answer'),
      ],
    });
    break;
  }
  return out;
}

async function traversalProbes(
  ctx: ScanContext,
  p: PlannedOperation,
  pt: Point,
  base: ScanResponse,
  send: Send,
): Promise<Found | undefined> {
  if (PASSWD.test(base.body) || WIN_INI.test(base.body)) return undefined;
  const as = identityOf(ctx);
  const changes: Change[] =
    pt.in === 'path'
      ? [
          { point: pt, value: '..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd', raw: true },
          {
            point: pt,
            value: '%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
            raw: true,
          },
          { point: pt, value: '....%2f%2f....%2f%2f....%2f%2f....%2f%2fetc%2fpasswd', raw: true },
        ]
      : [
          { point: pt, value: '../../../../../../etc/passwd' },
          { point: pt, value: '..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd' },
          { point: pt, value: '....//....//....//....//....//....//etc/passwd' },
          { point: pt, value: '..\\..\\..\\..\\..\\..\\windows\\win.ini' },
        ];
  for (const c of changes) {
    const req = build(ctx, p, [c], { purpose: `injection: path traversal in ${pt.in} ${pt.name}`, as });
    const res = await send(req);
    if (res === undefined) continue;
    const hit = PASSWD.exec(res.body) ?? WIN_INI.exec(res.body);
    if (hit === null) continue;
    return {
      rule: RULES.traversal,
      p,
      message: `${pt.in} parameter "${pt.name}" set to "${String(c.value)}" returns a system file ("${hit[0]}").`,
      evidence: [ctx.http.evidence(req, res, `system file content "${hit[0]}" in the answer`)],
    };
  }
  return undefined;
}

const SECRET_FIELD = /pass|pwd|secret|pin$|otp|code$/i;
const LOOKUP_OP = /login|signin|sign-in|auth|token|session|search|find|query|filter|lookup/i;
const TOKEN_KEY = /token|jwt|session|access/i;

function hasToken(res: ScanResponse): boolean {
  if (res.headers['set-cookie'] !== undefined) return true;
  const seen = (v: unknown, depth: number): boolean =>
    isObj(v) &&
    depth < 3 &&
    Object.entries(v).some(
      ([k, x]) => (TOKEN_KEY.test(k) && typeof x === 'string' && x.length >= 8) || seen(x, depth + 1),
    );
  return seen(res.json, 0);
}

async function nosqlProbes(ctx: ScanContext, p: PlannedOperation, send: Send): Promise<Found | undefined> {
  const as = identityOf(ctx);
  const points = pointsOf(ctx, p);
  const bodyText = points.filter((pt) => pt.in === 'body' && typeof pt.original === 'string');
  const secret = bodyText.filter((pt) => SECRET_FIELD.test(pt.name));
  // Bodies that match something: sign-ins (a secret field) and searches; a create has nothing to match.
  if (secret.length > 0 || (bodyText.length > 0 && LOOKUP_OP.test(p.op.path))) {
    const targets = secret.length > 0 ? secret : bodyText;
    const wrong = targets.map((pt) => ({ point: pt, value: `wrong-${randomText()}` }));
    const baseReq = build(ctx, p, wrong, { purpose: 'injection: NoSQL baseline (wrong values)', as });
    const base = await send(baseReq);
    if (base === undefined) return undefined;
    for (const operator of [{ $ne: null }, { $gt: '' }]) {
      const changes = targets.map((pt) => ({ point: pt, value: operator }));
      const req = build(ctx, p, changes, { purpose: 'injection: NoSQL operator in the body', as });
      const res = await send(req);
      if (res === undefined || !is2xx(res)) continue;
      const fields = targets.map((t) => t.name).join(', ');
      const bypass = !is2xx(base) && (hasToken(res) || [401, 403, 404].includes(base.status));
      const grew =
        is2xx(base) && (itemCount(res.json) ?? 0) > (itemCount(base.json) ?? Number.POSITIVE_INFINITY);
      if (!bypass && !grew) continue;
      return {
        rule: RULES.nosql,
        p,
        message: bypass
          ? `${JSON.stringify(operator)} in ${fields} is accepted (${res.status}${hasToken(res) ? ', with a token' : ''}) where wrong values get ${base.status}.`
          : `${JSON.stringify(operator)} in ${fields} returns more items than plain values.`,
        evidence: [
          ctx.http.evidence(baseReq, base, `wrong values: ${base.status}`),
          ctx.http.evidence(req, res, `operator ${JSON.stringify(operator)}: ${res.status}`),
        ],
      };
    }
    return undefined;
  }
  const query = points.filter((pt) => pt.in === 'query' && typeof pt.original === 'string').slice(0, 2);
  for (const pt of query) {
    const value = `none-${randomText()}`;
    const baseReq = build(ctx, p, [{ point: pt, value }], { purpose: 'injection: NoSQL baseline', as });
    const base = await send(baseReq);
    // Only a list answer can show more matches.
    if (base === undefined || (is2xx(base) && itemCount(base.json) === undefined)) continue;
    // "name[$ne]=x" in place of the plain parameter.
    const req = build(ctx, p, [], {
      purpose: `injection: NoSQL operator ${pt.name}[$ne]`,
      as,
      omit: [pt.name],
      extraQuery: `${encodeURIComponent(pt.name)}[$ne]=${encodeURIComponent(value)}`,
    });
    const res = await send(req);
    if (res === undefined || !is2xx(res)) continue;
    let grew = is2xx(base) && (itemCount(res.json) ?? 0) > (itemCount(base.json) ?? Number.POSITIVE_INFINITY);
    if (grew) {
      // The list may simply have grown meanwhile (other checks create objects): the plain value
      // asked again must still match fewer.
      const again = await send({ ...baseReq, purpose: 'injection: NoSQL baseline, repeated' });
      grew =
        again !== undefined &&
        (itemCount(res.json) ?? 0) > (itemCount(again.json) ?? Number.POSITIVE_INFINITY);
    }
    const bypass = !is2xx(base) && hasToken(res);
    if (!grew && !bypass) continue;
    return {
      rule: RULES.nosql,
      p,
      message: `Query "${pt.name}[$ne]=…" ${grew ? `returns ${itemCount(res.json)} items where "${pt.name}=…" returns ${itemCount(base.json)}` : 'is accepted where the plain value is not'}.`,
      evidence: [
        ctx.http.evidence(baseReq, base, 'plain value'),
        ctx.http.evidence(req, res, 'operator $ne: more matched'),
      ],
    };
  }
  return undefined;
}

const SLOW_TIMEOUT_MS = 4000;
/** For the doubled (4 s) payload: its wait plus a slow baseline. */
const LONGER_TIMEOUT_MS = 7000;

/** The doubled payload's answer: the wait grew with the number asked for. */
const longerEvidence = (ctx: ScanContext, hit: TimeFinding) =>
  hit.longer === undefined || hit.probe.longer === undefined
    ? []
    : [ctx.http.evidence(hit.probe.longer, hit.longer.res, `sleep 4: ${Math.round(hit.longer.ms)} ms`)];

/**
 * A time-based probe family: payloads for n seconds of sleep (2 slow, 0 fast, 4 longer: the wait
 * must follow the number asked for), judged by timeBased().
 */
async function sleepProbes(
  ctx: ScanContext,
  p: PlannedOperation,
  pt: Point,
  kind: string,
  payloads: (s: string) => ((n: number) => string)[],
): Promise<TimeFinding | undefined> {
  const as = identityOf(ctx);
  const s = text(pt.original);
  const mk = (value: string, timeoutMs?: number) =>
    build(ctx, p, [{ point: pt, value }], {
      purpose: `injection: ${kind} time-based in ${pt.in} ${pt.name}`,
      as,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  const probes: TimeProbe[] = payloads(s).map((payload) => ({
    slow: mk(payload(2), SLOW_TIMEOUT_MS),
    fast: mk(payload(0)),
    longer: mk(payload(4), LONGER_TIMEOUT_MS),
  }));
  return timeBased(ctx, mk(s), probes);
}

function timeEvidence(ctx: ScanContext, hit: TimeFinding) {
  return [
    ctx.http.evidence(hit.probe.slow, hit.slow.res, `answered after ${Math.round(hit.slow.ms)} ms`),
    ctx.http.evidence(hit.probe.fast, hit.fast.res, `sleep 0: ${Math.round(hit.fast.ms)} ms`),
    ...longerEvidence(ctx, hit),
  ];
}

async function sqlTime(ctx: ScanContext, p: PlannedOperation, pt: Point): Promise<Found | undefined> {
  const hit = await sleepProbes(ctx, p, pt, 'SQL', (s) => [
    ...(/^-?\d+$/.test(s) ? [(n: number) => `${s} AND SLEEP(${n})`] : []),
    (n) => `${s}' AND SLEEP(${n})-- -`,
    (n) => `${s}'; SELECT pg_sleep(${n})--`,
    (n) => `${s}'; WAITFOR DELAY '0:0:${n}'--`,
  ]);
  if (hit === undefined) return undefined;
  return {
    rule: RULES.sqlTime,
    p,
    message: `A SQL sleep in ${pt.in} parameter "${pt.name}" delays the answer by ${Math.round(hit.slow.ms - hit.baselineMs)} ms (baseline ${Math.round(hit.baselineMs)} ms; the same payload with 0 s answers in ${Math.round(hit.fast.ms)} ms).`,
    evidence: timeEvidence(ctx, hit),
  };
}

async function commandTime(ctx: ScanContext, p: PlannedOperation, pt: Point): Promise<Found | undefined> {
  const hit = await sleepProbes(ctx, p, pt, 'command', (s) => [
    (n) => `${s};sleep ${n}`,
    (n) => `${s}|sleep ${n}`,
    (n) => `${s}$(sleep ${n})`,
    (n) => `${s}\`sleep ${n}\``,
  ]);
  if (hit === undefined) return undefined;
  return {
    rule: RULES.commandTime,
    p,
    message: `A shell "sleep 2" in ${pt.in} parameter "${pt.name}" delays the answer by ${Math.round(hit.slow.ms - hit.baselineMs)} ms (baseline ${Math.round(hit.baselineMs)} ms; "sleep 0" answers in ${Math.round(hit.fast.ms)} ms).`,
    evidence: timeEvidence(ctx, hit),
  };
}

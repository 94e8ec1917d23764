import { isIP } from 'node:net';
import { connect } from 'node:tls';
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
import { sqlErrorIn } from './injection.js';
import { WriteGuard } from './objects.js';
import {
  Allowance,
  build,
  identityOf,
  is2xx,
  isTextual,
  LOOPBACK_HOST,
  pointsOf,
  randomText,
} from './probe.js';

/**
 * API8 Security misconfiguration: missing security headers, CORS that trusts any origin with
 * credentials, stack traces in error answers, TRACE, plain HTTP, TLS 1.0/1.1, version banners.
 * A few dozen requests at most; the TLS handshakes are not HTTP requests and spend no budget.
 */

const RULES = {
  headers: {
    id: 'api8-security-headers',
    category: 'API8',
    severity: 'low',
    title: 'Security headers missing',
    why: "Without X-Content-Type-Options: nosniff a browser may run a JSON answer as script; without Cache-Control on authenticated answers a shared cache may serve one user's data to another; without HSTS an https API can be downgraded.",
    fix: 'Send X-Content-Type-Options: nosniff on every answer, Cache-Control: no-store on authenticated ones, and Strict-Transport-Security over https.',
    portcullis: `plugins:
  security-headers:        # on by default
    contentTypeOptions: true
    noStoreWhenAuthenticated: true
    hsts: { maxAgeSeconds: 31536000, includeSubDomains: true }
`,
  },
  cors: {
    id: 'api8-cors',
    category: 'API8',
    severity: 'medium',
    title: 'CORS trusts any origin with credentials',
    why: 'The API reflects any Origin (or "*") together with Access-Control-Allow-Credentials: true: any web site a user visits can call the API as that user and read the answers.',
    fix: 'Allow only the exact origins of your own front ends; never reflect the Origin header; never combine "*" with credentials.',
    portcullis: `plugins:
  cors:                    # exact origins only; the upstream's Access-Control-* headers are removed
    origins: [https://app.example.com]
    credentials: true
`,
  },
  verbose: {
    id: 'api8-verbose-errors',
    category: 'API8',
    severity: 'medium',
    title: 'Verbose errors (stack traces, exception or database messages)',
    why: 'Malformed input gets an answer with a stack trace, an exception class or a database message: file paths, library versions and query shapes that help an attacker aim.',
    fix: 'Catch errors at the edge of the API and answer a generic problem (RFC 9457) with a request id; log the details server-side only.',
    portcullis: `plugins:
  response-hygiene:
    maskUpstreamErrors: true   # upstream 5xx bodies replaced by a problem
  contract:
    spec: openapi.yaml
    response: { hideLeaks: true }   # stack traces and framework error pages hidden in any answer
`,
  },
  trace: {
    id: 'api8-trace-enabled',
    category: 'API8',
    severity: 'low',
    title: 'TRACE method enabled',
    why: 'TRACE echoes the request, headers included: with a script-injection flaw elsewhere it reveals cookies and credentials (cross-site tracing).',
    fix: 'Disable TRACE (and TRACK) in the server or framework.',
    portcullis: `routes:
  - id: api
    path: /api/*
    methods: [GET, POST, PUT, PATCH, DELETE]   # TRACE is not declared: 405, never proxied
    upstream: api
`,
  },
  plainHttp: {
    id: 'api8-plain-http',
    category: 'API8',
    severity: 'medium',
    title: 'API served over plain HTTP',
    why: 'Requests and answers, credentials included, travel unencrypted: anyone on the path can read or change them.',
    fix: 'Serve the API over https only; redirect or refuse plain HTTP; list only https:// servers in the spec.',
    portcullis: `listeners:
  - name: public
    host: 0.0.0.0
    port: 8443
    tls: { cert: tls/server.crt, key: tls/server.key, minVersion: TLSv1.2 }
  - name: plain
    host: 0.0.0.0
    port: 8080
    plaintext: redirect      # or refuse
    redirectPort: 8443
`,
  },
  weakTls: {
    id: 'api8-weak-tls',
    category: 'API8',
    severity: 'medium',
    title: 'TLS 1.0 or 1.1 accepted',
    why: 'TLS 1.0 and 1.1 are deprecated (RFC 8996): their ciphers and handshakes have known weaknesses, and accepting them invites downgrades.',
    fix: 'Accept TLS 1.2 and 1.3 only, with modern cipher suites.',
    portcullis: `listeners:
  - name: public
    host: 0.0.0.0
    port: 8443
    tls: { cert: tls/server.crt, key: tls/server.key, minVersion: TLSv1.2 }   # 1.0/1.1 never offered
`,
  },
  banner: {
    id: 'api8-version-banner',
    category: 'API8',
    severity: 'low',
    title: 'Software version announced in headers',
    why: 'Server, X-Powered-By and similar headers name the product and its version: an attacker looks up its known vulnerabilities without probing.',
    fix: 'Remove or blank Server, X-Powered-By, X-AspNet-Version and X-Generator headers.',
    portcullis: `plugins:
  response-hygiene:        # on by default
    removeHeaders: [server, x-powered-by, x-aspnet-version, x-aspnetmvc-version, x-runtime, x-generator]
`,
  },
} as const satisfies Record<string, Rule>;

const EVIL_ORIGIN = 'https://evil.example';

/** Stack traces, exception names and framework error pages. */
const LEAKS: readonly RegExp[] = [
  /\bat (?:async )?[\w$.<>[\] ]{1,120} \((?:file:\/\/|node:)?[^()\s]{1,300}:\d+:\d+\)/,
  /\n\s+at (?:file:\/\/)?\/[^\s]{1,300}:\d+:\d+/,
  /\\n\s*at (?:async )?[\w$.<>[\] ]{1,120} \((?:file:\/\/|node:)?[^()\s]{1,300}:\d+:\d+\)/,
  /Traceback \(most recent call last\)/,
  /File "[^"]{1,300}", line \d+, in /,
  /\bat [\w$.]{1,200}\([\w$]{1,100}\.(?:java|kt|scala):\d+\)/,
  /\b(?:java|javax|org|com|System|Microsoft|android)\.[\w.]{1,200}(?:Exception|Error)\b/,
  /\b[A-Z]\w{1,80}Exception\b/,
  /\b(?:SyntaxError|TypeError|ReferenceError|RangeError|EvalError|URIError): /,
  /<b>(?:Fatal error|Warning|Parse error|Notice)<\/b>:/,
  /(?:Fatal error|Parse error): .{1,300} on line \d+/,
  /Server Error in '.{0,100}' Application/,
  / at [\w.]{1,200}\(.{0,200}\) in .{1,300}:line \d+/,
  /\.rb:\d+:in `/,
  /goroutine \d+ \[running\]/,
  /Whitelabel Error Page|Werkzeug Debugger|DEBUG = True|Django Version:/,
];

export function leakIn(body: string): string | undefined {
  for (const re of LEAKS) {
    const m = re.exec(body);
    if (m) return m[0].slice(0, 120);
  }
  const sql = sqlErrorIn(body);
  return sql === undefined ? undefined : `database error "${sql}"`;
}

/** A product token with a version: "Apache/2.4.41", "PHP/7.4.3", "nginx/1.18.0", "Express 4.17". */
const PRODUCT_VERSION = /[A-Za-z][\w.+-]{0,40}[/ ]v?\d+(?:\.\d+)+/;
const BANNER_HEADERS = [
  'server',
  'x-powered-by',
  'x-aspnet-version',
  'x-aspnetmvc-version',
  'x-generator',
  'x-runtime',
];

export function bannerIn(headers: Readonly<Record<string, string>>): string | undefined {
  for (const name of BANNER_HEADERS) {
    const v = headers[name];
    if (v === undefined) continue;
    if (name === 'x-aspnet-version' || name === 'x-aspnetmvc-version') {
      if (/\d+\.\d+/.test(v)) return `${name}: ${v}`;
    } else if (name !== 'x-runtime' && PRODUCT_VERSION.test(v)) return `${name}: ${v}`;
  }
  return undefined;
}

const GET_SAMPLE = 5;
const ERROR_OPS = 3;

export const api8ConfigCheck: Check = {
  id: 'api8-config',
  category: 'API8',
  description:
    'Security headers, CORS with credentials, verbose errors, TRACE, plain HTTP, TLS 1.0/1.1 and version banners',
  rules: Object.values(RULES),
  async run(ctx) {
    const allow = new Allowance(ctx, 40, 0.2);
    const send = async (req: ScanRequest) => (allow.take() ? ctx.http.send(req) : undefined);
    plainHttp(ctx);
    await weakTls(ctx);
    const answers = await sample(ctx, send);
    headers(ctx, answers);
    banner(ctx, answers);
    await cors(ctx, answers, send);
    await verbose(ctx, send);
    await trace(ctx, send);
  },
};

type Send = (req: ScanRequest) => Promise<ScanResponse | undefined>;

interface Answer {
  readonly p: PlannedOperation;
  readonly req: ScanRequest;
  readonly res: ScanResponse;
}

const evidenceOf = (what: string, note: string): Evidence => ({ request: { url: what, headers: {} }, note });

function plainHttp(ctx: ScanContext): void {
  const t = ctx.target;
  if (t.protocol === 'http:' && !LOOPBACK_HOST.test(t.hostname))
    ctx.report({
      rule: RULES.plainHttp,
      severity: RULES.plainHttp.severity,
      where: t.origin,
      message: `The target ${t.origin} is plain HTTP on a non-loopback host.`,
      evidence: [evidenceOf(t.origin, 'http:// target')],
    });
  const servers = Array.isArray(ctx.spec.doc.servers) ? ctx.spec.doc.servers : [];
  servers.forEach((s, i) => {
    if (!isObj(s) || typeof s.url !== 'string') return;
    let url: URL;
    try {
      url = new URL(s.url);
    } catch {
      return; // relative or templated server URLs say nothing about the scheme
    }
    if (url.protocol !== 'http:' || LOOPBACK_HOST.test(url.hostname)) return;
    ctx.report({
      rule: RULES.plainHttp,
      severity: RULES.plainHttp.severity,
      where: `servers[${i}]`,
      message: `The spec lists the plain-HTTP server ${url.origin}.`,
      evidence: [evidenceOf(s.url, 'http:// server in the spec')],
      location: { file: ctx.spec.file },
    });
  });
}

/** Whether a handshake pinned to one old protocol version succeeds (no HTTP request is sent). */
function handshake(host: string, port: number, version: 'TLSv1' | 'TLSv1.1'): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const socket = connect({
      host,
      port,
      ...(isIP(host) === 0 ? { servername: host } : {}),
      minVersion: version,
      maxVersion: version,
      ciphers: 'DEFAULT@SECLEVEL=0',
      rejectUnauthorized: false,
    });
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 3000);
    socket.once('secureConnect', () => done(socket.getProtocol() === version));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

async function weakTls(ctx: ScanContext): Promise<void> {
  const t = ctx.target;
  if (t.protocol !== 'https:' || ctx.http.dryRun) return;
  const host = t.hostname.replace(/^\[|\]$/g, '');
  const port = Number(t.port || 443);
  const accepted: string[] = [];
  for (const [version, label] of [
    ['TLSv1', 'TLS 1.0'],
    ['TLSv1.1', 'TLS 1.1'],
  ] as const) {
    ctx.progress(`api8 ${label} handshake`);
    if (await handshake(host, port, version)) accepted.push(label);
  }
  if (accepted.length === 0) return;
  ctx.report({
    rule: RULES.weakTls,
    severity: RULES.weakTls.severity,
    where: `${t.hostname}:${port}`,
    message: `${t.hostname}:${port} completes a handshake with ${accepted.join(' and ')}.`,
    evidence: [evidenceOf(`${t.hostname}:${port}`, `handshake succeeded: ${accepted.join(', ')}`)],
  });
}

/** Planned GETs (as the main identity): the answers the header checks read. */
async function sample(ctx: ScanContext, send: Send): Promise<Answer[]> {
  const as = identityOf(ctx);
  const gets = ctx.operations.filter((p) => p.op.method === 'GET');
  const picked = [...gets.filter((p) => p.op.params.every((x) => x.in !== 'path')), ...gets].filter(
    (p, i, all) => all.indexOf(p) === i,
  );
  const out: Answer[] = [];
  for (const p of picked.slice(0, GET_SAMPLE)) {
    const req = build(ctx, p, [], { purpose: 'API8: headers of a normal answer', as });
    const res = await send(req);
    if (res !== undefined) out.push({ p, req, res });
  }
  return out;
}

function headers(ctx: ScanContext, answers: readonly Answer[]): void {
  const ok = answers.filter((a) => is2xx(a.res));
  const missing: string[] = [];
  let first: Answer | undefined;
  const note = (what: string, a: Answer) => {
    if (!missing.includes(what)) missing.push(what);
    first ??= a;
  };
  for (const a of ok) {
    if ((a.res.headers['x-content-type-options'] ?? '').toLowerCase() !== 'nosniff')
      note('X-Content-Type-Options: nosniff', a);
    if (a.req.as !== undefined) {
      const cc = (a.res.headers['cache-control'] ?? '').toLowerCase();
      if (cc === '' || (/\bpublic\b/.test(cc) && !/no-store|private/.test(cc)))
        note('Cache-Control (no-store or private) on an authenticated answer', a);
    }
    if (ctx.target.protocol === 'https:' && a.res.headers['strict-transport-security'] === undefined)
      note('Strict-Transport-Security', a);
  }
  if (first === undefined) return;
  ctx.report({
    rule: RULES.headers,
    severity: RULES.headers.severity,
    where: first.p.label,
    message: `Missing: ${missing.join('; ')}.`,
    evidence: [ctx.http.evidence(first.req, first.res, `missing ${missing.join(', ')}`)],
  });
}

function banner(ctx: ScanContext, answers: readonly Answer[]): void {
  for (const a of answers) {
    const found = bannerIn(a.res.headers);
    if (found === undefined) continue;
    ctx.report({
      rule: RULES.banner,
      severity: RULES.banner.severity,
      where: a.p.label,
      message: `The answer announces "${found}".`,
      evidence: [ctx.http.evidence(a.req, a.res, found)],
    });
    return;
  }
}

function corsProblem(res: ScanResponse): string | undefined {
  const origin = res.headers['access-control-allow-origin'];
  const creds = (res.headers['access-control-allow-credentials'] ?? '').toLowerCase() === 'true';
  if (!creds || origin === undefined) return undefined;
  if (origin === EVIL_ORIGIN) return `Origin ${EVIL_ORIGIN} reflected with credentials`;
  if (origin.trim() === '*') return '"*" with credentials';
  if (origin.trim() === 'null') return '"null" origin with credentials';
  return undefined;
}

async function cors(ctx: ScanContext, answers: readonly Answer[], send: Send): Promise<void> {
  const as = identityOf(ctx);
  const a = answers.find((x) => is2xx(x.res)) ?? answers[0];
  const p = a?.p ?? ctx.operations.find((o) => o.op.method === 'GET');
  if (p === undefined) return;
  const simple = build(ctx, p, [], {
    purpose: 'API8: CORS with a foreign Origin',
    as,
    headers: { origin: EVIL_ORIGIN },
  });
  const base = build(ctx, p, [], { purpose: 'API8: CORS preflight from a foreign Origin' });
  const preflight: ScanRequest = {
    method: 'OPTIONS',
    path: base.path,
    headers: {
      origin: EVIL_ORIGIN,
      'access-control-request-method': p.op.method,
      'access-control-request-headers': 'authorization, content-type',
    },
    purpose: 'API8: CORS preflight from a foreign Origin',
  };
  for (const req of [simple, preflight]) {
    const res = await send(req);
    const problem = res === undefined ? undefined : corsProblem(res);
    if (problem === undefined) continue;
    ctx.report({
      rule: RULES.cors,
      severity: RULES.cors.severity,
      where: p.label,
      message: `${req.method === 'OPTIONS' ? 'Preflight' : 'Request'}: ${problem}.`,
      evidence: [ctx.http.evidence(req, res, problem)],
    });
    return;
  }
}

/** A JSON value of another type than the one planned: strings become numbers, the rest strings. */
function wrongType(v: unknown): unknown {
  if (typeof v === 'string') return 12345;
  if (typeof v === 'number' || typeof v === 'boolean') return 'not-a-number';
  if (Array.isArray(v)) return 'not-an-array';
  if (isObj(v)) return 'not-an-object';
  return ['unexpected'];
}

async function verbose(ctx: ScanContext, send: Send): Promise<void> {
  const as = identityOf(ctx);
  const probes: { p: PlannedOperation; req: ScanRequest; what: string }[] = [];
  // Malformed bodies only where a write harms nothing the scan did not create (see WriteGuard).
  const guard = new WriteGuard(ctx, 'API8 verbose errors');
  const withBody = ctx.operations.filter(
    (p) => p.body !== undefined && p.op.method !== 'DELETE' && guard.allows(p),
  );
  for (const p of withBody.slice(0, ERROR_OPS)) {
    probes.push({
      p,
      what: 'malformed JSON',
      req: build(ctx, p, [], {
        purpose: 'API8: malformed JSON',
        as,
        body: `{"portcullis": "${randomText()}",`,
      }),
    });
    const wrong = isObj(p.body)
      ? Object.fromEntries(Object.entries(p.body).map(([k, v]) => [k, wrongType(v)]))
      : { unexpected: true };
    probes.push({
      p,
      what: 'wrong types',
      req: build(ctx, p, [], { purpose: 'API8: wrong types in the body', as, body: wrong }),
    });
  }
  const withParams = ctx.operations.filter(
    (p) => p.op.method === 'GET' && pointsOf(ctx, p).some((pt) => pt.in !== 'body' && isTextual(pt)),
  );
  for (const p of withParams.slice(0, ERROR_OPS)) {
    const pt = pointsOf(ctx, p).find((x) => x.in !== 'body' && isTextual(x));
    if (pt === undefined) continue;
    probes.push({
      p,
      what: `a stray quote in ${pt.name}`,
      req: build(ctx, p, [{ point: pt, value: `${String(pt.original)}'"\\` }], {
        purpose: 'API8: stray quote in a parameter',
        as,
      }),
    });
    if (typeof pt.original === 'number')
      probes.push({
        p,
        what: `a word in the number ${pt.name}`,
        req: build(ctx, p, [{ point: pt, value: 'NaN-x' }], {
          purpose: 'API8: wrong type in a parameter',
          as,
        }),
      });
  }
  try {
    for (const { p, req, what } of probes) {
      ctx.progress(`api8 errors ${p.label}`);
      const res = await guard.send(p, req, send);
      if (res === undefined) continue;
      const leak = leakIn(res.body);
      if (leak === undefined) continue;
      ctx.report({
        rule: RULES.verbose,
        severity: RULES.verbose.severity,
        where: p.label,
        message: `Sending ${what} gets ${res.status} with "${leak}".`,
        evidence: [ctx.http.evidence(req, res, `leak: ${leak}`)],
      });
      return;
    }
  } finally {
    guard.done();
  }
}

async function trace(ctx: ScanContext, send: Send): Promise<void> {
  const marker = `portcullis-${randomText()}`;
  const req: ScanRequest = {
    method: 'TRACE',
    path: '/',
    headers: { 'x-portcullis-trace': marker },
    purpose: 'API8: is TRACE echoed?',
  };
  const res = await send(req);
  if (res === undefined || !is2xx(res)) return;
  if (!res.body.includes(marker) && !/^TRACE \//m.test(res.body)) return;
  ctx.report({
    rule: RULES.trace,
    severity: RULES.trace.severity,
    where: 'TRACE /',
    message: `TRACE / answers ${res.status} and echoes the request.`,
    evidence: [ctx.http.evidence(req, res, 'request echoed')],
  });
}

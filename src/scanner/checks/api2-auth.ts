import { createHmac, randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { deref, isObj, type Obj } from '../../openapi/load.js';
import { WEAK_SECRETS } from '../dictionary.js';
import { targetOf } from '../plan.js';
import type {
  Check,
  Evidence,
  Identity,
  PlannedOperation,
  Rule,
  ScanContext,
  ScanRequest,
  ScanResponse,
} from '../types.js';
import { showsRightfulAnswer } from './answers.js';
import {
  is2xx,
  isLogin,
  JSON_HEADERS,
  offlineEvidence,
  passwordField,
  RealPaths,
  rawOperation,
} from './objects.js';

/**
 * API2 — Broken Authentication. Secured operations called without credentials; the main identity's
 * JWT altered (alg none, bad signature) and — when its HMAC secret is in the built-in dictionary,
 * cracked offline — re-signed expired or for another audience; tokens accepted in the URL; the
 * login operation probed for lockout and for answers that tell which usernames exist.
 */

const JWT_ISSUER = `plugins:
  jwt:
    issuers:
      - issuer: https://login.example.com/
        audience: [orders-api]
        jwksUri: https://login.example.com/.well-known/jwks.json
        algorithms: [RS256, ES256]`;

const RULES = {
  noAuth: {
    id: 'api2-no-auth',
    category: 'API2',
    severity: 'critical',
    title: 'A secured operation answers without credentials',
    why: 'The description says the operation needs credentials, yet it answered 2xx to a request that carried none: anyone can call it.',
    fix: 'Authenticate every request to this operation (deny by default) and answer 401 without valid credentials.',
    portcullis: `${JWT_ISSUER}
  authentication:
    anonymous: false   # deny by default: no credential, 401`,
  },
  algNone: {
    id: 'api2-jwt-alg-none',
    category: 'API2',
    severity: 'critical',
    title: 'Unsigned JWTs (alg: none) are accepted',
    why: 'A token with "alg": "none" and no signature was accepted: anyone can write their own token with any subject and roles.',
    fix: 'Verify tokens with an explicit allowlist of algorithms and keys; never accept "none".',
    portcullis: JWT_ISSUER,
  },
  forged: {
    id: 'api2-jwt-forged',
    category: 'API2',
    severity: 'high',
    title: 'JWTs with an altered signature are accepted',
    why: "The main identity's token with its signature changed was accepted: the API does not verify signatures, so claims can be rewritten at will.",
    fix: "Verify every token signature against the issuer's keys before reading any claim.",
    portcullis: JWT_ISSUER,
  },
  expired: {
    id: 'api2-jwt-expired',
    category: 'API2',
    severity: 'high',
    title: 'Expired JWTs are accepted',
    why: 'A token whose "exp" is in the past was accepted: a stolen token works forever.',
    fix: 'Require "exp" and refuse expired tokens (allow at most a small clock skew).',
    portcullis: `${JWT_ISSUER}
        clockSkewSeconds: 30   # exp is always required and checked`,
  },
  audience: {
    id: 'api2-jwt-wrong-audience',
    category: 'API2',
    severity: 'high',
    title: 'JWTs issued for another audience are accepted',
    why: 'A token whose "aud" names another service was accepted: a token meant for any API of the same issuer opens this one.',
    fix: 'Require "aud" to name this API.',
    portcullis: JWT_ISSUER,
  },
  weakSecret: {
    id: 'api2-jwt-weak-secret',
    category: 'API2',
    severity: 'high',
    title: 'The JWT HMAC secret is a well-known weak value',
    why: "The signature of the main identity's token verifies with a secret from a public list of defaults and common passwords: anyone can sign tokens for any user.",
    fix: 'Use a random secret of at least 32 bytes (64 for HS512) from a secret store, or asymmetric keys (RS256/ES256); revoke every token signed with the old secret.',
    portcullis: `plugins:
  jwt:
    issuers:
      - issuer: https://api.example.com/
        audience: [orders-api]
        algorithms: [HS256]
        secret: \${env:JWT_SECRET}   # at least 32 random bytes; portcullis lint refuses dictionary values`,
  },
  credentialsInUrl: {
    id: 'api2-credentials-in-url',
    category: 'API2',
    severity: 'medium',
    title: 'Credentials are accepted in the URL',
    why: 'A key or token in the query string ends up in access logs, proxy logs, browser history and Referer headers.',
    fix: 'Accept credentials only in headers (Authorization); refuse query-string tokens.',
    portcullis: `plugins:
  jwt:
    queryParameter: ""      # tokens in the URL are ignored (the default)
  api-key:
    queryParameter: ""      # keys in the URL are ignored (the default)`,
  },
  noLockout: {
    id: 'api2-no-login-lockout',
    category: 'API2',
    severity: 'medium',
    title: 'The login does not slow down password guessing',
    why: 'Ten wrong passwords in a row for one user were all answered normally (no 429, 423 or Retry-After): passwords can be brute-forced.',
    fix: 'Count failed sign-ins per username and per address and refuse, with growing delays, past a few attempts.',
    portcullis: `routes:
  - id: login
    path: /login
    methods: [POST]
    upstream: api
    plugins:
      authentication: { anonymous: true }
      login-throttle:
        usernameField: username
        failureStatuses: [401, 403]`,
  },
  enumeration: {
    id: 'api2-user-enumeration',
    category: 'API2',
    severity: 'medium',
    title: 'The login tells which usernames exist',
    why: 'A wrong password for an existing user and any password for an unknown user get different answers: an attacker learns valid usernames before guessing passwords.',
    fix: 'Answer every failed sign-in the same way (status, body, and roughly the same time), whatever failed.',
    portcullis: `plugins:
  contract:
    spec: openapi.yaml
    response:
      undeclaredStatus: refuse   # a status the login does not declare never reaches the client
  login-throttle:
    usernameField: username`,
  },
} satisfies Record<string, Rule>;

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

interface Jwt {
  readonly token: string;
  readonly scheme: string;
  readonly header: Obj;
  readonly payload: Obj;
  readonly signingInput: string;
  readonly signature: Buffer;
}

function jwtOf(identity: Identity | undefined): Jwt | undefined {
  if (identity === undefined || identity.header !== 'authorization') return undefined;
  const m = /^(Bearer|DPoP)\s+(eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/i.exec(
    identity.value.trim(),
  );
  if (m === null) return undefined;
  const token = m[2] as string;
  try {
    const header = decodeProtectedHeader(token) as Obj;
    const payload = decodeJwt(token) as Obj;
    const dot = token.lastIndexOf('.');
    return {
      token,
      scheme: m[1] as string,
      header,
      payload,
      signingInput: token.slice(0, dot),
      signature: Buffer.from(token.slice(dot + 1), 'base64url'),
    };
  } catch {
    return undefined;
  }
}

const HASH: Readonly<Record<string, string>> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

/** The dictionary secret the token was signed with, tried offline (no request). */
function crack(jwt: Jwt): string | undefined {
  const hash = HASH[String(jwt.header.alg)];
  if (hash === undefined) return undefined;
  for (const secret of WEAK_SECRETS) {
    const mac = createHmac(hash, secret).update(jwt.signingInput).digest();
    if (mac.equals(jwt.signature)) return secret;
  }
  return undefined;
}

function sign(jwt: Jwt, secret: string, payload: Obj): string {
  const input = `${b64(jwt.header)}.${b64(payload)}`;
  const hash = HASH[String(jwt.header.alg)] as string;
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`;
}

/** A secured GET that answers 2xx for the main identity and not without credentials. */
interface Probe {
  readonly op: PlannedOperation;
  readonly path: string;
}

async function findProbe(ctx: ScanContext, paths: RealPaths, a: Identity): Promise<Probe | undefined> {
  let tried = 0;
  for (const op of ctx.operations) {
    if (op.op.method !== 'GET' || !op.secured || tried >= 6) continue;
    tried++;
    const path = await paths.of(op, a);
    const own = await ctx.http.send({ method: 'GET', path, as: a, purpose: 'JWT: find a probe A may call' });
    if (!is2xx(own)) continue;
    const anon = await ctx.http.send({
      method: 'GET',
      path,
      purpose: 'JWT: the probe refuses anonymous callers',
    });
    if (anon !== undefined && !is2xx(anon)) return { op, path };
  }
  return undefined;
}

async function tryToken(ctx: ScanContext, probe: Probe, jwt: Jwt, token: string, purpose: string) {
  const request: ScanRequest = {
    method: 'GET',
    path: probe.path,
    headers: { authorization: `${jwt.scheme} ${token}` },
    purpose,
  };
  const response = await ctx.http.send(request);
  return { request, response };
}

/** A credential in the main identity's header and scheme that no API can have issued. */
export function garbageOf(a: Identity | undefined): { header: string; value: string } {
  const junk = `portcullis-invalid-${randomBytes(12).toString('hex')}`;
  if (a === undefined) return { header: 'authorization', value: `Bearer ${junk}` };
  const scheme = /^(\S+)\s+\S/.exec(a.value)?.[1];
  return { header: a.header, value: scheme === undefined ? junk : `${scheme} ${junk}` };
}

/**
 * A secured GET answering 2xx without credentials is reported only when that answer is the data:
 * it has the shape of the main identity's own answer, and is not what a garbage token gets (the
 * API's refusal, which many APIs send as 200 + {"success": false}) unless it is the very data.
 */
async function testNoAuth(ctx: ScanContext, paths: RealPaths) {
  let unverified = 0;
  for (const op of ctx.operations) {
    if (!op.secured || op.op.method !== 'GET') continue;
    ctx.progress(`API2 ${op.label}`);
    const path = await paths.of(op, ctx.auth);
    const request: ScanRequest = {
      method: 'GET',
      path,
      purpose: 'auth: a secured operation without credentials',
    };
    const response = await ctx.http.send(request);
    if (!is2xx(response)) continue;
    const bad = garbageOf(ctx.auth);
    const garbage = await ctx.http.send({
      method: 'GET',
      path,
      headers: { [bad.header]: bad.value },
      purpose: 'auth: a garbage token (what a refusal looks like)',
    });
    if (ctx.auth === undefined) {
      // No signed-in answer to compare with: only "a bad token is refused, no token is let in" tells.
      if (garbage === undefined || garbage.status === response.status) {
        unverified++;
        continue;
      }
    } else {
      const own = await ctx.http.send({
        method: 'GET',
        path,
        as: ctx.auth,
        purpose: 'auth: A calls it (baseline)',
      });
      if (!is2xx(own) || !showsRightfulAnswer(response, own, garbage)) continue;
    }
    ctx.report({
      rule: RULES.noAuth,
      severity: RULES.noAuth.severity,
      where: op.label,
      message: `answered ${response.status} without credentials (${ctx.auth === undefined ? 'a garbage token is refused' : 'the data the main identity gets'}), although the description secures it`,
      evidence: [
        ctx.http.evidence(request, response, `${response.status} without credentials`),
        ...(garbage === undefined
          ? []
          : [
              ctx.http.evidence(
                { method: 'GET', path, purpose: 'garbage token' },
                garbage,
                `a garbage token got ${garbage.status}`,
              ),
            ]),
      ],
    });
  }
  if (unverified > 0)
    ctx.note(
      `API2: ${unverified} secured operation(s) answered 2xx without credentials, but a garbage token got the same status; without --auth there is no signed-in answer to tell data from a refusal, so none was reported`,
    );
}

async function testJwt(ctx: ScanContext, probe: Probe | undefined, jwt: Jwt) {
  const cracked = crack(jwt);
  if (cracked !== undefined)
    ctx.report({
      rule: RULES.weakSecret,
      severity: RULES.weakSecret.severity,
      where: 'Authorization (main identity)',
      message: `the ${String(jwt.header.alg)} secret of the main identity's token is in the built-in weak-secret dictionary (${cracked.length} characters; found offline, no request sent)`,
      evidence: [
        offlineEvidence(
          'token signature verified offline with a dictionary secret (the secret is not shown)',
        ),
      ],
    });
  if (probe === undefined) return;
  const report = (rule: Rule, message: string, x: { request: ScanRequest; response: ScanResponse }) =>
    ctx.report({
      rule,
      severity: rule.severity,
      where: probe.op.label,
      message,
      evidence: [ctx.http.evidence(x.request, x.response, message)],
    });

  for (const alg of ['none', 'None']) {
    const token = `${b64({ ...jwt.header, alg })}.${b64(jwt.payload)}.`;
    const x = await tryToken(ctx, probe, jwt, token, `JWT: alg ${alg}, no signature`);
    if (is2xx(x.response)) {
      report(RULES.algNone, `an unsigned token (alg "${alg}") was accepted (${x.response.status})`, {
        request: x.request,
        response: x.response,
      });
      break;
    }
  }

  const flipped = Buffer.from(jwt.signature);
  if (flipped.length > 0) {
    flipped[0] = (flipped[0] as number) ^ 0xff;
    const token = `${jwt.signingInput}.${flipped.toString('base64url')}`;
    const x = await tryToken(ctx, probe, jwt, token, 'JWT: signature altered');
    if (is2xx(x.response))
      report(RULES.forged, `a token with an altered signature was accepted (${x.response.status})`, {
        request: x.request,
        response: x.response,
      });
  }

  const now = Math.floor(Date.now() / 1000);
  if (typeof jwt.payload.exp === 'number' && jwt.payload.exp < now - 60) {
    // The identity given is itself expired, and it worked for the probe.
    ctx.report({
      rule: RULES.expired,
      severity: RULES.expired.severity,
      where: probe.op.label,
      message: "the main identity's own token is expired and was accepted",
      evidence: [
        offlineEvidence(`token exp is ${now - jwt.payload.exp} s in the past; the probe answered 2xx`),
      ],
    });
  } else if (cracked !== undefined) {
    const { nbf: _nbf, ...rest } = jwt.payload;
    const expired = sign(jwt, cracked, { ...rest, iat: now - 7200, exp: now - 3600 });
    const x = await tryToken(
      ctx,
      probe,
      jwt,
      expired,
      'JWT: expired an hour ago (re-signed with the cracked secret)',
    );
    if (is2xx(x.response))
      report(RULES.expired, `a token expired an hour ago was accepted (${x.response.status})`, {
        request: x.request,
        response: x.response,
      });
  }

  if (cracked !== undefined) {
    const aud = `portcullis-scan-other-audience-${randomBytes(3).toString('hex')}`;
    const token = sign(jwt, cracked, { ...jwt.payload, aud });
    const x = await tryToken(ctx, probe, jwt, token, 'JWT: issued for another audience');
    if (is2xx(x.response))
      report(RULES.audience, `a token for another audience was accepted (${x.response.status})`, {
        request: x.request,
        response: x.response,
      });
  }
}

/** The spec declares apiKey in: query; or the probe accepts the token as ?access_token= / ?api_key=. */
async function testCredentialsInUrl(ctx: ScanContext, probe: Probe | undefined, a: Identity | undefined) {
  const components = ctx.spec.doc.components;
  const schemes = isObj(components) && isObj(components.securitySchemes) ? components.securitySchemes : {};
  for (const [name, raw] of Object.entries(schemes)) {
    const s = deref(ctx.spec.doc, raw);
    if (!isObj(s) || s.type !== 'apiKey' || s.in !== 'query') continue;
    ctx.report({
      rule: RULES.credentialsInUrl,
      severity: RULES.credentialsInUrl.severity,
      where: `components.securitySchemes.${name}`,
      message: `the description takes the API key in the query parameter "${String(s.name)}"`,
      evidence: [offlineEvidence(`securitySchemes.${name}: type apiKey, in query`)],
    });
  }
  if (a === undefined || probe === undefined) return;
  const token = a.value.replace(/^(Bearer|DPoP|ApiKey|Token)\s+/i, '');
  const sep = probe.path.includes('?') ? '&' : '?';
  for (const param of ['access_token', 'api_key', 'token', 'apikey']) {
    const request: ScanRequest = {
      method: 'GET',
      path: `${probe.path}${sep}${param}=${encodeURIComponent(token)}`,
      purpose: `auth: the credential as ?${param}=`,
    };
    const response = await ctx.http.send(request);
    if (!is2xx(response)) continue;
    ctx.report({
      rule: RULES.credentialsInUrl,
      severity: RULES.credentialsInUrl.severity,
      where: probe.op.label,
      message: `the main identity's credential was accepted as the query parameter ${param}`,
      evidence: [ctx.http.evidence(request, response, `${response.status} with ?${param}= and no header`)],
    });
    return;
  }
}

/** Example values of the login body's username field (from the media type's examples or the schema). */
function knownUsernames(ctx: ScanContext, op: PlannedOperation, field: string): string[] {
  const out: string[] = [];
  const add = (v: unknown) => {
    if (isObj(v) && typeof v[field] === 'string') out.push(v[field]);
  };
  const raw = rawOperation(ctx.spec.doc, op);
  const rb = raw === undefined ? undefined : deref(ctx.spec.doc, raw.requestBody);
  const content = isObj(rb) && isObj(rb.content) ? rb.content : {};
  for (const [media, entry] of Object.entries(content)) {
    if (!media.includes('json') || !isObj(entry)) continue;
    add(entry.example);
    if (isObj(entry.examples))
      for (const ex of Object.values(entry.examples)) {
        const e = deref(ctx.spec.doc, ex);
        if (isObj(e)) add(e.value);
      }
  }
  // The planned body holds the schema's own example; a made-up placeholder names nobody.
  const planned = isObj(op.body) ? op.body[field] : undefined;
  if (typeof planned === 'string' && !['example', 'scanner@example.com'].includes(planned)) out.push(planned);
  return [...new Set(out)];
}

function usernameField(body: Obj): string | undefined {
  const keys = Object.keys(body).filter((k) => typeof body[k] === 'string');
  return (
    keys.find((k) => /^(user-?name|login|email|e-mail|user)$/i.test(k)) ??
    keys.find((k) => /(user|login|mail|name)/i.test(k))
  );
}

/** A body with the volatile parts (ids, times, the username itself) blanked out. */
function normalize(body: string, username: string): string {
  return body
    .split(username)
    .join('<user>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
    .replace(/\d{4}-\d{2}-\d{2}[T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?/g, '<time>')
    .replace(/[0-9a-f]{16,}/gi, '<hex>')
    .replace(/\d+/g, '<n>');
}

async function attempt(ctx: ScanContext, op: PlannedOperation, body: Obj, purpose: string) {
  const request: ScanRequest = {
    method: 'POST',
    path: targetOf(op),
    headers: JSON_HEADERS,
    body: JSON.stringify(body),
    purpose,
  };
  return { request, response: await ctx.http.send(request) };
}

const isFailedLogin = (r: ScanResponse | undefined): r is ScanResponse =>
  r !== undefined && [400, 401, 403, 404, 422].includes(r.status);

const isThrottled = (r: ScanResponse): boolean =>
  r.status === 429 || r.status === 423 || r.status === 503 || r.headers['retry-after'] !== undefined;

async function testLogin(ctx: ScanContext, op: PlannedOperation) {
  const body = op.body as Obj;
  const pw = passwordField(body) as string;
  const user = usernameField(body);
  if (user === undefined) return;
  ctx.progress(`API2 ${op.label}`);
  const wrong = `Wrong-${randomBytes(6).toString('hex')}!`;
  const known = knownUsernames(ctx, op, user)[0];
  const sample = typeof body[user] === 'string' ? body[user] : '';
  const unknown = sample.includes('@')
    ? `nobody-${randomBytes(5).toString('hex')}@example.invalid`
    : `nobody-${randomBytes(5).toString('hex')}`;

  // Enumeration before lockout: a locked account would answer differently for another reason.
  if (known !== undefined) {
    const u1 = await attempt(ctx, op, { ...body, [user]: unknown, [pw]: wrong }, 'login: unknown user');
    const k = await attempt(
      ctx,
      op,
      { ...body, [user]: known, [pw]: wrong },
      'login: known user, wrong password',
    );
    const u2 = await attempt(
      ctx,
      op,
      { ...body, [user]: `${unknown}x`, [pw]: wrong },
      'login: another unknown user',
    );
    if (isFailedLogin(u1.response) && isFailedLogin(k.response) && u2.response !== undefined) {
      const ru = u1.response;
      const rk = k.response;
      let why: string | undefined;
      if (ru.status !== rk.status && ru.status === u2.response.status)
        why = `status ${rk.status} for a known user, ${ru.status} for an unknown one`;
      else if (
        ru.status === rk.status &&
        normalize(ru.body, unknown) === normalize(u2.response.body, `${unknown}x`) &&
        normalize(ru.body, unknown) !== normalize(rk.body, known)
      )
        why = `same status ${ru.status} but different bodies (${rk.body.length} vs ${ru.body.length} bytes)`;
      if (why !== undefined)
        ctx.report({
          rule: RULES.enumeration,
          severity: RULES.enumeration.severity,
          where: op.label,
          message: `wrong password and unknown user are answered differently: ${why}`,
          evidence: [
            ctx.http.evidence(k.request, k.response, 'existing user, wrong password'),
            ctx.http.evidence(u1.request, u1.response, 'unknown user'),
          ],
        });
    }
  }

  const name = known ?? (sample === '' ? unknown : sample);
  const failures: { request: ScanRequest; response: ScanResponse }[] = [];
  for (let i = 0; i < 10; i++) {
    const x = await attempt(
      ctx,
      op,
      { ...body, [user]: name, [pw]: `${wrong}${i}` },
      'login: wrong password (lockout)',
    );
    if (x.response === undefined) return;
    if (isThrottled(x.response)) return;
    // Only ordinary refusals count: a 404 or 5xx login says nothing about lockout.
    if (![400, 401, 403, 422].includes(x.response.status)) return;
    failures.push({ request: x.request, response: x.response });
  }
  const first = failures[0];
  const last = failures[failures.length - 1];
  if (first === undefined || last === undefined) return;
  const evidence: Evidence[] = [
    ctx.http.evidence(first.request, first.response, 'first wrong password'),
    ctx.http.evidence(last.request, last.response, `10th wrong password: still ${last.response.status}`),
  ];
  // The description's example may be a real account: if it signs in now, no lockout at all.
  const right = await attempt(
    ctx,
    op,
    { ...body, [user]: name },
    'login: the example credentials after 10 failures',
  );
  if (is2xx(right.response))
    evidence.push(ctx.http.evidence(right.request, right.response, 'the right password still works'));
  ctx.report({
    rule: RULES.noLockout,
    severity: RULES.noLockout.severity,
    where: op.label,
    message: `10 wrong passwords for one user were answered ${[...new Set(failures.map((f) => f.response.status))].join('/')} with no 429, 423 or Retry-After`,
    evidence,
  });
}

export const api2Auth: Check = {
  id: 'api2-auth',
  category: 'API2',
  description:
    'Secured operations without credentials, forged/unsigned/expired JWTs, weak HMAC secrets, tokens in URLs, login lockout and user enumeration.',
  rules: Object.values(RULES),
  async run(ctx) {
    const paths = new RealPaths(ctx);
    await testNoAuth(ctx, paths);
    // One probe for every token test: a secured GET that A may call and anonymous callers may not.
    const probe = ctx.auth === undefined ? undefined : await findProbe(ctx, paths, ctx.auth);
    const jwt = jwtOf(ctx.auth);
    if (jwt !== undefined) await testJwt(ctx, probe, jwt);
    await testCredentialsInUrl(ctx, probe, ctx.auth);
    const login = ctx.operations.find(isLogin);
    if (login !== undefined) await testLogin(ctx, login);
  },
};

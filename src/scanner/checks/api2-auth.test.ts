import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { startUpstream, type TestUpstream } from '../../../test/helpers.js';
import { bodyOf, ruleIds, sendJson, urlOf, writeSpec } from '../../../test/scan-support.js';
import { runScan } from '../runner.js';
import type { Identity } from '../types.js';

const spec = (queryKey: boolean) => `openapi: 3.0.3
info: { title: auth, version: "1" }
security: [{ bearer: [] }]
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer }
${queryKey ? '    queryKey: { type: apiKey, in: query, name: api_key }' : ''}
paths:
  /me:
    get: { responses: { "200": { description: ok }, "401": { description: no } } }
  /reports:
    get: { responses: { "200": { description: ok }, "401": { description: no } } }
  /login:
    post:
      security: []
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties: { username: { type: string }, password: { type: string } }
            example: { username: alice, password: not-the-password }
      responses: { "200": { description: ok }, "401": { description: no } }
`;

interface Flaws {
  readonly secret: string;
  /** Every flaw on, or the fixed behaviour. */
  readonly vulnerable: boolean;
}

const AUDIENCE = 'pets-api';

/** Verifies an HS256 token the way the API under test does (the vulnerable way when asked). */
function verify(token: string, f: Flaws): Record<string, unknown> | undefined {
  const [h, p, s] = token.split('.');
  if (h === undefined || p === undefined || s === undefined) return undefined;
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString());
    payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  } catch {
    return undefined;
  }
  if (f.vulnerable) return payload; // alg none, any signature, expired, any audience: all fine
  if (header.alg !== 'HS256') return undefined;
  const mac = createHmac('sha256', f.secret).update(`${h}.${p}`).digest('base64url');
  if (mac !== s) return undefined;
  if (typeof payload.exp !== 'number' || payload.exp < Date.now() / 1000) return undefined;
  if (payload.aud !== AUDIENCE) return undefined;
  return payload;
}

function authApi(f: Flaws) {
  const failures = new Map<string, number>();
  return startUpstream((req, res, call) => {
    const { path, query } = urlOf(call);
    if (path === '/login' && call.method === 'POST') {
      const b = bodyOf(call) ?? {};
      const user = String(b.username);
      if (!f.vulnerable) {
        const n = failures.get(user) ?? 0;
        if (n >= 5) return sendJson(res, 429, { error: 'slow down' }, { 'retry-after': '60' });
        if (user === 'alice' && b.password === 'Correct-horse-1') return sendJson(res, 200, { ok: true });
        failures.set(user, n + 1);
        return sendJson(res, 401, { error: 'invalid credentials' });
      }
      if (user !== 'alice') return sendJson(res, 404, { error: 'no such user' });
      if (b.password !== 'Correct-horse-1') return sendJson(res, 401, { error: 'wrong password' });
      return sendJson(res, 200, { ok: true });
    }
    if (path === '/reports' && f.vulnerable) return sendJson(res, 200, { reports: [] });
    const header = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    const token = header ?? (f.vulnerable ? (query.get('access_token') ?? undefined) : undefined);
    const claims = token === undefined ? undefined : verify(token, f);
    if (claims === undefined) return sendJson(res, 401, { error: 'unauthenticated' });
    if (path === '/me') return sendJson(res, 200, { sub: claims.sub });
    if (path === '/reports') return sendJson(res, 200, { reports: [] });
    sendJson(res, 404, { error: 'not found' });
  });
}

async function tokenFor(secret: string): Promise<Identity> {
  const token = await new SignJWT({ scope: 'pets' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject('alice')
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));
  return { name: 'alice', header: 'authorization', value: `Bearer ${token}` };
}

describe('api2-auth', () => {
  const servers: TestUpstream[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });

  async function scan(f: Flaws, queryKey = false) {
    const api = await authApi(f);
    servers.push(api);
    const auth = await tokenFor(f.secret);
    const result = await runScan({
      specFile: writeSpec(spec(queryKey)),
      target: api.url,
      auth,
      checks: ['api2-auth'],
      rate: 0,
      canary: false,
    });
    assert.doesNotMatch(JSON.stringify(result), new RegExp(auth.value.slice(7).replaceAll('.', '\\.')));
    return result;
  }

  it('finds every authentication flaw of the vulnerable API', async () => {
    const result = await scan({ secret: 'secret', vulnerable: true });
    assert.deepEqual(ruleIds(result), [
      'api2-credentials-in-url',
      'api2-jwt-alg-none',
      'api2-jwt-expired',
      'api2-jwt-forged',
      'api2-jwt-weak-secret',
      'api2-jwt-wrong-audience',
      'api2-no-auth',
      'api2-no-login-lockout',
      'api2-user-enumeration',
    ]);
    assert.equal(result.findings.find((f) => f.rule.id === 'api2-no-auth')?.where, 'GET /reports');
    const weak = result.findings.find((f) => f.rule.id === 'api2-jwt-weak-secret');
    assert.doesNotMatch(JSON.stringify(weak), /"secret"/, 'the cracked secret is never printed');
    const enumeration = result.findings.find((f) => f.rule.id === 'api2-user-enumeration');
    assert.match(enumeration?.message ?? '', /status 401 for a known user, 404 for an unknown one/);
  });

  it('finds nothing on the fixed API', async () => {
    const result = await scan({ secret: randomBytes(32).toString('hex'), vulnerable: false });
    assert.deepEqual(ruleIds(result), []);
  });

  it('a weak secret on an otherwise strict API: only the secret is reported; expiry and audience hold', async () => {
    const result = await scan({ secret: 'secret', vulnerable: false });
    assert.deepEqual(ruleIds(result), ['api2-jwt-weak-secret']);
  });

  it('enumeration by body: same status, different message; request ids and times do not count', async () => {
    const login = await startUpstream((_req, res, call) => {
      const b = bodyOf(call) ?? {};
      const volatile = { requestId: randomUUID(), at: new Date().toISOString() };
      const error = b.username === 'alice' ? 'wrong password' : 'unknown account';
      sendJson(res, 401, { error, ...volatile }, { 'retry-after': '1' });
    });
    const uniform = await startUpstream((_req, res) =>
      sendJson(
        res,
        401,
        { error: 'invalid credentials', requestId: randomUUID(), at: new Date().toISOString() },
        { 'retry-after': '1' },
      ),
    );
    servers.push(login, uniform);
    const run = (target: TestUpstream) =>
      runScan({
        specFile: writeSpec(spec(false)),
        target: target.url,
        checks: ['api2-auth'],
        rate: 0,
        canary: false,
      });
    const found = await run(login);
    assert.deepEqual(ruleIds(found), ['api2-user-enumeration']);
    assert.match(found.findings[0]?.message ?? '', /same status 401 but different bodies/);
    assert.deepEqual(ruleIds(await run(uniform)), []);
  });

  it('reports an API key the description puts in the query string', async () => {
    const result = await scan({ secret: randomBytes(32).toString('hex'), vulnerable: false }, true);
    assert.deepEqual(
      result.findings.map((f) => `${f.rule.id} ${f.where}`),
      ['api2-credentials-in-url components.securitySchemes.queryKey'],
    );
  });
});

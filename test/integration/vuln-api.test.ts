import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:tls';
import { parse } from 'yaml';
import { compilePlan } from '../../src/config/compile.js';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfigFile } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { loadSpec } from '../../src/openapi/load.js';
import { createDefaultRegistry } from '../../src/plugins/index.js';
import { startVulnApi, type VulnApi } from '../fixtures/vuln-api/server.js';
import { problemOf, startGateway, TEST_AUDIT_PATH, type TestGateway } from '../helpers.js';

const DIR = 'test/fixtures/vuln-api';

/** An HTTP exchange: status, lower-case headers, body text, and how long it took. */
interface Answer {
  status: number;
  headers: Headers;
  body: string;
  ms: number;
}

async function call(
  base: string,
  path: string,
  init: RequestInit & { token?: string } = {},
): Promise<Answer> {
  const headers = new Headers(init.headers);
  if (init.token !== undefined) headers.set('authorization', `Bearer ${init.token}`);
  if (typeof init.body === 'string') headers.set('content-type', 'application/json');
  const started = Date.now();
  const res = await fetch(`${base}${path}`, { ...init, headers });
  const body = await res.text();
  return { status: res.status, headers: res.headers, body, ms: Date.now() - started };
}

const json = (value: unknown) => JSON.stringify(value);

/** alice's token with the header switched to alg "none" and the signature dropped. */
function algNone(token: string): string {
  const payload = token.split('.')[1] ?? '';
  return `${Buffer.from(json({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
}

/** TRACE cannot be sent with fetch. */
function trace(base: string): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: 'TRACE',
        path: '/v2/notes',
        headers: { 'x-probe': 'p1' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The negotiated protocol of a TLS 1.1-only handshake, or the error message. */
function tls11(httpsUrl: string): Promise<string> {
  const url = new URL(httpsUrl);
  return new Promise((resolve) => {
    const socket = connect(
      {
        host: url.hostname,
        port: Number(url.port),
        rejectUnauthorized: false,
        minVersion: 'TLSv1.1',
        maxVersion: 'TLSv1.1',
        ciphers: 'DEFAULT@SECLEVEL=0',
      },
      () => {
        resolve(socket.getProtocol() ?? 'unknown');
        socket.end();
      },
    );
    socket.on('error', (err) => resolve(`error: ${err.message}`));
  });
}

/** The Strict-Transport-Security header of an answer over https (the dev certificate is not checked). */
function hstsOf(httpsUrl: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${httpsUrl}/actuator/env`, { rejectUnauthorized: false }, (res) => {
      res.resume();
      const value = res.headers['strict-transport-security'];
      resolve(typeof value === 'string' ? value : undefined);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the vulnerable demo API and its fixed twin', () => {
  let vuln: VulnApi;
  let fixed: VulnApi;

  before(async () => {
    vuln = await startVulnApi({ fixed: false, https: true });
    fixed = await startVulnApi({ fixed: true, https: true });
  });
  after(async () => {
    await vuln.close();
    await fixed.close();
  });

  it('api2-jwt-alg-none / -expired: an unsigned or expired token is accepted, by the fixed twin refused', async () => {
    assert.equal((await call(vuln.url, '/v2/users/me', { token: algNone(vuln.tokens.alice) })).status, 200);
    assert.equal((await call(fixed.url, '/v2/users/me', { token: algNone(fixed.tokens.alice) })).status, 401);
    const expiredV = await vuln.sign('alice', {}, { expiresIn: -60 });
    const expiredF = await fixed.sign('alice', {}, { expiresIn: -60 });
    assert.equal((await call(vuln.url, '/v2/users/me', { token: expiredV })).status, 200);
    assert.equal((await call(fixed.url, '/v2/users/me', { token: expiredF })).status, 401);
    assert.equal((await call(fixed.url, '/v2/users/me', { token: fixed.tokens.alice })).status, 200);
  });

  it('api2-no-auth: the secured note list answers without credentials; the fixed twin says 401', async () => {
    assert.equal((await call(vuln.url, '/v2/notes')).status, 200);
    assert.equal((await call(fixed.url, '/v2/notes')).status, 401);
  });

  it("api1-bola-read / -delete / predictable ids: bob reads and deletes alice's note; the fixed twin hides it", async () => {
    for (const api of [vuln, fixed]) {
      const created = await call(api.url, '/v2/notes', {
        method: 'POST',
        token: api.tokens.alice,
        body: json({ title: 'mine', body: 'alice only' }),
      });
      assert.equal(created.status, 201);
      const id = String((JSON.parse(created.body) as { id: unknown }).id);
      const read = await call(api.url, `/v2/notes/${id}`, { token: api.tokens.bob });
      assert.equal(read.status, api.fixed ? 404 : 200);
      if (!api.fixed) {
        // Sequential ids: the neighbour belongs to someone else and alice reads it.
        const neighbour = await call(api.url, `/v2/notes/${Number(id) - 1}`, { token: api.tokens.alice });
        assert.equal(neighbour.status, 200);
        assert.notEqual((JSON.parse(neighbour.body) as { ownerId: string }).ownerId, 'alice');
      } else assert.match(id, /^[0-9a-f-]{36}$/);
      const del = await call(api.url, `/v2/notes/${id}`, { method: 'DELETE', token: api.tokens.bob });
      assert.equal(del.status, api.fixed ? 404 : 204);
    }
  });

  it('api3-mass-assignment / api3-sensitive-data: role sticks and passwordHash leaks; the fixed twin refuses', async () => {
    const v = await call(vuln.url, '/v2/users/me', {
      method: 'PATCH',
      token: vuln.tokens.bob,
      body: json({ role: 'admin', isAdmin: true }),
    });
    assert.equal(v.status, 200);
    const back = JSON.parse(
      (await call(vuln.url, '/v2/users/me', { token: vuln.tokens.bob })).body,
    ) as Record<string, unknown>;
    assert.equal(back.role, 'admin');
    assert.equal(typeof back.passwordHash, 'string');
    assert.equal(typeof back.internalNotes, 'string');
    const f = await call(fixed.url, '/v2/users/me', {
      method: 'PATCH',
      token: fixed.tokens.bob,
      body: json({ role: 'admin' }),
    });
    assert.equal(f.status, 400);
    const me = JSON.parse(
      (await call(fixed.url, '/v2/users/me', { token: fixed.tokens.bob })).body,
    ) as object;
    assert.deepEqual(Object.keys(me).sort(), ['email', 'id', 'role', 'username']);
  });

  it('api5-function-level: a plain user lists every account; the fixed twin answers 403', async () => {
    assert.equal((await call(vuln.url, '/v2/admin/users', { token: vuln.tokens.carol })).status, 200);
    assert.equal((await call(fixed.url, '/v2/admin/users', { token: fixed.tokens.bob })).status, 403);
    assert.equal((await call(fixed.url, '/v2/admin/users', { token: fixed.tokens.admin })).status, 200);
  });

  it('inj-path-traversal: ../../etc/passwd is read; the fixed twin refuses the name', async () => {
    const path = `/v2/files?name=${encodeURIComponent('../../../../etc/passwd')}`;
    const v = await call(vuln.url, path, { token: vuln.tokens.alice });
    assert.equal(v.status, 200);
    assert.match(v.body, /root:x:0:0:root:\/root:\/bin\/bash/);
    const f = await call(fixed.url, path, { token: fixed.tokens.alice });
    assert.equal(f.status, 400);
    assert.doesNotMatch(f.body, /root:x/);
  });

  it('inj-sql-error / inj-sql-boolean: a quote shows SQL errors, OR 1=1 every row; the fixed twin neither', async () => {
    const q = (text: string) => `/v2/search?q=${encodeURIComponent(text)}`;
    const quote = await call(vuln.url, q("tools'"));
    assert.equal(quote.status, 500);
    assert.match(quote.body, /SQLSTATE\[42601\].*unterminated quoted string/);
    const base = JSON.parse((await call(vuln.url, q('tools'))).body) as unknown[];
    const all = JSON.parse((await call(vuln.url, q("tools' OR '1'='1"))).body) as unknown[];
    const none = JSON.parse((await call(vuln.url, q("tools' AND '1'='2"))).body) as unknown[];
    assert.deepEqual([base.length, all.length, none.length], [2, 5, 0]);
    const fixedQuote = await call(fixed.url, q("tools'"), { token: fixed.tokens.alice });
    assert.equal(fixedQuote.status, 200);
    assert.equal(fixedQuote.body, '[]');
    const fixedOr = await call(fixed.url, q("tools' OR '1'='1"), { token: fixed.tokens.alice });
    assert.equal(fixedOr.body, '[]');
  });

  it('inj-sql-time / inj-command-time: sleep(1) and ;sleep 1 delay the answer; the fixed twin answers at once', async () => {
    const sql = await call(vuln.url, `/v2/search?q=${encodeURIComponent("tools' AND pg_sleep(1)--")}`);
    assert.ok(sql.ms >= 900, `SQL sleep took ${sql.ms} ms`);
    const cmd = await call(vuln.url, `/v2/ping?host=${encodeURIComponent('127.0.0.1;sleep 1')}`, {
      token: vuln.tokens.alice,
    });
    assert.equal(cmd.status, 200);
    assert.ok(cmd.ms >= 900, `command sleep took ${cmd.ms} ms`);
    const f = await call(fixed.url, `/v2/ping?host=${encodeURIComponent('127.0.0.1;sleep 1')}`, {
      token: fixed.tokens.alice,
    });
    assert.equal(f.status, 400);
    assert.ok(f.ms < 500);
  });

  it('inj-nosql / api2-user-enumeration: {"$ne":null} signs in, answers differ; the fixed twin neither', async () => {
    const login = (api: VulnApi, body: unknown) =>
      call(api.url, '/v2/login', { method: 'POST', body: json(body) });
    assert.equal((await login(vuln, { username: 'alice', password: { $ne: null } })).status, 200);
    assert.equal((await login(fixed, { username: 'alice', password: { $ne: null } })).status, 400);
    const unknownV = await login(vuln, { username: 'nobody', password: 'x' });
    const wrongV = await login(vuln, { username: 'alice', password: 'x' });
    assert.notEqual(unknownV.status, wrongV.status);
    const unknownF = await login(fixed, { username: 'nobody', password: 'x' });
    const wrongF = await login(fixed, { username: 'carol', password: 'x' });
    assert.deepEqual([unknownF.status, unknownF.body], [wrongF.status, wrongF.body]);
  });

  it('api2-no-login-lockout: ten wrong passwords, the right one still works; the fixed twin locks (429)', async () => {
    const login = (api: VulnApi, password: string) =>
      call(api.url, '/v2/login', { method: 'POST', body: json({ username: 'admin', password }) });
    const fixedStatuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      assert.equal((await login(vuln, 'wrong')).status, 401);
      fixedStatuses.push((await login(fixed, 'wrong')).status);
    }
    assert.equal((await login(vuln, 'admin-password-1')).status, 200);
    assert.deepEqual(fixedStatuses, [401, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
    const locked = await login(fixed, 'admin-password-1');
    assert.equal(locked.status, 429);
    assert.ok(Number(locked.headers.get('retry-after')) > 0);
  });

  it('api4-large-page / api4-no-rate-limit: 100000 items asked, 1200+ given, no 429; the fixed twin limits', async () => {
    const page = await call(vuln.url, '/v2/notes?limit=100000', { token: vuln.tokens.alice });
    assert.ok((JSON.parse(page.body) as unknown[]).length > 1000);
    assert.equal(
      (await call(fixed.url, '/v2/notes?limit=100000', { token: fixed.tokens.alice })).status,
      400,
    );
    const burst = async (api: VulnApi) =>
      (
        await Promise.all(
          Array.from({ length: 30 }, () => call(api.url, '/v2/search?q=tools', { token: api.tokens.carol })),
        )
      ).filter((a) => a.status === 429).length;
    assert.equal(await burst(vuln), 0);
    assert.ok((await burst(fixed)) > 0);
  });

  it('api8: banner, reflected CORS, stack traces and TRACE; the fixed twin sends nosniff and no-store', async () => {
    const v = await call(vuln.url, '/v2/users/me', {
      token: vuln.tokens.alice,
      headers: { origin: 'https://evil.example' },
    });
    assert.equal(v.headers.get('server'), 'Express/4.17.1');
    assert.equal(v.headers.get('access-control-allow-origin'), 'https://evil.example');
    assert.equal(v.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(v.headers.get('x-content-type-options'), null);
    const f = await call(fixed.url, '/v2/users/me', {
      token: fixed.tokens.alice,
      headers: { origin: 'https://evil.example' },
    });
    assert.equal(f.headers.get('server'), null);
    assert.equal(f.headers.get('x-powered-by'), null);
    assert.equal(f.headers.get('access-control-allow-origin'), null);
    assert.equal(f.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(f.headers.get('cache-control'), 'no-store');
    const bad = { method: 'POST', body: '{"title": ' } as const;
    const vBad = await call(vuln.url, '/v2/notes', { ...bad, token: vuln.tokens.alice });
    assert.match(vBad.body, /SyntaxError.*\\n\s+at /);
    const fBad = await call(fixed.url, '/v2/notes', { ...bad, token: fixed.tokens.alice });
    assert.equal(fBad.status, 400);
    assert.doesNotMatch(fBad.body, /SyntaxError| at /);
    const vTrace = await trace(vuln.url);
    assert.equal(vTrace.status, 200);
    assert.match(vTrace.body, /x-probe: p1/i);
    assert.equal((await trace(fixed.url)).status, 405);
  });

  it('api8-weak-tls: the vulnerable twin negotiates TLS 1.1; the fixed twin refuses it', async () => {
    assert.equal(await tls11(vuln.httpsUrl ?? ''), 'TLSv1.1');
    assert.match(await tls11(fixed.httpsUrl ?? ''), /^error/);
    assert.equal(await hstsOf(vuln.httpsUrl ?? ''), undefined);
    assert.match((await hstsOf(fixed.httpsUrl ?? '')) ?? '', /max-age=31536000/);
  });

  it('api9: /actuator/env and the old /v1 answer, GET /v2/stats is a 404; the fixed twin the reverse', async () => {
    assert.equal((await call(vuln.url, '/actuator/env')).status, 200);
    assert.equal((await call(fixed.url, '/actuator/env')).status, 404);
    assert.equal((await call(vuln.url, '/v1/users/me', { token: vuln.tokens.alice })).status, 200);
    assert.equal((await call(fixed.url, '/v1/users/me', { token: fixed.tokens.alice })).status, 404);
    assert.equal((await call(vuln.url, '/v2/stats', { token: vuln.tokens.alice })).status, 404);
    assert.equal((await call(fixed.url, '/v2/stats', { token: fixed.tokens.carol })).status, 200);
  });

  it('api7-ssrf: the API fetches a loopback URL and accepts the metadata address; the fixed twin refuses', async () => {
    const target = `${vuln.url}/actuator/env`;
    const v = await call(vuln.url, `/v2/fetch?url=${encodeURIComponent(target)}`, {
      token: vuln.tokens.alice,
    });
    assert.equal(v.status, 200);
    assert.match(v.body, /propertySources/);
    const meta = `/v2/fetch?url=${encodeURIComponent('http://169.254.169.254/latest/meta-data/')}`;
    assert.equal((await call(vuln.url, meta, { token: vuln.tokens.alice })).status, 200);
    assert.equal((await call(fixed.url, meta, { token: fixed.tokens.alice })).status, 400);
    const f = await call(fixed.url, `/v2/fetch?url=${encodeURIComponent(target)}`, {
      token: fixed.tokens.alice,
    });
    assert.equal(f.status, 400);
  });
});

describe('the demo API descriptions and configs', () => {
  it('both descriptions load; the vulnerable one puts a token in the query, the fixed one secures all but sign-in', async () => {
    const vuln = await loadSpec(join(DIR, 'openapi.yaml'));
    const fixed = await loadSpec(join(DIR, 'openapi-fixed.yaml'));
    assert.equal(vuln.version, '3.0');
    assert.equal(fixed.version, '3.0');
    const schemes = (vuln.doc.components as { securitySchemes: Record<string, { in?: string }> })
      .securitySchemes;
    assert.equal(schemes.accessTokenQuery?.in, 'query');
    const paths = fixed.doc.paths as Record<string, Record<string, { security?: unknown[] }>>;
    const open = Object.entries(paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => Array.isArray(op.security) && op.security.length === 0)
        .map(([method]) => `${method} ${path}`),
    );
    assert.deepEqual(open, ['post /v2/login']);
  });

  it('the weak config is schema-valid but does not compile (short secret, "*" with credentials)', async () => {
    const registry = createDefaultRegistry();
    const loaded = await loadConfigFile(join(DIR, 'portcullis-vulnerable.yaml'), { registry, env: {} });
    await assert.rejects(() => compilePlan(loaded, { registry, logger: createLogger('silent'), version: 1 }));
  });

  it('the hardened config compiles', async () => {
    const registry = createDefaultRegistry();
    const env = {
      VULN_API_URL: 'http://127.0.0.1:9',
      VULN_API_JWT_SECRET: randomBytes(48).toString('base64'),
    };
    const loaded = await loadConfigFile(join(DIR, 'portcullis-hardened.yaml'), { registry, env });
    const plan = await compilePlan(loaded, { registry, logger: createLogger('silent'), version: 1 });
    assert.deepEqual(
      plan.routes.map((r) => r.id),
      [
        'login',
        'me-read',
        'me-write',
        'admin-users',
        'notes-list',
        'notes-create',
        'note-read',
        'note-write',
        'tools',
      ],
    );
    await plan.close(true);
    await assert.rejects(
      () => loadConfigFile(join(DIR, 'portcullis-hardened.yaml'), { registry, env: {} }),
      ConfigError,
    );
  });
});

describe('the vulnerable API behind the hardened config', () => {
  const secret = randomBytes(48).toString('base64');
  let api: VulnApi;
  let gw: TestGateway;

  before(async () => {
    api = await startVulnApi({ fixed: false, jwtSecret: secret });
    const config = parse(readFileSync(join(DIR, 'portcullis-hardened.yaml'), 'utf8')) as Record<
      string,
      unknown
    >;
    const usage = join(mkdtempSync(join(tmpdir(), 'portcullis-vuln-')), 'usage.db');
    const versioning = config.versioning as Record<string, unknown>;
    gw = await startGateway(
      {
        ...config,
        observability: { audit: { path: TEST_AUDIT_PATH } },
        versioning: { ...versioning, usage: { path: usage } },
      },
      { VULN_API_URL: api.url, VULN_API_JWT_SECRET: secret },
    );
  });
  after(async () => {
    await gw.close();
    await api.close();
  });

  it('refuses alg none, expired tokens and anonymous calls the API would have taken', async () => {
    assert.equal((await call(gw.url, '/v2/users/me', { token: api.tokens.alice })).status, 200);
    assert.equal((await call(gw.url, '/v2/users/me', { token: algNone(api.tokens.alice) })).status, 401);
    const expired = await api.sign('alice', { roles: ['user'] }, { expiresIn: -600 });
    assert.equal((await call(gw.url, '/v2/users/me', { token: expired })).status, 401);
    assert.equal((await call(gw.url, '/v2/notes')).status, 401);
  });

  it("hides another user's note, strips undeclared fields and masks the hash", async () => {
    const created = await call(gw.url, '/v2/notes', {
      method: 'POST',
      token: api.tokens.alice,
      body: json({ title: 'mine', body: 'alice only' }),
    });
    assert.equal(created.status, 201);
    const id = (JSON.parse(created.body) as { id: number }).id;
    assert.equal((await call(gw.url, `/v2/notes/${id}`, { token: api.tokens.alice })).status, 200);
    assert.equal((await call(gw.url, `/v2/notes/${id}`, { token: api.tokens.bob })).status, 404);
    assert.equal((await call(gw.url, `/v2/notes/${id - 1}`, { token: api.tokens.alice })).status, 404);
    assert.equal(
      (await call(gw.url, `/v2/notes/${id}`, { method: 'DELETE', token: api.tokens.bob })).status,
      404,
    );
    const me = await call(gw.url, '/v2/users/me', { token: api.tokens.alice });
    const body = JSON.parse(me.body) as Record<string, unknown>;
    assert.equal(body.internalNotes, undefined);
    assert.notEqual(body.passwordHash, undefined);
    assert.doesNotMatch(String(body.passwordHash), /^[0-9a-f]{64}$/);
    assert.equal(me.headers.get('server'), null);
    assert.equal(me.headers.get('x-content-type-options'), 'nosniff');
  });

  it('refuses mass assignment, admin calls by a user, traversal, SQL and shell payloads, retired and debug paths', async () => {
    const patch = await call(gw.url, '/v2/users/me', {
      method: 'PATCH',
      token: api.tokens.bob,
      body: json({ role: 'admin', isAdmin: true }),
    });
    assert.equal(patch.status, 400);
    assert.equal(problemOf(patch.headers.get('content-type'), patch.body).code, 'REQUEST_INVALID');
    assert.equal((await call(gw.url, '/v2/admin/users', { token: api.tokens.bob })).status, 403);
    const passwd = await call(gw.url, `/v2/files?name=${encodeURIComponent('../../../../etc/passwd')}`, {
      token: api.tokens.alice,
    });
    assert.equal(passwd.status, 403);
    const sql = await call(gw.url, `/v2/search?q=${encodeURIComponent("tools' OR '1'='1")}`, {
      token: api.tokens.alice,
    });
    assert.equal(sql.status, 403);
    const shell = await call(gw.url, `/v2/ping?host=${encodeURIComponent('127.0.0.1;sleep 2')}`, {
      token: api.tokens.alice,
    });
    assert.equal(shell.status, 403);
    assert.ok(shell.ms < 1000);
    assert.equal((await call(gw.url, '/v1/users/me', { token: api.tokens.alice })).status, 410);
    assert.equal((await call(gw.url, '/actuator/env')).status, 404);
  });

  it('answers a pathological tag and a huge page size at once, before the backtracking pattern runs', async () => {
    const slow = await call(gw.url, `/v2/notes?tag=${'a'.repeat(40)}!`, { token: api.tokens.alice });
    assert.equal(slow.status, 403);
    assert.ok(slow.ms < 1000, `took ${slow.ms} ms`);
    assert.equal((await call(gw.url, '/v2/notes?limit=100000', { token: api.tokens.alice })).status, 403);
    const page = await call(gw.url, '/v2/notes?limit=50', { token: api.tokens.alice });
    assert.equal(page.status, 200);
    for (const note of JSON.parse(page.body) as { ownerId: string }[]) assert.equal(note.ownerId, 'alice');
  });
});

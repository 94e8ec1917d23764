import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { loadConfigObject } from '../../src/config/load.js';
import { createDefaultRegistry } from '../../src/plugins/index.js';
import { baseConfig, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

interface Answer {
  status: number;
  body: string;
}
function call(url: string, method: string, token?: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    const req = httpRequest(url, { method, headers, agent: false }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => {
        b += d.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const TOKENS = {
  viewer: 'viewer-token-0123456789abcdef0123456789',
  operator: 'operator-token-0123456789abcdef012345678',
  admin: 'admin-token-0123456789abcdef0123456789ab',
};

describe('review: admin listener probes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pc-review-admin-'));
  const env = {
    PC_RV_VIEWER: TOKENS.viewer,
    PC_RV_OPERATOR: TOKENS.operator,
    PC_RV_ADMIN: TOKENS.admin,
    PC_RV_PEPPER: 'pepper-from-env-0123456789abcdef0123456789',
    PC_RV_PEM: generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'sec1', format: 'pem' })
      .toString(),
  };
  let upstream: TestUpstream;
  let gw: TestGateway;
  let admin: string;
  let config: Record<string, unknown>;
  before(async () => {
    Object.assign(process.env, env);
    upstream = await startUpstream();
    config = baseConfig(upstream.url, {
      stores: {
        keys: { path: join(dir, 'keys.db'), pepper: '${env:PC_RV_PEPPER}', pollMs: 100 },
        redis: { url: 'redis://default:hunter2@127.0.0.1:1' },
      },
      admin: {
        enabled: true,
        port: 0,
        tokens: [
          { name: 'vera', role: 'viewer', token: '${env:PC_RV_VIEWER}' },
          { name: 'otto', role: 'operator', token: '${env:PC_RV_OPERATOR}' },
          { name: 'ada', role: 'admin', token: '${env:PC_RV_ADMIN}' },
        ],
      },
      observability: {
        audit: { path: join(dir, 'audit.db') },
        anomaly: {
          webhooks: [
            {
              url: 'https://hooks.slack.example/services/T000/B000/SLACKPATHSECRET?token=QUERYSECRET',
              secret: 'webhook-hmac-secret-0123456789',
            },
          ],
        },
      },
    });
    gw = await startGateway(config, env);
    admin = (gw.gateway.admin as { url: string }).url;
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  // Findings of the security review of the admin API, kept as regression tests of the fixes.
  it('finding 1: an operator must not read env values (the admin token) through config/validate', async () => {
    const probe = structuredClone(config) as Record<string, Record<string, unknown>>;
    (probe.admin as Record<string, unknown>).allowFrom = ['${env:PC_RV_ADMIN}'];
    const a = await call(`${admin}/api/v1/config/validate`, 'POST', TOKENS.operator, stringify(probe));
    const m = /"([^"\\]{32,})\\" is not an IP address/.exec(a.body);
    if (m !== null) {
      // The leaked value is the admin token: the operator can now apply configs (admin only).
      const leaked = m[1] as string;
      const b = await call(`${admin}/api/v1/config/apply`, 'POST', leaked, stringify(config));
      assert.fail(
        `operator read the admin token "${leaked}" and applied a config as admin (HTTP ${b.status})`,
      );
    }
    assert.ok(!a.body.includes(TOKENS.admin));
  });

  it('issue-10 review: no line of a multi-line env value (a PEM key) comes back through a parser error', async () => {
    const probe = structuredClone(config) as Record<string, Record<string, unknown>>;
    probe.plugins = {
      ...probe.plugins,
      policy: { rules: [{ name: 'x', allow: 'true // ${env:PC_RV_PEM}' }] },
    };
    const a = await call(`${admin}/api/v1/config/validate`, 'POST', TOKENS.operator, stringify(probe));
    assert.equal(a.status, 200);
    assert.match(a.body, /"valid":false/);
    for (const line of env.PC_RV_PEM.trim().split('\n')) {
      if (line.startsWith('-----')) continue;
      assert.ok(!a.body.includes(line), 'a PEM line leaked');
      assert.ok(!a.body.includes(line.slice(10, 30)), 'part of a PEM line leaked');
    }
  });

  it('finding 2: credentials in URLs (webhook url, redis url) are redacted in GET /api/v1/config', async () => {
    const a = await call(`${admin}/api/v1/config`, 'GET', TOKENS.viewer);
    assert.equal(a.status, 200);
    assert.ok(!a.body.includes('QUERYSECRET'), 'webhook URL token shown to a viewer');
    assert.ok(!a.body.includes('hunter2'), 'redis password shown to a viewer');
  });

  it('already right: env secrets, webhook secret, tokens, pepper are redacted', async () => {
    const a = await call(`${admin}/api/v1/config`, 'GET', TOKENS.viewer);
    for (const s of ['webhook-hmac-secret', TOKENS.admin, TOKENS.operator, TOKENS.viewer, 'pepper-from-env'])
      assert.ok(!a.body.includes(s), s);
  });

  it('already right: role checks on write endpoints, no token, traversal', async () => {
    const writes: [string, string, string][] = [
      ['POST', '/api/v1/config/validate', 'viewer'],
      ['POST', '/api/v1/config/apply', 'operator'],
      ['POST', '/api/v1/config/rollback', 'operator'],
      ['POST', '/api/v1/keys', 'viewer'],
      ['POST', '/api/v1/keys/abc/revoke', 'viewer'],
      ['DELETE', '/api/v1/blocks/abc', 'viewer'],
      ['GET', '/api/v1/audit/export', 'operator'],
      ['HEAD', '/api/v1/audit/export', 'operator'],
    ];
    for (const [method, path, role] of writes) {
      const a = await call(`${admin}${path}`, method, TOKENS[role as keyof typeof TOKENS], '{}');
      assert.equal(a.status, 403, `${method} ${path} as ${role}`);
    }
    assert.equal((await call(`${admin}/api/v1/config`, 'GET')).status, 401);
    assert.equal((await call(`${admin}/api/v1/config`, 'GET', `${TOKENS.admin}x`)).status, 401);
    for (const p of [
      '/assets/..%2fapi.js',
      '/assets/../../package.json',
      '/assets/%2e%2e%2fserver.js',
      '/assets/.env',
    ])
      assert.equal((await call(`${admin}${p}`, 'GET')).status, 404, p);
  });
});

describe('review: admin access after a reload with a bad allowFrom entry', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let admin: string;
  const env = { PC_RV2_ADMIN: TOKENS.admin, PC_RV2_VIEWER: TOKENS.viewer };
  const configWith = (tokens: unknown[], allowFrom: string[]) =>
    baseConfig(upstream.url, { admin: { enabled: true, port: 0, allowFrom, tokens } });
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      configWith(
        [
          { name: 'ada', role: 'admin', token: '${env:PC_RV2_ADMIN}' },
          { name: 'vera', role: 'viewer', token: '${env:PC_RV2_VIEWER}' },
        ],
        ['127.0.0.1/32', '::1/128'],
      ),
      env,
    );
    admin = (gw.gateway.admin as { url: string }).url;
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('finding 3: a reload with a typo in admin.allowFrom is refused whole (never a half-applied admin config)', async () => {
    assert.equal((await call(`${admin}/api/v1/config`, 'GET', TOKENS.admin)).status, 200);
    // The operator rotates the leaked admin token out (SIGHUP-style reload) and mistypes an allowFrom entry.
    const registry = createDefaultRegistry();
    const loaded = loadConfigObject(
      configWith(
        [{ name: 'vera', role: 'viewer', token: '${env:PC_RV2_VIEWER}' }],
        ['127.0.0.1/32', '::1/12B'],
      ),
      { registry, env },
    );
    await assert.rejects(gw.gateway.reload(loaded, { by: 'reload' }), /admin\.allowFrom/);
    // The running config is unchanged (a failed reload keeps the last good plan); fixing the typo
    // and reloading again is what removes the token.
    const fixed = loadConfigObject(
      configWith(
        [{ name: 'vera', role: 'viewer', token: '${env:PC_RV2_VIEWER}' }],
        ['127.0.0.1/32', '::1/128'],
      ),
      { registry, env },
    );
    await gw.gateway.reload(fixed, { by: 'reload' });
    const a = await call(`${admin}/api/v1/config`, 'GET', TOKENS.admin);
    assert.equal(a.status, 401, 'the removed admin token no longer works');
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startUpstream, type TestUpstream } from '../../../test/helpers.js';
import { ruleIds, sendJson, urlOf, writeSpec } from '../../../test/scan-support.js';
import { runScan } from '../runner.js';
import type { Identity } from '../types.js';

const SPEC = `openapi: 3.0.3
info: { title: admin, version: "1" }
security: [{ bearer: [] }]
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer }
    oauth:
      type: oauth2
      flows: { clientCredentials: { tokenUrl: "https://auth.example/token", scopes: { "admin:stats": stats, read: read } } }
paths:
  /admin/users:
    get: { responses: { "200": { description: ok } } }
  /stats:
    get:
      security: [{ oauth: ["admin:stats"] }]
      responses: { "200": { description: ok } }
  /audit:
    get:
      tags: [Admin]
      responses: { "200": { description: ok } }
  /flags:
    get:
      x-admin: true
      responses: { "200": { description: ok } }
  /pets:
    get: { responses: { "200": { description: ok } } }
    delete: { tags: [admin], responses: { "204": { description: gone } } }
`;

const ADMIN: Identity = { name: 'admin', header: 'authorization', value: 'Bearer admin-token-1' };
const USER: Identity = { name: 'user', header: 'authorization', value: 'Bearer user-token-2' };

/** Admin operations; the vulnerable twin lets any caller in, the fixed one only the admin. */
function adminApi(fixed: boolean) {
  return startUpstream((req, res, call) => {
    const { path } = urlOf(call);
    const who = req.headers.authorization;
    if (call.method === 'DELETE') return sendJson(res, 500, { error: 'the scanner must never call this' });
    if (path === '/pets') return who === undefined ? sendJson(res, 401, {}) : sendJson(res, 200, []);
    if (fixed && who !== ADMIN.value) return sendJson(res, who === undefined ? 401 : 403, { error: 'no' });
    // /audit is open to any signed-in user in the vulnerable twin; the others even to anonymous callers.
    if (!fixed && path === '/audit' && who === undefined) return sendJson(res, 401, {});
    sendJson(res, 200, { ok: true });
  });
}

describe('api5-function-level', () => {
  const spec = writeSpec(SPEC);
  let vulnerable: TestUpstream;
  let fixed: TestUpstream;
  before(async () => {
    vulnerable = await adminApi(false);
    fixed = await adminApi(true);
  });
  after(async () => {
    await vulnerable.close();
    await fixed.close();
  });

  const scan = (target: TestUpstream, authSecond?: Identity) =>
    runScan({
      specFile: spec,
      target: target.url,
      auth: ADMIN,
      ...(authSecond === undefined ? {} : { authSecond }),
      checks: ['api5-function-level'],
      rate: 0,
      canary: false,
    });

  it('finds every admin operation (by path, scope, tag, x-admin) a plain user can call', async () => {
    const result = await scan(vulnerable, USER);
    assert.deepEqual(ruleIds(result), ['api5-function-level']);
    assert.deepEqual(result.findings.map((f) => f.where).sort(), [
      'GET /admin/users',
      'GET /audit',
      'GET /flags',
      'GET /stats',
    ]);
    assert.match(
      result.findings.find((f) => f.where === 'GET /audit')?.message ?? '',
      /low-privilege identity/,
    );
    assert.ok(!vulnerable.calls.some((c) => c.method === 'DELETE'), 'administrative deletes are never sent');
  });

  it('without a second identity, anonymous calls are still tried', async () => {
    const result = await scan(vulnerable);
    assert.deepEqual(result.findings.map((f) => f.where).sort(), [
      'GET /admin/users',
      'GET /flags',
      'GET /stats',
    ]);
    assert.match(result.findings[0]?.message ?? '', /without credentials/);
  });

  it('finds nothing on the fixed API', async () => {
    assert.deepEqual(ruleIds(await scan(fixed, USER)), []);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startUpstream, type TestUpstream } from '../../../test/helpers.js';
import { bodyOf, ruleIds, sendJson, urlOf, writeSpec } from '../../../test/scan-support.js';
import { runScan } from '../runner.js';
import type { Identity } from '../types.js';
import { missingId } from './api1-bola.js';

/**
 * APIs that answer refusals with HTTP 200 and an envelope ({"success": false, "code": 404,
 * "timestamp": 1764…}): a 2xx, or an id's digits somewhere in the body, proves nothing. The
 * access-control checks (api1-bola, api2-auth no-auth, api5-function-level) must stay silent on the
 * API that refuses correctly, and still find the twin that lets everyone in.
 */

const SPEC = `openapi: 3.0.3
info: { title: items, version: "1" }
security: [{ bearer: [] }]
components:
  securitySchemes: { bearer: { type: http, scheme: bearer } }
paths:
  /items:
    get: { responses: { "200": { description: mine } } }
    post:
      requestBody:
        content:
          application/json:
            schema: { type: object, properties: { title: { type: string, example: hello } } }
      responses: { "200": { description: created } }
  /items/{id}:
    parameters: [{ name: id, in: path, required: true, schema: { type: integer } }]
    get: { responses: { "200": { description: ok } } }
    delete: { responses: { "200": { description: gone } } }
  /admin/stats:
    get: { responses: { "200": { description: ok } } }
`;

const A: Identity = { name: 'alice', header: 'authorization', value: 'Bearer alice-token-123456' };
const B: Identity = { name: 'bob', header: 'authorization', value: 'Bearer bob-token-abcdef12' };
const USERS: Record<string, string> = { [A.value]: 'alice', [B.value]: 'bob' };
const ADMINS = new Set(['alice']);

interface Item {
  id: number;
  owner: string;
  title: unknown;
}

/** The reviewer's API: every answer 200; `open` drops the sign-in, owner and admin checks. */
function envelopeApi(open: boolean) {
  const items = new Map<number, Item>();
  items.set(1, { id: 1, owner: 'carol', title: 'not yours' });
  items.set(2, { id: 2, owner: 'carol', title: 'not yours either' });
  let next = 3;
  return startUpstream((req, res, call) => {
    const ok = (data: unknown) => sendJson(res, 200, { success: true, data });
    const fail = (code: number, message: string) =>
      sendJson(res, 200, { success: false, code, message, timestamp: Date.now() });
    const user = USERS[String(req.headers.authorization)];
    if (user === undefined && !open) return fail(401, 'unauthorized');
    const { path } = urlOf(call);
    if (path === '/items' && call.method === 'POST') {
      const it = { id: next++, owner: user ?? 'nobody', title: bodyOf(call)?.title };
      items.set(it.id, it);
      return ok(it);
    }
    if (path === '/items' && call.method === 'GET')
      return ok([...items.values()].filter((it) => open || it.owner === user));
    if (path === '/admin/stats' && call.method === 'GET') {
      if (!open && !ADMINS.has(String(user))) return fail(403, 'admins only');
      return ok({ users: 3, items: items.size });
    }
    const m = /^\/items\/(\d+)$/.exec(path);
    const it = m === null ? undefined : items.get(Number(m[1]));
    if (it === undefined || (!open && it.owner !== user)) return fail(404, 'not found');
    if (call.method === 'GET') return ok(it);
    if (call.method === 'DELETE') {
      items.delete(it.id);
      return ok({ deleted: it.id });
    }
    fail(405, 'method not allowed');
  });
}

describe('refusals sent as 200 + {"success": false}', () => {
  const spec = writeSpec(SPEC);
  let refusing: TestUpstream;
  let open: TestUpstream;
  before(async () => {
    refusing = await envelopeApi(false);
    open = await envelopeApi(true);
  });
  after(async () => {
    await refusing.close();
    await open.close();
  });

  const scan = (target: TestUpstream, checks: string[], auth: Identity | undefined = A) =>
    runScan({
      specFile: spec,
      target: target.url,
      ...(auth === undefined ? {} : { auth }),
      authSecond: B,
      checks,
      rate: 0,
      canary: false,
    });

  it('api1: no bola-read or predictable-ids when B and neighbours get the 404 envelope', async () => {
    const before = refusing.calls.length;
    const result = await scan(refusing, ['api1-bola']);
    assert.deepEqual(ruleIds(result), []);
    // B did ask for A's object, and was refused (with 200).
    const asked = refusing.calls
      .slice(before)
      .filter(
        (c) => c.method === 'GET' && c.headers.authorization === B.value && /^\/items\/\d+$/.test(c.url),
      );
    assert.ok(asked.length > 0, 'B read A’s object');
  });

  it('api1: the same API without the owner check is still found', async () => {
    assert.deepEqual(ruleIds(await scan(open, ['api1-bola'])), [
      'api1-bola-delete',
      'api1-bola-read',
      'api1-predictable-ids',
    ]);
  });

  it('api2: no no-auth finding when anonymous callers get the 401 envelope', async () => {
    assert.deepEqual(
      ruleIds(await scan(refusing, ['api2-auth'])).filter((id) => id === 'api2-no-auth'),
      [],
    );
  });

  it('api2: an API that lets anonymous callers read the data is still found', async () => {
    const result = await scan(open, ['api2-auth']);
    const noAuth = result.findings.filter((f) => f.rule.id === 'api2-no-auth').map((f) => f.where);
    assert.ok(noAuth.includes('GET /items'), noAuth.join(', '));
  });

  it('api5: no function-level finding when B and anonymous callers get the 403/401 envelope', async () => {
    assert.deepEqual(ruleIds(await scan(refusing, ['api5-function-level'])), []);
  });

  it('api5: an admin operation anyone may call is still found', async () => {
    const result = await scan(open, ['api5-function-level']);
    assert.deepEqual(ruleIds(result), ['api5-function-level']);
    assert.equal(result.findings[0]?.where, 'GET /admin/stats');
  });

  it('an id that names no object keeps the form of the real one', () => {
    assert.match(missingId('42'), /^\d+$/);
    assert.notEqual(missingId('42'), '42');
    const uuid = '3f0c2a9e-1b2d-4c5e-8f70-a1b2c3d4e5f6';
    assert.match(missingId(uuid), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.notEqual(missingId(uuid), uuid);
  });
});

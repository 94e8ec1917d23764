import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startUpstream, type TestUpstream } from '../../../test/helpers.js';
import { bodyOf, ruleIds, sendJson, urlOf, writeSpec } from '../../../test/scan-support.js';
import { runScan } from '../runner.js';
import type { Identity } from '../types.js';

const SPEC = `openapi: 3.0.3
info: { title: users, version: "1" }
security: [{ bearer: [] }]
components:
  securitySchemes: { bearer: { type: http, scheme: bearer } }
  schemas:
    NewUser:
      type: object
      properties:
        name: { type: string, example: Dana }
        email: { type: string, format: email, example: dana@example.com }
    User:
      type: object
      properties:
        id: { type: integer }
        name: { type: string }
        email: { type: string }
    Profile:
      type: object
      properties:
        name: { type: string }
        role: { type: string }
paths:
  /users:
    post:
      requestBody: { content: { application/json: { schema: { $ref: "#/components/schemas/NewUser" } } } }
      responses: { "201": { description: created, content: { application/json: { schema: { $ref: "#/components/schemas/User" } } } } }
  /users/{id}:
    parameters: [{ name: id, in: path, required: true, schema: { type: integer, example: 1 } }]
    get:
      responses: { "200": { description: ok, content: { application/json: { schema: { $ref: "#/components/schemas/User" } } } } }
    patch:
      requestBody: { content: { application/json: { schema: { $ref: "#/components/schemas/NewUser" } } } }
      responses: { "200": { description: ok, content: { application/json: { schema: { $ref: "#/components/schemas/User" } } } } }
    delete:
      responses: { "204": { description: gone } }
  /me:
    get:
      responses: { "200": { description: ok, content: { application/json: { schema: { $ref: "#/components/schemas/Profile" } } } } }
    patch:
      requestBody:
        content:
          application/json:
            schema: { type: object, properties: { name: { type: string } } }
      responses: { "200": { description: ok } }
`;

const A: Identity = { name: 'alice', header: 'authorization', value: 'Bearer alice-token-123' };

type Row = Record<string, unknown>;

/** Users whose vulnerable twin binds bodies whole and serializes rows whole (secrets included). */
function usersApi(fixed: boolean) {
  const users = new Map<number, Row>();
  users.set(1, {
    id: 1,
    name: 'Carol',
    email: 'carol@example.com',
    passwordHash: '$2b$10$abcdefghijklmnopqrstuv',
    card: '4111 1111 1111 1111',
  });
  const me: Row = { name: 'Alice', role: 'user' };
  let next = 2;
  const pick = (b: Row): Row => ({ name: b.name, email: b.email });
  const show = (u: Row): Row => (fixed ? { id: u.id, name: u.name, email: u.email } : u);
  const server = startUpstream((req, res, call) => {
    if (req.headers.authorization !== A.value) return sendJson(res, 401, { error: 'unauthenticated' });
    const { path } = urlOf(call);
    const body = bodyOf(call) ?? {};
    if (path === '/me') {
      if (call.method === 'PATCH') Object.assign(me, fixed ? { name: body.name } : body);
      return sendJson(res, 200, me);
    }
    if (path === '/users' && call.method === 'POST') {
      const u: Row = {
        passwordHash: '$2b$10$zyxwvutsrqponmlkjihgfe',
        ...(fixed ? pick(body) : body),
        id: next++,
      };
      users.set(u.id as number, u);
      return sendJson(res, 201, show(u));
    }
    const id = Number(/^\/users\/(\d+)$/.exec(path)?.[1]);
    const u = users.get(id);
    if (u === undefined) return sendJson(res, 404, { error: 'not found' });
    if (call.method === 'GET') return sendJson(res, 200, show(u));
    if (call.method === 'PATCH') {
      Object.assign(u, fixed ? pick(body) : body);
      return sendJson(res, 200, show(u));
    }
    if (call.method === 'DELETE') {
      users.delete(id);
      res.writeHead(204).end();
      return;
    }
    sendJson(res, 405, {});
  });
  return { server, users, me };
}

describe('api3-properties', () => {
  const spec = writeSpec(SPEC);
  let vulnerable: ReturnType<typeof usersApi>;
  let fixed: ReturnType<typeof usersApi>;
  let vServer: TestUpstream;
  let fServer: TestUpstream;
  before(async () => {
    vulnerable = usersApi(false);
    fixed = usersApi(true);
    vServer = await vulnerable.server;
    fServer = await fixed.server;
  });
  after(async () => {
    await vServer.close();
    await fServer.close();
  });

  const scan = (target: TestUpstream) =>
    runScan({
      specFile: spec,
      target: target.url,
      auth: A,
      checks: ['api3-properties'],
      rate: 0,
      canary: false,
    });

  it('finds mass assignment, sensitive data and undocumented fields on the vulnerable API', async () => {
    const result = await scan(vServer);
    assert.deepEqual(ruleIds(result), [
      'api3-mass-assignment',
      'api3-sensitive-data',
      'api3-undocumented-fields',
    ]);
    const mass = result.findings
      .filter((f) => f.rule.id === 'api3-mass-assignment')
      .map((f) => f.where)
      .sort();
    assert.deepEqual(mass, ['PATCH /me', 'PATCH /users/{id}', 'POST /users']);
    const sensitive = result.findings.find((f) => f.rule.id === 'api3-sensitive-data');
    assert.match(sensitive?.message ?? '', /passwordHash/);
    assert.match(sensitive?.message ?? '', /card \(card number\)/);
    // Evidence names the fields but never shows their values.
    const text = JSON.stringify(result);
    assert.doesNotMatch(text, /abcdefghijklmnop|4111 1111 1111 1111/);
    const undocumented = result.findings.find(
      (f) => f.rule.id === 'api3-undocumented-fields' && f.where === 'GET /users/{id}',
    );
    assert.match(undocumented?.message ?? '', /passwordHash, card/);
  });

  it("puts the identity's own record back and deletes the users it created", async () => {
    await scan(vServer);
    assert.equal(vulnerable.me.role, 'user');
    assert.equal(vulnerable.me.name, 'Alice');
    assert.deepEqual([...vulnerable.users.keys()], [1]);
  });

  it('a masked secret ("[REDACTED]", "****") is not a leak', async () => {
    const masked = await startUpstream((_req, res) =>
      sendJson(res, 200, {
        id: 1,
        name: 'Carol',
        email: 'c@example.com',
        passwordHash: '[REDACTED]',
        apiKey: '****',
      }),
    );
    try {
      const maskedSpec = writeSpec(
        SPEC.replace(
          '        email: { type: string }\n',
          '        email: { type: string }\n        passwordHash: { type: string }\n        apiKey: { type: string }\n',
        ),
      );
      const result = await runScan({
        specFile: maskedSpec,
        target: masked.url,
        auth: A,
        checks: ['api3-properties'],
        rate: 0,
        canary: false,
      });
      assert.ok(!result.findings.some((f) => f.rule.id === 'api3-sensitive-data'));
    } finally {
      await masked.close();
    }
  });

  it('finds nothing on the fixed API', async () => {
    const result = await scan(fServer);
    assert.deepEqual(ruleIds(result), []);
    assert.deepEqual([...fixed.users.keys()], [1]);
  });
});

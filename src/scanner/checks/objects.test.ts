import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { parse } from 'yaml';
import { startUpstream, TEST_AUDIT_PATH, type TestUpstream } from '../../../test/helpers.js';
import { writeSpec } from '../../../test/scan-support.js';
import { compilePlan } from '../../config/compile.js';
import { loadConfigObject } from '../../config/load.js';
import { createLogger } from '../../observability/logger.js';
import { createDefaultRegistry } from '../../plugins/index.js';
import { runScan } from '../runner.js';
import type { Identity } from '../types.js';
import { api1Bola } from './api1-bola.js';
import { api2Auth } from './api2-auth.js';
import { api3Properties } from './api3-properties.js';
import { api5FunctionLevel } from './api5-function-level.js';
import { idOf, listItems, objectOf, uniqueBody } from './objects.js';

const SPEC = `openapi: 3.0.3
info: { title: hostile, version: "1" }
security: [{ bearer: [] }]
components:
  securitySchemes: { bearer: { type: http, scheme: bearer } }
  schemas:
    Pet: { type: object, properties: { id: { type: integer, readOnly: true }, name: { type: string } } }
paths:
  /pets:
    get: { responses: { "200": { description: ok, content: { application/json: { schema: { type: array, items: { $ref: "#/components/schemas/Pet" } } } } } } }
    post:
      requestBody: { content: { application/json: { schema: { $ref: "#/components/schemas/Pet" } } } }
      responses: { "201": { description: ok, content: { application/json: { schema: { $ref: "#/components/schemas/Pet" } } } } }
  /pets/{id}:
    parameters: [{ name: id, in: path, required: true, schema: { type: integer } }]
    get: { responses: { "200": { description: ok, content: { application/json: { schema: { $ref: "#/components/schemas/Pet" } } } } } }
    put:
      requestBody: { content: { application/json: { schema: { $ref: "#/components/schemas/Pet" } } } }
      responses: { "200": { description: ok } }
    delete: { responses: { "204": { description: ok } } }
  /me:
    get: { responses: { "200": { description: ok, content: { application/json: { schema: { $ref: "#/components/schemas/Pet" } } } } } }
    patch:
      requestBody: { content: { application/json: { schema: { $ref: "#/components/schemas/Pet" } } } }
      responses: { "200": { description: ok } }
  /admin/stats:
    get: { responses: { "200": { description: ok } } }
  /login:
    post:
      security: []
      requestBody:
        content:
          application/json:
            schema: { type: object, properties: { email: { type: string }, password: { type: string } } }
            example: { email: a@example.com, password: x }
      responses: { "200": { description: ok } }
`;

type Mode = 'error' | 'text' | 'huge' | 'hang' | 'odd-json';

const ODD = [
  'null',
  '[null, 1, "a"]',
  '"x"',
  '{"id":null,"data":[{"id":{}}],"items":"x"}',
  '{"id":{"$ref":"#"}}',
];

/** An API that answers every request badly, in one way. */
function hostileApi(mode: Mode) {
  let n = 0;
  return startUpstream((_req, res, call) => {
    n++;
    switch (mode) {
      case 'error':
        res.writeHead(500, { 'content-type': 'text/html' });
        res.end(
          '<h1>Internal Server Error</h1><pre>TypeError: x is undefined\n    at f (/app/x.js:1:2)</pre>',
        );
        return;
      case 'text':
        res.writeHead(call.method === 'POST' ? 201 : 200, { 'content-type': 'text/plain' });
        res.end('OK');
        return;
      case 'huge':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"id":1,"pad":"${'x'.repeat(1024 * 1024)}"}`);
        return;
      case 'hang':
        // Creates answer (so later steps run), everything else never does.
        if (call.method === 'POST') {
          res.writeHead(201, { 'content-type': 'application/json' });
          res.end('{"id":7}');
        }
        return;
      case 'odd-json':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(ODD[n % ODD.length]);
        return;
    }
  });
}

describe('object-level checks against hostile answers', () => {
  const spec = writeSpec(SPEC);
  const servers: TestUpstream[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });

  async function identities(): Promise<{ auth: Identity; authSecond: Identity }> {
    const sign = (sub: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(sub)
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode('secret'));
    return {
      auth: { name: 'a', header: 'authorization', value: `Bearer ${await sign('a')}` },
      authSecond: { name: 'b', header: 'authorization', value: `Bearer ${await sign('b')}` },
    };
  }

  for (const mode of ['error', 'text', 'huge', 'hang', 'odd-json'] as const) {
    it(`${mode}: every check finishes without throwing`, async () => {
      const api = await hostileApi(mode);
      servers.push(api);
      const started = Date.now();
      const result = await runScan({
        specFile: spec,
        target: api.url,
        ...(await identities()),
        checks: ['api1-bola', 'api2-auth', 'api3-properties', 'api5-function-level'],
        rate: 0,
        // Short: every unanswered request waits this long (the hanging twin leaves ~35 unanswered).
        timeoutMs: mode === 'hang' ? 100 : 1000,
        budget: 300,
        canary: false,
      });
      assert.deepEqual(
        result.notes.filter((n) => n.includes('stopped early') || n.includes('budget')),
        [],
      );
      assert.ok(Date.now() - started < 20_000);
      const ids = new Set(result.findings.map((f) => f.rule.id));
      // Nothing that needs a working API is claimed from broken answers.
      for (const id of ['api1-bola-read', 'api1-bola-write', 'api1-bola-delete', 'api3-mass-assignment'])
        assert.ok(!ids.has(id), `${mode}: ${id}`);
      if (mode === 'error' || mode === 'hang')
        assert.deepEqual(
          [...ids].filter((id) => id !== 'api2-jwt-weak-secret'),
          [],
        );
    });
  }
});

describe('object helpers', () => {
  it('read ids from plain and enveloped objects, never from odd values', () => {
    assert.equal(idOf({ id: 5 }, 'id'), '5');
    assert.equal(idOf({ data: { petId: 'p-1' } }, 'petId'), 'p-1');
    assert.equal(idOf({ id: {} }, 'id'), undefined);
    assert.equal(idOf(null, 'id'), undefined);
    assert.equal(idOf([{ id: 1 }], 'id'), undefined);
    assert.deepEqual(objectOf({ id: 1, data: { x: 1 } }), { id: 1, data: { x: 1 } });
  });

  it('find list items and make example identities unique', () => {
    assert.deepEqual(listItems({ meta: {}, results: [1] }), [1]);
    assert.deepEqual(listItems('x'), []);
    const b = uniqueBody({ email: 'dana@example.com', username: 'dana', name: 'Dana' }) as Record<
      string,
      string
    >;
    assert.match(b.email ?? '', /^dana[0-9a-f]{6}@example\.com$/);
    assert.match(b.username ?? '', /^dana[0-9a-f]{6}$/);
    assert.equal(b.name, 'Dana');
  });
});

describe('rules of api1-bola, api2-auth, api3-properties, api5-function-level', () => {
  const spec = writeSpec(SPEC);
  const registry = createDefaultRegistry();
  const logger = createLogger('error', new Writable({ write: (_c, _e, cb) => cb() }));

  for (const check of [api1Bola, api2Auth, api3Properties, api5FunctionLevel])
    for (const rule of check.rules)
      it(`${rule.id}: its Portcullis config compiles (inside a minimal config)`, async () => {
        assert.match(rule.id, new RegExp(`^${check.id.split('-')[0]}-`));
        const fragment = parse(rule.portcullis.replaceAll('openapi.yaml', spec)) as Record<string, unknown>;
        // A fragment names what blocks the flaw; the rest of a working config is filled in around it.
        const config = {
          upstreams: { api: { url: 'http://127.0.0.1:9' } },
          routes: fragment.routes ?? [
            { id: 'pets', path: '/pets', methods: ['GET', 'POST'], upstream: 'api' },
          ],
          plugins: {
            authorization: { allow: 'authenticated' },
            jwt: {
              issuers: [
                {
                  issuer: 'https://login.example.com/',
                  audience: ['pets'],
                  jwksUri: 'https://login.example.com/jwks.json',
                  algorithms: ['RS256'],
                },
              ],
            },
            ...(fragment.plugins as Record<string, unknown> | undefined),
          },
          observability: { audit: { path: TEST_AUDIT_PATH } },
        };
        const loaded = loadConfigObject(config, { registry, env: { JWT_SECRET: 'k'.repeat(48) } });
        const plan = await compilePlan(loaded, { registry, logger, version: 1 });
        await plan.close();
      });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startUpstream, type TestUpstream } from '../../../test/helpers.js';
import { bodyOf, ruleIds, sendJson, urlOf, writeSpec } from '../../../test/scan-support.js';
import { runScan } from '../runner.js';
import type { Identity } from '../types.js';

const SPEC = `openapi: 3.0.3
info: { title: pets, version: "1" }
security: [{ bearer: [] }]
components:
  securitySchemes: { bearer: { type: http, scheme: bearer } }
  schemas:
    Pet:
      type: object
      properties:
        id: { type: integer, readOnly: true }
        name: { type: string, example: Rex }
        tag: { type: string, enum: [dog, cat] }
paths:
  /pets:
    post:
      requestBody: { content: { application/json: { schema: { $ref: "#/components/schemas/Pet" } } } }
      responses: { "201": { description: created, content: { application/json: { schema: { $ref: "#/components/schemas/Pet" } } } } }
  /pets/{id}:
    parameters: [{ name: id, in: path, required: true, schema: { type: integer } }]
    get:
      responses: { "200": { description: ok, content: { application/json: { schema: { $ref: "#/components/schemas/Pet" } } } } }
    patch:
      requestBody: { content: { application/json: { schema: { $ref: "#/components/schemas/Pet" } } } }
      responses: { "200": { description: ok } }
    delete:
      responses: { "204": { description: gone } }
`;

const A: Identity = { name: 'alice', header: 'authorization', value: 'Bearer alice-token-123' };
const B: Identity = { name: 'bob', header: 'authorization', value: 'Bearer bob-token-456' };
const USERS: Record<string, string> = { 'Bearer alice-token-123': 'alice', 'Bearer bob-token-456': 'bob' };

interface Pet {
  id: number;
  owner: string;
  name: unknown;
  tag: unknown;
}

/** A pet store with integer ids; `fixed` checks ownership on every item operation. */
function petStore(fixed: boolean) {
  const pets = new Map<number, Pet>();
  // Other people's pets, created before the scan.
  pets.set(1, { id: 1, owner: 'carol', name: 'Tom', tag: 'cat' });
  pets.set(2, { id: 2, owner: 'carol', name: 'Ben', tag: 'dog' });
  let next = 3;
  const show = (p: Pet) => ({ id: p.id, name: p.name, tag: p.tag });
  return startUpstream((req, res, call) => {
    const user = USERS[String(req.headers.authorization)];
    if (user === undefined) return sendJson(res, 401, { error: 'unauthenticated' });
    const { path } = urlOf(call);
    if (path === '/pets' && call.method === 'POST') {
      const b = bodyOf(call) ?? {};
      const pet = { id: next++, owner: user, name: b.name, tag: b.tag };
      pets.set(pet.id, pet);
      return sendJson(res, 201, show(pet));
    }
    const m = /^\/pets\/(\d+)$/.exec(path);
    const pet = m === null ? undefined : pets.get(Number(m[1]));
    if (pet === undefined || (fixed && pet.owner !== user)) return sendJson(res, 404, { error: 'not found' });
    if (call.method === 'GET') return sendJson(res, 200, show(pet));
    if (call.method === 'PATCH') {
      const b = bodyOf(call) ?? {};
      if (b.name !== undefined) pet.name = b.name;
      return sendJson(res, 200, show(pet));
    }
    if (call.method === 'DELETE') {
      pets.delete(pet.id);
      res.writeHead(204).end();
      return;
    }
    sendJson(res, 405, { error: 'method' });
  });
}

describe('api1-bola', () => {
  const spec = writeSpec(SPEC);
  let vulnerable: TestUpstream;
  let fixed: TestUpstream;
  before(async () => {
    vulnerable = await petStore(false);
    fixed = await petStore(true);
  });
  after(async () => {
    await vulnerable.close();
    await fixed.close();
  });

  const scan = (target: TestUpstream, authSecond?: Identity) =>
    runScan({
      specFile: spec,
      target: target.url,
      auth: A,
      ...(authSecond === undefined ? {} : { authSecond }),
      checks: ['api1-bola'],
      rate: 0,
      canary: false,
    });

  it('finds read, write, delete and enumeration on the vulnerable API, with evidence', async () => {
    const result = await scan(vulnerable, B);
    assert.deepEqual(ruleIds(result), [
      'api1-bola-delete',
      'api1-bola-read',
      'api1-bola-write',
      'api1-predictable-ids',
    ]);
    const read = result.findings.find((f) => f.rule.id === 'api1-bola-read');
    assert.equal(read?.where, 'GET /pets/{id}');
    assert.equal(read?.severity, 'high');
    const write = result.findings.find((f) => f.rule.id === 'api1-bola-write');
    assert.equal(write?.where, 'PATCH /pets/{id}');
    assert.equal(write?.evidence.length, 2, 'the change is confirmed by A reading it back');
    // Credentials never reach the report.
    assert.doesNotMatch(JSON.stringify(result), /alice-token-123|bob-token-456/);
  });

  it('touches only objects the scan created and leaves none behind', async () => {
    const before = vulnerable.calls.length;
    await scan(vulnerable, B);
    const calls = vulnerable.calls.slice(before);
    const writes = calls
      .filter((c) => c.method === 'PATCH' || c.method === 'DELETE')
      .map((c) => urlOf(c).path);
    assert.ok(writes.length > 0);
    for (const w of writes)
      assert.ok(Number(w.split('/').pop()) > 2, `never writes to a pre-existing pet (${w})`);
    // Pets 1 and 2 (carol's) still exist; everything the scans created was deleted.
    const left = await fetch(`${vulnerable.url}/pets/1`, { headers: { authorization: A.value } });
    assert.equal(left.status, 200);
    const probe = await fetch(`${vulnerable.url}/pets`, {
      method: 'POST',
      headers: { authorization: A.value, 'content-type': 'application/json' },
      body: '{"name":"x"}',
    });
    const { id } = (await probe.json()) as { id: number };
    for (let i = 3; i < id; i++) {
      const r = await fetch(`${vulnerable.url}/pets/${i}`, { headers: { authorization: A.value } });
      assert.equal(r.status, 404, `pet ${i} created by a scan was deleted`);
    }
  });

  it('finds nothing on the fixed API', async () => {
    const result = await scan(fixed, B);
    assert.deepEqual(ruleIds(result), []);
    assert.deepEqual(
      result.notes.filter((n) => n.includes('stopped early')),
      [],
    );
  });

  it('without a second identity, only enumeration is tested', async () => {
    assert.deepEqual(ruleIds(await scan(vulnerable)), ['api1-predictable-ids']);
    assert.deepEqual(ruleIds(await scan(fixed)), []);
  });
});

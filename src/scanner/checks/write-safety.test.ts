import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, it } from 'node:test';
import { startUpstream, type TestUpstream, type UpstreamCall } from '../../../test/helpers.js';
import { bodyOf, sendJson, writeSpec } from '../../../test/scan-support.js';
import { runScan } from '../runner.js';
import type { Identity } from '../types.js';

/**
 * The scan never harms data it did not create (review 11, findings 1–3 and 11): a full scan of a
 * correct API leaves a pre-existing object as it was, never writes a password GET did not show,
 * never deletes what a find-or-create endpoint answered with, and survives a broken Location.
 */

const ALICE: Identity = { name: 'alice', header: 'authorization', value: 'Bearer alice-token-123456' };
const BOB: Identity = { name: 'bob', header: 'authorization', value: 'Bearer bob-token-abcdef12' };
const USERS: Record<string, string> = { [ALICE.value]: 'alice', [BOB.value]: 'bob' };

const SECURED = `openapi: 3.0.3
info: { title: t, version: "1" }
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer }
security: [ { bearer: [] } ]
`;

const NOTES_SPEC = `${SECURED}paths:
  /notes:
    get:
      responses: { "200": { description: ok } }
    post:
      requestBody:
        content:
          application/json:
            schema: { type: object, properties: { text: { type: string, maxLength: 100 } } }
      responses: { "201": { description: created } }
  /notes/{id}:
    parameters:
      - { name: id, in: path, required: true, schema: { type: integer, minimum: 1 } }
    get:
      responses: { "200": { description: ok }, "404": { description: nf } }
    put:
      requestBody:
        content:
          application/json:
            schema: { type: object, properties: { text: { type: string, maxLength: 100 } } }
      responses: { "200": { description: ok }, "404": { description: nf } }
    delete:
      responses: { "204": { description: gone }, "404": { description: nf } }
`;

interface Note {
  id: number;
  owner: string;
  text: string;
}

const json = (call: UpstreamCall): Record<string, unknown> | undefined => bodyOf(call);

/** A correct, owner-checked notes API; alice owns note 1 before the scan. */
async function notesApi(): Promise<{ api: TestUpstream; notes: Map<number, Note> }> {
  const notes = new Map<number, Note>([[1, { id: 1, owner: 'alice', text: "alice's real note" }]]);
  let next = 2;
  const api = await startUpstream((req: IncomingMessage, res: ServerResponse, call) => {
    const who = USERS[req.headers.authorization ?? ''];
    if (who === undefined) return sendJson(res, 401, { error: 'unauthorized' });
    const url = new URL(call.url, 'http://x');
    if (url.pathname === '/notes' && call.method === 'GET')
      return sendJson(
        res,
        200,
        [...notes.values()].filter((n) => n.owner === who),
      );
    if (url.pathname === '/notes' && call.method === 'POST') {
      const j = json(call);
      if (j === undefined) return sendJson(res, 400, { error: 'bad json' });
      const n = { id: next++, owner: who, text: String(j.text ?? '') };
      notes.set(n.id, n);
      return sendJson(res, 201, n);
    }
    const m = /^\/notes\/(\d+)$/.exec(url.pathname);
    const n = m === null ? undefined : notes.get(Number(m[1]));
    if (n === undefined || n.owner !== who) return sendJson(res, 404, { error: 'not found' });
    if (call.method === 'GET') return sendJson(res, 200, n);
    if (call.method === 'PUT') {
      const j = json(call);
      if (typeof j?.text !== 'string') return sendJson(res, 400, { error: 'text must be a string' });
      n.text = j.text;
      return sendJson(res, 200, n);
    }
    if (call.method === 'DELETE') {
      notes.delete(n.id);
      res.writeHead(204).end();
      return;
    }
    sendJson(res, 405, { error: 'method not allowed' });
  });
  return { api, notes };
}

const writesTo = (api: TestUpstream, path: string) =>
  api.calls.filter((c) => c.method !== 'GET' && c.url.split('?')[0] === path);

describe('scanner write safety', () => {
  let api: TestUpstream | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  it('a full scan leaves an object it did not create unchanged', async () => {
    const started = await notesApi();
    api = started.api;
    const result = await runScan({
      specFile: writeSpec(NOTES_SPEC),
      target: api.url,
      auth: ALICE,
      authSecond: BOB,
      canary: false,
    });
    // Nothing a correct API would accept reached note 1 (a DELETE, or a PUT with a valid body).
    // api8-config's malformed bodies still reach it (the API refuses them): see the report.
    const accepted = writesTo(api, '/notes/1').filter(
      (c) => c.method !== 'PUT' || typeof json(c)?.text === 'string',
    );
    assert.deepEqual(
      accepted.map((c) => `${c.method} ${c.url} ${c.body.toString('utf8').slice(0, 80)}`),
      [],
    );
    assert.deepEqual(started.notes.get(1), { id: 1, owner: 'alice', text: "alice's real note" });
    // What was not tested for safety is said.
    assert.ok(
      result.notes.some(
        (n) => n.includes('API9 spec-vs-reality: not tested') && n.includes('PUT /notes/{id}'),
      ),
      result.notes.join('\n'),
    );
  });

  it('the probing checks delete every object they create', async () => {
    const started = await notesApi();
    api = started.api;
    await runScan({
      specFile: writeSpec(NOTES_SPEC),
      target: api.url,
      auth: ALICE,
      authSecond: BOB,
      checks: ['api1-bola', 'api3-properties', 'api4-resources', 'api9-inventory', 'injection'],
      canary: false,
    });
    const created = api.calls.filter((c) => c.method === 'POST' && c.url.startsWith('/notes'));
    assert.ok(created.length > 0, 'the scan created objects of its own');
    assert.deepEqual([...started.notes.keys()], [1], 'only the pre-existing note is left');
    assert.equal(started.notes.get(1)?.text, "alice's real note");
  });

  it('never writes a field GET /me did not return (a password) and skips when the body needs it', async () => {
    const account = { name: 'Alice', email: 'alice@corp.example', password: 'Alice-Real-Pw-2026' };
    api = await startUpstream((req, res, call) => {
      if (req.headers.authorization !== ALICE.value) return sendJson(res, 401, { error: 'unauthorized' });
      if (call.url === '/me' && call.method === 'GET')
        return sendJson(res, 200, { name: account.name, email: account.email });
      if (call.url === '/me' && call.method === 'PUT') {
        const j = json(call) ?? {};
        for (const k of ['name', 'email', 'password'] as const)
          if (typeof j[k] === 'string') account[k] = j[k];
        return sendJson(res, 200, { name: account.name, email: account.email });
      }
      sendJson(res, 404, { error: 'not found' });
    });
    const spec = `${SECURED}paths:
  /me:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: { type: object, properties: { name: { type: string }, email: { type: string } } }
    put:
      requestBody:
        content:
          application/json:
            schema:
              type: object
              required: [name, email, password]
              properties:
                name: { type: string }
                email: { type: string, format: email }
                password: { type: string, minLength: 8 }
      responses: { "200": { description: ok } }
`;
    const result = await runScan({
      specFile: writeSpec(spec),
      target: api.url,
      auth: ALICE,
      checks: ['api3-properties'],
      canary: false,
    });
    assert.equal(account.password, 'Alice-Real-Pw-2026');
    assert.deepEqual(
      api.calls.filter((c) => c.method === 'PUT'),
      [],
    );
    assert.ok(
      result.notes.some((n) => n.includes('PUT /me') && n.includes('password')),
      result.notes.join('\n'),
    );
  });

  it('writes back only what GET /me returned, never a secret-named field, when nothing else is required', async () => {
    const account: Record<string, unknown> = { name: 'Alice', role: 'user', password: 'Alice-Real-Pw-2026' };
    api = await startUpstream((req, res, call) => {
      if (req.headers.authorization !== ALICE.value) return sendJson(res, 401, { error: 'unauthorized' });
      if (call.url === '/me' && call.method === 'GET')
        return sendJson(res, 200, { ...account, password: undefined, apiKey: 'ak-live-1234567890' });
      if (call.url === '/me' && call.method === 'PATCH') {
        Object.assign(account, json(call) ?? {});
        return sendJson(res, 200, { name: account.name });
      }
      sendJson(res, 404, { error: 'not found' });
    });
    const spec = `${SECURED}paths:
  /me:
    get:
      responses: { "200": { description: ok } }
    patch:
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties: { name: { type: string, example: Example }, password: { type: string, example: Passw0rd-example }, apiKey: { type: string, example: k } }
      responses: { "200": { description: ok } }
`;
    await runScan({
      specFile: writeSpec(spec),
      target: api.url,
      auth: ALICE,
      checks: ['api3-properties'],
      canary: false,
    });
    const patches = api.calls.filter((c) => c.method === 'PATCH').map((c) => json(c) ?? {});
    assert.ok(patches.length > 0, 'the mass-assignment test ran');
    for (const body of patches) {
      assert.ok(!('password' in body) && !('apiKey' in body), JSON.stringify(body));
      assert.equal(body.name, 'Alice');
    }
    assert.equal(account.password, 'Alice-Real-Pw-2026');
    // The API took the privileged fields: they were put back.
    assert.equal(account.role, 'user');
    assert.ok(account.isAdmin !== true && account.admin !== true, JSON.stringify(account));
  });

  it('never deletes an existing object a find-or-create endpoint answers with', async () => {
    const tags = new Map<number, { id: number; name: string }>();
    let next = 2;
    const deleted: number[] = [];
    api = await startUpstream((req, res, call) => {
      if (req.headers.authorization !== ALICE.value) return sendJson(res, 401, { error: 'unauthorized' });
      if (call.url === '/tags' && call.method === 'POST') {
        const j = json(call);
        if (typeof j?.name !== 'string') return sendJson(res, 400, { error: 'invalid' });
        // Find or create by name, ignoring anything after the first word.
        const name = j.name.split('-')[0] as string;
        const found = [...tags.values()].find((t) => t.name === name);
        if (found !== undefined) return sendJson(res, 200, found);
        const t = { id: next++, name: j.name };
        tags.set(t.id, t);
        return sendJson(res, 201, t);
      }
      const m = /^\/tags\/(\d+)$/.exec(call.url);
      const t = m === null ? undefined : tags.get(Number(m[1]));
      if (t === undefined) return sendJson(res, 404, { error: 'not found' });
      if (call.method === 'GET') return sendJson(res, 200, t);
      if (call.method === 'DELETE') {
        tags.delete(t.id);
        deleted.push(t.id);
        res.writeHead(204).end();
        return;
      }
      sendJson(res, 405, {});
    });
    const spec = `${SECURED}paths:
  /tags:
    post:
      requestBody:
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties: { name: { type: string, maxLength: 30, example: urgent } }
      responses: { "200": { description: existing }, "201": { description: created } }
  /tags/{id}:
    parameters:
      - { name: id, in: path, required: true, schema: { type: integer, minimum: 1 } }
    get:
      responses: { "200": { description: ok }, "404": { description: nf } }
    delete:
      responses: { "204": { description: gone }, "404": { description: nf } }
`;
    for (const checks of [['api1-bola'], ['api3-properties']]) {
      // "portcullis" is the first word of every marker the scan writes: the endpoint answers with this.
      tags.clear();
      tags.set(1, { id: 1, name: 'portcullis' });
      deleted.length = 0;
      const result = await runScan({
        specFile: writeSpec(spec),
        target: api.url,
        auth: ALICE,
        checks,
        canary: false,
      });
      assert.ok(tags.has(1), `${checks}: the pre-existing tag survives`);
      assert.deepEqual(deleted, [], `${checks}: nothing deleted`);
      assert.ok(
        result.notes.some((n) => n.includes('cannot prove it created')),
        result.notes.join('\n'),
      );
    }
  });

  it('deletes the object it did create on a find-or-create endpoint', async () => {
    const tags = new Map<number, { id: number; name: string }>([[1, { id: 1, name: 'urgent' }]]);
    let next = 2;
    api = await startUpstream((req, res, call) => {
      if (req.headers.authorization !== ALICE.value) return sendJson(res, 401, { error: 'unauthorized' });
      if (call.url === '/tags' && call.method === 'POST') {
        const j = json(call);
        if (typeof j?.name !== 'string') return sendJson(res, 400, { error: 'invalid' });
        const found = [...tags.values()].find((t) => t.name === j.name);
        if (found !== undefined) return sendJson(res, 200, found);
        const t = { id: next++, name: j.name };
        tags.set(t.id, t);
        return sendJson(res, 201, t);
      }
      const m = /^\/tags\/(\d+)$/.exec(call.url);
      const t = m === null ? undefined : tags.get(Number(m[1]));
      if (t === undefined) return sendJson(res, 404, { error: 'not found' });
      if (call.method === 'DELETE') {
        tags.delete(t.id);
        res.writeHead(204).end();
        return;
      }
      sendJson(res, 200, t);
    });
    const spec = `${SECURED}paths:
  /tags:
    post:
      requestBody:
        content:
          application/json:
            schema: { type: object, required: [name], properties: { name: { type: string, example: urgent } } }
      responses: { "200": { description: existing }, "201": { description: created } }
  /tags/{id}:
    parameters:
      - { name: id, in: path, required: true, schema: { type: integer } }
    get:
      responses: { "200": { description: ok } }
    delete:
      responses: { "204": { description: gone } }
`;
    await runScan({
      specFile: writeSpec(spec),
      target: api.url,
      auth: ALICE,
      checks: ['api1-bola'],
      canary: false,
    });
    assert.deepEqual([...tags.keys()], [1], 'the tag "urgent" survives, the scan removed its own');
  });

  it('a Location header with a broken escape does not stop the object checks', async () => {
    api = await startUpstream((_req, res, call) => {
      if (call.method === 'POST') {
        res.writeHead(201, { location: '/notes/%E0%A4%A', 'content-type': 'application/json' });
        res.end('{}');
        return;
      }
      sendJson(res, 200, { id: 1, text: 'x' });
    });
    const result = await runScan({
      specFile: writeSpec(NOTES_SPEC),
      target: api.url,
      auth: ALICE,
      authSecond: BOB,
      checks: ['api1-bola', 'api3-properties'],
      canary: false,
    });
    assert.deepEqual(
      result.notes.filter((n) => n.includes('stopped early')),
      [],
    );
    assert.deepEqual(
      api.calls.filter((c) => c.method === 'DELETE'),
      [],
      'no id was read, so nothing is deleted',
    );
  });
});

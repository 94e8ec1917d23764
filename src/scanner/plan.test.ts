import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadSpec } from '../openapi/load.js';
import { exampleOf, planOperations, targetOf } from './plan.js';

const SPEC = `openapi: 3.0.3
info: { title: t, version: "1" }
components:
  securitySchemes: { bearer: { type: http, scheme: bearer } }
  schemas:
    Node:
      type: object
      properties:
        name: { type: string, minLength: 10 }
        child: { $ref: "#/components/schemas/Node" }
        id: { type: string, readOnly: true }
paths:
  /users/{userId}/notes/{id}:
    get:
      security: [{ bearer: [] }]
      parameters:
        - { name: userId, in: path, required: true, schema: { type: integer, minimum: 5 } }
        - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
        - { name: limit, in: query, required: true, schema: { type: integer, example: 20 } }
        - { name: q, in: query, schema: { type: string } }
      responses: { "200": { description: ok } }
  /nodes:
    post:
      security: [{}, { bearer: [] }]
      requestBody:
        content:
          application/json: { schema: { $ref: "#/components/schemas/Node" } }
      responses: { "201": { description: created } }
`;

describe('planOperations', () => {
  it('fills path and required query parameters, marks ids and security, builds bodies without readOnly fields', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-plan-'));
    writeFileSync(join(dir, 'spec.yaml'), SPEC);
    const ops = planOperations(await loadSpec(join(dir, 'spec.yaml')));
    const get = ops.find((o) => o.op.method === 'GET');
    assert.ok(get);
    assert.equal(get.label, 'GET /users/{userId}/notes/{id}');
    assert.equal(get.path, '/users/5/notes/3fa85f64-5717-4562-b3fc-2c963f66afa6');
    assert.equal(get.query, 'limit=20');
    assert.equal(targetOf(get, 'x=1'), `${get.path}?limit=20&x=1`);
    assert.deepEqual(get.idParams, ['userId', 'id']);
    assert.equal(get.secured, true);
    const post = ops.find((o) => o.op.method === 'POST');
    assert.ok(post);
    assert.equal(post.secured, false, 'an empty requirement makes security optional');
    const body = post.body as { name: string; id?: string };
    assert.equal(body.name.length, 10);
    assert.equal(body.id, undefined);
  });

  it('stops on cycles', () => {
    const doc = {
      components: {
        schemas: { A: { type: 'object', properties: { a: { $ref: '#/components/schemas/A' } } } },
      },
    };
    assert.doesNotThrow(() => exampleOf(doc, { $ref: '#/components/schemas/A' }));
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildContract } from '../plugins/validate/contract/compile.js';
import { loadSpec, SpecError } from './load.js';
import { syntheticSpec } from './synthetic.js';

// Tests run from dist/src/openapi; the fixtures live in the source tree.
const fixture = (p: string) => fileURLToPath(new URL(`../../../test/fixtures/openapi/${p}`, import.meta.url));

const OPTIONS = {
  strict: true,
  limits: { maxStringLength: 10000, maxItems: 1000, maxProperties: 1000 },
  validateResponses: true,
};

// Real public descriptions (see test/fixtures/openapi/README.md): version, operation count, budget in ms.
// Budgets are generous ceilings against hangs on a loaded CI machine; docs/performance.md has the timings.
const REAL: [string, '3.0' | '3.1', number, number][] = [
  ['oas-3.0/petstore.yaml', '3.0', 3, 5000],
  ['oas-3.0/petstore-expanded.yaml', '3.0', 4, 5000],
  ['oas-3.0/petstore-expanded-split/openapi.yaml', '3.0', 4, 5000],
  ['oas-3.0/polymorphism.yaml', '3.0', 10, 5000],
  ['oas-3.1/webhook-example.yaml', '3.1', 1, 5000],
  ['oas-3.1/non-oauth-scopes.json', '3.1', 1, 5000],
  ['oas-3.1/figma.yaml', '3.1', 54, 10000],
  ['swagger-2.0/petstore.json', '3.0', 20, 5000],
  ['swagger-2.0/petstore-separate/spec/swagger.json', '3.0', 4, 5000],
  ['swagger-2.0/kubernetes-v1.13.4.json', '3.0', 1014, 30000],
  ['large/github-ghes-3.19.json', '3.0', 1039, 60000],
];

describe('OpenAPI import: real public descriptions load and compile', () => {
  for (const [file, version, count, budget] of REAL) {
    it(`${file}: ${count} operations as OpenAPI ${version}, within ${budget / 1000} s`, async () => {
      const started = performance.now();
      const contract = await buildContract(fixture(file), OPTIONS);
      const ms = performance.now() - started;
      assert.equal(contract.spec.version, version);
      assert.equal(contract.operations.length, count);
      assert.ok(ms < budget, `took ${Math.round(ms)} ms`);
      for (const op of contract.operations) {
        assert.match(op.spec.method, /^[A-Z]+$/);
        assert.ok(op.spec.path.startsWith('/'));
      }
    });
  }

  it('Swagger 2.0 is converted: body and formData become request bodies, definitions become components', async () => {
    const spec = await loadSpec(fixture('swagger-2.0/petstore.json'));
    assert.equal(spec.converted, true);
    const contract = await buildContract(fixture('swagger-2.0/petstore.json'), OPTIONS);
    const add = contract.operations.find((o) => o.spec.id === 'addPet');
    assert.ok(add?.body?.has('application/json'));
    const add2 = add?.body?.get('application/json');
    assert.equal(add2?.validate?.({ name: 'rex', photoUrls: [] }), true);
    assert.equal(add2?.validate?.({ photoUrls: [] }), false);
    const form = contract.operations.find((o) => o.spec.id === 'updatePetWithForm');
    assert.ok(form?.body?.has('application/x-www-form-urlencoded'));
    const find = contract.operations.find((o) => o.spec.id === 'findPetsByStatus');
    const status = find?.spec.params.find((p) => p.name === 'status');
    assert.equal(status?.shape, 'array');
    assert.equal(status?.explode, true);
  });

  it('relative-file $refs are followed; remote ones are refused at start-up', async () => {
    const split = await buildContract(fixture('oas-3.0/petstore-expanded-split/openapi.yaml'), OPTIONS);
    const add = split.operations.find((o) => o.spec.method === 'POST');
    assert.equal(add?.body?.get('application/json')?.validate?.({ name: 'rex' }), true);
    const dir = mkdtempSync(join(tmpdir(), 'pc-spec-'));
    const file = join(dir, 'remote.yaml');
    writeFileSync(
      file,
      "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /x:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: 'http://127.0.0.1:1/schema.yaml'}\n",
    );
    await assert.rejects(
      loadSpec(file),
      (err: unknown) => err instanceof SpecError && /cannot read/.test(err.message),
    );
  });

  it('an invalid description is refused with the reasons; a non-OpenAPI file too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-spec-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'openapi: 3.0.3\ninfo: {title: t}\npaths:\n  /x:\n    get: {}\n');
    await assert.rejects(loadSpec(bad), SpecError);
    const other = join(dir, 'other.json');
    writeFileSync(other, '{"hello": "world"}');
    await assert.rejects(loadSpec(other), /not an OpenAPI/);
  });

  it('a 1,000-operation description compiles (validators for every parameter set, body and answer)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-spec-'));
    const file = join(dir, 'big.json');
    writeFileSync(file, JSON.stringify(syntheticSpec(1000)));
    const started = performance.now();
    const contract = await buildContract(file, OPTIONS);
    const ms = performance.now() - started;
    assert.equal(contract.operations.length, 1000);
    assert.ok(ms < 20000, `took ${Math.round(ms)} ms`);
    const post = contract.operations.find((o) => o.spec.method === 'POST');
    const validate = post?.body?.get('application/json')?.validate;
    assert.equal(validate?.({ name: 'n', count: 1 }), true);
    assert.equal(validate?.({ name: 'n', isAdmin: true }), false, 'strict: undeclared property');
    assert.equal(validate?.({ name: 'n', id: 'x' }), false, 'readOnly property');
  });
});

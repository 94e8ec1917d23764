import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI, run } from './process.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-openapi-'));
const SPEC = 'examples/openapi-driven/openapi.yaml';

describe('portcullis init --from-openapi, check and routes', () => {
  it('init writes a config that check accepts, with authenticators and scopes from the description', async () => {
    const out = join(dir, 'portcullis.yaml');
    const r = await run([
      CLI,
      'init',
      '--from-openapi',
      SPEC,
      '--upstream',
      'http://127.0.0.1:3001',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote .*: 5 route\(s\)/);
    const text = readFileSync(out, 'utf8');
    assert.match(text, /api-key:\n\s+header: x-api-key/);
    assert.match(text, /contract:\n\s+spec: examples\/openapi-driven\/openapi.yaml/);
    // security: [] on /hello → public; the scoped writes → rbac scopes.
    assert.match(text, /- id: hello[\s\S]*?authentication:\n\s+anonymous: true/);
    assert.match(text, /- id: createOrder[\s\S]*?rbac:\n\s+require:\n\s+scopes:\n\s+- orders/);
    const check = await run([CLI, 'check', '--config', out]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /OK — 1 listener\(s\), 1 upstream\(s\), 5 route\(s\)/);
    // Refuses to overwrite without --force.
    const again = await run([
      CLI,
      'init',
      '--from-openapi',
      SPEC,
      '--upstream',
      'http://127.0.0.1:3001',
      '--out',
      out,
    ]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /exists; pass --force/);
  });

  it('routes lists every operation with version, authentication, limits and stages (text and JSON)', async () => {
    const text = await run([CLI, 'routes', '--config', 'examples/openapi-driven/portcullis.yaml']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /POST\s+\/orders\s+\[createOrder v1\.0\] route createOrder → api/);
    assert.match(text.stdout, /5 operation\(s\) on 5 route\(s\)/);
    const json = await run([CLI, 'routes', '--json', '--config', 'examples/openapi-driven/portcullis.yaml']);
    assert.equal(json.code, 0, json.stderr);
    const { operations } = JSON.parse(json.stdout) as {
      operations: {
        operation: string;
        method: string;
        path: string;
        version: string;
        authentication: string[];
        anonymous: boolean;
        limits: string[];
        stages: string[];
      }[];
    };
    assert.equal(operations.length, 5);
    const get = operations.find((o) => o.operation === 'getOrder');
    assert.deepEqual(
      {
        method: get?.method,
        path: get?.path,
        version: get?.version,
        auth: get?.authentication,
        anonymous: get?.anonymous,
      },
      { method: 'GET', path: '/orders/{id}', version: '1.0', auth: ['api-key'], anonymous: false },
    );
    assert.ok(get?.stages.includes('contract'));
    assert.match(get?.limits[0] ?? '', /body ≤ 1048576 bytes/);
    assert.equal(operations.find((o) => o.operation === 'hello')?.anonymous, true);
  });

  it('a description that cannot be read fails init with a message, no stack trace', async () => {
    const r = await run([
      CLI,
      'init',
      '--from-openapi',
      join(dir, 'missing.yaml'),
      '--upstream',
      'http://x',
      '--out',
      join(dir, 'x.yaml'),
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cannot read the description/);
    assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/);
  });
});

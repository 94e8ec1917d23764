import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { baseConfig, problemOf, startGateway, startUpstream, type TestUpstream } from '../helpers.js';

/** A description whose `tag` pattern backtracks exponentially on "aaaa…!" in a backtracking engine. */
function spec(pattern: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-redos-'));
  const file = join(dir, 'spec.json');
  writeFileSync(
    file,
    JSON.stringify({
      openapi: '3.0.3',
      info: { title: 'redos', version: '1' },
      paths: {
        '/notes': {
          get: {
            parameters: [{ name: 'tag', in: 'query', schema: { type: 'string', maxLength: 64, pattern } }],
            responses: { '200': { description: 'ok' } },
          },
        },
      },
    }),
  );
  return file;
}

describe('contract: description patterns cannot hang the gateway', () => {
  let up: TestUpstream;
  before(async () => {
    up = await startUpstream();
  });
  after(() => up.close());

  it('an exponential pattern runs in linear time: the hostile value is refused at once, valid ones pass', async () => {
    const gw = await startGateway(
      baseConfig(up.url, {
        routes: [{ id: 'notes', path: '/notes', upstream: 'api' }],
        plugins: { contract: { spec: spec('^([a-z]+)+$') } },
      }),
    );
    try {
      const before = up.calls.length;
      const t0 = performance.now();
      const res = await fetch(`${gw.url}/notes?tag=${'a'.repeat(40)}!`);
      const ms = performance.now() - t0;
      assert.equal(res.status, 400);
      assert.equal(problemOf(res.headers.get('content-type'), await res.text()).code, 'REQUEST_INVALID');
      // A backtracking engine needs minutes for this value; linear time is a few milliseconds.
      assert.ok(ms < 1000, `answered in ${ms} ms`);
      assert.equal(up.calls.length, before);
      assert.equal((await fetch(`${gw.url}/notes?tag=abc`)).status, 200);
    } finally {
      await gw.close();
    }
  });

  it('a catastrophic pattern that needs backtracking features is refused at start-up', async () => {
    await assert.rejects(
      startGateway(
        baseConfig(up.url, {
          routes: [{ id: 'notes', path: '/notes', upstream: 'api' }],
          plugins: { contract: { spec: spec('^(a+)+\\1$') } },
        }),
      ),
      (err: unknown) => err instanceof ConfigError && /cannot run in linear time/.test(err.message),
    );
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { startUpstream, type TestUpstream } from '../helpers.js';
import { CLI, run, startUntil } from './process.js';

const SECRET = 'versions-e2e-secret-0123456789abcdef-0123456789';
const ISSUER = 'https://idp.versions.test';

function token(sub: string): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(ISSUER)
    .setAudience('orders')
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET));
}

describe('portcullis versions report', () => {
  let up: TestUpstream;
  let dir: string;
  let config: string;

  before(async () => {
    up = await startUpstream();
    dir = mkdtempSync(join(tmpdir(), 'portcullis-versions-e2e-'));
    config = join(dir, 'portcullis.yaml');
    writeFileSync(
      config,
      `listeners: [{ name: public, host: 127.0.0.1, port: 0 }]
upstreams: { api: { url: "${up.url}" } }
routes:
  - { id: orders-v1, path: /orders, versions: [v1], upstream: api }
  - { id: orders-v2, path: /orders, versions: [v2], upstream: api }
versioning:
  versions:
    - { name: v1, status: deprecated, deprecatedAt: "2026-01-01", sunset: "2027-01-01" }
    - { name: v2 }
  usage: { path: "${join(dir, 'usage.db')}", flushMs: 200 }
observability: { audit: { path: "${join(dir, 'audit.db')}" } }
stores: { keys: { path: "${join(dir, 'keys.db')}", pepperFile: "${join(dir, 'pepper')}" } }
plugins:
  jwt:
    issuers: [{ issuer: "${ISSUER}", audience: [orders], secret: "${SECRET}", algorithms: [HS256] }]
  authorization: { allow: authenticated }
`,
    );
  });
  after(() => up.close());

  it('lists who still calls the deprecated version, deprecated versions first', async () => {
    const { running, match } = await startUntil(
      [CLI, 'start', '--config', config],
      /listener public on (http:\/\/127\.0\.0\.1:\d+)/,
    );
    try {
      const url = match[1] as string;
      const alice = await token('alice');
      const bob = await token('bob');
      for (let i = 0; i < 3; i++) {
        const r = await fetch(`${url}/orders`, {
          headers: { authorization: `Bearer ${alice}`, 'api-version': '1' },
        });
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('deprecation'), '@1767225600');
      }
      const b = await fetch(`${url}/orders?api-version=v2`, { headers: { authorization: `Bearer ${bob}` } });
      assert.equal(b.status, 200);
      // Refused before authentication: counted as anonymous.
      const anon = await fetch(`${url}/orders`, { headers: { 'api-version': 'v1' } });
      assert.equal(anon.status, 401);
    } finally {
      running.child.kill('SIGTERM');
      await running.exited;
    }

    const json = await run([CLI, 'versions', 'report', '--config', config, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as {
      versions: {
        name: string;
        status: string;
        requests: number;
        consumers: { consumer: string; requests: number }[];
      }[];
    };
    assert.deepEqual(
      report.versions.map((v) => [v.name, v.status, v.requests]),
      [
        ['v1', 'deprecated', 4],
        ['v2', 'active', 1],
      ],
    );
    assert.deepEqual(
      report.versions[0]?.consumers.map((c) => [c.consumer, c.requests]),
      [
        [`jwt:${ISSUER}|alice`, 3],
        ['anonymous', 1],
      ],
    );

    const text = await run([CLI, 'versions', 'report', '--config', config]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /^v1 {2}deprecated \(deprecated 2026-01-01, sunset 2027-01-01\) {2}4 requests from 2 consumers\n/,
    );
    assert.match(text.stdout, /jwt:https:\/\/idp\.versions\.test\|alice\s+3 {2}last \d{4}-/);
  });
});

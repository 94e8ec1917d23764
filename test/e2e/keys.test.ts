import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashSecret, parseApiKey } from '../../src/plugins/authenticate/api-key/format.js';
import { startUpstream, type TestUpstream } from '../helpers.js';
import { CLI, run, startUntil } from './process.js';

const NO_STACK = /\n\s+at .+:\d+:\d+/;

describe('portcullis keys (built CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-keys-e2e-'));
  const db = join(dir, 'state', 'keys.db');
  const pepperFile = join(dir, 'state', 'pepper');
  let upstream: TestUpstream;
  let cfg: string;

  before(async () => {
    upstream = await startUpstream();
    cfg = join(dir, 'portcullis.yaml');
    writeFileSync(
      cfg,
      [
        'listeners:',
        '  - name: public',
        '    port: 0',
        'upstreams:',
        '  api:',
        `    url: ${upstream.url}`,
        'routes:',
        '  - id: items',
        '    path: /items',
        '    upstream: api',
        '    plugins:',
        '      api-key: {}',
        '      authorization:',
        '        allow: authenticated',
        'stores:',
        '  keys:',
        `    path: ${db}`,
        `    pepperFile: ${pepperFile}`,
        '    pollMs: 100',
        '',
      ].join('\n'),
    );
  });
  after(() => upstream.close());

  it('creates a key (shown once), lists it without secrets, revokes it; a running gateway refuses it within 1 s', async () => {
    const created = await run([
      CLI,
      'keys',
      'create',
      '--config',
      cfg,
      '--consumer',
      'acme',
      '--name',
      'ci',
      '--scopes',
      'orders:read,orders:write',
    ]);
    assert.equal(created.code, 0, created.stderr);
    const key = /pcl_\S+/.exec(created.stdout)?.[0] as string;
    const parsed = parseApiKey(key);
    assert.ok(parsed.ok, 'a well-formed key is printed');
    assert.match(created.stderr, /shown only this once and cannot be retrieved/);
    assert.equal(statSync(db).mode & 0o777, 0o600);
    assert.equal(statSync(pepperFile).mode & 0o777, 0o600);
    const pepper = readFileSync(pepperFile);
    const hash = hashSecret(parsed.secret, pepper);
    const secrets = [
      parsed.secret,
      key,
      hash.toString('hex'),
      hash.toString('base64'),
      pepper.toString('hex'),
      pepper.toString('base64'),
    ];

    const listed = await run([CLI, 'keys', 'list', '--config', cfg]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${parsed.keyId}\\s+acme\\s+ci\\s+active`));
    const asJson = await run([CLI, 'keys', 'list', '--config', cfg, '--json', '--consumer', 'acme']);
    assert.equal(asJson.code, 0, asJson.stderr);
    const keys = JSON.parse(asJson.stdout) as Record<string, unknown>[];
    assert.equal(keys.length, 1);
    assert.equal(keys[0]?.id, parsed.keyId);
    assert.deepEqual(keys[0]?.scopes, ['orders:read', 'orders:write']);
    assert.equal('hash' in (keys[0] ?? {}), false);
    const shown = await run([CLI, 'keys', 'show', parsed.keyId, '--config', cfg]);
    assert.equal(shown.code, 0, shown.stderr);
    for (const out of [listed, asJson, shown])
      for (const s of secrets)
        assert.ok(!(out.stdout + out.stderr).includes(s), 'no key, hash or pepper printed');

    const { running, match } = await startUntil(
      [CLI, 'start', '--config', cfg],
      /listener public on (http:\/\/[\d.:]+)/,
    );
    try {
      const url = `${match[1]}/items`;
      const ok = await fetch(url, { headers: { 'x-api-key': key } });
      assert.equal(ok.status, 200);
      assert.equal(upstream.calls.at(-1)?.headers['x-api-key'], undefined, 'the key is not forwarded');

      const revoked = await run([CLI, 'keys', 'revoke', parsed.keyId, '--config', cfg]);
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.match(revoked.stdout, /revoked/);
      const at = Date.now();
      let status = 200;
      while (status === 200 && Date.now() - at < 1000) {
        status = (await fetch(url, { headers: { 'x-api-key': key } })).status;
        if (status === 200) await new Promise((r) => setTimeout(r, 25));
      }
      assert.equal(status, 401, 'refused within a second of the revocation by another process');
      assert.ok(!running.stdout().includes(parsed.secret), 'the gateway log never holds the key');
    } finally {
      running.child.kill('SIGTERM');
      await running.exited;
    }
    const after = await run([CLI, 'keys', 'list', '--config', cfg, '--json']);
    assert.equal((JSON.parse(after.stdout) as { status: string }[])[0]?.status, 'revoked');
  });

  it('unknown ids and bad input exit 1 with a message; a bad config exits 2; never a stack trace', async () => {
    const unknown = await run([CLI, 'keys', 'revoke', 'nope', '--config', cfg]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no API key with id nope/);
    const bad = await run([
      CLI,
      'keys',
      'create',
      '--consumer',
      'x',
      '--allow-cidr',
      '10.0.0.0/33',
      '--config',
      cfg,
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /prefix/);
    const missing = await run([CLI, 'keys', 'list', '--config', join(dir, 'missing.yaml')]);
    assert.equal(missing.code, 2);
    const shortPepper = join(dir, 'short.yaml');
    writeFileSync(
      shortPepper,
      readFileSync(cfg, 'utf8').replace(
        '    pollMs: 100',
        '    pollMs: 100\n    pepper: not-long-enough-secret',
      ),
    );
    const weak = await run([CLI, 'keys', 'list', '--config', shortPepper]);
    assert.equal(weak.code, 2);
    assert.match(weak.stderr, /too short/);
    assert.ok(!weak.stderr.includes('not-long-enough-secret'));
    for (const r of [unknown, bad, missing, weak]) assert.doesNotMatch(r.stderr, NO_STACK);
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startUpstream, type TestUpstream } from '../helpers.js';
import { CLI, run, startUntil } from './process.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const NO_STACK = /\n\s+at .+:\d+:\d+/;

describe('portcullis CLI', () => {
  it('--version and --help', async () => {
    const v = await run([CLI, '--version']);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
    const h = await run([CLI, '--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /start \[options\]/);
    assert.match(h.stdout, /check \[options\]/);
  });

  it('check prints every route with its resolved chain', async () => {
    const r = await run([CLI, 'check', '--config', 'examples/quickstart/portcullis.yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /OK — 1 listener\(s\), 1 upstream\(s\), 4 route\(s\)/);
    assert.match(r.stdout, /every request:\n\s+route\s+router/);
    assert.match(r.stdout, /route create-order: POST \/api\/orders → demo/);
    // Order is phase, then priority, then name.
    const chain = r.stdout.split('route hello:')[1]?.split('\n\n')[0] ?? '';
    const phases = [...chain.matchAll(/^\s{4}(\w+)\s+([\w-]+)/gm)].map((m) => `${m[1]}:${m[2]}`);
    // The authentication gate closes the authenticate phase, after the lockout (and token binding).
    assert.equal(phases.filter((p) => p.startsWith('authenticate:')).at(0), 'authenticate:auth-lockout');
    assert.equal(phases.filter((p) => p.startsWith('authenticate:')).at(-1), 'authenticate:authentication');
    assert.deepEqual(
      phases.filter((p) => !p.startsWith('authenticate:') && p !== 'authorize:authorization'),
      [
        'guard:request-guard',
        'proxy:forward',
        'respond:security-headers',
        'respond:response-hygiene',
        'respond:version-lifecycle',
        'log:access-log',
      ],
    );
  });

  it('a YAML syntax error names file, line and column and exits 2 without a stack trace', async () => {
    const bad = file('syntax.yaml', 'routes:\n  - id: a\n   path: [oops\n');
    const r = await run([CLI, 'check', '--config', bad]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${bad.replaceAll('/', '\\/')}:\\d+:\\d+: YAML syntax`));
    assert.match(r.stderr, /hint: /);
    assert.doesNotMatch(r.stderr, NO_STACK);
  });

  it('a schema error names the config path, the reason and a hint, and exits 2', async () => {
    const bad = file(
      'schema.yaml',
      'upstreams:\n  api:\n    url: http://127.0.0.1:1\nroutes:\n  - id: a\n    path: /a\n    upstream: apii\n    metods: [GET]\n',
    );
    const r = await run([CLI, 'check', '--config', bad]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /schema\.yaml:8:5: routes\[0\]\.metods: unknown key "metods"\n\s+hint: did you mean "methods"\?/,
    );
    assert.doesNotMatch(r.stderr, NO_STACK);
  });

  it('a semantic error (unknown upstream) is reported with its path and exits 2', async () => {
    const bad = file(
      'semantic.yaml',
      'upstreams:\n  api:\n    url: http://127.0.0.1:1\nroutes:\n  - id: a\n    path: /a\n    upstream: apii\n',
    );
    const r = await run([CLI, 'check', '--config', bad]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /routes\[0\]\.upstream: unknown upstream "apii"\n\s+hint: declared upstreams: api/,
    );
  });

  it('a missing file exits 2 with a hint', async () => {
    const r = await run([CLI, 'check', '--config', join(dir, 'nope.yaml')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /nope\.yaml: file not found\n\s+hint:/);
  });

  it('certs dev writes a CA, a server and client certificates, and check accepts a TLS listener using them', async () => {
    const out = join(dir, 'dev-certs');
    const r = await run([CLI, 'certs', 'dev', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /PRIVATE KEY/);
    const cfg = file(
      'tls.yaml',
      `listeners:\n  - name: tls\n    port: 0\n    tls:\n      cert: ${join(out, 'server.crt')}\n      key: ${join(out, 'server.key')}\nupstreams:\n  api:\n    url: http://127.0.0.1:1\nroutes:\n  - id: a\n    path: /a\n    upstream: api\nplugins:\n  authentication:\n    anonymous: true\n`,
    );
    const c = await run([CLI, 'check', '--config', cfg]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /tls\s+https:\/\/127\.0\.0\.1:0/);
    const bad = file('tls-bad.yaml', readFileSync(cfg, 'utf8').replace('server.key', 'client.key'));
    const b = await run([CLI, 'check', '--config', bad]);
    assert.equal(b.code, 2);
    assert.match(
      b.stderr,
      /listeners\[0\]\.tls: the certificate or key is not valid PEM, or they do not match/,
    );
  });

  it('check warns about write methods reachable without a permission (BFLA), and still exits 0', async () => {
    const cfg = file(
      'bfla.yaml',
      [
        'upstreams:',
        '  api:',
        '    url: http://127.0.0.1:1',
        'routes:',
        '  - { id: public-read, path: /news, methods: [GET], upstream: api, plugins: { jwt: false, authentication: { anonymous: true } } }',
        '  - { id: public-write, path: /comments, methods: [GET, POST], upstream: api, plugins: { jwt: false, authentication: { anonymous: true } } }',
        '  - { id: any-user-delete, path: /users/:id, methods: [GET, DELETE], upstream: api, plugins: { authorization: { allow: authenticated } } }',
        '  - id: guarded',
        '    path: /orders',
        '    methods: [GET, POST]',
        '    upstream: api',
        '    plugins:',
        '      rbac: { methods: { GET: { permissions: [orders:read] }, POST: { permissions: [orders:write] } } }',
        '  - id: open-put',
        '    path: /profile',
        '    methods: [GET, PUT]',
        '    upstream: api',
        '    plugins:',
        '      rbac: { require: { anyAuthenticated: true } }',
        '  - id: shadow',
        '    path: /admin/users/:id',
        '    methods: [DELETE]',
        '    upstream: api',
        '    plugins:',
        '      rbac: { mode: monitor, require: { permissions: [users:delete] } }',
        // Global jwt settings turn jwt on for every route (the public ones say jwt: false); global rbac
        // settings are definitions only: rbac runs where a route configures it.
        'plugins:',
        '  jwt:',
        '    issuers: [{ issuer: "https://idp.test", audience: [api], secret: ssssssssssssssssssssssssssssssss, algorithms: [HS256] }]',
        '  rbac:',
        '    roles: { member: { permissions: [orders:read, orders:write] } }',
        '',
      ].join('\n'),
    );
    const r = await run([CLI, 'check', '--config', cfg]);
    assert.equal(r.code, 0, r.stderr);
    const warnings = r.stdout.split('\nwarnings:\n')[1] ?? '';
    assert.ok(warnings !== '', r.stdout);
    assert.match(warnings, /write method reachable without a permission/);
    assert.match(warnings, /route public-write: POST reachable without authentication/);
    assert.match(
      warnings,
      /route any-user-delete: DELETE reachable by every authenticated caller without a permission \(authorization\.allow: authenticated/,
    );
    assert.match(
      warnings,
      /route open-put: PUT reachable by every authenticated caller without a permission \(rbac anyAuthenticated/,
    );
    assert.match(warnings, /route shadow: DELETE protected only by rules in monitor mode \(rbac\)/);
    assert.doesNotMatch(warnings, /public-read|guarded/);
    // The secret of the issuer never appears.
    assert.doesNotMatch(r.stdout, /ssssssss/);
  });

  it('an unknown command exits 2', async () => {
    const r = await run([CLI, 'frobnicate']);
    assert.equal(r.code, 2);
  });

  it('never prints a value that came from ${env:…}', async () => {
    const cfg = file(
      'secret.yaml',
      'upstreams:\n  api:\n    url: ${env:SECRET_URL}\nroutes:\n  - id: a\n    host: ${env:SECRET_HOST}\n    path: /t/${env:TENANT_TOKEN}/items\n    upstream: api\nplugins:\n  authentication:\n    anonymous: true\n',
    );
    const r = await run([CLI, 'check', '--config', cfg], {
      SECRET_URL: 'http://internal-s3cr3t.example:8080/base',
      SECRET_HOST: 'hidden-s3cr3t.example',
      TENANT_TOKEN: 'tok-s3cr3t',
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /route a: GET,HEAD \(from env\) \(from env\) → api/);
    assert.doesNotMatch(r.stdout + r.stderr, /s3cr3t/);
  });

  it('refuses credentials inside an upstream URL', async () => {
    const cfg = file(
      'userinfo.yaml',
      'upstreams:\n  api:\n    url: http://user:pw@127.0.0.1:1\nroutes:\n  - id: a\n    path: /a\n    upstream: api\nplugins:\n  authentication:\n    anonymous: true\n',
    );
    const r = await run([CLI, 'check', '--config', cfg]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /upstreams\.api\.url: has an invalid format/);
    assert.doesNotMatch(r.stderr, /pw@/);
  });
});

describe('portcullis start', () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startUpstream(async (_req, res, call) => {
      if (call.url === '/slow') await new Promise((r) => setTimeout(r, 400));
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`done ${call.url}`);
    });
  });
  after(() => upstream.close());

  it('serves, then on SIGTERM finishes the in-flight request and exits 0', async () => {
    const cfg = file(
      'start.yaml',
      `listeners:\n  - name: public\n    port: 0\nupstreams:\n  api:\n    url: ${upstream.url}\nroutes:\n  - id: slow\n    path: /slow\n    upstream: api\nplugins:\n  authentication:\n    anonymous: true\n`,
    );
    const { running, match } = await startUntil(
      [CLI, 'start', '--config', cfg],
      /listener public on (http:\/\/[\d.:]+)/,
    );
    const url = match[1] as string;
    const inFlight = fetch(`${url}/slow`);
    await new Promise((r) => setTimeout(r, 100));
    running.child.kill('SIGTERM');
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'done /slow');
    assert.equal(await running.exited, 0);
    // New connections are refused once it has stopped.
    await assert.rejects(fetch(`${url}/slow`));
    assert.match(running.stdout(), /"msg":"shutting down"/);
  });
});

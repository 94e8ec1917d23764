import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { allRules } from '../../src/scanner/index.js';
import { LINT_RULES } from '../../src/scanner/lint/index.js';
import { startUpstream, type TestUpstream } from '../helpers.js';
import { validateSarif } from '../sarif.js';
import { CLI, run } from './process.js';

/*
 * `portcullis scan` and `portcullis lint` as a user runs them: a real process, a real upstream on
 * loopback (port 0) that counts what it receives, files on disk. The upstream answers 200 to
 * everything, so the spec's secured operations answering anonymous callers is a critical finding.
 */

const SPEC = `openapi: 3.0.3
info: { title: items, version: "1" }
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer }
security: [{ bearer: [] }]
paths:
  /items:
    get:
      responses:
        "200": { description: ok }
  /items/{id}:
    get:
      parameters:
        - { name: id, in: path, required: true, schema: { type: integer } }
      responses:
        "200": { description: ok }
        "404": { description: missing }
`;

describe('portcullis scan', () => {
  let up: TestUpstream;
  let dir: string;
  let spec: string;
  const scan = (...args: string[]) => run([CLI, 'scan', ...args], {}, 30000);

  before(async () => {
    // Authentication that is skipped when no credential is sent (a classic API2 bug): a wrong
    // token is refused, no token at all is let in.
    up = await startUpstream((req, res, call) => {
      const status = req.headers.authorization === undefined ? 200 : 401;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          status === 200 ? { items: [{ id: 1, name: 'a' }], url: call.url } : { error: 'bad token' },
        ),
      );
    });
    dir = mkdtempSync(join(tmpdir(), 'portcullis-scan-cli-'));
    spec = join(dir, 'openapi.yaml');
    writeFileSync(spec, SPEC);
  });
  after(() => up.close());

  it('refuses bad usage with exit 2 and a clear message, sending nothing', async () => {
    const cases: [string[], RegExp][] = [
      [['--target', up.url], /--spec FILE is required/],
      [['--spec', spec], /--target URL is required/],
      [['--spec', spec, '--target', 'ftp://127.0.0.1/'], /--target must be an http:\/\/ or https:\/\/ URL/],
      [['--spec', spec, '--target', 'not a url'], /--target "not a url" is not a URL/],
      [['--spec', spec, '--target', up.url, '--checks', 'api42-nope'], /unknown check "api42-nope"/],
      [['--spec', spec, '--target', up.url, '--format', 'xml'], /argument 'xml' is invalid/],
      [['--spec', spec, '--target', up.url, '--fail-on', 'severe'], /argument 'severe' is invalid/],
      [['--spec', spec, '--target', up.url, '--budget', '0'], /at least 1/],
      [['--spec', spec, '--target', up.url, '--rate', '-1'], /at least 0/],
      [['--spec', join(dir, 'missing.yaml'), '--target', up.url], /cannot read the description/],
      [
        ['--spec', spec, '--target', up.url, '--out', join(dir, 'no-such-dir', 'r.json')],
        /--out .* does not exist or cannot be written/,
      ],
    ];
    const ran = await Promise.all(cases.map(([args]) => scan(...args)));
    cases.forEach(([args, message], i) => {
      const r = ran[i];
      assert.equal(r?.code, 2, `${args.join(' ')}\n${r?.stderr}`);
      assert.match(r?.stderr ?? '', message);
    });
    const notOpenApi = join(dir, 'not-openapi.yaml');
    writeFileSync(notOpenApi, 'hello: world\n');
    const r = await scan('--spec', notOpenApi, '--target', up.url);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /not an OpenAPI 3\.0\/3\.1 or Swagger 2\.0 document/);
    assert.equal(up.calls.length, 0);
  });

  it('refuses a malformed --auth without repeating the credential', async () => {
    const cases = [
      ['--auth', 'Bearer s3cr3t-token-value'],
      ['--auth', 'Authorization:'],
      ['--auth-second', 'Bad Header: s3cr3t-token-value'],
      ['--auth', 'Authorization: Bearer s3cr3t-token-value\r\nX-Evil: 1'],
    ] as const;
    const ran = await Promise.all(
      cases.map(([option, value]) => scan('--spec', spec, '--target', up.url, option, value)),
    );
    cases.forEach(([option, value], i) => {
      const r = ran[i];
      assert.equal(r?.code, 2, `${option} ${value}: ${r?.stderr}`);
      assert.match(r?.stderr ?? '', new RegExp(`portcullis scan: ${option}`));
      assert.ok(!r?.stderr.includes('s3cr3t'), r?.stderr);
    });
    assert.equal(up.calls.length, 0);
  });

  it('--list-rules lists every rule of every check, as a table or as JSON', async () => {
    const text = await scan('--list-rules');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^rule\s+category\s+severity\s+title\n/);
    for (const rule of allRules())
      assert.match(text.stdout, new RegExp(`^${rule.id}\\s+${rule.category}\\s+${rule.severity}\\s`, 'm'));
    const json = await scan('--list-rules', '--format', 'json');
    assert.equal(json.code, 0, json.stderr);
    const listed = JSON.parse(json.stdout) as { id: string }[];
    assert.deepEqual(
      listed.map((r) => r.id).sort(),
      allRules()
        .map((r) => r.id)
        .sort(),
    );
    assert.ok(listed.length > 0);
  });

  it('--dry-run sends nothing and lists what it would send', async () => {
    const before = up.calls.length;
    const r = await scan(
      '--spec',
      spec,
      '--target',
      up.url,
      '--dry-run',
      '--format',
      'json',
      '--fail-on',
      'info',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(up.calls.length, before, 'the upstream was called during a dry run');
    const report = JSON.parse(r.stdout) as {
      requestsSent: number;
      planned: { method: string; path: string; purpose: string }[];
      findings: unknown[];
    };
    assert.equal(report.requestsSent, 0);
    assert.deepEqual(report.findings, []);
    assert.ok(report.planned.length > 0);
    assert.ok(report.planned.some((p) => p.method === 'GET' && p.path === '/items' && p.purpose !== ''));
    const text = await scan('--spec', spec, '--target', up.url, '--dry-run');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Dry run: \d+ request\(s\) planned, none sent\./);
    assert.equal(up.calls.length, before);
  });

  it('exits 1 when a finding reaches --fail-on, 0 when none does or with "none"', async () => {
    const args = ['--spec', spec, '--target', up.url, '--checks', 'api2-auth', '--budget', '40'];
    const critical = await scan(...args, '--fail-on', 'critical');
    assert.equal(critical.code, 1, critical.stdout + critical.stderr);
    assert.match(critical.stdout, /\[CRITICAL\] api2-no-auth {2}GET \/items\n/);
    assert.match(critical.stdout, /Requests sent: \d+ of a budget of 40, \d+ answered\./);
    // Not a terminal: one progress line per check on stderr, never on stdout.
    assert.match(critical.stderr, /portcullis scan: \[1\/1\] api2-auth\n/);
    assert.ok(up.calls.length > 0 && up.calls.length <= 40);
    const byDefault = await scan(...args);
    assert.equal(byDefault.code, 1);
    const never = await scan(...args, '--fail-on', 'none');
    assert.equal(never.code, 0, never.stderr);
    const calls = up.calls.length;
    const budget = await scan(...args, '--budget', '1');
    assert.ok(up.calls.length - calls <= 1, 'more requests than --budget');
    assert.match(budget.stdout, /of a budget of 1, \d answered\./);
  });

  it('a target that answers nothing exits 2 (a CI gate must not pass when the API never started)', async () => {
    const r = await scan(
      '--spec',
      spec,
      '--target',
      'http://127.0.0.1:1',
      '--checks',
      'api8-config',
      '--format',
      'json',
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /the target answered none of \d+ requests/);
    const report = JSON.parse(r.stdout) as { requestsAnswered: number; notes: string[] };
    assert.equal(report.requestsAnswered, 0);
    assert.ok(report.notes.some((n) => n.includes('answered none')));
  });

  it('a dry run never fails, even with findings that need no request', async () => {
    const plain = join(dir, 'plain-http.yaml');
    writeFileSync(plain, SPEC.replace('info:', 'servers: [{ url: "http://api.example.com" }]\ninfo:'));
    const r = await scan('--spec', plain, '--target', up.url, '--dry-run', '--fail-on', 'info');
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it('--out writes the report to the file, not to stdout', async () => {
    const out = join(dir, 'scan.sarif');
    const r = await scan(
      '--spec',
      spec,
      '--target',
      up.url,
      '--checks',
      'api2-auth',
      '--budget',
      '40',
      '--format',
      'sarif',
      '--out',
      out,
    );
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /sarif report written to .*scan\.sarif \(\d+ finding\(s\)\)/);
    assert.ok(existsSync(out));
    const sarif = JSON.parse(readFileSync(out, 'utf8')) as {
      version: string;
      runs: {
        tool: { driver: { name: string; rules: { id: string }[] } };
        results: { ruleId: string; locations: unknown[] }[];
      }[];
    };
    assert.ok(validateSarif(sarif), JSON.stringify(validateSarif.errors, null, 2));
    assert.equal(sarif.version, '2.1.0');
    const [runOf] = sarif.runs;
    assert.equal(runOf?.tool.driver.name, 'Portcullis');
    assert.ok(runOf?.results.some((x) => x.ruleId === 'api2-no-auth' && x.locations.length === 1));
    // Every rule of the selected check is described, found or not.
    assert.ok(runOf?.tool.driver.rules.some((x) => x.id === 'api2-jwt-alg-none'));
  });

  for (const format of ['junit', 'html'] as const)
    it(`writes a ${format} report`, async () => {
      const out = join(dir, `scan.${format}`);
      const r = await scan(
        '--spec',
        spec,
        '--target',
        up.url,
        '--checks',
        'api2-auth',
        '--budget',
        '40',
        '--format',
        format,
        '--out',
        out,
        '--fail-on',
        'none',
      );
      assert.equal(r.code, 0, r.stderr);
      const body = readFileSync(out, 'utf8');
      assert.match(
        body,
        format === 'junit'
          ? /^<\?xml version="1\.0"[\s\S]*<failure type="critical"/
          : /^<!doctype html>[\s\S]*api2-no-auth/,
      );
    });
});

describe('portcullis lint', () => {
  let dir: string;
  let spec: string;
  const lint = (...args: string[]) => run([CLI, 'lint', ...args], {}, 30000);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-lint-cli-'));
    spec = join(dir, 'openapi.yaml');
    writeFileSync(spec, SPEC);
  });

  it('refuses to run without input, and a spec that does not load, with exit 2', async () => {
    const none = await lint();
    assert.equal(none.code, 2);
    assert.match(none.stderr, /portcullis lint: give --spec FILE, --config FILE, or both/);
    const missing = await lint('--spec', join(dir, 'missing.yaml'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read the description/);
    const badConfig = join(dir, 'bad.yaml');
    writeFileSync(badConfig, 'listeners: 3\n');
    const config = await lint('--config', badConfig);
    assert.equal(config.code, 2, config.stderr);
  });

  it('reports the spec findings, with exit codes following --fail-on', async () => {
    const r = await lint('--spec', spec, '--format', 'json', '--fail-on', 'none');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as {
      kind: string;
      target: string;
      findings: { ruleId: string; severity: string }[];
    };
    assert.equal(report.kind, 'lint');
    assert.ok(report.findings.length > 0);
    assert.ok(report.findings.every((f) => f.ruleId.startsWith('lint-spec-')));
    const info = await lint('--spec', spec, '--fail-on', 'info');
    assert.equal(info.code, 1);
    assert.match(info.stdout, /^Portcullis lint /);
  });

  it('--list-rules lists every lint rule; SARIF goes to --out', async () => {
    const list = await lint('--list-rules', '--format', 'json');
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      (JSON.parse(list.stdout) as { id: string }[]).map((r) => r.id).sort(),
      LINT_RULES.map((r) => r.id).sort(),
    );
    const out = join(dir, 'lint.sarif');
    const r = await lint('--spec', spec, '--format', 'sarif', '--out', out, '--fail-on', 'none');
    assert.equal(r.code, 0, r.stderr);
    const sarif = JSON.parse(readFileSync(out, 'utf8')) as {
      runs: { results: { locations: { physicalLocation: { region: { startLine: number } } }[] }[] }[];
    };
    assert.ok(validateSarif(sarif), JSON.stringify(validateSarif.errors, null, 2));
    const results = sarif.runs[0]?.results ?? [];
    assert.ok(results.length > 0);
    assert.ok(results.every((x) => (x.locations[0]?.physicalLocation.region.startLine ?? 0) >= 1));
  });
});

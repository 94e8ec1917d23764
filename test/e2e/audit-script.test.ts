import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ROOT, run } from './process.js';

/**
 * `npm run audit` (scripts/audit.mjs) against npm's real answers: a stand-in `npm` prints what
 * npm 11 prints for `npm audit --omit=dev --audit-level=high --json` in each situation (the error
 * shapes were captured from npm 11.19 on this project) and exits as npm does. What is checked is
 * what CI sees: the exit code and the lines printed.
 */

const dir = mkdtempSync(join(tmpdir(), 'portcullis-audit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SCRIPT = join(ROOT, 'scripts', 'audit.mjs');

/** Runs the audit script with a stand-in npm that prints `output` and exits `code`. */
async function audit(output: unknown, code: number, env: NodeJS.ProcessEnv = {}) {
  const name = `npm-${Math.random().toString(36).slice(2)}`;
  const out = join(dir, `${name}.json`);
  const argsFile = join(dir, `${name}.args`);
  writeFileSync(out, typeof output === 'string' ? output : JSON.stringify(output, null, 2));
  const npm = join(dir, name);
  writeFileSync(npm, `#!/bin/sh\necho "$@" > '${argsFile}'\ncat '${out}'\nexit ${code}\n`);
  chmodSync(npm, 0o755);
  const ran = await run([SCRIPT], { PORTCULLIS_AUDIT_NPM: npm, PORTCULLIS_AUDIT_OFFLINE: '', ...env });
  return { ...ran, args: readFileSync(argsFile, 'utf8').trim(), all: ran.stdout + ran.stderr };
}

const counts = (c: Partial<Record<'info' | 'low' | 'moderate' | 'high' | 'critical', number>>) => {
  const v = { info: 0, low: 0, moderate: 0, high: 0, critical: 0, ...c };
  return { ...v, total: v.info + v.low + v.moderate + v.high + v.critical };
};
const report = (vulnerabilities: Record<string, unknown>, c: Parameters<typeof counts>[0]) => ({
  auditReportVersion: 2,
  vulnerabilities,
  metadata: {
    vulnerabilities: counts(c),
    dependencies: { prod: 134, dev: 95, optional: 2, peer: 0, peerOptional: 0, total: 228 },
  },
});

const MODERATE = {
  name: 'fast-uri',
  severity: 'moderate',
  isDirect: false,
  via: [
    {
      source: 1101001,
      name: 'fast-uri',
      dependency: 'fast-uri',
      title: 'fast-uri mishandles an IPv6 zone id',
      url: 'https://github.com/advisories/GHSA-aaaa-bbbb-cccc',
      severity: 'moderate',
      cwe: ['CWE-20'],
      cvss: { score: 5.3, vectorString: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:L/A:N' },
      range: '<3.1.10',
    },
  ],
  effects: [],
  range: '<3.1.10',
  nodes: ['node_modules/fast-uri'],
  fixAvailable: true,
};
const HIGH = {
  name: 'undici',
  severity: 'high',
  isDirect: true,
  via: [
    {
      source: 1102002,
      name: 'undici',
      dependency: 'undici',
      title: 'undici forwards the Authorization header across origins on redirect',
      url: 'https://github.com/advisories/GHSA-dddd-eeee-ffff',
      severity: 'high',
      cwe: ['CWE-200'],
      cvss: { score: 7.5, vectorString: null },
      range: '>=7.0.0 <7.30.3',
    },
  ],
  effects: ['@apidevtools/json-schema-ref-parser'],
  range: '>=7.0.0 <7.30.3',
  nodes: ['node_modules/undici'],
  fixAvailable: { name: 'undici', version: '7.30.3', isSemVerMajor: false },
};
const CRITICAL_THROUGH = {
  name: 'ioredis',
  severity: 'critical',
  isDirect: true,
  via: ['redis-parser'],
  effects: [],
  range: '5.0.0 - 5.9.2',
  nodes: ['node_modules/ioredis'],
  fixAvailable: false,
};

describe('npm run audit (scripts/audit.mjs)', () => {
  it('runs npm audit on production dependencies at level high, as JSON', async () => {
    const r = await audit(report({}, {}), 0);
    assert.equal(r.args, 'audit --omit=dev --audit-level=high --json');
  });

  it('a clean report passes (exit 0) and says so', async () => {
    const r = await audit(report({}, {}), 0);
    assert.equal(r.code, 0, r.all);
    assert.match(r.stdout, /no high or critical advisory \(0 critical, 0 high, 0 moderate, 0 low, 0 info\)/);
  });

  it('moderate and low advisories are counted but pass', async () => {
    const r = await audit(report({ 'fast-uri': MODERATE }, { moderate: 1, low: 2 }), 0);
    assert.equal(r.code, 0, r.all);
    assert.match(r.stdout, /0 critical, 0 high, 1 moderate, 2 low/);
  });

  it('high and critical advisories fail (exit 1), each printed with its advisory and fix', async () => {
    const r = await audit(
      report(
        { 'fast-uri': MODERATE, undici: HIGH, ioredis: CRITICAL_THROUGH },
        { moderate: 1, high: 1, critical: 1 },
      ),
      1,
    );
    assert.equal(r.code, 1, r.all);
    assert.match(r.stderr, /2 high or critical advisory\(ies\) \(1 critical, 1 high, 1 moderate/);
    // Critical first, then high; moderate ones are not listed as failures.
    const critical = r.stderr.indexOf(
      'CRITICAL  ioredis 5.0.0 - 5.9.2 (direct dependency) — no fix available yet',
    );
    const high = r.stderr.indexOf('HIGH  undici >=7.0.0 <7.30.3 (direct dependency) — fix: undici@7.30.3');
    assert.ok(critical >= 0 && high > critical, r.stderr);
    assert.match(r.stderr, /through: redis-parser/);
    assert.match(
      r.stderr,
      /high: undici forwards the Authorization header across origins on redirect https:\/\/github\.com\/advisories\/GHSA-dddd-eeee-ffff \(affects >=7\.0\.0 <7\.30\.3\)/,
    );
    assert.doesNotMatch(r.stderr, /MODERATE/);
    assert.match(r.stderr, /virtual patch/);
  });

  it('a high count in the metadata fails even when no entry names it', async () => {
    const r = await audit(report({}, { high: 1 }), 1);
    assert.equal(r.code, 1, r.all);
  });

  // Captured from this machine's registry mirror, which does not serve the advisories endpoint.
  const HTTP_405 = {
    message: '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
    method: 'POST',
    uri: 'https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
    headers: { allow: ['GET,HEAD'], 'content-length': ['0'], 'x-fetch-attempts': ['1'] },
    statusCode: 405,
    body: '',
    error: { summary: '', detail: '' },
  };

  it('no advisories endpoint (HTTP 405) is not a pass: a loud notice and exit 3', async () => {
    const r = await audit(HTTP_405, 1);
    assert.equal(r.code, 3, r.all);
    assert.match(r.stderr, /DEPENDENCY AUDIT NOT DONE/);
    assert.match(r.stderr, /audit endpoint answered HTTP 405 \(405 Method Not Allowed/);
    assert.match(r.stderr, /PORTCULLIS_AUDIT_OFFLINE=warn/);
  });

  it('PORTCULLIS_AUDIT_OFFLINE=warn accepts an unaudited run with the same notice (exit 0)', async () => {
    const r = await audit(HTTP_405, 1, { PORTCULLIS_AUDIT_OFFLINE: 'warn' });
    assert.equal(r.code, 0, r.all);
    assert.match(r.stderr, /DEPENDENCY AUDIT NOT DONE/);
    assert.match(r.stderr, /exiting 0 anyway/);
  });

  it('an unreachable registry (captured ECONNREFUSED answer) is exit 3, credentials in the URL masked', async () => {
    const r = await audit(
      {
        message:
          'request to http://ci:s3cret@127.0.0.1:9/-/npm/v1/security/advisories/bulk failed, reason: connect ECONNREFUSED 127.0.0.1:9',
        error: { summary: '', detail: '' },
      },
      1,
    );
    assert.equal(r.code, 3, r.all);
    assert.match(r.stderr, /reason: connect ECONNREFUSED/);
    assert.doesNotMatch(r.all, /s3cret/);
    assert.match(r.stderr, /http:\/\/\*\*\*@127\.0\.0\.1:9/);
  });

  it('ENOAUDIT (a registry that says it cannot audit) is exit 3', async () => {
    const r = await audit(
      {
        error: {
          code: 'ENOAUDIT',
          summary: 'Your configured registry does not support audit requests.',
          detail: '',
        },
      },
      1,
    );
    assert.equal(r.code, 3, r.all);
    assert.match(r.stderr, /ENOAUDIT: Your configured registry does not support audit requests\./);
  });

  it('an audit that could not run (captured ENOLOCK) is exit 2 whatever PORTCULLIS_AUDIT_OFFLINE says', async () => {
    const enolock = {
      error: {
        code: 'ENOLOCK',
        summary: 'This command requires an existing lockfile.',
        detail: 'Try creating one first with: npm i --package-lock-only',
      },
    };
    const r = await audit(enolock, 1, { PORTCULLIS_AUDIT_OFFLINE: 'warn' });
    assert.equal(r.code, 2, r.all);
    assert.match(
      r.stderr,
      /npm audit did not run: npm audit failed with ENOLOCK: This command requires an existing lockfile\./,
    );
  });

  it('output that is not JSON, or a clean report with a failing exit, is exit 2, never a pass', async () => {
    const garbage = await audit('npm ERR! something else went wrong\n', 1);
    assert.equal(garbage.code, 2, garbage.all);
    assert.match(garbage.stderr, /printed no JSON report/);
    const contradiction = await audit(report({}, {}), 1);
    assert.equal(contradiction.code, 2, contradiction.all);
    assert.match(contradiction.stderr, /exited 1 with a clean report/);
  });
});

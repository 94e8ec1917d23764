import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI, run } from './process.js';

const FIXTURES = 'test/fixtures/policy';
const NO_STACK = /\n\s+at .+:\d+:\d+/;

describe('portcullis policy test', () => {
  it('runs every case of a config-based file: BOLA, tenant, time of day and rbac, exit 0', async () => {
    const r = await run([CLI, 'policy', 'test', `${FIXTURES}/orders.policy-test.yaml`]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.filter((l) => l.startsWith('ok    ')).length, 10);
    assert.match(r.stdout, /alice cannot read bob's order \(BOLA\): deny \(policy:own-orders\)/);
    assert.match(r.stdout, /other tenant is hidden: not-found \(policy:tenant-isolation\)/);
    assert.match(r.stdout, /own tenant at night: deny \(policy:office-hours\)/);
    assert.match(r.stdout, /a viewer cannot export: deny \(rbac:require\.permissions\)/);
    assert.match(r.stdout, /\n10 passed, 0 failed\n$/);
  });

  it('inline policy settings need no config file', async () => {
    const r = await run([CLI, 'policy', 'test', `${FIXTURES}/inline.policy-test.yaml`]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /3 passed, 0 failed/);
  });

  it('a failing case prints what it got and exits 1', async () => {
    const r = await run([CLI, 'policy', 'test', `${FIXTURES}/failing.policy-test.yaml`]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /FAIL {2}wrong expectation: expected allow, got deny \(policy:own-orders\)/);
    assert.match(r.stdout, /1 passed, 1 failed/);
  });

  it('a bad file, an unknown route or a rule that does not compile exits 2 without a stack', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-policy-'));
    const notYaml = join(dir, 'x.yaml');
    writeFileSync(notYaml, 'cases: [ {');
    const noCases = join(dir, 'y.yaml');
    writeFileSync(noCases, 'policy: { rules: [] }\n');
    const cases: [string, RegExp][] = [
      [`${FIXTURES}/bad-route.policy-test.yaml`, /cases\[0\]\.route: no route with id "user-ordres"/],
      [`${FIXTURES}/bad-rule.policy-test.yaml`, /rule "typo": type error: No such key: subjct/],
      [join(dir, 'missing.yaml'), /cannot read the file/],
      [notYaml, /not valid YAML/],
      [noCases, /cases/],
    ];
    for (const [file, re] of cases) {
      const r = await run([CLI, 'policy', 'test', file]);
      assert.equal(r.code, 2, `${file}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, NO_STACK);
    }
  });
});

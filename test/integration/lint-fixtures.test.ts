import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CONFIG_RULE_LIST } from '../../src/scanner/lint/config.js';
import { runLint } from '../../src/scanner/lint/index.js';
import { SPEC_RULE_LIST } from '../../src/scanner/lint/spec.js';

// Tests run from dist/test/integration; the fixtures live in the source tree.
const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../../test/fixtures/vuln-api/${name}`, import.meta.url));

/** Linted as CI would: none of the fixtures' ${env:…} variables set. */
const lint = (options: { spec?: string; config?: string }) =>
  runLint({
    ...(options.spec === undefined ? {} : { spec: fixture(options.spec) }),
    ...(options.config === undefined ? {} : { config: fixture(options.config) }),
    env: {},
  });

describe('portcullis lint on the vulnerable demo API and its fixed twin', () => {
  it('openapi.yaml: every lint-spec rule fires, each finding located in the file', async () => {
    const { findings } = await lint({ spec: 'openapi.yaml' });
    const fired = new Set(findings.map((f) => f.rule.id));
    for (const rule of SPEC_RULE_LIST) assert.ok(fired.has(rule.id), `${rule.id} did not fire`);
    for (const f of findings) {
      assert.match(f.location?.file ?? '', /vuln-api\/openapi\.yaml$/);
      assert.ok((f.location?.line ?? 0) > 0, `${f.id} has no line`);
    }
  });

  it('openapi-fixed.yaml: no findings', async () => {
    const { findings } = await lint({ spec: 'openapi-fixed.yaml' });
    assert.deepEqual(
      findings.map((f) => f.id),
      [],
    );
  });

  it('portcullis-vulnerable.yaml: every lint-config rule fires, and no secret is printed', async () => {
    const { findings, notes } = await lint({ config: 'portcullis-vulnerable.yaml' });
    const fired = new Set(findings.map((f) => f.rule.id));
    for (const rule of CONFIG_RULE_LIST) assert.ok(fired.has(rule.id), `${rule.id} did not fire`);
    for (const f of findings) assert.ok((f.location?.line ?? 0) > 0, `${f.id} has no line`);
    const weak = findings.find((f) => f.id === 'lint-config-weak-secret:plugins.jwt.issuers[0].secret');
    assert.equal(
      weak?.message,
      'jwt issuer https://vuln-api.test secret is in the dictionary of common secrets',
    );
    // The gateway itself refuses this config; lint says so and still reads all of it.
    assert.match(notes.join('\n'), /the gateway would refuse this config/);
  });

  it('portcullis-hardened.yaml: only the sign-in route is anonymous (documented, unavoidable)', async () => {
    const both = await runLint({
      spec: fixture('openapi-fixed.yaml'),
      config: fixture('portcullis-hardened.yaml'),
      env: {},
    });
    assert.deepEqual(
      both.findings.map((f) => f.id),
      ['lint-config-no-auth:routes[login]'],
    );
    // Its secrets come from the environment, which is not set here: said, not guessed.
    assert.match(both.notes.join('\n'), /VULN_API_JWT_SECRET/);
  });
});

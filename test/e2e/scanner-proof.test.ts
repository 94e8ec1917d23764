import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { CHECKS } from '../../src/scanner/index.js';
import { runScan } from '../../src/scanner/runner.js';
import type { Identity, ScanResult } from '../../src/scanner/types.js';
import { startVulnApi, type VulnApi } from '../fixtures/vuln-api/server.js';
import { startGateway, TEST_AUDIT_PATH, type TestGateway } from '../helpers.js';

/**
 * The proof: the scanner finds every planted vulnerability in the deliberately vulnerable
 * demo API, none in its fixed twin, and behind Portcullis with the hardened config most of them
 * disappear (the rest are what a gateway cannot change, listed in the config's header).
 */

const DIR = fileURLToPath(new URL('../../../test/fixtures/vuln-api/', import.meta.url));
const SPEC = join(DIR, 'openapi.yaml');
const SPEC_FIXED = join(DIR, 'openapi-fixed.yaml');

const bearer = (name: string, token: string): Identity => ({
  name,
  header: 'authorization',
  value: `Bearer ${token}`,
});

const ruleIds = (r: ScanResult): Set<string> => new Set(r.findings.map((f) => f.rule.id));
const ALL_RULES = CHECKS.flatMap((c) => c.rules.map((r) => r.id));

/** Findings a gateway cannot remove (they come from the API's answers it must pass, or the description). */
const BEYOND_A_GATEWAY = new Set([
  'api2-user-enumeration',
  'api2-credentials-in-url',
  'api8-plain-http',
  'api9-spec-mismatch',
]);

describe('scanner proof: the vulnerable demo API and its fixed twin', () => {
  let vuln: VulnApi;
  let fixed: VulnApi;
  let vulnScan: ScanResult;
  let vulnTls: ScanResult;

  before(async () => {
    vuln = await startVulnApi({ fixed: false, https: true });
    fixed = await startVulnApi({ fixed: true, https: true });
  });
  after(async () => {
    await vuln.close();
    await fixed.close();
  });

  it('finds every planted vulnerability in the vulnerable API', async () => {
    vulnScan = await runScan({
      specFile: SPEC,
      target: vuln.url,
      auth: bearer('alice', vuln.tokens.alice),
      authSecond: bearer('bob', vuln.tokens.bob),
    });
    // Weak TLS versions can only show over TLS.
    vulnTls = await runScan({
      specFile: SPEC,
      target: vuln.httpsUrl as string,
      insecure: true,
      checks: ['api8-config'],
      auth: bearer('alice', vuln.tokens.alice),
    });
    const found = new Set([...ruleIds(vulnScan), ...ruleIds(vulnTls)]);
    const missed = ALL_RULES.filter((id) => !found.has(id));
    assert.deepEqual(missed, [], `rules not found: ${missed.join(', ')}`);
    assert.ok(vulnScan.requestsSent <= vulnScan.budget);
    // Every finding carries the parts a reader needs, and no credential.
    for (const f of vulnScan.findings) {
      assert.ok(f.rule.why && f.rule.fix && f.rule.portcullis, f.id);
      assert.ok(f.id.startsWith(`${f.rule.id}:`), f.id);
      const text = JSON.stringify(f.evidence);
      assert.ok(
        !text.includes(vuln.tokens.alice) && !text.includes(vuln.tokens.bob),
        `credential in ${f.id}`,
      );
    }
  });

  it('reports nothing on the fixed twin', async () => {
    const scan = await runScan({
      specFile: SPEC_FIXED,
      target: fixed.url,
      auth: bearer('alice', fixed.tokens.alice),
      authSecond: bearer('bob', fixed.tokens.bob),
    });
    const tls = await runScan({
      specFile: SPEC_FIXED,
      target: fixed.httpsUrl as string,
      insecure: true,
      checks: ['api8-config'],
      auth: bearer('alice', fixed.tokens.alice),
    });
    assert.deepEqual(
      [...scan.findings, ...tls.findings].map((f) => f.id),
      [],
    );
    assert.ok(scan.requestsSent > 50, 'the fixed twin was really scanned');
  });

  describe('behind Portcullis with the hardened config', () => {
    const secret = randomBytes(48).toString('base64');
    let api: VulnApi;
    let gw: TestGateway;

    before(async () => {
      api = await startVulnApi({ fixed: false, jwtSecret: secret });
      const config = parse(readFileSync(join(DIR, 'portcullis-hardened.yaml'), 'utf8')) as Record<
        string,
        unknown
      >;
      const versioning = config.versioning as Record<string, unknown>;
      gw = await startGateway(
        {
          ...config,
          observability: { audit: { path: TEST_AUDIT_PATH } },
          versioning: {
            ...versioning,
            usage: { path: join(mkdtempSync(join(tmpdir(), 'portcullis-proof-')), 'usage.db') },
          },
        },
        { VULN_API_URL: api.url, VULN_API_JWT_SECRET: secret },
      );
    });
    after(async () => {
      await gw.close();
      await api.close();
    });

    it('only what a gateway cannot change is still found; the rest disappears', async () => {
      const behind = await runScan({
        specFile: SPEC,
        target: gw.url,
        auth: bearer('alice', api.tokens.alice),
        authSecond: bearer('bob', api.tokens.bob),
      });
      const remaining = ruleIds(behind);
      const gone = [...ruleIds(vulnScan)].filter((id) => !remaining.has(id)).sort();
      process.stdout.write(
        `# behind Portcullis: ${gone.length} of ${ruleIds(vulnScan).size} rules no longer found; still found: ${[...remaining].sort().join(', ')}\n`,
      );
      const unexpected = [...remaining].filter((id) => !BEYOND_A_GATEWAY.has(id));
      assert.deepEqual(unexpected, [], `the hardened gateway should have removed: ${unexpected.join(', ')}`);
      // The headline ones, by name.
      for (const id of [
        'api1-bola-read',
        'api1-bola-write',
        'api1-bola-delete',
        'api2-jwt-alg-none',
        'api2-jwt-forged',
        'api2-no-auth',
        'api3-mass-assignment',
        'api4-no-rate-limit',
        'api7-ssrf',
        'inj-sql-error',
        'inj-path-traversal',
        'api8-version-banner',
        'api9-undocumented-endpoint',
      ])
        assert.ok(gone.includes(id), `${id} still found behind the gateway`);
    });
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CHECKED_RULES,
  DRY_RUN,
  LINT_RESULT,
  RESULT,
  SPEC_TEXT,
} from '../../../test/fixtures/scan-result.js';
import { SARIF_SCHEMA, validateSarif } from '../../../test/sarif.js';
import { renderReport } from './index.js';
import { artifactUri, keyPathLine, operationLine } from './sarif.js';

const schema = SARIF_SCHEMA;
const validate = validateSarif;

interface SarifRule {
  id: string;
  name: string;
  shortDescription: { text: string };
  fullDescription: { text: string };
  help: { text: string; markdown: string };
  defaultConfiguration: { level: string };
  properties: { tags: string[]; 'security-severity': string };
}

interface SarifLocation {
  physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } };
  logicalLocations: { fullyQualifiedName: string; kind: string }[];
}

interface SarifResult {
  ruleId: string;
  ruleIndex: number;
  level: string;
  message: { text: string };
  locations: SarifLocation[];
  partialFingerprints: Record<string, string>;
  properties: { where: string };
}

interface Sarif {
  $schema: string;
  version: string;
  runs: {
    tool: { driver: { name: string; version: string; informationUri: string; rules: SarifRule[] } };
    results: SarifResult[];
    invocations: { toolExecutionNotifications: { message: { text: string } }[] }[];
    automationDetails: { id: string };
  }[];
}

function resultOf(doc: Sarif, ruleId: string): SarifResult {
  const found = doc.runs[0]?.results.find((r) => r.ruleId === ruleId);
  assert.ok(found, ruleId);
  return found;
}

function sarifOf(result = RESULT, opts = {}): Sarif {
  const text = renderReport('sarif', result, { version: '9.9.9', cwd: '/repo', ...opts });
  const doc = JSON.parse(text) as Sarif;
  const valid = validate(doc);
  assert.ok(valid, JSON.stringify(validate.errors, null, 2));
  return doc;
}

describe('sarif reporter', () => {
  it('the schema under test is the SARIF 2.1.0 one, draft-04', () => {
    assert.equal(schema.$schema, 'http://json-schema.org/draft-04/schema#');
    assert.match(String(schema.title), /SARIF\) Version 2\.1\.0/);
  });

  it('the validator refuses what is not SARIF 2.1.0', () => {
    const good = JSON.parse(renderReport('sarif', RESULT, { version: '1' })) as Sarif;
    assert.equal(validate({ ...good, version: '2.0.0' }), false);
    const run = good.runs[0];
    assert.ok(run);
    const noMessage = { ...good, runs: [{ ...run, results: [{ ruleId: 'x', level: 'fatal' }] }] };
    assert.equal(validate(noMessage), false);
  });

  it('is valid SARIF 2.1.0 for a scan, a lint, a dry run and an empty result', () => {
    const doc = sarifOf(RESULT, { rules: CHECKED_RULES, specText: SPEC_TEXT });
    assert.equal(doc.version, '2.1.0');
    assert.match(doc.$schema, /sarif-schema-2\.1\.0\.json$/);
    assert.equal(doc.runs.length, 1);
    sarifOf(LINT_RESULT);
    sarifOf(DRY_RUN);
    sarifOf({ ...RESULT, findings: [], notes: [], startedAt: '', finishedAt: '' });
  });

  it('describes every rule for GitHub: name, descriptions, help, tags, security-severity, level', () => {
    const [run] = sarifOf(RESULT, { rules: CHECKED_RULES }).runs;
    assert.ok(run);
    const { driver } = run.tool;
    assert.equal(driver.name, 'Portcullis');
    assert.equal(driver.version, '9.9.9');
    assert.match(driver.informationUri, /^https:\/\//);
    // Checked rules without a finding are listed too (api8-cors), sorted by id.
    assert.deepEqual(
      driver.rules.map((r) => r.id),
      [
        'api1-bola-read',
        'api2-jwt-alg-none',
        'api8-cors',
        'api8-security-headers',
        'inj-sql-error',
        'lint-spec-string-unbounded',
      ],
    );
    const bola = driver.rules[0];
    assert.ok(bola);
    assert.equal(bola.name, 'Api1BolaRead');
    assert.equal(bola.shortDescription.text, "Another user's object can be read");
    assert.match(bola.fullDescription.text, /belong to someone else/);
    assert.match(bola.help.text, /How to fix it: Check on every request/);
    assert.match(bola.help.markdown, /```yaml\nplugins:\n {2}authorization:/);
    assert.deepEqual(bola.properties.tags.slice(0, 3), [
      'security',
      'API1:2023 Broken Object Level Authorization',
      'API1',
    ]);
    assert.equal(bola.properties['security-severity'], '8.0');
    assert.equal(bola.defaultConfiguration.level, 'error');
    const severity = Object.fromEntries(
      driver.rules.map((r) => [r.id, [r.properties['security-severity'], r.defaultConfiguration.level]]),
    );
    assert.deepEqual(severity['api2-jwt-alg-none'], ['9.5', 'error']);
    assert.deepEqual(severity['api8-cors'], ['5.5', 'warning']);
    assert.deepEqual(severity['api8-security-headers'], ['3.0', 'note']);
  });

  it('gives each result its rule, level, message, fingerprint and a location GitHub accepts', () => {
    const doc = sarifOf(RESULT, { rules: CHECKED_RULES, specText: SPEC_TEXT });
    const [run] = doc.runs;
    assert.ok(run);
    assert.equal(run.results.length, 5);
    for (const r of run.results) {
      assert.equal(run.tool.driver.rules[r.ruleIndex]?.id, r.ruleId);
      assert.equal(r.partialFingerprints['portcullisFindingId/v1'], `${r.ruleId}:${r.properties.where}`);
      assert.equal(r.locations.length, 1);
      assert.ok(r.locations[0].physicalLocation.region.startLine >= 1);
    }
    const bola = resultOf(doc, 'api1-bola-read');
    assert.equal(bola.level, 'error');
    assert.match(bola.message.text, /^GET \/users\/\{id\}: B read A's object/);
    // A scan finding: the spec file, at the line of "get:" under "/users/{id}:".
    assert.deepEqual(bola.locations[0].physicalLocation, {
      artifactLocation: { uri: 'openapi.yaml' },
      region: { startLine: 12 },
    });
    assert.deepEqual(bola.locations[0].logicalLocations, [
      { fullyQualifiedName: 'GET /users/{id}', kind: 'resource' },
    ]);
    const headers = resultOf(doc, 'api8-security-headers');
    assert.equal(headers.level, 'note');
    // A lint finding: its own file and line.
    const lint = resultOf(doc, 'lint-spec-string-unbounded');
    assert.deepEqual(lint.locations[0].physicalLocation, {
      artifactLocation: { uri: 'openapi.yaml' },
      region: { startLine: 21 },
    });
  });

  it('puts scan findings on line 1 of the spec when their path is not found', () => {
    const sql = resultOf(sarifOf(RESULT), 'inj-sql-error');
    assert.equal(sql.locations[0]?.physicalLocation.region.startLine, 1);
  });

  it('carries the notes as tool notifications and tells scan from lint runs apart', () => {
    const [run] = sarifOf(RESULT).runs;
    assert.equal(run?.automationDetails.id, 'portcullis/scan/');
    assert.equal(
      run?.invocations[0]?.toolExecutionNotifications[0].message.text.startsWith('no --auth-second'),
      true,
    );
    assert.equal(sarifOf(LINT_RESULT).runs[0]?.automationDetails.id, 'portcullis/lint/');
  });

  it('makes artifact URIs relative to the working directory, file:// outside it', () => {
    assert.equal(artifactUri('api/open api.yaml', '/repo'), 'api/open%20api.yaml');
    assert.equal(artifactUri('/repo/specs/a.yaml', '/repo'), 'specs/a.yaml');
    assert.equal(artifactUri('/elsewhere/a.yaml', '/repo'), 'file:///elsewhere/a.yaml');
  });

  it('finds the line of a dotted spec location', () => {
    const spec = `openapi: 3.0.3
servers:
  - url: http://api.example
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer }
    apiKey: { type: apiKey, in: query, name: api_key }
`;
    assert.equal(keyPathLine(spec, 'servers[0]'), 2);
    assert.equal(keyPathLine(spec, 'components.securitySchemes.apiKey'), 7);
    assert.equal(keyPathLine(spec, 'components.securitySchemes.other'), undefined);
    assert.equal(keyPathLine(spec, 'Authorization (main identity)'), undefined);
    assert.equal(keyPathLine(spec, 'GET /v2/users'), undefined);
    assert.equal(keyPathLine(spec, 'servers'), undefined);
  });

  it('finds the line of an operation in YAML and pretty JSON specs', () => {
    assert.equal(operationLine(SPEC_TEXT, 'GET /users'), 5);
    assert.equal(operationLine(SPEC_TEXT, 'PUT /users/{id}'), 10);
    assert.equal(operationLine(SPEC_TEXT, 'DELETE /users/{id}'), 7);
    assert.equal(operationLine(SPEC_TEXT, '/orders'), 14);
    assert.equal(operationLine(SPEC_TEXT, 'GET /nope'), undefined);
    assert.equal(operationLine(SPEC_TEXT, 'paths./orders.post'), undefined);
    const json = JSON.stringify({ paths: { '/a': { post: {} }, '/b': { get: {} } } }, null, 2);
    assert.equal(operationLine(json, 'GET /b'), 7);
    assert.equal(operationLine(json, 'GET /a'), 3);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DRY_RUN, LINT_RESULT, RESULT } from '../../../test/fixtures/scan-result.js';
import { renderReport } from './index.js';

describe('text reporter', () => {
  const out = renderReport('text', RESULT, { version: '9.9.9' });

  it('opens with the tool, the target and a count per severity', () => {
    assert.match(out, /^Portcullis scan 9\.9\.9\n/);
    assert.match(out, /target: http:\/\/127\.0\.0\.1:8080\//);
    assert.match(out, /Summary: 2 critical, 1 high, 0 medium, 2 low, 0 info \(5 finding\(s\)\)/);
  });

  it('groups findings by category in OWASP order, most severe first inside a group', () => {
    const api1 = out.indexOf('== API1:2023 Broken Object Level Authorization (1)');
    const api2 = out.indexOf('== API2:2023 Broken Authentication (1)');
    const api4 = out.indexOf('== API4:2023 Unrestricted Resource Consumption (1)');
    const api8 = out.indexOf('== API8:2023 Security Misconfiguration (1)');
    const inj = out.indexOf('== A03:2021 Injection (1)');
    assert.ok(api1 > 0 && api1 < api2 && api2 < api4 && api4 < api8 && api8 < inj, out);
  });

  it('shows each finding with its id, severity, place, message, why, fix, config and evidence', () => {
    assert.match(out, /\[HIGH\] api1-bola-read {2}GET \/users\/\{id\}\n {2}B read A's object/);
    assert.match(out, /why: A caller reads objects that belong to someone else/);
    assert.match(out, /fix: Check on every request that the object belongs/);
    assert.match(out, /portcullis:\n {4}plugins:\n {6}authorization:/);
    assert.match(
      out,
      /evidence:\n {4}GET \/users\/1 → 200 {2}\(200 for B on A's object <b>\)\n {6}\| \{"id":1/,
    );
    assert.match(out, /GET \/users\/1 → no answer/);
    assert.match(out, /at: openapi\.yaml:21/);
    assert.match(out, /id: api1-bola-read:GET \/users\/\{id\}/);
  });

  it('lists the notes and the requests used of the budget', () => {
    assert.match(out, /Notes:\n {2}- no --auth-second/);
    assert.match(out, /Requests sent: 123 of a budget of 2000\./);
  });

  it('never writes a control character from the API to the terminal', () => {
    const controls = Array.from(out).filter((ch) => {
      const c = ch.codePointAt(0) ?? 0;
      return (c < 0x20 && ch !== '\n' && ch !== '\t') || c === 0x7f;
    });
    assert.deepEqual(controls, []);
    assert.match(out, /\\x1b\[31m/);
  });

  it('lists the planned requests of a dry run', () => {
    const dry = renderReport('text', DRY_RUN, { version: '1' });
    assert.match(dry, /Dry run: 2 request\(s\) planned, none sent\./);
    assert.match(dry, /GET {5}\/users\/1 {2}— API2: no credentials/);
    assert.match(dry, /DELETE {2}\/users\/2 {2}— BOLA: B deletes A's object/);
    assert.match(dry, /Summary: 0 critical/);
  });

  it('titles a lint result as lint, without target or requests', () => {
    const lint = renderReport('text', LINT_RESULT, { version: '1' });
    assert.match(lint, /^Portcullis lint 1\n/);
    assert.doesNotMatch(lint, /target:|Requests sent/);
  });
});

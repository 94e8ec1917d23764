import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DRY_RUN, RESULT } from '../../../test/fixtures/scan-result.js';
import { renderReport } from './index.js';

describe('json reporter', () => {
  it('writes the result with the tool version, in a fixed field order', () => {
    const out = renderReport('json', RESULT, { version: '9.9.9' });
    const doc = JSON.parse(out) as Record<string, unknown>;
    assert.deepEqual(Object.keys(doc), [
      'tool',
      'kind',
      'target',
      'spec',
      'startedAt',
      'finishedAt',
      'requestsSent',
      'requestsAnswered',
      'budget',
      'checks',
      'summary',
      'findings',
      'notes',
    ]);
    assert.deepEqual(doc.tool, { name: 'Portcullis', version: '9.9.9' });
    assert.equal(doc.kind, 'scan');
    assert.deepEqual(doc.summary, { info: 0, low: 2, medium: 0, high: 1, critical: 2 });
    const findings = doc.findings as Record<string, unknown>[];
    assert.deepEqual(
      findings.map((f) => f.id),
      [
        'api2-jwt-alg-none:GET /users/{id}',
        'inj-sql-error:POST /orders',
        'api1-bola-read:GET /users/{id}',
        'api8-security-headers:GET /users/{id}',
        'lint-spec-string-unbounded:paths./orders.post.requestBody.item',
      ],
    );
    const first = findings[2] as Record<string, unknown>;
    assert.deepEqual(Object.keys(first), [
      'id',
      'ruleId',
      'category',
      'severity',
      'where',
      'message',
      'evidence',
      'rule',
    ]);
    assert.deepEqual(Object.keys(first.rule as object), [
      'id',
      'category',
      'severity',
      'title',
      'why',
      'fix',
      'portcullis',
    ]);
    const lint = findings[4] as Record<string, unknown>;
    assert.deepEqual(lint.location, { file: 'openapi.yaml', line: 21 });
  });

  it('gives the same bytes for the same result, whatever order the findings came in', () => {
    const reversed = { ...RESULT, findings: [...RESULT.findings].reverse() };
    assert.equal(
      renderReport('json', RESULT, { version: '1' }),
      renderReport('json', reversed, { version: '1' }),
    );
  });

  it('carries the planned requests of a dry run', () => {
    const doc = JSON.parse(renderReport('json', DRY_RUN, { version: '1' })) as {
      planned: unknown[];
      requestsSent: number;
    };
    assert.equal(doc.requestsSent, 0);
    assert.deepEqual(doc.planned[0], { method: 'GET', path: '/users/1', purpose: 'API2: no credentials' });
  });
});

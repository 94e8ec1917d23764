import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ERRORS, type ErrorCode, GatewayError } from './errors.js';
import { withErrorTable } from './errors-doc.js';
import { problemBody, rawProblemResponse } from './problem.js';

describe('error registry', () => {
  it('docs/errors.md lists exactly the registry (run `npm run docs:errors` after a change)', () => {
    const page = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    assert.equal(page, withErrorTable(page));
    for (const code of Object.keys(ERRORS)) assert.ok(page.includes(`| \`${code}\` |`), code);
  });

  it('every code has a client or server error status, a title and doc text', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      assert.ok(spec.status >= 400 && spec.status < 600, code);
      assert.match(code, /^[A-Z][A-Z0-9_]+$/);
      assert.ok(spec.title.length > 0 && spec.meaning.length > 0 && spec.fix.length > 0, code);
    }
  });

  it('renders RFC 9457 bodies with type, title, status, code and request id only', () => {
    const body = problemBody(
      new GatewayError('ROUTE_NOT_FOUND', { cause: new Error('secret internal detail') }),
      'req-1',
    );
    assert.deepEqual(body, {
      type: 'urn:portcullis:error:route-not-found',
      title: 'No route matches this request',
      status: 404,
      code: 'ROUTE_NOT_FOUND',
      requestId: 'req-1',
    });
    assert.ok(!JSON.stringify(body).includes('secret'));
  });

  it('renders a complete raw response for parser-level errors', () => {
    const raw = rawProblemResponse('HEADERS_TOO_LARGE' satisfies ErrorCode, 'r');
    assert.match(raw, /^HTTP\/1\.1 431 /);
    assert.match(raw, /\r\nContent-Type: application\/problem\+json\r\n/);
    assert.match(raw, /\r\nConnection: close\r\n/);
    const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
    assert.equal(JSON.parse(body).code, 'HEADERS_TOO_LARGE');
    assert.match(raw, new RegExp(`Content-Length: ${Buffer.byteLength(body)}\r\n`));
  });
});

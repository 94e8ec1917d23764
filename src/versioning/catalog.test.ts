import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import fc from 'fast-check';
import { GatewayError } from '../core/errors.js';
import { VersionCatalog, type VersionRequest, versionKey } from './catalog.js';
import { VersioningSchema } from './schema.js';

function catalog(extra: Record<string, unknown> = {}): VersionCatalog {
  const config = Value.Default(VersioningSchema, {
    versions: [
      { name: 'v1', status: 'deprecated', deprecatedAt: '2026-01-01' },
      { name: 'v2' },
      { name: '2024-10-01' },
    ],
    ...extra,
  }) as never;
  return new VersionCatalog(config);
}

/** The fields select() reads, on a plain object. */
function request(path: string, query = '', headers: Record<string, string> = {}): VersionRequest {
  return { path, query, req: { headers }, apiVersion: undefined };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof GatewayError, String(err));
    return err.code;
  }
}

const PLACE = '(path|header|Accept media type|query)';
const DETAILS = new RegExp(
  `^(Supported versions: v1, v2, 2024-10-01\\.|The ${PLACE} and the ${PLACE} name different API versions\\.)$`,
);

describe('versionKey', () => {
  it('folds case and an optional leading v before a digit', () => {
    assert.equal(versionKey('v2'), '2');
    assert.equal(versionKey('V2'), '2');
    assert.equal(versionKey(' 2 '), '2');
    assert.equal(versionKey('v2.1'), '2.1');
    assert.equal(versionKey('v'), 'v');
    assert.equal(versionKey('vNext'), 'vnext');
    assert.equal(versionKey('2024-10-01'), '2024-10-01');
  });
});

describe('VersionCatalog.select', () => {
  const c = catalog();

  it('reads each selector', () => {
    assert.equal(c.select(request('/v1/orders'))?.name, 'v1');
    assert.equal(c.select(request('/orders', '', { 'api-version': '2' }))?.name, 'v2');
    assert.equal(c.select(request('/orders', 'x=1&api-version=2024-10-01'))?.name, '2024-10-01');
    assert.equal(
      c.select(request('/orders', '', { accept: 'text/plain, application/json ; Version = "1"' }))?.name,
      'v1',
    );
    assert.equal(c.select(request('/orders'))?.name, '2024-10-01', 'latest active is the last declared');
  });

  it('ignores parameters that only look alike', () => {
    assert.equal(c.select(request('/orders', 'xapi-version=1&api-versions=1'))?.name, '2024-10-01');
    assert.equal(
      c.select(request('/orders', '', { accept: 'application/json; subversion=1' }))?.name,
      '2024-10-01',
    );
    assert.equal(c.select(request('/orders/v1'))?.name, '2024-10-01', 'only the first segment counts');
  });

  it('refuses unknown, conflicting and malformed names', () => {
    assert.equal(
      codeOf(() => c.select(request('/v3/x'))),
      'UNKNOWN_API_VERSION',
    );
    assert.equal(
      codeOf(() => c.select(request('/x', 'api-version=%E0%A4%A'))),
      'UNKNOWN_API_VERSION',
    );
    assert.equal(
      codeOf(() => c.select(request('/x', 'api-version='))),
      'UNKNOWN_API_VERSION',
    );
    assert.equal(
      codeOf(() => c.select(request('/v1/x', 'api-version=2'))),
      'API_VERSION_CONFLICT',
    );
    assert.equal(
      codeOf(() => c.select(request('/v1/x', 'api-version=V1'))),
      undefined,
    );
  });

  it('only the selectors configured are read', () => {
    const headerOnly = catalog({ selectors: ['header'], default: 'none' });
    assert.equal(headerOnly.select(request('/v7/x', 'api-version=9')), undefined);
    assert.equal(headerOnly.select(request('/x', '', { 'api-version': 'v2' }))?.name, 'v2');
  });

  it('never throws anything but a GatewayError, whatever the request carries', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (path, query, header, accept) => {
        try {
          c.select(request(`/${path}`, query, { 'api-version': header, accept }));
        } catch (err) {
          assert.ok(err instanceof GatewayError);
          // The client's value is never part of the answer: only these fixed details exist.
          assert.match(String(err.detail), DETAILS);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

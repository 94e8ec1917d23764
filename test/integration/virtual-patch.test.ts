import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfigObject } from '../../src/config/load.js';
import { createDefaultRegistry } from '../../src/plugins/index.js';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  type TestGateway,
  type TestUpstream,
  waitForLog,
} from '../helpers.js';

const FUTURE = '2999-12-31';

function patched(url: string, patches: unknown[]): Record<string, unknown> {
  return baseConfig(url, { plugins: { 'virtual-patch': { patches } } });
}

describe('virtual patches', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway(
      patched(upstream.url, [
        {
          id: 'sort-allow-list',
          reason: 'items search passes sort into SQL (ticket 123)',
          expires: FUTURE,
          methods: ['GET'],
          path: '/items',
          location: 'query',
          name: 'sort',
          operator: 'pattern',
          value: '^[a-z_]{1,32}$',
          negate: true,
        },
        {
          id: 'no-debug-header',
          reason: 'the framework honours X-Debug',
          expires: FUTURE,
          location: 'header',
          name: 'x-debug',
          operator: 'exists',
        },
        {
          id: 'encoded-script',
          reason: 'stored XSS in item names',
          expires: FUTURE,
          location: 'body',
          name: 'name',
          operator: 'contains',
          value: '<script',
          transforms: ['url-decode', 'html-decode', 'lowercase'],
        },
        {
          id: 'watch-long-ids',
          reason: 'measure before blocking',
          expires: FUTURE,
          location: 'path',
          operator: 'length-gt',
          value: '40',
          action: 'log',
        },
        {
          id: 'old-patch',
          reason: 'expired long ago',
          expires: '2020-01-01',
          location: 'any',
          operator: 'exists',
        },
      ]),
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });
  beforeEach(() => {
    upstream.calls.length = 0;
  });

  async function blocked(path: string, init: RequestInit, patch: string): Promise<void> {
    upstream.calls.length = 0;
    const res = await fetch(gw.url + path, init);
    const p = problemOf(res.headers.get('content-type'), await res.text()) as {
      code: string;
      detail?: string;
    };
    assert.equal(res.status, 403);
    assert.equal(p.code, 'VIRTUAL_PATCH');
    assert.equal(p.detail, `Patch ${patch}.`);
    assert.equal(upstream.calls.length, 0);
  }

  it('an allow-list patch (negated pattern) refuses anything else, only on its route and method', async () => {
    assert.equal((await fetch(`${gw.url}/items?sort=created_at`)).status, 200);
    await blocked('/items?sort=name%3Bdrop%20table', {}, 'sort-allow-list');
    assert.equal(
      (
        await fetch(`${gw.url}/items`, {
          method: 'POST',
          body: 'x',
          headers: { 'content-type': 'text/plain' },
        })
      ).status,
      200,
    );
    assert.equal((await fetch(`${gw.url}/items/1?sort=a;b`)).status, 200, 'another path is not patched');
  });

  it('exists, and contains after transforms (double encoding, entities, case)', async () => {
    await blocked('/items', { headers: { 'x-debug': '1' } }, 'no-debug-header');
    await blocked(
      '/items',
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'name=%253CScRiPt%253Ealert(1)',
      },
      'encoded-script',
    );
    await blocked(
      '/items',
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'name=%26lt%3Bscript%26gt%3B',
      },
      'encoded-script',
    );
  });

  it('a request padded with more values than a patch reads is refused, not waved through', async () => {
    upstream.calls.length = 0;
    const body = `${Array.from({ length: 5000 }, (_, i) => `f${i}=x`).join('&')}&name=%3Cscript%3E`;
    const res = await fetch(`${gw.url}/items`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    const p = problemOf(res.headers.get('content-type'), await res.text());
    assert.equal(res.status, 400);
    assert.equal(p.code, 'BAD_REQUEST');
    assert.equal(upstream.calls.length, 0);
  });

  it('a log patch records and lets the request through; an expired patch no longer applies', async () => {
    const res = await fetch(`${gw.url}/items/${'x'.repeat(50)}`);
    assert.equal(res.status, 200);
    await waitForLog(gw, (l) => l.msg === 'virtual patch matched' && l.patch === 'watch-long-ids');
    assert.ok(
      gw.logs.some((l) => l.msg?.toString().startsWith('virtual patch expired') && l.patch === 'old-patch'),
    );
  });

  it('patches apply by reload, without a restart', async () => {
    const registry = createDefaultRegistry();
    const next = loadConfigObject(
      patched(upstream.url, [
        {
          id: 'block-everything-post',
          reason: 'incident',
          expires: FUTURE,
          methods: ['POST'],
          location: 'method',
          operator: 'equals',
          value: 'POST',
        },
      ]),
      { registry },
    );
    await gw.gateway.reload(next);
    await blocked(
      '/items',
      { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } },
      'block-everything-post',
    );
    assert.equal((await fetch(`${gw.url}/items?sort=a;b`)).status, 200, 'the old patches are gone');
  });

  it('unsafe patterns, a cidr outside client-ip and duplicate ids are refused at start-up', async () => {
    const base = { reason: 'r', expires: FUTURE };
    for (const patches of [
      [{ ...base, id: 'a', location: 'query', operator: 'pattern', value: '^(a+)+$' }],
      [{ ...base, id: 'b', location: 'query', operator: 'cidr', value: '10.0.0.0/8' }],
      [
        { ...base, id: 'c', location: 'query', operator: 'exists' },
        { ...base, id: 'c', location: 'header', operator: 'exists' },
      ],
    ])
      await assert.rejects(startGateway(patched(upstream.url, patches)), ConfigError);
  });
});

import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startUpstream, type TestUpstream, type UpstreamCall } from '../../../test/helpers.js';
import { ruleIds, sendJson, urlOf, writeSpec } from '../../../test/scan-support.js';
import { runScan } from '../runner.js';

const SPEC = `openapi: 3.0.3
info: { title: items, version: "2" }
paths:
  /v2/items:
    get:
      responses: { "200": { description: items } }
  /v2/items/{id}:
    get:
      parameters: [{ name: id, in: path, required: true, schema: { type: integer }, example: 1 }]
      responses: { "200": { description: an item }, "404": { description: no such item } }
  /v2/reports:
    get:
      responses: { "200": { description: reports } }
  /v2/health:
    get:
      responses: { "200": { description: healthy } }
`;

function items(fixed: boolean) {
  return (_req: unknown, res: ServerResponse, call: UpstreamCall) => {
    let { path } = urlOf(call);
    if (!fixed) {
      // Debug endpoints nobody documented, and the old version still routed to the same code.
      if (path === '/debug') return sendJson(res, 200, { uptime: 12, heap: 1024 });
      if (path === '/.env') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('DB_PASSWORD=hunter2\n');
        return;
      }
      if (path.startsWith('/v1/')) path = `/v2/${path.slice(4)}`;
    }
    if (path === '/v2/items') return sendJson(res, 200, [{ id: 1 }]);
    if (path === '/v2/items/1') return sendJson(res, 200, { id: 1 });
    if (/^\/v2\/items\/\d+$/.test(path)) return sendJson(res, 404, { error: 'no such item' });
    // Documented, but the vulnerable build never implemented it, and its health check crashes.
    if (path === '/v2/reports')
      return fixed ? sendJson(res, 200, []) : sendJson(res, 404, { error: 'not found' });
    if (path === '/v2/health')
      return fixed ? sendJson(res, 200, { ok: true }) : sendJson(res, 500, { error: 'boom' });
    return sendJson(res, 404, { error: 'not found' });
  };
}

/** A single-page app server: every unknown path answers 200 with the same page; /metrics is real. */
function catchAll(_req: unknown, res: ServerResponse, call: UpstreamCall) {
  const { path } = urlOf(call);
  if (path === '/metrics') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(
      `# HELP http_requests_total Requests\n# TYPE http_requests_total counter\n${'http_requests_total{code="200"} 1027\n'.repeat(20)}`,
    );
    return;
  }
  if (['/v2/items', '/v2/items/1', '/v2/reports', '/v2/health'].includes(path)) return sendJson(res, 200, []);
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end('<!doctype html><html><body><div id="app"></div><script src="/app.js"></script></body></html>');
}

describe('api9-inventory check', () => {
  let vuln: TestUpstream;
  let fixed: TestUpstream;
  let spa: TestUpstream;
  const spec = writeSpec(SPEC);
  before(async () => {
    vuln = await startUpstream(items(false));
    fixed = await startUpstream(items(true));
    spa = await startUpstream(catchAll);
  });
  after(async () => {
    await vuln.close();
    await fixed.close();
    await spa.close();
  });

  it('finds undocumented endpoints, the old version and the spec mismatches', async () => {
    const result = await runScan({
      specFile: spec,
      target: vuln.url,
      checks: ['api9-inventory'],
      canary: false,
    });
    assert.deepEqual(ruleIds(result), [
      'api9-old-version',
      'api9-spec-mismatch',
      'api9-undocumented-endpoint',
    ]);
    const where = (id: string) =>
      result.findings
        .filter((f) => f.rule.id === id)
        .map((f) => f.where)
        .sort();
    assert.deepEqual(where('api9-undocumented-endpoint'), ['GET /.env', 'GET /debug']);
    assert.deepEqual(where('api9-old-version'), ['GET /v1/items']);
    assert.deepEqual(where('api9-spec-mismatch'), ['GET /v2/health', 'GET /v2/reports']);
    // A 404 for an example id the API does not hold is declared, so not a mismatch.
    assert.ok(!where('api9-spec-mismatch').includes('GET /v2/items/{id}'));
  });

  it('finds nothing in the fixed twin', async () => {
    const result = await runScan({
      specFile: spec,
      target: fixed.url,
      checks: ['api9-inventory'],
      canary: false,
    });
    assert.deepEqual(ruleIds(result), []);
  });

  it('is not fooled by a server that answers 200 to every path', async () => {
    const result = await runScan({
      specFile: spec,
      target: spa.url,
      checks: ['api9-inventory'],
      canary: false,
    });
    assert.deepEqual(
      result.findings.map((f) => f.where),
      ['GET /metrics'],
    );
  });
});

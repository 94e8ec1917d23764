import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startUpstream, type TestUpstream, type UpstreamCall } from '../../../test/helpers.js';
import { bodyOf, ruleIds, sendJson, urlOf, writeSpec } from '../../../test/scan-support.js';
import { runScan } from '../runner.js';

const SPEC = `openapi: 3.0.3
info: { title: fetcher, version: "1" }
paths:
  /fetch:
    get:
      parameters:
        - name: url
          in: query
          required: true
          schema: { type: string, format: uri }
          example: https://images.example.com/cat.png
      responses: { "200": { description: fetched }, "400": { description: refused } }
  /webhooks:
    post:
      requestBody:
        content:
          application/json:
            schema: { type: object, properties: { callbackUrl: { type: string }, event: { type: string } } }
            example: { callbackUrl: "https://hooks.example.com/in", event: created }
      responses: { "201": { description: registered }, "400": { description: refused } }
  /webhooks/{id}:
    delete:
      parameters: [{ name: id, in: path, required: true, schema: { type: integer } }]
      responses: { "204": { description: removed } }
  /notes:
    post:
      requestBody:
        content:
          application/json:
            schema: { type: object, properties: { title: { type: string } } }
      responses: { "201": { description: created } }
`;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

/** Fetches loopback URLs for real (the canary lives there); other hosts are only pretended. */
async function fetchIt(raw: string): Promise<number> {
  const url = new URL(raw);
  if (!LOOPBACK.test(url.hostname)) return 200;
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await r.text();
    return r.status;
  } catch {
    return 0;
  }
}

let hooks = 0;

function fetcher(fixed: boolean) {
  return async (_req: unknown, res: ServerResponse, call: UpstreamCall): Promise<void> => {
    const { path, query } = urlOf(call);
    if (path === '/fetch') {
      const raw = query.get('url') ?? '';
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        return sendJson(res, 400, { error: 'not a URL' });
      }
      if (fixed && url.hostname !== 'images.example.com')
        return sendJson(res, 400, { error: 'host not allowed' });
      if (fixed) return sendJson(res, 200, { queued: true });
      return sendJson(res, 200, { status: await fetchIt(raw) });
    }
    if (path === '/webhooks') {
      const target = String(bodyOf(call)?.callbackUrl ?? '');
      if (fixed && !target.startsWith('https://hooks.example.com/'))
        return sendJson(res, 400, { error: 'callback not allowed' });
      // A registration the scan can delete again (the write guard only creates what it can remove).
      sendJson(res, 201, { id: ++hooks, registered: true });
      // The vulnerable twin calls the webhook right away, after answering.
      if (!fixed) await fetchIt(target).catch(() => 0);
      return;
    }
    if (path.startsWith('/webhooks/')) return sendJson(res, 204, {});
    if (path === '/notes') return sendJson(res, 201, { id: 1 });
    return sendJson(res, 404, { error: 'not found' });
  };
}

describe('api7-ssrf check', () => {
  let vuln: TestUpstream;
  let fixed: TestUpstream;
  const spec = writeSpec(SPEC);
  before(async () => {
    vuln = await startUpstream(fetcher(false));
    fixed = await startUpstream(fetcher(true));
  });
  after(async () => {
    await vuln.close();
    await fixed.close();
  });

  it('finds that URL parameters and body fields are fetched, internal addresses included', async () => {
    const result = await runScan({ specFile: spec, target: vuln.url, checks: ['api7-ssrf'] });
    assert.deepEqual(ruleIds(result), ['api7-ssrf', 'api7-ssrf-internal']);
    const where = (id: string) =>
      result.findings
        .filter((f) => f.rule.id === id)
        .map((f) => f.where)
        .sort();
    assert.deepEqual(where('api7-ssrf'), ['GET /fetch', 'POST /webhooks']);
    assert.deepEqual(where('api7-ssrf-internal'), ['GET /fetch', 'POST /webhooks']);
    const internal = result.findings.find(
      (f) => f.where === 'GET /fetch' && f.rule.id === 'api7-ssrf-internal',
    );
    assert.match(internal?.message ?? '', /169\.254\.169\.254/);
    // Fields that take no URL are left alone.
    assert.ok(!vuln.calls.some((c) => c.url.startsWith('/notes')));
  });

  it('without a canary, still finds internal addresses accepted (but claims no fetch)', async () => {
    const result = await runScan({ specFile: spec, target: vuln.url, checks: ['api7-ssrf'], canary: false });
    assert.deepEqual(ruleIds(result), ['api7-ssrf-internal']);
  });

  it('finds nothing in the fixed twin', async () => {
    const result = await runScan({ specFile: spec, target: fixed.url, checks: ['api7-ssrf'] });
    assert.deepEqual(ruleIds(result), []);
  });
});

import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startUpstream, type TestUpstream, type UpstreamCall } from '../../../test/helpers.js';
import { ruleIds, sendJson, urlOf, writeSpec } from '../../../test/scan-support.js';
import { runScan } from '../runner.js';

const SPEC = `openapi: 3.0.3
info: { title: things, version: "1" }
paths:
  /things:
    get:
      parameters:
        - { name: limit, in: query, schema: { type: integer, minimum: 1, maximum: 100 }, example: 10 }
      responses: { "200": { description: a page } }
    post:
      requestBody:
        content:
          application/json:
            schema: { type: object, properties: { name: { type: string } } }
            example: { name: spanner }
      responses: { "201": { description: created } }
  /things/{id}:
    parameters: [{ name: id, in: path, required: true, schema: { type: integer } }]
    delete:
      responses: { "204": { description: gone } }
  /search:
    get:
      parameters:
        - { name: q, in: query, schema: { type: string, pattern: "^([a-z]+)+$" }, example: work }
      responses: { "200": { description: results } }
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The longest run of one repeated character (what a backtracking pattern chokes on). */
function longestRun(s: string): number {
  let best = 0;
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    run = i > 0 && s[i] === s[i - 1] ? run + 1 : 1;
    best = Math.max(best, run);
  }
  return best;
}

/** Things the scan created and has not deleted (it must delete every one). */
const stored = new Set<number>();
let nextId = 1000;

function things(fixed: boolean) {
  const recent: number[] = [];
  return async (_req: unknown, res: ServerResponse, call: UpstreamCall): Promise<void> => {
    if (fixed) {
      // 20 requests per second for everybody, then 429.
      const now = Date.now();
      while (recent.length > 0 && now - (recent[0] as number) > 1000) recent.shift();
      if (recent.length >= 20) return sendJson(res, 429, { error: 'slow down' }, { 'retry-after': '1' });
      recent.push(now);
    }
    const { path, query } = urlOf(call);
    if (path === '/things' && call.method === 'GET') {
      const limit = Number(query.get('limit') ?? 10);
      if (fixed && !(limit >= 1 && limit <= 100)) return sendJson(res, 400, { error: 'limit 1..100' });
      const n = Math.min(limit, 5000);
      return sendJson(res, 200, { items: Array.from({ length: n }, (_, i) => ({ id: i + 1 })) });
    }
    if (path === '/things' && call.method === 'POST') {
      if (fixed && call.body.length > 64 * 1024) return sendJson(res, 413, { error: 'too large' });
      const id = nextId++;
      stored.add(id);
      return sendJson(res, 201, { id });
    }
    const item = /^\/things\/(\d+)$/.exec(path);
    if (item !== null && call.method === 'DELETE') {
      stored.delete(Number(item[1]));
      res.writeHead(204).end();
      return;
    }
    if (path === '/search') {
      const q = query.get('q') ?? '';
      if (fixed && q.length > 32) return sendJson(res, 400, { error: 'q too long' });
      // A pretend catastrophic pattern: a long run costs two seconds (bounded, no real ReDoS).
      if (!fixed && longestRun(q) >= 20) await sleep(2000);
      return sendJson(res, 200, []);
    }
    return sendJson(res, 404, { error: 'not found' });
  };
}

describe('api4-resources check', () => {
  let vuln: TestUpstream;
  let fixed: TestUpstream;
  const spec = writeSpec(SPEC);
  before(async () => {
    vuln = await startUpstream(things(false));
    fixed = await startUpstream(things(true));
  });
  after(async () => {
    await vuln.close();
    await fixed.close();
  });

  it('finds no rate limit, unbounded pages, 2 MiB bodies and slow input in the vulnerable API', async () => {
    const result = await runScan({
      specFile: spec,
      target: vuln.url,
      checks: ['api4-resources'],
      canary: false,
    });
    assert.deepEqual(ruleIds(result), [
      'api4-large-body',
      'api4-large-page',
      'api4-no-rate-limit',
      'api4-slow-input',
    ]);
    const page = result.findings.find((f) => f.rule.id === 'api4-large-page');
    assert.match(page?.message ?? '', /5000 items/);
    assert.equal(result.findings.find((f) => f.rule.id === 'api4-slow-input')?.where, 'GET /search');
    // The 2 MiB create was deleted again.
    assert.ok(vuln.calls.some((c) => c.method === 'DELETE'));
    assert.deepEqual([...stored], []);
    // One burst of 30, a handful for the rest: bounded.
    assert.ok(result.requestsSent <= 45, `sent ${result.requestsSent}`);
  });

  it('finds nothing in the fixed twin', async () => {
    const result = await runScan({
      specFile: spec,
      target: fixed.url,
      checks: ['api4-resources'],
      canary: false,
    });
    assert.deepEqual(ruleIds(result), []);
  });
});

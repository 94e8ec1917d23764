import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startUpstream, type TestUpstream, type UpstreamCall } from '../../../test/helpers.js';
import { bodyOf, ruleIds, sendJson, urlOf, writeSpec } from '../../../test/scan-support.js';
import { runScan } from '../runner.js';
import type { Identity } from '../types.js';

const SPEC = `openapi: 3.0.3
info: { title: shop, version: "1" }
security: [{ bearer: [] }]
components:
  securitySchemes: { bearer: { type: http, scheme: bearer } }
paths:
  /products:
    get:
      parameters:
        - { name: category, in: query, required: true, schema: { type: string }, example: tools }
      responses: { "200": { description: rows }, "500": { description: error } }
  /ping:
    get:
      parameters:
        - { name: host, in: query, required: true, schema: { type: string }, example: 127.0.0.1 }
      responses: { "200": { description: pong } }
  /files:
    get:
      parameters:
        - { name: file, in: query, required: true, schema: { type: string }, example: report.txt }
      responses: { "200": { description: the file } }
  /login:
    post:
      security: []
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties: { username: { type: string }, password: { type: string } }
            example: { username: alice, password: alice-password }
      responses: { "200": { description: token }, "401": { description: wrong } }
`;

const AUTH: Identity = { name: 'alice', header: 'authorization', value: 'Bearer alice-token-123' };
const ROWS = [
  { id: 1, name: 'hammer', category: 'tools' },
  { id: 2, name: 'wrench', category: 'tools' },
  { id: 3, name: 'lamp', category: 'home' },
];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a database would do with `category = '<value>'` pasted into the query text. */
async function concatenated(value: string, res: ServerResponse): Promise<void> {
  const delay = /sleep\((\d)\)/i.exec(value);
  if (delay) await sleep(Number(delay[1]) * 1000);
  const cond = /^(.*?)' AND (?:'1'='(\d)|1=(\d)-- -)$/.exec(value);
  if (cond) {
    const truth = (cond[2] ?? cond[3]) === '1';
    return sendJson(res, 200, truth ? ROWS.filter((r) => r.category === cond[1]) : []);
  }
  if ((value.split("'").length - 1) % 2 === 1)
    return sendJson(res, 500, { error: `SQLITE_ERROR: unrecognized token: "'${value}'"` });
  return sendJson(
    res,
    200,
    ROWS.filter((r) => r.category === value),
  );
}

/** The vulnerable shop (or its fixed twin): SQL, shell, files and login. */
function shop(fixed: boolean) {
  return async (_req: unknown, res: ServerResponse, call: UpstreamCall): Promise<void> => {
    const { path, query } = urlOf(call);
    if (path === '/products') {
      const category = query.get('category') ?? '';
      if (fixed)
        return sendJson(
          res,
          200,
          ROWS.filter((r) => r.category === category),
        );
      return concatenated(category, res);
    }
    if (path === '/ping') {
      const host = query.get('host') ?? '';
      // A pretend shell: "; sleep N", "| sleep N", "$(sleep N)", "`sleep N`" wait N seconds.
      const m = /(?:;|\||\$\(|`)\s*sleep (\d)/.exec(host);
      if (!fixed && m) await sleep(Number(m[1]) * 1000);
      return sendJson(res, 200, { output: `PING ${host.slice(0, 40)}` });
    }
    if (path === '/files') {
      const file = query.get('file') ?? '';
      if (fixed && !/^[a-z]+\.txt$/.test(file)) return sendJson(res, 400, { error: 'bad name' });
      const decoded = decodeURIComponent(file).replaceAll('....//', '../');
      if (!fixed && decoded.includes('../') && decoded.endsWith('etc/passwd')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('root:x:0:0:root:/root:/bin/bash\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('quarterly report\n');
      return;
    }
    if (path === '/login') {
      const body = bodyOf(call) ?? {};
      const { username, password } = body;
      if (fixed && (typeof username !== 'string' || typeof password !== 'string'))
        return sendJson(res, 400, { error: 'strings only' });
      // Mongo-style matching: {"$ne": x} matches anything but x.
      const match = (v: string, c: unknown) =>
        c !== null && typeof c === 'object' && '$ne' in c ? v !== (c as { $ne: unknown }).$ne : v === c;
      if (match('alice', username) && match('alice-password', password))
        return sendJson(res, 200, { token: 'eyJhbGciOiJIUzI1NiJ9.e30.signature' });
      return sendJson(res, 401, { error: 'wrong' });
    }
    return sendJson(res, 404, { error: 'not found' });
  };
}

describe('injection check', () => {
  let vuln: TestUpstream;
  let fixed: TestUpstream;
  const spec = writeSpec(SPEC);
  before(async () => {
    vuln = await startUpstream(shop(false));
    fixed = await startUpstream(shop(true));
  });
  after(async () => {
    await vuln.close();
    await fixed.close();
  });

  it('finds SQL (error, boolean, time), NoSQL, command and traversal injection in the vulnerable shop', async () => {
    const result = await runScan({
      specFile: spec,
      target: vuln.url,
      checks: ['injection'],
      auth: AUTH,
      canary: false,
    });
    assert.deepEqual(ruleIds(result), [
      'inj-command-time',
      'inj-nosql',
      'inj-path-traversal',
      'inj-sql-boolean',
      'inj-sql-error',
      'inj-sql-time',
    ]);
    const where = Object.fromEntries(result.findings.map((f) => [f.rule.id, f.where]));
    assert.equal(where['inj-sql-boolean'], 'GET /products');
    assert.equal(where['inj-command-time'], 'GET /ping');
    assert.equal(where['inj-path-traversal'], 'GET /files');
    assert.equal(where['inj-nosql'], 'POST /login');
    for (const f of result.findings) {
      assert.ok(f.evidence.length > 0, `${f.id} has evidence`);
      assert.ok(!JSON.stringify(f.evidence).includes('alice-token-123'), 'credentials redacted');
    }
  });

  it('finds nothing in the fixed twin', async () => {
    const result = await runScan({
      specFile: spec,
      target: fixed.url,
      checks: ['injection'],
      auth: AUTH,
      canary: false,
    });
    assert.deepEqual(ruleIds(result), []);
  });

  it('does not take one slow answer (jitter) for a time-based injection', async () => {
    // Only the first "sleep 2" probe is slow, as if a pause happened to hit it; its repeat is quick.
    let slowOnce = true;
    const jittery = await startUpstream(async (_req, res, call) => {
      const host = urlOf(call).query.get('host') ?? '';
      if (slowOnce && host.includes('sleep 2')) {
        slowOnce = false;
        await sleep(2000);
      }
      sendJson(res, 200, { output: 'PING' });
    });
    try {
      const pingOnly = writeSpec(
        SPEC.slice(0, SPEC.indexOf('  /files:')).replace(/ {2}\/products:[\s\S]*?(?= {2}\/ping:)/, ''),
      );
      const result = await runScan({
        specFile: pingOnly,
        target: jittery.url,
        checks: ['injection'],
        canary: false,
      });
      assert.equal(slowOnce, false, 'the slow answer happened');
      assert.deepEqual(ruleIds(result), []);
    } finally {
      await jittery.close();
    }
  });

  it('lists its requests in a dry run without sending any', async () => {
    const before = vuln.calls.length;
    const result = await runScan({ specFile: spec, target: vuln.url, checks: ['injection'], dryRun: true });
    assert.equal(vuln.calls.length, before);
    assert.ok((result.planned ?? []).some((r) => r.purpose.startsWith('injection:')));
    assert.deepEqual(result.findings, []);
  });
});

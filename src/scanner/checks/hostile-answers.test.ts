import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startUpstream, type TestUpstream, type UpstreamCall } from '../../../test/helpers.js';
import { writeSpec } from '../../../test/scan-support.js';
import { runScan } from '../runner.js';

/** Every operation takes parameters the checks probe (search, URL, file, host, page size, body). */
const SPEC = `openapi: 3.0.3
info: { title: hostile, version: "1" }
paths:
  /v1/garbage:
    get:
      parameters:
        - { name: q, in: query, schema: { type: string }, example: tools }
        - { name: url, in: query, schema: { type: string, format: uri } }
        - { name: file, in: query, schema: { type: string } }
      responses: { "200": { description: ok } }
    post:
      requestBody:
        content:
          application/json:
            schema: { type: object, properties: { name: { type: string }, callback: { type: string }, password: { type: string } } }
      responses: { "200": { description: ok } }
  /v1/huge:
    get:
      parameters: [{ name: limit, in: query, schema: { type: integer } }, { name: host, in: query, schema: { type: string } }]
      responses: { "200": { description: ok } }
  /v1/hang:
    get:
      parameters: [{ name: q, in: query, schema: { type: string, pattern: "^[a-z]+$" } }]
      responses: { "200": { description: ok } }
  /v1/boom/{name}:
    get:
      parameters: [{ name: name, in: path, required: true, schema: { type: string } }]
      responses: { "200": { description: ok } }
  /v1/reset:
    get:
      parameters: [{ name: search, in: query, schema: { type: string } }]
      responses: { "200": { description: ok } }
`;

const HUGE = `[${'"x",'.repeat(1_300_000)}`; // ~5 MiB, never closed: not JSON

function hostile(_req: unknown, res: ServerResponse, call: UpstreamCall): void {
  const path = call.url.split('?')[0] ?? '';
  if (path.startsWith('/v1/garbage')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(Buffer.from([0x7b, 0x7b, 0x00, 0xff, 0xfe, 0x22, 0x5c, 0x75, 0xd8, 0x00]));
  } else if (path.startsWith('/v1/huge')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(HUGE);
  } else if (path.startsWith('/v1/hang')) {
    // Never answers: the scan's timeout must end it.
  } else if (path.startsWith('/v1/boom')) {
    res.writeHead(500, { 'content-type': 'text/html' });
    res.end('<html><body><h1>500</h1><pre>Error\n    at boom (/srv/app.js:1:1)</pre></body></html>');
  } else if (path.startsWith('/v1/reset')) {
    // Drop the connection without an answer.
    res.socket?.destroy();
  } else {
    res.writeHead(302, { location: 'http://169.254.169.254/' });
    res.end();
  }
}

describe('checks against hostile answers', () => {
  let api: TestUpstream;
  before(async () => {
    api = await startUpstream(hostile);
  });
  after(async () => {
    await api.close();
  });

  it('survive non-JSON, huge bodies, timeouts, 500s and dropped connections without stopping', async () => {
    const started = performance.now();
    const result = await runScan({
      specFile: writeSpec(SPEC),
      target: api.url,
      checks: ['api4-resources', 'api7-ssrf', 'api8-config', 'api9-inventory', 'injection'],
      timeoutMs: 500,
      budget: 600,
    });
    const stopped = result.notes.filter((n) => n.includes('stopped early'));
    assert.deepEqual(stopped, []);
    assert.ok(performance.now() - started < 60_000);
    // Bodies are cut at 256 KiB: evidence stays small whatever the API sends.
    for (const f of result.findings)
      for (const e of f.evidence)
        assert.ok((e.response?.body?.length ?? 0) <= 4096, `${f.id} evidence is bounded`);
  });
});

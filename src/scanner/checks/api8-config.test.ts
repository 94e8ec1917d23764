import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ruleIds, writeSpec } from '../../../test/scan-support.js';
import { createDevCertificates } from '../../server/dev-certs.js';
import { runScan } from '../runner.js';
import type { Identity } from '../types.js';
import { bannerIn, leakIn } from './api8-config.js';

const spec = (server: string) => `openapi: 3.0.3
info: { title: shop, version: "1" }
servers: [{ url: "${server}" }]
components:
  securitySchemes: { bearer: { type: http, scheme: bearer } }
paths:
  /account:
    get:
      security: [{ bearer: [] }]
      responses: { "200": { description: the account } }
  /orders:
    post:
      requestBody:
        content:
          application/json:
            schema: { type: object, properties: { item: { type: string }, qty: { type: integer } } }
            example: { item: hammer, qty: 1 }
      responses: { "201": { description: created }, "400": { description: invalid } }
  /orders/{id}:
    delete:
      parameters: [{ name: id, in: path, required: true, schema: { type: integer } }]
      responses: { "204": { description: removed } }
`;

const AUTH: Identity = { name: 'alice', header: 'authorization', value: 'Bearer alice-token-123' };

const STACK = `SyntaxError: Unexpected end of JSON input
    at JSON.parse (<anonymous>)
    at handleOrder (/srv/app/routes/orders.js:42:17)
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)`;

let orders = 0;

function handler(fixed: boolean) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = fixed
        ? {
            'x-content-type-options': 'nosniff',
            'cache-control': 'no-store',
            'strict-transport-security': 'max-age=31536000',
          }
        : { server: 'Apache/2.4.41 (Ubuntu)', 'x-powered-by': 'PHP/7.4.3' };
      const origin = req.headers.origin;
      if (!fixed && typeof origin === 'string') {
        headers['access-control-allow-origin'] = origin;
        headers['access-control-allow-credentials'] = 'true';
      }
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { ...headers, 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'TRACE') {
        if (fixed) return json(405, { error: 'method not allowed' });
        const echo = [`TRACE ${req.url} HTTP/1.1`];
        for (let i = 0; i < req.rawHeaders.length; i += 2)
          echo.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
        res.writeHead(200, { ...headers, 'content-type': 'message/http' });
        res.end(echo.join('\r\n'));
        return;
      }
      if (req.method === 'OPTIONS') {
        res.writeHead(fixed ? 405 : 204, headers);
        res.end();
        return;
      }
      if (req.url === '/account') return json(200, { id: 7, name: 'alice' });
      if (req.url === '/orders' && req.method === 'POST') {
        try {
          JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return fixed ? json(400, { error: 'invalid JSON' }) : json(500, { error: STACK });
        }
        return json(201, { id: ++orders });
      }
      if (req.url?.startsWith('/orders/') && req.method === 'DELETE') return json(204, {});
      return json(404, { error: 'not found' });
    });
  };
}

async function listen(fixed: boolean): Promise<{ server: Server; url: string }> {
  const certs = await createDevCertificates();
  const tls = fixed
    ? { minVersion: 'TLSv1.2' as const }
    : { minVersion: 'TLSv1' as const, ciphers: 'DEFAULT@SECLEVEL=0' };
  const server = createServer({ cert: certs.server.cert, key: certs.server.key, ...tls }, handler(fixed));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('api8-config check', () => {
  let vuln: { server: Server; url: string };
  let fixed: { server: Server; url: string };
  before(async () => {
    vuln = await listen(false);
    fixed = await listen(true);
  });
  after(() => {
    for (const s of [vuln.server, fixed.server]) {
      s.closeAllConnections();
      s.close();
    }
  });

  it('finds headers, CORS, verbose errors, TRACE, plain HTTP, TLS 1.0/1.1 and banners', async () => {
    const result = await runScan({
      specFile: writeSpec(spec('http://api.shop.example')),
      target: vuln.url,
      checks: ['api8-config'],
      auth: AUTH,
      insecure: true,
      canary: false,
    });
    assert.deepEqual(ruleIds(result), [
      'api8-cors',
      'api8-plain-http',
      'api8-security-headers',
      'api8-trace-enabled',
      'api8-verbose-errors',
      'api8-version-banner',
      'api8-weak-tls',
    ]);
    const message = (id: string) => result.findings.find((f) => f.rule.id === id)?.message ?? '';
    assert.match(message('api8-security-headers'), /nosniff.*Cache-Control.*Strict-Transport-Security/);
    assert.match(message('api8-weak-tls'), /TLS 1\.0 and TLS 1\.1/);
    assert.match(message('api8-version-banner'), /Apache\/2\.4\.41/);
    assert.equal(result.findings.find((f) => f.rule.id === 'api8-plain-http')?.where, 'servers[0]');
    assert.ok(result.requestsSent <= 40, `sent ${result.requestsSent}`);
  });

  it('finds nothing in the fixed twin', async () => {
    const result = await runScan({
      specFile: writeSpec(spec('https://api.shop.example')),
      target: fixed.url,
      checks: ['api8-config'],
      auth: AUTH,
      insecure: true,
      canary: false,
    });
    assert.deepEqual(ruleIds(result), []);
  });
});

describe('api8 detectors', () => {
  it('recognizes stack traces, exception names and database errors, not plain problems', () => {
    assert.ok(leakIn(JSON.stringify({ error: STACK })));
    assert.ok(leakIn('Traceback (most recent call last):\n  File "/app/x.py", line 3, in <module>'));
    assert.ok(leakIn('java.lang.NullPointerException: null'));
    assert.ok(leakIn('ERROR: syntax error at or near "\'"'));
    assert.equal(
      leakIn('{"type":"about:blank","title":"Bad Request","status":400,"detail":"invalid JSON"}'),
      undefined,
    );
    assert.equal(leakIn('{"error":"at least 3 characters"}'), undefined);
  });

  it('recognizes product versions in banners, not bare product names', () => {
    assert.equal(bannerIn({ server: 'nginx/1.18.0' }), 'server: nginx/1.18.0');
    assert.equal(bannerIn({ 'x-aspnet-version': '4.0.30319' }), 'x-aspnet-version: 4.0.30319');
    assert.equal(bannerIn({ server: 'nginx', 'x-powered-by': 'Express' }), undefined);
    assert.equal(bannerIn({ server: 'test-upstream' }), undefined);
  });
});

import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syntheticSpec } from '../src/openapi/synthetic.js';
import { runScan } from '../src/scanner/runner.js';
import type { ScanResult } from '../src/scanner/types.js';
import { startVulnApi } from '../test/fixtures/vuln-api/server.js';

/**
 * `npm run bench:scan`: how long `portcullis scan` takes with the default budget and rate on
 * (1) a 50-operation API (the synthetic description, served by a small in-memory CRUD API that
 * requires a bearer token) and (2) the vulnerable demo API (time-based probes really wait).
 * Loopback only; prints wall time, requests sent and findings.
 */

const OPERATIONS = Number(process.env.SCAN_BENCH_OPERATIONS ?? 50);

function send(res: ServerResponse, status: number, body?: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** A well-behaved CRUD API for every /resourcesN and /resourcesN/{id} of the synthetic description. */
async function startCrudApi(): Promise<{ url: string; close(): Promise<void> }> {
  const store = new Map<string, Map<string, Record<string, unknown>>>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const [collection, id, extra] = url.pathname.split('/').filter(Boolean);
      if (collection === undefined || !/^resources\d+$/.test(collection) || extra !== undefined)
        return send(res, 404, { code: 'not_found' });
      if (
        req.headers.authorization !== 'Bearer bench-token' &&
        req.headers.authorization !== 'Bearer bench-token-2'
      )
        return send(res, 401, { code: 'unauthorized' });
      const items = store.get(collection) ?? new Map();
      store.set(collection, items);
      if (id === undefined) {
        if (req.method === 'GET') return send(res, 200, [...items.values()].slice(0, 50));
        if (req.method === 'POST') {
          let body: Record<string, unknown>;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>;
          } catch {
            return send(res, 400, { code: 'bad_json' });
          }
          const item = { id: randomUUID(), name: String(body.name ?? 'x').slice(0, 100) };
          items.set(item.id, item);
          return send(res, 201, item);
        }
        return send(res, 405, { code: 'method' });
      }
      const item = items.get(id);
      if (item === undefined) return send(res, 404, { code: 'not_found' });
      if (req.method === 'GET') return send(res, 200, item);
      if (req.method === 'DELETE') {
        items.delete(id);
        return send(res, 204);
      }
      return send(res, 200, item);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function timed(label: string, run: () => Promise<ScanResult>) {
  const t0 = performance.now();
  const r = await run();
  const s = (performance.now() - t0) / 1000;
  process.stdout.write(
    `${label.padEnd(44)} ${s.toFixed(1).padStart(6)} s  ${String(r.requestsSent).padStart(5)} requests  ${String(r.findings.length).padStart(3)} findings\n`,
  );
  const perRule = new Map<string, number>();
  for (const f of r.findings) perRule.set(f.rule.id, (perRule.get(f.rule.id) ?? 0) + 1);
  process.stdout.write(`  ${[...perRule].map(([id, n]) => `${id} ×${n}`).join(', ')}\n`);
  if (process.env.SCAN_BENCH_VERBOSE === '1')
    for (const f of r.findings) process.stdout.write(`    ${f.id}: ${f.message}\n`);
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-scan-bench-'));
const specFile = join(dir, 'synthetic.json');
const spec = syntheticSpec(OPERATIONS) as { components: { securitySchemes?: unknown } } & Record<
  string,
  unknown
>;
spec.components.securitySchemes = { bearer: { type: 'http', scheme: 'bearer' } };
spec.security = [{ bearer: [] }];
writeFileSync(specFile, JSON.stringify(spec));

process.stdout.write('portcullis scan, default budget (2000) and rate (100/s), 4 in flight, loopback\n');
const crud = await startCrudApi();
try {
  await timed(`${OPERATIONS}-operation CRUD API (synthetic)`, () =>
    runScan({
      specFile,
      target: crud.url,
      auth: { name: 'a', header: 'authorization', value: 'Bearer bench-token' },
      authSecond: { name: 'b', header: 'authorization', value: 'Bearer bench-token-2' },
    }),
  );
} finally {
  await crud.close();
}
const vuln = await startVulnApi({ fixed: false });
try {
  const fixtures = new URL('../../test/fixtures/vuln-api/', import.meta.url);
  await timed('vulnerable demo API (time-based probes wait)', () =>
    runScan({
      specFile: new URL('openapi.yaml', fixtures).pathname,
      target: vuln.url,
      auth: { name: 'alice', header: 'authorization', value: `Bearer ${vuln.tokens.alice}` },
      authSecond: { name: 'bob', header: 'authorization', value: `Bearer ${vuln.tokens.bob}` },
    }),
  );
} finally {
  await vuln.close();
}

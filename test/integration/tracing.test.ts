import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { baseConfig, startGateway, startUpstream, type TestUpstream } from '../helpers.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  /** Nanoseconds since the epoch, as a decimal string (OTLP JSON). */
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
}

/** A local OTLP/HTTP receiver: records every POST (path, content type, parsed JSON body). */
async function startReceiver(): Promise<{
  url: string;
  posts: { path: string; type: string; body: unknown }[];
  server: Server;
}> {
  const posts: { path: string; type: string; body: unknown }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const type = String(req.headers['content-type']);
      const raw = Buffer.concat(chunks).toString('utf8');
      posts.push({ path: req.url ?? '', type, body: type.includes('json') ? JSON.parse(raw) : raw });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, posts, server };
}

function spansOf(posts: { body: unknown }[]): OtlpSpan[] {
  const out: OtlpSpan[] = [];
  for (const p of posts) {
    const body = p.body as { resourceSpans?: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
    for (const rs of body.resourceSpans ?? []) for (const ss of rs.scopeSpans) out.push(...ss.spans);
  }
  return out;
}

function attr(span: OtlpSpan, key: string): unknown {
  const a = span.attributes.find((x) => x.key === key);
  return a === undefined ? undefined : Object.values(a.value)[0];
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const INCOMING = `00-${TRACE_ID}-${PARENT}-01`;

describe('OpenTelemetry traces through a real gateway', () => {
  let upstream: TestUpstream;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const saved = { ...process.env };

  before(async () => {
    upstream = await startUpstream();
    receiver = await startReceiver();
  });
  after(async () => {
    process.env = saved;
    await upstream.close();
    receiver.server.closeAllConnections();
    await new Promise((r) => receiver.server.close(r));
  });

  it('exports a server span for the route, continuing the incoming trace, and sends its context upstream', async () => {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
    process.env.OTEL_SERVICE_NAME = 'portcullis-test';
    const gw = await startGateway(baseConfig(upstream.url));
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    delete process.env.OTEL_SERVICE_NAME;
    let sent: string;
    try {
      const before = upstream.calls.length;
      const res = await fetch(`${gw.url}/items/42`, { headers: { traceparent: INCOMING } });
      assert.equal(res.status, 200);
      await res.text();
      sent = String(upstream.calls[before]?.headers.traceparent);
      const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(sent);
      assert.ok(m, sent);
      assert.equal(m[1], TRACE_ID, 'same trace');
      assert.notEqual(m[2], PARENT, "the gateway's own span is the upstream's parent");
      // A request without a traceparent starts a new trace, exported too.
      await (await fetch(`${gw.url}/items`, { method: 'POST', body: '{}' })).text();
    } finally {
      await gw.close(); // flushes the batch
    }
    assert.ok(receiver.posts.length >= 1, 'spans exported');
    assert.ok(receiver.posts.every((p) => p.path === '/v1/traces'));
    assert.match(receiver.posts[0]?.type ?? '', /application\/json/);
    const resource = JSON.stringify(receiver.posts[0]?.body);
    assert.match(resource, /portcullis-test/);
    const spans = spansOf(receiver.posts);
    const server = spans.find((s) => attr(s, 'portcullis.route') === 'item');
    assert.ok(server, JSON.stringify(spans));
    assert.equal(server.traceId, TRACE_ID);
    assert.equal(server.parentSpanId, PARENT);
    assert.equal(server.spanId, sent.slice(36, 52));
    assert.equal(server.kind, 2); // SERVER (OTLP enum)
    assert.equal(server.name, 'GET /items/:id');
    assert.equal(attr(server, 'http.request.method'), 'GET');
    assert.equal(Number(attr(server, 'http.response.status_code')), 200);
    assert.equal(attr(server, 'http.route'), '/items/:id');
    const up = spans.find((s) => s.name === 'upstream' && s.parentSpanId === server.spanId);
    assert.ok(up, 'upstream span');
    assert.equal(up.traceId, TRACE_ID);
    assert.equal(up.kind, 3); // CLIENT
    // One span per phase the request went through, children of the server span, in order, each
    // ending before the upstream call starts.
    const phases = spans
      .filter((s) => s.parentSpanId === server.spanId && s.name.startsWith('phase '))
      .sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano)));
    const names = phases.map((s) => attr(s, 'portcullis.phase'));
    for (const p of ['route', 'guard', 'authenticate'])
      assert.ok(names.includes(p), `${p} in ${names.join(',')}`);
    assert.ok(names.indexOf('route') < names.indexOf('authenticate'));
    for (const p of phases) assert.ok(BigInt(p.endTimeUnixNano) <= BigInt(up.startTimeUnixNano) + 1000n);
    const fresh = spans.find((s) => attr(s, 'portcullis.route') === 'items');
    assert.ok(fresh);
    assert.notEqual(fresh.traceId, TRACE_ID);
  });

  it('sends nothing and leaves the traceparent alone when the OTEL variables are unset', async () => {
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
    const already = receiver.posts.length;
    const gw = await startGateway(baseConfig(upstream.url));
    try {
      const before = upstream.calls.length;
      const res = await fetch(`${gw.url}/items/7`, { headers: { traceparent: INCOMING } });
      await res.text();
      assert.equal(upstream.calls[before]?.headers.traceparent, INCOMING);
    } finally {
      await gw.close();
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(receiver.posts.length, already);
  });
});

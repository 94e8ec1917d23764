import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { Observability } from './hub.js';
import { attachTracing, traceRequest, tracingConfigured } from './tracing.js';

function hub(): Observability {
  return new Observability({} as never, pino({ level: 'silent' }), {
    inFlight: () => 0,
    configVersion: () => 1,
    startedAt: Date.now(),
  });
}

test('tracing is on only with an OTLP endpoint variable', () => {
  assert.equal(tracingConfigured({}), false);
  assert.equal(tracingConfigured({ OTEL_SERVICE_NAME: 'x' }), false);
  assert.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: '' }), false);
  assert.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }), true);
  assert.equal(
    tracingConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }),
    true,
  );
});

test('without the variables the request hook leaves the request alone', () => {
  const obs = hub();
  attachTracing(obs, {});
  const ctx = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
  traceRequest(obs, ctx as never);
  assert.equal(ctx.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
});

test('with the variables a request gets a span whose context goes upstream', async () => {
  const obs = hub();
  // An endpoint nobody listens on: the span is only flushed at close, and a failed export is logged.
  attachTracing(obs, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' });
  const incoming = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  let onClose: (() => void) | undefined;
  const ctx = {
    traceparent: incoming,
    req: { headers: { traceparent: incoming }, httpVersion: '1.1' },
    res: {
      headersSent: true,
      statusCode: 200,
      once: (_: string, f: () => void) => {
        onClose = f;
      },
    },
    method: 'GET',
    scheme: 'http',
    listener: 'main',
    id: 'req-1',
    startedAt: performance.now(),
    route: undefined,
    upstreamStartedAt: 0,
  };
  traceRequest(obs, ctx as never);
  assert.match(ctx.traceparent, /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
  assert.notEqual(ctx.traceparent, incoming);
  assert.ok(onClose);
  onClose();
  await obs.close();
});

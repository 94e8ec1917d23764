import { createRequire } from 'node:module';
import {
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { RequestContext } from '../core/context.js';
import type { Observability } from './hub.js';

/**
 * OpenTelemetry traces. Off unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
 * is set: then one SERVER span per request (route, method, status, error code), a CLIENT child span
 * for the upstream call, exported over OTLP/HTTP (JSON) in batches. The span continues an incoming
 * W3C traceparent, and the traceparent sent to the upstream (and written in the access log) carries
 * the request span's context. When unset, nothing is created and no network call is ever made: the
 * per-request hook returns at its first test.
 */

// The SDK and the exporter are loaded only when tracing is configured (they cost ~0.3 s of start-up).
const require = createRequire(import.meta.url);
type ExporterModule = typeof import('@opentelemetry/exporter-trace-otlp-http');
type ResourcesModule = typeof import('@opentelemetry/resources');
type SdkModule = typeof import('@opentelemetry/sdk-trace-base');

const tracers = new WeakMap<Observability, Tracer>();
/** Gateways with tracing on in this process: 0 makes traceRequest a single comparison. */
let active = 0;

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Tracing is configured by the standard variables. */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Starts the tracer provider of a gateway when the OTEL_* variables ask for one (the exporter
 * reads its endpoint, headers, timeout from them); flushed and shut down with the gateway.
 */
export function attachTracing(obs: Observability, env: NodeJS.ProcessEnv = process.env): void {
  if (!tracingConfigured(env)) return;
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as ExporterModule;
  const { resourceFromAttributes } = require('@opentelemetry/resources') as ResourcesModule;
  const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base') as SdkModule;
  // The endpoint variables as the OTLP spec reads them (the exporter takes headers, timeout,
  // compression from the other OTEL_EXPORTER_OTLP_* variables itself).
  const url =
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ||
    `${(env.OTEL_EXPORTER_OTLP_ENDPOINT as string).replace(/\/+$/, '')}/v1/traces`;
  const exporter = new OTLPTraceExporter({ url });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME || 'portcullis' }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  tracers.set(obs, provider.getTracer('portcullis'));
  active++;
  obs.own({
    close: async () => {
      if (!tracers.delete(obs)) return;
      active--;
      try {
        await provider.shutdown();
      } catch (err) {
        obs.logger.warn({ err }, 'tracing: flushing spans at shutdown failed');
      }
    },
  });
  obs.logger.info(
    { service: env.OTEL_SERVICE_NAME || 'portcullis' },
    'tracing: exporting spans over OTLP/HTTP',
  );
}

/** Epoch ms of a performance.now() reading. */
function epochMs(perfNow: number): number {
  return performance.timeOrigin + perfNow;
}

/**
 * Called once per request by the gateway, right after ctx.traceparent is set. With tracing on,
 * starts the request span (child of a valid incoming traceparent), puts its context in
 * ctx.traceparent, and ends it when the response closes.
 */
export function traceRequest(obs: Observability, ctx: RequestContext): void {
  if (active === 0) return;
  const tracer = tracers.get(obs);
  if (tracer === undefined) return;
  let parent = ROOT_CONTEXT;
  const incoming = ctx.req.headers.traceparent;
  if (incoming === ctx.traceparent) {
    // traceparentFor kept the client's value: it is valid, continue its trace.
    const m = TRACEPARENT.exec(incoming);
    if (m !== null)
      parent = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: m[1] as string,
        spanId: m[2] as string,
        traceFlags: Number.parseInt(m[3] as string, 16) & TraceFlags.SAMPLED,
        isRemote: true,
      });
  }
  const span = tracer.startSpan(
    ctx.method,
    {
      kind: SpanKind.SERVER,
      startTime: epochMs(ctx.startedAt),
      attributes: {
        'http.request.method': ctx.method,
        'network.protocol.version': ctx.req.httpVersion,
        'url.scheme': ctx.scheme,
        'portcullis.listener': ctx.listener,
        'portcullis.request_id': ctx.id,
      },
    },
    parent,
  );
  const sc = span.spanContext();
  ctx.traceparent = `00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags & TraceFlags.SAMPLED}`;
  // The pipeline notes when each phase starts; the phase spans are made from those marks at the end.
  ctx.phaseMarks = [];
  ctx.res.once('close', () => endRequestSpan(tracer, span, ctx));
}

function endRequestSpan(tracer: Tracer, span: Span, ctx: RequestContext): void {
  const route = ctx.route;
  const status = ctx.res.headersSent ? ctx.res.statusCode : 0;
  if (route !== undefined) {
    span.updateName(`${ctx.method} ${route.path}`);
    span.setAttribute('http.route', route.path);
    span.setAttribute('portcullis.route', route.id);
  }
  if (status !== 0) span.setAttribute('http.response.status_code', status);
  const code = ctx.error?.code;
  if (code !== undefined) span.setAttribute('portcullis.error_code', code);
  if (ctx.principal !== undefined && ctx.principal.kind !== 'anonymous')
    span.setAttribute('portcullis.auth_method', ctx.principal.method);
  if (ctx.deniedBy !== undefined) span.setAttribute('portcullis.denied_by', ctx.deniedBy);
  if (status >= 500 || status === 0) span.setStatus({ code: SpanStatusCode.ERROR, message: code });
  phaseSpans(tracer, span, ctx);
  if (ctx.upstreamStartedAt !== 0) {
    const start = epochMs(ctx.upstreamStartedAt);
    const child = tracer.startSpan(
      'upstream',
      {
        kind: SpanKind.CLIENT,
        startTime: start,
        attributes: {
          'portcullis.upstream': route?.upstream ?? '',
          ...(ctx.upstreamStatus !== 0 ? { 'http.response.status_code': ctx.upstreamStatus } : {}),
        },
      },
      trace.setSpan(ROOT_CONTEXT, span),
    );
    if (ctx.upstreamStatus >= 500 || ctx.upstreamStatus === 0)
      child.setStatus({ code: SpanStatusCode.ERROR });
    child.end(start + ctx.upstreamMs);
  }
  span.end();
}

/**
 * One child span per phase the request went through (route, guard, authenticate, rateLimit,
 * authorize, validate): each from its first stage to the next phase's first stage; the last one
 * ends when the upstream call starts, or at the answer when the gateway answered itself.
 */
function phaseSpans(tracer: Tracer, parent: Span, ctx: RequestContext): void {
  const marks = ctx.phaseMarks;
  if (marks === undefined || marks.length === 0) return;
  const end = ctx.upstreamStartedAt !== 0 ? ctx.upstreamStartedAt : performance.now();
  const parentContext = trace.setSpan(ROOT_CONTEXT, parent);
  for (let i = 0; i < marks.length; i += 2) {
    const phase = marks[i] as string;
    const start = marks[i + 1] as number;
    const stop = i + 3 < marks.length ? (marks[i + 3] as number) : Math.max(start, end);
    const child = tracer.startSpan(
      `phase ${phase}`,
      { kind: SpanKind.INTERNAL, startTime: epochMs(start), attributes: { 'portcullis.phase': phase } },
      parentContext,
    );
    // The phase that answered the request (a refusal) carries the error code.
    if (i + 2 >= marks.length && ctx.upstreamStartedAt === 0 && ctx.error !== undefined)
      child.setAttribute('portcullis.error_code', ctx.error.code);
    child.end(epochMs(stop));
  }
}

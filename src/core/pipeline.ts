import type { Logger } from 'pino';
import type { RequestContext, ResponseHead } from './context.js';
import { GatewayError } from './errors.js';
import type { Chain, RequestStage } from './plan.js';
import { PROBLEM_CONTENT_TYPE, problemBody } from './problem.js';

/**
 * Walks one request through its plan: route-phase stages, then the route's chain, then the proxy.
 * Any stage may continue (return), answer (ctx.answered) or reject (throw GatewayError). Anything
 * else thrown is a gateway bug: the request is denied with INTERNAL_ERROR (fail closed).
 *
 * Stages run synchronously until one returns a promise; only from there on does the walk go
 * asynchronous, so a chain of synchronous checks costs no promise at all.
 */
export function runRequest(ctx: RequestContext, logger: Logger): void {
  try {
    const global = runList(ctx, ctx.plan.global, 0);
    if (global === true) return;
    const rest =
      global === false
        ? afterRouting(ctx)
        : global.then((answered) => (answered ? undefined : afterRouting(ctx)));
    if (rest !== undefined) rest.then(undefined, (err: unknown) => sendError(ctx, err, logger));
  } catch (err) {
    sendError(ctx, err, logger);
  }
}

function afterRouting(ctx: RequestContext): Promise<void> | undefined {
  const route = ctx.route;
  if (route === undefined) throw new Error('router finished without a route');
  const checked = runList(ctx, route.chain.request, 0);
  if (checked === true) return undefined;
  if (checked === false) return runProxy(ctx);
  return checked.then((answered) => (answered ? undefined : runProxy(ctx)));
}

function runProxy(ctx: RequestContext): Promise<void> | undefined {
  // A CORS preflight that no stage answered is not a request for the upstream.
  if (ctx.preflight) {
    throw new GatewayError('METHOD_NOT_ALLOWED', { headers: { allow: ctx.route?.methods.join(', ') ?? '' } });
  }
  const proxy = ctx.route?.chain.proxy;
  if (proxy === undefined) throw new Error(`route ${ctx.route?.id} has no proxy stage`);
  return proxy.run(ctx) ?? undefined;
}

/** Monitor mode turns a decision into a log entry; a crash (not a GatewayError) still denies. */
function monitored(ctx: RequestContext, stage: RequestStage, err: unknown): void {
  if (!stage.monitor || !(err instanceof GatewayError)) throw err;
  if (ctx.monitored === undefined) ctx.monitored = [];
  ctx.monitored.push({ plugin: stage.plugin, code: err.code });
}

/** Runs `list` from `from`; true once a stage answered, a promise once a stage went async. */
function runList(
  ctx: RequestContext,
  list: readonly RequestStage[],
  from: number,
): boolean | Promise<boolean> {
  const marks = ctx.phaseMarks;
  for (let i = from; i < list.length; i++) {
    const stage = list[i] as RequestStage;
    if (marks !== undefined && marks[marks.length - 2] !== stage.phase)
      marks.push(stage.phase, performance.now());
    let pending: void | Promise<void>;
    try {
      pending = stage.run(ctx);
    } catch (err) {
      monitored(ctx, stage, err);
      pending = undefined;
    }
    if (pending !== undefined) {
      const next = i + 1;
      return pending.then(
        () => ctx.answered || runList(ctx, list, next),
        (err: unknown) => {
          monitored(ctx, stage, err);
          return ctx.answered || runList(ctx, list, next);
        },
      );
    }
    if (ctx.answered) return true;
  }
  return false;
}

/** The chain whose respond and log hooks apply: the route's, or the plan's fallback before routing. */
export function chainOf(ctx: RequestContext): Chain {
  return ctx.route === undefined ? ctx.plan.fallback : ctx.route.chain;
}

/** Runs the respond-phase hooks on a head about to be written. */
export function runResponseHooks(ctx: RequestContext, head: ResponseHead): void {
  // While the gateway drains, every response that starts tells its client not to reuse the connection.
  if (ctx.server.draining) head.headers.connection = 'close';
  const extra = ctx.responseHeaders;
  if (extra !== undefined) {
    for (const name in extra) {
      const value = extra[name];
      // null: the stage owns this header and the upstream's value must not pass.
      if (value === null || value === undefined) delete head.headers[name];
      // Vary lists what the answer depends on: add to the upstream's list, never replace it.
      else if (name === 'vary' && head.headers.vary !== undefined)
        head.headers.vary = `${String(head.headers.vary)}, ${value}`;
      else head.headers[name] = value;
    }
  }
  const hooks = chainOf(ctx).respond;
  for (let i = 0; i < hooks.length; i++)
    (hooks[i] as (c: RequestContext, h: ResponseHead) => void)(ctx, head);
}

/** Answers the request with a problem+json body for `err` (an unknown error becomes INTERNAL_ERROR). */
export function sendError(ctx: RequestContext, err: unknown, logger: Logger): void {
  let problem: GatewayError;
  if (err instanceof GatewayError) {
    problem = err;
  } else {
    problem = new GatewayError('INTERNAL_ERROR');
    logger.error({ reqId: ctx.id, err }, 'unexpected error in the request pipeline');
  }
  ctx.error ??= problem;
  const res = ctx.res;
  if (res.headersSent || res.destroyed) {
    // Too late for a clean answer: cut the connection so the client sees a failure, not a short body.
    res.destroy();
    return;
  }
  ctx.answered = true;
  const head: ResponseHead = {
    status: problem.status,
    headers: {
      'content-type': PROBLEM_CONTENT_TYPE,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...problem.headers,
    },
    source: 'gateway',
    replaceWith: undefined,
  };
  try {
    runResponseHooks(ctx, head);
  } catch (hookErr) {
    logger.error({ reqId: ctx.id, err: hookErr }, 'respond hook failed while sending a problem');
  }
  const body = JSON.stringify(problemBody(problem, ctx.id, ctx.plan.problemTypeBase));
  ctx.bytesOut = Buffer.byteLength(body);
  head.headers['content-length'] = ctx.bytesOut;
  // A request body we did not read would otherwise be parsed as the next request.
  if (!ctx.req.complete) head.headers.connection = 'close';
  res.writeHead(head.status, head.headers);
  res.end(ctx.method === 'HEAD' ? undefined : body);
}

/** Answers directly from a stage (no upstream call), through the respond hooks. */
export function reply(
  ctx: RequestContext,
  status: number,
  headers: Record<string, string>,
  body: string,
): void {
  ctx.answered = true;
  const head: ResponseHead = { status, headers: { ...headers }, source: 'gateway', replaceWith: undefined };
  runResponseHooks(ctx, head);
  ctx.bytesOut = Buffer.byteLength(body);
  head.headers['content-length'] = ctx.bytesOut;
  ctx.res.writeHead(head.status, head.headers);
  ctx.res.end(ctx.method === 'HEAD' ? undefined : body);
}

import { randomBytes } from 'node:crypto';
import { deref, isObj, type Obj } from '../../openapi/load.js';
import type { OperationSpec } from '../../openapi/operations.js';
import { exampleOf } from '../plan.js';
import type { Identity, PlannedOperation, ScanContext, ScanRequest, ScanResponse } from '../types.js';

/**
 * Shared by the API4, API7, API8, API9 and injection checks: one planned request changed in one
 * place (a query or path parameter, or a top-level JSON body field), answers compared while
 * ignoring where the API echoes the payload, item counts of list answers, and bounded time-based
 * probing that never turns jitter into a finding.
 */

export type PointLocation = 'query' | 'path' | 'body';

/** One place of an operation a check may put a value: a parameter or a top-level body field. */
export interface Point {
  readonly in: PointLocation;
  readonly name: string;
  /** The value the plan would send (example, default, or a type-valid value). */
  readonly original: unknown;
  /** The parameter's or property's schema (already followed through $ref). */
  readonly schema: Readonly<Record<string, unknown>>;
}

/** The identity to present: the main one when given (a probe that answers 401 tests nothing). */
export const identityOf = (ctx: ScanContext): Identity | undefined => ctx.auth;

export const randomText = (bytes = 6): string => randomBytes(bytes).toString('hex');

const firstExample = (doc: Obj, o: Obj): unknown => {
  if (o.example !== undefined) return o.example;
  if (isObj(o.examples)) {
    const first = deref(doc, Object.values(o.examples)[0]);
    if (isObj(first) && first.value !== undefined) return first.value;
  }
  return undefined;
};

const examples = new WeakMap<OperationSpec, Map<string, unknown>>();

/**
 * Examples written on the parameter or the media type (`parameters[].example`, `content.*.example`,
 * `examples`), which the plan does not read: they are the values that find real data (a search
 * term with results, a user that exists), so probes start from them when they are there.
 */
function examplesOf(doc: Obj, op: OperationSpec): Map<string, unknown> {
  const known = examples.get(op);
  if (known !== undefined) return known;
  const out = new Map<string, unknown>();
  const item = isObj(doc.paths) ? deref(doc, doc.paths[op.path]) : undefined;
  const operation = isObj(item) ? deref(doc, item[op.method.toLowerCase()]) : undefined;
  if (isObj(item) && isObj(operation)) {
    for (const raw of [
      ...(Array.isArray(item.parameters) ? item.parameters : []),
      ...(Array.isArray(operation.parameters) ? operation.parameters : []),
    ]) {
      const param = deref(doc, raw);
      if (!isObj(param)) continue;
      const v = firstExample(doc, param);
      if (v !== undefined) out.set(`${String(param.in)}:${String(param.name)}`, v);
    }
    const body = deref(doc, operation.requestBody);
    if (isObj(body) && isObj(body.content))
      for (const [media, entry] of Object.entries(body.content)) {
        const m = media.toLowerCase();
        if ((m === 'application/json' || m.endsWith('+json')) && isObj(entry)) {
          const v = firstExample(doc, entry);
          if (v !== undefined) out.set('body', v);
          break;
        }
      }
  }
  examples.set(op, out);
  return out;
}

/** The value a parameter gets: its own example, else one valid for its schema. */
export function paramValue(
  ctx: ScanContext,
  op: OperationSpec,
  where: string,
  name: string,
  schema: unknown,
) {
  const v = examplesOf(ctx.spec.doc, op).get(`${where}:${name}`);
  return v !== undefined ? v : exampleOf(ctx.spec.doc, schema);
}

/** The JSON body a probe starts from: the media type's example, else the plan's. */
export function bodyOf(ctx: ScanContext, p: PlannedOperation): unknown {
  const v = examplesOf(ctx.spec.doc, p.op).get('body');
  return v !== undefined ? structuredClone(v) : p.body;
}

/** Query and path parameters, then top-level JSON body fields, of an operation. */
export function pointsOf(ctx: ScanContext, p: PlannedOperation): Point[] {
  const doc = ctx.spec.doc;
  const out: Point[] = [];
  for (const param of p.op.params) {
    if (param.in !== 'query' && param.in !== 'path') continue;
    if (param.shape !== 'primitive' || param.json) continue;
    const schema = deref(doc, param.schema);
    out.push({
      in: param.in,
      name: param.name,
      original: paramValue(ctx, p.op, param.in, param.name, param.schema),
      schema: isObj(schema) ? schema : {},
    });
  }
  const body = bodyOf(ctx, p);
  if (isObj(body)) {
    const bodySchema = jsonBodySchema(ctx, p);
    const props = isObj(bodySchema) && isObj(bodySchema.properties) ? bodySchema.properties : {};
    for (const [name, value] of Object.entries(body)) {
      const schema = deref(doc, props[name]);
      out.push({ in: 'body', name, original: value, schema: isObj(schema) ? schema : {} });
    }
  }
  return out;
}

function jsonBodySchema(ctx: ScanContext, p: PlannedOperation): unknown {
  if (p.op.body === undefined) return undefined;
  for (const [media, schema] of p.op.body.content)
    if (media === 'application/json' || media.endsWith('+json')) return deref(ctx.spec.doc, schema);
  return undefined;
}

/** A point whose plan value is text (or a number a string could replace), for text payloads. */
export const isTextual = (pt: Point): boolean =>
  typeof pt.original === 'string' || typeof pt.original === 'number';

export interface Change {
  readonly point: Point;
  readonly value: unknown;
  /** The value is already URL-encoded as it must appear (path and query only). */
  readonly raw?: boolean;
}

export interface BuildOptions {
  readonly purpose: string;
  readonly as?: Identity | undefined;
  readonly timeoutMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Replace the whole JSON body (after changes are applied to the planned one). */
  readonly body?: unknown;
  /** Extra query, already encoded ("a=1&b=2"). */
  readonly extraQuery?: string;
  /** Optional query parameters to include with their example values. */
  readonly withOptional?: boolean;
  /** Query parameters to leave out. */
  readonly omit?: readonly string[];
}

const enc = (v: unknown): string => encodeURIComponent(typeof v === 'string' ? v : JSON.stringify(v));

/**
 * The planned request of `p`, with `changes` applied. Query: the required parameters (and the
 * changed ones) with their example values; path: the template filled the same way; body: the
 * planned JSON body with changed fields replaced.
 */
export function build(
  ctx: ScanContext,
  p: PlannedOperation,
  changes: readonly Change[],
  o: BuildOptions,
): ScanRequest {
  const changed = (where: PointLocation, name: string) =>
    changes.find((c) => c.point.in === where && c.point.name === name);
  let path = p.op.path;
  const query: string[] = [];
  for (const param of p.op.params) {
    const c = changed(param.in === 'path' ? 'path' : param.in === 'query' ? 'query' : 'body', param.name);
    if (param.in === 'path') {
      const value =
        c === undefined
          ? enc(paramValue(ctx, p.op, 'path', param.name, param.schema) ?? '1')
          : c.raw
            ? String(c.value)
            : enc(c.value);
      path = path.replaceAll(`{${param.name}}`, value);
    } else if (param.in === 'query') {
      if (o.omit?.includes(param.name)) continue;
      if (c !== undefined)
        query.push(`${encodeURIComponent(param.name)}=${c.raw ? String(c.value) : enc(c.value)}`);
      else if (param.required || o.withOptional === true)
        query.push(
          `${encodeURIComponent(param.name)}=${enc(paramValue(ctx, p.op, 'query', param.name, param.schema))}`,
        );
    }
  }
  if (o.extraQuery !== undefined && o.extraQuery !== '') query.push(o.extraQuery);
  let body: unknown = bodyOf(ctx, p);
  const bodyChanges = changes.filter((c) => c.point.in === 'body');
  if (bodyChanges.length > 0 && isObj(body)) {
    const copy: Record<string, unknown> = { ...body };
    for (const c of bodyChanges) copy[c.point.name] = c.value;
    body = copy;
  }
  if (o.body !== undefined) body = o.body;
  const headers: Record<string, string> = { accept: 'application/json, */*;q=0.5', ...(o.headers ?? {}) };
  if (body !== undefined && headers['content-type'] === undefined)
    headers['content-type'] = 'application/json';
  return {
    method: p.op.method,
    path: query.length === 0 ? path : `${path}?${query.join('&')}`,
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    ...(o.as === undefined ? {} : { as: o.as }),
    ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
    purpose: o.purpose,
  };
}

const LIST_KEYS = ['items', 'data', 'results', 'rows', 'records', 'content', 'list', 'entries', 'values'];

/** How many items a list answer holds: a JSON array, or the one array of a wrapper object. */
export function itemCount(json: unknown): number | undefined {
  if (Array.isArray(json)) return json.length;
  if (!isObj(json)) return undefined;
  for (const k of LIST_KEYS) {
    const v = json[k];
    if (Array.isArray(v)) return v.length;
  }
  const arrays = Object.values(json).filter(Array.isArray);
  return arrays.length === 1 ? (arrays[0] as unknown[]).length : undefined;
}

/** The body with every echo of the given values removed (as sent, JSON-escaped, URL-encoded). */
export function withoutEchoes(body: string, echoes: readonly string[]): string {
  let out = body;
  for (const e of echoes) {
    if (e.length < 3) continue;
    for (const form of new Set([e, JSON.stringify(e).slice(1, -1), encodeURIComponent(e)]))
      out = out.split(form).join('');
  }
  return out;
}

/**
 * Whether two answers say the same thing: same status, same number of items, and bodies of about
 * the same size once the payload's echoes are removed.
 */
export function sameAnswer(a: ScanResponse, b: ScanResponse, echoes: readonly string[] = []): boolean {
  if (a.status !== b.status) return false;
  const ca = itemCount(a.json);
  const cb = itemCount(b.json);
  if (ca !== undefined && cb !== undefined && ca !== cb) return false;
  const la = withoutEchoes(a.body, echoes).length;
  const lb = withoutEchoes(b.body, echoes).length;
  return Math.abs(la - lb) <= Math.max(16, 0.03 * Math.max(la, lb));
}

export const is2xx = (r: ScanResponse | undefined): boolean =>
  r !== undefined && r.status >= 200 && r.status < 300;

/** Runs `work` over `items` with at most `limit` at once (the HTTP layer paces the requests). */
export async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(lanes);
}

export interface Timed {
  readonly res: ScanResponse | undefined;
  /** Wall-clock ms; a timed-out request counts as its timeout. */
  readonly ms: number;
  readonly timedOut: boolean;
}

/** Sends and measures; "no answer after the whole timeout" is told apart from "refused at once". */
export async function timedSend(ctx: ScanContext, req: ScanRequest): Promise<Timed> {
  const started = performance.now();
  const res = await ctx.http.send(req);
  const ms = performance.now() - started;
  if (res !== undefined) return { res, ms: res.ms, timedOut: false };
  const limit = req.timeoutMs ?? 5000;
  return { res, ms, timedOut: !ctx.http.dryRun && ms >= limit * 0.9 };
}

/** Least extra delay (ms over the slowest baseline) that counts as "the payload made it wait". */
export const MIN_DELAY_MS = 1500;
/** A no-delay payload must answer within this of the slowest baseline. */
const QUICK_MS = 1000;
/** The payload asking for twice the delay must wait at least this much longer than the first. */
const STEP_MS = 700;
/** Baseline samples; the slowest one counts, so ordinary jitter raises the bar instead of passing it. */
const BASELINE_SAMPLES = 3;

export interface TimeProbe {
  /** The request with a payload asking for a delay of about 2 s. */
  readonly slow: ScanRequest;
  /** The same with a payload asking for no delay (confirmation). */
  readonly fast: ScanRequest;
  /**
   * The same asking for twice the delay (about 4 s; give it a longer timeout). When given, the wait
   * must follow the amount asked for: a slow answer by chance does not grow with the number.
   */
  readonly longer?: ScanRequest;
}

export interface TimeFinding {
  readonly baselineMs: number;
  readonly slow: Timed;
  readonly fast: Timed;
  /** The answer to `probe.longer`, when the probe had one. */
  readonly longer?: Timed;
  /** Without `longer`: the slow payload sent a second time. */
  readonly again?: Timed;
  readonly probe: TimeProbe;
}

/** Answered, or got no answer within its whole timeout (a wait that long is a delay too). */
const waited = (t: Timed): boolean => t.res !== undefined || t.timedOut;

/** Extra wait over the baseline when the payload delayed the answer by about as much as asked. */
const delayOf = (t: Timed, base: number): number | undefined =>
  waited(t) && t.ms - base >= MIN_DELAY_MS ? t.ms - base : undefined;

const quick = (t: Timed, base: number): boolean => t.res !== undefined && t.ms - base < QUICK_MS;

/**
 * Time-based detection that never turns an uneven API into a finding: the slowest of several
 * baseline requests sets the bar, then each probe alternates delay and no-delay payloads —
 * slow, zero, twice as slow, zero (without `longer`: slow, zero, slow, zero, slow) — and counts
 * only when every delay payload waited ≥ MIN_DELAY_MS over the bar, repeated slow answers agree,
 * both zero payloads answered near the baseline, and the doubled payload waited clearly longer but
 * not out of proportion. Stops at the first step that fails: one request per probe on an API that
 * is not vulnerable, at most 3 + 5 on one that is.
 */
export async function timeBased(
  ctx: ScanContext,
  baseline: ScanRequest,
  probes: readonly TimeProbe[],
): Promise<TimeFinding | undefined> {
  let base = 0;
  for (let i = 0; i < BASELINE_SAMPLES; i++) {
    const b = await timedSend(ctx, baseline);
    if (b.res === undefined) return undefined;
    base = Math.max(base, b.ms);
  }
  for (const probe of probes) {
    const hit = await confirm(ctx, probe, base);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

async function confirm(ctx: ScanContext, probe: TimeProbe, base: number): Promise<TimeFinding | undefined> {
  const slow = await timedSend(ctx, probe.slow);
  const d1 = delayOf(slow, base);
  if (d1 === undefined) return undefined;
  const fast = await timedSend(ctx, probe.fast);
  if (!quick(fast, base)) return undefined;
  // The same payload waits about as long each time.
  const steady = (t: Timed) => {
    const d = delayOf(t, base);
    return d !== undefined && Math.abs(d - d1) <= Math.max(QUICK_MS, d1 / 2);
  };
  if (probe.longer !== undefined) {
    const longer = await timedSend(ctx, probe.longer);
    const d2 = delayOf(longer, base);
    // Twice the sleep: clearly longer than the first (an API may cap the wait, so not exactly 2×),
    // and not wildly more (a stall by chance).
    if (d2 === undefined || d2 < d1 + STEP_MS || d2 > 2 * d1 + MIN_DELAY_MS) return undefined;
    if (!quick(await timedSend(ctx, probe.fast), base)) return undefined;
    return { baselineMs: base, slow, fast, longer, probe };
  }
  // Nothing to scale: the slow payload twice more, a zero one between (three slow answers by
  // chance, each as slow as the first, are rare).
  const again = await timedSend(ctx, probe.slow);
  if (!steady(again)) return undefined;
  if (!quick(await timedSend(ctx, probe.fast), base)) return undefined;
  const third = await timedSend(ctx, probe.slow);
  if (!steady(third)) return undefined;
  return { baselineMs: base, slow, fast, again, probe };
}

export const LOOPBACK_HOST = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\]|::1)$/i;

/** The operations worth probing with GET-only checks: GETs first. */
export const byMethod = (ops: readonly PlannedOperation[], method: string): PlannedOperation[] =>
  ops.filter((o) => o.op.method === method);

/** Counts requests a check spent so it can stop at its own share of the budget. */
export class Allowance {
  #left: number;
  constructor(ctx: ScanContext, cap: number, share: number) {
    this.#left = Math.min(cap, Math.floor(ctx.http.remaining * share));
  }
  take(n = 1): boolean {
    if (this.#left < n) return false;
    this.#left -= n;
    return true;
  }
  get left(): number {
    return this.#left;
  }
}

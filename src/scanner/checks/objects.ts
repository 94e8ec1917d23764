import { randomBytes } from 'node:crypto';
import { deref, isObj, type Obj } from '../../openapi/load.js';
import { targetOf } from '../plan.js';
import type {
  Evidence,
  Identity,
  PlannedOperation,
  ScanContext,
  ScanRequest,
  ScanResponse,
} from '../types.js';

/**
 * What the object-level checks (API1, API2, API3, API5) share: finding a spec's resources (a create
 * operation and its item operations), creating objects the scan owns, reading ids out of answers,
 * and the shape of the schemas they compare answers with.
 */

/** A collection the spec lets a caller add to, and the operations on one of its items. */
export interface Resource {
  /** POST on the collection ("POST /pets"). */
  readonly create: PlannedOperation;
  /** The item path parameter ("id" in "/pets/{id}"). */
  readonly param: string;
  /** Item operations by method: GET, PUT, PATCH, DELETE. */
  readonly items: ReadonlyMap<string, PlannedOperation>;
}

/** An object the scan created, with the answer that created it. */
export interface Created {
  readonly id: string;
  /** Concrete item path ("/pets/42"), without query. */
  readonly path: string;
  readonly request: ScanRequest;
  readonly response: ScanResponse;
}

export const JSON_HEADERS: Readonly<Record<string, string>> = { 'content-type': 'application/json' };

export const is2xx = (r: ScanResponse | undefined): r is ScanResponse =>
  r !== undefined && r.status >= 200 && r.status < 300;

/** A value no API holds by chance, to recognize what the scan wrote. */
export const marker = (what: string): string => `portcullis-${what}-${randomBytes(4).toString('hex')}`;

const LAST_PARAM = /^(.*)\/\{([^}/]+)\}$/;

/** Sign-in operations are never treated as resources or writes (they are API2's). */
export function isLogin(p: PlannedOperation): boolean {
  if (p.op.method !== 'POST' || !/(log-?in|sign-?in|token|auth)/i.test(p.op.path)) return false;
  return passwordField(p.body) !== undefined;
}

export function passwordField(body: unknown): string | undefined {
  if (!isObj(body)) return undefined;
  return Object.keys(body).find((k) => /^(pass(word)?|passwd|pwd)$/i.test(k));
}

/** Every POST on a collection that has at least one item operation under it. */
export function findResources(ops: readonly PlannedOperation[]): Resource[] {
  const out: Resource[] = [];
  for (const create of ops) {
    if (create.op.method !== 'POST' || create.op.path.endsWith('}') || isLogin(create)) continue;
    const items = new Map<string, PlannedOperation>();
    let param = '';
    for (const op of ops) {
      const m = LAST_PARAM.exec(op.op.path);
      if (m === null || m[1] !== create.op.path) continue;
      if (!['GET', 'PUT', 'PATCH', 'DELETE'].includes(op.op.method)) continue;
      param = m[2] as string;
      items.set(op.op.method, op);
    }
    if (items.size > 0) out.push({ create, param, items });
  }
  return out;
}

/** The object in an answer: the body itself, or under a usual envelope ("data", "item", …). */
export function objectOf(json: unknown): Obj | undefined {
  if (!isObj(json)) return undefined;
  for (const key of ['data', 'item', 'result', 'resource']) {
    const inner = json[key];
    if (isObj(inner) && !('id' in json)) return inner;
  }
  return json;
}

/** The id of an object in an answer: "id", the path parameter's name, "_id", "uuid". */
export function idOf(json: unknown, param: string): string | undefined {
  const obj = objectOf(json);
  if (obj === undefined) return undefined;
  for (const key of ['id', param, '_id', 'uuid', 'ID']) {
    const v = obj[key];
    if (typeof v === 'string' && v !== '') return v;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  }
  return undefined;
}

/** The id in a Location header ("/pets/42" → "42"). */
function idFromLocation(res: ScanResponse): string | undefined {
  const loc = res.headers.location;
  if (loc === undefined) return undefined;
  const last = loc.split('?')[0]?.split('/').filter(Boolean).pop();
  if (last === undefined) return undefined;
  try {
    return decodeURIComponent(last);
  } catch {
    // A broken percent-escape: no id can be read from it.
    return undefined;
  }
}

/** Email and user-name example values made unique, so creating twice does not collide (409). */
export function uniqueBody(body: unknown): unknown {
  if (!isObj(body)) return body;
  const out: Obj = { ...body };
  const tag = randomBytes(3).toString('hex');
  for (const [k, v] of Object.entries(out)) {
    if (typeof v !== 'string') continue;
    if (/e-?mail/i.test(k) && v.includes('@')) out[k] = v.replace('@', `${tag}@`);
    else if (/^(user-?name|login|handle|slug)$/i.test(k)) out[k] = `${v}${tag}`;
  }
  return out;
}

/** "/pets" + id → "/pets/42" (the collection's example path keeps its parent parameters). */
export function itemPath(resource: Resource, id: string): string {
  return `${resource.create.path}/${encodeURIComponent(id)}`;
}

/** The item operation's path and query for one object. */
export function itemTarget(resource: Resource, method: string, id: string): string {
  const op = resource.items.get(method);
  const path = itemPath(resource, id);
  return op === undefined || op.query === '' ? path : `${path}?${op.query}`;
}

/**
 * Objects the scan created, per scan (item paths without query): the only objects a check may
 * change or delete. A module-level map keyed by the scan's context, since the context is fixed.
 */
const createdByScan = new WeakMap<ScanContext, Set<string>>();

function registry(ctx: ScanContext): Set<string> {
  let set = createdByScan.get(ctx);
  if (set === undefined) {
    set = new Set();
    createdByScan.set(ctx, set);
  }
  return set;
}

/** Whether the item path (query ignored) names an object this scan created and has not deleted. */
export const isCreatedByScan = (ctx: ScanContext, path: string): boolean =>
  registry(ctx).has(path.split('?')[0] as string);

/** Ids a list read showed before the scan created anything there, per collection path. */
const seenBefore = new WeakMap<ScanContext, Map<string, Promise<ReadonlySet<string> | undefined>>>();

/** The ids the collection's list operation answers (as `as`); undefined when there is no list read. */
function idsBefore(ctx: ScanContext, resource: Resource, as: Identity | undefined) {
  let byPath = seenBefore.get(ctx);
  if (byPath === undefined) {
    byPath = new Map();
    seenBefore.set(ctx, byPath);
  }
  const key = `${resource.create.path} ${as?.name ?? ''}`;
  let ids = byPath.get(key);
  if (ids === undefined) {
    ids = readIds(ctx, resource, as);
    byPath.set(key, ids);
  }
  return ids;
}

async function readIds(ctx: ScanContext, resource: Resource, as: Identity | undefined) {
  const list = ctx.operations.find((o) => o.op.method === 'GET' && o.op.path === resource.create.op.path);
  if (list === undefined) return undefined;
  const res = await ctx.http.send({
    method: 'GET',
    path: targetOf(list),
    ...(as === undefined ? {} : { as }),
    purpose: 'which objects exist before the scan creates one (never delete those)',
  });
  if (!is2xx(res)) return undefined;
  const ids = new Set<string>();
  for (const item of listItems(res.json)) {
    const id = idOf(item, resource.param);
    if (id !== undefined) ids.add(id);
  }
  return ids;
}

const FREE_TEXT =
  /^(text|title|name|description|desc|note|notes|comment|content|body|summary|label|message|remark|memo|subject|caption|bio)$/i;

/**
 * A top-level string field the create body may carry a marker in: a free-text name whose schema
 * allows the marker (no enum, format or pattern; long enough).
 */
function markerField(ctx: ScanContext, resource: Resource, body: Obj, length: number): string | undefined {
  const schema = deref(ctx.spec.doc, requestSchema(resource.create));
  const props = isObj(schema) && isObj(schema.properties) ? schema.properties : {};
  return Object.keys(body).find((k) => {
    if (!FREE_TEXT.test(k) || typeof body[k] !== 'string') return false;
    const s = deref(ctx.spec.doc, props[k]);
    if (!isObj(s)) return true;
    if (s.enum !== undefined || s.format !== undefined || s.pattern !== undefined) return false;
    return typeof s.maxLength !== 'number' || s.maxLength >= length;
  });
}

/**
 * Whether a 2xx answer to a create is an object this scan made: its marker came back, or the
 * answer is 201 with an id a list read did not show before. A find-or-create endpoint answers
 * with an existing object, which the scan must never change or delete.
 */
async function isNewObject(
  ctx: ScanContext,
  resource: Resource,
  as: Identity | undefined,
  response: ScanResponse,
  id: string,
  mark: string | undefined,
): Promise<boolean> {
  if (mark !== undefined && response.body.includes(mark)) return true;
  if (response.status !== 201) return false;
  const before = await idsBefore(ctx, resource, as);
  return before !== undefined && !before.has(id);
}

const notedNotOurs = new WeakMap<ScanContext, Set<string>>();

/** Says once per collection that an answer to a create was not provably a new object. */
export function noteNotOurs(ctx: ScanContext, resource: Resource, id: string): void {
  let set = notedNotOurs.get(ctx);
  if (set === undefined) {
    set = new Set();
    notedNotOurs.set(ctx, set);
  }
  if (set.has(resource.create.label)) return;
  set.add(resource.create.label);
  ctx.note(
    `${resource.create.label} answered with object ${id} that the scan cannot prove it created (no marker echoed, not a 201 with a new id): it was left alone (never changed or deleted), and tests that need an object of the scan's own there were skipped`,
  );
}

/**
 * Creates one object as `as` (its example body, with `extra` fields, a marker in a free-text
 * field); undefined if that failed or the answer is not provably a new object (find-or-create).
 */
export async function createObject(
  ctx: ScanContext,
  resource: Resource,
  as: Identity | undefined,
  purpose: string,
  extra: Obj = {},
): Promise<Created | undefined> {
  const base = uniqueBody(resource.create.body ?? {});
  const body = isObj(base) ? { ...base, ...extra } : base;
  let mark: string | undefined;
  if (isObj(body)) {
    const m = marker('s');
    const field = markerField(ctx, resource, body, m.length);
    if (field !== undefined) {
      body[field] = m;
      mark = m;
    }
  }
  // Read what exists before creating, so a 201 for an old object is told apart.
  if (mark === undefined) await idsBefore(ctx, resource, as);
  const request: ScanRequest = {
    method: 'POST',
    path: targetOf(resource.create),
    headers: JSON_HEADERS,
    body: JSON.stringify(body),
    ...(as === undefined ? {} : { as }),
    purpose,
  };
  const response = await ctx.http.send(request);
  if (!is2xx(response)) return undefined;
  const id = idOf(response.json, resource.param) ?? idFromLocation(response);
  if (id === undefined) return undefined;
  if (!(await isNewObject(ctx, resource, as, response, id, mark))) {
    noteNotOurs(ctx, resource, id);
    return undefined;
  }
  const path = itemPath(resource, id);
  registry(ctx).add(path);
  return { id, path, request, response };
}

/** Deletes what the scan created (never anything else); failures are ignored. */
export async function cleanUp(
  ctx: ScanContext,
  resource: Resource,
  objects: readonly { readonly id: string; readonly as: Identity | undefined }[],
): Promise<void> {
  for (const o of objects) {
    const path = itemPath(resource, o.id);
    // Only objects this scan created (and has not deleted already).
    if (!registry(ctx).has(path)) continue;
    if (!resource.items.has('DELETE')) continue;
    const res = await ctx.http.send({
      method: 'DELETE',
      path: itemTarget(resource, 'DELETE', o.id),
      ...(o.as === undefined ? {} : { as: o.as }),
      purpose: 'clean-up: delete an object the scan created',
    });
    if (res !== undefined && (res.status === 404 || (res.status >= 200 && res.status < 300)))
      registry(ctx).delete(path);
  }
}

/** The first items of a list answer: the array itself or the first array under the object. */
export function listItems(json: unknown): unknown[] {
  if (Array.isArray(json)) return json;
  if (!isObj(json)) return [];
  for (const key of ['items', 'data', 'results', 'content', 'records', 'list']) {
    const v = json[key];
    if (Array.isArray(v)) return v;
  }
  const first = Object.values(json).find(Array.isArray);
  return Array.isArray(first) ? first : [];
}

/**
 * A path that names an object that exists: for "GET /pets/{id}" the collection "GET /pets" is
 * read (as `as`) and its first item's id used; else the planned example path. Cached per template.
 */
export class RealPaths {
  readonly #ctx: ScanContext;
  readonly #cache = new Map<string, Promise<string | undefined>>();

  constructor(ctx: ScanContext) {
    this.#ctx = ctx;
  }

  async of(p: PlannedOperation, as: Identity | undefined): Promise<string> {
    const m = LAST_PARAM.exec(p.op.path);
    if (m === null) return targetOf(p);
    const collection = m[1] as string;
    let base = this.#cache.get(collection);
    if (base === undefined) {
      base = this.#lookup(collection, m[2] as string, as);
      this.#cache.set(collection, base);
    }
    const found = await base;
    if (found === undefined) return targetOf(p);
    return p.query === '' ? found : `${found}?${p.query}`;
  }

  async #lookup(collection: string, param: string, as: Identity | undefined): Promise<string | undefined> {
    const list = this.#ctx.operations.find((o) => o.op.method === 'GET' && o.op.path === collection);
    if (list === undefined) return undefined;
    const res = await this.#ctx.http.send({
      method: 'GET',
      path: targetOf(list),
      ...(as === undefined ? {} : { as }),
      purpose: 'find an existing object to address',
    });
    if (!is2xx(res)) return undefined;
    const first = listItems(res.json)[0];
    const id = idOf(first, param);
    return id === undefined ? undefined : `${list.path}/${encodeURIComponent(id)}`;
  }
}

/** The raw operation object of the description (for extensions other than x-portcullis-*). */
export function rawOperation(doc: Obj, p: PlannedOperation): Obj | undefined {
  const paths = doc.paths;
  if (!isObj(paths)) return undefined;
  const item = deref(doc, paths[p.op.path]);
  if (!isObj(item)) return undefined;
  const op = item[p.op.method.toLowerCase()];
  return isObj(op) ? op : undefined;
}

/** Declared properties of an object schema (allOf/oneOf/anyOf merged); undefined when none declared. */
export interface Shape {
  readonly properties: ReadonlySet<string>;
  /** additionalProperties is true or a schema: any other field is allowed. */
  readonly open: boolean;
}

export function shapeOf(doc: Obj, schema: unknown, depth = 0): Shape | undefined {
  const s = deref(doc, schema);
  if (!isObj(s) || depth > 8) return undefined;
  const props = new Set<string>();
  let open = s.additionalProperties === true || isObj(s.additionalProperties);
  let declared = false;
  if (isObj(s.properties)) {
    declared = true;
    for (const k of Object.keys(s.properties)) props.add(k);
  }
  for (const key of ['allOf', 'oneOf', 'anyOf'] as const) {
    const list = s[key];
    if (!Array.isArray(list)) continue;
    for (const part of list) {
      const sub = shapeOf(doc, part, depth + 1);
      if (sub === undefined) continue;
      declared = true;
      open ||= sub.open;
      for (const k of sub.properties) props.add(k);
    }
  }
  return declared ? { properties: props, open } : undefined;
}

/** The JSON schema of the request body, if any. */
export function requestSchema(p: PlannedOperation): unknown {
  if (p.op.body === undefined) return undefined;
  for (const [media, schema] of p.op.body.content) if (media.includes('json')) return schema;
  return undefined;
}

/** The JSON schema of the answer for `status` (exact, then 2XX, then default). */
export function responseSchema(p: PlannedOperation, status: number): unknown {
  for (const key of [String(status), `${Math.floor(status / 100)}XX`, 'DEFAULT']) {
    const media = p.op.responses.get(key);
    if (media === undefined) continue;
    for (const [m, schema] of media) if (m.includes('json')) return schema;
    return undefined;
  }
  return undefined;
}

/** Evidence that needs no request (offline findings). */
export function offlineEvidence(note: string): Evidence {
  return { request: { headers: {} }, note };
}

/**
 * The id of an answer too large to parse (its body was cut at 256 KiB, a 2 MiB echo): only when it
 * is the first field of the top-level object, so a nested object's id is never taken for it.
 */
function leadingId(body: string, param: string): string | undefined {
  const m = /^\s*\{\s*"([^"\\]{1,64})"\s*:\s*(?:(-?\d{1,30})\b|"([^"\\]{1,200})")/.exec(body);
  if (m === null || !['id', param, '_id', 'uuid', 'ID'].includes(m[1] as string)) return undefined;
  return m[2] ?? m[3];
}

/** Reads that change nothing (sign-in included: it is how a caller reads a token). */
const isRead = (p: PlannedOperation): boolean =>
  ['GET', 'HEAD', 'OPTIONS'].includes(p.op.method) || isLogin(p);

/**
 * The one write-safety guard of the probing checks (API4, API9, injection): a probe is sent only
 * when it cannot harm data the scan did not create. Reads and sign-ins go out as they are;
 * PUT/PATCH/DELETE only to an object this scan created (never to a spec's example id, never to
 * a path without parameters such as "/me": that is the caller's own account); POST only to a
 * collection whose objects can be deleted again, and each object it creates is deleted at once.
 * What is skipped is said in one note per check.
 */
export class WriteGuard {
  readonly #ctx: ScanContext;
  readonly #check: string;
  /** Operation label → why its probes were not sent. */
  readonly #skipped = new Map<string, string>();
  readonly #leftBehind = new Set<string>();
  readonly #resources: readonly Resource[];

  constructor(ctx: ScanContext, check: string) {
    this.#ctx = ctx;
    this.#check = check;
    this.#resources = findResources(ctx.operations);
  }

  /** Only reads: for probes sent where the guard cannot clean up (time-based ones). */
  readOnly(p: PlannedOperation): boolean {
    if (isRead(p)) return true;
    this.#skip(p, 'these probes go to reads only, as they send requests no clean-up could follow');
    return false;
  }

  #skip(p: PlannedOperation, why?: string): void {
    if (this.#skipped.has(p.label)) return;
    const m = p.op.method;
    const reason =
      why ??
      (m === 'POST'
        ? 'it would create an object the scan could not delete again (no DELETE on its items)'
        : p.op.params.some((x) => x.in === 'path')
          ? "it would change an object the scan did not create (the spec's example id)"
          : "it would change the caller's own record, which the scan could not restore");
    this.#skipped.set(p.label, reason);
  }

  /** Whether probes of `p` may be sent at all (reads, deletable creates, writes to the scan's own objects). */
  allows(p: PlannedOperation): boolean {
    if (isRead(p) || this.#deletableCreate(p) !== undefined) return true;
    const m = p.op.method;
    if ((m === 'PUT' || m === 'PATCH' || m === 'DELETE') && p.op.params.some((x) => x.in === 'path'))
      return true; // decided per request: only paths of objects the scan created
    this.#skip(p);
    return false;
  }

  #deletableCreate(p: PlannedOperation): Resource | undefined {
    return this.#resources.find((r) => r.create === p && r.items.has('DELETE'));
  }

  /** Sends `req` (built from `p`) through `send` when it is safe; undefined when it was not sent. */
  async send(
    p: PlannedOperation,
    req: ScanRequest,
    send: (req: ScanRequest) => Promise<ScanResponse | undefined>,
  ): Promise<ScanResponse | undefined> {
    if (isRead(p)) return send(req);
    const resource = this.#deletableCreate(p);
    if (resource !== undefined) return this.#create(resource, req, send);
    const m = p.op.method;
    if ((m === 'PUT' || m === 'PATCH' || m === 'DELETE') && p.op.params.some((x) => x.in === 'path')) {
      if (isCreatedByScan(this.#ctx, req.path)) return send(req);
    }
    this.#skip(p);
    return undefined;
  }

  async #create(
    resource: Resource,
    req: ScanRequest,
    send: (req: ScanRequest) => Promise<ScanResponse | undefined>,
  ): Promise<ScanResponse | undefined> {
    // What exists before, so an answer naming an old object is never deleted.
    await idsBefore(this.#ctx, resource, req.as);
    const res = await send(req);
    if (!is2xx(res)) return res;
    const id = idOf(res.json, resource.param) ?? idFromLocation(res) ?? leadingId(res.body, resource.param);
    if (id === undefined || !(await isNewObject(this.#ctx, resource, req.as, res, id, undefined))) {
      this.#leftBehind.add(resource.create.label);
      return res;
    }
    const del = await this.#ctx.http.send({
      method: 'DELETE',
      path: itemTarget(resource, 'DELETE', id),
      ...(req.as === undefined ? {} : { as: req.as }),
      purpose: 'clean-up: delete an object a probe created',
    });
    if (del === undefined || (del.status !== 404 && (del.status < 200 || del.status >= 300)))
      this.#leftBehind.add(resource.create.label);
    return res;
  }

  /** One note for the check: what was not tested for safety, and what may be left behind. */
  done(): void {
    if (this.#skipped.size > 0)
      this.#ctx.note(
        `${this.#check}: not tested, so that no data the scan did not create is changed: ${[...this.#skipped]
          .map(([label, why]) => `${label} (${why})`)
          .join('; ')}`,
      );
    if (this.#leftBehind.size > 0)
      this.#ctx.note(
        `${this.#check}: ${[...this.#leftBehind].join(', ')} answered 2xx to a probe with an object the scan could not prove new or could not delete: it was left in place`,
      );
  }
}

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
  return last === undefined ? undefined : decodeURIComponent(last);
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

/** Creates one object as `as` (its example body, with `extra` fields); undefined if that failed. */
export async function createObject(
  ctx: ScanContext,
  resource: Resource,
  as: Identity | undefined,
  purpose: string,
  extra: Obj = {},
): Promise<Created | undefined> {
  const base = uniqueBody(resource.create.body ?? {});
  const body = isObj(base) ? { ...base, ...extra } : base;
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
  return { id, path: itemPath(resource, id), request, response };
}

/** Deletes what the scan created (never anything else); failures are ignored. */
export async function cleanUp(
  ctx: ScanContext,
  resource: Resource,
  objects: readonly { readonly id: string; readonly as: Identity | undefined }[],
): Promise<void> {
  if (!resource.items.has('DELETE')) return;
  for (const o of objects)
    await ctx.http.send({
      method: 'DELETE',
      path: itemTarget(resource, 'DELETE', o.id),
      ...(o.as === undefined ? {} : { as: o.as }),
      purpose: 'clean-up: delete an object the scan created',
    });
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

import { deref, isObj, type LoadedSpec, type Obj } from './load.js';

export type ParamLocation = 'path' | 'query' | 'header' | 'cookie';
export type ParamShape = 'array' | 'object' | 'primitive';

export interface ParamSpec {
  readonly name: string;
  readonly in: ParamLocation;
  readonly required: boolean;
  readonly schema: unknown;
  readonly style: string;
  readonly explode: boolean;
  readonly shape: ParamShape;
  /** Declared properties of an object parameter (form-exploded objects spread them over the query). */
  readonly properties: readonly string[];
  /** A parameter given by `content` (e.g. JSON in the query) rather than a schema. */
  readonly json: boolean;
}

export interface OperationSpec {
  /** operationId, or "METHOD /path" when the description has none. */
  readonly id: string;
  readonly method: string;
  /** The description's path template ("/pets/{petId}"). */
  readonly path: string;
  readonly summary: string | undefined;
  readonly tags: readonly string[];
  readonly deprecated: boolean;
  readonly params: readonly ParamSpec[];
  /** Media type → schema (undefined when a media type is declared without one). */
  readonly body: { readonly required: boolean; readonly content: ReadonlyMap<string, unknown> } | undefined;
  /** Status key ("200", "2XX", "default") → media type → schema. */
  readonly responses: ReadonlyMap<string, ReadonlyMap<string, unknown>>;
  /** Effective security requirements (the operation's, else the document's); [] means none needed. */
  readonly security: readonly Readonly<Record<string, readonly string[]>>[] | undefined;
  /** x-portcullis-* extensions of the path item and the operation. */
  readonly extensions: Readonly<Obj>;
}

export const OPERATION_METHODS = [
  'get',
  'put',
  'post',
  'delete',
  'options',
  'head',
  'patch',
  'trace',
] as const;

const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization']);

function shapeOf(doc: Obj, schema: unknown): { shape: ParamShape; properties: string[] } {
  const s = deref(doc, schema);
  if (!isObj(s)) return { shape: 'primitive', properties: [] };
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  if (type === 'array' || (type === undefined && s.items !== undefined))
    return { shape: 'array', properties: [] };
  if (type === 'object' || (type === undefined && isObj(s.properties))) {
    return { shape: 'object', properties: isObj(s.properties) ? Object.keys(s.properties) : [] };
  }
  return { shape: 'primitive', properties: [] };
}

function param(doc: Obj, raw: Obj, unsupported: string[], where: string): ParamSpec | undefined {
  const location = raw.in as ParamLocation;
  const name = String(raw.name);
  if (location === 'header' && IGNORED_HEADERS.has(name.toLowerCase())) return undefined;
  let schema: unknown = raw.schema ?? {};
  let json = false;
  if (isObj(raw.content)) {
    const [media, entry] = Object.entries(raw.content)[0] ?? [];
    if (media !== undefined && (media === 'application/json' || media.endsWith('+json'))) {
      json = true;
      schema = isObj(entry) ? (entry.schema ?? {}) : {};
    } else unsupported.push(`${where}: parameter "${name}" in ${media ?? '?'} is checked for presence only`);
  }
  const style =
    typeof raw.style === 'string'
      ? raw.style
      : location === 'query' || location === 'cookie'
        ? 'form'
        : 'simple';
  const explode = typeof raw.explode === 'boolean' ? raw.explode : style === 'form';
  const { shape, properties } = shapeOf(doc, schema);
  return {
    name,
    in: location,
    required: raw.required === true || location === 'path',
    schema,
    style,
    explode,
    shape,
    properties,
    json,
  };
}

function statusMap(doc: Obj, responses: unknown): Map<string, Map<string, unknown>> {
  const out = new Map<string, Map<string, unknown>>();
  if (!isObj(responses)) return out;
  for (const [code, r] of Object.entries(responses)) {
    const resp = deref(doc, r);
    const media = new Map<string, unknown>();
    if (isObj(resp) && isObj(resp.content))
      for (const [m, entry] of Object.entries(resp.content))
        media.set(m.toLowerCase(), isObj(entry) ? entry.schema : undefined);
    out.set(code.toUpperCase(), media);
  }
  return out;
}

function extensionsOf(...sources: Obj[]): Obj {
  const out: Obj = {};
  for (const s of sources)
    for (const [k, v] of Object.entries(s)) if (k.startsWith('x-portcullis-')) out[k] = v;
  return out;
}

/** Every operation of the description, with parameters merged (path item + operation) and `$ref`s followed. */
export function operationsOf(spec: LoadedSpec, unsupported: string[] = []): OperationSpec[] {
  const doc = spec.doc;
  const out: OperationSpec[] = [];
  const docSecurity = Array.isArray(doc.security) ? (doc.security as Record<string, string[]>[]) : undefined;
  for (const [path, rawItem] of Object.entries(isObj(doc.paths) ? doc.paths : {})) {
    const item = deref(doc, rawItem);
    if (!isObj(item)) continue;
    const shared = Array.isArray(item.parameters) ? item.parameters : [];
    for (const method of OPERATION_METHODS) {
      const op = item[method];
      if (!isObj(op)) continue;
      const where = `${method.toUpperCase()} ${path}`;
      const merged = new Map<string, Obj>();
      for (const p of [...shared, ...(Array.isArray(op.parameters) ? op.parameters : [])]) {
        const r = deref(doc, p);
        if (isObj(r)) merged.set(`${String(r.in)}:${String(r.name)}`, r);
      }
      const params: ParamSpec[] = [];
      for (const r of merged.values()) {
        const p = param(doc, r, unsupported, where);
        if (p !== undefined) params.push(p);
      }
      let body: OperationSpec['body'];
      const rb = deref(doc, op.requestBody);
      if (isObj(rb)) {
        const content = new Map<string, unknown>();
        if (isObj(rb.content))
          for (const [m, entry] of Object.entries(rb.content))
            content.set(m.toLowerCase(), isObj(entry) ? entry.schema : undefined);
        body = { required: rb.required === true, content };
      }
      if (isObj(op.callbacks))
        unsupported.push(`${where}: callbacks are not enforced (they are calls the API makes)`);
      out.push({
        id: typeof op.operationId === 'string' ? op.operationId : where,
        method: method.toUpperCase(),
        path,
        summary: typeof op.summary === 'string' ? op.summary : undefined,
        tags: Array.isArray(op.tags) ? (op.tags as string[]) : [],
        deprecated: op.deprecated === true,
        params,
        body,
        responses: statusMap(doc, op.responses),
        security: Array.isArray(op.security) ? (op.security as Record<string, string[]>[]) : docSecurity,
        extensions: extensionsOf(item, op),
      });
    }
  }
  return out;
}

/** "/pets/{petId}/photo.{ext}" → find-my-way's "/pets/:petId/photo.:ext" (literal ":" doubled). */
export function routerPath(template: string): string {
  let out = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i] as string;
    if (c === '{') {
      const end = template.indexOf('}', i);
      if (end === -1) return out + template.slice(i).replaceAll(':', '::');
      out += `:${template.slice(i + 1, end).replace(/[^A-Za-z0-9_]/g, '_')}`;
      i = end + 1;
      // find-my-way ends a parameter at "-" or "."; anything else right after it needs a separator.
      continue;
    }
    out += c === ':' ? '::' : c;
    i++;
  }
  return out;
}

/** Does a route path ("/api/*", "/orders/:id") take requests for this operation path? */
export function routeCovers(routePath: string, opPath: string): boolean {
  const r = routePath.split('/');
  const o = opPath.split('/');
  for (let i = 0; i < r.length; i++) {
    const seg = r[i] as string;
    if (seg === '*' && i === r.length - 1) return o.length >= r.length;
    if (i >= o.length) return false;
    const os = o[i] as string;
    if (seg.startsWith(':')) continue;
    if (seg !== os) return false;
  }
  return r.length === o.length;
}

/**
 * Swagger 2.0 → OpenAPI 3.0, for the parts Portcullis enforces: servers, parameters (with
 * collectionFormat as style/explode), body and form parameters as request bodies, responses per
 * produced media type, definitions and security schemes. What has no 3.0 equivalent is reported.
 *
 * Written here rather than taken from swagger2openapi: that package pulls in ~35 unmaintained
 * transitive packages (node-fetch 2, yargs, should) for a conversion this gateway needs a slice of.
 */

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

const REF_MOVES: readonly [string, string][] = [
  ['#/definitions/', '#/components/schemas/'],
  ['#/parameters/', '#/components/parameters/'],
  ['#/responses/', '#/components/responses/'],
];

/** Follows a local pointer in the 2.0 document. */
function at(doc: Obj, ref: string): unknown {
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
    node = isObj(node) ? node[key] : Array.isArray(node) ? node[Number(key)] : undefined;
  }
  return node;
}

/**
 * Rewrites every $ref of the 2.0 layout to its 3.0 place (body parameters go to requestBodies).
 * References into paths (bundling points shared schemas at their first use) are inlined: those
 * places move during the conversion.
 */
function moveRefs(value: unknown, bodyParams: ReadonlySet<string>, doc: Obj, depth = 0): unknown {
  if (Array.isArray(value)) return value.map((v) => moveRefs(v, bodyParams, doc, depth));
  if (!isObj(value)) return value;
  if (typeof value.$ref === 'string' && value.$ref.startsWith('#/paths/') && depth < 16)
    return moveRefs(at(doc, value.$ref), bodyParams, doc, depth + 1);
  const out: Obj = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '$ref' && typeof v === 'string') {
      let ref = v;
      for (const [from, to] of REF_MOVES) {
        if (ref.startsWith(from)) {
          const name = ref.slice(from.length);
          ref =
            from === '#/parameters/' && bodyParams.has(name)
              ? `#/components/requestBodies/${name}`
              : to + name;
          break;
        }
      }
      out[k] = ref;
    } else out[k] = moveRefs(v, bodyParams, doc, depth);
  }
  return out;
}

/** A 2.0 schema: x-nullable, file type, string discriminator. Nested schemas converted too. */
function schema(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(schema);
  if (!isObj(s)) return s;
  const out: Obj = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'x-nullable') out.nullable = v;
    else if (k === 'discriminator' && typeof v === 'string') out.discriminator = { propertyName: v };
    else if (k === 'type' && v === 'file') {
      out.type = 'string';
      out.format = 'binary';
    } else if (k === 'properties' && isObj(v)) {
      const props: Obj = {};
      for (const [name, p] of Object.entries(v)) props[name] = schema(p);
      out.properties = props;
    } else if (k === 'example' || k === 'x-example') out.example = v;
    else out[k] = isObj(v) || Array.isArray(v) ? schema(v) : v;
  }
  return out;
}

const SCHEMA_KEYS = [
  'type',
  'format',
  'items',
  'enum',
  'default',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'uniqueItems',
  'multipleOf',
];

/** collectionFormat → OpenAPI 3 style/explode. */
function styleOf(where: string, format: unknown, warnings: string[], at: string): Obj {
  switch (format) {
    case undefined:
    case 'csv':
      return where === 'query' || where === 'cookie'
        ? { style: 'form', explode: false }
        : { style: 'simple' };
    case 'multi':
      return { style: 'form', explode: true };
    case 'ssv':
      return { style: 'spaceDelimited', explode: false };
    case 'pipes':
      return { style: 'pipeDelimited', explode: false };
    default:
      warnings.push(`${at}: collectionFormat "${String(format)}" has no OpenAPI 3 equivalent; read as csv`);
      return where === 'query' ? { style: 'form', explode: false } : { style: 'simple' };
  }
}

function parameter(p: Obj, warnings: string[], at: string): Obj {
  if (typeof p.$ref === 'string') return p;
  const s: Obj = {};
  for (const k of SCHEMA_KEYS) if (k in p) s[k] = schema(p[k]);
  if (p.type === 'file') {
    s.type = 'string';
    s.format = 'binary';
  }
  const out: Obj = { name: p.name, in: p.in, schema: s };
  if (p.required !== undefined) out.required = p.required;
  if (p.description !== undefined) out.description = p.description;
  if (p.allowEmptyValue !== undefined) out.allowEmptyValue = p.allowEmptyValue;
  if (p.type === 'array') Object.assign(out, styleOf(String(p.in), p.collectionFormat, warnings, at));
  return out;
}

function bodyFromParam(p: Obj, consumes: readonly string[]): Obj {
  const content: Obj = {};
  for (const m of consumes) content[m] = { schema: schema(p.schema ?? {}) };
  const out: Obj = { content, required: p.required === true };
  if (p.description !== undefined) out.description = p.description;
  return out;
}

function formBody(params: readonly Obj[], consumes: readonly string[]): Obj {
  const properties: Obj = {};
  const required: string[] = [];
  let file = false;
  for (const p of params) {
    const s: Obj = {};
    for (const k of SCHEMA_KEYS) if (k in p) s[k] = schema(p[k]);
    if (p.type === 'file') {
      s.type = 'string';
      s.format = 'binary';
      file = true;
    }
    properties[String(p.name)] = s;
    if (p.required === true) required.push(String(p.name));
  }
  const obj: Obj = { type: 'object', properties };
  if (required.length) obj.required = required;
  const types = consumes.filter(
    (m) => m.startsWith('multipart/') || m === 'application/x-www-form-urlencoded',
  );
  if (types.length === 0) types.push(file ? 'multipart/form-data' : 'application/x-www-form-urlencoded');
  const content: Obj = {};
  for (const m of types) content[m] = { schema: obj };
  return { content, required: required.length > 0 };
}

function response(r: Obj, produces: readonly string[]): Obj {
  if (typeof r.$ref === 'string') return r;
  const out: Obj = { description: r.description ?? '' };
  if (r.schema !== undefined) {
    const content: Obj = {};
    for (const m of produces.length ? produces : ['application/json'])
      content[m] = { schema: schema(r.schema) };
    out.content = content;
  }
  if (isObj(r.headers)) {
    const headers: Obj = {};
    for (const [name, h] of Object.entries(r.headers)) {
      const s: Obj = {};
      if (isObj(h)) for (const k of SCHEMA_KEYS) if (k in h) s[k] = h[k];
      headers[name] = { schema: s };
    }
    out.headers = headers;
  }
  return out;
}

function securityScheme(s: Obj, warnings: string[], name: string): Obj {
  switch (s.type) {
    case 'basic':
      return { type: 'http', scheme: 'basic' };
    case 'apiKey':
      return { type: 'apiKey', name: s.name, in: s.in };
    case 'oauth2': {
      const scopes = isObj(s.scopes) ? s.scopes : {};
      const flow: Obj = { scopes };
      if (s.authorizationUrl !== undefined) flow.authorizationUrl = s.authorizationUrl;
      if (s.tokenUrl !== undefined) flow.tokenUrl = s.tokenUrl;
      const key =
        s.flow === 'application'
          ? 'clientCredentials'
          : s.flow === 'accessCode'
            ? 'authorizationCode'
            : s.flow === 'password'
              ? 'password'
              : 'implicit';
      return { type: 'oauth2', flows: { [key]: flow } };
    }
    default:
      warnings.push(`securityDefinitions.${name}: unknown type "${String(s.type)}"`);
      return { type: 'http', scheme: 'unknown' };
  }
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'];

/** Converts a Swagger 2.0 document (already bundled: internal $refs only). */
export function convertSwagger2(doc: Obj, warnings: string[]): Obj {
  const globalConsumes = Array.isArray(doc.consumes) ? (doc.consumes as string[]) : ['application/json'];
  const globalProduces = Array.isArray(doc.produces) ? (doc.produces as string[]) : ['application/json'];
  const globalParams = isObj(doc.parameters) ? doc.parameters : {};
  const bodyParams = new Set(
    Object.entries(globalParams)
      .filter(([, p]) => isObj(p) && (p.in === 'body' || p.in === 'formData'))
      .map(([n]) => n),
  );
  const src = moveRefs(doc, bodyParams, doc) as Obj;

  const components: Obj = {
    schemas: {},
    parameters: {},
    responses: {},
    requestBodies: {},
    securitySchemes: {},
  };
  if (isObj(src.definitions))
    for (const [n, s] of Object.entries(src.definitions)) (components.schemas as Obj)[n] = schema(s);
  if (isObj(src.parameters)) {
    for (const [n, p] of Object.entries(src.parameters)) {
      if (!isObj(p)) continue;
      if (p.in === 'body') (components.requestBodies as Obj)[n] = bodyFromParam(p, globalConsumes);
      else if (p.in === 'formData') (components.requestBodies as Obj)[n] = formBody([p], globalConsumes);
      else (components.parameters as Obj)[n] = parameter(p, warnings, `parameters.${n}`);
    }
  }
  if (isObj(src.responses))
    for (const [n, r] of Object.entries(src.responses))
      if (isObj(r)) (components.responses as Obj)[n] = response(r, globalProduces);
  if (isObj(src.securityDefinitions))
    for (const [n, s] of Object.entries(src.securityDefinitions))
      if (isObj(s)) (components.securitySchemes as Obj)[n] = securityScheme(s, warnings, n);

  const paths: Obj = {};
  for (const [path, item] of Object.entries(isObj(src.paths) ? src.paths : {})) {
    if (!isObj(item)) continue;
    const outItem: Obj = {};
    const pathParams = Array.isArray(item.parameters) ? (item.parameters as Obj[]) : [];
    for (const [key, op] of Object.entries(item)) {
      if (!METHODS.includes(key) || !isObj(op)) {
        if (key.startsWith('x-')) outItem[key] = op;
        continue;
      }
      const at = `paths.${path}.${key}`;
      const consumes = Array.isArray(op.consumes) ? (op.consumes as string[]) : globalConsumes;
      const produces = Array.isArray(op.produces) ? (op.produces as string[]) : globalProduces;
      const merged = new Map<string, Obj>();
      for (const p of [...pathParams, ...(Array.isArray(op.parameters) ? (op.parameters as Obj[]) : [])]) {
        merged.set(typeof p.$ref === 'string' ? p.$ref : `${String(p.in)}:${String(p.name)}`, p);
      }
      const params: Obj[] = [];
      const form: Obj[] = [];
      let requestBody: Obj | undefined;
      for (const p of merged.values()) {
        if (typeof p.$ref === 'string' && p.$ref.startsWith('#/components/requestBodies/')) requestBody = p;
        else if (p.in === 'body') requestBody = bodyFromParam(p, consumes);
        else if (p.in === 'formData') form.push(p);
        else params.push(parameter(p, warnings, at));
      }
      if (form.length) requestBody = formBody(form, consumes);
      const responses: Obj = {};
      for (const [code, r] of Object.entries(isObj(op.responses) ? op.responses : {}))
        if (isObj(r)) responses[code] = response(r, produces);
      const out: Obj = { responses };
      for (const k of ['operationId', 'summary', 'description', 'tags', 'deprecated', 'security'])
        if (op[k] !== undefined) out[k] = op[k];
      for (const [k, v] of Object.entries(op)) if (k.startsWith('x-')) out[k] = v;
      if (params.length) out.parameters = params;
      if (requestBody) out.requestBody = requestBody;
      outItem[key] = out;
    }
    paths[path] = outItem;
  }

  const schemes = Array.isArray(src.schemes) && src.schemes.length ? (src.schemes as string[]) : ['https'];
  const basePath = typeof src.basePath === 'string' ? src.basePath : '';
  const servers =
    typeof src.host === 'string'
      ? schemes.map((s) => ({ url: `${s}://${src.host as string}${basePath}` }))
      : [{ url: basePath || '/' }];
  const out: Obj = {
    openapi: '3.0.3',
    info: src.info ?? { title: 'converted', version: '0' },
    servers,
    paths,
    components,
  };
  if (src.security !== undefined) out.security = src.security;
  if (src.tags !== undefined) out.tags = src.tags;
  for (const [k, v] of Object.entries(src)) if (k.startsWith('x-')) out[k] = v;
  return out;
}

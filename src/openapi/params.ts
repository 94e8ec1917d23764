import type { IncomingHttpHeaders } from 'node:http';
import type { Violation } from '../core/errors.js';
import type { ParamSpec } from './operations.js';

/** The request's parameters by location, as strings/arrays/objects ready for the coercing validator. */
export interface ParamValues {
  path: Record<string, unknown>;
  query: Record<string, unknown>;
  header: Record<string, unknown>;
  cookie: Record<string, unknown>;
}

const MAX_QUERY_PAIRS = 256;
const MAX_NAME = 64;

const escapePointer = (s: string): string => s.slice(0, MAX_NAME).replaceAll('~', '~0').replaceAll('/', '~1');

/** `a=1&b=2&a=3` → {a: [1, 3], b: [2]}, form-decoded; undefined when the encoding is broken. */
export function parseQuery(query: string): Map<string, string[]> | undefined {
  const out = new Map<string, string[]>();
  if (query === '') return out;
  let pairs = 0;
  for (const part of query.split('&')) {
    if (part === '') continue;
    if (++pairs > MAX_QUERY_PAIRS) return undefined;
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const rawValue = eq === -1 ? '' : part.slice(eq + 1);
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(rawName.replaceAll('+', ' '));
      value = decodeURIComponent(rawValue.replaceAll('+', ' '));
    } catch {
      return undefined;
    }
    const list = out.get(name);
    if (list === undefined) out.set(name, [value]);
    else list.push(value);
  }
  return out;
}

/** Cookie header → name → values (servers disagree on which copy of a repeated name wins). */
function parseCookies(header: string | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (header === undefined) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim();
    const list = out.get(name);
    if (list === undefined) out.set(name, [part.slice(eq + 1).trim()]);
    else list.push(part.slice(eq + 1).trim());
  }
  return out;
}

/** Names that would reach an object's prototype if used as keys (prototype pollution). */
export const UNSAFE_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

const bare = (): Record<string, unknown> => Object.create(null) as Record<string, unknown>;

function splitPairs(list: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = bare();
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i] as string] = list[i + 1] as string;
  return out;
}

const DELIMITERS: Record<string, string> = {
  form: ',',
  simple: ',',
  spaceDelimited: ' ',
  pipeDelimited: '|',
};

/** One serialized value (not exploded) → the shape the schema wants. */
function unpack(p: ParamSpec, raw: string): unknown {
  if (p.shape === 'primitive') return raw;
  const parts = raw === '' ? [] : raw.split(DELIMITERS[p.style] ?? ',');
  if (p.shape === 'array') return parts;
  if (p.explode) {
    // simple/explode objects: "a=1,b=2"
    const obj: Record<string, unknown> = bare();
    for (const part of parts) {
      const eq = part.indexOf('=');
      if (eq > 0) obj[part.slice(0, eq)] = part.slice(eq + 1);
    }
    return obj;
  }
  return splitPairs(parts);
}

/** label (".x") and matrix (";name=x") path styles → the plain value. */
function unstylePath(p: ParamSpec, raw: string): string {
  if (p.style === 'label') return raw.startsWith('.') ? raw.slice(1).replaceAll('.', ',') : raw;
  if (p.style === 'matrix') {
    const prefix = `;${p.name}=`;
    if (!raw.startsWith(prefix)) return raw;
    return raw.slice(prefix.length).replaceAll(prefix, ',');
  }
  return raw;
}

function parseJsonParam(raw: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(raw) };
  } catch {
    return { ok: false };
  }
}

/**
 * Reads the operation's declared parameters from the request, each as OpenAPI serializes it (style,
 * explode, deepObject, content). Query names no parameter claims are violations in strict mode; a
 * primitive query parameter sent twice is one in any mode (parameter pollution: the gateway and the
 * upstream could read different copies).
 */
export function readParams(
  params: readonly ParamSpec[],
  pathParams: Record<string, string | undefined>,
  query: Map<string, string[]>,
  headers: IncomingHttpHeaders,
  strict: boolean,
  violations: Violation[],
  credentials: ReadonlySet<string> = new Set(),
): ParamValues {
  const values: ParamValues = { path: bare(), query: bare(), header: bare(), cookie: bare() };
  const claimed = new Set<string>();
  let cookies: Map<string, string[]> | undefined;
  for (const p of params) {
    let raw: string | undefined;
    switch (p.in) {
      case 'path': {
        raw = pathParams[p.name];
        if (raw !== undefined) raw = unstylePath(p, raw);
        break;
      }
      case 'header': {
        const h = headers[p.name.toLowerCase()];
        raw = Array.isArray(h) ? h.join(',') : h;
        if (raw !== undefined && p.shape !== 'primitive' && !p.json) {
          values.header[p.name] = unpack(p, raw.replaceAll(', ', ','));
          continue;
        }
        break;
      }
      case 'cookie': {
        cookies ??= parseCookies(headers.cookie);
        const list = cookies.get(p.name);
        if (list !== undefined && list.length > 1) {
          violations.push({ pointer: `/cookie/${escapePointer(p.name)}`, detail: 'must not be repeated' });
          continue;
        }
        raw = list?.[0];
        break;
      }
      case 'query': {
        if (p.style === 'deepObject') {
          const obj: Record<string, unknown> = bare();
          const prefix = `${p.name}[`;
          let any = false;
          for (const [name, list] of query) {
            if (!name.startsWith(prefix) || !name.endsWith(']')) continue;
            claimed.add(name);
            any = true;
            obj[name.slice(prefix.length, -1)] = list[list.length - 1] as string;
            if (list.length > 1)
              violations.push({ pointer: `/query/${escapePointer(name)}`, detail: 'must not be repeated' });
          }
          if (any) values.query[p.name] = obj;
          continue;
        }
        if (p.shape === 'object' && p.explode && !p.json) {
          // form + explode: each property is its own query parameter.
          const obj: Record<string, unknown> = bare();
          let any = false;
          for (const prop of p.properties) {
            const list = query.get(prop);
            if (list === undefined) continue;
            claimed.add(prop);
            any = true;
            obj[prop] = list[0] as string;
            if (list.length > 1)
              violations.push({ pointer: `/query/${escapePointer(prop)}`, detail: 'must not be repeated' });
          }
          if (any) values.query[p.name] = obj;
          continue;
        }
        const list = query.get(p.name);
        if (list === undefined) continue;
        claimed.add(p.name);
        if (p.shape === 'array' && p.explode && !p.json) {
          values.query[p.name] = list;
          continue;
        }
        if (list.length > 1) {
          violations.push({ pointer: `/query/${escapePointer(p.name)}`, detail: 'must not be repeated' });
          continue;
        }
        raw = list[0];
        break;
      }
    }
    if (raw === undefined) continue;
    if (p.json) {
      const parsed = parseJsonParam(raw);
      if (parsed.ok) values[p.in][p.name] = parsed.value;
      else violations.push({ pointer: `/${p.in}/${escapePointer(p.name)}`, detail: 'must be JSON' });
      continue;
    }
    values[p.in][p.name] = unpack(p, raw);
  }
  for (const name of query.keys()) {
    const inner = name.endsWith(']') ? name.slice(name.lastIndexOf('[') + 1, -1) : name;
    if (UNSAFE_NAMES.has(name) || UNSAFE_NAMES.has(inner))
      violations.push({ pointer: `/query/${escapePointer(name)}`, detail: 'is a forbidden name' });
  }
  if (strict) {
    for (const name of query.keys())
      if (!claimed.has(name) && !credentials.has(name))
        violations.push({
          pointer: `/query/${escapePointer(name)}`,
          detail: 'is not a declared query parameter',
        });
  }
  return values;
}

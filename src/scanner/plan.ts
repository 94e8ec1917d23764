import { deref, isObj, type LoadedSpec, type Obj } from '../openapi/load.js';
import { type OperationSpec, operationsOf } from '../openapi/operations.js';
import type { PlannedOperation } from './types.js';

/**
 * Turns an API description into requests that should succeed: every operation with its path
 * parameters, required query parameters and body filled from the description's examples, defaults
 * and enums, else with values valid for the schema. Checks start from these and change one thing.
 */

const ID_PARAM = /(^id$|^uuid$|Id$|_id$|ID$)/;

/** A value valid for `schema` (the first example, default, const or enum value when there is one). */
export function exampleOf(doc: Obj, schema: unknown, depth = 0, seen = new Set<unknown>()): unknown {
  const s = deref(doc, schema);
  if (!isObj(s) || depth > 6 || seen.has(s)) return null;
  if (s.example !== undefined) return s.example;
  if (Array.isArray(s.examples) && s.examples.length > 0) return s.examples[0];
  if (s.default !== undefined) return s.default;
  if (s.const !== undefined) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  const next = new Set(seen).add(s);
  for (const key of ['allOf', 'oneOf', 'anyOf'] as const) {
    const list = s[key];
    if (Array.isArray(list) && list.length > 0) {
      if (key !== 'allOf') return exampleOf(doc, list[0], depth + 1, next);
      const merged: Obj = {};
      for (const part of list) {
        const v = exampleOf(doc, part, depth + 1, next);
        if (isObj(v)) Object.assign(merged, v);
      }
      return merged;
    }
  }
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  switch (type) {
    case 'integer':
    case 'number': {
      const min =
        typeof s.minimum === 'number'
          ? s.minimum
          : typeof s.exclusiveMinimum === 'number'
            ? s.exclusiveMinimum + 1
            : 1;
      return type === 'integer' ? Math.ceil(min) : min;
    }
    case 'boolean':
      return true;
    case 'array': {
      const item = exampleOf(doc, s.items, depth + 1, next);
      const n = typeof s.minItems === 'number' ? Math.max(1, s.minItems) : 1;
      return Array.from({ length: n }, () => item);
    }
    case 'string':
      return stringExample(s);
    default:
      if (type === 'object' || isObj(s.properties)) {
        const out: Obj = {};
        const props = isObj(s.properties) ? s.properties : {};
        for (const [name, prop] of Object.entries(props)) {
          const p = deref(doc, prop);
          if (isObj(p) && p.readOnly === true) continue;
          out[name] = exampleOf(doc, prop, depth + 1, next);
        }
        return out;
      }
      return 'example';
  }
}

function stringExample(s: Obj): string {
  switch (s.format) {
    case 'uuid':
      return '3fa85f64-5717-4562-b3fc-2c963f66afa6';
    case 'email':
      return 'scanner@example.com';
    case 'date':
      return '2026-01-01';
    case 'date-time':
      return '2026-01-01T00:00:00Z';
    case 'uri':
    case 'url':
      return 'https://example.com/';
    case 'ipv4':
      return '192.0.2.1';
    case 'ipv6':
      return '2001:db8::1';
    case 'hostname':
      return 'example.com';
    default: {
      const min = typeof s.minLength === 'number' ? s.minLength : 1;
      const max = typeof s.maxLength === 'number' ? s.maxLength : 16;
      const base = 'example';
      return base.length >= min
        ? base.slice(0, Math.max(min, Math.min(base.length, max)))
        : base.padEnd(min, 'x');
    }
  }
}

/** "a=1&b=x" from a map, percent-encoded. */
export function queryString(values: Readonly<Record<string, unknown>>): string {
  return Object.entries(values)
    .map(
      ([k, v]) =>
        `${encodeURIComponent(k)}=${encodeURIComponent(typeof v === 'string' ? v : JSON.stringify(v))}`,
    )
    .join('&');
}

function planOne(doc: Obj, op: OperationSpec): PlannedOperation {
  let path = op.path;
  const query: Record<string, unknown> = {};
  const idParams: string[] = [];
  for (const p of op.params) {
    if (p.in === 'path') {
      const value = exampleOf(doc, p.schema);
      path = path.replaceAll(`{${p.name}}`, encodeURIComponent(String(value ?? '1')));
      if (ID_PARAM.test(p.name)) idParams.push(p.name);
    } else if (p.in === 'query' && p.required) {
      query[p.name] = exampleOf(doc, p.schema);
    }
  }
  let body: unknown;
  if (op.body !== undefined) {
    const json = [...op.body.content.entries()].find(
      ([m]) => m === 'application/json' || m.endsWith('+json'),
    );
    body = json === undefined ? undefined : exampleOf(doc, json[1]);
  }
  const secured =
    op.security !== undefined &&
    op.security.length > 0 &&
    !op.security.some((r) => Object.keys(r).length === 0);
  return {
    op,
    label: `${op.method} ${op.path}`,
    path,
    query: queryString(query),
    body,
    secured,
    idParams,
  };
}

/** Every operation of the description, planned. */
export function planOperations(spec: LoadedSpec): PlannedOperation[] {
  return operationsOf(spec).map((op) => planOne(spec.doc, op));
}

/** The path and query of a planned operation, as ScanRequest.path wants it. */
export function targetOf(p: PlannedOperation, extraQuery = ''): string {
  const q = [p.query, extraQuery].filter((s) => s !== '').join('&');
  return q === '' ? p.path : `${p.path}?${q}`;
}

import { isObj } from '../../openapi/load.js';
import type { ScanResponse } from '../types.js';
import { objectOf } from './objects.js';
import { itemCount } from './probe.js';

/**
 * Comparing answers for the access-control checks (API1, API2, API5). Many APIs answer a refusal
 * with HTTP 200 and an envelope ({"success": false, "code": 401}), so "2xx" alone proves nothing:
 * an answer counts as the data only when it has the shape of what the rightful caller got.
 */

/** The body with the volatile parts (ids, times, numbers, long hex) blanked out. */
export function normalize(body: string, ...volatile: string[]): string {
  let out = body;
  for (const v of volatile) if (v !== '') out = out.split(v).join('<v>');
  return out
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
    .replace(/\d{4}-\d{2}-\d{2}[T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?/g, '<time>')
    .replace(/[0-9a-f]{16,}/gi, '<hex>')
    .replace(/\d+/g, '<n>');
}

const keysOf = (v: unknown): string => (isObj(v) ? Object.keys(v).sort().join(',') : typeof v);

/**
 * The shape of an answer: the status class, then for JSON the top-level keys and the keys of the
 * enveloped object (or of a list's first item); "text" for anything else.
 */
export function shapeOf(r: ScanResponse): string {
  const status = `${Math.floor(r.status / 100)}xx`;
  const json = r.json;
  if (json === undefined || json === null) return `${status} text`;
  if (Array.isArray(json)) return `${status} [${json.length === 0 ? '' : keysOf(json[0])}]`;
  if (!isObj(json)) return `${status} ${typeof json}`;
  return `${status} {${keysOf(json)}} {${keysOf(objectOf(json))}}`;
}

/** Same shape; an empty list matches any list (the rightful caller may simply have no items). */
export function sameShape(a: ScanResponse, b: ScanResponse): boolean {
  const emptyList = (r: ScanResponse) => Array.isArray(r.json) && r.json.length === 0;
  if (Array.isArray(a.json) && Array.isArray(b.json) && (emptyList(a) || emptyList(b)))
    return Math.floor(a.status / 100) === Math.floor(b.status / 100);
  return shapeOf(a) === shapeOf(b);
}

/**
 * The same data: same status and shape, and the same body once volatile parts are blanked out
 * (or, for large answers, the same item count and about the same size).
 */
export function sameData(a: ScanResponse, b: ScanResponse): boolean {
  if (a.status !== b.status || !sameShape(a, b)) return false;
  if (normalize(a.body) === normalize(b.body)) return true;
  const la = a.body.length;
  const lb = b.body.length;
  if (Math.min(la, lb) < 256) return false;
  return itemCount(a.json) === itemCount(b.json) && Math.abs(la - lb) <= 0.03 * Math.max(la, lb);
}

/**
 * Whether `suspect` (an anonymous or low-privilege answer) shows what the rightful caller got in
 * `rightful`: it has the rightful answer's shape, and it is not what a garbage credential gets
 * (the API's refusal) — unless it is the rightful data itself (an API that checks nothing answers
 * all three alike).
 */
export function showsRightfulAnswer(
  suspect: ScanResponse,
  rightful: ScanResponse,
  garbage: ScanResponse | undefined,
): boolean {
  if (!sameShape(suspect, rightful)) return false;
  const likeGarbage =
    garbage === undefined || (garbage.status === suspect.status && sameData(garbage, suspect));
  return !likeGarbage || sameData(suspect, rightful);
}

import type { Detector, Finding, Input } from '../types.js';

/**
 * NoSQL (MongoDB-style) operator injection: an operator where the application expects a plain
 * value, as a JSON key ({"password": {"$ne": null}}), a bracketed query name (password[$ne]=x) or
 * JSON text inside a value; and JavaScript breaking out of a $where string.
 */

/** Query and update operators an attacker uses to change a filter's meaning. */
const OPERATORS = new Set([
  '$where',
  '$function',
  '$accumulator',
  '$expr',
  '$ne',
  '$eq',
  '$gt',
  '$gte',
  '$lt',
  '$lte',
  '$in',
  '$nin',
  '$regex',
  '$options',
  '$exists',
  '$or',
  '$and',
  '$nor',
  '$not',
  '$elemmatch',
  '$all',
  '$size',
  '$type',
  '$mod',
  '$text',
  '$search',
  '$jsonschema',
  '$lookup',
  '$unionwith',
  '$merge',
  '$out',
  '$set',
  '$unset',
  '$inc',
  '$push',
  '$rename',
  '$comment',
]);

function finding(rule: string, pl: 1 | 2 | 3, score: number): Finding {
  return { rule: `nosql-${rule}`, family: 'nosql', pl, score };
}

const OPERATOR_NAME = finding('operator', 1, 5);
const OPERATOR_IN_VALUE = finding('operator-in-value', 1, 5);
const WHERE_BREAKOUT = finding('js-breakout', 2, 5);

const NAME_LOCATIONS = new Set(['query-name', 'body-name', 'json-key', 'multipart-name', 'cookie-name']);

function isOpChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

/** The operator starting at the "$" at i ("$ne" in "a[$ne]"), lower-case, or "". */
function operatorAt(s: string, i: number): string {
  let j = i + 1;
  while (j < s.length && j - i <= 12 && isOpChar(s.charCodeAt(j))) j++;
  const op = s.slice(i, j).toLowerCase();
  return OPERATORS.has(op) ? op : '';
}

/** A parameter or key name: "$ne", "password[$ne]", "filter.$where", "a[b][$regex]". */
function operatorName(name: string): boolean {
  let n = 0;
  for (let i = name.indexOf('$'); i !== -1 && n < 16; i = name.indexOf('$', i + 1)) {
    n++;
    const before = i === 0 ? -1 : name.charCodeAt(i - 1);
    if (before !== -1 && before !== 91 && before !== 46) continue;
    const op = operatorAt(name, i);
    if (op === '') continue;
    const after = name.charCodeAt(i + op.length);
    if (Number.isNaN(after) || after === 93 || after === 46) return true;
  }
  return false;
}

/** Operators inside text: {"$ne": 1}, {$gt: ""}, a[$ne]=1 in a raw body, "$where": "...". */
function operatorInText(s: string): boolean {
  let n = 0;
  for (let i = s.indexOf('$'); i !== -1 && n < 64; i = s.indexOf('$', i + 1)) {
    n++;
    const op = operatorAt(s, i);
    if (op === '') continue;
    let b = i - 1;
    const quoted = s.charCodeAt(b) === 34 || s.charCodeAt(b) === 39;
    if (quoted) b--;
    while (b >= 0 && s.charCodeAt(b) === 32) b--;
    const prev = b < 0 ? -1 : s.charCodeAt(b);
    let a = i + op.length;
    if (quoted && (s.charCodeAt(a) === 34 || s.charCodeAt(a) === 39)) a++;
    while (a < s.length && s.charCodeAt(a) === 32) a++;
    const next = s.charCodeAt(a);
    // Object key: after "{" or "," and before ":"; bracket key: "[" op "]" before "=".
    if ((prev === 123 || prev === 44) && next === 58) return true;
    if (prev === 91 && next === 93 && s.charCodeAt(a + 1) === 61) return true;
  }
  return false;
}

/**
 * A quote closed early and JavaScript after it, the shape of $where injection:
 * "x'; return true; var y='", "a' || '1'=='1", "'; while(true){}; '".
 */
function whereBreakout(s: string): boolean {
  let n = 0;
  for (let i = s.indexOf(';'); i !== -1 && n < 32; i = s.indexOf(';', i + 1)) {
    n++;
    let b = i - 1;
    while (b >= 0 && s.charCodeAt(b) === 32) b--;
    const q = s.charCodeAt(b);
    if (q !== 39 && q !== 34) continue;
    const rest = s
      .slice(i + 1, i + 24)
      .trimStart()
      .toLowerCase();
    if (
      rest.startsWith('return ') ||
      rest.startsWith('return(') ||
      rest.startsWith('while(') ||
      rest.startsWith('sleep(')
    )
      return true;
  }
  return false;
}

export const nosqlDetector: Detector = {
  family: 'nosql',
  detect(value: string, input: Input, out: Finding[]): void {
    if (NAME_LOCATIONS.has(input.location)) {
      if (value.indexOf('$') !== -1 && operatorName(value)) out.push(OPERATOR_NAME);
      return;
    }
    if (value.indexOf('$') !== -1 && operatorInText(value)) out.push(OPERATOR_IN_VALUE);
    if (value.indexOf(';') !== -1 && whereBreakout(value)) out.push(WHERE_BREAKOUT);
  },
};

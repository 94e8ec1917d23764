/**
 * Prototype pollution: a key or a property path that reaches Object.prototype through "__proto__"
 * or "constructor.prototype", in any location a server may merge into an object (query and form
 * names like "a[__proto__][admin]", JSON keys, cookie names) or in a value that carries a path
 * ("__proto__.isAdmin=1", "$1:__proto__:then"). A prose or code mention of obj.__proto__ in a text
 * field is only suspicious.
 */
import type { Detector, Finding, Input, Location } from '../types.js';

function finding(name: string, score: number, pl: 1 | 2 | 3): Finding {
  return Object.freeze({ rule: `proto-${name}`, family: 'proto', pl, score });
}

export const PROTO = {
  key: finding('key', 5, 1),
  path: finding('path', 5, 1),
  mention: finding('mention', 2, 2),
} as const;

/** Locations whose value is a name the server may use as an object key. */
const NAME_LOCATIONS: ReadonlySet<Location> = new Set<Location>([
  'query-name',
  'body-name',
  'json-key',
  'cookie-name',
  'multipart-name',
]);

function isIdent(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 36;
}

function at(s: string, i: number): number {
  return i >= 0 && i < s.length ? s.charCodeAt(i) : -1;
}

type Strength = 'none' | 'mention' | 'path';

/** "__proto__" as a whole path segment; 'path' when a property follows it or it is a key. */
function protoStrength(s: string): Strength {
  let best: Strength = 'none';
  for (let i = s.indexOf('__proto__'); i !== -1; i = s.indexOf('__proto__', i + 9)) {
    const before = at(s, i - 1);
    const after = at(s, i + 9);
    if (isIdent(before) || isIdent(after)) continue;
    // "__proto__[x]", "__proto__.x", '"__proto__":', ":__proto__:", a bare key "__proto__".
    if (after === 91 || after === 46 || after === 58 || after === 61 || after === 93) return 'path';
    if ((before === 34 || before === 39) && (after === 34 || after === 39)) return 'path';
    if (before === -1 && after === -1) return 'path';
    best = 'mention';
  }
  return best;
}

/** "constructor.prototype", "constructor[prototype]", "constructor['prototype']". */
function constructorPrototype(s: string): boolean {
  for (let i = s.indexOf('constructor'); i !== -1; i = s.indexOf('constructor', i + 11)) {
    if (isIdent(at(s, i - 1))) continue;
    let j = i + 11;
    let c = at(s, j);
    if (c === 34 || c === 39) c = at(s, ++j); // constructor" ] in a quoted path
    if (c === 93) c = at(s, ++j);
    if (c !== 46 && c !== 91) continue;
    j++;
    c = at(s, j);
    if (c === 34 || c === 39) j++;
    if (s.startsWith('prototype', j) && !isIdent(at(s, j + 9))) return true;
  }
  return false;
}

export const protoDetector: Detector = {
  family: 'proto',
  detect(value: string, input: Input, out: Finding[]): void {
    const hasProto = value.indexOf('__proto__') !== -1;
    const hasCtor = value.indexOf('constructor') !== -1 || value.indexOf('prototype') !== -1;
    if (!hasProto && !hasCtor) return;
    const isName = NAME_LOCATIONS.has(input.location);
    if (hasProto) {
      const strength = protoStrength(value);
      if (strength === 'path' || (strength === 'mention' && isName)) {
        out.push(isName ? PROTO.key : PROTO.path);
        return;
      }
      if (strength === 'mention') out.push(PROTO.mention);
    }
    if (!hasCtor) return;
    if (constructorPrototype(value)) {
      out.push(isName ? PROTO.key : PROTO.path);
      return;
    }
    // {"constructor": {"prototype": {…}}}: the key "prototype" directly under "constructor".
    if (input.location === 'json-key' && value === 'prototype' && input.name.endsWith('.constructor'))
      out.push(PROTO.key);
  },
};

import { setFlagsFromString } from 'node:v8';

// V8's linear-time engine (the "l" flag) is behind a flag; turning it on only adds that flag.
setFlagsFromString('--enable-experimental-regexp-engine');

/** A pattern from an API description that can run neither in linear time nor safely by backtracking. */
export class UnsafePatternError extends Error {
  override name = 'UnsafePatternError';
}

/** The quantifier at `i` ("*", "+", "?", "{n}", "{n,}", "{n,m}"), or undefined. */
function quantifierAt(p: string, i: number): { min: number; max: number; length: number } | undefined {
  const c = p[i];
  let q: { min: number; max: number; length: number } | undefined;
  if (c === '*') q = { min: 0, max: Number.POSITIVE_INFINITY, length: 1 };
  else if (c === '+') q = { min: 1, max: Number.POSITIVE_INFINITY, length: 1 };
  else if (c === '?') q = { min: 0, max: 1, length: 1 };
  else if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i));
    if (m === null) return undefined;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3]);
    q = { min, max, length: m[0].length };
  }
  // A lazy or possessive marker belongs to the quantifier.
  if (q !== undefined && p[i + q.length] === '?') q.length++;
  return q;
}

/**
 * Whether a pattern has the shape of exponential backtracking: a group repeated without a fixed
 * count ("(…)+", "(…)*", "(…){2,}") whose body can match in more than one way (it holds a
 * quantifier that is not a fixed count, or an alternation): "^([a-z]+)+$", "(a|aa)*".
 */
export function exponentialShape(pattern: string): boolean {
  // Per open group: does its body match in several ways?
  const stack: boolean[] = [];
  let inClass = false;
  const mark = () => {
    if (stack.length > 0) stack[stack.length - 1] = true;
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      continue;
    }
    if (c === '(') {
      stack.push(false);
      continue;
    }
    if (c === '|') {
      mark();
      continue;
    }
    if (c === ')') {
      const inner = stack.pop() ?? false;
      const q = quantifierAt(pattern, i + 1);
      if (q !== undefined) {
        if (inner && q.max > 1 && q.max !== q.min) return true;
        if (q.min !== q.max) mark();
        i += q.length;
      }
      if (inner) mark();
      continue;
    }
    const q = quantifierAt(pattern, i);
    if (q !== undefined) {
      if (q.min !== q.max) mark();
      i += q.length - 1;
    }
  }
  return false;
}

/**
 * A RegExp for a pattern from a trusted-but-unreviewed source (an OpenAPI description) that runs on
 * client input. A pattern with the shape of exponential backtracking runs on V8's linear-time
 * engine; one that engine cannot run (back-references, lookaround, large counted repeats) is
 * refused, never run by backtracking on client data. Other patterns run as they are: their cost is
 * at most polynomial in the value's length, which the description's (or the contract's default)
 * maxLength bounds.
 */
export function guardedRegExp(pattern: string, flags = ''): RegExp {
  if (!exponentialShape(pattern)) return new RegExp(pattern, flags);
  try {
    // The linear engine takes no "u": such patterns are read as UTF-16 code units.
    return new RegExp(pattern, `${flags.replace('u', '')}l`);
  } catch {
    new RegExp(pattern, flags); // an invalid pattern says so in its own words
    throw new UnsafePatternError(
      `pattern ${JSON.stringify(pattern.length > 80 ? `${pattern.slice(0, 80)}…` : pattern)} repeats a group that can match in several ways (exponential backtracking) and cannot run in linear time; rewrite it without the nested repetition`,
    );
  }
}
guardedRegExp.code = 'new RegExp';

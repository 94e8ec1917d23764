import type { Detector, Finding, Input } from '../types.js';

/**
 * Generic code injection (CRS 934 territory): Node.js (serialization markers, module loader and
 * process internals, sandbox escapes, eval-ish calls, constant-condition loops), the React Flight
 * gadget paths, Perl "@{[ ]}" interpolation, Ruby process calls, Python dunder chains, and Django ORM
 * lookups that walk relations from a parameter name.
 *
 * Code is judged by its shape: a short single-line value that is a call expression is a payload; the
 * same words inside multi-line text or prose (a code sample in a JSON field, documentation) only add
 * a low score. The strongest markers (serialization, loader internals) count anywhere.
 */

function finding(rule: string, pl: 1 | 2 | 3, score: number): Finding {
  return { rule: `generic-${rule}`, family: 'generic', pl, score };
}

const SERIALIZE = finding('node-serialize', 1, 5);
const NODE_INTERNALS = finding('node-internals', 1, 5);
const JS_CODE = finding('js-code', 1, 5);
const FLIGHT = finding('flight-gadget', 1, 5);
const LOOP = finding('js-infinite-loop', 1, 5);
const PERL = finding('perl-interpolation', 1, 5);
const RUBY = finding('ruby-exec', 1, 5);
const PYTHON = finding('python-dunder', 1, 5);
const PYTHON_CALL = finding('python-exec', 2, 3);
const ORM_WALK = finding('orm-lookup', 2, 5);
const ORM_LOOKUP = finding('orm-lookup', 3, 5);

function isIdent(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 36;
}

function skipSpace(s: string, i: number): number {
  let j = i;
  while (
    j < s.length &&
    (s.charCodeAt(j) === 32 || s.charCodeAt(j) === 9 || s.charCodeAt(j) === 10 || s.charCodeAt(j) === 13)
  )
    j++;
  return j;
}

/** needle occurs where an identifier starts (not "myprocess.env") and, if given, follow(end) holds. */
function hasWord(s: string, needle: string, follow?: (at: number) => boolean): boolean {
  let n = 0;
  for (let i = s.indexOf(needle); i !== -1 && n < 64; i = s.indexOf(needle, i + 1)) {
    n++;
    if (i > 0 && isIdent(s.charCodeAt(i - 1))) continue;
    if (follow === undefined || follow(i + needle.length)) return true;
  }
  return false;
}

/** Multi-line text or prose of several words: code words there are a sample, not a payload. */
function documentLike(s: string): boolean {
  let words = 0;
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10 && i < s.length - 1) return true;
    const space = c === 32 || c === 9 || c === 13 || c === 10;
    if (!space && !inWord && ++words >= 6) return true;
    inWord = !space;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Node.js

/** Loader and process internals no API value has a reason to name. */
const NODE_MARKERS = [
  'require.main',
  'process.mainmodule',
  'process.binding',
  'process.dlopen',
  '_load(',
  'module.constructor',
  'global.process',
  'globalthis.process',
  'constructor.constructor',
  'child_process',
];

function nodeStrong(s: string): boolean {
  if (s.includes('_$$nd_func$$_') || s.includes('__js_function')) return true;
  for (const m of NODE_MARKERS) if (hasWord(s, m) || (m.startsWith('_') && s.includes(m))) return true;
  // Computed access on the process or loader objects: process[...], require[...].
  const bracket = (at: number): boolean => s.charCodeAt(skipSpace(s, at)) === 91;
  return hasWord(s, 'process', bracket) || hasWord(s, 'require', bracket);
}

function callFollows(s: string, at: number): boolean {
  return s.charCodeAt(skipSpace(s, at)) === 40;
}

/** eval-ish calls and the Node globals an injected expression reaches for. */
function nodeCode(s: string): boolean {
  if (hasWord(s, 'eval', (at) => callFollows(s, at))) return true;
  if (hasWord(s, 'function', (at) => callFollows(s, at) && s.indexOf('{', at) !== -1)) return true;
  if (hasWord(s, 'new function', (at) => callFollows(s, at))) return true;
  if (hasWord(s, 'string.fromcharcode', (at) => callFollows(s, at))) return true;
  if (hasWord(s, 'module.exports', (at) => s.charCodeAt(skipSpace(s, at)) === 61)) return true;
  if (hasWord(s, 'process.env') || hasWord(s, 'process.exit') || hasWord(s, 'process.kill')) return true;
  if (hasWord(s, 'require', (at) => callFollows(s, at))) return true;
  // console.log(1), console["info"](1), console.info.call(this, 1)
  return hasWord(s, 'console', (at) => {
    const c = s.charCodeAt(at);
    if (c === 91) return true;
    if (c !== 46) return false;
    let j = at + 1;
    while (j < s.length && isIdent(s.charCodeAt(j))) j++;
    return j > at + 1 && (callFollows(s, j) || s.charCodeAt(j) === 46);
  });
}

/** React Flight reference paths into constructors: "$1:constructor:constructor", "$1:__proto__:then". */
function flightGadget(s: string): boolean {
  let n = 0;
  for (let i = s.indexOf('$'); i !== -1 && n < 64; i = s.indexOf('$', i + 1)) {
    n++;
    let j = i + 1;
    while (j < s.length && j < i + 6 && isIdent(s.charCodeAt(j)) && s.charCodeAt(j) !== 36) j++;
    if (j === i + 1 || s.charCodeAt(j) !== 58) continue;
    const path = s.slice(j, j + 80);
    if (path.includes(':constructor') || path.includes(':__proto__') || path.includes(':prototype'))
      return true;
  }
  return false;
}

const TRUTHY = new Set([
  'true',
  'infinity',
  'this',
  'string',
  'object',
  'array',
  'number',
  'date',
  'new date',
  '{}',
  '[]',
]);
const FALSY = new Set(['false', '0', '-0', '+0', '""', "''", '``', 'null', 'undefined', 'nan', '']);

/** The truth value of a constant loop condition, or undefined when it is not a constant. */
function constantTruth(cond: string): boolean | undefined {
  let c = cond.trim();
  while (c.startsWith('(') && c.endsWith(')')) c = c.slice(1, -1).trim();
  let negations = 0;
  while (c.startsWith('!')) {
    negations++;
    c = c.slice(1).trim();
  }
  let truth: boolean | undefined;
  if (TRUTHY.has(c)) truth = true;
  else if (FALSY.has(c)) truth = false;
  else if (/^[-+]?(infinity|\d{1,12}(\.\d{1,6})?)$/.test(c))
    truth = Number(c.replace('infinity', 'Infinity')) !== 0;
  if (truth === undefined) return undefined;
  return negations % 2 === 0 ? truth : !truth;
}

/** while(true), while(!0), for(;;): a request that hangs an eval() sink. */
function infiniteLoop(s: string): boolean {
  const constantWhile = (at: number): boolean => {
    const open = skipSpace(s, at);
    if (s.charCodeAt(open) !== 40) return false;
    // The condition: up to the matching ")" (bounded; constants are short).
    let depth = 0;
    for (let j = open; j < s.length && j < open + 40; j++) {
      const c = s.charCodeAt(j);
      if (c === 40) depth++;
      else if (c === 41 && --depth === 0) return constantTruth(s.slice(open + 1, j)) === true;
    }
    return false;
  };
  if (hasWord(s, 'while', constantWhile)) return true;
  return hasWord(s, 'for', (at) => {
    const open = skipSpace(s, at);
    return s.charCodeAt(open) === 40 && /^\(\s*;\s*;\s*\)/.test(s.slice(open, open + 12));
  });
}

// ---------------------------------------------------------------------------------------------
// Perl, Ruby, Python

/** "@{[ expr ]}" runs expr inside a Perl string; no text has a reason to hold it. */
function perlInterpolation(s: string): boolean {
  let n = 0;
  for (let i = s.indexOf('@'); i !== -1 && n < 256; i = s.indexOf('@', i + 1)) {
    n++;
    const brace = skipSpace(s, i + 1);
    if (s.charCodeAt(brace) !== 123) continue;
    if (s.charCodeAt(skipSpace(s, brace + 1)) === 91) return true;
  }
  // ${\ system 'id' } : scalar-reference interpolation.
  return /\$\{\s*\\\s*[a-z(]/.test(s.slice(0, 4096));
}

const RUBY_CALLS = [
  'process.spawn',
  'kernel.system',
  'kernel.exec',
  'kernel.spawn',
  'kernel.open',
  'kernel.eval',
];
const RUBY_MORE = ['io.popen', 'open3.popen', 'open3.capture', 'instance_eval', 'class_eval', 'marshal.load'];

function rubyExec(s: string): boolean {
  for (const m of RUBY_CALLS)
    if (hasWord(s, m, (at) => callFollows(s, at) || s.charCodeAt(at) === 32)) return true;
  for (const m of RUBY_MORE) if (hasWord(s, m)) return true;
  // %x{id} / %x(id): Ruby's backtick.
  const x = s.indexOf('%x');
  return x !== -1 && (s.charCodeAt(x + 2) === 123 || s.charCodeAt(x + 2) === 40);
}

const DUNDERS = [
  '__class__',
  '__mro__',
  '__subclasses__',
  '__globals__',
  '__builtins__',
  '__import__',
  '__getattribute__',
  '__reduce__',
  '__base__',
  '__bases__',
  'func_globals',
];

function pythonDunder(s: string): boolean {
  if (s.indexOf('__') !== -1) for (const d of DUNDERS) if (s.includes(d)) return true;
  return false;
}

/** Process and deserialisation calls: also what ordinary Python snippets in a code field do. */
function pythonCall(s: string): boolean {
  if (
    hasWord(s, 'os.system', (at) => callFollows(s, at)) ||
    hasWord(s, 'os.popen', (at) => callFollows(s, at))
  )
    return true;
  if (hasWord(s, 'pickle.loads', (at) => callFollows(s, at))) return true;
  return hasWord(s, 'subprocess.', (at) =>
    /^(popen|call|run|check_output|check_call|getoutput)\b/.test(s.slice(at, at + 14)),
  );
}

// ---------------------------------------------------------------------------------------------
// Django ORM lookups from a parameter name

const LOOKUPS = new Set([
  'exact',
  'iexact',
  'contains',
  'icontains',
  'in',
  'gt',
  'gte',
  'lt',
  'lte',
  'startswith',
  'istartswith',
  'endswith',
  'iendswith',
  'range',
  'isnull',
  'regex',
  'iregex',
  'has_key',
  'has_keys',
  'has_any_keys',
  'contained_by',
  'overlap',
  'search',
  'date',
  'year',
  'month',
  'day',
  'week_day',
  'isempty',
  'len',
  'trigram_similar',
  'unaccent',
]);

/** Parts of "user__profile__icontains" when it ends in a lookup; 0 when it is not one. */
function ormDepth(name: string): number {
  if (name.length > 200 || name.indexOf('__') <= 0) return 0;
  const parts = name.toLowerCase().split('__');
  if (parts.length < 2 || parts.some((p) => p.length === 0 || !/^[a-z][a-z0-9_]*$/.test(p))) return 0;
  return LOOKUPS.has(parts[parts.length - 1] as string) ? parts.length : 0;
}

const NAME_LOCATIONS = new Set(['query-name', 'body-name', 'json-key', 'multipart-name', 'cookie-name']);

function ormInName(name: string, out: Finding[]): void {
  const depth = ormDepth(name);
  if (depth >= 3) out.push(ORM_WALK);
  else if (depth === 2) out.push(ORM_LOOKUP);
}

/** Keys inside a raw (unparsed) body: "user__profile__city__startswith": or ...=. */
function ormInText(s: string, out: Finding[]): void {
  let n = 0;
  for (let i = s.indexOf('__'); i !== -1 && n < 64; i = s.indexOf('__', i + 2)) {
    n++;
    let a = i;
    while (a > 0 && isIdent(s.charCodeAt(a - 1))) a--;
    let b = i;
    while (b < s.length && isIdent(s.charCodeAt(b))) b++;
    const after = s.charCodeAt(b === s.length ? b : b);
    const keyish = after === 61 || (after === 34 && s.charCodeAt(skipSpace(s, b + 1)) === 58);
    if (keyish && ormDepth(s.slice(a, b)) >= 3) {
      out.push(ORM_WALK);
      return;
    }
    i = b;
  }
}

// ---------------------------------------------------------------------------------------------

function mayHoldCode(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    // ( [ { $ @ _ . %
    if (c === 40 || c === 91 || c === 123 || c === 36 || c === 64 || c === 95 || c === 46 || c === 37)
      return true;
  }
  return false;
}

/** Identifiers the code checks below start from; any other text skips them in one pass. */
const INTERESTING = [
  'process',
  'require',
  'constructor',
  '_load',
  'eval',
  'function',
  'fromcharcode',
  'exports',
  'console',
  'while',
  'for',
  'kernel',
  'io',
  'open3',
  'instance_eval',
  'class_eval',
  'marshal',
  'os',
  'subprocess',
  'pickle',
  'child_process',
  'global',
  'globalthis',
];

function identHash(h: number, c: number): number {
  return (Math.imul(h, 33) + c) | 0;
}

const INTERESTING_HASHES = new Set(
  INTERESTING.map((w) => {
    let h = 5381;
    for (let i = 0; i < w.length; i++) h = identHash(h, w.charCodeAt(i));
    return h;
  }),
);

/** One pass over the identifiers of s (lower-case): does any of them start a construct we check? */
function interestingIdentifier(s: string): boolean {
  let h = 5381;
  let inIdent = false;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 32;
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95) {
      h = identHash(inIdent ? h : 5381, c);
      inIdent = true;
      continue;
    }
    if (inIdent && INTERESTING_HASHES.has(h)) return true;
    inIdent = false;
  }
  return false;
}

function inspectGeneric(value: string, input: Input, out: Finding[]): void {
  if (NAME_LOCATIONS.has(input.location)) ormInName(value, out);
  else if (input.location === 'body' && input.name === '') ormInText(value, out);
  // Code words in prose or a multi-line document are a sample, not a payload: there only the
  // markers no text has a reason to hold count, and the rest of the text is not searched.
  const doc = documentLike(value);
  const markers = value.indexOf('$') !== -1 || value.indexOf('@') !== -1 || value.indexOf('__') !== -1;
  if (doc && !markers) return;
  const s = value.toLowerCase();
  const dot = s.indexOf('.') !== -1;
  const under = s.indexOf('_') !== -1;
  if (under && (s.includes('_$$nd_func$$_') || s.includes('__js_function'))) out.push(SERIALIZE);
  if (s.indexOf('$') !== -1 && flightGadget(s)) out.push(FLIGHT);
  if ((s.indexOf('@') !== -1 || s.indexOf('${') !== -1) && perlInterpolation(s)) out.push(PERL);
  if (doc) return;
  if (under && pythonDunder(s)) out.push(PYTHON);
  if (s.indexOf('%x') !== -1 && rubyExec(s)) out.push(RUBY);
  if (!interestingIdentifier(s)) return;
  const strong = (dot || under || s.indexOf('[') !== -1) && nodeStrong(s);
  if (strong) out.push(NODE_INTERNALS);
  const paren = s.indexOf('(') !== -1;
  if (paren || s.indexOf('=') !== -1 || s.indexOf('.env') !== -1) {
    if (nodeCode(s)) out.push(JS_CODE);
    if (paren && infiniteLoop(s)) out.push(LOOP);
  }
  if ((dot || under) && rubyExec(s)) out.push(RUBY);
  if (dot && pythonCall(s)) out.push(PYTHON_CALL);
}

export const genericDetector: Detector = {
  family: 'generic',
  detect(value: string, input: Input, out: Finding[]): void {
    if (value.length < 4 || !mayHoldCode(value)) return;
    inspectGeneric(value, input, out);
  },
};

/**
 * Server-side (and client-side) template injection: template delimiters ({{ }}, ${ }, #{ }, *{ },
 * <% %>, {% %}) whose content is not a plain variable but a probe or code. A probe is digit
 * arithmetic ("{{7*7}}": the attacker looks for "49" in the answer) or a control block with a
 * constant condition ("{% if 1 %}"); code reaches for the runtime (dunder attributes,
 * constructor chains, process, Runtime, exec, …). Plain templates are left alone: "Hello {{name}}",
 * "${user.id}", "#{name}", "<%= title %>" carry no finding.
 *
 * One pass over the openers; each one's closer is found with a forward pointer that only moves
 * ahead, so the scan stays linear even on "{{{{{{…" with no closer.
 */
import type { Detector, Finding, Input } from '../types.js';

function finding(name: string, score: number, pl: 1 | 2 | 3): Finding {
  return Object.freeze({ rule: `template-${name}`, family: 'template', pl, score });
}

export const TEMPLATE = {
  arithmetic: finding('arithmetic', 5, 1),
  code: finding('code', 5, 1),
  constantControl: finding('constant-control', 5, 2),
  call: finding('call', 2, 2),
  perl: finding('perl-interpolation', 5, 2),
} as const;

/** Longest expression inspected between delimiters. */
const MAX_INNER = 512;

interface Delimiter {
  readonly open: string;
  readonly close: string;
  /** A statement block ({% %}, <% %>) rather than an expression. */
  readonly block: boolean;
}

const DELIMITERS: readonly Delimiter[] = [
  { open: '{{', close: '}}', block: false },
  { open: '${', close: '}', block: false },
  { open: '#{', close: '}', block: false },
  { open: '*{', close: '}', block: false },
  { open: '@{', close: '}', block: false },
  { open: '<%', close: '%>', block: true },
  { open: '{%', close: '%}', block: true },
];

/**
 * What template code reaches for to escape the sandbox: Python dunders, JavaScript constructor
 * chains and Node globals, Java reflection and Runtime, shell-out functions. Matched at an
 * identifier start inside the delimiters only.
 */
const CODE_WORDS: readonly string[] = [
  '__class__',
  '__mro__',
  '__subclasses__',
  '__globals__',
  '__builtins__',
  '__import__',
  '__init__',
  '__base__',
  '__bases__',
  '__dict__',
  '__getattribute__',
  'constructor',
  'getclass',
  'forname',
  'classloader',
  'runtime',
  'processbuilder',
  'child_process',
  'require(',
  'require.',
  'process.',
  'process[',
  'mainmodule',
  'exec(',
  'execsync',
  'system(',
  'popen',
  'spawn(',
  'eval(',
  'subprocess',
  'os.',
  'lipsum',
  'cycler',
  'joiner',
  'request.application',
  'self._',
  'config.items',
  't(java',
  'java.lang',
  'javax.',
  'freemarker',
  '?new(',
  'getruntime',
  '.invoke(',
  '_load(',
  'readfilesync',
  'readdirsync',
  'global.',
  'globalthis',
  'import(',
];

function isIdent(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || c === 36;
}
function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11;
}

/** A word of CODE_WORDS that starts at an identifier boundary inside inner. */
function hasCode(inner: string): boolean {
  for (const w of CODE_WORDS) {
    let i = inner.indexOf(w);
    while (i !== -1) {
      const before = i > 0 ? inner.charCodeAt(i - 1) : -1;
      // "__x__" words bring their own boundary; others must not continue a longer identifier.
      if (w.startsWith('_') || w.startsWith('.') || w.startsWith('?') || !isIdent(before)) return true;
      i = inner.indexOf(w, i + 1);
    }
  }
  // A filter that fetches attributes by name ("|attr('__class__')") or a pipe into a shell.
  return inner.includes('|attr') || inner.includes('| attr');
}

/** Digits with arithmetic between them: "7*7", "7 * '7'", "(3+4)*7". */
function isArithmetic(inner: string): boolean {
  let groups = 0;
  let ops = 0;
  let inDigits = false;
  for (let i = 0; i < inner.length; i++) {
    const c = inner.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (!inDigits) groups++;
      inDigits = true;
      continue;
    }
    inDigits = false;
    if (c === 42 || c === 43 || c === 45 || c === 47 || c === 37 || c === 94) ops++;
    else if (!(isSpace(c) || c === 40 || c === 41 || c === 39 || c === 34 || c === 46 || c === 61))
      return false;
  }
  return groups >= 2 && ops >= 1;
}

/** "if 1", "if true", "if 7*7 == 49": a condition without any variable. */
function isConstantControl(inner: string): boolean {
  let t = inner.trim();
  if (t.startsWith('=') || t.startsWith('-')) t = t.slice(1).trim();
  if (!t.startsWith('if ') && !t.startsWith('elif ') && !t.startsWith('while ')) return false;
  const cond = t.slice(t.indexOf(' ') + 1).trim();
  if (cond === 'true' || cond === 'false' || cond === 'none' || cond === 'nil' || cond === 'null')
    return true;
  for (let i = 0; i < cond.length; i++) {
    const c = cond.charCodeAt(i);
    if (c >= 97 && c <= 122) return false;
  }
  return cond.length > 0;
}

/** "${foo(bar)}": a call inside an expression; suspicious, common in real templates. */
function hasCall(inner: string): boolean {
  const p = inner.indexOf('(');
  return p > 0 && isIdent(inner.charCodeAt(p - 1));
}

function classify(inner: string, d: Delimiter, emit: (f: Finding) => void): void {
  const trimmed = inner.trim();
  if (trimmed === '') return;
  const expr = trimmed.charCodeAt(0) === 61 ? trimmed.slice(1) : trimmed; // "<%= … %>"
  if (isArithmetic(expr)) emit(TEMPLATE.arithmetic);
  else if (hasCode(expr)) emit(TEMPLATE.code);
  else if (d.block && isConstantControl(trimmed)) emit(TEMPLATE.constantControl);
  else if (hasCall(expr)) emit(TEMPLATE.call);
}

/**
 * Perl's "@{[ … ]}" runs the code inside the brackets when a string is interpolated. Nothing else
 * writes "@{" then "["; no closer needed ("@{[system 'id']" is enough for a probe).
 */
function hasPerlInterpolation(s: string): boolean {
  for (let i = s.indexOf('@{'); i !== -1; i = s.indexOf('@{', i + 2)) {
    let j = i + 2;
    while (j < s.length && j - i < 18 && isSpace(s.charCodeAt(j))) j++;
    if (s.charCodeAt(j) === 91) return true;
  }
  return false;
}

/** Quick exit: every opener has "{" or "%". */
function mayHaveTemplate(v: string): boolean {
  return v.indexOf('{') !== -1 || v.indexOf('<%') !== -1;
}

export const templateDetector: Detector = {
  family: 'template',
  detect(value: string, _input: Input, out: Finding[]): void {
    if (!mayHaveTemplate(value)) return;
    const s = value.toLowerCase();
    const found = new Set<Finding>();
    const emit = (f: Finding): void => {
      if (found.has(f)) return;
      found.add(f);
      out.push(f);
    };
    if (hasPerlInterpolation(s)) emit(TEMPLATE.perl);
    for (const d of DELIMITERS) {
      let close = -2; // next closer at or after the current opener; -1 when there is none left
      let i = s.indexOf(d.open);
      while (i !== -1) {
        const from = i + d.open.length;
        if (close !== -1 && close < from) close = s.indexOf(d.close, from);
        if (close === -1) break;
        const next = s.indexOf(d.open, i + 1);
        // Several openers before one closer: only the innermost (last) one is read, so each
        // closer is read once and the scan stays linear.
        if ((next === -1 || next >= close) && close - from <= MAX_INNER)
          classify(s.slice(from, close), d, emit);
        i = next;
      }
    }
  },
};

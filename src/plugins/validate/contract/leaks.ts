/**
 * Detection of upstream leaks in a response body: stack traces, framework debug pages and database
 * error messages. These tell an attacker the stack, the file layout and often the query shape.
 *
 * Only the first LEAK_SCAN_BYTES are inspected, read as latin1 (every signature is ASCII, and latin1
 * never fails to decode). Before matching, the text is normalized so a leak hidden in an encoding is
 * still seen:
 * - JSON bodies (by content type, or starting with "{" / "["): string escapes are decoded ("\n",
 *   "\t", "\"", "\\", "\/", "\u00XX") and string delimiters become line breaks, so a stack inside
 *   {"stack":"Error\n    at ..."} or ["at f (...)", "at g (...)"] has lines.
 * - HTML bodies (by content type, or starting with "<"): tags are removed (block tags and <br> become
 *   line breaks) and the common entities are decoded, so a <pre> stack or a "<b>Fatal error</b>" reads
 *   as text.
 * Images, audio, video and fonts are not inspected.
 *
 * Everything is linear: literal searches, one pass of decoding (tags are looked for within a bounded
 * window), one pass of line classification. No regular expressions.
 *
 * A word in prose never triggers: generic frame shapes ("at fn (file:1:2)") count only when at least
 * two lines have that exact structure; single literals are kept to phrases no normal answer contains.
 * The signatures are data (LEAK_SIGNATURES): add one by appending a named entry.
 */

export type LeakKind = 'stack-trace' | 'framework-error-page' | 'sql-error';

export const LEAK_SCAN_BYTES = 64 * 1024;

/** Line shapes of stack frames, per runtime family. */
export type FrameKind = 'js' | 'dotted' | 'python' | 'ruby' | 'php' | 'go';

export interface LeakView {
  /** The inspected prefix of the body, normalized (see the module comment). */
  readonly text: string;
  /** How many lines have each frame shape (computed on first use). */
  frames(kind: FrameKind): number;
}

export interface LeakSignature {
  /** Stable name for logs and tests; never contains body data. */
  readonly name: string;
  readonly kind: LeakKind;
  readonly matches: (view: LeakView) => boolean;
}

// ---------------------------------------------------------------------------------------------
// Signature builders.

/** Any of the literals appears (case-sensitive). */
function anyOf(name: string, kind: LeakKind, literals: readonly string[]): LeakSignature {
  return { name, kind, matches: (view) => literals.some((l) => view.text.includes(l)) };
}

/** At least `min` lines have the frame shape. */
function frameLines(name: string, frame: FrameKind, min: number): LeakSignature {
  return { name, kind: 'stack-trace', matches: (view) => view.frames(frame) >= min };
}

// ---------------------------------------------------------------------------------------------
// Character helpers.

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isUpper = (c: number): boolean => c >= 65 && c <= 90;
const isLower = (c: number): boolean => c >= 97 && c <= 122;
const isLetter = (c: number): boolean => isUpper(c) || isLower(c);
const isAlnum = (c: number): boolean => isLetter(c) || isDigit(c);
const isBlank = (c: number): boolean => c === 32 || c === 9 || c === 13;

/**
 * Where `needle` occurs in text[from, from + limit), or -1. A bounded search: an unbounded indexOf
 * per occurrence of a prefix would make the scan quadratic on repetitive input.
 */
function indexWithin(text: string, needle: string, from: number, limit: number): number {
  const last = Math.min(text.length - needle.length, from + limit - needle.length);
  for (let k = from; k <= last; k++) if (text.startsWith(needle, k)) return k;
  return -1;
}

/** Digits from `start`; returns where they end (start when there are none). */
function digitsEnd(text: string, start: number): number {
  let j = start;
  while (j < text.length && isDigit(text.charCodeAt(j))) j++;
  return j;
}

/** `s` ends with ":<digits>:<digits>" (a file:line:column location). */
function endsWithLineColumn(s: string): boolean {
  let i = s.length;
  for (let part = 0; part < 2; part++) {
    const end = i;
    while (i > 0 && isDigit(s.charCodeAt(i - 1))) i--;
    if (i === end || i === 0 || s.charCodeAt(i - 1) !== 58) return false;
    i--;
  }
  return i > 0;
}

// ---------------------------------------------------------------------------------------------
// Frame line classifiers. Each gets a line trimmed of surrounding blanks.

/** Node/V8: "at fn (/app/x.js:12:5)", "at async fn (file:///x.mjs:1:2)", "at /app/x.js:3:9". */
function isJsFrame(line: string): boolean {
  if (!line.startsWith('at ')) return false;
  let rest = line.slice(3);
  if (rest.startsWith('async ')) rest = rest.slice(6);
  if (rest.endsWith(')')) {
    const open = rest.lastIndexOf('(');
    if (open < 1 || rest.charCodeAt(open - 1) !== 32) return false;
    const location = rest.slice(open + 1, -1);
    return (
      endsWithLineColumn(location) ||
      location === '<anonymous>' ||
      location === 'native' ||
      location.startsWith('index ')
    );
  }
  return !rest.includes(' ') && endsWithLineColumn(rest);
}

function isDottedIdentChar(c: number): boolean {
  // Java/Kotlin/.NET method names: letters, digits and _ $ . < > ` [ ] , / + - @
  return (
    isAlnum(c) ||
    c === 95 ||
    c === 36 ||
    c === 46 ||
    c === 60 ||
    c === 62 ||
    c === 96 ||
    c === 91 ||
    c === 93 ||
    c === 44 ||
    c === 47 ||
    c === 43 ||
    c === 45 ||
    c === 64
  );
}

/**
 * JVM and .NET: "at com.example.Foo.bar(Foo.java:42)", "at Ns.Class.Method() in C:\x.cs:line 12",
 * "at Ns.Class.Method(String s)". A dotted name glued to "(", the argument list closed, then nothing,
 * " in <file>", or a logback " ~[jar]" / " [jar]" suffix.
 */
function isDottedFrame(line: string): boolean {
  if (!line.startsWith('at ')) return false;
  let j = 3;
  const first = line.charCodeAt(j);
  if (!(isLetter(first) || first === 95 || first === 36 || first === 60)) return false;
  let dots = 0;
  while (j < line.length && isDottedIdentChar(line.charCodeAt(j))) {
    if (line.charCodeAt(j) === 46) dots++;
    j++;
  }
  if (dots === 0 || line.charCodeAt(j) !== 40) return false;
  const close = line.indexOf(')', j);
  if (close < 0) return false;
  const after = line.slice(close + 1);
  return after === '' || after.startsWith(' in ') || after.startsWith(' ~[') || after.startsWith(' [');
}

/** Python: 'File "/app/x.py", line 3, in handler'. */
function isPythonFrame(line: string): boolean {
  if (!line.startsWith('File "')) return false;
  const q = line.indexOf('", line ', 6);
  if (q <= 6) return false;
  const n = q + 8;
  return digitsEnd(line, n) > n;
}

/** Ruby: "from /app/x.rb:3:in `m'", "/app/x.rb:3:in 'm': message" (Ruby 3.4 quotes). */
function isRubyFrame(line: string): boolean {
  const start = line.startsWith('from ') ? 5 : 0;
  const at = line.indexOf(':in ', start);
  if (at < 0) return false;
  const quote = line.charCodeAt(at + 4);
  if (quote !== 96 && quote !== 39) return false;
  let k = at;
  while (k > start && isDigit(line.charCodeAt(k - 1))) k--;
  if (k === at || k - 1 <= start || line.charCodeAt(k - 1) !== 58) return false;
  const path = line.slice(start, k - 1);
  return !path.includes(' ');
}

/** PHP: "#0 /var/www/x.php(12): Foo->bar()", "#1 [internal function]: ...", "#2 {main}". */
function isPhpFrame(line: string): boolean {
  if (line.charCodeAt(0) !== 35) return false;
  const n = digitsEnd(line, 1);
  if (n === 1 || line.charCodeAt(n) !== 32) return false;
  const rest = line.slice(n + 1);
  if (rest === '{main}' || rest.startsWith('[internal function]:')) return true;
  const open = rest.indexOf('(');
  if (open < 1) return false;
  const close = digitsEnd(rest, open + 1);
  return close > open + 1 && rest.startsWith('):', close);
}

/** Go: "/usr/local/go/src/runtime/panic.go:212 +0x55" (the file line of a goroutine frame). */
function isGoFrame(line: string): boolean {
  const at = line.indexOf('.go:');
  if (at < 1 || line.lastIndexOf(' ', at) >= 0) return false;
  const end = digitsEnd(line, at + 4);
  if (end === at + 4) return false;
  return end === line.length || line.startsWith(' +0x', end);
}

const CLASSIFIERS: Readonly<Record<FrameKind, (line: string) => boolean>> = {
  js: isJsFrame,
  dotted: isDottedFrame,
  python: isPythonFrame,
  ruby: isRubyFrame,
  php: isPhpFrame,
  go: isGoFrame,
};

/** Cheap tests that rule a line out before its classifier runs (most lines are no frame at all). */
function candidateKinds(text: string, a: number, withRuby: boolean, withGo: boolean): readonly FrameKind[] {
  const first = text.charCodeAt(a);
  if (first === 97 && text.startsWith('at ', a)) return AT_KINDS;
  if (first === 70 && text.startsWith('File "', a)) return PYTHON_KINDS;
  if (first === 35) return PHP_KINDS;
  if (withRuby) return withGo ? RUBY_GO_KINDS : RUBY_KINDS;
  return withGo ? GO_KINDS : NO_KINDS;
}

const AT_KINDS: readonly FrameKind[] = ['js', 'dotted'];
const PYTHON_KINDS: readonly FrameKind[] = ['python'];
const PHP_KINDS: readonly FrameKind[] = ['php'];
const RUBY_KINDS: readonly FrameKind[] = ['ruby'];
const GO_KINDS: readonly FrameKind[] = ['go'];
const RUBY_GO_KINDS: readonly FrameKind[] = ['ruby', 'go'];
const NO_KINDS: readonly FrameKind[] = [];

function countFrames(text: string): Record<FrameKind, number> {
  const counts: Record<FrameKind, number> = { js: 0, dotted: 0, python: 0, ruby: 0, php: 0, go: 0 };
  // Ruby and Go frames hold a fixed piece; without it anywhere, no line needs those classifiers.
  const withRuby = text.includes(':in ');
  const withGo = text.includes('.go:');
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    let a = start;
    let b = end;
    while (a < b && isBlank(text.charCodeAt(a))) a++;
    while (b > a && isBlank(text.charCodeAt(b - 1))) b--;
    if (b > a) {
      const kinds = candidateKinds(text, a, withRuby, withGo);
      if (kinds.length > 0) {
        const line = text.slice(a, b);
        for (const kind of kinds) if (CLASSIFIERS[kind](line)) counts[kind]++;
      }
    }
    start = end + 1;
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------
// Custom detectors: literal prefixes followed by a shape.

/** "goroutine 1 [running]:" — Go's panic dump. */
function hasGoroutineHeader(view: LeakView): boolean {
  const text = view.text;
  let from = 0;
  for (;;) {
    const at = text.indexOf('goroutine ', from);
    if (at < 0) return false;
    from = at + 10;
    const n = digitsEnd(text, from);
    if (n > from && text.startsWith(' [', n) && indexWithin(text, ']:', n + 3, 64) > 0) return true;
  }
}

/** "ORA-00933:" — an Oracle error code. */
function hasOracleError(view: LeakView): boolean {
  const text = view.text;
  let from = 0;
  for (;;) {
    const at = text.indexOf('ORA-', from);
    if (at < 0) return false;
    from = at + 4;
    if (at > 0 && isAlnum(text.charCodeAt(at - 1))) continue;
    if (digitsEnd(text, from) === from + 5 && text.charCodeAt(from + 5) === 58) return true;
  }
}

/** "PG::SyntaxError" — the Ruby pg gem's error classes. */
function hasRubyPgError(view: LeakView): boolean {
  const text = view.text;
  let from = 0;
  for (;;) {
    const at = text.indexOf('PG::', from);
    if (at < 0) return false;
    from = at + 4;
    if (isUpper(text.charCodeAt(from))) return true;
  }
}

/** "System.NullReferenceException" and every other System.*Exception of .NET. */
function hasDotnetException(view: LeakView): boolean {
  const text = view.text;
  let from = 0;
  for (;;) {
    const at = text.indexOf('System.', from);
    if (at < 0) return false;
    let end = at + 7;
    while (end < text.length) {
      const c = text.charCodeAt(end);
      if (!(isAlnum(c) || c === 46 || c === 95)) break;
      end++;
    }
    if (text.slice(at, end).endsWith('Exception')) return true;
    // Nested "System." inside this name end at the same place: skip them (keeps the scan linear).
    from = end > at + 7 ? end : at + 7;
  }
}

/** A JVM/.NET throwable line together with at least one frame. */
function hasJvmExceptionWithFrame(view: LeakView): boolean {
  if (view.frames('dotted') < 1) return false;
  const t = view.text;
  return (
    t.includes('Exception in thread "') ||
    t.includes('Caused by: ') ||
    t.includes('Exception:') ||
    t.includes('Exception\n') ||
    t.includes('Error:') ||
    t.includes('Throwable')
  );
}

/** PHP: "Fatal error: ... in /var/www/x.php on line 3" (also Warning/Notice/Parse error). */
function hasPhpErrorLine(view: LeakView): boolean {
  const text = view.text;
  let from = 0;
  for (;;) {
    const at = text.indexOf('.php on line ', from);
    if (at < 0) return false;
    from = at + 13;
    if (!isDigit(text.charCodeAt(from))) continue;
    // Bounded look-back to the start of the line: a longer line is not an error message.
    let lineStart = at;
    while (lineStart > 0 && at - lineStart < 512 && text.charCodeAt(lineStart - 1) !== 10) lineStart--;
    const head = text.slice(lineStart, at);
    if (
      head.includes(' in ') &&
      (head.includes('error') ||
        head.includes('Warning') ||
        head.includes('Notice') ||
        head.includes('Deprecated'))
    )
      return true;
  }
}

/** PHP: "Stack trace:" followed by a "#0 " frame. */
function hasPhpStackTrace(view: LeakView): boolean {
  const text = view.text;
  let from = 0;
  for (;;) {
    const at = text.indexOf('Stack trace:', from);
    if (at < 0) return false;
    from = at + 12;
    let j = from;
    while (j < text.length && j - from < 16 && (isBlank(text.charCodeAt(j)) || text.charCodeAt(j) === 10))
      j++;
    if (text.startsWith('#0 ', j)) return true;
  }
}

/** ASP.NET's yellow screen: "Server Error in '/' Application." */
function hasAspNetServerError(view: LeakView): boolean {
  const text = view.text;
  let from = 0;
  for (;;) {
    const at = text.indexOf("Server Error in '", from);
    if (at < 0) return false;
    from = at + 17;
    const close = indexWithin(text, "' Application", from, 256);
    if (close >= 0 && !text.slice(from, close).includes('\n')) return true;
  }
}

// ---------------------------------------------------------------------------------------------
// The signatures, most specific first: a debug page that holds a stack is reported as the page, a
// database exception with a stack as the database error.

export const LEAK_SIGNATURES: readonly LeakSignature[] = Object.freeze([
  // Framework debug pages.
  anyOf('django-debug', 'framework-error-page', ['seeing this error because you have']),
  anyOf('rails-debug', 'framework-error-page', ['Action Controller: Exception caught']),
  anyOf('laravel-whoops', 'framework-error-page', [
    'Whoops, looks like something went wrong',
    'Whoops! There was an error',
    'Whoops\\Handler\\',
    'Illuminate\\',
    'vendor/laravel/framework/',
  ]),
  anyOf('symfony-debug', 'framework-error-page', ['Symfony\\Component\\']),
  anyOf('spring-whitelabel', 'framework-error-page', ['Whitelabel Error Page']),
  { name: 'aspnet-ysod', kind: 'framework-error-page', matches: hasAspNetServerError },
  anyOf('aspnet-unhandled', 'framework-error-page', [
    'An unhandled exception occurred during the execution of the current web request',
    'An unhandled exception occurred while processing the request',
  ]),
  anyOf('werkzeug-debugger', 'framework-error-page', [
    'Werkzeug Debugger',
    'The debugger caught an exception in your WSGI application',
  ]),

  // Database errors.
  anyOf('mysql-error', 'sql-error', [
    'You have an error in your SQL syntax',
    'mysqli_sql_exception',
    'com.mysql.jdbc.exceptions',
    'com.mysql.cj.jdbc.exceptions',
    'pymysql.err.',
    'MySQLdb._exceptions',
  ]),
  { name: 'oracle-error', kind: 'sql-error', matches: hasOracleError },
  anyOf('oracle-message', 'sql-error', ['quoted string not properly terminated']),
  { name: 'ruby-pg-error', kind: 'sql-error', matches: hasRubyPgError },
  anyOf('postgres-error', 'sql-error', [
    'unterminated quoted string at or near',
    'syntax error at or near "',
    'org.postgresql.util.PSQLException',
    'psycopg2.errors.',
    'Npgsql.PostgresException',
  ]),
  anyOf('pdo-error', 'sql-error', ['SQLSTATE[']),
  anyOf('sqlite-error', 'sql-error', ['SQLiteException', 'SQLITE_ERROR', 'sqlite3.OperationalError']),
  anyOf('mssql-error', 'sql-error', [
    'Unclosed quotation mark after the character string',
    'Incorrect syntax near',
    'System.Data.SqlClient.SqlException',
    'Microsoft.Data.SqlClient.SqlException',
  ]),
  anyOf('orm-error', 'sql-error', [
    'java.sql.SQLException',
    'SQLSyntaxErrorException',
    'SequelizeDatabaseError',
    'QueryFailedError:',
    'sqlalchemy.exc.',
  ]),

  // Stack traces.
  anyOf('python-traceback', 'stack-trace', ['Traceback (most recent call last):']),
  frameLines('python-frames', 'python', 2),
  anyOf('node-internals', 'stack-trace', [
    '(node:internal/',
    'at process.processTicksAndRejections (',
    'at Object.<anonymous> (',
  ]),
  frameLines('js-frames', 'js', 2),
  frameLines('jvm-dotnet-frames', 'dotted', 2),
  { name: 'jvm-exception', kind: 'stack-trace', matches: hasJvmExceptionWithFrame },
  { name: 'dotnet-exception', kind: 'stack-trace', matches: hasDotnetException },
  anyOf('dotnet-stack-marker', 'stack-trace', [
    '--- End of stack trace from previous location',
    '--- End of inner exception stack trace ---',
  ]),
  { name: 'php-error', kind: 'stack-trace', matches: hasPhpErrorLine },
  { name: 'php-stack-trace', kind: 'stack-trace', matches: hasPhpStackTrace },
  frameLines('php-frames', 'php', 2),
  frameLines('ruby-frames', 'ruby', 2),
  { name: 'go-goroutine', kind: 'stack-trace', matches: hasGoroutineHeader },
  frameLines('go-frames', 'go', 2),
] satisfies LeakSignature[]);

// ---------------------------------------------------------------------------------------------
// Normalization.

const SKIPPED_MEDIA = ['image/', 'audio/', 'video/', 'font/'];

const BLOCK_TAGS: ReadonlySet<string> = new Set([
  'br',
  'p',
  'div',
  'pre',
  'li',
  'ul',
  'ol',
  'tr',
  'td',
  'th',
  'table',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'hr',
  'dt',
  'dd',
  'title',
  'section',
  'article',
  'header',
  'footer',
]);

const ENTITIES: Readonly<Record<string, string>> = {
  lt: '<',
  gt: '>',
  amp: '&',
  quot: '"',
  apos: "'",
  nbsp: ' ',
};

/** A tag is looked for within this many characters of its "<" (keeps "<<<<" inputs linear). */
const MAX_TAG = 512;
const MAX_ENTITY = 10;

function hexValue(c: number): number {
  if (isDigit(c)) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** A JSON escape at i: [replacement, length] or undefined when it is not one we decode. */
function jsonEscape(raw: string, i: number): [string, number] | undefined {
  switch (raw.charCodeAt(i + 1)) {
    case 110: // n
      return ['\n', 2];
    case 114: // r
      return ['', 2];
    case 116: // t
      return ['\t', 2];
    case 34: // "
      return ['"', 2];
    case 92: // \
      return ['\\', 2];
    case 47: // /
      return ['/', 2];
    case 117: {
      // u: only ASCII code points matter to the signatures.
      let v = 0;
      for (let k = 2; k < 6; k++) {
        const h = hexValue(raw.charCodeAt(i + k));
        if (h < 0) return undefined;
        v = v * 16 + h;
      }
      return v < 0x80 ? [String.fromCharCode(v), 6] : undefined;
    }
    default:
      return undefined;
  }
}

/** A tag at i: [replacement, length] or undefined when "<" does not start a tag. */
function htmlTag(raw: string, i: number): [string, number] | undefined {
  const next = raw.charCodeAt(i + 1);
  if (!(isLetter(next) || next === 47 || next === 33)) return undefined;
  const close = raw.indexOf('>', i + 1);
  if (close < 0 || close - i > MAX_TAG) return undefined;
  let j = i + 1;
  if (raw.charCodeAt(j) === 47) j++;
  const nameStart = j;
  while (j < close && isAlnum(raw.charCodeAt(j))) j++;
  const name = raw.slice(nameStart, j).toLowerCase();
  return [BLOCK_TAGS.has(name) ? '\n' : '', close - i + 1];
}

/** An entity at i: [replacement, length] or undefined when it is not one we decode. */
function htmlEntity(raw: string, i: number): [string, number] | undefined {
  const semi = raw.indexOf(';', i + 1);
  if (semi < 0 || semi - i > MAX_ENTITY) return undefined;
  const body = raw.slice(i + 1, semi);
  const named = ENTITIES[body];
  if (named !== undefined) return [named, semi - i + 1];
  if (body.charCodeAt(0) !== 35) return undefined;
  const hex = body.charCodeAt(1) === 120 || body.charCodeAt(1) === 88;
  let v = 0;
  for (let k = hex ? 2 : 1; k < body.length; k++) {
    const d = hex ? hexValue(body.charCodeAt(k)) : isDigit(body.charCodeAt(k)) ? body.charCodeAt(k) - 48 : -1;
    if (d < 0) return undefined;
    v = v * (hex ? 16 : 10) + d;
  }
  if (body.length < (hex ? 3 : 2)) return undefined;
  if (v === 160) return [' ', semi - i + 1];
  return v < 0x80 ? [String.fromCharCode(v), semi - i + 1] : undefined;
}

function decode(raw: string, json: boolean, html: boolean): string {
  const parts: string[] = [];
  let copied = 0;
  let i = 0;
  while (i < raw.length) {
    const c = raw.charCodeAt(i);
    let found: [string, number] | undefined;
    if (json && c === 92) found = jsonEscape(raw, i);
    // A string delimiter ends a line: each JSON string is read as its own lines, so a frame at the
    // end of {"stack":"...at f (/x.js:1:2)"} or in ["at f (...)", "at g (...)"] keeps its shape.
    else if (json && c === 34) found = ['\n', 1];
    else if (html && c === 60) found = htmlTag(raw, i);
    else if (html && c === 38) found = htmlEntity(raw, i);
    if (found === undefined) {
      i++;
      continue;
    }
    parts.push(raw.slice(copied, i), found[0]);
    i += found[1];
    copied = i;
  }
  if (copied === 0) return raw;
  parts.push(raw.slice(copied));
  return parts.join('');
}

function firstNonBlank(raw: string): number {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (!(isBlank(c) || c === 10 || c === 0xfeff || c === 0xef || c === 0xbb || c === 0xbf)) return c;
  }
  return 0;
}

/** The normalized text to inspect, or undefined for media that cannot carry a readable leak. */
export function leakText(body: Buffer, contentType: string | undefined): string | undefined {
  const ct = (contentType ?? '').toLowerCase();
  if (SKIPPED_MEDIA.some((m) => ct.startsWith(m))) return undefined;
  const raw = body.toString('latin1', 0, Math.min(body.length, LEAK_SCAN_BYTES));
  const first = firstNonBlank(raw);
  const html = ct.includes('html') || first === 60;
  const json = ct.includes('json') || first === 123 || first === 91;
  return json || html ? decode(raw, json, html) : raw;
}

function viewOf(text: string): LeakView {
  let counts: Record<FrameKind, number> | undefined;
  return {
    text,
    frames(kind: FrameKind): number {
      counts ??= countFrames(text);
      return counts[kind];
    },
  };
}

/** The first signature the body matches, or undefined. */
export function findLeakSignature(
  body: Buffer,
  contentType: string | undefined,
  signatures: readonly LeakSignature[] = LEAK_SIGNATURES,
): LeakSignature | undefined {
  const text = leakText(body, contentType);
  if (text === undefined || text.length === 0) return undefined;
  const view = viewOf(text);
  for (const signature of signatures) if (signature.matches(view)) return signature;
  return undefined;
}

/** What kind of upstream leak the body carries (only its first 64 KiB are inspected), if any. */
export function findLeak(body: Buffer, contentType: string | undefined): LeakKind | undefined {
  return findLeakSignature(body, contentType)?.kind;
}

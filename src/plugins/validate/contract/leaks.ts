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
  /** Whether the literal occurs in the text (one pass for all declared literals; see LeakSignature). */
  has(literal: string): boolean;
  /** How many lines have each frame shape (computed on first use). */
  frames(kind: FrameKind): number;
}

export interface LeakSignature {
  /** Stable name for logs and tests; never contains body data. */
  readonly name: string;
  readonly kind: LeakKind;
  /**
   * The literals `matches` asks about with view.has(). All literals of a signature list are found in
   * ONE pass over the text (an Aho-Corasick automaton), so adding signatures costs no extra scans.
   * A literal not declared here is still answered, by a separate search.
   */
  readonly literals: readonly string[];
  readonly matches: (view: LeakView) => boolean;
}

// ---------------------------------------------------------------------------------------------
// Signature builders.

/** Any of the literals appears (case-sensitive). */
function anyOf(name: string, kind: LeakKind, literals: readonly string[]): LeakSignature {
  return { name, kind, literals, matches: (view) => literals.some((l) => view.has(l)) };
}

/** A literal must appear, then a detector checks the shape around it. */
function shaped(
  name: string,
  kind: LeakKind,
  literal: string,
  detect: (text: string) => boolean,
): LeakSignature {
  return { name, kind, literals: [literal], matches: (view) => view.has(literal) && detect(view.text) };
}

/** At least `min` lines have the frame shape. */
function frameLines(name: string, frame: FrameKind, min: number): LeakSignature {
  return { name, kind: 'stack-trace', literals: [], matches: (view) => view.frames(frame) >= min };
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

/** Ruby and Go frames hold a fixed piece; without it anywhere, no line needs those classifiers. */
const RUBY_FRAME_PIECE = ':in ';
const GO_FRAME_PIECE = '.go:';

function countFrames(text: string, withRuby: boolean, withGo: boolean): Record<FrameKind, number> {
  const counts: Record<FrameKind, number> = { js: 0, dotted: 0, python: 0, ruby: 0, php: 0, go: 0 };
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
function hasGoroutineHeader(text: string): boolean {
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
function hasOracleError(text: string): boolean {
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
function hasRubyPgError(text: string): boolean {
  let from = 0;
  for (;;) {
    const at = text.indexOf('PG::', from);
    if (at < 0) return false;
    from = at + 4;
    if (isUpper(text.charCodeAt(from))) return true;
  }
}

/** "System.NullReferenceException" and every other System.*Exception of .NET. */
function hasDotnetException(text: string): boolean {
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
    from = Math.max(end, at + 7);
  }
}

/** With at least one frame, any of these makes a JVM/.NET throwable dump. */
const THROWABLE_WORDS = [
  'Exception in thread "',
  'Caused by: ',
  'Exception:',
  'Exception\n',
  'Error:',
  'Throwable',
];

/** PHP: "Fatal error: ... in /var/www/x.php on line 3" (also Warning/Notice/Parse error). */
function hasPhpErrorLine(text: string): boolean {
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
function hasPhpStackTrace(text: string): boolean {
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
function hasAspNetServerError(text: string): boolean {
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
  shaped('aspnet-ysod', 'framework-error-page', "Server Error in '", hasAspNetServerError),
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
  shaped('oracle-error', 'sql-error', 'ORA-', hasOracleError),
  anyOf('oracle-message', 'sql-error', ['quoted string not properly terminated']),
  shaped('ruby-pg-error', 'sql-error', 'PG::', hasRubyPgError),
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
    "Incorrect syntax near '",
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
  {
    // The header alone is a phrase anyone can store (a book title); a real traceback has a frame.
    name: 'python-traceback',
    kind: 'stack-trace',
    literals: ['Traceback (most recent call last):'],
    matches: (view) => view.has('Traceback (most recent call last):') && view.frames('python') >= 1,
  },
  frameLines('python-frames', 'python', 2),
  anyOf('node-internals', 'stack-trace', [
    '(node:internal/',
    'at process.processTicksAndRejections (',
    'at Object.<anonymous> (',
  ]),
  frameLines('js-frames', 'js', 2),
  frameLines('jvm-dotnet-frames', 'dotted', 2),
  {
    name: 'jvm-exception',
    kind: 'stack-trace',
    literals: THROWABLE_WORDS,
    matches: (view) => THROWABLE_WORDS.some((w) => view.has(w)) && view.frames('dotted') >= 1,
  },
  shaped('dotnet-exception', 'stack-trace', 'System.', hasDotnetException),
  anyOf('dotnet-stack-marker', 'stack-trace', [
    '--- End of stack trace from previous location',
    '--- End of inner exception stack trace ---',
  ]),
  shaped('php-error', 'stack-trace', '.php on line ', hasPhpErrorLine),
  shaped('php-stack-trace', 'stack-trace', 'Stack trace:', hasPhpStackTrace),
  frameLines('php-frames', 'php', 2),
  frameLines('ruby-frames', 'ruby', 2),
  shaped('go-goroutine', 'stack-trace', 'goroutine ', hasGoroutineHeader),
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

/** A Map, not an object literal: "&toString;" must not find Object.prototype members. */
const ENTITIES: ReadonlyMap<string, number> = new Map([
  ['lt', 60],
  ['gt', 62],
  ['amp', 38],
  ['quot', 34],
  ['apos', 39],
  ['nbsp', 32],
]);

/** A "<" more than this many bytes before its ">" is text, not a tag. */
const MAX_TAG = 512;
const MAX_ENTITY = 10;

function hexValue(c: number): number {
  if (isDigit(c)) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * What the decoders below produced: the byte to emit (-1: none) and how many input bytes they read.
 * One shared slot instead of a tuple per escape: decoding runs on every inspected answer.
 */
const step = { byte: -1, length: 0 };

function emit(byte: number, length: number): true {
  step.byte = byte;
  step.length = length;
  return true;
}

/** A JSON escape at i ("\n", "\t", "\"", "\\", "\/", "\u00XX" for ASCII); false when not one. */
function jsonEscape(raw: Buffer, i: number): boolean {
  switch (raw[i + 1]) {
    case 110: // n
      return emit(10, 2);
    case 114: // r
      return emit(-1, 2);
    case 116: // t
      return emit(9, 2);
    case 34: // "
      return emit(34, 2);
    case 92: // \
      return emit(92, 2);
    case 47: // /
      return emit(47, 2);
    case 117: {
      // u: only ASCII code points matter to the signatures.
      let v = 0;
      for (let k = 2; k < 6; k++) {
        const h = hexValue(raw[i + k] ?? 0);
        if (h < 0) return false;
        v = v * 16 + h;
      }
      return v < 0x80 && emit(v, 6);
    }
    default:
      return false;
  }
}

/**
 * A tag at i, whose first ">" after it is at `close` (-1: none): a line break for block tags and
 * <br>, nothing for others; false when "<" is text.
 */
function htmlTag(raw: Buffer, i: number, close: number): boolean {
  const next = raw[i + 1] ?? 0;
  if (!(isLetter(next) || next === 47 || next === 33)) return false;
  if (close < 0 || close - i > MAX_TAG) return false;
  let j = raw[i + 1] === 47 ? i + 2 : i + 1;
  const nameStart = j;
  while (j < close && isAlnum(raw[j] as number)) j++;
  const name = raw.toString('latin1', nameStart, j).toLowerCase();
  return emit(BLOCK_TAGS.has(name) ? 10 : -1, close - i + 1);
}

/** An entity at i (&lt; &gt; &amp; &quot; &apos; &nbsp; and numeric ASCII ones); false when not one. */
function htmlEntity(raw: Buffer, i: number): boolean {
  const limit = Math.min(raw.length, i + MAX_ENTITY + 1);
  let semi = i + 1;
  while (semi < limit && raw[semi] !== 59) semi++;
  if (semi >= limit) return false;
  const body = raw.toString('latin1', i + 1, semi);
  const named = ENTITIES.get(body);
  if (named !== undefined) return emit(named, semi - i + 1);
  if (body.charCodeAt(0) !== 35) return false;
  const hex = body.charCodeAt(1) === 120 || body.charCodeAt(1) === 88;
  if (body.length < (hex ? 3 : 2)) return false;
  let v = 0;
  for (let k = hex ? 2 : 1; k < body.length; k++) {
    const c = body.charCodeAt(k);
    const d = hex ? hexValue(c) : isDigit(c) ? c - 48 : -1;
    if (d < 0) return false;
    v = v * (hex ? 16 : 10) + d;
    if (v > 0xffff) return false;
  }
  if (v === 160) return emit(32, semi - i + 1);
  return v < 0x80 && emit(v, semi - i + 1);
}

/** Decodes into a buffer of the same size (every decoding shrinks or keeps the length). */
function decode(raw: Buffer, json: boolean, html: boolean): string {
  const out = Buffer.allocUnsafe(raw.length);
  let o = 0;
  let i = 0;
  // The next ">" is found once and reused by every "<" before it, so "<a<a<a..." stays linear.
  let close = -1;
  let searched = false;
  while (i < raw.length) {
    const c = raw[i] as number;
    let decoded = false;
    if (json && c === 92) decoded = jsonEscape(raw, i);
    // A string delimiter ends a line: each JSON string is read as its own lines, so a frame at the
    // end of {"stack":"...at f (/x.js:1:2)"} or in ["at f (...)", "at g (...)"] keeps its shape.
    else if (json && c === 34) decoded = emit(10, 1);
    else if (html && c === 60) {
      // Searched again only once passed; none found once means none after any later "<" either.
      if (!searched || (close >= 0 && close < i)) {
        close = raw.indexOf(62, i + 1);
        searched = true;
      }
      decoded = htmlTag(raw, i, close);
    } else if (html && c === 38) decoded = htmlEntity(raw, i);
    if (!decoded) {
      out[o++] = c;
      i++;
      continue;
    }
    if (step.byte >= 0) out[o++] = step.byte;
    i += step.length;
  }
  return out.toString('latin1', 0, o);
}

function firstNonBlank(raw: Buffer): number {
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as number;
    // Blanks, line breaks and a UTF-8 byte order mark.
    if (!(isBlank(c) || c === 10 || c === 0xef || c === 0xbb || c === 0xbf)) return c;
  }
  return 0;
}

/** The normalized text to inspect, or undefined for media that cannot carry a readable leak. */
export function leakText(body: Buffer, contentType: string | undefined): string | undefined {
  const ct = (contentType ?? '').toLowerCase();
  if (SKIPPED_MEDIA.some((m) => ct.startsWith(m))) return undefined;
  const raw = body.subarray(0, Math.min(body.length, LEAK_SCAN_BYTES));
  const first = firstNonBlank(raw);
  const html = ct.includes('html') || first === 60;
  const json = ct.includes('json') || first === 123 || first === 91;
  return json || html ? decode(raw, json, html) : raw.toString('latin1');
}

// ---------------------------------------------------------------------------------------------
// One pass for every literal: an Aho-Corasick automaton compiled to a dense transition table over
// the characters the literals use (every other character leads back to the root).

class LiteralScanner {
  private readonly index = new Map<string, number>();
  private readonly classes = new Uint8Array(256);
  private readonly width: number;
  private readonly delta: Int32Array;
  private readonly outputs: (readonly number[])[];

  constructor(literals: readonly string[]) {
    const unique = [...new Set(literals)].filter((l) => l.length > 0);
    for (const [i, l] of unique.entries()) this.index.set(l, i);
    let classCount = 1;
    for (const l of unique) {
      for (let k = 0; k < l.length; k++) {
        const c = l.charCodeAt(k);
        // The text is read as latin1 and decoded escapes are ASCII: a non-ASCII literal never matches.
        if (c > 0x7f) throw new TypeError('leak signature literals must be ASCII');
        if (this.classes[c] === 0) this.classes[c] = classCount++;
      }
    }
    this.width = classCount;
    // The trie: goto[state * width + class], -1 when absent.
    const states = 1 + unique.reduce((n, l) => n + l.length, 0);
    const goto = new Int32Array(states * this.width).fill(-1);
    const out: number[][] = [[]];
    let count = 1;
    unique.forEach((l, id) => {
      let state = 0;
      for (let k = 0; k < l.length; k++) {
        const slot = state * this.width + (this.classes[l.charCodeAt(k)] as number);
        if ((goto[slot] as number) < 0) {
          goto[slot] = count++;
          out.push([]);
        }
        state = goto[slot] as number;
      }
      (out[state] as number[]).push(id);
    });
    // Breadth-first: failure links, merged outputs, and the full transition table.
    this.delta = new Int32Array(count * this.width);
    const fail = new Int32Array(count);
    const queue: number[] = [];
    for (let c = 1; c < this.width; c++) {
      const next = goto[c] as number;
      if (next > 0) queue.push(next);
      this.delta[c] = Math.max(next, 0);
    }
    for (let head = 0; head < queue.length; head++) {
      const state = queue[head] as number;
      for (let c = 1; c < this.width; c++) {
        const next = goto[state * this.width + c] as number;
        const viaFail = this.delta[(fail[state] as number) * this.width + c] as number;
        if (next > 0) {
          fail[next] = viaFail;
          out[next] = [...(out[next] as number[]), ...(out[viaFail] as number[])];
          queue.push(next);
          this.delta[state * this.width + c] = next;
        } else this.delta[state * this.width + c] = viaFail;
      }
    }
    this.outputs = out;
  }

  /** Marks, per literal, whether it occurs in the text. */
  scan(text: string): Uint8Array {
    const found = new Uint8Array(this.index.size);
    const { classes, delta, width, outputs } = this;
    let state = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      state = delta[state * width + (c < 256 ? (classes[c] as number) : 0)] as number;
      const hits = outputs[state] as readonly number[];
      for (let k = 0; k < hits.length; k++) found[hits[k] as number] = 1;
    }
    return found;
  }

  /** Whether the literal was found; undefined when it was not declared. */
  lookup(found: Uint8Array, literal: string): boolean | undefined {
    const id = this.index.get(literal);
    return id === undefined ? undefined : found[id] === 1;
  }
}

const scanners = new WeakMap<readonly LeakSignature[], LiteralScanner>();

function scannerFor(signatures: readonly LeakSignature[]): LiteralScanner {
  let scanner = scanners.get(signatures);
  if (scanner === undefined) {
    scanner = new LiteralScanner([
      RUBY_FRAME_PIECE,
      GO_FRAME_PIECE,
      ...signatures.flatMap((s) => s.literals),
    ]);
    scanners.set(signatures, scanner);
  }
  return scanner;
}

function viewOf(text: string, scanner: LiteralScanner): LeakView {
  const found = scanner.scan(text);
  const has = (literal: string): boolean => scanner.lookup(found, literal) ?? text.indexOf(literal) >= 0;
  let counts: Record<FrameKind, number> | undefined;
  return {
    text,
    has,
    frames(kind: FrameKind): number {
      counts ??= countFrames(text, has(RUBY_FRAME_PIECE), has(GO_FRAME_PIECE));
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
  const view = viewOf(text, scannerFor(signatures));
  for (const signature of signatures) if (signature.matches(view)) return signature;
  return undefined;
}

/** What kind of upstream leak the body carries (only its first 64 KiB are inspected), if any. */
export function findLeak(body: Buffer, contentType: string | undefined): LeakKind | undefined {
  return findLeakSignature(body, contentType)?.kind;
}

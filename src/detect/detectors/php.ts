import type { Detector, Finding, Input } from '../types.js';
import { xmlPieces } from './shell.js';

/**
 * PHP code injection: PHP open tags, calls of functions that run code or commands (names are
 * case-insensitive in PHP, and whitespace or comments may sit before the "("), variable and
 * string-callable functions ($f(…), "sys"."tem"(…), (system)(…)), superglobals, stream wrappers
 * (php://, phar://, …), serialized objects (O:8:"…"), php.ini directives and uploads of PHP files
 * or session files. One identifier scan over the value; every check after it is bounded.
 */

function finding(rule: string, pl: 1 | 2 | 3, score: number): Finding {
  return { rule: `php-${rule}`, family: 'php', pl, score };
}

const F_TAG = finding('open-tag', 1, 5);
const F_CALL = finding('dangerous-call', 1, 5);
const F_CALL_LOOSE = finding('function-call', 2, 5);
const F_TAG_END = finding('open-tag-end', 2, 5);
const F_CALL_HINT = finding('function-name', 2, 2);
const F_VARIABLE_CALL = finding('variable-function', 1, 5);
const F_STRING_CALL = finding('callable-string', 1, 5);
const F_VARIABLE_VARIABLE = finding('variable-variable', 1, 5);
const F_SUPERGLOBAL = finding('superglobal', 1, 5);
const F_WRAPPER = finding('stream-wrapper', 1, 5);
const F_SERIALIZED = finding('serialized-object', 1, 5);
const F_INI = finding('ini-directive', 1, 5);
const F_UPLOAD = finding('script-upload', 1, 5);
const F_SESSION_UPLOAD = finding('session-upload', 1, 5);

function names(text: string): ReadonlySet<string> {
  return new Set(text.split(/\s+/).filter((w) => w !== ''));
}

/**
 * Functions only PHP has (their names are PHP's own) that run code or commands, decode payloads,
 * reach files, sockets or configuration: calling one is PHP code whatever the argument.
 */
const PHP_ONLY: ReadonlySet<string> = names(`
  shell_exec file_exists passthru proc_open popen pcntl_exec pcntl_fork phpinfo php_uname base64_decode
  gzinflate gzuncompress gzdecode zlib_decode bzdecompress str_rot13 convert_uudecode hex2bin
  create_function call_user_func call_user_func_array forward_static_call forward_static_call_array
  register_shutdown_function register_tick_function array_map array_filter array_walk usort uasort
  uksort preg_replace preg_replace_callback assert_options file_put_contents file_get_contents
  move_uploaded_file fsockopen pfsockopen stream_socket_client stream_socket_server curl_exec
  curl_multi_exec show_source highlight_file posix_getpwuid posix_getpwnam posix_setuid
  posix_kill posix_mkfifo get_defined_vars get_defined_functions get_defined_constants ini_set
  ini_get ini_get_all ini_restore set_include_path get_include_path set_error_handler
  set_exception_handler var_dump var_export print_r debug_zval_dump get_cfg_var getmypid getmyuid
  parse_ini_file parse_ini_string import_request_variables mb_ereg_replace mb_eregi_replace
  ereg_replace eregi_replace iptcembed ftp_exec apache_child_terminate apache_setenv
  escapeshellcmd escapeshellarg simplexml_load_file simplexml_load_string
  libxml_disable_entity_loader htmlspecialchars_decode html_entity_decode array_diff date_add
  function_exists class_exists method_exists get_class_methods ldap_connect ldap_search
  ldap_get_entries pg_connect pg_query mysql_query mysqli_query odbc_exec sqlite_query bzopen
  gzopen gzfile zip_open zip_read gethostbyname unserialize
  `);

/** Names other languages share (eval, exec, system): dangerous, so a literal argument is enough. */
const SHARED_DANGEROUS: ReadonlySet<string> = names(`
  eval exec system assert include include_once require require_once
  `);

/** PHP functions with everyday names (file, copy, mail): a call counts when its argument is $-shaped. */
const GENERIC: ReadonlySet<string> = names(`
  fopen fread fwrite fputs fgets fpassthru readfile file tmpfile tempnam unlink rmdir mkdir
  rename copy symlink link chmod chown chgrp touch dl mail header setcookie ob_start extract
  parse_str intval strrev chr pack unpack urldecode rawurldecode implode explode compact
  serialize getenv putenv getcwd chdir scandir opendir readdir glob syslog openlog
  socket_create socket_connect ftp_connect ftp_get ftp_put stripslashes
  `);

/** The most telling of the shared and PHP-only names: enough alone inside a callable string. */
const CALLABLE: ReadonlySet<string> = names(`
  system exec shell_exec passthru popen proc_open eval assert create_function call_user_func
  base64_decode phpinfo file_put_contents file_get_contents include require readfile unlink
  `);

const SUPERGLOBALS: readonly string[] = [
  '_get',
  '_post',
  '_cookie',
  '_request',
  '_server',
  '_files',
  '_env',
  '_session',
  'globals',
  'http_raw_post_data',
  'http_get_vars',
  'http_post_vars',
  'http_cookie_vars',
  'http_server_vars',
  'http_env_vars',
  'http_post_files',
  'http_session_vars',
];

const WRAPPERS: readonly string[] = [
  'php://',
  'phar://',
  'zlib://',
  'data://',
  'expect://',
  'glob://',
  'zip://',
  'compress.zlib://',
  'compress.bzip2://',
  'rar://',
  'ogg://',
  'ssh2.shell://',
  'ssh2.exec://',
  'ssh2.tunnel://',
  'ssh2.sftp://',
  'ssh2.scp://',
];

/** php.ini directives that change what PHP runs or where from. */
const INI: ReadonlySet<string> = names(`
  allow_url_include allow_url_fopen auto_prepend_file auto_append_file disable_functions
  disable_classes open_basedir safe_mode safe_mode_exec_dir register_globals magic_quotes_gpc
  file_uploads upload_tmp_dir include_path engine extension zend_extension short_open_tag
  asp_tags expose_php display_errors log_errors error_log html_errors enable_dl
  sendmail_path sendmail_from cgi.force_redirect session.save_path session.save_handler
  session.serialize_handler session.use_trans_sid session.referer_check session.auto_start
  session.upload_progress.enabled phar.readonly phar.require_hash assert.active assert.callback
  opcache.enable opcache.file_cache opcache.jit opcache.jit_buffer_size opcache.preload
  opcache.jit_max_polymorphic_calls mbstring.func_overload mbstring.regex_retry_limit
  mbstring.regex_stack_limit pcre.backtrack_limit pcre.recursion_limit pcre.jit
  memory_limit max_execution_time variables_order request_order user_ini.filename precision
  serialize_precision unserialize_max_depth unserialize_callback_func smtp smtp_port extension_dir
  doc_root user_dir cgi.fix_pathinfo fastcgi.impersonate upload_max_filesize post_max_size
  max_input_vars auto_detect_line_endings default_socket_timeout zend.assertions xdebug.mode
  `);

// ---------------------------------------------------------------------------------------------

function isAlpha(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isIdent(c: number): boolean {
  return isAlpha(c) || isDigit(c) || c === 95 || c >= 0x7f;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
}

/** Skips whitespace and PHP comments (/* *\/, #…, //…) from i; bounded by `limit` characters. */
function skipGap(s: string, i: number, limit = 64): number {
  const stop = Math.min(s.length, i + limit);
  while (i < stop) {
    const c = s.charCodeAt(i);
    if (isSpace(c)) i++;
    else if (c === 47 && s.charCodeAt(i + 1) === 42) {
      const end = s.indexOf('*/', i + 2);
      if (end === -1 || end > stop) return i;
      i = end + 2;
    } else if (c === 35 || (c === 47 && s.charCodeAt(i + 1) === 47)) {
      const end = s.indexOf('\n', i);
      if (end === -1 || end > stop) return i;
      i = end + 1;
    } else return i;
  }
  return i;
}

/** Index of `ch` in s within [from, from + max), or -1: searches stay bounded, whatever the input. */
function findWithin(s: string, ch: number, from: number, max: number): number {
  const stop = Math.min(s.length, from + max);
  for (let i = from; i < stop; i++) if (s.charCodeAt(i) === ch) return i;
  return -1;
}

/** PHP open tags: <?php, <?=, "<? code", [php]…[/php], {php}. "<?xml" does not count. */
function openTag(s: string): boolean {
  for (let at = s.indexOf('<?'); at !== -1; at = s.indexOf('<?', at + 2)) {
    const rest = s.slice(at + 2, at + 16).toLowerCase();
    // "<?php" alone (a cookie, a word) is no code; "<?php echo" and "<?php\n" are.
    if (rest.startsWith('php')) {
      if (rest.length > 3 && (isSpace(rest.charCodeAt(3)) || rest.charCodeAt(3) === 40)) return true;
      continue;
    }
    if (rest.startsWith('=')) return rest.length > 1;
    if (rest.startsWith('xml')) {
      if (xmlDeclaration(s, at + 5)) continue;
      return true;
    }
    let j = 0;
    while (j < rest.length && isSpace(rest.charCodeAt(j))) j++;
    if (rest.startsWith('php', j)) return true;
    if (j > 0 || rest.startsWith('xml')) {
      // "<? exec(…)", "<? echo …", "<?xml :exec(…)": code right after the tag.
      const from = at + 2 + (rest.startsWith('xml', j) ? j + 4 : j);
      const k = skipGap(s, from);
      if (s.slice(k, k + 4).toLowerCase() === 'echo' || s.charCodeAt(k) === 36 || callAt(s, k)) return true;
    }
  }
  return false;
}

/**
 * After "<?xml": a real declaration or processing instruction has attributes (version="1.0"), a
 * "-" name (xml-stylesheet) or ends (?>); anything else (":exec(…)", "();echo") is PHP code.
 */
function xmlDeclaration(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c === 45 || i >= s.length) return true;
  if (!isSpace(c) && c !== 63) return false;
  let j = i;
  while (j < s.length && j - i < 64 && isSpace(s.charCodeAt(j))) j++;
  if (j >= s.length || s.charCodeAt(j) === 63) return true;
  let k = j;
  while (k < s.length && k - j < 32 && (isIdent(s.charCodeAt(k)) || s.charCodeAt(k) === 58)) k++;
  return k > j && isAlpha(s.charCodeAt(j)) && s.charCodeAt(skipGap(s, k, 8)) === 61;
}

/** [php]…[/php], {php}, <script language="php">: the other ways into PHP mode. */
function otherTag(lower: string): boolean {
  for (const t of ['[/php]', '[\\php]', '{php}', '{/php}', '[php]']) if (lower.includes(t)) return true;
  const at = lower.indexOf('<script');
  return at !== -1 && /^<script[^>]{0,40}language\s*=\s*["']?php/.test(lower.slice(at, at + 80));
}

/** An identifier at k followed (after a gap) by "(". */
function callAt(s: string, k: number): boolean {
  let j = k;
  while (j < s.length && j - k < 64 && isIdent(s.charCodeAt(j))) j++;
  if (j === k) return false;
  return s.charCodeAt(skipGap(s, j)) === 40;
}

const PHP_NAME = 1;
const SHARED_NAME = 2;
const GENERIC_NAME = 3;

interface Calls {
  strong: boolean;
  loose: boolean;
  hint: boolean;
  variable: boolean;
  callable: boolean;
  superglobal: boolean;
  variableVariable: boolean;
}

/** Extension prefixes only PHP's function names carry (posix_getpid, curl_init, pcntl_fork, …). */
const PHP_PREFIXES: readonly string[] = [
  'posix_',
  'pcntl_',
  'proc_',
  'curl_',
  'ftp_',
  'mysql_',
  'mysqli_',
  'pg_',
  'ldap_',
  'odbc_',
  'oci_',
  'ini_',
  'gz',
  'bz',
  'tidy_',
  'zend_',
  'sodium_crypto_',
  'openssl_',
];

/** Prefixes of PHP's everyday helpers (is_array, str_replace, array_keys): a call only as a whole value. */
const LIGHT_PREFIXES: readonly string[] = [
  'is_',
  'str_',
  'array_',
  'strip_',
  'json_',
  'ctype_',
  'preg_',
  'var_',
];
const LIGHT: ReadonlySet<string> = names(`
  printf sprintf vsprintf intval floatval strval boolval settype gettype strlen strtolower strtoupper
  substr trim nl2br htmlspecialchars htmlentities addslashes phpversion
  `);
const LIGHT_NAME = 4;

function knownName(name: string, atStart: boolean): number {
  if (PHP_ONLY.has(name)) return PHP_NAME;
  for (const p of PHP_PREFIXES) if (name.startsWith(p) && name.length > p.length + 2) return PHP_NAME;
  if (SHARED_DANGEROUS.has(name)) return SHARED_NAME;
  if (GENERIC.has(name)) return GENERIC_NAME;
  // Everyday helpers count only as the whole value's call (judgeCall), so only at its start.
  if (!atStart) return 0;
  if (LIGHT.has(name)) return LIGHT_NAME;
  for (const p of LIGHT_PREFIXES) if (name.startsWith(p) && name.length > p.length + 2) return LIGHT_NAME;
  return 0;
}

/**
 * Walks back from p (exclusive) over whitespace and /* *\/ comments (bounded): "exec /**\/ (".
 * Returns the index just after the previous token.
 */
function backOverGap(s: string, p: number): number {
  let b = p;
  let crossed = false;
  const stop = Math.max(0, p - 64);
  while (b > stop) {
    const c = s.charCodeAt(b - 1);
    if (isSpace(c)) {
      if (c === 10 || c === 13) crossed = true;
      b--;
    } else if (c === 47 && s.charCodeAt(b - 2) === 42) {
      let k = b - 3;
      while (k > stop && !(s.charCodeAt(k) === 42 && s.charCodeAt(k - 1) === 47)) k--;
      if (k <= stop) return b;
      b = k - 1;
    } else {
      // After a line break, the line before may end in a # or // comment: "exec // x\n (".
      const m = crossed ? lineComment(s, b, stop) : -1;
      if (m === -1) return b;
      b = m;
      crossed = false;
    }
  }
  return b;
}

/** Where a # or // comment starts on the line ending at b (exclusive), or -1. */
function lineComment(s: string, b: number, stop: number): number {
  let m = -1;
  for (let k = b - 1; k >= stop; k--) {
    const c = s.charCodeAt(k);
    if (c === 10 || c === 13) break;
    if (c === 35) m = k;
    else if (c === 47 && k > 0 && s.charCodeAt(k - 1) === 47) {
      m = k - 1;
      k--;
    }
  }
  return m;
}

/**
 * Every "(" of the value: the name before it (past whitespace and comments) is a known function,
 * or a callable string / expression that names one: 'system'(…), (system)(…), [system][0](…).
 */
function scanCalls(s: string, r: Calls): void {
  for (let k = s.indexOf('('); k !== -1; k = s.indexOf('(', k + 1)) {
    const b = backOverGap(s, k);
    let e = b;
    let closers = 0;
    // Closing quotes, parentheses and [n] / {n} indexes of a callable expression, with whitespace
    // and comments between them: "[ system ] [ 0 ] ( ls )", "([system][0]) {/**/0} (ls)".
    for (let hops = 0; hops < 6 && e > 0; hops++) {
      if (hops > 0) e = backOverGap(s, e);
      const c = s.charCodeAt(e - 1);
      if (c === 39 || c === 34 || c === 41) e--;
      else if (c === 93 || c === 125) {
        const p = backOverGap(s, e - 1);
        let q = p;
        while (q > 0 && p - q < 8 && isDigit(s.charCodeAt(q - 1))) q--;
        const r = q < p ? backOverGap(s, q) : q;
        const o = s.charCodeAt(r - 1);
        if (q < p && (o === 91 || o === 123)) e = r - 1;
        else if (c === 93) e--;
        else break;
      } else break;
      closers++;
    }
    if (closers > 0) e = backOverGap(s, e);
    let start = e;
    while (start > 0 && e - start < 64 && isIdent(s.charCodeAt(start - 1))) start--;
    if (e - start < 2 || (start > 0 && s.charCodeAt(start - 1) === 36)) continue;
    const name = s.slice(start, e).toLowerCase();
    if (closers > 0) {
      if (CALLABLE.has(name)) r.callable = true;
      continue;
    }
    const known = knownName(name, start === 0);
    if (known !== 0) judgeCall(s, start, e, known, r);
  }
}

/** A known function name at [i, j) followed by "(": how PHP-like is the call? */
function judgeCall(s: string, i: number, j: number, known: number, r: Calls): void {
  const prev = i > 0 ? s.charCodeAt(i - 1) : 32;
  // obj.system( / obj->exec( are methods of something else, not PHP's functions.
  if (prev === 46 && !(i > 1 && (s.charCodeAt(i - 2) === 39 || s.charCodeAt(i - 2) === 34))) return;
  if (prev === 62 && i > 1 && s.charCodeAt(i - 2) === 45) return;
  if (isIdent(prev)) return;
  const after = skipGap(s, j);
  if (s.charCodeAt(after) !== 40) return;
  const gap = after > j;
  // A comment between a function name and its "(" hides the call from naive filters.
  if (gap && hasComment(s, j, after)) {
    // A "#" or "//" line before "(" may be prose ("the file #2\n(see below)"): an everyday name
    // counts then only with a code-shaped argument: none, a $variable or a string.
    const a = s.charCodeAt(skipGap(s, after + 1, 16));
    const codeArg = a === 41 || a === 36 || a === 39 || a === 34;
    if (known === PHP_NAME || known === SHARED_NAME || codeArg || !hasLineComment(s, j, after))
      r.strong = true;
    return;
  }
  // The whole value is one call ("intval(foo)", "is_array()"): code, whatever the name.
  if (i === 0 && !gap && (known === LIGHT_NAME || known === GENERIC_NAME) && wholeCall(s, after))
    r.loose = true;
  // Tabs or runs of spaces before "(" ("exec\t(x)", "fopen  (x)"): no writer's spacing.
  if (gap && oddGap(s, j, after) && !proseAround(s, i, after)) r.loose = true;
  if (known === LIGHT_NAME) return;
  const arg = s.charCodeAt(skipGap(s, after + 1, 16));
  // $var, @$var or an empty call: PHP-shaped. A quote: a literal, dangerous for eval and friends.
  const dollarArg = arg === 36 || arg === 64 || (arg === 41 && !gap);
  const quoteArg = arg === 39 || arg === 34;
  if (known === PHP_NAME) {
    if (!gap || dollarArg || quoteArg || !proseAround(s, i, after)) r.strong = true;
    else r.hint = true;
  } else if (known === SHARED_NAME) {
    // "avoid eval() here" is prose about code: an empty call of a shared name is only a hint.
    if (arg === 41) r.hint = true;
    else if (dollarArg || (quoteArg && !gap) || prev === 64) r.strong = true;
    else if (quoteArg || !gap) r.loose = true;
    else r.hint = true;
  } else if (dollarArg || prev === 64) r.strong = true;
  else if (quoteArg && !gap) r.loose = true;
}

/** The "(" at open is closed at the value's end (a ";" and whitespace may follow). */
function wholeCall(s: string, open: number): boolean {
  let end = s.length;
  while (end > open && (isSpace(s.charCodeAt(end - 1)) || s.charCodeAt(end - 1) === 59)) end--;
  if (end - open > 200 || s.charCodeAt(end - 1) !== 41) return false;
  for (let k = open + 1; k < end - 1; k++) {
    const c = s.charCodeAt(k);
    if (c === 40 || c === 41 || c === 10) return false;
  }
  return true;
}

/** A gap of tabs or several spaces on one line. */
function oddGap(s: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    const c = s.charCodeAt(k);
    if (c === 10 || c === 13) return false;
  }
  for (let k = from; k < to; k++) {
    const c = s.charCodeAt(k);
    if (c === 9 || (c === 32 && s.charCodeAt(k + 1) === 32)) return true;
  }
  return false;
}

function hasLineComment(s: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    const c = s.charCodeAt(k);
    if (c === 35 || (c === 47 && s.charCodeAt(k + 1) === 47)) return true;
  }
  return false;
}

function hasComment(s: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    const c = s.charCodeAt(k);
    if (c === 35 || (c === 47 && (s.charCodeAt(k + 1) === 42 || s.charCodeAt(k + 1) === 47))) return true;
  }
  return false;
}

/** include/require as statements: include 'x.php'; require $_GET['f']; */
function includeStatement(s: string): boolean {
  for (const word of ['include', 'require', 'INCLUDE', 'REQUIRE']) {
    for (let at = s.indexOf(word); at !== -1; at = s.indexOf(word, at + 7)) {
      if (at > 0 && isIdent(s.charCodeAt(at - 1))) continue;
      let j = at + 7;
      if (s.startsWith('_once', j) || s.startsWith('_ONCE', j)) j += 5;
      if (!isSpace(s.charCodeAt(j))) continue;
      const a = s.charCodeAt(skipGap(s, j, 16));
      if ((a === 39 || a === 34 || a === 36) && findWithin(s, 59, j, 200) !== -1) return true;
    }
  }
  return false;
}

/** A call written in running prose ("the system (yep) works") rather than code. */
function proseAround(s: string, i: number, open: number): boolean {
  const close = findWithin(s, 41, open, 80);
  if (close === -1) return false;
  let k = close + 1;
  while (k < s.length && s.charCodeAt(k) === 32) k++;
  const next = s.charCodeAt(k);
  return i > 0 && s.charCodeAt(i - 1) === 32 && k > close + 1 && isAlpha(next);
}

/** Every "$" of the value. */
function scanDollars(s: string, r: Calls): void {
  for (let i = s.indexOf('$'); i !== -1; ) {
    const next = dollar(s, i, r);
    i = s.indexOf('$', Math.max(next, i) + 1);
  }
}

/**
 * After a "$": $_GET / $GLOBALS (superglobals), $f(…) / $f[…](…) / ${…}(…) / $a->$b(…) (variable
 * functions), ${'name'} / $ {$a} (variable variables). Returns the index to continue from.
 */
function dollar(s: string, i: number, r: Calls): number {
  const prev = i > 0 ? s.charCodeAt(i - 1) : 32;
  let j = i + 1;
  const c1 = s.charCodeAt(j);
  if (c1 === 95 || isAlpha(c1)) {
    let k = j;
    while (k < s.length && k - j < 64 && isIdent(s.charCodeAt(k))) k++;
    const name = s.slice(j, k).toLowerCase();
    if (SUPERGLOBALS.includes(name)) {
      const n = s.charCodeAt(skipGap(s, k, 8));
      if (n === 91 || n === 59 || n === 61 || n === 41 || n === 44 || k === s.length) r.superglobal = true;
    }
    // $f(…) — not jQuery's $(…), not a method (.$emit(), obj.$t()), not Vue's $t('key').
    // $f[…]{…}(…): indexes (nested, with comments between) before the call.
    let e = k;
    let indexed = false;
    for (let hops = 0; hops < 6; hops++) {
      const at = skipGap(s, e, 32);
      const c = s.charCodeAt(at);
      if (c !== 91 && c !== 123) break;
      const close = matching(s, at);
      if (close === -1 || close === at + 1) break; // $a[]() is no call
      e = close + 1;
      indexed = true;
    }
    const open = skipGap(s, e, 32);
    const helper = !indexed && VUE_HELPERS.has(name);
    if (s.charCodeAt(open) === 40 && prev !== 46 && !helper && !isIdent(prev)) r.variable = true;
    return k - 1;
  }
  j = skipGap(s, j, 32);
  if (s.charCodeAt(j) === 123) {
    // ${…}: a variable variable when it holds a quote or a $, or is called.
    const inner = skipGap(s, j + 1, 32);
    const c = s.charCodeAt(inner);
    const close = findWithin(s, 125, j, 128);
    const called = close !== -1 && s.charCodeAt(skipGap(s, close + 1, 16)) === 40;
    const filled = c !== 125;
    if (called && filled && (c === 36 || c === 64 || c === 39 || c === 34 || !templateLiteral(s, i)))
      r.variable = true;
    else if (
      (j > i + 1 && c !== 125) ||
      ((c === 39 || c === 34 || c === 36) && (c === 36 || !templateLiteral(s, i)))
    ) {
      // "$ {…}" (a space no template language allows) or ${'name'} / ${$a} outside a template literal.
      r.variableVariable = true;
    }
    return j;
  }
  return i;
}

/** The bracket closing the one at i ([ or {), nesting counted, within 64 characters; -1 if none. */
function matching(s: string, i: number): number {
  const open = s.charCodeAt(i);
  const close = open === 91 ? 93 : 125;
  let depth = 0;
  const stop = Math.min(s.length, i + 64);
  for (let k = i; k < stop; k++) {
    const c = s.charCodeAt(k);
    if (c === open) depth++;
    else if (c === close && --depth === 0) return k;
  }
  return -1;
}

const VUE_HELPERS: ReadonlySet<string> = new Set(['t', 'tc', 'te', 'd', 'n', 'emit', 'set', 'delete']);

/** "${'x'}" inside a JavaScript template literal (a backtick shortly before it) is JavaScript. */
function templateLiteral(s: string, i: number): boolean {
  for (let k = i - 1; k >= 0 && i - k < 400; k--) if (s.charCodeAt(k) === 96) return true;
  return false;
}

/** O:8:"stdClass":1:{…} and C:…: PHP serialized objects (the payload of object injection). */
function serializedObject(s: string): boolean {
  for (let at = s.indexOf(':"'); at !== -1; at = s.indexOf(':"', at + 2)) {
    // Back over the length digits to the type letter: O:8:" or C:+8:"
    let d = at;
    while (d > 0 && at - d < 6 && isDigit(s.charCodeAt(d - 1))) d--;
    if (d === at) continue;
    let t = d - 1;
    if (s.charCodeAt(t) === 43) t--;
    if (s.charCodeAt(t) !== 58) continue;
    const type = s.charCodeAt(t - 1);
    if (type !== 79 && type !== 67 && type !== 111) continue; // O C o
    if (t >= 2 && isIdent(s.charCodeAt(t - 2))) continue;
    const q = findWithin(s, 34, at + 2, 200);
    if (q !== -1 && s.charCodeAt(q + 1) === 58 && isDigit(s.charCodeAt(q + 2))) return true;
  }
  return false;
}

function wrapper(s: string): boolean {
  for (let k = s.indexOf('://'); k !== -1; k = s.indexOf('://', k + 3)) {
    const before = s.slice(Math.max(0, k - 14), k + 3).toLowerCase();
    for (const w of WRAPPERS) {
      if (!before.endsWith(w)) continue;
      const start = before.length - w.length;
      if (start === 0 || !isIdent(before.charCodeAt(start - 1))) return true;
    }
  }
  return false;
}

/** "allow_url_include=On", "session.referer_check=true": php.ini settings in a value. */
function iniDirective(s: string): boolean {
  const eq = s.indexOf('=');
  if (eq <= 0 || eq > 64) return false;
  let k = eq;
  while (k > 0 && isSpace(s.charCodeAt(k - 1))) k--;
  let start = k;
  while (start > 0 && (isIdent(s.charCodeAt(start - 1)) || s.charCodeAt(start - 1) === 46)) start--;
  if (start !== 0 && !isSpace(s.charCodeAt(start - 1))) return false;
  return INI.has(s.slice(start, k).toLowerCase());
}

/** Header names that carry an uploaded file's name (X-Filename, X_Filename, X-File-Name, X.Filename). */
function fileNameHeader(name: string): boolean {
  let n = '';
  for (let i = 0; i < name.length && i < 40; i++) {
    const c = name.charCodeAt(i);
    if (isAlpha(c)) n += name[i]?.toLowerCase();
  }
  return n === 'xfilename' || n === 'filename' || n === 'xuploadfilename';
}

const PHP_EXTENSIONS = ['php', 'phtml', 'phar', 'pht', 'phpt', 'phps', 'pgif', 'inc', 'shtml', 'htaccess'];

/** "a.php", "a.php5", "photo. php", "a.php..": a file the server would run as PHP. */
function scriptFileName(lower: string): boolean {
  let end = lower.length;
  while (end > 0 && (lower.charCodeAt(end - 1) === 46 || isSpace(lower.charCodeAt(end - 1)))) end--;
  const dot = lower.lastIndexOf('.', end - 1);
  if (dot === -1) return false;
  const ext = lower.slice(dot + 1, end).trim();
  if (PHP_EXTENSIONS.includes(ext)) return true;
  // php5, php7, php907: only "php" takes a version.
  let k = 3;
  while (k < ext.length && isDigit(ext.charCodeAt(k))) k++;
  return ext.startsWith('php') && k === ext.length;
}

/** PHP session files (sess_<id>) uploaded to be included later. */
function sessionFileName(lower: string): boolean {
  const slash = Math.max(lower.lastIndexOf('/'), lower.lastIndexOf('\\'));
  const base = lower.slice(slash + 1);
  if (!base.startsWith('sess_') || base.length < 5 + 16) return false;
  for (let i = 5; i < base.length; i++)
    if (!isIdent(base.charCodeAt(i)) && base.charCodeAt(i) !== 45) return false;
  return true;
}

/** String concatenation that assembles a name: 'sys' . 'tem' (a quote, a dot, the same quote). */
function hasConcat(s: string): boolean {
  for (let d = s.indexOf('.'); d !== -1; d = s.indexOf('.', d + 1)) {
    let a = d - 1;
    while (a >= 0 && d - a < 8 && s.charCodeAt(a) === 32) a--;
    const q = s.charCodeAt(a);
    if (q !== 39 && q !== 34) continue;
    let b = d + 1;
    while (b < s.length && b - d < 8 && s.charCodeAt(b) === 32) b++;
    if (s.charCodeAt(b) === q) return true;
  }
  return false;
}

/** Undo string concatenation: 'sys' . 'tem' → 'system' (a single linear pass). */
function foldConcat(s: string): string {
  let out = '';
  let from = 0;
  for (let d = s.indexOf('.'); d !== -1; d = s.indexOf('.', d + 1)) {
    let a = d - 1;
    while (a >= from && d - a < 8 && s.charCodeAt(a) === 32) a--;
    const q = s.charCodeAt(a);
    if (a < from || (q !== 39 && q !== 34)) continue;
    let b = d + 1;
    while (b < s.length && b - d < 8 && s.charCodeAt(b) === 32) b++;
    if (s.charCodeAt(b) !== q) continue;
    out += s.slice(from, a);
    from = b + 1;
    d = b;
  }
  return out + s.slice(from);
}

const K_LT = 1;
const K_PAREN = 2;
const K_DOLLAR = 4;
const K_COLON = 8;
const K_EQ = 16;
const K_BRACKET = 32;
const K_SPACE = 64;

const KIND: Uint8Array = (() => {
  const t = new Uint8Array(128);
  t[60] = K_LT;
  t[40] = K_PAREN;
  t[36] = K_DOLLAR;
  t[58] = K_COLON;
  t[61] = K_EQ;
  t[91] = K_BRACKET;
  t[123] = K_BRACKET;
  t[32] = K_SPACE;
  return t;
})();

function features(s: string): number {
  let f = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 128) f |= KIND[c] as number;
  }
  return f;
}

/** Judge one value; exported for tests. */
export function phpFindings(value: string, input?: Input): Finding[] {
  const out: Finding[] = [];
  if (input !== undefined && value.length < 300) {
    const isName =
      input.location === 'filename' || (input.location === 'header' && fileNameHeader(input.name));
    if (isName) {
      const lower = value.toLowerCase();
      if (scriptFileName(lower)) out.push(F_UPLOAD);
      if (sessionFileName(lower)) out.push(F_SESSION_UPLOAD);
    }
  }
  if (value.length < 3) return out;
  const f = features(value);
  if ((f & K_LT) !== 0) {
    if (openTag(value)) out.push(F_TAG);
    else if (value.endsWith('<?') && isIdent(value.charCodeAt(value.length - 3))) out.push(F_TAG_END);
  } else if ((f & (K_LT | K_BRACKET)) !== 0 && /php/i.test(value) && otherTag(value.toLowerCase()))
    out.push(F_TAG);
  const r: Calls = {
    strong: false,
    loose: false,
    hint: false,
    variable: false,
    callable: false,
    superglobal: false,
    variableVariable: false,
  };
  if ((f & K_PAREN) !== 0) scanCalls(hasConcat(value) ? foldConcat(value) : value, r);
  if ((f & K_DOLLAR) !== 0) scanDollars(value, r);
  if ((f & K_SPACE) !== 0 && includeStatement(value)) r.strong = true;
  if (r.strong) out.push(F_CALL);
  if (r.loose) out.push(F_CALL_LOOSE);
  if (r.hint) out.push(F_CALL_HINT);
  if (r.variable) out.push(F_VARIABLE_CALL);
  if (r.callable) out.push(F_STRING_CALL);
  if (r.superglobal) out.push(F_SUPERGLOBAL);
  if (r.variableVariable) out.push(F_VARIABLE_VARIABLE);
  if ((f & K_COLON) !== 0) {
    if (wrapper(value)) out.push(F_WRAPPER);
    if (serializedObject(value)) out.push(F_SERIALIZED);
  }
  if ((f & K_EQ) !== 0 && iniDirective(value)) out.push(F_INI);
  return out;
}

export const phpDetector: Detector = {
  family: 'php',
  detect(value: string, input: Input, out: Finding[]): void {
    for (const f of phpFindings(value, input)) out.push(f);
    // An XML document's attribute values and text nodes are values of their own (probe="…").
    if (input.location === 'xml' && value.length <= 65536)
      for (const piece of xmlPieces(value)) for (const f of phpFindings(piece)) out.push(f);
  },
};

import { documentLike } from '../text.js';
import type { Detector, Finding, Input } from '../types.js';
import { classifyHost, findUrls, isMarkup, startsValue } from './ssrf.js';

/**
 * Path traversal and local file inclusion (lfi-*), and remote file inclusion (rfi-*).
 *
 * Traversal: a value is rewritten into a canonical path form (backslash as slash, overlong UTF-8
 * and IIS %u dots and slashes, textual 0x2e / 0x2f / 0x5c, NUL dropped), then dot-dot segments are
 * counted by a scanner that respects segment boundaries ("foo../1" and "..foo" are not traversal).
 * File inclusion: the same canonical form is cut into segments and looked up in tables of
 * sensitive files and directories (data, not patterns). How much a hit weighs depends on the shape
 * of the value: a bare path is an attack, prose that mentions /etc/hosts is documentation.
 */

// ---------------------------------------------------------------------------------------------
// Canonical path form

interface Canonical {
  /** "/" for every separator, decoded; case kept (the table lookups fold it). */
  readonly text: string;
  /** An evasion was undone: overlong UTF-8, %u, textual 0x2e, NUL, look-alike slashes, leftover %2e. */
  readonly tricks: boolean;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function byteAt(s: string, i: number): number {
  if (s.charCodeAt(i) !== 37 || i + 2 >= s.length) return -1;
  const a = hexVal(s.charCodeAt(i + 1));
  const b = hexVal(s.charCodeAt(i + 2));
  return a < 0 || b < 0 ? -1 : a * 16 + b;
}

/** Characters some servers fold into "/" or "." (IIS, Java, Unicode normalisation gaps). */
function foldChar(c: number): number {
  if (
    c === 92 ||
    c === 0x2215 ||
    c === 0x2216 ||
    c === 0x2044 ||
    c === 0xfe68 ||
    c === 0xff3c ||
    c === 0xff0f
  )
    return 47;
  if (c === 0xff0e || c === 0x2024 || c === 0xfe52) return 46;
  return c;
}

/** One decoding round over "%XX", overlong "%c0%ae" / "%e0%80%ae" and "%uXXXX". */
function decodeRound(s: string): { text: string; tricks: boolean } {
  let out = '';
  let tricks = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 37) {
      out += s[i];
      continue;
    }
    const n = s.charCodeAt(i + 1);
    if ((n === 117 || n === 85) && i + 5 < s.length) {
      let v = 0;
      for (let k = 2; k <= 5 && v >= 0; k++) {
        const d = hexVal(s.charCodeAt(i + k));
        v = d < 0 ? -1 : v * 16 + d;
      }
      if (v >= 0) {
        out += String.fromCharCode(v);
        i += 5;
        tricks = true;
        continue;
      }
    }
    const b1 = byteAt(s, i);
    if (b1 < 0) {
      out += '%';
      continue;
    }
    if (b1 < 0x80) {
      out += String.fromCharCode(b1);
      if (b1 === 0x2e || b1 === 0x2f || b1 === 0x5c || b1 === 0) tricks = true;
      i += 2;
      continue;
    }
    const b2 = byteAt(s, i + 3);
    if ((b1 === 0xc0 || b1 === 0xc1) && b2 >= 0) {
      out += String.fromCharCode(((b1 & 1) << 6) | (b2 & 0x3f));
      i += 5;
      tricks = true;
      continue;
    }
    const b3 = byteAt(s, i + 6);
    if (b1 === 0xe0 && b2 >= 0x80 && b2 < 0xa0 && b3 >= 0) {
      out += String.fromCharCode(((b2 & 0x3f) << 6) | (b3 & 0x3f));
      i += 8;
      tricks = true;
      continue;
    }
    out += s.slice(i, i + 3);
    i += 2;
  }
  return { text: out, tricks };
}

/** Textual hex bytes ("0x2e0x2e0x2f") some traversal payloads use; only the path characters. */
function textualHex(s: string, i: number): number {
  if (s.charCodeAt(i) !== 48 || (s.charCodeAt(i + 1) | 32) !== 120) return -1;
  const a = s.charCodeAt(i + 2);
  const b = s.charCodeAt(i + 3) | 32;
  if (a === 50 && (b === 101 || b === 102)) return b === 101 ? 46 : 47;
  if (a === 53 && b === 99) return 47;
  return -1;
}

/** Nothing to undo: no escapes, backslashes, textual hex, NUL, replacement or look-alike characters. */
const PLAIN = /^[^%\\\ufffd\u2024\u2044\u2215\u2216\ufe52\ufe68\uff0e\uff0f\uff3c]*$/;

export function canonicalPath(value: string): Canonical {
  if (
    PLAIN.test(value) &&
    value.indexOf('\0') === -1 &&
    value.indexOf('0x') === -1 &&
    value.indexOf('0X') === -1
  )
    return { text: value, tricks: false };
  let s = value;
  let tricks = false;
  for (let round = 0; round < 3 && s.indexOf('%') !== -1; round++) {
    const r = decodeRound(s);
    if (r.text === s) break;
    tricks ||= r.tricks || round > 0;
    s = r.text;
  }
  let out = '';
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c === 48) {
      const h = textualHex(s, i);
      if (h !== -1) {
        out += String.fromCharCode(h);
        i += 3;
        tricks = true;
        continue;
      }
    }
    if (c === 0) {
      tricks = true;
      continue;
    }
    // Overlong "%c0%ae" that an earlier UTF-8 decode turned into two U+FFFD: a dot in disguise.
    if (c === 0xfffd && s.charCodeAt(i + 1) === 0xfffd) {
      out += '.';
      i++;
      tricks = true;
      continue;
    }
    const f = foldChar(c);
    if (f !== c && c !== 92) tricks = true;
    c = f;
    out += String.fromCharCode(c);
  }
  return { text: out, tricks };
}

// ---------------------------------------------------------------------------------------------
// Shape of a value

function isWordChar(c: number): boolean {
  return (
    (c >= 48 && c <= 57) || (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 45 || c > 127
  );
}

// ---------------------------------------------------------------------------------------------
// Traversal

interface TraversalScan {
  /** Dot-dot segments in the value. */
  readonly count: number;
  /** Longest run of dot-dot segments separated only by "/" (and "./"). */
  readonly run: number;
  /** The first dot-dot segment opens the value (after quotes or spaces). */
  readonly leading: boolean;
  /** A dot-dot segment follows a Markdown link "](" or an href/src attribute quote. */
  readonly linkish: boolean;
}

function boundaryBefore(s: string, i: number): boolean {
  if (i === 0) return true;
  const c = s.charCodeAt(i - 1);
  return !isWordChar(c) && c !== 46;
}

/** Counts ".." segments (also "...", "..;jsessionid", ".. ") bounded by "/" or the value's ends. */
export function scanTraversal(s: string): TraversalScan {
  let count = 0;
  let run = 0;
  let current = 0;
  let leading = false;
  let linkish = false;
  let lastEnd = -1;
  for (let i = s.indexOf('..'); i !== -1 && i < s.length; i = s.indexOf('..', i)) {
    if (!boundaryBefore(s, i)) {
      i += 2;
      while (s.charCodeAt(i) === 46) i++;
      continue;
    }
    let j = i;
    while (s.charCodeAt(j) === 46) j++;
    if (s.charCodeAt(j) === 59) {
      // Tomcat path parameter "..;x=y/": still a parent segment.
      const stop = j + 64;
      while (j < s.length && j < stop && s.charCodeAt(j) !== 47) j++;
    }
    while (s.charCodeAt(j) === 32) j++;
    const closed = j >= s.length ? i > 0 && s.charCodeAt(i - 1) === 47 : s.charCodeAt(j) === 47;
    if (closed) {
      count++;
      // Consecutive when only "/" and "./" separate it from the previous one.
      let k = i - 1;
      while (k > lastEnd && (s.charCodeAt(k) === 47 || s.charCodeAt(k) === 46)) k--;
      current = lastEnd !== -1 && k <= lastEnd ? current + 1 : 1;
      if (current > run) run = current;
      lastEnd = j;
      if (count === 1) {
        let p = i - 1;
        while (p >= 0 && (s.charCodeAt(p) === 47 || s.charCodeAt(p) === 46)) p--;
        while (p >= 0 && (s.charCodeAt(p) === 32 || s.charCodeAt(p) === 34 || s.charCodeAt(p) === 39)) p--;
        leading = p < 0;
      }
      const before = s.slice(Math.max(0, i - 6), i);
      if (before.endsWith('](') || /(href|src)=["']?$/i.test(before)) linkish = true;
    }
    i = Math.max(j, i + 2);
  }
  return { count, run, leading, linkish };
}

// ---------------------------------------------------------------------------------------------
// Sensitive files: tables, looked up per path segment

/** Files under /etc whose disclosure is the classic traversal goal. */
const ETC_FILES = new Set([
  'passwd',
  'passwd-',
  'shadow',
  'shadow-',
  'group',
  'gshadow',
  'master.passwd',
  'sudoers',
  'sudoers.d',
  'hosts',
  'hosts.allow',
  'hosts.deny',
  'hostname',
  'issue',
  'issue.net',
  'motd',
  'subuid',
  'subuid-',
  'subgid',
  'subgid-',
  'crontab',
  'cron.d',
  'fstab',
  'mtab',
  'resolv.conf',
  'os-release',
  'lsb-release',
  'redhat-release',
  'debian_version',
  'profile',
  'bashrc',
  'bash.bashrc',
  'environment',
  'inittab',
  'ld.so.preload',
  'ld.so.conf',
  'exports',
  'aliases',
  'inetd.conf',
  'xinetd.d',
  'my.cnf',
  'mysql',
  'krb5.conf',
  'krb5.keytab',
  'apache',
  'apache2',
  'httpd',
  'nginx',
  'lighttpd',
  'php',
  'php5',
  'php7',
  'php8',
  'ssh',
  'ssl',
  'pki',
  'security',
  'pam.d',
  'init.d',
  'systemd',
  'sysconfig',
  'network',
  'networks',
  'netplan',
  'rc.local',
  'kubernetes',
  'docker',
  'postgresql',
  'redis',
  'tomcat',
  'vsftpd.conf',
  'proftpd.conf',
  'samba',
  'openvpn',
  'wireguard',
  'wgetrc',
  'knockd.conf',
  'machine-id',
  'timezone',
  'login.defs',
  'nsswitch.conf',
  'updatedb.conf',
  'apt',
  'yum.conf',
  'modules',
  'sysctl.conf',
  'selinux',
  'audit',
  'logrotate.conf',
  'rsyslog.conf',
  'syslog.conf',
  'mail',
  'postfix',
  'dovecot',
  'exim4',
  'bind',
  'named.conf',
  'dhcp',
  'snmp',
  'ftpusers',
  'shells',
  'opasswd',
  'secrets',
]);

/** Files under /etc that only describe the system (CI scripts and docs print them). */
const ETC_INFO = new Set([
  'os-release',
  'lsb-release',
  'redhat-release',
  'debian_version',
  'timezone',
  'machine-id',
  'hostname',
  'issue',
  'motd',
  'localtime',
]);

/** /proc entries worth a request on their own (plus every numeric pid and "self"). */
const PROC_FILES = new Set([
  'self',
  'thread-self',
  'version',
  'cpuinfo',
  'meminfo',
  'interrupts',
  'net',
  'sys',
  'mounts',
  'cmdline',
  'environ',
  'kcore',
  'kallsyms',
  'modules',
  'partitions',
  'sched_debug',
  'stat',
  'uptime',
  'loadavg',
  'devices',
  'filesystems',
  'iomem',
  'ioports',
  'swaps',
  'vmstat',
  'zoneinfo',
  'slabinfo',
  'buddyinfo',
  'diskstats',
  'config.gz',
  'key-users',
  'keys',
  'crypto',
  'driver',
  'fd',
  'maps',
  'status',
  'cgroups',
  'timer_list',
  'acpi',
  'bus',
  'scsi',
  'tty',
]);

const SYS_DIRS = new Set([
  'class',
  'kernel',
  'devices',
  'firmware',
  'fs',
  'module',
  'power',
  'bus',
  'block',
  'dev',
  'hypervisor',
]);

/** Hidden directories that hold credentials, source history or AI-agent configuration. */
const DOT_DIRS = new Set([
  '.ssh',
  '.aws',
  '.azure',
  '.gcloud',
  '.git',
  '.svn',
  '.hg',
  '.bzr',
  '.cvs',
  '.docker',
  '.kube',
  '.gnupg',
  '.terraform',
  '.terraform.d',
  '.vagrant.d',
  '.m2',
  '.gradle',
  '.password-store',
  '.mozilla',
  '.vscode-server',
  '.idea',
  '.claude',
  '.cursor',
  '.continue',
  '.aider',
  '.roo',
  '.zed',
  '.cline',
  '.kiro',
  '.windsurf',
  '.codex',
  '.opencode',
  '.n8n',
  '.junie',
  '.gemini',
  '.copilot',
  '.a0proj',
  '.plandex',
  '.fabric',
  '.rovodev',
  '.openhands',
  '.goose',
  '.amazonq',
]);

/** File names whose content is a secret or the classic proof of file disclosure. */
const SECRET_FILES = new Set([
  'win.ini',
  'boot.ini',
  'system.ini',
  '.htpasswd',
  'wp-config.php',
  'id_rsa',
  'id_dsa',
  'id_ecdsa',
  'id_ed25519',
  'authorized_keys',
  '.bash_history',
  '.zsh_history',
  '.sh_history',
  '.history',
  '.mysql_history',
  '.psql_history',
  '.python_history',
  '.node_repl_history',
  '.lesshst',
  '.viminfo',
  '.netrc',
  '.pgpass',
  '.my.cnf',
  '.git-credentials',
  '.dockercfg',
  '.env',
  '.s3cfg',
  '.boto',
  '.passwd-s3fs',
  '.rhosts',
  'ntds.dit',
  'tomcat-users.xml',
  'credentials.xml',
  'master.key',
  '.aiignore',
  '.cursorignore',
]);

/** Configuration and log files: sensitive, but also what a code editor or hosting API edits. */
const CONFIG_FILES = new Set([
  'httpd.conf',
  'apache2.conf',
  'nginx.conf',
  'php.ini',
  'my.cnf',
  '.htaccess',
  'web.config',
  'applicationhost.config',
  'machine.config',
  'localsettings.php',
  'config.inc.php',
  'configuration.php',
  '.bashrc',
  '.bash_profile',
  '.bash_logout',
  '.zshrc',
  '.profile',
  '.npmrc',
  '.yarnrc',
  '.pypirc',
  '.gitconfig',
  '.dockerenv',
  '.ds_store',
  '.cursorrules',
  '.clinerules',
  '.windsurfrules',
  'server.xml',
  'web.xml',
  'secrets.yml',
  'database.yml',
  'parameters.yml',
  'settings.local.json',
  'debug.log',
  'error.log',
  'errors.log',
  'access.log',
  'error_log',
  'access_log',
  'phpinfo.php',
]);

/** Committed templates of .env files: documentation, not secrets. */
const ENV_TEMPLATES = ['.example', '.sample', '.template', '.dist', '.defaults', '.tpl', '.schema'];

function secretName(t: string): boolean {
  if (SECRET_FILES.has(t)) return true;
  return t.startsWith('.env.') && !ENV_TEMPLATES.some((x) => t.endsWith(x));
}

/** Windows system directories: "windows/system32", "winnt/win.ini", "inetpub/wwwroot". */
const WINDOWS_DIRS = new Set(['windows', 'winnt', 'system32', 'syswow64', 'inetpub', 'repair', 'panther']);

const SQL_DUMP = /\.(sql|sqlite|db|dump|bak)(\.(gz|zip|bz2|xz|7z|tar|tgz|rar))?$/i;

/** Characters that end a path segment or a token, as a lookup table (the scan is per character). */
const SEPARATORS = new Uint8Array(128);
for (let c = 0; c <= 32; c++) SEPARATORS[c] = 1;
for (const ch of '/"\'=;&|<>(),:`{}[]?#*') SEPARATORS[ch.charCodeAt(0)] = 1;

function isSeparator(c: number): boolean {
  return c < 128 && SEPARATORS[c] === 1;
}

const MAX_SEGMENTS = 4096;
/** Longer segments match no table entry; they are skipped without being copied. */
const MAX_NAME = 40;

function isDigits(t: string): boolean {
  if (t.length === 0) return false;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** The segment t right under directory "root" (itself under "above"): 2 certain, 1 weak, 0 nothing. */
function underRoot(above: string, root: string, t: string, tDir: boolean): number {
  switch (root) {
    case 'etc':
      if (ETC_INFO.has(t)) return 1;
      return ETC_FILES.has(t) || t.endsWith('.conf') || t.endsWith('.cnf') ? 2 : 1;
    case 'proc':
      return PROC_FILES.has(t) || isDigits(t) ? 2 : 0;
    case 'sys':
      return SYS_DIRS.has(t) ? 2 : 0;
    case 'root':
      return t.startsWith('.') ? 2 : 0;
    case 'var':
      return t === 'log' && tDir ? 2 : 0;
    case 'run':
      return t === 'secrets' ? 2 : 0;
    case 'lib':
      return above === 'var' && (t === 'mysql' || t === 'postgresql') ? 2 : 0;
    case 'dev':
      return (t === 'tcp' || t === 'udp') && tDir ? 2 : 0;
    case 'web-inf':
      return 2;
    default:
      return WINDOWS_DIRS.has(root) &&
        (WINDOWS_DIRS.has(t) || t.endsWith('.ini') || t === 'config' || t === 'wwwroot')
        ? 2
        : 0;
  }
}

/** Directories whose children the tables know. */
const ROOTS = ['etc', 'proc', 'sys', 'root', 'var', 'run', 'lib', 'dev', 'web-inf', ...WINDOWS_DIRS];

/** A case-folded string hash, computed while scanning so that only candidate segments are copied. */
function foldHash(h: number, c: number): number {
  return (Math.imul(h, 31) + (c >= 65 && c <= 90 ? c + 32 : c)) | 0;
}

function hashOf(t: string): number {
  let h = 0;
  for (let i = 0; i < t.length; i++) h = foldHash(h, t.charCodeAt(i));
  return h;
}

const CANDIDATES = new Set([...SECRET_FILES, ...CONFIG_FILES, ...DOT_DIRS, ...ROOTS].map(hashOf));
const ROOT_SET = new Set(ROOTS);

/**
 * How strongly a canonical value points at a sensitive file: 2 certain, 1 weak ("/etc/" and an
 * unknown name, a config file), 0 nothing. One pass over the segments; a segment is copied only
 * when its hash matches a table entry or it sits under a known directory.
 */
export function sensitiveFile(s: string): number {
  let weak = 0;
  let p1 = '';
  let p1Dir = false;
  let p2 = '';
  let i = 0;
  for (let count = 0; i < s.length && count < MAX_SEGMENTS; count++) {
    while (i < s.length && isSeparator(s.charCodeAt(i))) i++;
    const start = i;
    let h = 0;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (isSeparator(c)) break;
      h = foldHash(h, c);
      i++;
    }
    if (i === start) break;
    const dir = s.charCodeAt(i) === 47;
    const under = p1Dir && p1 !== '';
    const envFile = s.charCodeAt(start) === 46 && (s.charCodeAt(start + 1) | 32) === 101 && i - start > 5;
    const t =
      (CANDIDATES.has(h) || under || envFile) && i - start <= MAX_NAME ? s.slice(start, i).toLowerCase() : '';
    if (t !== '') {
      if (secretName(t)) return 2;
      if (CONFIG_FILES.has(t)) weak = 1;
      if (under) {
        if (DOT_DIRS.has(p1)) return 2;
        const r = underRoot(p2, p1, t, dir);
        if (r === 2) return 2;
        if (r === 1) weak = 1;
      }
    }
    p2 = p1;
    // Only directories the tables know are remembered: everything else resets the context.
    p1 = dir && (ROOT_SET.has(t) || DOT_DIRS.has(t)) ? t : dir && under ? t : '';
    p1Dir = dir;
  }
  return weak;
}

/** The last segment when the value is a single file name ("backup.sql.zip"), else "". */
function soleName(s: string): string {
  const t = s.trim();
  if (t.length === 0 || t.length > 128) return '';
  for (let i = 0; i < t.length; i++) if (isSeparator(t.charCodeAt(i))) return '';
  return t;
}

// ---------------------------------------------------------------------------------------------
// Findings

function lfi(rule: string, pl: 1 | 2 | 3, score: number): Finding {
  return { rule: `lfi-${rule}`, family: 'lfi', pl, score };
}

const TRAVERSAL = lfi('traversal', 1, 5);
const TRAVERSAL_LIKELY = lfi('traversal', 2, 3);
const TRAVERSAL_WEAK = lfi('traversal', 3, 2);
const TRAVERSAL_ENCODED = lfi('traversal-evasion', 1, 5);
const FILE = lfi('sensitive-file', 1, 5);
const FILE_WEAK = lfi('sensitive-file', 2, 3);
const HIDDEN = lfi('hidden-file', 2, 3);
const DEV_SERVER = lfi('dev-server-fs', 1, 5);
const DUMP = lfi('backup-file', 1, 5);
const DUMP_SOLE = lfi('backup-file', 2, 5);
const LOG_FILE = lfi('log-file', 2, 5);
const NUL_TRUNCATION = lfi('null-byte', 1, 5);

/** A whole path segment of the URL path (the engine hands them one by one). */
function pathSegment(raw: string, c: Canonical, out: Finding[]): void {
  const t = c.text.toLowerCase();
  if (t === '@fs' || t === '@id') out.push(DEV_SERVER);
  if (secretName(t) || DOT_DIRS.has(t)) out.push(FILE);
  else if (CONFIG_FILES.has(t)) out.push(FILE_WEAK);
  else if (t.length > 1 && t.charCodeAt(0) === 46 && t.charCodeAt(1) !== 46 && t !== '.well-known')
    out.push(HIDDEN);
  if (t.endsWith('.log')) out.push(LOG_FILE);
  if (SQL_DUMP.test(t) && t.length < 128) out.push(DUMP);
  // A bare ".." segment is what any client may send; an encoded one is an evasion.
  if (t === '..' && raw !== '..') out.push(TRAVERSAL_ENCODED);
}

function inspectTraversal(value: string, input: Input, out: Finding[]): void {
  const c = canonicalPath(value);
  const s = c.text;
  const slash = s.indexOf('/') !== -1;
  if (input.location === 'path' && !slash) {
    pathSegment(input.value, c, out);
    return;
  }
  let doc: boolean | undefined;
  const isDoc = (): boolean => {
    doc ??= documentLike(s);
    return doc;
  };
  const tr = s.indexOf('..') === -1 ? undefined : scanTraversal(s);
  const traversed = tr !== undefined && tr.count > 0;
  if (tr !== undefined && traversed) {
    if (c.tricks) out.push(TRAVERSAL_ENCODED);
    else if (input.location === 'filename') out.push(TRAVERSAL);
    else if (!isDoc() && (tr.leading || tr.count >= 2) && !tr.linkish) out.push(TRAVERSAL);
    else if (!isDoc() && !tr.linkish) out.push(TRAVERSAL_LIKELY);
    else if (tr.run >= 3) out.push(TRAVERSAL_LIKELY);
    else out.push(TRAVERSAL_WEAK);
  }
  if (s.length < 4) return;
  // In prose or a document a file name is a mention worth little; not worth a scan of the whole text.
  if (isDoc() && !traversed) return;
  const level = sensitiveFile(s);
  if (level === 2) out.push(FILE);
  else if (level === 1) out.push(traversed ? FILE : FILE_WEAK);
  if (!slash && s.indexOf('.') !== -1) {
    const name = soleName(s);
    if (name !== '' && SQL_DUMP.test(name)) out.push(DUMP_SOLE);
  }
}

/** Characters without which neither traversal nor a file path is possible. */
function mayHoldPath(v: string): boolean {
  return (
    v.indexOf('.') !== -1 ||
    v.indexOf('/') !== -1 ||
    v.indexOf('\\') !== -1 ||
    v.indexOf('%') !== -1 ||
    v.indexOf('@') !== -1 ||
    v.indexOf('0x') !== -1 ||
    v.indexOf('0X') !== -1 ||
    v.indexOf('\uff0e') !== -1
  );
}

function isFileNameChar(c: number): boolean {
  const l = c | 32;
  return (l >= 97 && l <= 122) || (c >= 48 && c <= 57) || c === 95 || c === 45 || c === 46;
}

/**
 * "shell.php\0.png", "../x.txt\0": a NUL right after a file name with an extension cuts off the
 * extension a C-level file API would see (the classic null-byte truncation). Text never holds NUL;
 * uploaded file contents (multipart parts, raw bodies) may, so those are not checked.
 */
function nulTruncation(v: string, input: Input): boolean {
  const l = input.location;
  if (l === 'multipart' || l === 'xml' || (l === 'body' && input.name === '')) return false;
  const nul = v.indexOf('\0');
  if (nul < 3) return false;
  let k = nul - 1;
  let dot = -1;
  while (k >= 0 && nul - k <= 64 && isFileNameChar(v.charCodeAt(k))) {
    if (dot === -1 && v.charCodeAt(k) === 46) dot = k;
    k--;
  }
  // "name.ext" with an extension of 1 to 5 characters and a name before the dot.
  if (dot === -1 || dot === k + 1 || nul - dot < 2 || nul - dot > 6) return false;
  const e = v.charCodeAt(dot + 1) | 32;
  if (e < 97 || e > 122) return false;
  const after = v.charCodeAt(nul + 1);
  return nul + 1 === v.length || after === 46 || after === 0 || after === 63 || after === 35;
}

export const traversalDetector: Detector = {
  family: 'lfi',
  detect(value: string, input: Input, out: Finding[]): void {
    if (value.length < 2 || (input.location !== 'path' && !mayHoldPath(value))) return;
    if (nulTruncation(value, input)) out.push(NUL_TRUNCATION);
    inspectTraversal(value, input, out);
  },
};

// ---------------------------------------------------------------------------------------------
// Remote file inclusion

function rfi(rule: string, pl: 1 | 2 | 3, score: number): Finding {
  return { rule: `rfi-${rule}`, family: 'rfi', pl, score };
}

const WRAPPER = rfi('wrapper-scheme', 1, 5);
const DIRECTORY_SCHEME = rfi('directory-scheme', 2, 3);
const DATA_URI = rfi('data-uri', 1, 5);
const IP_URL = rfi('ip-url', 2, 5);
const IP_SCRIPT = rfi('ip-url', 1, 5);
const TRAILING_QUERY = rfi('trailing-query', 1, 5);
const INCLUDE_PARAM = rfi('include-param', 1, 5);
const FTP_URL = rfi('ftp-url', 2, 5);
const TRAILING_HASH = rfi('trailing-fragment', 2, 5);

/** Stream wrappers and schemes that read files or reach raw sockets (PHP, Java, curl). */
const WRAPPER_SCHEMES = new Set([
  'file',
  'php',
  'phar',
  'zip',
  'expect',
  'glob',
  'data',
  'compress.zlib',
  'compress.bzip2',
  'rar',
  'ogg',
  'ssh2.shell',
  'ssh2.exec',
  'ssh2.sftp',
  'gopher',
  'dict',
  'jar',
  'netdoc',
  'local_file',
  'tftp',
]);

/** Directory and object-broker schemes: JNDI targets, but also ordinary integration settings. */
const DIRECTORY_SCHEMES = new Set(['ldap', 'ldaps', 'rmi', 'iiop', 'corba', 'nis', 'nds']);

const FETCH_SCHEMES = new Set(['http', 'https', 'ftp', 'ftps']);

/** Media types a data: URI can carry that a server would execute or render. */
function dangerousDataType(s: string, at: number): boolean {
  let i = at;
  while (s.charCodeAt(i) === 47) i++;
  const mime = s.slice(i, i + 32).toLowerCase();
  return (
    mime.startsWith('text/') ||
    mime.startsWith('application/x-httpd-php') ||
    mime.startsWith('application/x-php') ||
    mime.startsWith('application/javascript') ||
    mime.startsWith('application/x-javascript') ||
    mime.startsWith('application/ecmascript') ||
    mime.startsWith('application/xhtml') ||
    mime.startsWith('image/svg')
  );
}

const SCRIPT_EXT = [
  '.php',
  '.txt',
  '.phtml',
  '.asp',
  '.aspx',
  '.jsp',
  '.cgi',
  '.pl',
  '.py',
  '.sh',
  '.inc',
  '.gif?',
];

/** Scheme tokens ("file:", "php://", "data:text/html") at the start of a word. */
function wrapperSchemes(s: string, out: Finding[]): void {
  let from = 0;
  for (let n = 0; n < 16; n++) {
    const colon = s.indexOf(':', from);
    if (colon === -1) return;
    from = colon + 1;
    let b = colon;
    while (b > 0 && colon - b < 16) {
      const c = s.charCodeAt(b - 1) | 32;
      if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 46 || c === 95 || c === 127)) break;
      b--;
    }
    if (colon - b < 3) continue;
    const scheme = s.slice(b, colon).toLowerCase();
    const after = s.charCodeAt(colon + 1);
    const slash = after === 47 || after === 92;
    if (scheme === 'data') {
      if (dangerousDataType(s, colon + 1)) out.push(DATA_URI);
    } else if (scheme === 'file') {
      if (slash) out.push(WRAPPER);
    } else if (scheme === 'jar') {
      if (/^(file|https?|ftp):/i.test(s.slice(colon + 1, colon + 7))) out.push(WRAPPER);
    } else if (WRAPPER_SCHEMES.has(scheme)) {
      if (slash && s.charCodeAt(colon + 2) === after) out.push(WRAPPER);
    } else if (DIRECTORY_SCHEMES.has(scheme) && slash) out.push(DIRECTORY_SCHEME);
  }
}

/**
 * "http://host/shell.txt?", "…/shell.txt??", "…/shell.txt\0", "…/shell.txt#" and bare "http?": a
 * trailing "?", NUL or "#" cuts off a suffix the server appends to the path it includes. A URL
 * ending in "?" alone is enough; NUL and "#" only after a file name. "#" is also what a link to
 * "#" leaves in the address bar ("…/index.html#"), so it only counts at PL2 ('hash').
 */
function trailingQuery(s: string): 'query' | 'hash' | undefined {
  const t = s.trim();
  if (t.length > 2048) return undefined;
  let end = t.length;
  let hash = false;
  let nul = false;
  while (end > 0 && t.length - end < 4) {
    const c = t.charCodeAt(end - 1);
    if (c === 63) end--;
    else if (c === 35) {
      hash = true;
      end--;
    } else if (c === 0) {
      nul = true;
      end--;
    } else break;
  }
  if (end === t.length) return undefined;
  let i = 0;
  // "//host.tld/path?": a protocol-relative URL (its host must hold a dot and a path follow).
  const relative = t.startsWith('//') && relativeHostEnd(t, end) !== -1;
  if (!relative) {
    while (i < end && (t.charCodeAt(i) | 32) >= 97 && (t.charCodeAt(i) | 32) <= 122) i++;
    if (!FETCH_SCHEMES.has(t.slice(0, i).toLowerCase()) && t.slice(0, i).toLowerCase() !== 'file')
      return undefined;
    if (i === end) return hash || nul ? undefined : 'query';
    if (!t.startsWith('://', i)) return undefined;
  } else i = -1;
  let slash = -1;
  for (let k = i + 3; k < end; k++) {
    const c = t.charCodeAt(k);
    if (c <= 32 || c === 63 || c === 35) return undefined;
    if (c === 47) slash = k;
  }
  if (!hash && !nul) return 'query';
  // The last path segment names a file: "name.ext".
  if (slash === -1) return undefined;
  const dot = t.lastIndexOf('.', end - 1);
  if (dot <= slash + 1 || dot >= end - 1) return undefined;
  if (nul) return 'query';
  // "#" only after a file a server would run or read as code ("shell.txt#", not "index.html#").
  return INCLUDED_EXT.has(t.slice(dot + 1, end).toLowerCase()) ? 'hash' : undefined;
}

/** Where the host of "//host.tld/…" ends (at its "/"), or -1 when it is not a dotted host name. */
function relativeHostEnd(t: string, end: number): number {
  let dot = false;
  for (let k = 2; k < end && k < 258; k++) {
    const c = t.charCodeAt(k) | 32;
    if (c === 47) return dot && k > 4 ? k : -1;
    if (c === 46) dot = true;
    else if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 58)) return -1;
  }
  return -1;
}

const INCLUDED_EXT = new Set(['txt', 'php', 'phtml', 'inc', 'asp', 'aspx', 'jsp', 'cgi', 'pl', 'py', 'sh']);

/** Parameter names that hand a path to include(): "mosConfig_absolute_path", "_CONF[path]", "include_dir". */
function includeName(name: string): boolean {
  const n = name.toLowerCase().replace(/[\]\s]+$/, '');
  // "return_path", "redirect_dir": where the browser goes next, not what the server includes.
  if (n.includes('return') || n.includes('redirect') || n.includes('callback') || n.includes('next'))
    return false;
  return /(path|dir|root|folder|include|inc|require|basedir)$/.test(n.slice(-12));
}

function inspectRfi(s: string, input: Input, out: Finding[]): void {
  wrapperSchemes(s, out);
  const trailing = trailingQuery(s);
  if (trailing !== undefined) out.push(trailing === 'query' ? TRAILING_QUERY : TRAILING_HASH);
  const urls = findUrls(s);
  for (const u of urls) {
    if (!FETCH_SCHEMES.has(u.scheme) || u.slashes < 2) continue;
    if (u.start === 0 && input.name !== '' && includeName(input.name)) out.push(INCLUDE_PARAM);
    // A value that is an ftp:// or ftps:// URL: APIs take web URLs (webhooks, avatars, redirects);
    // a file-transfer URL is what include() and file_get_contents() fetch a remote file from.
    if (u.scheme.startsWith('ftp') && u.host !== '' && startsValue(s, u.start, isMarkup(input)))
      out.push(FTP_URL);
    const info = classifyHost(u.host);
    // Only a value that is the URL: an address inside a config file or prose is a mention.
    if (!info.ip || !startsValue(s, u.start, isMarkup(input))) continue;
    const rest = s.slice(u.end, u.end + 512).toLowerCase();
    const scripty = SCRIPT_EXT.some((e) => rest.includes(e)) || rest.endsWith('?');
    out.push(scripty || u.scheme.startsWith('ftp') ? IP_SCRIPT : IP_URL);
  }
}

export const rfiDetector: Detector = {
  family: 'rfi',
  detect(value: string, input: Input, out: Finding[]): void {
    if (value.length < 4 || value.indexOf(':') === -1) {
      if (value.endsWith('?') && trailingQuery(value) === 'query') out.push(TRAILING_QUERY);
      return;
    }
    if (input.location === 'header' && (input.name === 'referer' || input.name === 'origin')) return;
    inspectRfi(value, input, out);
  },
};

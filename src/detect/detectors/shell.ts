import type { Detector, Finding, Input } from '../types.js';

/**
 * Command injection (Unix shells, Windows cmd, PowerShell). A value is tokenized the way a shell
 * would split it: words, separators (; | || && & newline), substitutions ($( ) backticks <( >( ),
 * redirections. Each word is normalized the way the shell would see it after quote removal and
 * the usual evasions (c'a't, c\at, c$@at, ${IFS}, c^md), and each simple command is judged by
 * where it stands (value start, after a separator, inside a substitution), what its head is (a
 * table of known commands by risk) and what its arguments look like (flags, paths, URLs,
 * redirections, sensitive files). Everything is one linear pass plus bounded per-word work.
 */

// ---------------------------------------------------------------------------------------------
// Command table. Tiers: how much a command alone says about intent.
// ---------------------------------------------------------------------------------------------

/** Shells: running one is the goal of an injection. */
const SHELL = 1;
/** Language interpreters: code with -c / -e, or fed a script from a system path. */
const INTERP = 2;
/** Reconnaissance commands hardly ever written outside a shell (whoami, ifconfig, uname). */
const RECON = 3;
/** System and network tools that are not English words (wget, chmod, netstat). */
const TOOL = 4;
/** Commands that are also ordinary words (cat, find, time): need shell-shaped company. */
const WORD = 5;

type Tier = typeof SHELL | typeof INTERP | typeof RECON | typeof TOOL | typeof WORD;

function table(tier: Tier, words: string): [string, Tier][] {
  return words
    .split(/\s+/)
    .filter((w) => w !== '')
    .map((w) => [w, tier]);
}

/**
 * Known commands. Build and package tools (npm, cargo, docker, make, pip) are left out on
 * purpose: CI steps and READMEs are full of them, and running them is not what an injection is
 * after; they still count when they reach for system paths or pipe into a shell.
 */
const COMMANDS: ReadonlyMap<string, Tier> = new Map<string, Tier>([
  ...table(
    SHELL,
    'sh bash zsh ksh csh tcsh dash ash mksh busybox powershell pwsh cmd command.com $shell $bash $comspec',
  ),
  ...table(
    INTERP,
    `python python2 python3 perl ruby irb php node nodejs lua luajit tclsh expect osascript
     wscript cscript mshta jshell rscript jrunscript`,
  ),
  ...table(
    RECON,
    `whoami uname ifconfig ipconfig hostname systeminfo netstat nslookup getent lsb_release tasklist
     id passwd printenv lsof lastlog uptime dmesg lsmod sysctl getfacl`,
  ),
  ...table(
    TOOL,
    `wget curl nc ncat netcat socat telnet ssh scp sftp ftp tftp rsync chmod chown chgrp chattr ls rm
     mkdir rmdir cp mv ln grep egrep fgrep zgrep sed awk gawk nawk mawk xargs base64 base32 xxd
     hexdump od strings tar gzip gunzip zcat bzip2 bunzip2 bzcat xz unxz lzma zstd unzip 7z
     unrar crontab nohup strace ltrace gdb vim nvim nano emacs pico sudo su doas chroot mkfifo
     mknod iptables ip6tables nft systemctl journalctl pkill killall pgrep ps pstree pwd
     env useradd userdel usermod adduser deluser groupadd chpasswd visudo setfacl mount umount
     apt-get aptitude dpkg yum dnf rpm zypper pacman ansible-playbook ansible-console
     ansible-vault chef-shell chef-run chef-vault gcc c89 c99 openssl gpg
     lwp-download lwp-request lynx elinks w3m aria2c axel certutil bitsadmin wmic
     rundll32 regsvr32 regedit schtasks netsh bcdedit bcdboot vssadmin icacls cacls takeown
     taskkill wevtutil msiexec installutil regasm regsvcs forfiles diskpart shutdown reboot
     poweroff telinit nmap masscan hydra sqlmap msfconsole msfvenom tshark tcpdump nslookup dig
     whois ping ping6 fping arping nping hping3 traceroute traceroute6 tracert mtr chsh chfn
     newgrp runuser pkexec setsid renice ionice taskset stdbuf unbuffer xterm screen tmux atq atrm
     anacron uconv iconv perf rmt rmt-tar ldd objdump readelf valgrind uuencode uudecode md5sum
     sha1sum sha256sum sha512sum shred truncate fallocate losetup cryptsetup dd rev tac nl wc tr
     column fold fmt comm csplit unexpand tsort uniq shuf mktemp readlink realpath lsattr lsblk
     blkid findmnt fdisk mkfs mkswap swapon swapoff ncdu updatedb whereis compgen typeset
     unalias ulimit umask iex iwr irm icm gwmi iwmi saps sls arp ss ll flock cpulimit setarch
     unshare nsenter run-parts start-stop-daemon ssh-copy-id ssh-keygen ansible ansible-config
     ansible-doc ansible-galaxy ansible-inventory ansible-pull chef-client chef-solo cscli pip
     pip3 pipx g++ clang tcc cc zstdcat bsdtar bsdcpio xzcat lzcat htop aa-disable aa-enforce
     aa-complain aa-status`,
  ),
  ...table(
    WORD,
    `cat more less head tail find kill time date echo set test who which watch top free last
     history dir print read write wall mail open start call sleep touch look exit sum diff cmp
     patch copy move del erase ren rename type ver vol cls pause goto shift attrib tree xcopy
     robocopy replace findstr where net sc query assoc path prompt title color mode label
     driverquery export alias trap eval exec source command hash file locate printf tee expr seq
     yes factor split join paste cut sort expand stat du df install route at batch nice timeout
     script host fetch service init zip rar apt apk ed reg ip cd`,
  ),
]);

/** ASCII letters folded to lower case; other codes unchanged. */
function fold(c: number): number {
  return c >= 65 && c <= 90 ? c | 32 : c;
}

/** Wrappers that run the command after them: "nohup ifconfig", "time curl", "sudo -u x id". */
const WRAPPERS: ReadonlySet<string> = new Set([
  'sudo',
  'doas',
  'nohup',
  'time',
  'env',
  'exec',
  'command',
  'builtin',
  'nice',
  'timeout',
  'strace',
  'ltrace',
  'xargs',
  'setsid',
  'stdbuf',
  'unbuffer',
  'watch',
  'eval',
  'su',
  'runuser',
  'pkexec',
  'chroot',
]);

/**
 * The first two characters (letters folded) of every command and wrapper name: a plain word whose
 * start is not among them can be no command head (versions and ".exe" only extend a name).
 */
const HEAD_BIGRAMS: Uint8Array = (() => {
  const t = new Uint8Array(128 * 128);
  for (const name of [...COMMANDS.keys(), ...WRAPPERS]) {
    const a = name.charCodeAt(0);
    const b = name.charCodeAt(1);
    // 1: some name starts so; 2: a two-character name is spelled so (anything may follow it).
    if (a < 128 && b < 128) t[(fold(a) << 7) | fold(b)] |= name.length === 2 ? 2 : 1;
  }
  return t;
})();

/** The first three characters (folded) of every longer name, as a bit set over 128³ codes. */
const HEAD_TRIGRAMS: Uint32Array = (() => {
  const t = new Uint32Array((128 * 128 * 128) >> 5);
  for (const name of [...COMMANDS.keys(), ...WRAPPERS]) {
    if (name.length < 3) continue;
    const k = (fold(name.charCodeAt(0)) << 14) | (fold(name.charCodeAt(1)) << 7) | fold(name.charCodeAt(2));
    t[k >> 5] = (t[k >> 5] as number) | (1 << (k & 31));
  }
  return t;
})();

/** Whether a word starting c0 c1 c2 (c2 NaN when it has two characters) may name a command. */
function mayStartHead(c0: number, c1: number, c2: number): boolean {
  const b = HEAD_BIGRAMS[(fold(c0) << 7) | fold(c1)] as number;
  if (b === 0) return false;
  if ((b & 2) !== 0 || !(c2 < 128)) return true;
  const k = (fold(c0) << 14) | (fold(c1) << 7) | fold(c2);
  return ((HEAD_TRIGRAMS[k >> 5] as number) & (1 << (k & 31))) !== 0;
}

/** Files and directories whose appearance in a command argument is the point of an attack. */
const SENSITIVE_PATHS: readonly string[] = [
  '/etc/passwd',
  '/etc/shadow',
  '/etc/group',
  '/etc/hosts',
  '/etc/sudoers',
  '/etc/issue',
  '/etc/crontab',
  '/etc/profile',
  '/etc/ssh/',
  '/proc/self/',
  '/proc/version',
  '/dev/tcp/',
  '/dev/udp/',
  '/bin/sh',
  '/bin/bash',
  '/bin/',
  '/sbin/',
  '/usr/bin/',
  '/usr/sbin/',
  '/usr/local/bin/',
  '/var/log/',
  '/var/www/',
  '/root/',
  '/tmp/',
  '/.ssh/',
  '/dev/shm/',
  '/dev/null',
];

/** Windows places whose appearance marks a command line rather than prose. */
const WINDOWS_MARKERS: readonly string[] = [
  'system32',
  'syswow64',
  'win.ini',
  'boot.ini',
  '%comspec%',
  '%systemroot%',
  '%windir%',
  '%temp%',
  '%appdata%',
  '%userprofile%',
  'hkey_',
  'hklm\\',
  'hkcu\\',
];

/** PowerShell cmdlets and .NET calls that fetch or run code. */
const POWERSHELL: ReadonlySet<string> = new Set([
  'invoke-expression',
  'invoke-webrequest',
  'invoke-restmethod',
  'invoke-command',
  'invoke-item',
  'invoke-wmimethod',
  'invoke-cimmethod',
  'invoke-shellcode',
  'invoke-mimikatz',
  'start-process',
  'start-bitstransfer',
  'new-object',
  'get-content',
  'set-content',
  'add-content',
  'get-childitem',
  'get-process',
  'stop-process',
  'get-wmiobject',
  'get-ciminstance',
  'get-itemproperty',
  'set-itemproperty',
  'remove-item',
  'copy-item',
  'set-executionpolicy',
  'set-mppreference',
  'add-mppreference',
  'import-module',
  'out-file',
  'convertto-securestring',
  'downloadstring',
  'downloadfile',
  'frombase64string',
  'system.net.webclient',
  'net.webclient',
  '-encodedcommand',
  '-executionpolicy',
]);

// ---------------------------------------------------------------------------------------------
// Character classes.
// ---------------------------------------------------------------------------------------------

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 11 || c === 12 || c === 160;
}

function isNewline(c: number): boolean {
  return c === 10 || c === 13;
}

function isAlpha(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isIdent(c: number): boolean {
  return isAlpha(c) || isDigit(c) || c === 95;
}

/** Characters that end a word in a shell (besides whitespace). */
function isMeta(c: number): boolean {
  // ; | & ( ) < > ` newline
  return c === 59 || c === 124 || c === 38 || c === 40 || c === 41 || c === 60 || c === 62 || c === 96;
}

/** Characters that end a skipped command: ; | & ` ( ) } < > newline. */
const STOP: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (const c of ';|&`()}<>\n\r') t[c.charCodeAt(0)] = 1;
  return t;
})();

/** A word that can start a command: a known command, a wrapper (nohup, sudo) or VAR=value. */
function mayHead(w: Word): boolean {
  return (
    tierOf(w) !== undefined || WRAPPERS.has(commandName(w)) || isAssignment(w) || w.norm.charCodeAt(0) === 36
  );
}

/** Index of `ch` in s within [from, from + max), or -1: searches stay bounded, whatever the input. */
function findWithin(s: string, ch: number, from: number, max: number): number {
  const stop = Math.min(s.length, from + max);
  for (let i = from; i < stop; i++) if (s.charCodeAt(i) === ch) return i;
  return -1;
}

/** Length of an empty expansion at j: `` (2), $() <() >() (3); else 0. */
function emptyExpansion(s: string, j: number): number {
  const c = s.charCodeAt(j);
  if (c === 96 && s.charCodeAt(j + 1) === 96) return 2;
  if ((c === 36 || c === 60 || c === 62) && s.charCodeAt(j + 1) === 40 && s.charCodeAt(j + 2) === 41)
    return 3;
  return 0;
}

/** A character that a word keeps as it is (no quote, escape, expansion, glob or word break). */
function plainWordChar(c: number, plusIsSpace: boolean): boolean {
  if (isAlpha(c) || isDigit(c)) return true;
  // - . / _ : , = @ % ! ~ #  and + unless it stands for a space
  return (
    c === 45 ||
    c === 46 ||
    c === 47 ||
    c === 95 ||
    c === 58 ||
    c === 44 ||
    c === 61 ||
    c === 64 ||
    c === 37 ||
    c === 33 ||
    c === 126 ||
    c === 35 ||
    (c === 43 && !plusIsSpace) ||
    c > 127
  );
}

// ---------------------------------------------------------------------------------------------
// Tokenizer.
// ---------------------------------------------------------------------------------------------

/** Where a command stands: how strongly the position says "this is a shell command". */
const CTX_START = 0; // first word of the value
const CTX_SEP = 1; // after ; & | or a newline
const CTX_CHAIN = 2; // after && ||, or a separator that opens the value (";id")
const CTX_SUBST = 3; // inside $( ), backticks, <( ), >( )
const CTX_GROUP = 4; // after ( or { at a command position (subshell, brace group)
const CTX_NONE = 5; // not a command position: after ")" or inside Markdown code

interface Word {
  /** As written (quotes and escapes kept), cut to MAX_WORD. */
  raw: string;
  /** After quote removal and evasion undoing. */
  norm: string;
  /** Quote, escape, caret, empty-variable or bracket tricks inside the word. */
  evasion: boolean;
  /** Unquoted glob characters (* ? [..]). */
  glob: boolean;
  /** Preceded by a redirection operator. */
  redirect: boolean;
  /** commandName() and tierOf(), computed once (a word is asked many times). */
  name: string | undefined;
  tier: Tier | typeof NO_TIER | undefined;
}

/** tierOf() found no command. */
const NO_TIER = 0;

interface Command {
  ctx: number;
  words: Word[];
  /** Redirections seen inside the command (>, <, >>, <<<, 2>&1). */
  redirections: number;
  /** The separator that ended it (';', '|', '&&', '\n', ')', '`', '' for the end). */
  end: string;
  /** Its first word is no command: skipped, kept only for the separator that ended it. */
  dead: boolean;
  /** Nothing but whitespace follows it ("visudo\n"). */
  last?: boolean;
  /** Its separator opens the value (";id": VALUE_OPENER) or follows a known command (AFTER_COMMAND). */
  chained?: number;
  /** Its separator was ";" written with a space before it and none after (" ;top"). */
  glued?: boolean;
}

const VALUE_OPENER = 1;
const AFTER_COMMAND = 2;
const AFTER_COMMAND_TIGHT = 3;

const MAX_WORD = 256;
const MAX_COMMANDS = 512;

/** Per-value facts gathered while tokenizing. */
interface Scan {
  commands: Command[];
  ifs: boolean;
}

class Tokenizer {
  private readonly s: string;
  private i = 0;
  private readonly plusIsSpace: boolean;
  readonly commands: Command[] = [];
  ifs = false;
  private cur: Command;
  private backtick = false;

  constructor(s: string) {
    this.s = s;
    // Form-encoded text seen raw (headers, cookies): "+" stands for a space there.
    this.plusIsSpace = s.indexOf(' ') === -1 && s.indexOf('+') !== -1;
    this.cur = { ctx: CTX_START, words: [], redirections: 0, end: '', dead: false };
  }

  run(): Scan {
    const s = this.s;
    let pendingRedirect = false;
    let last = -1;
    while (this.i < s.length && this.commands.length < MAX_COMMANDS) {
      // Every step consumes input; a step that did not is skipped over (never loop).
      if (this.i === last) this.i++;
      last = this.i;
      const c = s.charCodeAt(this.i);
      if (isSpace(c) || (c === 43 && this.plusIsSpace)) {
        this.i++;
        continue;
      }
      if (isNewline(c)) {
        this.i++;
        this.close('\n', CTX_SEP);
        continue;
      }
      if (c === 59) {
        const opens = this.atValueStart() || this.alive();
        const chained = opens ? this.opensValue() : 0;
        // "word ;cmd": a space before the ";" and none after, as no writer spaces a semicolon.
        const glued =
          this.i > 1 &&
          isSpace(s.charCodeAt(this.i - 1)) &&
          isIdent(s.charCodeAt(this.i - 2)) &&
          isAlpha(s.charCodeAt(this.i + 1));
        this.i++;
        this.close(';', opens ? CTX_CHAIN : CTX_SEP);
        if (chained !== 0) this.cur.chained = chained;
        if (glued) this.cur.glued = true;
        continue;
      }
      if (c === 38) {
        const n = s.charCodeAt(this.i + 1);
        if (n === 62) {
          // &> redirection
          this.i += 2;
          pendingRedirect = true;
          continue;
        }
        const double = n === 38;
        const opens = this.atValueStart() || this.alive();
        const chained = opens ? this.opensValue() : 0;
        this.i += double ? 2 : 1;
        this.close(double ? '&&' : '&', double || opens ? CTX_CHAIN : CTX_SEP);
        if (chained !== 0) this.cur.chained = chained;
        continue;
      }
      if (c === 124) {
        const double = s.charCodeAt(this.i + 1) === 124;
        const opens = this.atValueStart() || this.alive();
        const chained = opens ? this.opensValue() : 0;
        this.i += double ? 2 : 1;
        this.close(double ? '||' : '|', double || opens ? CTX_CHAIN : CTX_SEP);
        if (chained !== 0) this.cur.chained = chained;
        continue;
      }
      if (c === 96) {
        this.backquote();
        continue;
      }
      if (c === 36 && s.charCodeAt(this.i + 1) === 40) {
        // $( and $(( open a substitution
        this.i += s.charCodeAt(this.i + 2) === 40 ? 3 : 2;
        this.close('', CTX_SUBST);
        continue;
      }
      if ((c === 60 || c === 62) && s.charCodeAt(this.i + 1) === 40) {
        this.i += 2;
        this.close('', CTX_SUBST);
        continue;
      }
      if (c === 40 || (c === 123 && this.braceGroupOpens())) {
        // A subshell or brace group only where a command may start; elsewhere "(" is punctuation.
        this.i++;
        if (this.cur.words.length === 0 && !this.cur.dead) this.close('(', CTX_GROUP);
        continue;
      }
      if (c === 41 || c === 125) {
        this.i++;
        this.close(')', CTX_NONE);
        continue;
      }
      if (c === 60 && this.tagOpens()) {
        // <tr>, </td>, <a href=…>: markup, not a redirection; what follows a tag is text.
        this.i++;
        this.inTag = true;
        this.close('', CTX_NONE);
        continue;
      }
      if (c === 62 && this.inTag) {
        this.i++;
        this.inTag = false;
        this.close('', CTX_NONE);
        continue;
      }
      if (c === 60 || c === 62) {
        this.redirection();
        pendingRedirect = true;
        continue;
      }
      if (this.cur.dead || (this.cur.ctx === CTX_NONE && this.cur.words.length === 0 && !this.inTag)) {
        this.skipCommand();
        continue;
      }
      if (this.cur.words.length === 0 && !this.inTag && this.plainNonHead()) {
        // A plain word no command starts like ("Where", "Mozilla/5.0"): skipped without building it.
        this.skipCommand();
        pendingRedirect = false;
        continue;
      }
      const w = this.word();
      if (w !== undefined && this.cur.words.length === 0 && !this.inTag && !mayHead(w)) {
        // Not a command: the rest up to the next separator cannot matter (prose stays cheap).
        this.skipCommand();
        pendingRedirect = false;
        continue;
      }
      if (w !== undefined) {
        // "> out.txt", "</dev/null" redirect; "<3" and "> quoted prose" do not.
        if (pendingRedirect && redirectTarget(w.norm)) {
          w.redirect = true;
          this.cur.redirections++;
        }
        this.cur.words.push(w);
      }
      pendingRedirect = false;
      if (this.reopen) {
        this.reopen = false;
        this.close('=', CTX_SEP);
      }
    }
    this.close('', CTX_SEP);
    const lastCmd = this.commands[this.commands.length - 1];
    if (lastCmd !== undefined && lastCmd.end === '\n') lastCmd.last = true;
    if (lastCmd !== undefined && lastCmd.end === '' && this.commands.length > 1) {
      const prev = this.commands[this.commands.length - 2] as Command;
      if (prev.end === '\n' && lastCmd.words.length === 0) prev.last = true;
    }
    return { commands: this.commands, ifs: this.ifs };
  }

  /**
   * A backquote. Runs of two or more are Markdown fences; a single one opens a substitution when
   * it follows shell punctuation (=`…`, ;`…`, $`…`) or opens the value, and inline code otherwise.
   */
  private backquote(): void {
    const s = this.s;
    let j = this.i;
    while (j < s.length && s.charCodeAt(j) === 96) j++;
    const run = j - this.i;
    const prev = this.i === 0 ? -1 : s.charCodeAt(this.i - 1);
    this.i = j;
    if (run > 1) {
      this.close('', CTX_NONE);
      return;
    }
    if (this.backtick) {
      this.backtick = false;
      this.close('`', CTX_NONE);
      return;
    }
    this.backtick = true;
    const shellish =
      prev === -1 ||
      prev === 61 ||
      prev === 59 ||
      prev === 124 ||
      prev === 38 ||
      prev === 36 ||
      prev === 123 ||
      prev === 40 ||
      prev === 34 ||
      prev === 39 ||
      prev === 92 ||
      isNewline(prev);
    this.close('', shellish ? CTX_SUBST : CTX_NONE);
  }

  /**
   * The word at i is one word() would take as written (fast path) and cannot be a command head:
   * not a path, no "=", and its first two letters start no known command. On true, i is past it.
   */
  private plainNonHead(): boolean {
    const s = this.s;
    const start = this.i;
    const c0 = s.charCodeAt(start);
    const c1 = s.charCodeAt(start + 1);
    // Paths ("/usr/bin/x", "./x", "~/x", "C:\\x") and non-ASCII starts take the full path.
    if (c0 >= 128 || c1 >= 128 || c0 === 47 || c0 === 46 || c0 === 126 || c1 === 58 || c1 === 61)
      return false;
    if (!plainWordChar(c0, this.plusIsSpace) || !plainWordChar(c1, this.plusIsSpace)) return false;
    let j = start + 2;
    const c2 = s.charCodeAt(j);
    const third = plainWordChar(c2, this.plusIsSpace);
    if (third && (c2 >= 128 || c2 === 61)) return false;
    if (mayStartHead(c0, c1, third ? c2 : Number.NaN)) return false;
    for (; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (!plainWordChar(c, this.plusIsSpace)) break;
      if (c === 61) return false; // NAME=value: an assignment may come first
    }
    const ends = j === s.length || this.wordEnds(j) || (this.plusIsSpace && s.charCodeAt(j) === 43);
    if (!ends || emptyExpansion(s, j) !== 0) return false;
    this.i = j;
    return true;
  }

  /** Skips to the next separator: the current command has no command word. */
  private skipCommand(): void {
    const s = this.s;
    this.cur.dead = true;
    let j = this.i;
    while (j < s.length) {
      const c = s.charCodeAt(j);
      if (c < 128 && STOP[c] === 1) break;
      if (c === 36 && s.charCodeAt(j + 1) === 40) break;
      j++;
    }
    this.i = j;
  }

  private inTag = false;

  /** "<" opening an HTML/XML tag: a letter, "/" or "!" then a letter, and a ">" soon after. */
  private tagOpens(): boolean {
    const s = this.s;
    let j = this.i + 1;
    const c = s.charCodeAt(j);
    if (c === 47 || c === 33 || c === 63) j++;
    if (!isAlpha(s.charCodeAt(j))) return false;
    // The next ">" is remembered, so a run of "<a<a<a…" stays linear.
    if (this.nextGt !== -1 && this.nextGt < j) this.nextGt = s.indexOf('>', j);
    return this.nextGt !== -1 && this.nextGt - j < 512;
  }

  private nextGt = 0;

  /** The current command starts with a command word ("time;", "echo x |"): what follows chains. */
  private alive(): boolean {
    const w = this.cur.words[0];
    return w !== undefined && !this.cur.dead && this.cur.ctx !== CTX_NONE && tierOf(w) !== undefined;
  }

  /**
   * True when nothing but whitespace came before the current position (a value like ";id"), or
   * the start of a quoted attribute value (probe=";id").
   */
  private atValueStart(): boolean {
    if (this.cur.words.length !== 0 || this.cur.dead) return false;
    const last = this.commands[this.commands.length - 1];
    return last === undefined || last.end === '=';
  }

  /**
   * The separator about to close the current command follows a known command, or nothing but
   * whitespace and quotes (";id", "';id'"), not an empty command after another separator ("; ;x").
   */
  private opensValue(): number {
    if (this.alive()) {
      // "cd /;cd etc" is written tight; prose puts a space after its semicolons.
      const k = this.s.charCodeAt(this.i) === this.s.charCodeAt(this.i + 1) ? this.i + 2 : this.i + 1;
      return isSpace(this.s.charCodeAt(k)) ? AFTER_COMMAND : AFTER_COMMAND_TIGHT;
    }
    if (this.commands.length > 0) return 0;
    for (let k = 0; k < this.i && k < 16; k++) {
      const c = this.s.charCodeAt(k);
      if (!isSpace(c) && c !== 39 && c !== 34) return k === this.i ? VALUE_OPENER : 0;
    }
    return VALUE_OPENER;
  }

  private close(end: string, nextCtx: number): void {
    const cur = this.cur;
    cur.end = end;
    if (cur.words.length > 0 || cur.dead) this.commands.push(cur);
    this.cur = { ctx: nextCtx, words: [], redirections: 0, end: '', dead: false };
  }

  /** "{ cmd; }" is a group; "{a,b}" or "{x}" is a word (brace expansion or a template). */
  private braceGroupOpens(): boolean {
    const n = this.s.charCodeAt(this.i + 1);
    return isSpace(n) || isNewline(n);
  }

  private redirection(): void {
    const s = this.s;
    let j = this.i;
    while (j < s.length && j - this.i < 4 && (s.charCodeAt(j) === 60 || s.charCodeAt(j) === 62)) j++;
    // 2>&1 and <<< exist only in shells; a lone < or > may be prose ("<3", "> quote").
    if (j - this.i === 3 && s.charCodeAt(this.i) === 60) this.cur.redirections++;
    if (s.charCodeAt(j) === 38 && isDigit(s.charCodeAt(j + 1))) {
      j++;
      while (j < s.length && isDigit(s.charCodeAt(j))) j++;
      this.cur.redirections++;
    }
    this.i = j;
  }

  /**
   * One word, up to whitespace or a metacharacter, with quotes and evasions undone. Quotes are
   * transparent: a quoted stretch still splits at spaces, so a payload that closes the
   * application's own quote ("';id;'") is seen, and a quote inside a word (c'a't) is an evasion.
   */
  private word(): Word | undefined {
    const s = this.s;
    const start = this.i;
    let norm = '';
    let evasion = false;
    let glob = false;
    let j = this.i;
    // Fast path: a plain word needs no rewriting.
    while (j < s.length && plainWordChar(s.charCodeAt(j), this.plusIsSpace)) j++;
    const ends = j === s.length || this.wordEnds(j) || (this.plusIsSpace && s.charCodeAt(j) === 43);
    if (j > start && ends && emptyExpansion(s, j) === 0) {
      this.i = j;
      const raw = s.slice(start, Math.min(j, start + MAX_WORD));
      return {
        raw,
        norm: raw,
        evasion: false,
        glob: false,
        redirect: false,
        name: undefined,
        tier: undefined,
      };
    }
    j = start;
    for (; j < s.length; j++) {
      const c = s.charCodeAt(j);
      const empty = emptyExpansion(s, j);
      if (empty > 0 && (j > start || !this.wordEnds(j + empty))) {
        // pi``ng, pi$()ng, ping$() …: an expansion to nothing glued inside a word.
        evasion = true;
        j += empty - 1;
        continue;
      }
      if (isSpace(c) || isNewline(c) || isMeta(c) || (c === 43 && this.plusIsSpace)) break;
      if (c === 39 || c === 34) {
        const first = this.cur.words.length === 0 || this.inTag;
        if (j > start && s.charCodeAt(j - 1) === 61 && first && this.attribute(start, j)) {
          // name="…" (XML and HTML attributes, key="value"): the quoted text is where a command
          // injected into the value would start.
          this.reopen = true;
          j++;
          break;
        }
        if (j > start && j + 1 < s.length && !this.wordEnds(j + 1)) evasion = true;
        continue;
      }
      if (c === 92) {
        // Backslash escape: c\at. Windows paths keep theirs (C:\Windows, \\host).
        if (j + 1 >= s.length) break;
        const n = s.charCodeAt(j + 1);
        if (this.windowsPath(start)) {
          if (norm.length < MAX_WORD) norm += '\\';
          continue;
        }
        if (isNewline(n)) {
          j++;
          continue;
        }
        // "c=\\ ": an escaped space is the value of an assignment (a space to splice in later).
        if (isSpace(n) && !(norm.endsWith('=') && assignmentText(norm))) break;
        if (j > start || isAlpha(n)) evasion = true;
        if (norm.length < MAX_WORD) norm += s[j + 1];
        j++;
        continue;
      }
      if (c === 94 && j > start) {
        // Windows caret escape: w^h^o^a^m^i
        evasion = true;
        continue;
      }
      if (c === 36) {
        const n = s.charCodeAt(j + 1);
        if (n === 40) break; // $( inside a word: a substitution starts
        if (n === 39 || n === 34) {
          evasion = true; // $'…' and $"…" quoting
          continue;
        }
        const k = this.dollar(j, j === start);
        if (k === -1) break; // ${IFS}: a word break
        if (k > j) {
          evasion = true;
          j = k - 1;
          continue;
        }
      }
      if (c === 91) {
        // [x] with one character is a disguised letter; anything longer is a glob class.
        const inner = s.charCodeAt(j + 1);
        if (j + 2 < s.length && s.charCodeAt(j + 2) === 93 && inner !== 33 && inner !== 94) {
          if (inner === 63 || inner === 42) glob = true;
          if (norm.length < MAX_WORD) norm += s[j + 1];
          evasion = true;
          j += 2;
          continue;
        }
        glob = true;
      }
      if (c === 42 || c === 63) glob = true;
      if (norm.length < MAX_WORD) norm += s[j];
    }
    this.i = j;
    if (this.ifsPending) {
      this.ifsPending = false;
      this.i = this.ifsEnd;
    } else if (j === start) this.i = j + 1;
    if (norm === '') return undefined;
    const raw = s.slice(start, Math.min(j, start + MAX_WORD));
    return { raw, norm, evasion, glob, redirect: false, name: undefined, tier: undefined };
  }

  private ifsPending = false;
  private ifsEnd = 0;
  /** The word just read ended with name=" : what follows starts a command. */
  reopen = false;

  /** s[start, eq) is an identifier followed by "=" (eq is the quote's index). */
  private attribute(start: number, quote: number): boolean {
    for (let k = start; k < quote - 1; k++) {
      const c = this.s.charCodeAt(k);
      if (!isIdent(c) && c !== 45 && c !== 58) return false;
    }
    return quote - 1 > start;
  }

  private wordEnds(j: number): boolean {
    const c = this.s.charCodeAt(j);
    return isSpace(c) || isNewline(c) || isMeta(c);
  }

  private windowsPath(start: number): boolean {
    const s = this.s;
    if (s.charCodeAt(start) === 92 && s.charCodeAt(start + 1) === 92) return true;
    return isAlpha(s.charCodeAt(start)) && s.charCodeAt(start + 1) === 58 && s.charCodeAt(start + 2) === 92;
  }

  /**
   * A "$" inside a word. Returns the index after an expansion that vanishes ($@, $*, $1, ${x},
   * $name when more word follows), -1 for ${IFS} / $IFS (a word break), or j to keep the "$".
   */
  private dollar(j: number, atStart: boolean): number {
    const s = this.s;
    const n = s.charCodeAt(j + 1);
    if (n === 64 || n === 42 || n === 35 || n === 63 || n === 33 || n === 45 || isDigit(n)) return j + 2;
    if (n === 36) return j + 2; // $$
    if (n === 123) {
      const end = findWithin(s, 125, j + 2, 64);
      if (end === -1) return j;
      const name = s.slice(j + 2, end);
      if (name.startsWith('IFS')) return this.breakAt(end + 1);
      // ${`id`} and ${$(id)} hold a substitution: let the tokenizer see it.
      if (name.includes('`') || name.includes('$(') || name.includes(' ')) return j;
      // ${SHELL} opening a word names a command; ${x} inside a word is the empty-variable trick.
      if (atStart) return j;
      return end + 1;
    }
    if (n === 95 && !isIdent(s.charCodeAt(j + 2))) return j + 2; // $_
    if (isAlpha(n) || n === 95) {
      let k = j + 1;
      while (k < s.length && k - j < 64 && isIdent(s.charCodeAt(k))) k++;
      if (s.startsWith('IFS', j + 1) && k === j + 4) return this.breakAt(k);
      // "$var" alone is an argument; inside a word ("c$u" "cat$u") it vanishes when unset.
      if (atStart) return j;
      return k;
    }
    return j;
  }

  private breakAt(k: number): number {
    this.ifs = true;
    this.ifsPending = true;
    this.ifsEnd = k;
    return -1;
  }
}

// ---------------------------------------------------------------------------------------------
// Word classification.
// ---------------------------------------------------------------------------------------------

const REDIRECT_EXTENSIONS: ReadonlySet<string> = new Set(
  'txt log out tmp sh php py pl rb js html htm conf cfg ini bak dat csv json xml key pem so exe bat ps1 zip gz tar'.split(
    ' ',
  ),
);

/** A word a redirection would write to or read from: a path or a file name with a usual extension. */
function redirectTarget(n: string): boolean {
  const c0 = n.charCodeAt(0);
  if (c0 === 47 || c0 === 126 || c0 === 38) return true;
  if (c0 === 46 && (n.charCodeAt(1) === 47 || n.charCodeAt(1) === 46)) return true;
  const dot = n.lastIndexOf('.');
  return dot > 0 && REDIRECT_EXTENSIONS.has(n.slice(dot + 1).toLowerCase());
}

/** The command a word names, if any: "/usr/bin/perl" → perl, "'curl'" → curl, "CMD.EXE" → cmd.exe. */
function commandName(w: Word): string {
  w.name ??= baseName(w.norm).toLowerCase();
  return w.name;
}

/** The last path segment when the word is a path ("/usr/bin/perl", "C:\\x\\cmd.exe"); else the word. */
function baseName(n: string): string {
  const slash = Math.max(n.lastIndexOf('/'), n.lastIndexOf('\\'));
  if (slash === -1 || slash === n.length - 1) return n;
  const c0 = n.charCodeAt(0);
  const path = c0 === 47 || c0 === 92 || c0 === 126 || c0 === 46 || (isAlpha(c0) && n.charCodeAt(1) === 58);
  return path ? n.slice(slash + 1) : n;
}

function tierOf(w: Word): Tier | undefined {
  w.tier ??= lookupTier(w) ?? NO_TIER;
  return w.tier === NO_TIER ? undefined : w.tier;
}

function lookupTier(w: Word): Tier | undefined {
  let name = commandName(w);
  // ${SHELL} names the same command as $SHELL.
  if (name.startsWith('${') && name.endsWith('}')) name = `$${name.slice(2, -1)}`;
  const t = COMMANDS.get(name);
  if (t !== undefined) return t;
  if (name.endsWith('.exe')) return COMMANDS.get(name.slice(0, -4));
  const v = versioned(name);
  if (v !== undefined) return v;
  if (w.glob) return globCommand(w.norm);
  return undefined;
}

/** python3.10, perl5, php8.1, gcc7.4: a known command with a version glued on. */
function versioned(name: string): Tier | undefined {
  let end = name.length;
  while (end > 1 && (isDigit(name.charCodeAt(end - 1)) || name.charCodeAt(end - 1) === 46)) end--;
  if (end === name.length || end < 2 || !isDigit(name.charCodeAt(end))) return undefined;
  const t = COMMANDS.get(name.slice(0, end));
  return t === WORD ? undefined : t;
}

/** Paths that attackers write as globs ("/bin/ca?", "/???/??t", "/etc/[p]asswd", "/bi[n]/bash"). */
const GLOB_TARGETS: readonly string[] = [
  '/bin/cat',
  '/bin/sh',
  '/bin/bash',
  '/bin/nc',
  '/bin/ls',
  '/bin/netcat',
  '/bin/busybox',
  '/usr/bin/wget',
  '/usr/bin/curl',
  '/usr/bin/id',
  '/usr/bin/whoami',
  '/usr/bin/nc',
  '/usr/bin/perl',
  '/usr/bin/python',
  '/usr/bin/python3',
  '/usr/bin/bash',
  '/usr/sbin/bash',
  '/usr/bin/cat',
  '/usr/bin/ls',
  '/usr/bin/env',
  '/etc/passwd',
  '/etc/shadow',
  '/etc/hosts',
  '/etc/group',
  '/etc',
  '/bin',
];

function globCommand(norm: string): Tier | undefined {
  if (norm.length > 60 || norm.charCodeAt(0) !== 47) return undefined;
  for (const t of GLOB_TARGETS) if (globMatch(norm, t)) return t.startsWith('/etc') ? TOOL : SHELL;
  return undefined;
}

/** One "[…]" class (with ! or ^ negation and a-z ranges) at p[pi]; returns the index after it, or -1. */
function classMatch(p: string, pi: number, ch: number): number {
  let k = pi + 1;
  const negate = p[k] === '!' || p[k] === '^';
  if (negate) k++;
  let hit = false;
  const start = k;
  while (k < p.length && (p[k] !== ']' || k === start)) {
    const lo = p.charCodeAt(k);
    if (p[k + 1] === '-' && k + 2 < p.length && p[k + 2] !== ']') {
      if (ch >= lo && ch <= p.charCodeAt(k + 2)) hit = true;
      k += 3;
    } else {
      if (ch === lo) hit = true;
      k++;
    }
  }
  if (k >= p.length) return -1;
  return hit !== negate ? k + 1 : -1;
}

/**
 * Shell glob match of a short pattern (≤ 60 chars, checked by the caller) against a short target:
 * "*" any run within a path segment, "?" one character, "[…]" one character of a class.
 */
function globMatch(p: string, t: string): boolean {
  // Iterative matcher with one backtrack point: O(len(p) × len(t)), both bounded.
  let pi = 0;
  let ti = 0;
  let star = -1;
  let mark = 0;
  while (ti < t.length) {
    const pc = p[pi];
    if (pc === '[') {
      const next = classMatch(p, pi, t.charCodeAt(ti));
      if (next !== -1) {
        pi = next;
        ti++;
        continue;
      }
    } else if (pc === '?' && t[ti] !== '/') {
      pi++;
      ti++;
      continue;
    } else if (pc === '*') {
      star = pi++;
      mark = ti;
      continue;
    } else if (pc !== undefined && pc === t[ti]) {
      pi++;
      ti++;
      continue;
    }
    if (star !== -1 && t[mark] !== '/') {
      pi = star + 1;
      ti = ++mark;
      continue;
    }
    return false;
  }
  while (p[pi] === '*') pi++;
  return pi === p.length;
}

/** A value that is, or holds, a glob spelling of a system path: "/etc/pas[s]wd", "/???/??t". */
function globPath(v: string): boolean {
  for (let at = v.indexOf('/'); at !== -1; ) {
    const prev = at === 0 ? 32 : v.charCodeAt(at - 1);
    let end = at;
    while (end < v.length && end - at < 60 && !isSpace(v.charCodeAt(end)) && v.charCodeAt(end) !== 59) end++;
    if (
      isSpace(prev) ||
      prev === 32 ||
      prev === 61 ||
      prev === 59 ||
      prev === 34 ||
      prev === 39 ||
      at === 0
    ) {
      const word = v.slice(at, end);
      if (/[[?*]/.test(word) && globCommand(word) !== undefined) return true;
    }
    at = v.indexOf('/', end);
  }
  return false;
}

/** An argument only a command line has: a flag, a path, a URL, a host, a variable, a switch. */
function shellArg(w: Word): boolean {
  const n = w.norm;
  if (w.redirect) return true;
  const c0 = n.charCodeAt(0);
  const c1 = n.charCodeAt(1);
  if (c0 === 45) return isAlpha(c1) || (c1 === 45 && isAlpha(n.charCodeAt(2))); // -x --long
  if (c0 === 43 && isAlpha(c1) && n.length <= 4) return true; // chmod +x
  if (c0 === 47) return n.length === 1 || isAlpha(c1) || c1 === 46 || w.glob; // /etc, /r (cmd switch), /
  if (c0 === 126 && (c1 === 47 || n.length === 1)) return true; // ~/ ~
  if (c0 === 46 && (c1 === 47 || (c1 === 46 && n.charCodeAt(2) === 47))) return true; // ./ ../
  if (c0 === 36 && (isAlpha(c1) || c1 === 123 || c1 === 95)) return true; // $var ${var}
  if (isAlpha(c0) && c1 === 58 && (n.charCodeAt(2) === 92 || n.charCodeAt(2) === 47)) return true; // C:\
  if (c0 === 92 && c1 === 92) return true; // \\host\share
  if (n.includes('://')) return true;
  if (w.glob && (n.includes('/') || c0 === 47)) return true;
  return hostLike(n) || fileLike(n);
}

/** "google.com", "10.0.0.1", "evil.com:8080": a network target. */
function hostLike(n: string): boolean {
  const dot = n.lastIndexOf('.');
  if (dot <= 0 || dot === n.length - 1 || n.length > 253) return false;
  let dots = 0;
  let digits = 0;
  let letters = 0;
  for (let i = 0; i < n.length; i++) {
    const c = n.charCodeAt(i);
    if (c === 46) dots++;
    else if (isDigit(c)) digits++;
    else if (isAlpha(c) || c === 45) letters++;
    else if (c === 58) break;
    else return false;
  }
  if (letters === 0) return dots === 3 && digits >= 4; // IPv4
  // A host ends in a short alphabetic label: "google.com", "example.org".
  let tld = 0;
  for (let i = dot + 1; i < n.length; i++) {
    const c = n.charCodeAt(i);
    if (c === 58) break;
    if (!isAlpha(c)) return false;
    tld++;
  }
  return tld >= 2 && tld <= 6 && !SCRIPT_EXTENSIONS.has(n.slice(dot + 1).toLowerCase());
}

const SCRIPT_EXTENSIONS: ReadonlySet<string> = new Set([
  'sh',
  'bash',
  'php',
  'pl',
  'py',
  'rb',
  'ps1',
  'bat',
  'cmd',
  'exe',
  'dll',
  'vbs',
  'js',
  'jsp',
  'asp',
  'aspx',
  'elf',
  'bin',
  'so',
  'reg',
  'hta',
  'msi',
]);

/** "evil.php", "x.ps1": a script or binary an attacker drops or runs. */
function fileLike(n: string): boolean {
  const dot = n.lastIndexOf('.');
  if (dot <= 0 || n.length > 128) return false;
  return SCRIPT_EXTENSIONS.has(n.slice(dot + 1).toLowerCase());
}

const SENSITIVE_DIRS: ReadonlySet<string> = new Set([
  '/etc',
  '/etc/',
  '/root',
  '/bin',
  '/sbin',
  '/boot',
  '/proc',
]);

function sensitive(w: Word): boolean {
  const n = w.norm.toLowerCase();
  if (n.length < 4) return false;
  if (SENSITIVE_DIRS.has(n)) return true;
  // GTFOBins-style "-wrapper sh,-c,…" hands a shell its code through another program.
  if (n.includes('sh,-c') || n.includes('sh,-i')) return true;
  if (n.charCodeAt(0) === 47 || n.charCodeAt(0) === 126 || n.charCodeAt(0) === 46) {
    for (const p of SENSITIVE_PATHS) if (n.startsWith(p) || (p.length > 6 && n.includes(p))) return true;
    if (w.glob && globCommand(w.norm) !== undefined) return true;
  }
  // Every Windows marker holds "sys", ".ini", "%" or "hk": most words skip the list.
  if (!n.includes('sys') && !n.includes('.ini') && !n.includes('%') && !n.includes('hk')) return false;
  for (const m of WINDOWS_MARKERS) if (n.includes(m)) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Judging commands.
// ---------------------------------------------------------------------------------------------

function finding(rule: string, pl: 1 | 2 | 3, score: number): Finding {
  return { rule: `rce-${rule}`, family: 'rce', pl, score };
}

const F_EVASION = finding('evasion', 1, 5);
const F_GLOB_PATH = finding('glob-path', 1, 5);
const F_CHAIN = finding('command-chain', 1, 5);
const F_CHAIN_WEAK = finding('command-chain-weak', 2, 2);
const F_CHAIN_WORD = finding('command-chain-word', 2, 5);
const F_EXPANSION = finding('parameter-expansion', 2, 5);
const F_BIN_PATH = finding('binary-path', 2, 5);
const F_SUBST = finding('substitution', 1, 5);
const F_START = finding('command-line', 1, 5);
const F_START_PL2 = finding('command', 2, 5);
const F_IFS = finding('ifs', 1, 5);
const F_SHELLSHOCK = finding('shellshock', 1, 5);
const F_PIPE_SHELL = finding('pipe-to-shell', 1, 5);
const F_REVERSE = finding('reverse-shell', 1, 5);
const F_BRACE = finding('brace-expansion', 1, 5);
const F_WIN_FOR = finding('windows-for', 1, 5);
const F_WIN_IF = finding('windows-if', 1, 5);
const F_WIN_VAR = finding('windows-variable', 1, 5);
const F_POWERSHELL = finding('powershell', 1, 5);
const F_SSI = finding('ssi-exec', 1, 5);
const F_FUNCTION = finding('function-definition', 2, 5);
const F_ALIAS = finding('alias', 1, 5);
const F_MAIL = finding('mail-protocol', 2, 5);
const F_SQLITE = finding('sqlite-dot-command', 2, 5);

interface Head {
  /** Index of the word that is the command (after assignments and wrappers). */
  at: number;
  tier: Tier;
  /** A wrapper (nohup, time, sudo) ran it. */
  wrapped: boolean;
}

/** The command a simple command runs: past VAR=value assignments and wrappers like nohup. */
function headOf(words: Word[], vars?: Map<string, string>): Head | undefined {
  let i = 0;
  while (i < words.length && isAssignment(words[i] as Word)) i++;
  let wrapped = false;
  // "$u wget x": a variable that expands to nothing before the real command.
  while (
    i + 1 < words.length &&
    loneVariable(words[i] as Word) &&
    tierOf(words[i + 1] as Word) !== undefined
  ) {
    i++;
    wrapped = true;
  }
  for (let hops = 0; i < words.length && hops < 4; hops++) {
    const w = words[i] as Word;
    const name = commandName(w);
    if (WRAPPERS.has(name) && i + 1 < words.length) {
      // "time to go" is not "time curl": a wrapper counts only when a command follows.
      let k = i + 1;
      while (k < words.length && k < i + 4 && (words[k] as Word).norm.startsWith('-')) k++;
      if (k < words.length && tierOf(words[k] as Word) !== undefined) {
        i = k;
        wrapped = true;
        continue;
      }
    }
    const tier = tierOf(w) ?? resolved(w, vars);
    return tier === undefined ? undefined : { at: i, tier, wrapped };
  }
  return undefined;
}

/** A lone lower-case program name ("rmt-dump"), one given a flag ("x -u"), or an expansion ("$x"). */
function unknownProgram(words: Word[], chained: number): boolean {
  const w = words[0] as Word;
  const n = w.raw;
  // An expansion as the command only after a known one ("echo | $x"), not opening a value ("; $a").
  if (n.charCodeAt(0) === 36) return chained !== VALUE_OPENER && n.length > 1 && !isDigit(n.charCodeAt(1));
  if (n.length < 2 || n.length > 32 || !(n.charCodeAt(0) >= 97 && n.charCodeAt(0) <= 122)) return false;
  for (let i = 1; i < n.length; i++) {
    const c = n.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || isDigit(c) || c === 45 || c === 95)) return false;
  }
  if (words.length === 1) return true;
  const a = (words[1] as Word).norm;
  return a.charCodeAt(0) === 45 && isAlpha(a.charCodeAt(1));
}

/** "$u", "${x}": a word that is only a variable reference. */
function loneVariable(w: Word): boolean {
  const n = w.raw;
  if (n.charCodeAt(0) !== 36 || n.length < 2) return false;
  for (let i = 1; i < n.length; i++) {
    const c = n.charCodeAt(i);
    if (!isIdent(c) && c !== 123 && c !== 125) return false;
  }
  return true;
}

/**
 * A command head made of variables assigned earlier in the value ("c=cat … $c", "a=c;b=at;$a$b"):
 * the command it expands to, marked as an evasion.
 */
function resolved(w: Word, vars: Map<string, string> | undefined): Tier | undefined {
  if (vars === undefined || vars.size === 0 || w.raw.charCodeAt(0) !== 36) return undefined;
  let out = '';
  const r = w.raw;
  for (let i = 0; i < r.length; ) {
    if (r.charCodeAt(i) !== 36) return undefined;
    let j = i + 1;
    const brace = r.charCodeAt(j) === 123;
    if (brace) j++;
    const from = j;
    while (j < r.length && isIdent(r.charCodeAt(j))) j++;
    const v = vars.get(r.slice(from, j));
    if (v === undefined) return undefined;
    out += v;
    i = brace ? j + 1 : j;
    if (out.length > 40) return undefined;
  }
  // "a1=c;a2=at;a3=\\ ;…" may spell a whole command line: its first word is the command.
  let space = 0;
  while (space < out.length && !isSpace(out.charCodeAt(space)) && out.charCodeAt(space) !== 92) space++;
  const t = COMMANDS.get(out.slice(0, space).toLowerCase());
  if (t !== undefined) w.evasion = true;
  return t;
}

/** NAME=value words of the whole value (at most 32), to resolve "$a$b" command heads. */
function assignments(cmds: Command[]): Map<string, string> | undefined {
  let vars: Map<string, string> | undefined;
  for (const c of cmds) {
    for (const w of c.words) {
      if (!isAssignment(w)) break;
      const eq = w.norm.indexOf('=');
      vars ??= new Map();
      if (vars.size < 32) vars.set(w.norm.slice(0, eq), w.norm.slice(eq + 1));
    }
  }
  return vars;
}

function isAssignment(w: Word): boolean {
  return assignmentText(w.norm);
}

/** NAME=… */
function assignmentText(n: string): boolean {
  const eq = n.indexOf('=');
  if (eq <= 0) return false;
  for (let i = 0; i < eq; i++) if (!isIdent(n.charCodeAt(i))) return false;
  return !isDigit(n.charCodeAt(0));
}

/** What the arguments of a command look like. */
interface Args {
  shell: number;
  sensitive: boolean;
  /** Another known command among the arguments ("strace ifconfig", "bash -c id"). */
  command: boolean;
  /** -c / -e / /c / /k: the next argument is code. */
  codeFlag: boolean;
}

function argsOf(words: Word[], from: number): Args {
  const a: Args = { shell: 0, sensitive: false, command: false, codeFlag: false };
  for (let i = from; i < words.length && i < from + 16; i++) {
    const w = words[i] as Word;
    if (shellArg(w)) a.shell++;
    if (sensitive(w)) a.sensitive = true;
    const t = tierOf(w);
    if (t !== undefined && t !== WORD) a.command = true;
    const n = w.norm.toLowerCase();
    if (n === '-c' || n === '-e' || n === '/c' || n === '/k' || n === '-command' || n === '-enc')
      a.codeFlag = true;
    if (n === '-exec' || n === '-execdir' || n === '--to-command' || n === '-wrapper') a.command = true;
  }
  return a;
}

/** Whether a command word is written in lower case (Unix commands are case-sensitive). */
function lowerHead(w: Word): boolean {
  const n = baseName(w.norm);
  return n === n.toLowerCase();
}

const SYSTEM_BIN = ['/bin/', '/sbin/', '/usr/bin/', '/usr/sbin/', '/usr/local/bin/', '/usr/local/sbin/'];

/** A command named by its absolute path in a system directory: "/bin/cat", "/usr/bin/python3". */
function systemBinary(w: Word): boolean {
  const n = w.norm;
  if (n.charCodeAt(0) !== 47) return false;
  for (const d of SYSTEM_BIN) if (n.startsWith(d) && n.length > d.length) return true;
  return w.glob && globCommand(n) !== undefined;
}

/** "cat /path/file", "find /home -name x": a command word followed by an absolute path. */
function absolutePath(words: Word[], from: number): boolean {
  for (let i = from; i < words.length && i < from + 4; i++) {
    const n = (words[i] as Word).norm;
    if (n.charCodeAt(0) === 47 && isAlpha(n.charCodeAt(1)) && n.indexOf('/', 2) !== -1) return true;
  }
  return false;
}

/** Separators after which a lone command word was meant to run: end, ; | & && || ` ). */
function shellEnd(end: string): boolean {
  return end !== '\n' && end !== '(';
}

function judge(cmd: Command, out: Finding[], vars: Map<string, string> | undefined): void {
  if (cmd.ctx === CTX_NONE || cmd.words.length === 0) return;
  const head = headOf(cmd.words, vars);
  if (head === undefined) {
    // ";rmt-dump", ";x -u admin", "echo | ${x}": an unknown program or an expansion where the
    // value (or a command) hands over a command position.
    if (cmd.ctx === CTX_CHAIN && cmd.chained !== undefined && unknownProgram(cmd.words, cmd.chained))
      out.push(F_CHAIN_WORD);
    return;
  }
  const hw = cmd.words[head.at] as Word;
  const args = argsOf(cmd.words, head.at + 1);
  const hasArgs = head.at + 1 < cmd.words.length;
  const shellish = args.shell > 0 || cmd.redirections > 0;
  const tier = head.tier;
  const strong = tier !== WORD;
  const lower = lowerHead(hw);
  const atStart = cmd.ctx === CTX_START;

  // A command name in disguise (c'a't, w\ho\am\i, c$@at, /bi[n]/sh) is never an accident.
  // A head spelled from variables the value assigned ("a=c;b=at;$a$b") is one whatever its tier.
  if (hw.evasion && lower && (strong || shellish || args.sensitive || hw.raw.charCodeAt(0) === 36)) {
    out.push(F_EVASION);
    return;
  }
  // System paths, and binaries called by their system path.
  if ((args.sensitive && (strong || shellish)) || systemBinary(hw)) {
    out.push(atStart ? F_START : F_CHAIN);
    return;
  }
  // Shells and interpreters handed code: bash -c, perl -e, cmd /c, powershell -command.
  if ((tier === SHELL || tier === INTERP) && args.codeFlag) {
    out.push(F_START);
    return;
  }
  switch (cmd.ctx) {
    case CTX_SUBST:
      // $( ), <( ), >( ) and shell backquotes are shell syntax: any command inside counts.
      if (lower || shellish) out.push(F_SUBST);
      return;
    case CTX_CHAIN:
      if ((strong && lower) || shellish) out.push(F_CHAIN);
      // ";who", "cd /;cd etc": a word-like command the value opens with, or chained to another.
      else if (lower && (cmd.chained === VALUE_OPENER || cmd.chained === AFTER_COMMAND_TIGHT))
        out.push(F_CHAIN_WORD);
      return;
    case CTX_SEP:
    case CTX_GROUP:
      if (!lower) return;
      if (strong && (shellish || head.wrapped || args.command)) out.push(F_CHAIN);
      // " ;who": a word-like command glued to its semicolon, alone ("see chapter ;at home" is prose).
      else if (cmd.glued === true && (strong || !hasArgs)) out.push(F_CHAIN_WORD);
      else if ((tier === SHELL || tier === RECON) && !hasArgs && shellEnd(cmd.end)) out.push(F_CHAIN);
      else if (tier === WORD && shellish) out.push(F_CHAIN_WEAK);
      return;
    default:
      // The value starts with a command.
      if (!lower) return;
      if (tier === SHELL && (shellish || args.command)) out.push(F_START);
      else if (strong && !hasArgs && cmd.end === '\n' && cmd.last) out.push(F_START_PL2);
      else if (tier === WORD && absolutePath(cmd.words, head.at + 1)) out.push(F_START_PL2);
      else if (tier === RECON && !hasArgs && cmd.end !== '' && shellEnd(cmd.end)) out.push(F_START_PL2);
      else if (strong && tier !== INTERP && (shellish || head.wrapped || args.command)) out.push(F_START_PL2);
      else if (tier === INTERP && (head.wrapped || args.command)) out.push(F_START_PL2);
  }
}

// ---------------------------------------------------------------------------------------------
// Shapes outside the command grammar.
// ---------------------------------------------------------------------------------------------

/** Shellshock: a function definition "() {" opening an environment value. */
function shellshock(v: string): boolean {
  let i = 0;
  while (i < v.length && (isSpace(v.charCodeAt(i)) || v.charCodeAt(i) === 34 || v.charCodeAt(i) === 39)) i++;
  if (v.charCodeAt(i) !== 40) return false;
  i++;
  while (isSpace(v.charCodeAt(i))) i++;
  if (v.charCodeAt(i) !== 41) return false;
  i++;
  while (isSpace(v.charCodeAt(i))) i++;
  return v.charCodeAt(i) === 123;
}

/** Piping into a shell or interpreter: "… | sh", "… | bash -i". */
function pipeToShell(cmds: Command[]): boolean {
  for (let k = 1; k < cmds.length; k++) {
    const prev = cmds[k - 1] as Command;
    if (prev.end !== '|') continue;
    const w = (cmds[k] as Command).words[0];
    if (w === undefined) continue;
    const name = commandName(w);
    const t = COMMANDS.get(name);
    if ((t === SHELL || t === INTERP) && name === name.toLowerCase() && name !== 'cmd') return true;
  }
  return false;
}

/** "/dev/tcp/host/port", "nc -e /bin/sh", "bash -i >&": a shell bound to the network. */
function reverseShell(lower: string): boolean {
  if (!lower.includes('/dev/') && !lower.includes('nc ') && !lower.includes('>&')) return false;
  if (lower.includes('/dev/tcp/') || lower.includes('/dev/udp/')) return true;
  const nc = lower.indexOf('nc ');
  if (nc !== -1 && (lower.includes(' -e ', nc) || lower.includes(' -c ', nc)) && lower.includes('sh', nc))
    return true;
  return lower.includes('-i >&') || lower.includes('-i>&');
}

/**
 * Brace expansion at a command position: "{cat,/etc/passwd}", "{,ifconfig}", "{l,-lh}s": a
 * comma list without spaces whose first element (or the word it completes) is a command.
 */
function braceExpansion(v: string): boolean {
  for (let at = v.indexOf('{'); at !== -1 && at < v.length; at = v.indexOf('{', at + 1)) {
    const prev = at === 0 ? 32 : v.charCodeAt(at - 1);
    const position =
      isSpace(prev) ||
      isNewline(prev) ||
      prev === 59 ||
      prev === 124 ||
      prev === 38 ||
      prev === 96 ||
      prev === 34 ||
      prev === 39 ||
      prev === 61;
    // "c{a,oun}t": letters glued before the braces make one word with them.
    let pre = at;
    if (!position) {
      while (pre > 0 && at - pre < 16 && isAlpha(v.charCodeAt(pre - 1))) pre--;
      const p = pre === 0 ? 32 : v.charCodeAt(pre - 1);
      if (
        pre === at ||
        !(isSpace(p) || p === 59 || p === 124 || p === 38 || p === 61 || p === 34 || p === 39)
      )
        continue;
    }
    const end = findWithin(v, 125, at + 1, 200);
    if (end === -1) continue;
    const inner = v.slice(at + 1, end);
    if (inner.indexOf(',') === -1 || /[\s:]/.test(inner)) continue;
    const parts = inner.split(',').map((p) => braceItem(p));
    if (pre < at) {
      const prefix = v.slice(pre, at).toLowerCase();
      let t = end + 1;
      while (t < v.length && t - end < 16 && isAlpha(v.charCodeAt(t))) t++;
      const suffix = v.slice(end + 1, t).toLowerCase();
      for (const p of parts) if (COMMANDS.has(prefix + p.toLowerCase() + suffix)) return true;
      continue;
    }
    const first = parts.find((p) => p !== '');
    if (first === undefined) continue;
    if (first.charCodeAt(0) === 47 && /[[?*]/.test(first) && globCommand(first) !== undefined) return true;
    const tail = v.slice(end + 1, end + 8);
    const candidates = [first, first + (tail.split(/[\s;|&]/)[0] ?? '')];
    const second = parts[parts.indexOf(first) + 1] ?? '';
    const argument = second.startsWith('/') || second.startsWith('-');
    for (const c of candidates) {
      const t = COMMANDS.get(c);
      if (t !== undefined && (t !== WORD || parts.length > 2 || parts[0] === '' || argument)) return true;
    }
  }
  return false;
}

/**
 * Expansions only a shell performs, standing alone: the directory stack "~+", "~-", "~+2" (alone
 * or opening a path) and history events "!-1", "!-2!-1".
 */
function loneExpansion(v: string): boolean {
  const c1 = v.charCodeAt(1);
  if (v.charCodeAt(0) === 126) {
    if (c1 !== 43 && c1 !== 45) return false;
    let j = 2;
    while (j < v.length && j < 8 && isDigit(v.charCodeAt(j))) j++;
    return j === v.length || v.charCodeAt(j) === 47;
  }
  if (c1 !== 45 || !isDigit(v.charCodeAt(2))) return false;
  let j = 3;
  while (j < v.length && j < 8 && isDigit(v.charCodeAt(j))) j++;
  const c = v.charCodeAt(j);
  return j === v.length || c === 33 || c === 58;
}

/**
 * A value that is a binary's path and nothing else: "/bin/ab", "/usr/sbin/x", or a relative
 * "bin/visudo" whose name is a known command.
 */
function binaryPath(v: string): boolean {
  const abs = v.charCodeAt(0) === 47;
  let i = abs ? 1 : 0;
  if (v.startsWith('/usr/local/')) i = 11;
  else if (v.startsWith('/usr/')) i = 5;
  if (v.startsWith('bin/', i)) i += 4;
  else if (v.startsWith('sbin/', i)) i += 5;
  else return false;
  if (i >= v.length || v.length - i > 40) return false;
  for (let k = i; k < v.length; k++) {
    const c = v.charCodeAt(k);
    if (!(isIdent(c) || c === 45 || c === 46 || c === 43) || c >= 128) return false;
  }
  if (abs) return true;
  const t = COMMANDS.get(v.slice(i).toLowerCase());
  return t !== undefined && t !== WORD;
}

/**
 * Shell parameter expansion with an operator no template language has: \${NAME#pat}, \${NAME%pat},
 * \${NAME//a/b}, \${NAME:-x}, \${NAME:0:1}, \${#NAME}, \${!NAME}; and arithmetic "$((".
 */
function parameterExpansion(v: string): boolean {
  for (let at = v.indexOf('$'); at !== -1; at = v.indexOf('$', at + 1)) {
    const c1 = v.charCodeAt(at + 1);
    if (c1 === 40 && v.charCodeAt(at + 2) === 40) return true;
    if (c1 !== 123) continue;
    let j = at + 2;
    const c2 = v.charCodeAt(j);
    if (c2 === 35 || c2 === 33) {
      j++;
      const from = j;
      while (j < v.length && j - from < 64 && isIdent(v.charCodeAt(j))) j++;
      if (j > from && !isDigit(v.charCodeAt(from)) && v.charCodeAt(j) === 125) return true;
      continue;
    }
    const from = j;
    while (j < v.length && j - from < 64 && isIdent(v.charCodeAt(j))) j++;
    if (j > from && isDigit(v.charCodeAt(from))) continue;
    const op = v.charCodeAt(j);
    const n = v.charCodeAt(j + 1);
    if (op === 58) {
      // ":-" ":=" ":+" ":?" defaults; ":0:1" substrings (a lone ":8080" is a placeholder default).
      if (n === 45 || n === 61 || n === 43 || n === 63) return true;
      if (isDigit(n)) {
        let k = j + 2;
        while (k < v.length && k - j < 8 && isDigit(v.charCodeAt(k))) k++;
        if (v.charCodeAt(k) === 58 || j === from) return true;
      }
      continue;
    }
    if (j === from) continue;
    if ((op === 35 || op === 37) && j + 1 < v.length && !isDigit(n) && !isSpace(n) && n !== 125) return true;
    if (op === 47 && n === 47) return true;
  }
  return false;
}

/** One item of a brace list without quotes, escapes and empty variables: n$u\\c$u → nc. */
function braceItem(p: string): string {
  let out = '';
  for (let i = 0; i < p.length && i < 64; i++) {
    const c = p.charCodeAt(i);
    if (c === 39 || c === 34 || c === 92) continue;
    if (c === 36) {
      if (i + 1 < p.length && (p.charCodeAt(i + 1) === 39 || p.charCodeAt(i + 1) === 34)) continue;
      while (i + 1 < p.length && isIdent(p.charCodeAt(i + 1))) i++;
      continue;
    }
    out += p[i];
  }
  return out;
}

/** Windows "FOR [/D|/R|/L|/F …] %x IN (…) DO …": the loop variable, IN, a set in parentheses, DO. */
function windowsFor(lower: string): boolean {
  for (let at = lower.indexOf('for'); at !== -1; at = lower.indexOf('for', at + 3)) {
    if (at > 0 && isIdent(lower.charCodeAt(at - 1))) continue;
    const next = lower.charCodeAt(at + 3);
    if (!isSpace(next) && next !== 47) continue;
    let j = findWithin(lower, 37, at + 3, 200);
    if (j === -1) continue;
    const percent = j;
    while (lower.charCodeAt(j) === 37) j++;
    const name = j;
    while (j < lower.length && j - name < 32 && !isSpace(lower.charCodeAt(j))) j++;
    // "%%" with its letter left out ("%% in (…) do") still reads as the loop variable in a batch file.
    if (j === name && name - percent < 2) continue;
    while (isSpace(lower.charCodeAt(j))) j++;
    if (!lower.startsWith('in', j)) continue;
    j += 2;
    while (isSpace(lower.charCodeAt(j))) j++;
    if (lower.charCodeAt(j) !== 40) continue;
    const close = closingParen(lower, j, 400);
    if (close === -1) continue;
    let k = close + 1;
    while (isSpace(lower.charCodeAt(k))) k++;
    if (lower.startsWith('do', k) && !isIdent(lower.charCodeAt(k + 2))) return true;
  }
  return false;
}

/** The ")" matching the "(" at i (nesting counted) within max characters, or -1. */
function closingParen(s: string, i: number, max: number): number {
  let depth = 0;
  const stop = Math.min(s.length, i + max);
  for (let k = i; k < stop; k++) {
    const c = s.charCodeAt(k);
    if (c === 40) depth++;
    else if (c === 41 && --depth === 0) return k;
  }
  return -1;
}

const IF_CONDITIONS = ['exist', 'defined', 'errorlevel', 'cmdextversion'];
const IF_OPERATORS = ['equ', 'neq', 'lss', 'leq', 'gtr', 'geq'];

/**
 * Windows "IF [/I] [NOT] EXIST x cmd", "IF a==b cmd", "IF %x% GEQ 2 cmd" at a command position.
 * Python's "if a == b:" and templates' "{% if a == b %}" end differently and do not count.
 */
function windowsIf(v: string): boolean {
  const lower = v.toLowerCase();
  for (let at = lower.indexOf('if'); at !== -1; at = lower.indexOf('if', at + 2)) {
    if (!commandPosition(lower, at)) continue;
    const j = at + 2;
    const c = lower.charCodeAt(j);
    if (!isSpace(c) && c !== 47) continue;
    let marker = c === 47;
    const words = ifWords(lower, j, 6);
    let w = 0;
    if (words[w] === '/i') {
      marker = true;
      w++;
    }
    if (words[w] === 'not') w++;
    const cond = words[w];
    if (cond === undefined) continue;
    if (IF_CONDITIONS.includes(cond)) {
      if (words[w + 1] !== undefined && words[w + 2] !== undefined) return true;
      continue;
    }
    // Comparison: "a==b" in one word, or "a == b" / "a geq b" in three.
    let rest: string | undefined;
    let cmp = cond.indexOf('==');
    if (cmp > 0 && cmp < cond.length - 2) {
      rest = words[w + 1];
      marker = true;
    } else if (words[w + 1] === '==' || IF_OPERATORS.includes(words[w + 1] ?? '')) {
      rest = words[w + 3];
      if (words[w + 1] !== '==') marker = true;
      cmp = 0;
    } else if (cond.endsWith('==') && words[w + 1] !== undefined) {
      rest = words[w + 2];
    }
    if (rest === undefined || rest.startsWith('%}') || rest.startsWith('{') || rest.startsWith(':')) continue;
    if (rest === 'then' || rest.startsWith('&&') || rest.startsWith('||') || rest === 'return') continue;
    const operand = words[w + (cmp === 0 ? 2 : 0)] ?? '';
    if (operand.endsWith(':') || operand.endsWith('{')) continue;
    const command = rest.startsWith('@') ? rest.slice(1) : rest;
    if (marker || v.includes('%') || COMMANDS.has(command) || rest.startsWith('(')) return true;
  }
  return false;
}

/** Whitespace-separated words from position j (at most n, each cut at 64 characters). */
function ifWords(s: string, j: number, n: number): string[] {
  const out: string[] = [];
  let i = j;
  while (out.length < n && i < s.length) {
    while (i < s.length && isSpace(s.charCodeAt(i))) i++;
    const start = i;
    if (s.charCodeAt(i) === 34) {
      // "A A" is one operand.
      const close = findWithin(s, 34, i + 1, 64);
      if (close !== -1) i = close + 1;
    }
    while (i < s.length && !isSpace(s.charCodeAt(i)) && !isNewline(s.charCodeAt(i)) && i - start < 64) i++;
    if (i === start) break;
    out.push(s.slice(start, i));
    if (isNewline(s.charCodeAt(i))) break;
  }
  return out;
}

/** The start of the value or just after a separator (; & | newline ( ). */
function commandPosition(s: string, at: number): boolean {
  let k = at - 1;
  while (k >= 0 && isSpace(s.charCodeAt(k))) k--;
  if (k < 0) return true;
  const c = s.charCodeAt(k);
  return c === 59 || c === 38 || c === 124 || c === 40 || isNewline(c);
}

/** %COMSPEC%, %SystemRoot%, and substring expansions %x:~3,1% used to spell commands. */
function windowsVariable(lower: string): boolean {
  for (let at = lower.indexOf('%'); at !== -1; at = lower.indexOf('%', at + 1)) {
    const end = lower.indexOf('%', at + 1);
    if (end === -1) return false;
    if (end - at > 40) continue;
    const name = lower.slice(at + 1, end);
    if (name === 'comspec' || name === 'systemroot' || name === 'windir' || name === 'programfiles')
      return true;
    const tilde = name.indexOf(':~');
    if (tilde > 0 && /^[a-z_]+$/.test(name.slice(0, tilde)) && /^-?\d+(,-?\d+)?$/.test(name.slice(tilde + 2)))
      return true;
  }
  return false;
}

/** PowerShell cmdlets and .NET calls, found as whole tokens around each "-" or "." (one pass). */
function powershell(v: string): boolean {
  for (let i = v.indexOf('-'); i !== -1; ) {
    let a = i;
    while (a > 0 && psChar(v.charCodeAt(a - 1))) a--;
    let b = i + 1;
    while (b < v.length && psChar(v.charCodeAt(b))) b++;
    if (b - a >= 6 && b - a <= 40) {
      const token = v.slice(v.charCodeAt(a) === 46 ? a + 1 : a, b).toLowerCase();
      if (POWERSHELL.has(token)) {
        // A cmdlet takes arguments or is called; "new-object" in prose has neither.
        const after = v.charCodeAt(b);
        if (isSpace(after) || after === 40 || after === 34 || after === 39 || after === 43) return true;
        if (token.startsWith('-') && a > 0) return true;
      }
    }
    i = v.indexOf('-', b);
  }
  return false;
}

/** [Convert]::FromBase64String(…), .DownloadString(…): .NET loaders PowerShell one-liners use. */
function dotNetLoader(lower: string): boolean {
  return lower.includes('frombase64string(') || lower.includes('.downloadstring(');
}

function psChar(c: number): boolean {
  return isAlpha(c) || isDigit(c) || c === 45 || c === 46;
}

/** Server-side includes: <!--#exec cmd="…" -->. */
function ssiExec(lower: string): boolean {
  const at = lower.indexOf('<!--#');
  if (at === -1) return false;
  return /^<!--#\s*(exec|include|echo|config|set)\b/.test(lower.slice(at, at + 20));
}

/**
 * A shell function that calls itself in the background or through a pipe (a fork bomb):
 * ":(){ :|:& };:", "f(){ f & f; }; f". JavaScript's "function f(){…}" does not count.
 */
function functionDefinition(v: string): boolean {
  let count = 0;
  for (let p = v.indexOf('()'); p > 0 && count < 16; p = v.indexOf('()', p + 2), count++) {
    let a = p;
    while (a > 0 && p - a < 32 && !isSpace(v.charCodeAt(a - 1)) && !isCommandBreak(v.charCodeAt(a - 1))) a--;
    const name = v.slice(a, p);
    if (name === '' || name.includes('(') || name.includes(')')) continue;
    let k = a - 1;
    while (k >= 0 && isSpace(v.charCodeAt(k))) k--;
    if (k >= 7 && v.slice(k - 7, k + 1) === 'function') continue;
    let j = p + 2;
    while (isSpace(v.charCodeAt(j))) j++;
    if (v.charCodeAt(j) !== 123) continue;
    const end = findWithin(v, 125, j, 200);
    const body = v.slice(j + 1, end === -1 ? j + 200 : end);
    if (!body.includes('|') && !body.includes('&')) continue;
    if (calls(body, name)) return true;
  }
  return false;
}

function isCommandBreak(c: number): boolean {
  return c === 59 || c === 38 || c === 124 || c === 123 || c === 34 || c === 39 || c === 61 || isNewline(c);
}

/** The body names the function as a word of its own (f, f(), f|, f&). */
function calls(body: string, name: string): boolean {
  for (let at = body.indexOf(name); at !== -1; at = body.indexOf(name, at + 1)) {
    const before = at === 0 ? 32 : body.charCodeAt(at - 1);
    const after = at + name.length >= body.length ? 32 : body.charCodeAt(at + name.length);
    const edge = (c: number) => isSpace(c) || c === 124 || c === 38 || c === 59 || c === 40;
    if (edge(before) && edge(after)) return true;
  }
  return false;
}

/** "alias x=curl" at a command position. */
function aliasDefinition(cmds: Command[]): boolean {
  for (const c of cmds) {
    const w0 = c.words[0];
    if (w0 === undefined || w0.norm !== 'alias' || c.words.length < 2) continue;
    const w1 = c.words[1] as Word;
    if (w1.norm.startsWith('-') || isAssignment(w1) || /^[^\s=]+=/.test(w1.norm)) return true;
  }
  return false;
}

const SMTP = ['mail from:', 'rcpt to:', 'ehlo ', 'helo ', 'vrfy ', 'expn ', 'starttls', 'data'];
const POP3 = ['retr ', 'dele ', 'list ', 'top ', 'uidl ', 'apop ', 'user ', 'pass ', 'auth ', 'stat', 'quit'];
const IMAP = [
  'login',
  'authenticate',
  'select',
  'examine',
  'create',
  'delete',
  'rename',
  'subscribe',
  'list',
  'lsub',
  'status',
  'append',
  'check',
  'close',
  'expunge',
  'search',
  'fetch',
  'store',
  'copy',
  'uid',
  'capability',
  'logout',
];

/** Mail protocol commands injected on their own line (SMTP, POP3, IMAP with a tag). */
function mailInjection(v: string): boolean {
  for (let nl = v.indexOf('\n'); nl !== -1; nl = v.indexOf('\n', nl + 1)) {
    const c = v.charCodeAt(nl + 1);
    if (!isAlpha(c) && !isDigit(c)) continue;
    const head = v.slice(nl + 1, nl + 14).toLowerCase();
    const smtp = SMTP.some((p) => head.startsWith(p));
    const pop3 = !smtp && POP3.some((p) => head.startsWith(p));
    const imap = !smtp && !pop3 && head.indexOf(' ') > 1 && /^[a-z]{0,3}\d/.test(head);
    if (!smtp && !pop3 && !imap) continue;
    const end = v.indexOf('\n', nl + 1);
    let line = v.slice(nl + 1, end === -1 ? Math.min(v.length, nl + 200) : Math.min(end, nl + 200));
    if (line.endsWith('\r')) line = line.slice(0, -1);
    const lower = line.toLowerCase();
    if ((smtp && smtpLine(lower)) || (pop3 && pop3Line(lower)) || (imap && imapLine(lower))) return true;
  }
  return false;
}

function smtpLine(l: string): boolean {
  if (l.startsWith('mail from:') || l.startsWith('rcpt to:')) return /^[a-z ]+:\s*<[^>\s]*>/.test(l);
  if (l === 'data' || l === 'starttls') return true;
  return /^(ehlo|helo|vrfy|expn) [a-z0-9.<>@_-]+$/.test(l);
}

function pop3Line(l: string): boolean {
  if (l === 'stat' || l === 'quit') return false;
  return /^(retr|dele|list|top|uidl) \d+( \d+)?$/.test(l) || /^(apop|user|pass|auth) \S+( \S+)?$/.test(l);
}

function imapLine(l: string): boolean {
  const sp = l.indexOf(' ');
  if (sp < 2 || sp > 8) return false;
  const tag = l.slice(0, sp);
  if (!/^[a-z]{0,3}\d{1,5}$/.test(tag) || tag.length < 2) return false;
  const rest = l.slice(sp + 1);
  const word = rest.split(' ', 1)[0] ?? '';
  if (!IMAP.includes(word) || !(rest.length > word.length || word === 'capability' || word === 'logout'))
    return false;
  // A one-digit tag ("A1", like a paper size) needs IMAP syntax too: flags "(\Seen)" or a literal "{310}".
  const twoDigits = isDigit(tag.charCodeAt(tag.length - 2));
  return twoDigits || rest.includes('(\\') || rest.includes('{');
}

/** SQLite shell dot commands after a line break or ";": ".shell …", ".system …". */
function sqliteDot(v: string): boolean {
  for (let nl = v.indexOf('.'); nl > 0; nl = v.indexOf('.', nl + 1)) {
    let p = nl - 1;
    while (p > 0 && isSpace(v.charCodeAt(p))) p--;
    const before = v.charCodeAt(p);
    if (before !== 10 && before !== 59 && !(before === 110 && v.charCodeAt(p - 1) === 92)) continue;
    let j = nl + 1;
    while (isSpace(v.charCodeAt(j)) || v.charCodeAt(j) === 34 || v.charCodeAt(j) === 39) j++;
    const rest = v.slice(j, j + 10).toLowerCase();
    if (rest.startsWith('shell ') || rest.startsWith('system ') || rest.startsWith('databases')) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Entry point.
// ---------------------------------------------------------------------------------------------

const HAS_META = 1;
const HAS_QUOTE = 2;
const HAS_PLUS = 4;
const HAS_SPACE = 8;
const HAS_DASH = 16;
const HAS_GLOB = 32;
const HAS_BRACE = 64;
const HAS_PAREN = 128;
const HAS_PERCENT = 256;
const HAS_NEWLINE = 512;
const HAS_ANGLE = 1024;
const HAS_SLASH = 2048;
const HAS_DOLLAR = 4096;
/** Characters that make a word's normal form differ from its text (beyond quotes): \\ ^ $ ` [ */
const HAS_DISGUISE = 8192;

/** Character kinds for the first pass (ASCII only; everything else is plain). */
const KIND: Uint16Array = (() => {
  const t = new Uint16Array(128);
  t[32] = HAS_SPACE;
  t[9] = HAS_SPACE;
  t[39] = HAS_QUOTE;
  t[34] = HAS_QUOTE;
  t[43] = HAS_PLUS;
  t[45] = HAS_DASH;
  t[91] = HAS_GLOB;
  t[63] = HAS_GLOB;
  t[42] = HAS_GLOB;
  for (const c of ';|&`()<>{$%^\\\n\r') t[c.charCodeAt(0)] = HAS_META;
  t[123] |= HAS_BRACE;
  t[40] |= HAS_PAREN;
  t[37] |= HAS_PERCENT;
  t[10] |= HAS_NEWLINE;
  t[60] |= HAS_ANGLE;
  t[62] |= HAS_ANGLE;
  t[47] = HAS_SLASH;
  t[36] |= HAS_DOLLAR;
  for (const c of '\\^$`[') t[c.charCodeAt(0)] |= HAS_DISGUISE;
  return t;
})();

/** One pass: which kinds of characters the value holds. */
function features(v: string): number {
  let f = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 128) f |= KIND[c] as number;
  }
  return f;
}

/**
 * Without shell metacharacters, a value can only be a command line when its first word is a
 * command ("ls -l /etc", "if exist x y"), or a word of it is a command in disguise (c'a't).
 */
function plainValueMayMatter(v: string, f: number): boolean {
  const plus = (f & HAS_PLUS) !== 0 && (f & HAS_SPACE) === 0;
  let end = 0;
  while (end < v.length && end < 48) {
    const c = v.charCodeAt(end);
    if (c === 32 || c === 9 || (plus && c === 43)) break;
    end++;
  }
  if (end >= 2 && end < 48) {
    let first = v.slice(0, end);
    if ((f & HAS_QUOTE) !== 0) first = first.replaceAll("'", '').replaceAll('"', '');
    first = first.toLowerCase();
    const slash = first.lastIndexOf('/');
    const base = slash === -1 ? first : first.slice(slash + 1);
    if (COMMANDS.has(base) || WRAPPERS.has(base) || versioned(base) !== undefined || base.endsWith('.exe'))
      return true;
    if (base.startsWith('$')) return true;
    if (first === 'if' || first.startsWith('if/')) return true;
    if (slash !== -1 && (first.includes('?') || first.includes('*') || first.includes('['))) return true;
  }
  if ((f & HAS_QUOTE) === 0) return false;
  // name="…": an attribute or setting whose quoted value may start a command.
  return v.includes('="') || v.includes("='") || quotedCommand(v);
}

/** A word with a quote inside it that, without its quotes, names a command (c'a't, wh""oami). */
function quotedCommand(v: string): boolean {
  for (let q = nextQuote(v, 0); q !== -1; ) {
    let a = q;
    while (a > 0 && !isSpace(v.charCodeAt(a - 1))) a--;
    let b = q;
    while (b < v.length && !isSpace(v.charCodeAt(b))) b++;
    if (b - a <= 40) {
      let w = '';
      for (let i = a; i < b; i++) {
        const c = v.charCodeAt(i);
        if (c !== 39 && c !== 34) w += v[i];
      }
      if (COMMANDS.has(w)) return true;
    }
    q = nextQuote(v, b);
  }
  return false;
}

function nextQuote(v: string, from: number): number {
  for (let i = from; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 39 || c === 34) return i;
  }
  return -1;
}

/** A scan without commands, for values that cannot hold a command word. */
const NO_SCAN: Scan = { commands: [], ifs: false };

/** A character that ends a word as the tokenizer splits (non-breaking space included). */
function wordBreak(c: number): boolean {
  return c === 160 || !plainWordChar(c, false);
}

function isGlob(c: number): boolean {
  return c === 42 || c === 63;
}

/**
 * Whether the tokenizer could find any command word in the value. Without quotes, escapes, carets,
 * variables, backquotes, brackets or glued empty expansions, every word reads as written, so a
 * command word begins right after a word break, a path separator or a "+" (a space in form
 * encoding) with the first letters of a known command, or is a glob path. False: the tokenizer
 * would judge nothing.
 */
function mayHoldHead(v: string, f: number): boolean {
  // Glued empty expansions (pi<()ng) and ">&2" (the digits end a word) read otherwise.
  if ((f & HAS_DISGUISE) !== 0 || v.includes('()') || v.includes('>&') || v.includes('<&')) return true;
  let start = true;
  let pathWord = false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    const k = c < 128 ? (SEGMENT[c] as number) : c === 160 ? SEG_BREAK : SEG_WORD;
    if (k === SEG_WORD) {
      if (start) {
        start = false;
        if (headAt(v, i)) return true;
      }
    } else if (k === SEG_BREAK) {
      start = true;
      pathWord = false;
    } else if (k === SEG_GLOB) {
      // "/???/??t" may spell a system binary.
      if (pathWord) return true;
      start = true;
    } else if (k === SEG_QUOTE) {
      // Quotes vanish inside a word (c'a't) and may open a command (name="…"): both are tried.
      if (start) {
        start = false;
        if (headAt(v, i)) return true;
      }
      start = true;
    } else {
      // "/": a path's last segment names the command; "+" may stand for a space.
      if (start && c === 47) pathWord = true;
      start = true;
    }
  }
  return false;
}

const SEG_WORD = 0;
const SEG_BREAK = 1;
const SEG_GLOB = 2;
const SEG_SPLIT = 3;
const SEG_QUOTE = 4;

/** How mayHoldHead() reads each ASCII character. */
const SEGMENT: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (let c = 0; c < 128; c++) t[c] = plainWordChar(c, false) ? SEG_WORD : SEG_BREAK;
  t[42] = SEG_GLOB;
  t[63] = SEG_GLOB;
  t[47] = SEG_SPLIT;
  t[43] = SEG_SPLIT;
  t[39] = SEG_QUOTE;
  t[34] = SEG_QUOTE;
  return t;
})();

/**
 * The word segment at i (up to a break, a glob or "/", quotes left out as the tokenizer leaves
 * them) names a command or wrapper, as tierOf() would see it; a "+" inside may stand for a
 * space, so the part before each one is tried too.
 */
function headAt(v: string, i: number): boolean {
  // The first three characters are checked as codes (most words stop there, with no string built).
  let n = 0;
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let j = i;
  for (; j < v.length && n < 3; j++) {
    const c = v.charCodeAt(j);
    if (c === 39 || c === 34) continue;
    if (c === 47 || isGlob(c) || wordBreak(c)) break;
    if (c === 43 && n === 2 && nameIsHead(String.fromCharCode(a0, a1))) return true;
    // Non-ASCII may lower-case to ASCII: left to the tokenizer.
    if (c >= 128) return true;
    const f = fold(c);
    if (n === 0) a0 = f;
    else if (n === 1) {
      a1 = f;
      if (HEAD_BIGRAMS[(a0 << 7) | a1] === 0) return false;
    } else {
      a2 = f;
      if (!mayStartHead(a0, a1, c)) return false;
    }
    n++;
  }
  if (n < 3) {
    if (v.charCodeAt(j) === 47) return false;
    return n === 2 && nameIsHead(String.fromCharCode(a0, a1));
  }
  let name = String.fromCharCode(a0, a1, a2);
  for (; j < v.length && name.length < 64; j++) {
    const c = v.charCodeAt(j);
    if (c === 39 || c === 34) continue;
    if (c === 47 || isGlob(c) || wordBreak(c)) break;
    if (c === 43 && nameIsHead(name.toLowerCase())) return true;
    name += v[j];
  }
  // Longer segments are left to the tokenizer; a segment "/" continues is no last path segment.
  if (name.length >= 64) return true;
  if (v.charCodeAt(j) === 47) return false;
  return nameIsHead(name.toLowerCase());
}

/** tierOf() or a wrapper, for a lower-cased name without globs. */
function nameIsHead(name: string): boolean {
  if (COMMANDS.has(name) || WRAPPERS.has(name) || versioned(name) !== undefined) return true;
  return name.endsWith('.exe') && COMMANDS.has(name.slice(0, -4));
}

/** "if" in any case. */
function hasIf(v: string): boolean {
  for (let i = v.indexOf('f', 1); i !== -1; i = v.indexOf('f', i + 1))
    if ((v.charCodeAt(i - 1) | 32) === 105) return true;
  for (let i = v.indexOf('F', 1); i !== -1; i = v.indexOf('F', i + 1))
    if ((v.charCodeAt(i - 1) | 32) === 105) return true;
  return false;
}

/** What reverseShell() looks for, in any case, without lower-casing the value: "/dev/", "nc ", ">&". */
function mayReverse(v: string): boolean {
  if (v.includes('>&')) return true;
  // The "nc" form needs " -e " or " -c ".
  for (let i = v.indexOf(' -'); i !== -1; i = v.indexOf(' -', i + 2)) {
    const c = v.charCodeAt(i + 2) | 32;
    if ((c === 101 || c === 99) && v.charCodeAt(i + 3) === 32) return true;
  }
  for (let i = v.indexOf('/'); i !== -1 && i + 4 < v.length; i = v.indexOf('/', i + 1))
    if (
      v.charCodeAt(i + 4) === 47 &&
      (v.charCodeAt(i + 1) | 32) === 100 &&
      (v.charCodeAt(i + 2) | 32) === 101
    )
      return true;
  return false;
}

/** $IFS or ${IFS…}: the field separator standing in for a space. */
function ifsExpansion(v: string): boolean {
  for (let at = v.indexOf('IFS'); at > 0; at = v.indexOf('IFS', at + 3)) {
    const p = v.charCodeAt(at - 1);
    if (p === 36 || (p === 123 && v.charCodeAt(at - 2) === 36)) return true;
  }
  return false;
}

/** Judge one value; exported for tests. */
export function shellFindings(value: string): Finding[] {
  const out: Finding[] = [];
  if (value.length < 2) return out;
  const f = features(value);
  if ((f & HAS_GLOB) !== 0 && (f & HAS_SLASH) !== 0 && globPath(value)) out.push(F_GLOB_PATH);
  const c0 = value.charCodeAt(0);
  if ((c0 === 126 || c0 === 33) && loneExpansion(value)) out.push(F_EXPANSION);
  // One word without shell punctuation ("2024-01-01", "O'Brien", a slug) is never a command line.
  if ((f & (HAS_META | HAS_SPACE | HAS_PLUS)) === 0) {
    if ((c0 === 47 || c0 === 98 || c0 === 115) && binaryPath(value)) out.push(F_BIN_PATH);
    return out;
  }
  if ((f & HAS_DASH) !== 0 && powershell(value)) out.push(F_POWERSHELL);
  if ((f & HAS_META) === 0 && !plainValueMayMatter(value, f)) return out;
  const scan = mayHoldHead(value, f) ? new Tokenizer(value).run() : NO_SCAN;
  if (scan.ifs || ((f & HAS_DOLLAR) !== 0 && ifsExpansion(value))) out.push(F_IFS);
  const vars = assignments(scan.commands);
  for (const cmd of scan.commands) judge(cmd, out, vars);
  if ((f & HAS_META) === 0) {
    if (hasIf(value) && windowsIf(value)) out.push(F_WIN_IF);
    if (aliasDefinition(scan.commands)) out.push(F_ALIAS);
    return out;
  }
  if (shellshock(value)) out.push(F_SHELLSHOCK);
  if (pipeToShell(scan.commands)) out.push(F_PIPE_SHELL);
  if (aliasDefinition(scan.commands)) out.push(F_ALIAS);
  // Lower-casing is paid only by values that hold what a check needs.
  let lowered: string | undefined;
  const lower = (): string => {
    lowered ??= value.toLowerCase();
    return lowered;
  };
  if ((f & (HAS_SLASH | HAS_ANGLE)) !== 0 && mayReverse(value) && reverseShell(lower())) out.push(F_REVERSE);
  if ((f & HAS_BRACE) !== 0 && braceExpansion(value)) out.push(F_BRACE);
  if ((f & HAS_DOLLAR) !== 0 && parameterExpansion(value)) out.push(F_EXPANSION);
  const parens = (f & HAS_PAREN) !== 0;
  if (parens && (f & HAS_PERCENT) !== 0 && windowsFor(lower())) out.push(F_WIN_FOR);
  if (parens && (f & HAS_BRACE) !== 0 && functionDefinition(value)) out.push(F_FUNCTION);
  if (hasIf(value) && windowsIf(value)) out.push(F_WIN_IF);
  if (parens && value.includes('tring(') && dotNetLoader(lower())) out.push(F_POWERSHELL);
  if ((f & HAS_PERCENT) !== 0 && windowsVariable(lower())) out.push(F_WIN_VAR);
  if ((f & HAS_ANGLE) !== 0 && value.includes('<!--#') && ssiExec(lower())) out.push(F_SSI);
  if ((f & HAS_NEWLINE) !== 0) {
    if (mailInjection(value)) out.push(F_MAIL);
    if (sqliteDot(value)) out.push(F_SQLITE);
  }
  return out;
}

/**
 * An XML document arrives as one value; its attribute values and text nodes are values of their
 * own (probe="~+"), judged one by one once their character references are decoded. Bounded: at
 * most 64 pieces of at most 4 KB each.
 */
export function xmlPieces(doc: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < doc.length && out.length < 64; ) {
    const c = doc.charCodeAt(i);
    let from = -1;
    let close = 0;
    if (c === 61 && (doc.charCodeAt(i + 1) === 34 || doc.charCodeAt(i + 1) === 39)) {
      from = i + 2;
      close = doc.charCodeAt(i + 1);
    } else if (c === 62) {
      from = i + 1;
      close = 60;
    }
    if (from === -1) {
      i++;
      continue;
    }
    let end = from;
    while (end < doc.length && end - from < 4096 && doc.charCodeAt(end) !== close) end++;
    if (end > from + 1 && doc.charCodeAt(from) !== 60) out.push(xmlDecode(doc.slice(from, end)));
    i = Math.max(end, i + 1);
  }
  return out;
}

/** &#NN; &#xNN; and the five named references; anything else is left as written. */
function xmlDecode(s: string): string {
  if (s.indexOf('&') === -1) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const semi = c === 38 ? findWithin(s, 59, i + 1, 10) : -1;
    if (semi === -1) {
      out += s[i];
      continue;
    }
    const ref = s.slice(i + 1, semi);
    let ch: string | undefined;
    if (ref.charCodeAt(0) === 35) {
      const hex = (ref.charCodeAt(1) | 32) === 120;
      const n = Number.parseInt(ref.slice(hex ? 2 : 1), hex ? 16 : 10);
      if (Number.isFinite(n) && n > 0 && n < 0x110000) ch = String.fromCodePoint(n);
    } else ch = XML_ENTITIES[ref];
    if (ch === undefined) out += s[i];
    else {
      out += ch;
      i = semi;
    }
  }
  return out;
}

const XML_ENTITIES: Readonly<Record<string, string>> = { quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" };

/** Shell start-up files, credentials and configuration a file upload must not overwrite. */
const CONFIG_FILES: ReadonlySet<string> = new Set(
  `.bashrc .bash_profile .bash_login .bash_logout .profile .zshrc .zprofile .zshenv .cshrc .tcshrc
   .kshrc .inputrc .htaccess .htpasswd .boto .netrc .pgpass .my.cnf .npmrc .pypirc .git-credentials
   .gitconfig authorized_keys authorized_keys2 known_hosts id_rsa id_dsa id_ecdsa id_ed25519 .env
   crontab sudoers passwd shadow`
    .split(/\s+/)
    .filter((w) => w !== ''),
);

/** An uploaded file named like a shell start-up or credentials file (or a wp-config copy). */
function configUpload(value: string, input: Input): boolean {
  if (value.length > 256) return false;
  const isName =
    input.location === 'filename' ||
    (input.location === 'header' &&
      input.name
        .replace(/[^a-z]/gi, '')
        .toLowerCase()
        .endsWith('filename'));
  if (!isName) return false;
  const v = value.trim().toLowerCase();
  const base = v.slice(Math.max(v.lastIndexOf('/'), v.lastIndexOf('\\')) + 1);
  return CONFIG_FILES.has(base) || base.startsWith('wp-config');
}

const F_CONFIG_UPLOAD = finding('config-upload', 1, 5);

export const shellDetector: Detector = {
  family: 'rce',
  detect(value: string, input: Input, out: Finding[]): void {
    for (const f of shellFindings(value)) out.push(f);
    if (input.location === 'xml' && value.length <= 65536)
      for (const piece of xmlPieces(value)) for (const f of shellFindings(piece)) out.push(f);
    const named =
      input.location === 'filename' || (input.location === 'header' && input.name.includes('file'));
    if (named && configUpload(value, input)) out.push(F_CONFIG_UPLOAD);
  },
};

import { documentLike } from '../text.js';
import type { Detector, Finding, Input } from '../types.js';

/**
 * Server-side request forgery: URLs in values whose host is this machine, the private network, a
 * link-local address or a cloud metadata service, however the address is written (decimal
 * 2130706433, octal 0177.0.0.1, hex 0x7f000001, short 127.1, IPv6-mapped [::ffff:127.0.0.1],
 * circled or full-width digits after NFKC). Also exports the URL scanner and host classifier the
 * remote-file-inclusion detector shares.
 */

/**
 * Where a value of its own may start inside s: s's start, and in markup (an XML body, a raw body)
 * just after ">" or an attribute's opening quote.
 */
export function startsValue(s: string, at: number, markup: boolean): boolean {
  let b = at - 1;
  while (
    b >= 0 &&
    (s.charCodeAt(b) === 32 || s.charCodeAt(b) === 9 || s.charCodeAt(b) === 10 || s.charCodeAt(b) === 13)
  )
    b--;
  if (b < 0) return true;
  if (!markup) return false;
  const c = s.charCodeAt(b);
  return c === 62 || ((c === 34 || c === 39) && s.charCodeAt(b - 1) === 61);
}

/** Inputs that hold a whole document (XML, an unparsed body) rather than one value. */
export function isMarkup(input: Input): boolean {
  return input.location === 'xml' || (input.location === 'body' && input.name === '');
}

/** What a URL's host points at. */
export type HostKind =
  /** Loopback, unspecified, private, link-local, CGNAT, multicast or a local / cluster-internal name. */
  | 'internal'
  /** A cloud instance metadata service. */
  | 'metadata'
  /** A public IP address literal. */
  | 'public-ip'
  /** A DNS name that is not known to be internal. */
  | 'name'
  /** Not a host at all. */
  | 'invalid';

export interface HostInfo {
  readonly kind: HostKind;
  /** An IP written in a form no ordinary client produces (decimal, hex, octal, short or overflowing). */
  readonly obfuscated: boolean;
  /** The host is an IP literal (v4 or v6). */
  readonly ip: boolean;
}

export interface UrlRef {
  /** Lower-case scheme. */
  readonly scheme: string;
  /** Index of the scheme's first character in the scanned string. */
  readonly start: number;
  /** Slashes (or backslashes) after "scheme:". */
  readonly slashes: number;
  /** Everything before the last "@" of the authority ("" when none). */
  readonly userinfo: string;
  /** Host with port removed, brackets kept for IPv6. */
  readonly host: string;
  /** Index just past the authority. */
  readonly end: number;
}

/** Schemes a fetcher dials; with these a host may follow "scheme:" without "//" (lenient parsers). */
const NETWORK_SCHEMES = new Set([
  'http',
  'https',
  'ftp',
  'ftps',
  'sftp',
  'tftp',
  'gopher',
  'dict',
  'ldap',
  'ldaps',
  'ssh',
  'telnet',
  'smb',
  'rtmp',
  'rsync',
  'imap',
  'pop3',
  'smtp',
  'irc',
  'acap',
  'xri',
  'ws',
  'wss',
  'redis',
  'mysql',
  'mongodb',
  'postgres',
  'postgresql',
  'netdoc',
  'local_file',
]);

const MAX_URLS = 8;
const MAX_SCHEME = 24;

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function isSchemeChar(c: number): boolean {
  return isAlnum(c) || c === 43 || c === 45 || c === 46 || c === 95;
}

function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Characters that end an authority: path, query, fragment, whitespace, quotes and markup. */
function endsAuthority(c: number): boolean {
  return (
    c === 47 ||
    c === 92 ||
    c === 63 ||
    c === 35 ||
    c <= 32 ||
    c === 34 ||
    c === 39 ||
    c === 60 ||
    c === 62 ||
    c === 96 ||
    c === 41 ||
    c === 44 ||
    c === 59
  );
}

/**
 * The URLs in a string: "scheme://authority" for any scheme, and "scheme:host" for the network
 * schemes. One left-to-right pass; each ":" looks back at most MAX_SCHEME characters.
 */
export function findUrls(s: string): UrlRef[] {
  const out: UrlRef[] = [];
  let from = 0;
  while (out.length < MAX_URLS) {
    const colon = s.indexOf(':', from);
    if (colon === -1) break;
    from = colon + 1;
    let b = colon;
    while (b > 0 && colon - b < MAX_SCHEME && isSchemeChar(s.charCodeAt(b - 1))) b--;
    // The scheme starts at a letter; skip leading digits or dots ("2.http:" is not a scheme).
    while (b < colon && !isLetter(s.charCodeAt(b))) b++;
    if (colon - b < 2) continue;
    const scheme = s.slice(b, colon).toLowerCase();
    let i = colon + 1;
    let slashes = 0;
    while (i < s.length && slashes < 4 && (s.charCodeAt(i) === 47 || s.charCodeAt(i) === 92)) {
      i++;
      slashes++;
    }
    if (slashes < 2 && !NETWORK_SCHEMES.has(scheme)) continue;
    const authStart = i;
    while (i < s.length && !endsAuthority(s.charCodeAt(i))) {
      // An IPv6 literal may hold characters that end nothing inside brackets; stop at "]".
      if (s.charCodeAt(i) === 91) {
        const close = s.indexOf(']', i);
        if (close === -1 || close - i > 64) break;
        i = close + 1;
        continue;
      }
      i++;
    }
    if (i === authStart) continue;
    const authority = s.slice(authStart, i);
    const at = authority.lastIndexOf('@');
    out.push({
      scheme,
      start: b,
      slashes,
      userinfo: at === -1 ? '' : authority.slice(0, at),
      host: stripPort(at === -1 ? authority : authority.slice(at + 1)),
      end: i,
    });
    from = i;
  }
  return out;
}

function stripPort(hostport: string): string {
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    return close === -1 ? hostport : hostport.slice(0, close + 1);
  }
  const colon = hostport.lastIndexOf(':');
  if (colon === -1) return hostport;
  // "2001:db8::1" unbracketed: the part after the last ":" is hex, not a port.
  if (hostport.indexOf(':') !== colon) return hostport;
  for (let k = colon + 1; k < hostport.length; k++) {
    const c = hostport.charCodeAt(k);
    if (c < 48 || c > 57) return hostport;
  }
  return hostport.slice(0, colon);
}

/** Names that resolve to this machine, its containers or the cluster it runs in. */
const INTERNAL_NAMES = new Set([
  'localhost',
  'localhost.localdomain',
  'localhost4',
  'localhost4.localdomain4',
  'localhost6',
  'localhost6.localdomain6',
  'ip6-localhost',
  'ip6-loopback',
  'ipv6-localhost',
  'ipv6-loopback',
  'host.docker.internal',
  'gateway.docker.internal',
  'kubernetes.docker.internal',
  'host.containers.internal',
  'host.lima.internal',
  'kubernetes',
  'kubernetes.default',
  'kubernetes.default.svc',
  'broadcasthost',
  // Public DNS names that resolve to 127.0.0.1 (used to slip past name-based filters).
  'localtest.me',
  'lvh.me',
  'vcap.me',
  'lacolhost.com',
  'fbi.com',
]);

/** Cloud metadata endpoints (instance credentials live there). */
const METADATA_NAMES = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'metadata.packet.net',
  'metadata.platformequinix.com',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.azure.com',
  'metadata.tencentyun.com',
]);

const INTERNAL_SUFFIXES = [
  '.localhost',
  '.localdomain',
  '.svc.cluster.local',
  '.cluster.local',
  '.docker.internal',
  '.containers.internal',
  '.localtest.me',
  '.lvh.me',
  '.vcap.me',
];

const METADATA_V4 = new Set([
  0xa9fea9fe, // 169.254.169.254: AWS, GCP, Azure, OpenStack, DigitalOcean
  0xa9feaa02, // 169.254.170.2: ECS task credentials
  0x646464c8, // 100.100.100.200: Alibaba Cloud
  0xc00000c0, // 192.0.0.192: Oracle Cloud
]);

/** An IPv4 number's kind: loopback, private and other non-public ranges are "internal". */
export function classifyV4(n: number): HostKind {
  if (METADATA_V4.has(n)) return 'metadata';
  const a = n >>> 24;
  const b = (n >>> 16) & 0xff;
  if (a === 0 || a === 127 || a === 10) return 'internal';
  if (a === 169 && b === 254) return 'internal';
  if (a === 172 && b >= 16 && b < 32) return 'internal';
  if (a === 192 && b === 168) return 'internal';
  if (a === 100 && b >= 64 && b < 128) return 'internal';
  if (a === 192 && b === 0 && ((n >>> 8) & 0xff) === 0) return 'internal';
  if (a === 198 && (b === 18 || b === 19)) return 'internal';
  if (a >= 224) return 'internal';
  return 'public-ip';
}

/** One IPv4 part: decimal, 0x hex or leading-zero octal; -1 when not a number. Reduced mod 2^32. */
function parsePart(p: string): { value: number; plain: boolean } | undefined {
  if (p.length === 0) return undefined;
  let base = 10;
  let k = 0;
  if (p.length > 1 && p[0] === '0' && (p[1] === 'x' || p[1] === 'X')) {
    base = 16;
    k = 2;
  } else if (p.length > 1 && p[0] === '0') {
    base = 8;
    k = 1;
  }
  let v = 0;
  for (; k < p.length; k++) {
    const c = p.charCodeAt(k);
    let d = -1;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else if (c >= 65 && c <= 70) d = c - 55;
    if (d < 0 || d >= base) return undefined;
    v = (v * base + d) % 0x100000000;
  }
  return { value: v, plain: base === 10 && p.length <= 3 };
}

/** inet_aton-style IPv4 ("1", "1.2", "1.2.3", "1.2.3.4", each part decimal, octal or hex). */
export function parseV4(host: string): { value: number; canonical: boolean } | undefined {
  const parts = host.split('.');
  if (parts.length > 4) return undefined;
  const nums: number[] = [];
  let canonical = parts.length === 4;
  for (const p of parts) {
    const r = parsePart(p);
    if (r === undefined) return undefined;
    nums.push(r.value);
    if (!r.plain || r.value > 255) canonical = false;
  }
  let value = 0;
  for (let i = 0; i < nums.length - 1; i++) {
    const part = nums[i] as number;
    if (part > 255) canonical = false;
    value = value * 256 + (part & 0xff);
  }
  const last = nums[nums.length - 1] as number;
  const restBits = 8 * (4 - (nums.length - 1));
  const mod = 2 ** restBits;
  value = (value * mod + (last % mod)) >>> 0;
  return { value, canonical };
}

/** IPv6 literal (no brackets; zone id dropped) as eight 16-bit groups. */
export function parseV6(text: string): number[] | undefined {
  const zone = text.indexOf('%');
  const s = zone === -1 ? text : text.slice(0, zone);
  if (s.length < 2 || s.length > 45) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const side = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    const groups = h.split(':');
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i] as string;
      if (i === groups.length - 1 && g.includes('.')) {
        const v4 = parseV4(g);
        if (v4 === undefined || !v4.canonical) return undefined;
        out.push(v4.value >>> 16, v4.value & 0xffff);
        continue;
      }
      if (g.length === 0 || g.length > 4) return undefined;
      const v = Number.parseInt(g, 16);
      if (!/^[0-9a-fA-F]+$/.test(g) || Number.isNaN(v)) return undefined;
      out.push(v);
    }
    return out;
  };
  const head = side(halves[0] as string);
  const tail = halves.length === 2 ? side(halves[1] as string) : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const fill = 8 - head.length - tail.length;
  if (fill < 1) return undefined;
  return [...head, ...new Array<number>(fill).fill(0), ...tail];
}

function classifyV6(g: number[]): HostKind {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const v4 = ((g6 << 16) | g7) >>> 0;
  const zeroHead = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (zeroHead && g5 === 0 && g6 === 0 && (g7 === 0 || g7 === 1)) return 'internal';
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) carry an IPv4 address.
  if (zeroHead && (g5 === 0xffff || g5 === 0)) return classifyV4(v4);
  if (g0 === 0x64 && g1 === 0xff9b) return classifyV4(v4);
  if (g0 === 0x2002) return classifyV4(((g1 << 16) | g2) >>> 0);
  if (g0 === 0xfd00 && g1 === 0x0ec2) return 'metadata';
  if ((g0 & 0xffc0) === 0xfe80 || (g0 & 0xffc0) === 0xfec0) return 'internal';
  if ((g0 & 0xfe00) === 0xfc00 || (g0 & 0xff00) === 0xff00) return 'internal';
  return 'public-ip';
}

/** Ideographic and full-width dots that some resolvers accept as ".". */
function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.includes('\u3002') || h.includes('\uff61') || h.includes('\uff0e'))
    h = h.replace(/[\u3002\uff61\uff0e]/g, '.');
  while (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

const INVALID: HostInfo = { kind: 'invalid', obfuscated: false, ip: false };

/** What a host (as found in a URL: brackets for IPv6, no port) points at. */
export function classifyHost(raw: string): HostInfo {
  const host = normalizeHost(raw);
  if (host.length === 0 || host.length > 253) return INVALID;
  if (host.startsWith('[')) {
    const groups = parseV6(host.slice(1, host.endsWith(']') ? -1 : host.length));
    return groups === undefined ? INVALID : { kind: classifyV6(groups), obfuscated: false, ip: true };
  }
  if (host.includes(':')) {
    const groups = parseV6(host);
    return groups === undefined ? INVALID : { kind: classifyV6(groups), obfuscated: true, ip: true };
  }
  const c0 = host.charCodeAt(0);
  if (c0 >= 48 && c0 <= 57) {
    const v4 = parseV4(host);
    if (v4 !== undefined) return { kind: classifyV4(v4.value), obfuscated: !v4.canonical, ip: true };
  }
  if (METADATA_NAMES.has(host)) return { kind: 'metadata', obfuscated: false, ip: false };
  if (INTERNAL_NAMES.has(host)) return { kind: 'internal', obfuscated: false, ip: false };
  for (const suffix of INTERNAL_SUFFIXES)
    if (host.endsWith(suffix)) return { kind: 'internal', obfuscated: false, ip: false };
  // Wildcard DNS services that echo an embedded address: 127.0.0.1.nip.io, 10-0-0-1.sslip.io.
  for (const svc of ['.nip.io', '.sslip.io', '.xip.io']) {
    if (!host.endsWith(svc)) continue;
    const inner = host.slice(0, -svc.length).replaceAll('-', '.');
    const dot = inner.length > 15 ? inner.slice(inner.length - 15) : inner;
    const v4 = parseV4(dot.slice(dot.search(/\d/)));
    if (v4 !== undefined && classifyV4(v4.value) !== 'public-ip')
      return { kind: 'internal', obfuscated: true, ip: false };
  }
  return { kind: 'name', obfuscated: false, ip: false };
}

/** Headers that carry the client's own origin: a developer's browser sends localhost there. */
const OWN_ORIGIN_HEADERS = new Set(['referer', 'origin']);

function finding(rule: string, pl: 1 | 2 | 3, score: number): Finding {
  return { rule: `ssrf-${rule}`, family: 'ssrf', pl, score };
}

const INTERNAL = finding('internal-host', 1, 5);
const DEV_LOOPBACK = finding('internal-host', 2, 3);
const MENTION = finding('internal-host', 3, 2);
const OBFUSCATED = finding('obfuscated-ip', 2, 5);
const CONFUSION = finding('url-confusion', 2, 5);
const SCHEMELESS_NAME = finding('schemeless-internal', 1, 5);
const SCHEMELESS_IP = finding('schemeless-internal-ip', 3, 5);

function isTargeted(kind: HostKind): boolean {
  return kind === 'internal' || kind === 'metadata';
}

/**
 * "user:pass@host" tricks that make two URL parsers disagree on the host: "@" in the first path
 * segment after an encoded slash (http://good.com%2f@evil.com/) or several "@" in the authority.
 */
function confusing(s: string, u: UrlRef): boolean {
  if (u.userinfo.includes('@') || u.userinfo.includes('%') || u.userinfo.includes('\\')) return true;
  if (s.charCodeAt(u.end) !== 47) return false;
  // First path segment: "@" preceded by ":" or followed by a dotted host means a displaced authority.
  let colon = false;
  for (let i = u.end + 1; i < s.length && i < u.end + 256; i++) {
    const c = s.charCodeAt(i);
    if (endsAuthority(c)) return false;
    if (c === 58) colon = true;
    if (c === 64) {
      if (colon) return true;
      let j = i + 1;
      let dots = 0;
      while (j < s.length && (isAlnum(s.charCodeAt(j)) || s.charCodeAt(j) === 45 || s.charCodeAt(j) === 46)) {
        if (s.charCodeAt(j) === 46) dots++;
        j++;
      }
      return dots > 0 && (j === s.length || s.charCodeAt(j) === 47 || s.charCodeAt(j) === 58);
    }
  }
  return false;
}

/** Hosts named after every "@" of a value that holds a URL (the parser-confusion payloads hide the real one there). */
function atHosts(s: string, out: Finding[]): void {
  let at = s.indexOf('@');
  let n = 0;
  while (at !== -1 && n++ < 8) {
    let j = at + 1;
    while (j < s.length && !endsAuthority(s.charCodeAt(j))) j++;
    const host = stripPort(s.slice(at + 1, j));
    if (host.length > 0 && isTargeted(classifyHost(host).kind)) {
      out.push(INTERNAL);
      return;
    }
    at = s.indexOf('@', at + 1);
  }
}

/** A value that starts with a host and a path ("localhost/admin", "host.docker.internal:2375/"). */
function schemelessAt(s: string, from: number, out: Finding[]): boolean {
  let i = from;
  while (
    i < s.length &&
    i - from < 256 &&
    (isAlnum(s.charCodeAt(i)) || s.charCodeAt(i) === 45 || s.charCodeAt(i) === 46)
  )
    i++;
  if (i === from || i >= s.length) return false;
  let j = i;
  if (s.charCodeAt(j) === 58) {
    j++;
    while (j < s.length && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 57) j++;
    if (j === i + 1) return false;
  }
  if (s.charCodeAt(j) !== 47) return false;
  const info = classifyHost(s.slice(from, i));
  if (!isTargeted(info.kind)) return false;
  out.push(info.ip ? SCHEMELESS_IP : SCHEMELESS_NAME);
  return true;
}

function schemeless(s: string, input: Input, out: Finding[]): void {
  if (schemelessAt(s, 0, out) || !isMarkup(input)) return;
  // In markup, each element text and attribute value is a value of its own.
  let n = 0;
  for (let i = 0; i < s.length && n < 64; i++) {
    const c = s.charCodeAt(i);
    if (c !== 62 && !((c === 34 || c === 39) && s.charCodeAt(i - 1) === 61)) continue;
    n++;
    if (schemelessAt(s, i + 1, out)) return;
  }
}

/** Parameters that carry a browser redirect target, not a URL the server fetches. */
function redirectName(name: string): boolean {
  const n = name.toLowerCase();
  return /(redirect|return|callback|next|continue|origin|referr?er)[_-]?(ur[il]|to|path)?$/.test(
    n.slice(-24),
  );
}

/** Ports of local development servers: "http://localhost:3000/" in a dev OAuth redirect or stack trace. */
const DEV_PORTS = new Set([
  '3000',
  '3001',
  '4200',
  '5000',
  '5173',
  '5174',
  '8000',
  '8080',
  '8081',
  '8888',
  '9000',
]);

function devLoopback(s: string, u: UrlRef): boolean {
  if (u.host.toLowerCase() !== 'localhost' && u.host !== '127.0.0.1') return false;
  const colon = s.indexOf(':', u.start + u.scheme.length + 1 + u.slashes);
  if (colon === -1 || colon >= u.end) return false;
  return DEV_PORTS.has(s.slice(colon + 1, u.end));
}

function inspectValue(s: string, input: Input, out: Finding[]): void {
  if (input.location === 'header' && OWN_ORIGIN_HEADERS.has(input.name)) return;
  const urls = s.indexOf(':') === -1 ? [] : findUrls(s);
  let targeted: Finding | undefined;
  for (const u of urls) {
    const info = classifyHost(u.host);
    // Without "//" only a complete address counts ("http:127.0.0.1"), not a fragment like "http:0xA9.0xFE".
    if (u.slashes < 2 && info.ip && info.obfuscated && u.host.split('.').length === 3) continue;
    if (info.obfuscated && info.ip) out.push(OBFUSCATED);
    if (u.slashes >= 2 && confusing(s, u)) out.push(CONFUSION);
    if (!isTargeted(info.kind) || targeted === INTERNAL) continue;
    targeted = INTERNAL;
    if (info.kind === 'metadata' || info.obfuscated) continue;
    // A URL inside a document (a config file, prose) or a browser redirect target is a mention.
    const leading = startsValue(s, u.start, isMarkup(input));
    if (!leading && documentLike(s)) targeted = MENTION;
    else if (redirectName(input.name)) targeted = MENTION;
    else if (devLoopback(s, u)) targeted = DEV_LOOPBACK;
  }
  if (targeted !== undefined) out.push(targeted);
  else if (urls.length > 0 && s.includes('@')) atHosts(s, out);
  if (urls.length === 0 || isMarkup(input)) schemeless(s, input, out);
}

export const ssrfDetector: Detector = {
  family: 'ssrf',
  detect(value: string, input: Input, out: Finding[]): void {
    // Quick exit: a URL needs ":" (scheme) or "/" (schemeless host/path).
    if (value.length < 4 || (value.indexOf(':') === -1 && value.indexOf('/') === -1)) return;
    inspectValue(value, input, out);
    // "http://\l\o\c\a\l\h\o\s\t/": lenient parsers drop the backslashes inside a host.
    if (value.indexOf('\\') !== -1 && value.indexOf('://') !== -1) {
      const bare = value.replace(/\\(?=[0-9A-Za-z.])/g, '');
      if (bare !== value) {
        inspectValue(bare, input, out);
        // A host spelled with escapes ("\\g\\o\\o\\g\\l\\e.\\c\\o\\m") is itself a filter evasion.
        const before = findUrls(value).map((u) => u.host);
        if (findUrls(bare).some((u, k) => u.host.length > 1 && u.host !== before[k])) out.push(CONFUSION);
      }
    }
  },
};

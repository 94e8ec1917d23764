import { KEY_LENGTH, KEY_PREFIX } from '../../authenticate/api-key/format.js';

/**
 * Masking of sensitive values in upstream responses (the response side of the OpenAPI contract).
 *
 * The input is parsed JSON. Masking works IN PLACE: objects and arrays are mutated and returned; the
 * root is returned too because a string (or a too-deep container) at the root is replaced by a new
 * value. The caller owns the value, so nothing is copied.
 *
 * Two mechanisms:
 * - Field names. Names are normalized (lower-case, "_", "-" and spaces removed), so "api_key", "apiKey"
 *   and "API-KEY" are one name. A listed name matches a field whose normalized name EQUALS it. A listed
 *   name that is one of the strong words (password, secret, token, apikey, privatekey) also matches
 *   any field whose normalized name ENDS with it ("userPassword", "github_token"), never one where it
 *   is only a prefix or a middle part ("tokenType", "passwordPolicy", "secretary"). The value of a
 *   matching field is replaced by `replacement` whatever its type (objects, arrays, null included).
 * - Value patterns, applied to every string leaf anywhere (array items, under unmatched names, the
 *   root). Object KEYS are never rewritten. Numbers are left alone except a 13–16 digit integer that
 *   passes the Luhn check while card-number masking is on: it becomes a masked string.
 *
 * Every scanner is a hand-written linear pass (no regular expressions on upstream data).
 *
 * Work is bounded by depth: a container nested deeper than `maxDepth` (root = depth 0) is replaced
 * whole by `replacement` and counted once — the safe choice, since what it holds was never looked at.
 */

export type MaskPattern = 'card-number' | 'us-ssn' | 'iban' | 'jwt' | 'api-key' | 'private-key' | 'email';

export interface MaskOptions {
  /** Field names whose values are always masked (see the matching rule above). */
  readonly names: readonly string[];
  /** Value detectors applied to every string leaf. */
  readonly patterns: readonly MaskPattern[];
  /** Replaces name matches, too-deep subtrees, and whole secrets (JWT, api-key, private-key). */
  readonly replacement: string;
  /** Deepest container looked into (root = 0); deeper ones are replaced whole. Default 64. */
  readonly maxDepth?: number;
  /**
   * Names never masked by name although they end in a strong word (pagination cursors such as
   * nextPageToken): an exact entry of `names` still wins. Values are still scanned by pattern.
   */
  readonly keep?: readonly string[];
}

/** Cursor and token-type names that end in "token" but are not secrets. */
export const DEFAULT_KEEP_NAMES: readonly string[] = Object.freeze([
  'nextPageToken',
  'pageToken',
  'prevPageToken',
  'previousPageToken',
  'nextToken',
  'continuationToken',
  'nextContinuationToken',
  'paginationToken',
  'cursorToken',
  'syncToken',
  'resumeToken',
]);

export interface MaskResult {
  readonly value: unknown;
  /** How many leaves (or whole subtrees) were replaced or rewritten. */
  readonly masked: number;
}

export interface Masker {
  mask(value: unknown): MaskResult;
}

export const DEFAULT_SENSITIVE_NAMES: readonly string[] = Object.freeze([
  'password',
  'passwd',
  'pwd',
  'passphrase',
  'secret',
  'clientSecret',
  'secretKey',
  'token',
  'accessToken',
  'refreshToken',
  'idToken',
  'sessionToken',
  'apiKey',
  'api_key',
  'privateKey',
  'authorization',
  'cookie',
  'setCookie',
  'sessionId',
  'ssn',
  'socialSecurityNumber',
  'cvv',
  'cvv2',
  'cvc',
  'cvc2',
  'securityCode',
  'pin',
  'otp',
  'cardNumber',
  'creditCard',
  'creditCardNumber',
  'ccNumber',
]);

export const ALL_PATTERNS: readonly MaskPattern[] = Object.freeze([
  'card-number',
  'us-ssn',
  'iban',
  'jwt',
  'api-key',
  'private-key',
  'email',
]);

/** Emails are left out: they are usually legitimate data the client asked for. */
export const DEFAULT_PATTERNS: readonly MaskPattern[] = Object.freeze(
  ALL_PATTERNS.filter((p) => p !== 'email'),
);

export const DEFAULT_MAX_DEPTH = 64;
const MAX_DEPTH_LIMIT = 1024;

/** Strong words also match as a suffix of a field name (see the module comment). */
const STRONG_WORDS: ReadonlySet<string> = new Set(['password', 'secret', 'token', 'apikey', 'privatekey']);

/** Options that cannot be used. The message names the problem, never a configured value. */
export class MaskOptionsError extends Error {
  override name = 'MaskOptionsError';
  readonly code = 'MASK_OPTIONS_INVALID';
}

/** Lower-case, "_", "-" and spaces removed: the form in which field names are compared. */
export function normalizeFieldName(name: string): string {
  const lower = name.toLowerCase();
  let out = '';
  for (let i = 0; i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    if (c !== 95 && c !== 45 && c !== 32) out += lower[i];
  }
  return out;
}

type StringMask = (text: string, replacement: string) => string;

interface Compiled {
  readonly cardNumbers: boolean;
  readonly exact: ReadonlySet<string>;
  readonly keep: ReadonlySet<string>;
  readonly suffixes: readonly string[];
  readonly scanners: readonly StringMask[];
  readonly replacement: string;
  readonly maxDepth: number;
}

export function createMasker(options: MaskOptions): Masker {
  const compiled = compile(options);
  return {
    mask(value: unknown): MaskResult {
      const counter = { masked: 0 };
      const out = visit(value, 0, compiled, counter);
      return { value: out, masked: counter.masked };
    },
  };
}

function compile(options: MaskOptions): Compiled {
  if (typeof options.replacement !== 'string') throw new MaskOptionsError('replacement must be a string');
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!Number.isInteger(maxDepth) || maxDepth < 0 || maxDepth > MAX_DEPTH_LIMIT)
    throw new MaskOptionsError(`maxDepth must be an integer from 0 to ${MAX_DEPTH_LIMIT}`);
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const name of options.names) {
    const normalized = normalizeFieldName(name);
    if (normalized === '') throw new MaskOptionsError('a sensitive field name is empty once normalized');
    exact.add(normalized);
    if (STRONG_WORDS.has(normalized) && !suffixes.includes(normalized)) suffixes.push(normalized);
  }
  const scanners: StringMask[] = [];
  // Order matters only for overlaps: whole-secret scanners run before the digit scanners, so the
  // digits inside a key or token are not half-masked first.
  for (const pattern of SCAN_ORDER) {
    if (options.patterns.includes(pattern)) scanners.push(SCANNERS[pattern]);
  }
  for (const pattern of options.patterns) {
    if (!SCAN_ORDER.includes(pattern)) throw new MaskOptionsError('unknown mask pattern');
  }
  const keep = new Set((options.keep ?? []).map(normalizeFieldName));
  const cardNumbers = options.patterns.includes('card-number');
  return { cardNumbers, exact, keep, suffixes, scanners, replacement: options.replacement, maxDepth };
}

function nameMatches(key: string, compiled: Compiled): boolean {
  const normalized = normalizeFieldName(key);
  if (compiled.exact.has(normalized)) return true;
  // Names that end in a strong word but carry no secret (pagination cursors) stay readable.
  if (compiled.keep.has(normalized)) return false;
  for (const suffix of compiled.suffixes) {
    if (normalized.endsWith(suffix)) return true;
  }
  return false;
}

function visit(value: unknown, depth: number, compiled: Compiled, counter: { masked: number }): unknown {
  if (typeof value === 'string') {
    const masked = maskString(value, compiled);
    if (masked !== value) counter.masked++;
    return masked;
  }
  if (typeof value === 'number') {
    // A card number sent as a JSON number (13–16 digits fit a double exactly): masked like text.
    if (compiled.cardNumbers && Number.isSafeInteger(value) && value >= 1e12) {
      const digits = String(value);
      if (luhnValid(digits, 0, digits.length)) {
        counter.masked++;
        return `${'*'.repeat(digits.length - 4)}${digits.slice(-4)}`;
      }
    }
    return value;
  }
  if (value === null || typeof value !== 'object') return value;
  if (depth > compiled.maxDepth) {
    counter.masked++;
    return compiled.replacement;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const next = visit(item, depth + 1, compiled, counter);
      if (next !== item) value[i] = next;
    }
    return value;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const item = record[key];
    if (nameMatches(key, compiled)) {
      // Already masked (a second pass): leave it and do not count it again.
      if (item !== compiled.replacement) {
        record[key] = compiled.replacement;
        counter.masked++;
      }
      continue;
    }
    const next = visit(item, depth + 1, compiled, counter);
    if (next !== item) record[key] = next;
  }
  return value;
}

function maskString(text: string, compiled: Compiled): string {
  let out = text;
  for (const scan of compiled.scanners) out = scan(out, compiled.replacement);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Character classes (char codes).

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isUpper = (c: number): boolean => c >= 65 && c <= 90;
const isLower = (c: number): boolean => c >= 97 && c <= 122;
const isAlnum = (c: number): boolean => isDigit(c) || isUpper(c) || isLower(c);
const isUpperAlnum = (c: number): boolean => isDigit(c) || isUpper(c);
/** Letters, digits and "_": characters that glue a number or a key into a longer identifier. */
const isWord = (c: number): boolean => isAlnum(c) || c === 95;
const isBase64Url = (c: number): boolean => isAlnum(c) || c === 95 || c === 45;

/** Collects the pieces of a rewritten string; nothing is allocated when nothing matches. */
class Rewriter {
  private out = '';
  private copied = 0;
  private changed = false;
  constructor(private readonly text: string) {}

  /** The next untouched index: scanners must not rewrite before it. */
  get position(): number {
    return this.copied;
  }

  replace(start: number, end: number, with_: string): void {
    this.out += this.text.slice(this.copied, start) + with_;
    this.copied = end;
    this.changed = true;
  }

  finish(): string {
    return this.changed ? this.out + this.text.slice(this.copied) : this.text;
  }
}

// ---------------------------------------------------------------------------------------------
// Card numbers: 13–19 digits, optionally grouped by single spaces or dashes, Luhn-valid.

const CARD_MIN_DIGITS = 13;
const CARD_MAX_DIGITS = 19;
/** In a grouped number every group has at least 3 digits; "1 2 3 4 ..." lists are not cards. */
const CARD_MIN_GROUP = 3;

/**
 * A number may start here: not glued to a word, a "+" (phone numbers) or a decimal point, and not
 * right after a mask ("*", "* ", "*-"): digits there are what was left visible of a masked number, so
 * a second pass must not read them as the start of a new one.
 */
function numberMayStart(text: string, start: number): boolean {
  if (start === 0) return true;
  const prev = text.charCodeAt(start - 1);
  if (isWord(prev) || prev === 43 || prev === 42) return false;
  const before = start >= 2 ? text.charCodeAt(start - 2) : 0;
  if ((prev === 46 || prev === 44) && isDigit(before)) return false;
  if ((prev === 32 || prev === 45) && before === 42) return false;
  return true;
}

/** A number may end here: not glued to a word or followed by a decimal part. */
function numberMayEnd(text: string, end: number): boolean {
  if (end >= text.length) return true;
  const next = text.charCodeAt(end);
  if (isWord(next) || next === 42) return false;
  if ((next === 46 || next === 44) && end + 1 < text.length && isDigit(text.charCodeAt(end + 1)))
    return false;
  return true;
}

/** Luhn check over the digits of text[start, end), separators skipped. */
export function luhnValid(text: string, start: number, end: number): boolean {
  let sum = 0;
  let double = false;
  for (let i = end - 1; i >= start; i--) {
    const c = text.charCodeAt(i);
    if (!isDigit(c)) continue;
    let d = c - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Digits become "*" except the last 4; separators are kept so the layout does not change. */
function maskAllButLastDigits(text: string, start: number, end: number, keep: number): string {
  let remaining = 0;
  for (let i = start; i < end; i++) if (isDigit(text.charCodeAt(i))) remaining++;
  let out = '';
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (!isDigit(c)) out += text[i];
    else {
      out += remaining > keep ? '*' : text[i];
      remaining--;
    }
  }
  return out;
}

/**
 * A run is a maximal sequence of digit groups joined by single spaces or dashes. Within a run, windows
 * of whole groups holding 13–19 digits are tried (longest first from each group) so a card glued to a
 * date or a phone number ("2024-01-15 4111 1111 1111 1111") is still found. Each start tries at most
 * 19 groups, so the scan stays linear.
 */
function maskCardNumbers(text: string): string {
  const rw = new Rewriter(text);
  const n = text.length;
  let i = 0;
  while (i < n) {
    if (!isDigit(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const groups: number[] = []; // start, end, start, end, ...
    let j = i;
    for (;;) {
      const groupStart = j;
      while (j < n && isDigit(text.charCodeAt(j))) j++;
      groups.push(groupStart, j);
      const sep = j < n ? text.charCodeAt(j) : 0;
      if ((sep === 32 || sep === 45) && j + 1 < n && isDigit(text.charCodeAt(j + 1))) j++;
      else break;
    }
    maskCardsInRun(text, groups, rw);
    i = j;
  }
  return rw.finish();
}

function maskCardsInRun(text: string, groups: readonly number[], rw: Rewriter): void {
  const count = groups.length / 2;
  const runStart = groups[0] as number;
  const runEnd = groups[groups.length - 1] as number;
  let first = 0;
  while (first < count) {
    const found = longestCardWindow(text, groups, first, runStart, runEnd);
    if (found < 0) {
      first++;
      continue;
    }
    const start = groups[2 * first] as number;
    const end = groups[2 * found + 1] as number;
    rw.replace(start, end, maskAllButLastDigits(text, start, end, 4));
    first = found + 1;
  }
}

/** The last group index of the longest valid card window starting at group `first`, or -1. */
function longestCardWindow(
  text: string,
  groups: readonly number[],
  first: number,
  runStart: number,
  runEnd: number,
): number {
  const count = groups.length / 2;
  const start = groups[2 * first] as number;
  if (start === runStart && !numberMayStart(text, start)) return -1;
  // Collect the candidate ends (each window's digit count) going forward, then try longest first.
  const ends: number[] = [];
  let digits = 0;
  let allLong = true;
  for (let g = first; g < count; g++) {
    const len = (groups[2 * g + 1] as number) - (groups[2 * g] as number);
    digits += len;
    if (digits > CARD_MAX_DIGITS) break;
    if (len < CARD_MIN_GROUP) allLong = false;
    const multi = g > first;
    if (digits >= CARD_MIN_DIGITS && (!multi || allLong)) ends.push(g);
  }
  for (let k = ends.length - 1; k >= 0; k--) {
    const g = ends[k] as number;
    const end = groups[2 * g + 1] as number;
    if (end === runEnd && !numberMayEnd(text, end)) continue;
    if (luhnValid(text, start, end)) return g;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// US SSN: ddd-dd-dddd, area not 000/666/9xx, group not 00, serial not 0000.

function digitsAt(text: string, start: number, count: number): boolean {
  if (start + count > text.length) return false;
  for (let i = start; i < start + count; i++) if (!isDigit(text.charCodeAt(i))) return false;
  return true;
}

function validSsn(text: string, at: number): boolean {
  const area = text.slice(at, at + 3);
  if (area === '000' || area === '666' || area[0] === '9') return false;
  if (text.slice(at + 4, at + 6) === '00') return false;
  return text.slice(at + 7, at + 11) !== '0000';
}

/** Not part of a longer dashed number ("1-123-45-6789-0"). */
function ssnBoundaries(text: string, at: number): boolean {
  if (at > 0) {
    const prev = text.charCodeAt(at - 1);
    if (isWord(prev) || prev === 45 || prev === 43) return false;
    if (prev === 46 && at >= 2 && isDigit(text.charCodeAt(at - 2))) return false;
  }
  const end = at + 11;
  if (end < text.length) {
    const next = text.charCodeAt(end);
    if (isWord(next)) return false;
    if ((next === 45 || next === 46) && end + 1 < text.length && isDigit(text.charCodeAt(end + 1)))
      return false;
  }
  return true;
}

function maskSsns(text: string): string {
  const rw = new Rewriter(text);
  const n = text.length;
  let i = 0;
  while (i + 11 <= n) {
    const shaped =
      digitsAt(text, i, 3) &&
      text.charCodeAt(i + 3) === 45 &&
      digitsAt(text, i + 4, 2) &&
      text.charCodeAt(i + 6) === 45 &&
      digitsAt(text, i + 7, 4);
    if (shaped && ssnBoundaries(text, i) && validSsn(text, i)) {
      rw.replace(i, i + 11, `***-**-${text.slice(i + 7, i + 11)}`);
      i += 11;
    } else i++;
  }
  return rw.finish();
}

// ---------------------------------------------------------------------------------------------
// IBAN: 2 letters, 2 check digits, 11–30 upper-case alphanumerics, valid mod-97. Compact
// ("DE89370400440532013000") or printed in groups of four ("DE89 3704 0044 0532 0130 00").

const IBAN_MIN = 15;
const IBAN_MAX = 34;

/** ISO 13616 check: move the first four characters to the end, letters as 10–35, remainder 1. */
export function ibanChecksumValid(compact: string): boolean {
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    if (isDigit(c)) rem = (rem * 10 + (c - 48)) % 97;
    else if (isUpper(c)) rem = (rem * 100 + (c - 55)) % 97;
    else return false;
  }
  return rem === 1;
}

function ibanStartsAt(text: string, i: number): boolean {
  if (i + 4 > text.length) return false;
  if (i > 0 && isWord(text.charCodeAt(i - 1))) return false;
  return (
    isUpper(text.charCodeAt(i)) &&
    isUpper(text.charCodeAt(i + 1)) &&
    isDigit(text.charCodeAt(i + 2)) &&
    isDigit(text.charCodeAt(i + 3))
  );
}

/** End of a compact IBAN at i, or -1. Reads at most IBAN_MAX + 1 characters. */
function compactIbanEnd(text: string, i: number): number {
  let j = i + 4;
  while (j < text.length && j - i <= IBAN_MAX && isUpperAlnum(text.charCodeAt(j))) j++;
  const len = j - i;
  if (len < IBAN_MIN || len > IBAN_MAX) return -1;
  if (j < text.length && isWord(text.charCodeAt(j))) return -1;
  return ibanChecksumValid(text.slice(i, j)) ? j : -1;
}

/** End of an IBAN printed in groups of four at i, or -1; the longest valid group count wins. */
function groupedIbanEnd(text: string, i: number): number {
  const ends: number[] = [];
  let compact = text.slice(i, i + 4);
  const candidates: string[] = [];
  let j = i + 4;
  while (compact.length < IBAN_MAX && j + 1 < text.length && text.charCodeAt(j) === 32) {
    let k = j + 1;
    while (k < text.length && k - (j + 1) < 5 && isUpperAlnum(text.charCodeAt(k))) k++;
    const len = k - (j + 1);
    if (len === 0 || len > 4) break;
    if (k < text.length && isWord(text.charCodeAt(k))) break;
    compact += text.slice(j + 1, k);
    ends.push(k);
    candidates.push(compact);
    if (len < 4) break; // a short group is the last one
    j = k;
  }
  for (let g = ends.length - 1; g >= 0; g--) {
    const candidate = candidates[g] as string;
    if (candidate.length >= IBAN_MIN && candidate.length <= IBAN_MAX && ibanChecksumValid(candidate))
      return ends[g] as number;
  }
  return -1;
}

/** Keeps the country code and the last four characters; spaces are kept. */
function maskIban(text: string, start: number, end: number): string {
  let alnumLeft = 0;
  for (let i = start; i < end; i++) if (text.charCodeAt(i) !== 32) alnumLeft++;
  let out = '';
  let seen = 0;
  for (let i = start; i < end; i++) {
    if (text.charCodeAt(i) === 32) {
      out += ' ';
      continue;
    }
    out += seen < 2 || alnumLeft <= 4 ? text[i] : '*';
    seen++;
    alnumLeft--;
  }
  return out;
}

function maskIbans(text: string): string {
  const rw = new Rewriter(text);
  let i = 0;
  while (i < text.length) {
    if (!ibanStartsAt(text, i)) {
      i++;
      continue;
    }
    const end = text.charCodeAt(i + 4) === 32 ? groupedIbanEnd(text, i) : compactIbanEnd(text, i);
    if (end < 0) {
      i++;
      continue;
    }
    rw.replace(i, end, maskIban(text, i, end));
    i = end;
  }
  return rw.finish();
}

// ---------------------------------------------------------------------------------------------
// JWT (JWS, and JWE's five segments): base64url segments joined by ".", the first starting "eyJ"
// (the encoding of '{"'). The signature segment may be empty (unsecured tokens still carry claims).

const JWT_MIN_HEADER = 10;

function base64UrlRunEnd(text: string, i: number): number {
  let j = i;
  while (j < text.length && isBase64Url(text.charCodeAt(j))) j++;
  return j;
}

function jwtEnd(text: string, i: number): number {
  if (i > 0) {
    const prev = text.charCodeAt(i - 1);
    if (isBase64Url(prev) || prev === 46) return -1;
  }
  const headerEnd = base64UrlRunEnd(text, i);
  if (headerEnd - i < JWT_MIN_HEADER || text.charCodeAt(headerEnd) !== 46) return -1;
  const payloadEnd = base64UrlRunEnd(text, headerEnd + 1);
  if (payloadEnd === headerEnd + 1 || text.charCodeAt(payloadEnd) !== 46) return -1;
  let end = base64UrlRunEnd(text, payloadEnd + 1);
  // JWE: two more segments.
  for (let extra = 0; extra < 2 && text.charCodeAt(end) === 46; extra++) {
    const next = base64UrlRunEnd(text, end + 1);
    if (next === end + 1) break;
    end = next;
  }
  return end;
}

function maskJwts(text: string, replacement: string): string {
  const rw = new Rewriter(text);
  let from = 0;
  for (;;) {
    const i = text.indexOf('eyJ', from);
    if (i < 0) break;
    const end = jwtEnd(text, i);
    if (end < 0) {
      from = i + 1;
      continue;
    }
    rw.replace(i, end, replacement);
    from = end;
  }
  return rw.finish();
}

// ---------------------------------------------------------------------------------------------
// Well-known prefixed secrets. Kept as data so new providers are one line.

type SecretCharset = 'alnum' | 'upper-alnum' | 'word' | 'base64url' | 'alnum-dash';

interface SecretPrefix {
  readonly prefix: string;
  readonly charset: SecretCharset;
  /** Length of what follows the prefix. */
  readonly min: number;
  readonly max: number;
}

const CHARSET_TEST: Readonly<Record<SecretCharset, (c: number) => boolean>> = {
  alnum: isAlnum,
  'upper-alnum': isUpperAlnum,
  word: isWord,
  base64url: isBase64Url,
  'alnum-dash': (c) => isAlnum(c) || c === 45,
};

export const SECRET_PREFIXES: readonly SecretPrefix[] = Object.freeze([
  // Stripe secret and restricted keys (live and test), webhook signing secrets.
  { prefix: 'sk_live_', charset: 'alnum', min: 16, max: 255 },
  { prefix: 'sk_test_', charset: 'alnum', min: 16, max: 255 },
  { prefix: 'rk_live_', charset: 'alnum', min: 16, max: 255 },
  { prefix: 'rk_test_', charset: 'alnum', min: 16, max: 255 },
  { prefix: 'whsec_', charset: 'alnum', min: 24, max: 255 },
  // AWS access key ids (long-term and temporary).
  { prefix: 'AKIA', charset: 'upper-alnum', min: 16, max: 16 },
  { prefix: 'ASIA', charset: 'upper-alnum', min: 16, max: 16 },
  // GitHub tokens.
  { prefix: 'ghp_', charset: 'alnum', min: 30, max: 255 },
  { prefix: 'gho_', charset: 'alnum', min: 30, max: 255 },
  { prefix: 'ghu_', charset: 'alnum', min: 30, max: 255 },
  { prefix: 'ghs_', charset: 'alnum', min: 30, max: 255 },
  { prefix: 'ghr_', charset: 'alnum', min: 30, max: 255 },
  { prefix: 'github_pat_', charset: 'word', min: 40, max: 255 },
  // Slack tokens xox[abpr]-.
  { prefix: 'xoxa-', charset: 'alnum-dash', min: 10, max: 255 },
  { prefix: 'xoxb-', charset: 'alnum-dash', min: 10, max: 255 },
  { prefix: 'xoxp-', charset: 'alnum-dash', min: 10, max: 255 },
  { prefix: 'xoxr-', charset: 'alnum-dash', min: 10, max: 255 },
  // GitLab, npm, Google API keys, OpenAI and Anthropic keys.
  { prefix: 'glpat-', charset: 'base64url', min: 20, max: 255 },
  { prefix: 'npm_', charset: 'alnum', min: 36, max: 36 },
  { prefix: 'AIza', charset: 'base64url', min: 35, max: 35 },
  { prefix: 'sk-proj-', charset: 'base64url', min: 32, max: 255 },
  { prefix: 'sk-ant-', charset: 'base64url', min: 32, max: 255 },
  // Portcullis' own API keys (src/plugins/authenticate/api-key/format.ts).
  {
    prefix: KEY_PREFIX,
    charset: 'base64url',
    min: KEY_LENGTH - KEY_PREFIX.length,
    max: KEY_LENGTH - KEY_PREFIX.length,
  },
]);

/** Prefixes indexed by their first character, so most positions cost one map miss. */
const PREFIXES_BY_FIRST: ReadonlyMap<number, readonly SecretPrefix[]> = (() => {
  const map = new Map<number, SecretPrefix[]>();
  for (const p of SECRET_PREFIXES) {
    const first = p.prefix.charCodeAt(0);
    const list = map.get(first) ?? [];
    list.push(p);
    map.set(first, list);
  }
  return map;
})();

function secretEnd(text: string, i: number): number {
  const candidates = PREFIXES_BY_FIRST.get(text.charCodeAt(i));
  if (candidates === undefined) return -1;
  if (i > 0 && isWord(text.charCodeAt(i - 1))) return -1;
  for (const p of candidates) {
    if (!text.startsWith(p.prefix, i)) continue;
    const test = CHARSET_TEST[p.charset];
    const bodyStart = i + p.prefix.length;
    let j = bodyStart;
    // Reading one past max is enough to refuse an over-long run.
    while (j < text.length && j - bodyStart <= p.max && test(text.charCodeAt(j))) j++;
    const len = j - bodyStart;
    // A run cut short by a letter or digit outside the charset is part of something longer.
    if (len >= p.min && len <= p.max && !(j < text.length && isAlnum(text.charCodeAt(j)))) return j;
  }
  return -1;
}

function maskApiKeys(text: string, replacement: string): string {
  const rw = new Rewriter(text);
  let i = 0;
  while (i < text.length) {
    const end = secretEnd(text, i);
    if (end < 0) {
      i++;
      continue;
    }
    rw.replace(i, end, replacement);
    i = end;
  }
  return rw.finish();
}

// ---------------------------------------------------------------------------------------------
// PEM private keys: "-----BEGIN <label> PRIVATE KEY-----" up to its END line (or the end of the
// string when the END line is missing: a truncated key is still a key).

const PEM_BEGIN = '-----BEGIN ';
const PEM_END = '-----END ';
const PEM_DASHES = '-----';
const PEM_MAX_LABEL = 64;

function maskPrivateKeys(text: string, replacement: string): string {
  const rw = new Rewriter(text);
  let from = 0;
  for (;;) {
    const begin = text.indexOf(PEM_BEGIN, from);
    if (begin < 0) break;
    const labelStart = begin + PEM_BEGIN.length;
    const labelEnd = text.indexOf(PEM_DASHES, labelStart);
    if (
      labelEnd < 0 ||
      labelEnd - labelStart > PEM_MAX_LABEL ||
      !text.slice(labelStart, labelEnd).includes('PRIVATE KEY')
    ) {
      from = labelStart;
      continue;
    }
    let end = text.length;
    const footer = text.indexOf(PEM_END, labelEnd + PEM_DASHES.length);
    if (footer >= 0) {
      const footerEnd = text.indexOf(PEM_DASHES, footer + PEM_END.length);
      if (footerEnd >= 0 && footerEnd - footer <= PEM_END.length + PEM_MAX_LABEL)
        end = footerEnd + PEM_DASHES.length;
    }
    rw.replace(begin, end, replacement);
    from = end;
  }
  return rw.finish();
}

// ---------------------------------------------------------------------------------------------
// Emails: the local part is masked except its first character ("j***@example.com"); the number of
// stars is fixed so the length is not revealed.

const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;

function isLocalChar(c: number): boolean {
  // RFC 5322 atext plus ".": letters, digits and !#$%&'*+-/=?^_`{|}~
  return (
    isAlnum(c) ||
    c === 46 ||
    c === 33 ||
    (c >= 35 && c <= 39) ||
    c === 42 ||
    c === 43 ||
    c === 45 ||
    c === 47 ||
    c === 61 ||
    c === 63 ||
    (c >= 94 && c <= 96) ||
    (c >= 123 && c <= 126)
  );
}

const MAX_LABEL = 63;

/** A label: 1–63 letters, digits or "-", not starting or ending with "-". Returns its end or -1. */
function labelEnd(text: string, i: number): number {
  let j = i;
  while (j < text.length && j - i <= MAX_LABEL && (isAlnum(text.charCodeAt(j)) || text.charCodeAt(j) === 45))
    j++;
  const len = j - i;
  if (len === 0 || len > MAX_LABEL) return -1;
  if (text.charCodeAt(i) === 45 || text.charCodeAt(j - 1) === 45) return -1;
  return j;
}

function isAlphabetic(text: string, start: number, end: number): boolean {
  for (let k = start; k < end; k++) {
    const c = text.charCodeAt(k);
    if (!isUpper(c) && !isLower(c)) return false;
  }
  return true;
}

/**
 * End of a domain starting at i: two or more labels joined by single dots, the last one alphabetic
 * with 2+ letters. Reads label by label and ends after the last label that completes a valid domain,
 * or -1. Reads at most MAX_DOMAIN characters.
 */
function domainEnd(text: string, i: number): number {
  let best = -1;
  let labels = 0;
  let j = i;
  while (j - i < MAX_DOMAIN) {
    const end = labelEnd(text, j);
    if (end < 0) break;
    labels++;
    if (labels >= 2 && end - j >= 2 && isAlphabetic(text, j, end)) best = end;
    if (text.charCodeAt(end) !== 46) break;
    j = end + 1;
  }
  if (best < 0 || best - i > MAX_DOMAIN) return -1;
  // The address must not run on into a word ("a@example.com_x").
  if (best < text.length && (isWord(text.charCodeAt(best)) || text.charCodeAt(best) === 45)) return -1;
  return best;
}

function maskEmails(text: string): string {
  const rw = new Rewriter(text);
  let from = 0;
  for (;;) {
    const at = text.indexOf('@', from);
    if (at < 0) break;
    from = at + 1;
    let start = at;
    const floor = Math.max(rw.position, at - MAX_LOCAL - 1);
    while (start > floor && isLocalChar(text.charCodeAt(start - 1))) start--;
    // Longer than 64 characters: not an address (RFC 5321), and masking only its tail would leak.
    if (at - start > MAX_LOCAL) continue;
    while (start < at && text.charCodeAt(start) === 46) start++;
    if (start === at) continue;
    const end = domainEnd(text, at + 1);
    if (end < 0) continue;
    const local = text.slice(start, at);
    // Already masked by an earlier pass.
    if (local.length === 4 && local.endsWith('***')) {
      from = end;
      continue;
    }
    rw.replace(start, at, `${local[0]}***`);
    from = end;
  }
  return rw.finish();
}

// ---------------------------------------------------------------------------------------------

const SCANNERS: Readonly<Record<MaskPattern, StringMask>> = {
  'private-key': maskPrivateKeys,
  jwt: maskJwts,
  'api-key': maskApiKeys,
  iban: maskIbans,
  'card-number': maskCardNumbers,
  'us-ssn': maskSsns,
  email: maskEmails,
};

const SCAN_ORDER: readonly MaskPattern[] = [
  'private-key',
  'jwt',
  'api-key',
  'iban',
  'card-number',
  'us-ssn',
  'email',
];

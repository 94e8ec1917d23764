/**
 * Streaming JSON pre-scanner (RFC 8259). Sees every body chunk before JSON.parse runs and refuses
 * hostile documents as early as possible: too deep, too wide, huge strings, duplicate or
 * prototype-polluting keys, invalid UTF-8. A byte-level state machine: no regex, no recursion, no
 * JSON.parse, linear time. Memory is O(depth) plus the decoded keys of the objects still open.
 */
import { hexVal } from './percent.js';

export interface JsonLimits {
  /** Nesting of objects and arrays; the depth of `{}` is 1. */
  readonly maxDepth: number;
  /** Members of one object. */
  readonly maxKeys: number;
  /** Members across the whole document. */
  readonly maxTotalKeys: number;
  /** Elements of one array. */
  readonly maxItems: number;
  /**
   * Bytes of one string (key or value) as sent between its quotes: an escape counts its raw bytes
   * (`\n` is 2, `\u00e9` is 6), a multi-byte character its UTF-8 bytes.
   */
  readonly maxStringBytes: number;
}

export type JsonScanReason =
  | 'syntax'
  | 'depth'
  | 'keys'
  | 'items'
  | 'string'
  | 'duplicate-key'
  | 'unsafe-key'
  | 'encoding';

// Generic on purpose: a message never carries the body, only what kind of refusal it is.
const MESSAGES: Readonly<Record<JsonScanReason, string>> = {
  syntax: 'JSON body is not well-formed',
  depth: 'JSON body nests too deeply',
  keys: 'JSON body has too many object members',
  items: 'JSON body has too many array elements',
  string: 'JSON body has a string that is too long',
  'duplicate-key': 'JSON body repeats a key in one object',
  'unsafe-key': 'JSON body uses a reserved key name',
  encoding: 'JSON body is not valid UTF-8 text',
};

export class JsonScanError extends Error {
  readonly reason: JsonScanReason;
  /** Offset in the whole body of the byte that decided the refusal (the body length when end() refuses). */
  readonly offset: number;

  constructor(reason: JsonScanReason, offset: number) {
    super(`${MESSAGES[reason]} (byte ${offset})`);
    this.name = 'JsonScanError';
    this.reason = reason;
    this.offset = offset;
  }
}

// Parser states. In-string states are numbered together so one range check counts their bytes.
const S_VALUE = 0; // a value: the document start, after ':', after ',' in an array
const S_ARRAY_FIRST = 1; // after '[': a value or ']'
const S_OBJECT_FIRST = 2; // after '{': a key or '}'
const S_KEY = 3; // after ',' in an object: a key
const S_COLON = 4;
const S_AFTER_VALUE = 5; // inside a container after a value: ',' or the closing bracket
const S_DONE = 6; // after the top-level value: whitespace only
const S_STRING = 7;
const S_ESCAPE = 8; // after '\'
const S_HEX = 9; // inside the 4 digits of \uXXXX
const S_LOW_BACKSLASH = 10; // after a high-surrogate escape: the '\' of its low half
const S_LOW_U = 11; // the 'u' of the low half
const S_UTF8 = 12; // inside a multi-byte UTF-8 character
const S_MINUS = 13; // '-': a digit must follow
const S_ZERO = 14; // a leading 0: no more integer digits
const S_INT = 15;
const S_DOT = 16; // '.': a digit must follow
const S_FRAC = 17;
const S_EXP_MARK = 18; // 'e': a sign or digit must follow
const S_EXP_SIGN = 19; // a digit must follow
const S_EXP = 20;
const S_LITERAL = 21; // inside true / false / null

const OBJECT = 1;
const ARRAY = 2;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

const LITERALS: readonly Uint8Array[] = [
  Buffer.from('true', 'latin1'),
  Buffer.from('false', 'latin1'),
  Buffer.from('null', 'latin1'),
];

/** Keys that reach Object.prototype through naive merges and `obj[key] = value`. */
const UNSAFE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

// Large documents repeat the same few names; reusing their strings skips most key allocations (a
// third of the scan time without it). Colliding names only miss, so a hostile body cannot make it
// slower. The cache lives in one scanner: shared across bodies, hit timing would tell one client
// which names another one sent.
const KEY_CACHE_SLOTS = 256; // a power of two
const KEY_CACHE_MAX_BYTES = 32;
const KEY_CACHE_AFTER = 32; // small bodies rarely repeat a name: skip the cache's allocation
const SHORT_KEY_BYTES = 12; // V8 builds strings under 13 chars flat

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

/** The byte a one-letter escape stands for, -1 if the letter is not one (`u` is handled apart). */
function simpleEscape(c: number): number {
  switch (c) {
    case QUOTE:
    case BACKSLASH:
    case 0x2f: // '/'
      return c;
    case 0x62: // b
      return 0x08;
    case 0x66: // f
      return 0x0c;
    case 0x6e: // n
      return 0x0a;
    case 0x72: // r
      return 0x0d;
    case 0x74: // t
      return 0x09;
    default:
      return -1;
  }
}

function checkLimit(name: keyof JsonLimits, value: number): number {
  if (!(value >= 0 && (Number.isInteger(value) || value === Number.POSITIVE_INFINITY)))
    throw new RangeError(`JsonLimits.${name} must be a non-negative integer or Infinity`);
  return value;
}

/**
 * Incremental scanner: feed every chunk to write(), then call end(). Chunk boundaries may fall
 * anywhere (inside a character, an escape, a number or a literal). After a refusal every further
 * call throws the same error.
 */
export class JsonScanner {
  // The limits, copied so a caller cannot change them mid-body.
  private readonly maxDepth: number;
  private readonly maxKeys: number;
  private readonly maxTotalKeys: number;
  private readonly maxItems: number;
  private readonly maxStringBytes: number;
  private state = S_VALUE;
  private seen = 0; // bytes written so far
  private failure: JsonScanError | undefined;
  private ended = false;

  // Open containers, indexed by depth (1 = outermost).
  private depth = 0;
  private readonly kinds: number[] = [0];
  private readonly counts: number[] = [0];
  private readonly keySets: (Set<string> | undefined)[] = [undefined];
  private totalKeys = 0;

  // The string being read.
  private strBytes = 0;
  private inKey = false;
  private keyBuf = Buffer.allocUnsafe(64);
  private keyLen = 0;
  private hexCount = 0;
  private hexValue = 0;
  private highSurrogate = -1; // >= 0 while reading the low half of a pair
  private utf8Need = 0; // continuation bytes still due
  private utf8Lo = 0x80; // range of the next continuation byte (narrower after E0 ED F0 F4)
  private utf8Hi = 0xbf;

  private literal: Uint8Array = LITERALS[0] as Uint8Array;
  private literalPos = 0;

  private keyCache: (string | undefined)[] | undefined; // per scanner: no names kept across bodies

  constructor(limits: JsonLimits) {
    this.maxDepth = checkLimit('maxDepth', limits.maxDepth);
    this.maxKeys = checkLimit('maxKeys', limits.maxKeys);
    this.maxTotalKeys = checkLimit('maxTotalKeys', limits.maxTotalKeys);
    this.maxItems = checkLimit('maxItems', limits.maxItems);
    this.maxStringBytes = checkLimit('maxStringBytes', limits.maxStringBytes);
  }

  write(chunk: Uint8Array): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.ended) throw new Error('JsonScanner.write() after end()');
    const base = this.seen;
    this.seen = base + chunk.length;
    this.state = this.scan(chunk, base);
  }

  /**
   * The state machine over one chunk; returns the state at its end. Apart from write() because V8
   * compiles this loop while it runs (on-stack replacement) before anything after the loop has run:
   * a property store there had no type feedback and threw the fast code away again and again.
   */
  private scan(chunk: Uint8Array, base: number): number {
    const n = chunk.length;
    const maxStr = this.maxStringBytes;
    let state = this.state;
    let i = 0;
    // `continue` re-reads chunk[i] (the state or i changed); `break` out of the switch consumes it.
    while (i < n) {
      let c = chunk[i] as number;
      // Every byte inside a string counts, escapes and continuation bytes included.
      if (state > S_STRING && state <= S_UTF8 && ++this.strBytes > maxStr)
        throw this.fail('string', base + i);
      switch (state) {
        case S_STRING: {
          // Hot path: a run of printable ASCII needs no decision per byte.
          let j = i;
          while (j < n) {
            const b = chunk[j] as number;
            if (b < 0x20 || b === QUOTE || b === BACKSLASH || b >= 0x80) break;
            j++;
          }
          if (j > i) {
            const room = maxStr - this.strBytes;
            if (j - i > room) throw this.fail('string', base + i + room);
            this.strBytes += j - i;
            if (this.inKey) this.appendKeyRun(chunk, i, j);
            i = j;
            if (i === n) continue;
            c = chunk[i] as number;
          }
          if (c === QUOTE) {
            state = this.inKey ? this.finishKey(base + i) : this.afterValue();
            break;
          }
          if (++this.strBytes > maxStr) throw this.fail('string', base + i);
          if (c === BACKSLASH) state = S_ESCAPE;
          else if (c < 0x20) throw this.fail('syntax', base + i);
          else {
            this.startUtf8(c, base + i);
            if (this.inKey) this.appendKeyByte(c);
            state = S_UTF8;
          }
          break;
        }
        case S_ESCAPE: {
          if (c === 0x75) {
            this.hexCount = 0;
            this.hexValue = 0;
            state = S_HEX;
            break;
          }
          const decoded = simpleEscape(c);
          if (decoded < 0) throw this.fail('syntax', base + i);
          if (this.inKey) this.appendKeyByte(decoded);
          state = S_STRING;
          break;
        }
        case S_HEX:
          state = this.hexDigit(c, base + i);
          break;
        case S_LOW_BACKSLASH:
          // Anything but `\u` leaves the high surrogate alone.
          if (c !== BACKSLASH) throw this.fail('encoding', base + i);
          state = S_LOW_U;
          break;
        case S_LOW_U:
          if (c !== 0x75) throw this.fail('encoding', base + i);
          this.hexCount = 0;
          this.hexValue = 0;
          state = S_HEX;
          break;
        case S_UTF8:
          if (c < this.utf8Lo || c > this.utf8Hi) throw this.fail('encoding', base + i);
          if (this.inKey) this.appendKeyByte(c);
          this.utf8Lo = 0x80;
          this.utf8Hi = 0xbf;
          if (--this.utf8Need === 0) state = S_STRING;
          break;

        case S_INT:
        case S_FRAC:
        case S_EXP: {
          let j = i;
          while (j < n && isDigit(chunk[j] as number)) j++;
          if (j > i) {
            i = j;
            continue;
          }
          if (c === DOT && state === S_INT) state = S_DOT;
          else if ((c === LOWER_E || c === UPPER_E) && state !== S_EXP) state = S_EXP_MARK;
          else {
            state = this.afterValue();
            continue;
          }
          break;
        }
        case S_ZERO:
          if (c === DOT) state = S_DOT;
          else if (c === LOWER_E || c === UPPER_E) state = S_EXP_MARK;
          else {
            state = this.afterValue();
            continue;
          }
          break;
        case S_MINUS:
          if (c === ZERO) state = S_ZERO;
          else if (isDigit(c)) state = S_INT;
          else throw this.fail('syntax', base + i);
          break;
        case S_DOT:
          if (!isDigit(c)) throw this.fail('syntax', base + i);
          state = S_FRAC;
          break;
        case S_EXP_MARK:
          if (c === PLUS || c === MINUS) state = S_EXP_SIGN;
          else if (isDigit(c)) state = S_EXP;
          else throw this.fail('syntax', base + i);
          break;
        case S_EXP_SIGN:
          if (!isDigit(c)) throw this.fail('syntax', base + i);
          state = S_EXP;
          break;
        case S_LITERAL:
          if (c !== this.literal[this.literalPos]) throw this.fail('syntax', base + i);
          if (++this.literalPos === this.literal.length) state = this.afterValue();
          break;

        default: {
          // Structural states: skip a run of whitespace first (indentation is common).
          if (isWhitespace(c)) {
            i++;
            while (i < n && isWhitespace(chunk[i] as number)) i++;
            continue;
          }
          state = this.structural(state, c, base + i);
          if (state === S_STRING) this.strBytes = 0;
        }
      }
      i++;
    }
    return state;
  }

  end(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.ended) return;
    this.ended = true;
    const s = this.state;
    if (s === S_DONE) return;
    const finishedNumber = s === S_ZERO || s === S_INT || s === S_FRAC || s === S_EXP;
    if (finishedNumber && this.depth === 0) {
      this.state = S_DONE;
      return;
    }
    throw this.fail(s === S_UTF8 ? 'encoding' : 'syntax', this.seen);
  }

  private fail(reason: JsonScanReason, offset: number): JsonScanError {
    this.failure = new JsonScanError(reason, offset);
    return this.failure;
  }

  private afterValue(): number {
    return this.depth === 0 ? S_DONE : S_AFTER_VALUE;
  }

  /** A non-whitespace byte outside strings, numbers and literals; returns the next state. */
  private structural(state: number, c: number, offset: number): number {
    switch (state) {
      case S_VALUE:
        return this.beginValue(c, offset);
      case S_ARRAY_FIRST:
        if (c === CLOSE_ARRAY) return this.close(ARRAY, offset);
        this.countItem(offset);
        return this.beginValue(c, offset);
      case S_OBJECT_FIRST:
        if (c === CLOSE_OBJECT) return this.close(OBJECT, offset);
        return this.beginKey(c, offset);
      case S_KEY:
        return this.beginKey(c, offset);
      case S_COLON:
        if (c !== COLON) throw this.fail('syntax', offset);
        return S_VALUE;
      case S_AFTER_VALUE:
        if (c === COMMA) {
          if (this.kinds[this.depth] === OBJECT) return S_KEY;
          this.countItem(offset);
          return S_VALUE;
        }
        if (c === CLOSE_OBJECT) return this.close(OBJECT, offset);
        if (c === CLOSE_ARRAY) return this.close(ARRAY, offset);
        throw this.fail('syntax', offset);
      default: // S_DONE: one top-level value only
        throw this.fail('syntax', offset);
    }
  }

  private beginValue(c: number, offset: number): number {
    switch (c) {
      case QUOTE:
        this.inKey = false;
        return S_STRING;
      case OPEN_OBJECT:
        this.open(OBJECT, offset);
        return S_OBJECT_FIRST;
      case OPEN_ARRAY:
        this.open(ARRAY, offset);
        return S_ARRAY_FIRST;
      case MINUS:
        return S_MINUS;
      case ZERO:
        return S_ZERO;
      case 0x74: // t
        return this.beginLiteral(0);
      case 0x66: // f
        return this.beginLiteral(1);
      case 0x6e: // n
        return this.beginLiteral(2);
      default:
        if (isDigit(c)) return S_INT;
        // A first byte outside ASCII is a byte-order mark or another encoding, not JSON text.
        if (c >= 0x80 && offset === 0) throw this.fail('encoding', offset);
        throw this.fail('syntax', offset);
    }
  }

  private beginLiteral(index: number): number {
    this.literal = LITERALS[index] as Uint8Array;
    this.literalPos = 1;
    return S_LITERAL;
  }

  private beginKey(c: number, offset: number): number {
    if (c !== QUOTE) throw this.fail('syntax', offset);
    const d = this.depth;
    const count = (this.counts[d] as number) + 1;
    if (count > this.maxKeys || ++this.totalKeys > this.maxTotalKeys) throw this.fail('keys', offset);
    this.counts[d] = count;
    this.inKey = true;
    this.keyLen = 0;
    return S_STRING;
  }

  private countItem(offset: number): void {
    const d = this.depth;
    const count = (this.counts[d] as number) + 1;
    if (count > this.maxItems) throw this.fail('items', offset);
    this.counts[d] = count;
  }

  private open(kind: number, offset: number): void {
    const d = this.depth + 1;
    if (d > this.maxDepth) throw this.fail('depth', offset);
    this.depth = d;
    this.kinds[d] = kind;
    this.counts[d] = 0;
    if (kind === OBJECT && this.keySets[d] === undefined) this.keySets[d] = new Set();
  }

  private close(kind: number, offset: number): number {
    const d = this.depth;
    if (this.kinds[d] !== kind) throw this.fail('syntax', offset);
    // The Set is kept for the next object at this depth; clear() drops the keys it held.
    if (kind === OBJECT) this.keySets[d]?.clear();
    this.depth = d - 1;
    return this.afterValue();
  }

  /** The closing quote of a key: refuse reserved and repeated names, then expect ':'. */
  private finishKey(offset: number): number {
    const key = this.keyString();
    if (UNSAFE_KEYS.has(key)) throw this.fail('unsafe-key', offset);
    const keys = this.keySets[this.depth] as Set<string>;
    if (keys.has(key)) throw this.fail('duplicate-key', offset);
    keys.add(key);
    return S_COLON;
  }

  /** The decoded key as a string; latin1 maps each byte to one char, an exact image of the UTF-8 bytes. */
  private keyString(): string {
    const buf = this.keyBuf;
    const len = this.keyLen;
    if (len > KEY_CACHE_MAX_BYTES || this.totalKeys <= KEY_CACHE_AFTER) return this.newKeyString(len);
    let hash = len;
    for (let k = 0; k < len; k++) hash = Math.imul(hash ^ (buf[k] as number), 0x01000193);
    const slot = (hash ^ (hash >>> 16)) & (KEY_CACHE_SLOTS - 1);
    this.keyCache ??= new Array<string | undefined>(KEY_CACHE_SLOTS);
    const cached = this.keyCache[slot];
    if (cached !== undefined && cached.length === len) {
      let k = 0;
      while (k < len && cached.charCodeAt(k) === buf[k]) k++;
      if (k === len) return cached;
    }
    const key = this.newKeyString(len);
    this.keyCache[slot] = key;
    return key;
  }

  private newKeyString(len: number): string {
    const buf = this.keyBuf;
    if (len > SHORT_KEY_BYTES) return buf.toString('latin1', 0, len);
    // Cheaper than a call into the Buffer binding, and V8 makes strings this short flat, not ropes.
    let key = '';
    for (let k = 0; k < len; k++) key += String.fromCharCode(buf[k] as number);
    return key;
  }

  /** The lead byte of a multi-byte character (RFC 3629 §4: no overlongs, surrogates or > U+10FFFF). */
  private startUtf8(c: number, offset: number): void {
    let need = 0;
    let lo = 0x80;
    let hi = 0xbf;
    if (c < 0xc2) throw this.fail('encoding', offset);
    else if (c < 0xe0) need = 1;
    else if (c < 0xf0) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f;
    } else if (c < 0xf5) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    } else throw this.fail('encoding', offset);
    this.utf8Need = need;
    this.utf8Lo = lo;
    this.utf8Hi = hi;
  }

  /** One digit of \uXXXX; after the fourth, pairs surrogates and returns to the string. */
  private hexDigit(c: number, offset: number): number {
    const v = hexVal(c);
    if (v < 0) throw this.fail('syntax', offset);
    this.hexValue = (this.hexValue << 4) | v;
    if (++this.hexCount < 4) return S_HEX;
    const unit = this.hexValue;
    const high = this.highSurrogate;
    if (high >= 0) {
      if (unit < 0xdc00 || unit > 0xdfff) throw this.fail('encoding', offset);
      this.highSurrogate = -1;
      if (this.inKey) this.appendKeyCodePoint(0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00));
      return S_STRING;
    }
    if (unit >= 0xd800 && unit <= 0xdbff) {
      this.highSurrogate = unit;
      return S_LOW_BACKSLASH;
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) throw this.fail('encoding', offset);
    if (this.inKey) this.appendKeyCodePoint(unit);
    return S_STRING;
  }

  // Keys are decoded to UTF-8 so that "é", "\u00e9" and "\u00E9" are one name. The decoded form is
  // never longer than the raw one, so the buffer grows no further than maxStringBytes (+ 3).
  private reserveKey(extra: number): void {
    const need = this.keyLen + extra;
    if (need <= this.keyBuf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(need, Math.min(this.keyBuf.length * 2, this.maxStringBytes)));
    this.keyBuf.copy(grown, 0, 0, this.keyLen);
    this.keyBuf = grown;
  }

  private appendKeyRun(chunk: Uint8Array, from: number, to: number): void {
    this.reserveKey(to - from);
    const buf = this.keyBuf;
    let len = this.keyLen;
    for (let k = from; k < to; k++) buf[len++] = chunk[k] as number;
    this.keyLen = len;
  }

  private appendKeyByte(b: number): void {
    this.reserveKey(1);
    this.keyBuf[this.keyLen++] = b;
  }

  private appendKeyCodePoint(cp: number): void {
    this.reserveKey(4);
    const buf = this.keyBuf;
    let len = this.keyLen;
    if (cp < 0x80) {
      buf[len++] = cp;
      this.keyLen = len;
      return;
    }
    if (cp < 0x800) {
      buf[len++] = 0xc0 | (cp >> 6);
    } else if (cp < 0x10000) {
      buf[len++] = 0xe0 | (cp >> 12);
      buf[len++] = 0x80 | ((cp >> 6) & 0x3f);
    } else {
      buf[len++] = 0xf0 | (cp >> 18);
      buf[len++] = 0x80 | ((cp >> 12) & 0x3f);
      buf[len++] = 0x80 | ((cp >> 6) & 0x3f);
    }
    buf[len++] = 0x80 | (cp & 0x3f);
    this.keyLen = len;
  }
}

/** Scans a whole body at once; throws JsonScanError on the first refusal. */
export function scanJson(body: Uint8Array, limits: JsonLimits): void {
  const scanner = new JsonScanner(limits);
  scanner.write(body);
  scanner.end();
}

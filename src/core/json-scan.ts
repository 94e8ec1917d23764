/**
 * Streaming JSON pre-scanner (RFC 8259). Sees every body chunk before JSON.parse runs and refuses
 * hostile documents as early as possible: too deep, too wide, huge strings, duplicate or
 * prototype-polluting keys, invalid UTF-8. A byte-level state machine: no regex, no recursion, no
 * JSON.parse, linear time. Memory is O(depth) plus the decoded keys of the objects still open.
 */
import { isUtf8 } from 'node:buffer';
import { hexVal } from './percent.js';

// Buffer's own latin1 decoder, callable on a plain Uint8Array (the key arena is one).
const latin1Slice = Buffer.prototype.latin1Slice as (this: Uint8Array, start: number, end: number) => string;

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
const UNSAFE_KEYS: readonly Uint8Array[] = ['__proto__', 'constructor', 'prototype'].map((k) =>
  Buffer.from(k, 'latin1'),
);

// Most objects are small with short names: their keys stay as bytes in the arena and a repeat is
// found by comparing bytes, no string or Set per key (those were most of the scan time). The
// bounds keep that comparison linear: a key meets at most SMALL_OBJECT_KEYS - 1 others, each of
// at most SMALL_KEY_BYTES. A larger object moves its names into a Set (V8 seeds its string hash,
// so colliding names cannot make it quadratic).
const SMALL_OBJECT_KEYS = 16;
const SMALL_KEY_BYTES = 32;

// A fresh arena per body cost a fifth of the scan (a typed array this size lives off the heap).
// One spare waits for the next scanner: a scanner holds it from its first key until end() or a
// refusal, so bodies read in turns never share one. It is zeroed on return, so no body's names
// outlive that body, and only an arena never grown is kept: its size tells nothing either.
const ARENA_BYTES = 256;
let spareArena: Uint8Array | undefined;

// One frame per open container (index = depth): its kind, members so far, and where its keys
// start in the arena and in the key table. A flat number array: one allocation for all depths.
const FRAME = 4;
const F_KIND = 0;
const F_COUNT = 1;
const F_ARENA = 2; // arena offset of the object's first key byte
const F_TABLE = 3; // key-table index of its first key; -1 once its names are in a Set

// Large objects (those past the bounds above) in large documents repeat the same few names;
// reusing their strings skips most key allocations. Colliding names only miss, so a hostile body cannot make it
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

/**
 * Where the valid UTF-8 from `from` (a character boundary) ends: the chunk's end, less a
 * character it cuts short, when that part is all valid; 0 when it is not. The state machine
 * reads whatever this does not vouch for, and places each refusal.
 */
function validUtf8End(chunk: Uint8Array, from: number): number {
  const n = chunk.length;
  let lead = n - 1;
  while (lead > from && lead > n - 4 && ((chunk[lead] as number) & 0xc0) === 0x80) lead--;
  const c = chunk[lead] as number;
  const size = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
  const end = lead + size > n ? lead : n;
  return end > from && isUtf8(chunk.subarray(from, end)) ? end : 0;
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

  // Open containers: frame d (1 = outermost) at frames[d * FRAME]; frame 0 is the top level.
  private depth = 0;
  private readonly frames: number[] = [0, 0, 0, 0];
  private keySets: (Set<string> | undefined)[] | undefined; // by depth, for large objects only
  private totalKeys = 0;

  // Decoded keys of the small objects still open, back to back (a stack: closing an object pops
  // its keys), then the key being read, from keyStart to keyEnd.
  private keyBuf: Uint8Array | undefined;
  private keyStart = 0;
  private keyEnd = 0;
  // Arena [start, end) pairs of those keys, also a stack.
  private readonly keyTable: number[] = [];
  private keyTop = 0;

  // The string being read.
  private strBytes = 0;
  private inKey = false;
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
    // chunk[..utf8End) is known to hold whole, valid UTF-8 characters, so a value string's run may
    // pass bytes >= 0x80 there. Checked natively once per chunk, when the first one is met.
    let utf8End = -1;
    // `continue` re-reads chunk[i] (the state or i changed); `break` out of the switch consumes it.
    while (i < n) {
      let c = chunk[i] as number;
      // Every byte inside a string counts, escapes and continuation bytes included.
      if (state > S_STRING && state <= S_UTF8 && ++this.strBytes > maxStr)
        throw this.fail('string', base + i);
      switch (state) {
        case S_STRING: {
          // Hot path: a run of printable ASCII needs no decision per byte.
          const room = maxStr - this.strBytes;
          let j = i;
          if (this.inKey) j = this.copyKeyRun(chunk, i, Math.min(n, i + room + 1));
          else
            while (j < n) {
              const b = chunk[j] as number;
              if (b < 0x20 || b === QUOTE || b === BACKSLASH) break;
              if (b >= 0x80 && j >= utf8End) {
                if (utf8End >= 0) break; // checked already: this part is left to the state machine
                utf8End = validUtf8End(chunk, j);
                if (j >= utf8End) break;
              }
              j++;
            }
          if (j > i) {
            if (j - i > room) throw this.fail('string', base + i + room);
            this.strBytes += j - i;
            i = j;
            if (i === n) continue;
            c = chunk[i] as number;
          }
          if (c === QUOTE) {
            // Compact JSON: take the colon after a key and the comma after a value at once, and
            // the quote opening what follows them, without more turns of the loop.
            if (this.inKey) {
              state = this.finishKey(base + i);
              if (i + 1 < n && chunk[i + 1] === COLON) {
                i++;
                state = S_VALUE;
                if (i + 1 < n && chunk[i + 1] === QUOTE) {
                  i++;
                  state = this.beginString();
                }
              }
            } else {
              state = this.afterValue();
              if (state === S_AFTER_VALUE && i + 2 < n && chunk[i + 1] === COMMA && chunk[i + 2] === QUOTE) {
                state = this.structural(state, COMMA, base + i + 1);
                i += 2;
                state = this.structural(state, QUOTE, base + i);
                this.strBytes = 0;
              }
            }
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
          // A string most often follows ',' or ':': start it without another turn of the loop.
          if ((state === S_KEY || state === S_VALUE) && i + 1 < n && chunk[i + 1] === QUOTE) {
            i++;
            state = this.structural(state, QUOTE, base + i);
          }
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
    this.releaseArena();
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
    this.releaseArena();
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
          if (this.frames[this.depth * FRAME + F_KIND] === OBJECT) return S_KEY;
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

  private beginString(): number {
    this.inKey = false;
    this.strBytes = 0;
    return S_STRING;
  }

  private beginValue(c: number, offset: number): number {
    switch (c) {
      case QUOTE:
        return this.beginString();
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
    const at = this.depth * FRAME + F_COUNT;
    const count = (this.frames[at] as number) + 1;
    if (count > this.maxKeys || ++this.totalKeys > this.maxTotalKeys) throw this.fail('keys', offset);
    this.frames[at] = count;
    this.inKey = true;
    this.keyStart = this.keyEnd;
    return S_STRING;
  }

  private countItem(offset: number): void {
    const at = this.depth * FRAME + F_COUNT;
    const count = (this.frames[at] as number) + 1;
    if (count > this.maxItems) throw this.fail('items', offset);
    this.frames[at] = count;
  }

  private open(kind: number, offset: number): void {
    const d = this.depth + 1;
    if (d > this.maxDepth) throw this.fail('depth', offset);
    this.depth = d;
    const f = d * FRAME;
    const frames = this.frames;
    frames[f + F_KIND] = kind;
    frames[f + F_COUNT] = 0;
    frames[f + F_ARENA] = this.keyEnd;
    frames[f + F_TABLE] = this.keyTop;
  }

  private close(kind: number, offset: number): number {
    const d = this.depth;
    const f = d * FRAME;
    const frames = this.frames;
    if (frames[f + F_KIND] !== kind) throw this.fail('syntax', offset);
    if (kind === OBJECT) {
      const table = frames[f + F_TABLE] as number;
      // Pop the object's keys; a Set is kept for the next large object at this depth, emptied.
      if (table >= 0) {
        this.keyTop = table;
        this.keyEnd = frames[f + F_ARENA] as number;
      } else (this.keySets as (Set<string> | undefined)[])[d]?.clear();
    }
    this.depth = d - 1;
    return this.afterValue();
  }

  /** The closing quote of a key: refuse reserved and repeated names, then expect ':'. */
  private finishKey(offset: number): number {
    const start = this.keyStart;
    const len = this.keyEnd - start;
    if ((len === 9 || len === 11) && this.isUnsafeKey(start, len)) throw this.fail('unsafe-key', offset);
    const f = this.depth * FRAME;
    const frames = this.frames;
    const table = frames[f + F_TABLE] as number;
    if (table >= 0 && (frames[f + F_COUNT] as number) <= SMALL_OBJECT_KEYS && len <= SMALL_KEY_BYTES) {
      if (this.repeatsKey(table, start, len)) throw this.fail('duplicate-key', offset);
      const top = this.keyTop;
      this.keyTable[top * 2] = start;
      this.keyTable[top * 2 + 1] = start + len;
      this.keyTop = top + 1;
      return S_COLON;
    }
    const keys =
      table >= 0 ? this.moveKeysToSet(table) : ((this.keySets as Set<string>[])[this.depth] as Set<string>);
    const key = this.keyString(this.keyStart, len);
    if (keys.has(key)) throw this.fail('duplicate-key', offset);
    keys.add(key);
    this.keyEnd = this.keyStart; // the Set holds the name now: drop its bytes
    return S_COLON;
  }

  private isUnsafeKey(start: number, len: number): boolean {
    const buf = this.keyBuf as Uint8Array;
    for (const name of UNSAFE_KEYS) {
      if (name.length !== len) continue;
      let k = 0;
      while (k < len && buf[start + k] === name[k]) k++;
      if (k === len) return true;
    }
    return false;
  }

  /** Whether the key at [start, start + len) equals one in the key table from index `from` on. */
  private repeatsKey(from: number, start: number, len: number): boolean {
    const buf = this.keyBuf as Uint8Array;
    const table = this.keyTable;
    for (let m = from; m < this.keyTop; m++) {
      const s = table[m * 2] as number;
      if ((table[m * 2 + 1] as number) - s !== len) continue;
      let k = 0;
      while (k < len && buf[s + k] === buf[start + k]) k++;
      if (k === len) return true;
    }
    return false;
  }

  /**
   * The object outgrew comparing bytes: its names so far go into a Set, and its arena bytes and
   * table entries are dropped. The key being read moves down to where they began.
   */
  private moveKeysToSet(from: number): Set<string> {
    const d = this.depth;
    const f = d * FRAME;
    this.keySets ??= [];
    const sets = this.keySets;
    let keys = sets[d];
    if (keys === undefined) {
      keys = new Set();
      sets[d] = keys;
    }
    const table = this.keyTable;
    for (let m = from; m < this.keyTop; m++) {
      const s = table[m * 2] as number;
      keys.add(this.keyString(s, (table[m * 2 + 1] as number) - s));
    }
    this.keyTop = from;
    const base = this.frames[f + F_ARENA] as number;
    const len = this.keyEnd - this.keyStart;
    if (len > 0) (this.keyBuf as Uint8Array).copyWithin(base, this.keyStart, this.keyEnd);
    this.keyStart = base;
    this.keyEnd = base + len;
    this.frames[f + F_TABLE] = -1;
    return keys;
  }

  /** A decoded key as a string; latin1 maps each byte to one char, an exact image of the UTF-8 bytes. */
  private keyString(start: number, len: number): string {
    if (len > KEY_CACHE_MAX_BYTES || this.totalKeys <= KEY_CACHE_AFTER) return this.newKeyString(start, len);
    const buf = this.keyBuf as Uint8Array;
    let hash = len;
    for (let k = 0; k < len; k++) hash = Math.imul(hash ^ (buf[start + k] as number), 0x01000193);
    const slot = (hash ^ (hash >>> 16)) & (KEY_CACHE_SLOTS - 1);
    this.keyCache ??= new Array<string | undefined>(KEY_CACHE_SLOTS);
    const cached = this.keyCache[slot];
    if (cached !== undefined && cached.length === len) {
      let k = 0;
      while (k < len && cached.charCodeAt(k) === buf[start + k]) k++;
      if (k === len) return cached;
    }
    const key = this.newKeyString(start, len);
    this.keyCache[slot] = key;
    return key;
  }

  private newKeyString(start: number, len: number): string {
    if (len === 0) return '';
    const buf = this.keyBuf as Uint8Array;
    if (len > SHORT_KEY_BYTES) return latin1Slice.call(buf, start, start + len);
    // Cheaper than a call into the Buffer binding, and V8 makes strings this short flat, not ropes.
    let key = '';
    for (let k = 0; k < len; k++) key += String.fromCharCode(buf[start + k] as number);
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
  // never longer than the raw one, so the arena never outgrows the keys' share of the body (+ 3).
  private reserveKey(extra: number): Uint8Array {
    const need = this.keyEnd + extra;
    const buf = this.keyBuf;
    if (buf !== undefined && need <= buf.length) return buf;
    if (buf === undefined && spareArena !== undefined && need <= ARENA_BYTES) {
      this.keyBuf = spareArena;
      spareArena = undefined;
      return this.keyBuf;
    }
    const grown = new Uint8Array(Math.max(need, buf === undefined ? ARENA_BYTES : buf.length * 2));
    if (buf !== undefined) grown.set(buf.subarray(0, this.keyEnd));
    this.keyBuf = grown;
    return grown;
  }

  /** Gives the arena back as the spare, emptied; the scanner reads no key after this. */
  private releaseArena(): void {
    const buf = this.keyBuf;
    if (buf === undefined) return;
    this.keyBuf = undefined;
    if (spareArena !== undefined || buf.length !== ARENA_BYTES) return;
    buf.fill(0);
    spareArena = buf;
  }

  /**
   * Copies the run of printable ASCII at chunk[from] into the key, stopping at `stop` (one byte
   * past the string limit, so a refused key never grows the arena further); returns where it ended.
   */
  private copyKeyRun(chunk: Uint8Array, from: number, stop: number): number {
    let buf = this.reserveKey(0);
    let len = this.keyEnd;
    let j = from;
    while (j < stop) {
      const b = chunk[j] as number;
      if (b < 0x20 || b === QUOTE || b === BACKSLASH || b >= 0x80) break;
      if (len === buf.length) {
        this.keyEnd = len;
        buf = this.reserveKey(1);
      }
      buf[len++] = b;
      j++;
    }
    this.keyEnd = len;
    return j;
  }

  private appendKeyByte(b: number): void {
    const buf = this.reserveKey(1);
    buf[this.keyEnd++] = b;
  }

  private appendKeyCodePoint(cp: number): void {
    const buf = this.reserveKey(4);
    let len = this.keyEnd;
    if (cp < 0x80) {
      buf[len++] = cp;
      this.keyEnd = len;
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
    this.keyEnd = len;
  }
}

/** Scans a whole body at once; throws JsonScanError on the first refusal. */
export function scanJson(body: Uint8Array, limits: JsonLimits): void {
  const scanner = new JsonScanner(limits);
  scanner.write(body);
  scanner.end();
}

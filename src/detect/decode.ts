/**
 * The bounded decoding pipeline: an attacker hides a payload behind encodings the upstream (or the
 * browser) will undo, so each value is inspected as sent and as decoded. Every step is a single
 * linear pass; the number of rounds and variants is fixed, whatever the input.
 */

const MAX_URL_ROUNDS = 3;
const MIN_BASE64 = 16;

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** One round of percent-decoding (also IIS "%uXXXX"); broken sequences stay as they are. */
export function percentDecode(s: string): string {
  if (s.indexOf('%') === -1) return s;
  const bytes: number[] = [];
  let out = '';
  const flush = (): void => {
    if (bytes.length) {
      // Overlong two-byte forms of ASCII (%c0%ae is ".", %c0%af "/") are invalid UTF-8 that some
      // decoders still accept: read them as the character they spell.
      for (let k = 0; k + 1 < bytes.length; k++) {
        const b = bytes[k] as number;
        const n = bytes[k + 1] as number;
        if ((b === 0xc0 || b === 0xc1) && n >= 0x80 && n <= 0xbf)
          bytes.splice(k, 2, ((b & 0x1f) << 6) | (n & 0x3f));
      }
      out += Buffer.from(bytes).toString('utf8');
      bytes.length = 0;
    }
  };
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 && i + 2 < s.length) {
      const a = hex(s.charCodeAt(i + 1));
      const b = hex(s.charCodeAt(i + 2));
      if (a >= 0 && b >= 0) {
        bytes.push(a * 16 + b);
        i += 2;
        continue;
      }
      const u = s.charCodeAt(i + 1);
      if ((u === 117 || u === 85) && i + 5 < s.length) {
        const h1 = hex(s.charCodeAt(i + 2));
        const h2 = hex(s.charCodeAt(i + 3));
        const h3 = hex(s.charCodeAt(i + 4));
        const h4 = hex(s.charCodeAt(i + 5));
        if (h1 >= 0 && h2 >= 0 && h3 >= 0 && h4 >= 0) {
          flush();
          out += String.fromCharCode(((h1 * 16 + h2) * 16 + h3) * 16 + h4);
          i += 5;
          continue;
        }
      }
    }
    flush();
    out += s[i];
  }
  flush();
  return out;
}

const NAMED: Record<string, string> = {
  lt: '<',
  gt: '>',
  amp: '&',
  quot: '"',
  apos: "'",
  sol: '/',
  bsol: '\\',
  colon: ':',
  semi: ';',
  lpar: '(',
  rpar: ')',
  equals: '=',
  grave: '`',
  tab: '\t',
  newline: '\n',
  nbsp: ' ',
  lcub: '{',
  rcub: '}',
  lsqb: '[',
  rsqb: ']',
  period: '.',
  comma: ',',
  excl: '!',
  num: '#',
  percnt: '%',
  plus: '+',
  dollar: '$',
  ast: '*',
};

/** HTML character references (&lt; &#60; &#x3c;, with or without the ";" browsers forgive). */
export function htmlDecode(s: string): string {
  if (s.indexOf('&') === -1) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 38) {
      out += s[i];
      continue;
    }
    let j = i + 1;
    if (s.charCodeAt(j) === 35) {
      j++;
      const isHex = s.charCodeAt(j) === 120 || s.charCodeAt(j) === 88;
      if (isHex) j++;
      let v = 0;
      let digits = 0;
      while (j < s.length && digits < 8) {
        const d = isHex ? hex(s.charCodeAt(j)) : s.charCodeAt(j) - 48;
        if (d < 0 || d > (isHex ? 15 : 9)) break;
        v = v * (isHex ? 16 : 10) + d;
        digits++;
        j++;
      }
      if (digits > 0 && v <= 0x10ffff) {
        out += String.fromCodePoint(v);
        i = s.charCodeAt(j) === 59 ? j : j - 1;
        continue;
      }
    } else {
      let name = '';
      while (j < s.length && name.length < 10) {
        const d = s.charCodeAt(j);
        if (!((d >= 65 && d <= 90) || (d >= 97 && d <= 122))) break;
        name += s[j];
        j++;
      }
      const v = NAMED[name.toLowerCase()];
      if (v !== undefined) {
        out += v;
        i = s.charCodeAt(j) === 59 ? j : j - 1;
        continue;
      }
    }
    out += '&';
  }
  return out;
}

/** JavaScript / JSON / CSS escapes: \uXXXX, \u{X…}, \xXX, \NNN octal, and \n \t \r \0; others drop the "\". */
export function jsUnescape(s: string): string {
  if (s.indexOf('\\') === -1) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 92 || i + 1 >= s.length) {
      out += s[i];
      continue;
    }
    const n = s[i + 1] as string;
    if (n === 'u' && s[i + 2] === '{') {
      const end = s.indexOf('}', i + 3);
      const v = end > i + 3 && end - i < 12 ? Number.parseInt(s.slice(i + 3, end), 16) : Number.NaN;
      if (Number.isFinite(v) && v <= 0x10ffff) {
        out += String.fromCodePoint(v);
        i = end;
        continue;
      }
    }
    if (n === 'u' && i + 5 < s.length) {
      const v = hex4(s, i + 2);
      if (v >= 0) {
        out += String.fromCharCode(v);
        i += 5;
        continue;
      }
    }
    if (n === 'x' && i + 3 < s.length) {
      const a = hex(s.charCodeAt(i + 2));
      const b = hex(s.charCodeAt(i + 3));
      if (a >= 0 && b >= 0) {
        out += String.fromCharCode(a * 16 + b);
        i += 3;
        continue;
      }
    }
    if (n >= '0' && n <= '7') {
      let v = 0;
      let k = i + 1;
      while (k < s.length && k < i + 4 && s.charCodeAt(k) >= 48 && s.charCodeAt(k) <= 55)
        v = v * 8 + (s.charCodeAt(k++) - 48);
      out += String.fromCharCode(v);
      i = k - 1;
      continue;
    }
    out += n === 'n' ? '\n' : n === 't' ? '\t' : n === 'r' ? '\r' : n;
    i++;
  }
  return out;
}

function hex4(s: string, at: number): number {
  let v = 0;
  for (let k = at; k < at + 4; k++) {
    const d = hex(s.charCodeAt(k));
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/** SQL comments become a space and runs of whitespace one space ("UN/**\/ION" tricks, tabs, newlines). */
export function compact(s: string): string {
  let out = '';
  let space = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 47 && s.charCodeAt(i + 1) === 42) {
      const end = s.indexOf('*/', i + 2);
      i = end === -1 ? s.length : end + 1;
      space = true;
      continue;
    }
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12 || c === 160) {
      space = true;
      continue;
    }
    if (space && out.length > 0) out += ' ';
    space = false;
    out += s[i];
  }
  return out;
}

function isBase64Char(c: number): boolean {
  return (
    (c >= 65 && c <= 90) ||
    (c >= 97 && c <= 122) ||
    (c >= 48 && c <= 57) ||
    c === 43 ||
    c === 47 ||
    c === 45 ||
    c === 95
  );
}

/** Base64 (or base64url) runs of 16+ characters that decode to printable text. */
export function base64Segments(s: string, max = 2): string[] {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i <= s.length && out.length < max; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0;
    if (i < s.length && isBase64Char(c)) {
      if (start === -1) start = i;
      continue;
    }
    if (start !== -1 && i - start >= MIN_BASE64 && (looksEncoded(s, start, i) || s.charCodeAt(i) === 61)) {
      const text = Buffer.from(s.slice(start, i), 'base64').toString('latin1');
      if (printable(text)) out.push(text);
    }
    start = -1;
  }
  return out;
}

/** Base64 of text mixes upper and lower case with digits or "+/": a long plain word does not. */
function looksEncoded(s: string, from: number, to: number): boolean {
  let upper = false;
  let lower = false;
  let other = false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) upper = true;
    else if (c >= 97 && c <= 122) lower = true;
    else other = true;
    if (upper && lower && other) return true;
  }
  return false;
}

function printable(t: string): boolean {
  if (t.length < 8) return false;
  let ok = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if ((c >= 32 && c < 127) || c === 9 || c === 10 || c === 13) ok++;
  }
  return ok / t.length > 0.95;
}

/**
 * The forms of one value the detectors see: as sent; percent-decoded (up to three rounds), HTML
 * and JS/JSON escapes undone and NFKC-normalized (full-width "＜" is "<"); that with SQL comments
 * and whitespace runs folded; and printable base64 segments (and their JS escapes undone).
 * Duplicates are dropped.
 */
export function variants(value: string): string[] {
  const out: string[] = [];
  out.length = decodeInto(value, out);
  return out;
}

// Character classes for the one pass that decides which decoding steps can change a value.
const B64 = 1;
/** "%", "&", "\\", "*": percent, entity, escape or comment. */
const SPECIAL = 2;
/** Control characters (tabs, newlines) that the whitespace fold changes. */
const CONTROL = 4;
const SPACE = 8;
const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++)
  CLASS[c] = isBase64Char(c)
    ? B64
    : c === 37 || c === 38 || c === 92 || c === 42
      ? SPECIAL
      : c < 32
        ? CONTROL
        : 0;
CLASS[32] = SPACE;
// Single character classes (and one fixed-length run): linear, nothing to backtrack. MAY_DECODE is
// any character but printable ASCII other than "%&*\\" (control, DEL, wide), or a double space.
const MAY_DECODE = /[^ -$'-)+-[\]-~]| {2}/;
const BASE64_RUN = /[A-Za-z0-9+/_-]{16}/;

/**
 * variants() into a caller's array: writes the forms from index 0 and returns how many there are
 * (the array is not truncated), so the engine allocates nothing for the common plain value.
 */
export function decodeInto(value: string, out: string[]): number {
  out[0] = value;
  // The engine's native regex scan is several times faster than a charCode loop, and most values
  // hold nothing to decode: no "%&\\*", no control or wide character, no double space, no base64 run.
  if (!MAY_DECODE.test(value)) {
    if (value.length < MIN_BASE64 || !BASE64_RUN.test(value)) return 1;
    // Nothing to decode but a base64 run (ids, paths, tokens): only the segments can differ.
    return pushSegments(value, out, 1);
  }
  // One pass decides which steps can change anything: most values are plain text.
  let flags = 0;
  let wide = false;
  // Base64 needs a run of MIN_BASE64 base64 characters; prose and ids rarely have one.
  let run = 0;
  let longRun = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 128) {
      wide = true;
      run = 0;
      continue;
    }
    const k = CLASS[c] as number;
    if (k === B64) {
      if (++run >= MIN_BASE64) longRun = true;
      continue;
    }
    run = 0;
    if (k === SPACE) {
      if (value.charCodeAt(i + 1) === 32) flags |= CONTROL;
    } else flags |= k;
  }
  if (flags === 0 && !wide && !longRun) return 1;
  const special = (flags & SPECIAL) !== 0;
  let n = 1;
  let v = value;
  if (special) {
    for (let round = 0; round < MAX_URL_ROUNDS; round++) {
      const next = percentDecode(v);
      if (next === v) break;
      v = next;
    }
    v = jsUnescape(htmlDecode(v));
  }
  if (wide || v !== value) v = v.normalize('NFKC');
  if (v !== value) out[n++] = v;
  if (flags !== 0 || v !== value) {
    const folded = compact(v);
    if (folded !== v && folded !== value) out[n++] = folded;
  }
  // Decoding can only create a base64 run where "%", "&", "\\" or a wide character stood.
  if (v.length >= MIN_BASE64 && (longRun || v !== value)) n = pushSegments(v, out, n);
  return n;
}

/** The printable base64 segments of v (and their JS escapes undone) from out[n]; the new count. */
function pushSegments(v: string, out: string[], n: number): number {
  for (const b of base64Segments(v)) {
    out[n++] = b;
    // A base64 segment often carries JSON or JS whose escapes hide the payload once more.
    const u = jsUnescape(b);
    if (u !== b) out[n++] = u;
  }
  return n;
}

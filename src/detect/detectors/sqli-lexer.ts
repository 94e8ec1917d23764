/**
 * A small SQL tokenizer for injection detection: one linear pass over a value (or the part of it
 * after a quote that would close an SQL string), producing token classes. It knows the lexical
 * rules every major dialect shares (quoted strings with doubled or backslashed quotes, quoted
 * identifiers, numbers in decimal, hex and binary, `--`, `#` and `/* *\/` comments, MySQL's
 * executable `/*! … *\/` comments) and classifies words by a keyword table. No regular expressions.
 */

/** Token classes; one character each so a run of tokens reads as a fingerprint ("s&1o1c"). */
export const T = {
  /** Closed string literal. */
  STRING: 's',
  /** String literal that runs to the end of the value. */
  OPEN_STRING: 'S',
  NUMBER: '1',
  /** Plain identifier (unknown word, `backticked` or [bracketed] name). */
  WORD: 'n',
  /** Clause keyword: FROM, WHERE, ORDER, BY, LIMIT, INTO, AS, CASE… */
  KEYWORD: 'k',
  /** Statement keyword: SELECT, INSERT, DROP, EXEC… */
  STATEMENT: 'E',
  /** UNION, EXCEPT, INTERSECT. */
  UNION: 'U',
  /** AND, OR, XOR, NOT, &&, ||. */
  LOGIC: '&',
  /** Comparison: = <> != < > <= >= <=> LIKE REGEXP IS IN BETWEEN… */
  COMPARE: 'o',
  /** Arithmetic and other binary operators: + - * / % ^ | & ~ :: DIV MOD COLLATE… */
  ARITH: '+',
  /** TRUE, FALSE, NULL. */
  LITERAL: 'b',
  /** @var, @@system_var. */
  VARIABLE: 'v',
  /** A word directly followed by "(" (function call or keyword with parenthesis). */
  CALL: 'f',
  OPEN: '(',
  CLOSE: ')',
  COMMA: ',',
  SEMI: ';',
  DOT: '.',
  /** Comment: --, #, /* *\/. */
  COMMENT: 'c',
  /** Anything else (backslash, non-ASCII symbols, braces). */
  OTHER: '?',
} as const;
export type TokenClass = (typeof T)[keyof typeof T];

export interface Token {
  readonly cls: TokenClass;
  /** Lower-cased text for words, keywords, calls, operators; empty for strings and numbers. */
  readonly text: string;
  readonly start: number;
  readonly end: number;
  /** Whitespace or a comment came between this token and the one before it. */
  readonly spaced: boolean;
}

const KEYWORDS = new Map<string, TokenClass>();
function classify(cls: TokenClass, words: string): void {
  for (const w of words.split(' ')) KEYWORDS.set(w, cls);
}
classify(T.LOGIC, 'and or xor not');
classify(
  T.COMPARE,
  'like rlike regexp glob is in between ilike similar sounds notnull isnull match against overlaps',
);
classify(T.ARITH, 'div mod collate escape');
classify(T.LITERAL, 'null true false unknown');
classify(T.UNION, 'union except intersect');
classify(
  T.STATEMENT,
  'select insert update delete drop create alter truncate exec execute declare shutdown waitfor grant ' +
    'revoke rename merge handler call prepare deallocate',
);
classify(
  T.KEYWORD,
  'from where group order by having limit offset into values table as on join inner outer cross ' +
    'natural using case when then else end if exists all any some distinct top procedure analyse ' +
    'outfile dumpfile delay time asc desc set begin tran transaction commit rollback database ' +
    'schema column index view trigger function returns return with recursive fetch next rows only ' +
    'nocase binary immediate infile load data character varchar int integer bigint text bool boolean ' +
    'real double precision float nvarchar char cast convert user',
);

/** Every keyword of the table (lower case), for gates that look words up without tokenizing. */
export function keywords(): IterableIterator<string> {
  return KEYWORDS.keys();
}

/** Is the word a keyword? Returns its class or undefined. Words longer than 16 are never keywords. */
export function keywordClass(lower: string): TokenClass | undefined {
  return lower.length > 16 ? undefined : KEYWORDS.get(lower);
}

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 160 || c === 0x2028 || c === 0x2029 || c === 0xfeff;
}

function isWordStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 36 || (c >= 0xc0 && c !== 0xd7);
}

function isWordPart(c: number): boolean {
  return isWordStart(c) || (c >= 48 && c <= 57);
}

function hasNonAscii(s: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (s.charCodeAt(k) >= 128) return true;
  return false;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

/** The operator at i (one to three characters) as [class, length], or undefined. */
function operatorAt(s: string, i: number): TokenClass | undefined {
  const c = s.charCodeAt(i);
  const n = s.charCodeAt(i + 1);
  opLength = 2;
  switch (c) {
    case 60: // <
      if (n === 61 && s.charCodeAt(i + 2) === 62) {
        opLength = 3;
        return T.COMPARE; // <=>
      }
      if (n === 62 || n === 61) return T.COMPARE; // <> <=
      if (n === 60) return T.ARITH; // <<
      break;
    case 62: // >
      if (n === 61) return T.COMPARE;
      if (n === 62) return T.ARITH;
      break;
    case 33: // !
      if (n === 61 || n === 60 || n === 62) return T.COMPARE;
      if (n === 126) {
        if (s.charCodeAt(i + 2) === 42) opLength = 3;
        return T.COMPARE; // !~ !~*
      }
      break;
    case 61: // =
      if (n === 61) return T.COMPARE;
      break;
    case 126: // ~
      if (n === 42) return T.COMPARE;
      opLength = 1;
      return T.COMPARE; // PostgreSQL regex match
    case 124: // |
      if (n === 124) return T.LOGIC;
      break;
    case 38: // &
      if (n === 38) return T.LOGIC;
      break;
    case 58: // :
      if (n === 58) return T.ARITH;
      if (n === 61) return T.COMPARE;
      break;
    case 45: // -
      if (n === 62) {
        if (s.charCodeAt(i + 2) === 62) opLength = 3;
        return T.ARITH; // -> ->>
      }
      break;
  }
  opLength = 1;
  switch (c) {
    case 61: // =
    case 60: // <
    case 62: // >
      return T.COMPARE;
    case 33: // !
      return T.LOGIC;
    case 43: // +
    case 45: // -
    case 42: // *
    case 47: // /
    case 37: // %
    case 94: // ^
    case 124: // |
    case 38: // &
    case 58: // :
      return T.ARITH;
    case 40:
      return T.OPEN;
    case 41:
      return T.CLOSE;
    case 44:
      return T.COMMA;
    case 59:
      return T.SEMI;
    case 46:
      return T.DOT;
    default:
      return undefined;
  }
}
let opLength = 1;

/** End of a quoted run opened at `from` (the index after the opening quote), or -1 if it never closes. */
function quoteEnd(s: string, from: number, q: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92 && q !== 96) {
      i++; // backslash escapes the next character (MySQL, PostgreSQL E'' strings)
      continue;
    }
    if (c === q) {
      if (s.charCodeAt(i + 1) === q) {
        i++; // doubled quote inside the literal
        continue;
      }
      return i;
    }
  }
  return -1;
}

/** Index of character c in s within `limit` characters from `from`, or -1 (bounded: no rescans). */
function boundedIndexOf(s: string, c: number, from: number, limit: number): number {
  const end = Math.min(s.length, from + limit);
  for (let k = from; k < end; k++) if (s.charCodeAt(k) === c) return k;
  return -1;
}

/** Skips whitespace and plain comments from i; returns the next index (used to see "name (" as a call). */
function skipBlank(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (isSpace(c)) i++;
    else if (c === 47 && s.charCodeAt(i + 1) === 42 && s.charCodeAt(i + 2) !== 33) {
      const end = s.indexOf('*/', i + 2);
      if (end === -1) return s.length;
      i = end + 2;
    } else return i;
  }
  return i;
}

/**
 * Tokenizes s from `start`, at most `max` tokens. Linear: every branch advances i, and the look-ahead
 * for "(" after a word stops at the first non-blank character.
 */
export function tokenize(s: string, start = 0, max = 4096): Token[] {
  const out: Token[] = [];
  let spaced = false;
  let i = start;
  const push = (cls: TokenClass, end: number, text = ''): void => {
    out.push({ cls, text, start: i, end, spaced });
    spaced = false;
    i = end;
  };
  while (i < s.length && out.length < max) {
    const c = s.charCodeAt(i);
    if (isSpace(c)) {
      spaced = true;
      i++;
      continue;
    }
    // Comments.
    if (c === 47 && s.charCodeAt(i + 1) === 42) {
      if (s.charCodeAt(i + 2) === 33) {
        // MySQL executable comment: its body is code; skip "/*!" and an optional version number.
        let j = i + 3;
        while (j < s.length && j < i + 9 && isDigit(s.charCodeAt(j))) j++;
        spaced = true;
        i = j;
        continue;
      }
      const end = s.indexOf('*/', i + 2);
      if (end === -1) {
        push(T.COMMENT, s.length, '/*');
        continue;
      }
      // A closed comment is a blank ("UN/**/ION" is folded by the decoder; "or/**/1=1" here).
      spaced = true;
      i = end + 2;
      continue;
    }
    if (c === 42 && s.charCodeAt(i + 1) === 47) {
      // The end of an executable comment (or a stray one): blank.
      spaced = true;
      i += 2;
      continue;
    }
    if ((c === 45 && s.charCodeAt(i + 1) === 45) || c === 35) {
      let end = i + (c === 35 ? 1 : 2);
      while (end < s.length && s.charCodeAt(end) !== 10) end++;
      push(T.COMMENT, end, c === 35 ? '#' : '--');
      continue;
    }
    // Strings and quoted identifiers.
    if (c === 39 || c === 34 || c === 96) {
      const end = quoteEnd(s, i + 1, c);
      if (c === 96) {
        push(T.WORD, end === -1 ? s.length : end + 1, '`');
        continue;
      }
      if (end === -1) push(T.OPEN_STRING, s.length);
      else push(T.STRING, end + 1);
      continue;
    }
    // Prefixed strings: N'…', X'…', B'…', E'…', U&'…'.
    if (
      (c === 78 || c === 110 || c === 88 || c === 120 || c === 66 || c === 98 || c === 69 || c === 101) &&
      s.charCodeAt(i + 1) === 39
    ) {
      const end = quoteEnd(s, i + 2, 39);
      if (end === -1) push(T.OPEN_STRING, s.length);
      else push(T.STRING, end + 1);
      continue;
    }
    if (c === 91) {
      // [identifier] (SQL Server); a lone "[" is punctuation.
      const close = boundedIndexOf(s, 93, i + 1, 130);
      if (close !== -1) {
        push(T.WORD, close + 1, '[');
        continue;
      }
      push(T.OTHER, i + 1, '[');
      continue;
    }
    // Numbers.
    if (isDigit(c) || (c === 46 && isDigit(s.charCodeAt(i + 1)))) {
      let j = i;
      const n = s.charCodeAt(i + 1);
      if (c === 48 && (n === 120 || n === 88) && isHex(s.charCodeAt(i + 2))) {
        j = i + 2;
        while (j < s.length && isHex(s.charCodeAt(j))) j++;
      } else if (c === 48 && (n === 98 || n === 66) && (s[i + 2] === '0' || s[i + 2] === '1')) {
        j = i + 2;
        while (j < s.length && (s[j] === '0' || s[j] === '1')) j++;
      } else {
        while (j < s.length && isDigit(s.charCodeAt(j))) j++;
        if (s.charCodeAt(j) === 46) {
          j++;
          while (j < s.length && isDigit(s.charCodeAt(j))) j++;
        }
        const e = s.charCodeAt(j);
        if (e === 101 || e === 69) {
          let k = j + 1;
          if (s[k] === '+' || s[k] === '-') k++;
          if (isDigit(s.charCodeAt(k))) {
            while (k < s.length && isDigit(s.charCodeAt(k))) k++;
            j = k;
          }
        }
      }
      push(T.NUMBER, j, s.slice(i, Math.min(j, i + 24)));
      continue;
    }
    // Words.
    if (isWordStart(c)) {
      let j = i + 1;
      let upper = c >= 65 && c <= 90;
      for (; j < s.length; j++) {
        const d = s.charCodeAt(j);
        if (!isWordPart(d)) break;
        if (d >= 65 && d <= 90) upper = true;
      }
      // Keywords, function and catalog names are short; longer words are never looked up.
      // Only a word with capitals (or non-ASCII letters, which lower-casing may change) is copied twice.
      const text =
        j - i > 32 ? '' : upper || hasNonAscii(s, i, j) ? s.slice(i, j).toLowerCase() : s.slice(i, j);
      const kw = keywordClass(text);
      // Operators and statement words keep their class before "(": "and(", "in (", "select(", "union(".
      const keepsClass = kw !== undefined && kw !== T.KEYWORD;
      if (!keepsClass && s.charCodeAt(skipBlank(s, j)) === 40) {
        push(T.CALL, j, text);
        continue;
      }
      push(kw ?? T.WORD, j, text);
      continue;
    }
    if (c === 64) {
      let j = i + 1;
      if (s.charCodeAt(j) === 64) j++;
      while (j < s.length && isWordPart(s.charCodeAt(j))) j++;
      push(T.VARIABLE, j, s.slice(i, Math.min(j, i + 40)).toLowerCase());
      continue;
    }
    // PostgreSQL's JSON key tests after a literal: '{"a":1}' ? 'a', ?| and ?& (elsewhere "?" is punctuation).
    if (c === 63 && out.length > 0 && (out[out.length - 1] as Token).cls === T.STRING) {
      const n = s.charCodeAt(i + 1);
      push(T.COMPARE, i + (n === 124 || n === 38 ? 2 : 1), n === 124 ? '?|' : n === 38 ? '?&' : '?');
      continue;
    }
    // Operators and punctuation.
    const cls = operatorAt(s, i);
    if (cls === undefined) push(T.OTHER, i + 1, s[i] as string);
    else push(cls, i + opLength, s.slice(i, i + opLength));
  }
  return out;
}

/** The token classes as a string, e.g. "s&1o1c" (for tests and debugging). */
export function fingerprint(tokens: readonly Token[], max = 12): string {
  let out = '';
  for (let k = 0; k < tokens.length && k < max; k++) out += (tokens[k] as Token).cls;
  return out;
}

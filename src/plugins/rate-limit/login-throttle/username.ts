/**
 * The username a login request names, read from its body: JSON (a top-level member or a JSON
 * pointer) or a form (a field name). Never throws on client input: what cannot be read is no
 * username, and the request is then counted by its address only.
 */

/** Reads the usernames from a parsed body: [] when there is none to read. */
export interface UsernameField {
  /** JSON pointer tokens (a top-level member is one token). */
  readonly tokens: readonly string[];
  /** The form field name: the field itself, or the last token of a pointer. */
  readonly formName: string;
}

/** Compiles `usernameField`: a top-level member name, or an RFC 6901 JSON pointer ("/user/email"). */
export function compileField(field: string): UsernameField {
  if (!field.startsWith('/')) return { tokens: [field], formName: field };
  const tokens = field
    .slice(1)
    .split('/')
    .map((t) => {
      for (let i = 0; i < t.length; i++) {
        if (t.charCodeAt(i) === 0x7e && t[i + 1] !== '0' && t[i + 1] !== '1')
          throw new Error(`"${field}" is not a JSON pointer: "~" must be followed by 0 or 1`);
      }
      return t.replaceAll('~1', '/').replaceAll('~0', '~');
    });
  if (tokens.some((t) => t === '')) throw new Error(`"${field}" names an empty member`);
  return { tokens, formName: tokens[tokens.length - 1] as string };
}

// Characters a comparison in an accent- and ignorable-insensitive collation (MySQL's default
// utf8mb4_0900_ai_ci, many directory services) does not see: combining marks after decomposition,
// and default-ignorable code points (zero-width space and joiners, soft hyphen, word joiner…).
const MARKS = /\p{M}/gu;
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/**
 * One counter per account whatever the spelling: compatibility-decomposed (full-width "ａｌｉｃｅ"
 * is "alice"), accents and other combining marks dropped ("alicé", "àlice" are "alice"),
 * default-ignorable characters dropped ("ali\u200bce"), lower-cased, trimmed. Coarser than most
 * account stores compare, on purpose: two spellings that may be one account share a throttle.
 */
export function normaliseUsername(raw: string): string {
  return raw.normalize('NFKD').replace(MARKS, '').replace(IGNORABLE, '').toLowerCase().trim();
}

/**
 * Every string value at `tokens` in a JSON text that JSON.parse accepted, in document order. A
 * repeated member name is kept each time ({"username": "a", "username": "b"} gives both): parsers
 * disagree on which one wins, so the throttle counts all of them. One linear pass; own members only,
 * as written in the text ("__proto__" is just a name).
 */
function stringsAt(text: string, tokens: readonly string[]): string[] {
  const out: string[] = [];
  const want = tokens.length;
  // Per open container: is it an array, its current member name or index, does the path from the
  // root to that member still match `tokens`, and (objects) is a member name expected next.
  const isArray: boolean[] = [];
  const key: string[] = [];
  const matches: boolean[] = [];
  const expectKey: boolean[] = [];
  const n = text.length;
  let i = 0;
  const setKey = (d: number, k: string): void => {
    key[d] = k;
    matches[d] = d < want && (d === 0 || (matches[d - 1] as boolean)) && tokens[d] === k;
  };
  const stringEnd = (from: number): number => {
    let j = from + 1;
    while (j < n) {
      const c = text.charCodeAt(j);
      if (c === 0x22) return j;
      j += c === 0x5c ? 2 : 1;
    }
    return n;
  };
  const decode = (from: number, end: number): string => {
    const raw = text.slice(from + 1, end);
    return raw.includes('\\') ? (JSON.parse(text.slice(from, end + 1)) as string) : raw;
  };
  while (i < n) {
    const c = text.charCodeAt(i);
    const depth = isArray.length;
    if (c === 0x7b || c === 0x5b) {
      // { or [
      const array = c === 0x5b;
      isArray.push(array);
      expectKey.push(!array);
      key.push('');
      matches.push(false);
      if (array) setKey(depth, '0');
      i++;
    } else if (c === 0x7d || c === 0x5d) {
      isArray.pop();
      expectKey.pop();
      key.pop();
      matches.pop();
      i++;
    } else if (c === 0x2c) {
      // ,
      const d = depth - 1;
      if (d >= 0) {
        if (isArray[d]) setKey(d, String(Number(key[d]) + 1));
        else expectKey[d] = true;
      }
      i++;
    } else if (c === 0x22) {
      const end = stringEnd(i);
      const d = depth - 1;
      if (d >= 0 && expectKey[d]) {
        expectKey[d] = false;
        // Only names on the way to `tokens` are decoded.
        setKey(d, d < want && (d === 0 || matches[d - 1]) ? decode(i, end) : '');
      } else if (d === want - 1 && matches[d]) out.push(decode(i, end));
      i = end + 1;
    } else i++;
  }
  return out;
}

/** Lower-case media type without parameters ("application/json"). */
export function mediaTypeOf(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

export function isJson(mediaType: string): boolean {
  return mediaType === 'application/json' || mediaType.endsWith('+json');
}

export const FORM = 'application/x-www-form-urlencoded';

/**
 * The normalised usernames a body names: none (missing, not a string, empty, unparsable, another
 * media type), or one — two for a form field or JSON member repeated with different values (servers
 * read the first or the last: both are counted, so a repeat cannot dodge the count).
 */
export function usernamesIn(field: UsernameField, mediaType: string, body: Buffer): string[] {
  if (body.length === 0) return [];
  const out: string[] = [];
  const add = (raw: unknown): void => {
    if (typeof raw !== 'string') return;
    const name = normaliseUsername(raw);
    if (name !== '' && !out.includes(name)) out.push(name);
  };
  try {
    if (isJson(mediaType)) {
      // A UTF-8 byte order mark is accepted by many JSON readers (body-parser, Python's json.loads
      // on bytes): skip it here too, or the username would hide behind three bytes. JSON in UTF-16
      // or UTF-32 (a BOM of FE FF / FF FE, or NUL bytes) is decoded as such.
      const text = decodeJson(body);
      // Well-formed first: the walk below trusts the syntax. Not JSON: no username.
      JSON.parse(text);
      const values = stringsAt(text, field.tokens);
      if (values.length > 0) {
        add(values[0]);
        add(values[values.length - 1]);
      }
    } else if (mediaType === FORM) {
      const values = new URLSearchParams(body.toString('utf8')).getAll(field.formName);
      if (values.length > 0) {
        add(values[0]);
        add(values[values.length - 1]);
      }
    }
  } catch {
    // Not JSON after all: no username; the address still counts.
    return [];
  }
  return out;
}

/** A JSON body as text: UTF-8 (BOM skipped), or UTF-16 LE/BE when its BOM or NUL pattern says so. */
function decodeJson(body: Buffer): string {
  if (body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf)
    return body.subarray(3).toString('utf8');
  const b0 = body[0] ?? 1;
  const b1 = body[1] ?? 1;
  if ((b0 === 0xff && b1 === 0xfe) || (b0 !== 0 && b1 === 0 && body.length >= 2))
    return body.subarray(b0 === 0xff ? 2 : 0).toString('utf16le');
  if ((b0 === 0xfe && b1 === 0xff) || (b0 === 0 && b1 !== 0 && body.length >= 2)) {
    const be = Buffer.from(body.subarray(b0 === 0xfe ? 2 : 0));
    be.swap16();
    return be.toString('utf16le');
  }
  return body.toString('utf8');
}

/**
 * A small, strict parser and serializer for the part of Structured Field Values (RFC 8941) that
 * HTTP Message Signatures need: dictionaries, inner lists, parameters and the bare item types
 * (integer, decimal, string, token, byte sequence, boolean).
 *
 * Stricter than RFC 8941 on purpose, because the input is hostile and the result is security
 * relevant: a duplicated dictionary key or parameter is an error (RFC 8941 keeps the last one,
 * which lets two parties read one header differently), and every size is bounded. The parser is
 * a single left-to-right pass over the string: linear time, no regular expressions.
 */

export type BareItem =
  | { readonly type: 'integer'; readonly value: number }
  | { readonly type: 'decimal'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'token'; readonly value: string }
  | { readonly type: 'bytes'; readonly value: Buffer }
  | { readonly type: 'boolean'; readonly value: boolean };

/** Parameters in order of appearance; keys are unique. */
export type Params = ReadonlyMap<string, BareItem>;

export interface Item {
  readonly kind: 'item';
  readonly value: BareItem;
  readonly params: Params;
}

export interface InnerList {
  readonly kind: 'inner-list';
  readonly items: readonly Item[];
  readonly params: Params;
}

export type Member = Item | InnerList;

/** Members in order of appearance; keys are unique. */
export type Dictionary = ReadonlyMap<string, Member>;

export interface Limits {
  /** Longest input accepted, in characters. */
  readonly maxLength: number;
  /** Most dictionary members. */
  readonly maxMembers: number;
  /** Most items in one inner list. */
  readonly maxInnerItems: number;
  /** Most parameters on one item or inner list. */
  readonly maxParams: number;
  /** Longest key (dictionary key or parameter name). */
  readonly maxKeyLength: number;
}

export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxLength: 8192,
  maxMembers: 16,
  maxInnerItems: 64,
  maxParams: 16,
  maxKeyLength: 64,
});

/** Input that is not a valid (or acceptably small) structured field. The message never echoes input. */
export class StructuredFieldError extends Error {
  override name = 'StructuredFieldError';
}

const fail = (what: string): never => {
  throw new StructuredFieldError(what);
};

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isLcAlpha = (c: number): boolean => c >= 97 && c <= 122;
const isAlpha = (c: number): boolean => (c >= 65 && c <= 90) || isLcAlpha(c);
/** tchar of RFC 9110 §5.6.2. */
function isTchar(c: number): boolean {
  if (isAlpha(c) || isDigit(c)) return true;
  // ! # $ % & ' * + - . ^ _ ` | ~
  return (
    c === 33 ||
    (c >= 35 && c <= 39) ||
    c === 42 ||
    c === 43 ||
    c === 45 ||
    c === 46 ||
    c === 94 ||
    c === 95 ||
    c === 96 ||
    c === 124 ||
    c === 126
  );
}
const isBase64Char = (c: number): boolean => isAlpha(c) || isDigit(c) || c === 43 || c === 47;

class Parser {
  pos = 0;
  constructor(
    readonly s: string,
    readonly limits: Limits,
  ) {}

  peek(): number {
    return this.pos < this.s.length ? this.s.charCodeAt(this.pos) : -1;
  }

  skipSP(): void {
    while (this.peek() === 32) this.pos++;
  }

  /** OWS: SP or HTAB. */
  skipOWS(): void {
    for (let c = this.peek(); c === 32 || c === 9; c = this.peek()) this.pos++;
  }

  atEnd(): boolean {
    return this.pos >= this.s.length;
  }

  key(): string {
    const start = this.pos;
    const first = this.peek();
    if (!isLcAlpha(first) && first !== 42) fail('a key must start with a lower-case letter or "*"');
    this.pos++;
    for (;;) {
      const c = this.peek();
      if (isLcAlpha(c) || isDigit(c) || c === 95 || c === 45 || c === 46 || c === 42) this.pos++;
      else break;
      if (this.pos - start > this.limits.maxKeyLength) fail('key too long');
    }
    return this.s.slice(start, this.pos);
  }

  params(): Params {
    const params = new Map<string, BareItem>();
    while (this.peek() === 59) {
      this.pos++;
      this.skipSP();
      const k = this.key();
      let value: BareItem = { type: 'boolean', value: true };
      if (this.peek() === 61) {
        this.pos++;
        value = this.bareItem();
      }
      if (params.has(k)) fail('duplicate parameter');
      if (params.size >= this.limits.maxParams) fail('too many parameters');
      params.set(k, value);
    }
    return params;
  }

  item(): Item {
    const value = this.bareItem();
    return { kind: 'item', value, params: this.params() };
  }

  innerList(): InnerList {
    // Caller saw "(".
    this.pos++;
    const items: Item[] = [];
    for (;;) {
      this.skipSP();
      if (this.peek() === 41) {
        this.pos++;
        return { kind: 'inner-list', items, params: this.params() };
      }
      if (items.length >= this.limits.maxInnerItems) fail('inner list too long');
      items.push(this.item());
      const c = this.peek();
      if (c !== 32 && c !== 41) fail('inner list items must be separated by spaces');
    }
  }

  itemOrInnerList(): Member {
    return this.peek() === 40 ? this.innerList() : this.item();
  }

  bareItem(): BareItem {
    const c = this.peek();
    if (c === 45 || isDigit(c)) return this.number();
    if (c === 34) return this.string();
    if (c === 42 || isAlpha(c)) return this.token();
    if (c === 58) return this.bytes();
    if (c === 63) return this.boolean();
    return fail('not a structured field item');
  }

  number(): BareItem {
    let sign = 1;
    if (this.peek() === 45) {
      sign = -1;
      this.pos++;
    }
    if (!isDigit(this.peek())) fail('a number needs digits');
    const start = this.pos;
    let dot = -1;
    for (;;) {
      const c = this.peek();
      if (isDigit(c)) this.pos++;
      else if (c === 46 && dot === -1) {
        if (this.pos - start > 12) fail('decimal too long');
        dot = this.pos;
        this.pos++;
      } else break;
      if (dot === -1 && this.pos - start > 15) fail('integer too long');
      if (dot !== -1 && this.pos - start > 16) fail('decimal too long');
    }
    const text = this.s.slice(start, this.pos);
    if (dot === -1) return { type: 'integer', value: sign * Number.parseInt(text, 10) };
    const fraction = this.pos - dot - 1;
    if (fraction === 0 || fraction > 3) fail('a decimal needs one to three fractional digits');
    return { type: 'decimal', value: sign * Number.parseFloat(text) };
  }

  string(): BareItem {
    this.pos++;
    let out = '';
    let runStart = this.pos;
    for (;;) {
      const c = this.peek();
      if (c === -1) fail('unterminated string');
      if (c === 92) {
        out += this.s.slice(runStart, this.pos);
        this.pos++;
        const next = this.peek();
        if (next !== 34 && next !== 92) fail('bad escape in string');
        out += String.fromCharCode(next);
        this.pos++;
        runStart = this.pos;
        continue;
      }
      if (c === 34) {
        out += this.s.slice(runStart, this.pos);
        this.pos++;
        return { type: 'string', value: out };
      }
      if (c < 0x20 || c > 0x7e) fail('strings hold visible ASCII only');
      this.pos++;
    }
  }

  token(): BareItem {
    const start = this.pos;
    this.pos++;
    for (;;) {
      const c = this.peek();
      if (isTchar(c) || c === 58 || c === 47) this.pos++;
      else break;
    }
    return { type: 'token', value: this.s.slice(start, this.pos) };
  }

  bytes(): BareItem {
    this.pos++;
    const start = this.pos;
    let padding = 0;
    for (;;) {
      const c = this.peek();
      if (c === 58) break;
      if (c === 61) padding++;
      else if (!isBase64Char(c) || padding > 0) fail('bad byte sequence');
      if (padding > 2) fail('bad byte sequence');
      this.pos++;
    }
    const text = this.s.slice(start, this.pos);
    this.pos++;
    // Unpadded input is tolerated (RFC 8941 §4.2.7), but the length must be a possible one.
    if (padding > 0 ? text.length % 4 !== 0 : text.length % 4 === 1) fail('bad byte sequence length');
    return { type: 'bytes', value: Buffer.from(text, 'base64') };
  }

  boolean(): BareItem {
    this.pos++;
    const c = this.peek();
    if (c !== 48 && c !== 49) fail('bad boolean');
    this.pos++;
    return { type: 'boolean', value: c === 49 };
  }
}

/** Parses a Dictionary (RFC 8941 §4.2.2) strictly. Throws StructuredFieldError. */
export function parseDictionary(input: string, limits: Limits = DEFAULT_LIMITS): Dictionary {
  if (input.length > limits.maxLength) fail('field too long');
  const p = new Parser(input, limits);
  p.skipSP();
  const dict = new Map<string, Member>();
  while (!p.atEnd()) {
    const k = p.key();
    let member: Member;
    if (p.peek() === 61) {
      p.pos++;
      member = p.itemOrInnerList();
    } else {
      member = { kind: 'item', value: { type: 'boolean', value: true }, params: p.params() };
    }
    if (dict.has(k)) fail('duplicate dictionary key');
    if (dict.size >= limits.maxMembers) fail('too many dictionary members');
    dict.set(k, member);
    p.skipOWS();
    if (p.atEnd()) break;
    if (p.peek() !== 44) fail('dictionary members must be separated by ","');
    p.pos++;
    p.skipOWS();
    if (p.atEnd()) fail('trailing comma');
  }
  return dict;
}

/** Parses one Item (RFC 8941 §4.2.3) strictly. Throws StructuredFieldError. */
export function parseItem(input: string, limits: Limits = DEFAULT_LIMITS): Item {
  if (input.length > limits.maxLength) fail('field too long');
  const p = new Parser(input, limits);
  p.skipSP();
  const item = p.item();
  p.skipSP();
  if (!p.atEnd()) fail('trailing characters');
  return item;
}

export function serializeBareItem(item: BareItem): string {
  switch (item.type) {
    case 'integer':
      return String(item.value);
    case 'decimal': {
      const rounded = Math.round(item.value * 1000) / 1000;
      const text = String(rounded);
      return text.includes('.') ? text : `${text}.0`;
    }
    case 'string':
      return `"${item.value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
    case 'token':
      return item.value;
    case 'bytes':
      return `:${item.value.toString('base64')}:`;
    case 'boolean':
      return item.value ? '?1' : '?0';
  }
}

export function serializeParams(params: Params): string {
  let out = '';
  for (const [k, v] of params) {
    out += `;${k}`;
    if (!(v.type === 'boolean' && v.value)) out += `=${serializeBareItem(v)}`;
  }
  return out;
}

export function serializeItem(item: Item): string {
  return serializeBareItem(item.value) + serializeParams(item.params);
}

export function serializeInnerList(list: InnerList): string {
  return `(${list.items.map(serializeItem).join(' ')})${serializeParams(list.params)}`;
}

export function serializeMember(member: Member): string {
  return member.kind === 'inner-list' ? serializeInnerList(member) : serializeItem(member);
}

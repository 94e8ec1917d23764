/**
 * The signature base of RFC 9421 §2.5: one line per covered component, then the
 * "@signature-params" line. Built from a small view of the request so that tests can feed it the
 * RFC's example request directly.
 */
import {
  DEFAULT_LIMITS,
  type InnerList,
  type Item,
  type Member,
  parseDictionary,
  StructuredFieldError,
  serializeInnerList,
  serializeItem,
  serializeMember,
} from './structured.js';

/** What the base builder needs to know about a request. */
export interface MessageView {
  /** The method as received. */
  readonly method: string;
  /** The scheme the request came in on (the listener's, not a forwarded one). */
  readonly scheme: 'http' | 'https';
  /**
   * The request target exactly as received (origin-form "/path?query"). The path is not
   * normalized: the signer signs what it sends.
   */
  readonly target: string;
  /**
   * Every received value of a header field (lower-case name), one entry per header line, or
   * undefined when the field is absent.
   */
  field(name: string): readonly string[] | undefined;
}

export type BaseFailure = 'missing_component' | 'malformed';

/** The base cannot be built for this request. `reason` is an AuthFailure reason. */
export class SignatureBaseError extends Error {
  override name = 'SignatureBaseError';
  constructor(
    readonly reason: BaseFailure,
    message: string,
  ) {
    super(message);
  }
}

const missing = (what: string): never => {
  throw new SignatureBaseError('missing_component', what);
};
const malformed = (what: string): never => {
  throw new SignatureBaseError('malformed', what);
};

/** Derived components this verifier can produce for a request (RFC 9421 §2.2). */
export const DERIVED = new Set([
  '@method',
  '@target-uri',
  '@authority',
  '@scheme',
  '@request-target',
  '@path',
  '@query',
  '@query-param',
]);

/** A field name: a token in lower case (RFC 9421 §2.1 requires lower-case component names). */
function isFieldName(name: string): boolean {
  if (name.length === 0 || name.length > 128) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const ok =
      (c >= 97 && c <= 122) ||
      (c >= 48 && c <= 57) ||
      c === 45 ||
      c === 95 ||
      c === 46 ||
      c === 33 ||
      (c >= 35 && c <= 39) ||
      c === 42 ||
      c === 43 ||
      c === 94 ||
      c === 96 ||
      c === 124 ||
      c === 126;
    if (!ok) return false;
  }
  return true;
}

/**
 * Checks that a covered component is one this verifier understands, with parameters it
 * supports. Returns the component name. Throws SignatureBaseError('malformed').
 */
export function checkComponent(item: Item): string {
  if (item.value.type !== 'string') return malformed('component identifiers are strings');
  const name = item.value.value;
  if (name.startsWith('@')) {
    if (!DERIVED.has(name)) return malformed('unsupported derived component');
    for (const [k, v] of item.params) {
      if (name === '@query-param' && k === 'name' && v.type === 'string') continue;
      return malformed('unsupported component parameter');
    }
    if (name === '@query-param' && !item.params.has('name')) malformed('@query-param needs a name');
    return name;
  }
  if (!isFieldName(name)) return malformed('bad field name');
  for (const [k, v] of item.params) {
    if (k === 'bs' && v.type === 'boolean' && v.value) continue;
    if (k === 'key' && v.type === 'string') continue;
    // sf, req, tr and unknown parameters are not supported: refuse rather than guess.
    return malformed('unsupported component parameter');
  }
  if (item.params.has('bs') && item.params.has('key')) malformed('bs and key cannot be combined');
  return name;
}

/** RFC 9421 §2.1: each value trimmed of leading and trailing whitespace, combined with ", ". */
function fieldValue(lines: readonly string[]): string {
  if (lines.length === 1) return trimOWS(lines[0] as string);
  return lines.map(trimOWS).join(', ');
}

function trimOWS(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && (s.charCodeAt(start) === 32 || s.charCodeAt(start) === 9)) start++;
  while (end > start && (s.charCodeAt(end - 1) === 32 || s.charCodeAt(end - 1) === 9)) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** The Host header normalized (RFC 9421 §2.2.3): lower case, default port removed. */
export function authorityOf(msg: MessageView): string {
  const lines = msg.field('host');
  if (lines === undefined) return missing('no Host header');
  if (lines.length !== 1) return malformed('more than one Host header');
  const host = trimOWS(lines[0] as string).toLowerCase();
  if (host === '') return missing('empty Host header');
  const defaultPort = msg.scheme === 'https' ? ':443' : ':80';
  return host.endsWith(defaultPort) ? host.slice(0, -defaultPort.length) : host;
}

function splitTarget(msg: MessageView): { path: string; query: string | undefined } {
  const target = msg.target;
  if (target.charCodeAt(0) !== 47) return malformed('request target is not in origin-form');
  const q = target.indexOf('?');
  if (q === -1) return { path: target, query: undefined };
  return { path: target.slice(0, q), query: target.slice(q + 1) };
}

/** application/x-www-form-urlencoded serializing of one name or value (RFC 9421 §2.2.8). */
function formEncode(s: string): string {
  return new URLSearchParams([['', s]]).toString().slice(1);
}

function queryParam(msg: MessageView, encodedName: string): string {
  const { query } = splitTarget(msg);
  let found: string | undefined;
  for (const [name, value] of new URLSearchParams(query ?? '')) {
    if (formEncode(name) !== encodedName) continue;
    // A repeated parameter is ambiguous in the base; refuse it (sign @query instead).
    if (found !== undefined) return malformed('query parameter occurs more than once');
    found = formEncode(value);
  }
  return found ?? missing('query parameter absent');
}

function derivedValue(name: string, item: Item, msg: MessageView): string {
  switch (name) {
    case '@method':
      return msg.method;
    case '@scheme':
      return msg.scheme;
    case '@authority':
      return authorityOf(msg);
    case '@target-uri': {
      splitTarget(msg);
      return `${msg.scheme}://${authorityOf(msg)}${msg.target}`;
    }
    case '@request-target':
      splitTarget(msg);
      return msg.target;
    case '@path': {
      const { path } = splitTarget(msg);
      return path === '' ? '/' : path;
    }
    case '@query': {
      const { query } = splitTarget(msg);
      return `?${query ?? ''}`;
    }
    case '@query-param': {
      const nameParam = item.params.get('name');
      return queryParam(msg, nameParam?.type === 'string' ? nameParam.value : '');
    }
    default:
      return malformed('unsupported derived component');
  }
}

function headerValue(name: string, item: Item, msg: MessageView): string {
  const lines = msg.field(name);
  if (lines === undefined) return missing('covered header absent');
  if (item.params.has('bs')) {
    // RFC 9421 §2.1.3: each line's value as a byte sequence, joined by ", ".
    return lines.map((l) => `:${Buffer.from(trimOWS(l), 'latin1').toString('base64')}:`).join(', ');
  }
  const value = fieldValue(lines);
  const key = item.params.get('key');
  if (key?.type === 'string') {
    // RFC 9421 §2.1.2: the re-serialized member of a Dictionary field.
    let member: Member;
    try {
      const dict = parseDictionary(value, DEFAULT_LIMITS);
      const m = dict.get(key.value);
      if (m === undefined) return missing('dictionary member absent');
      member = m;
    } catch (err) {
      if (err instanceof StructuredFieldError) return malformed('covered field is not a dictionary');
      throw err;
    }
    return serializeMember(member);
  }
  return value;
}

/**
 * Builds the signature base for `covered` (the Signature-Input inner list, with its parameters)
 * over `msg`. Returns the exact bytes to verify. Throws SignatureBaseError.
 */
export function buildSignatureBase(covered: InnerList, msg: MessageView): Buffer {
  const seen = new Set<string>();
  let base = '';
  for (const item of covered.items) {
    const name = checkComponent(item);
    const id = serializeItem(item);
    if (seen.has(id)) malformed('component covered twice');
    seen.add(id);
    const value = name.startsWith('@') ? derivedValue(name, item, msg) : headerValue(name, item, msg);
    base += `${id}: ${value}\n`;
  }
  base += `"@signature-params": ${serializeInnerList(covered)}`;
  // Header values arrive as latin1 strings (one char per byte): this gives back the exact bytes.
  return Buffer.from(base, 'latin1');
}

/** A MessageView over raw header lines ([name, value, name, value, …] as Node gives them). */
export function viewOf(
  method: string,
  scheme: 'http' | 'https',
  target: string,
  rawHeaders: readonly string[],
): MessageView {
  let index: Map<string, string[]> | undefined;
  return {
    method,
    scheme,
    target,
    field(name: string): readonly string[] | undefined {
      if (index === undefined) {
        index = new Map();
        for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
          const n = (rawHeaders[i] as string).toLowerCase();
          const list = index.get(n);
          if (list === undefined) index.set(n, [rawHeaders[i + 1] as string]);
          else list.push(rawHeaders[i + 1] as string);
        }
      }
      return index.get(name);
    },
  };
}

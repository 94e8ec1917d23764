import type { RequestContext } from '../core/context.js';
import { percentDecode } from './decode.js';
import type { Input } from './types.js';

/** A request as the engine sees it: from the gateway's context, or from a corpus record in the bench. */
export interface RawRequest {
  readonly method: string;
  /** Path as sent (still percent-encoded). */
  readonly path: string;
  /** Query string without "?". */
  readonly query: string;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body: Buffer | undefined;
  /** The body already parsed by the contract stage, if any. */
  readonly parsedBody?: { readonly mediaType: string; readonly value: unknown } | undefined;
}

/** The request of a gateway context, with the body a stage has read (or the contract's parsed one). */
export function requestOf(ctx: RequestContext, body: Buffer | undefined): RawRequest {
  return {
    method: ctx.method,
    path: ctx.path,
    query: ctx.query,
    headers: ctx.req.headers,
    body,
    parsedBody: ctx.parsedBody,
  };
}

export interface InputOptions {
  /** Headers never inspected (lower-case): credentials, framing and values the gateway itself checks. */
  readonly skipHeaders: ReadonlySet<string>;
  /** At most this many inputs per request (the rest are not inspected; the count is reported). */
  readonly maxInputs: number;
  /** Bytes of one value inspected; longer values are cut. */
  readonly maxValueBytes: number;
}

export const DEFAULT_SKIP_HEADERS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'host',
  'content-length',
  'connection',
  'accept-encoding',
  'accept-language',
  'accept',
  'content-type',
  'transfer-encoding',
  'if-none-match',
  'if-modified-since',
  'dpop',
  'signature',
  'signature-input',
  'content-digest',
  'x-request-id',
  'traceparent',
  'tracestate',
];

const MAX_JSON_DEPTH = 64;

/** Splits "a=1&b=2" into decoded pairs, tolerant of broken encodings (the raw text is kept then). */
export function formPairs(text: string): [string, string][] {
  const out: [string, string][] = [];
  if (text === '') return out;
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    const value = eq === -1 ? '' : part.slice(eq + 1);
    out.push([percentDecode(name.replaceAll('+', ' ')), percentDecode(value.replaceAll('+', ' '))]);
  }
  return out;
}

function jsonLeaves(value: unknown, path: string, depth: number, push: (i: Input) => void): void {
  if (typeof value === 'string') push({ location: 'json', name: path, value });
  else if (Array.isArray(value)) {
    if (depth < MAX_JSON_DEPTH)
      for (let i = 0; i < value.length; i++) jsonLeaves(value[i], `${path}[${i}]`, depth + 1, push);
  } else if (value !== null && typeof value === 'object') {
    if (depth >= MAX_JSON_DEPTH) return;
    for (const [k, v] of Object.entries(value)) {
      push({ location: 'json-key', name: path, value: k });
      jsonLeaves(v, `${path}.${k}`, depth + 1, push);
    }
  }
  // Numbers, booleans and null carry no payload.
}

/** multipart/form-data parts: field names, file names and (textual) values. */
function multipartInputs(body: Buffer, contentType: string, push: (i: Input) => void): void {
  const m = /boundary=(?:"([^"]{1,70})"|([^;\s]{1,70}))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (boundary === undefined) {
    push({ location: 'body', name: '', value: body.toString('latin1') });
    return;
  }
  const text = body.toString('latin1');
  const delimiter = `--${boundary}`;
  let at = text.indexOf(delimiter);
  while (at !== -1) {
    const next = text.indexOf(delimiter, at + delimiter.length);
    const part = text.slice(at + delimiter.length, next === -1 ? text.length : next);
    at = next;
    const split = part.indexOf('\r\n\r\n');
    if (split === -1) continue;
    const head = part.slice(0, split);
    let value = part.slice(split + 4);
    if (value.endsWith('\r\n')) value = value.slice(0, -2);
    const disposition = /content-disposition:([^\r\n]*)/i.exec(head)?.[1] ?? '';
    const name = /\bname="([^"]*)"/i.exec(disposition)?.[1] ?? '';
    const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1];
    push({ location: 'multipart-name', name, value: name });
    if (filename !== undefined) push({ location: 'filename', name, value: filename });
    push({ location: 'multipart', name, value: Buffer.from(value, 'latin1').toString('utf8') });
  }
}

/**
 * Every place a payload can hide: path segments, query names and values, headers (except
 * credentials and framing), cookie names and values, and the body by its type: form fields, JSON
 * keys and string leaves (with their JSON path), multipart names, file names and values, XML and
 * anything else as one text.
 */
export function extractInputs(req: RawRequest, options: InputOptions): { inputs: Input[]; dropped: number } {
  const inputs: Input[] = [];
  let dropped = 0;
  const max = options.maxValueBytes;
  const push = (i: Input): void => {
    if (inputs.length >= options.maxInputs) {
      dropped++;
      return;
    }
    inputs.push(i.value.length > max ? { ...i, value: i.value.slice(0, max) } : i);
  };
  // The whole path too: some payloads are a path ("/proc/self/environ"), not a segment.
  if (req.path.length > 1) push({ location: 'path', name: '$path', value: percentDecode(req.path) });
  for (const seg of req.path.split('/'))
    if (seg !== '') push({ location: 'path', name: '', value: percentDecode(seg) });
  for (const [name, value] of formPairs(req.query)) {
    push({ location: 'query-name', name, value: name });
    push({ location: 'query', name, value });
  }
  for (const [name, raw] of Object.entries(req.headers)) {
    if (raw === undefined || options.skipHeaders.has(name)) continue;
    const values = typeof raw === 'string' ? [raw] : raw;
    for (const value of values) {
      if (name === 'cookie') {
        for (const part of value.split(';')) {
          const eq = part.indexOf('=');
          const cname = (eq === -1 ? part : part.slice(0, eq)).trim();
          push({ location: 'cookie-name', name: cname, value: cname });
          if (eq !== -1)
            push({ location: 'cookie', name: cname, value: percentDecode(part.slice(eq + 1).trim()) });
        }
      } else push({ location: 'header', name, value });
    }
  }
  const body = req.body;
  if (req.parsedBody !== undefined && typeof req.parsedBody.value === 'object') {
    jsonLeaves(req.parsedBody.value, '$', 0, push);
    return { inputs, dropped };
  }
  if (body === undefined || body.length === 0) return { inputs, dropped };
  const ctRaw = req.headers['content-type'];
  const original = typeof ctRaw === 'string' ? ctRaw : (ctRaw?.[0] ?? '');
  const contentType = original.toLowerCase();
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    for (const [name, value] of formPairs(body.toString('utf8'))) {
      push({ location: 'body-name', name, value: name });
      push({ location: 'body', name, value });
    }
  } else if (contentType.includes('json')) {
    try {
      jsonLeaves(JSON.parse(body.toString('utf8')) as unknown, '$', 0, push);
    } catch {
      push({ location: 'body', name: '', value: body.toString('utf8') });
    }
  } else if (contentType.startsWith('multipart/')) multipartInputs(body, original, push);
  else if (contentType.includes('xml')) push({ location: 'xml', name: '', value: body.toString('utf8') });
  else push({ location: 'body', name: '', value: body.toString('utf8') });
  return { inputs, dropped };
}

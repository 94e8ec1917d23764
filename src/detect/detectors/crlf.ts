import type { Detector, Finding, Input } from '../types.js';

/**
 * CRLF / header injection: a line break followed by "Header-Name:" (or a status line, or an empty
 * line that starts a body) in a value that may end up in a response header, a redirect or an
 * e-mail. In the URL, headers and cookies no line break is legitimate; in body fields multi-line
 * text is normal, so there only known header names on a short value count.
 */

function finding(rule: string, pl: 1 | 2 | 3, score: number): Finding {
  return { rule: `crlf-${rule}`, family: 'crlf', pl, score };
}

const HEADER_INJECTION = finding('header-injection', 1, 5);
const RESPONSE_SPLIT = finding('response-splitting', 1, 5);
const BODY_FIELD = finding('header-injection', 3, 2);

/** Locations whose values go into a request line or header: a line break there is never data. */
const LINE_LOCATIONS = new Set([
  'path',
  'query',
  'query-name',
  'header',
  'cookie',
  'cookie-name',
  'filename',
]);

/** Headers an injected line would set to hijack a response or an e-mail. */
const DANGEROUS = new Set([
  'set-cookie',
  'location',
  'refresh',
  'content-type',
  'content-length',
  'content-disposition',
  'content-security-policy',
  'transfer-encoding',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'x-xss-protection',
  'x-frame-options',
  'cache-control',
  'link',
  'host',
  'cookie',
  'authorization',
  'x-forwarded-for',
  'x-forwarded-host',
  'bcc',
  'cc',
  'to',
  'reply-to',
]);

/** Line breaks, including those a lossy header encoder turns into CR or LF (U+560A "嘊", U+560D "嘍"). */
function isBreak(c: number): boolean {
  return c === 10 || c === 13 || c === 0x560a || c === 0x560d || c === 0x85 || c === 0x2028 || c === 0x2029;
}

function isTokenChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 95;
}

interface Injected {
  /** A "Name:" line follows a break; its lower-case name. */
  readonly header: string;
  /** An "HTTP/1.x" status line or an empty line (start of a forged body) follows a break. */
  readonly split: boolean;
}

function lines(s: string): Injected {
  let header = '';
  let split = false;
  let n = 0;
  for (let i = 0; i < s.length && n < 64; i++) {
    if (!isBreak(s.charCodeAt(i))) continue;
    n++;
    let j = i + 1;
    while (j < s.length && isBreak(s.charCodeAt(j)) && j - i < 2) j++;
    if (s.startsWith('HTTP/', j) || s.startsWith('http/1', j)) split = true;
    let k = j;
    while (k < s.length && k - j < 64 && isTokenChar(s.charCodeAt(k))) k++;
    if (k > j && s.charCodeAt(k) === 58 && s.charCodeAt(k + 1) !== 47) {
      const name = s.slice(j, k).toLowerCase();
      if (header === '' || DANGEROUS.has(name)) header = name;
      if (DANGEROUS.has(name)) break;
    }
    i = j - 1;
  }
  return { header, split };
}

function lineCount(s: string): number {
  let count = 1;
  for (let i = 0; i < s.length && count < 8; i++) if (s.charCodeAt(i) === 10) count++;
  return count;
}

function inspectCrlf(s: string, input: Input, out: Finding[]): void {
  const found = lines(s);
  if (LINE_LOCATIONS.has(input.location)) {
    if (found.split) out.push(RESPONSE_SPLIT);
    if (found.header !== '') out.push(HEADER_INJECTION);
    return;
  }
  if (found.header === '' || !DANGEROUS.has(found.header)) return;
  // A short value (a name, a subject, a redirect target) with a header line in it is an injection;
  // a long multi-line document that quotes headers (an HTTP tutorial) is only suspicious.
  out.push(lineCount(s) <= 3 ? HEADER_INJECTION : BODY_FIELD);
}

function mayBreak(v: string): boolean {
  return (
    v.indexOf('\n') !== -1 ||
    v.indexOf('\r') !== -1 ||
    v.indexOf('\u560a') !== -1 ||
    v.indexOf('\u560d') !== -1 ||
    v.indexOf('\u2028') !== -1 ||
    v.indexOf('\u0085') !== -1
  );
}

export const crlfDetector: Detector = {
  family: 'crlf',
  detect(value: string, input: Input, out: Finding[]): void {
    if (value.length < 4 || !mayBreak(value)) return;
    inspectCrlf(value, input, out);
  },
};

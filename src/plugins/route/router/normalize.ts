/**
 * RFC 3986 path normalization for a security gateway: decode percent-encoded unreserved
 * characters, upper-case the rest, remove dot segments, optionally merge slashes — and refuse
 * (return undefined) whatever would stay ambiguous between us and the upstream: invalid
 * percent-encoding, encoded "/" or "\", a raw "\", control characters, NUL, double encoding
 * ("%25" + hex), and ".." climbing above the root. Linear time, no regular expressions.
 */

const HEX = '0123456789ABCDEF';

function hexVal(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

function isUnreserved(c: number): boolean {
  return (
    (c >= 65 && c <= 90) ||
    (c >= 97 && c <= 122) ||
    (c >= 48 && c <= 57) ||
    c === 45 ||
    c === 46 ||
    c === 95 ||
    c === 126
  );
}

export function normalizePath(path: string, mergeSlashes: boolean): string | undefined {
  if (path.charCodeAt(0) !== 47) return undefined;
  let needsWork = false;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c === 92 || c === 35 || c > 0x7e) return undefined; // controls, space, "\", "#", raw non-ASCII
    if (c === 37) needsWork = true;
    else if (c === 47) {
      const next = path.charCodeAt(i + 1);
      if (next === 46 || next === 47) needsWork = true;
    }
  }
  if (!needsWork) return path;

  // Pass 1: percent-decoding of unreserved characters; refusals.
  let decoded = '';
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c !== 37) {
      decoded += path[i];
      continue;
    }
    const hi = hexVal(path.charCodeAt(i + 1));
    const lo = hexVal(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return undefined;
    const byte = hi * 16 + lo;
    if (byte < 0x20 || byte === 0x7f || byte === 0x2f || byte === 0x5c) return undefined;
    if (byte === 0x25 && hexVal(path.charCodeAt(i + 3)) >= 0 && hexVal(path.charCodeAt(i + 4)) >= 0)
      return undefined;
    if (isUnreserved(byte)) decoded += String.fromCharCode(byte);
    else decoded += `%${HEX[hi]}${HEX[lo]}`;
    i += 2;
  }

  // Pass 2: remove dot segments (RFC 3986 §5.2.4), refusing to climb above the root.
  const segments = decoded.split('/');
  const out: string[] = [];
  const last = segments.length - 1;
  for (let i = 1; i <= last; i++) {
    const seg = segments[i] as string;
    if (seg === '.') {
      if (i === last) out.push('');
      continue;
    }
    if (seg === '..') {
      if (out.length === 0) return undefined;
      out.pop();
      if (i === last) out.push('');
      continue;
    }
    if (seg === '' && mergeSlashes && i !== last) continue;
    out.push(seg);
  }
  return `/${out.join('/')}`;
}

import { HEX, hexVal, isUnreserved } from '../../../core/percent.js';

/**
 * RFC 3986 path normalization for a security gateway: decode percent-encoded unreserved
 * characters, upper-case the rest, remove dot segments, optionally merge slashes — and refuse
 * (return undefined) whatever would stay ambiguous between us and the upstream: invalid
 * percent-encoding (including encoded bytes that are not well-formed UTF-8, such as the overlong
 * "%C0%AE" for "."), encoded "/" or "\", a raw "\", control characters, NUL, double encoding
 * ("%25" followed by hex digits or "u", whether the digits were sent raw or encoded), dot segments
 * carrying path parameters ("..;"), and ".." climbing above the root. Linear time, no regular
 * expressions.
 */

/** "." or ".." possibly followed by ";params": a dot segment to servers that strip path parameters. */
function isDotSegmentWithParams(seg: string): boolean {
  const semi = seg.indexOf(';');
  if (semi === -1) return false;
  return (semi === 1 && seg.charCodeAt(0) === 46) || (semi === 2 && seg.startsWith('..'));
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

  // Pass 1: percent-decoding of unreserved characters; refusals. Encoded bytes above 0x7F must
  // form well-formed UTF-8 (RFC 3629): `need` counts the continuation bytes still expected, and
  // [lo, hi] bounds the next one (excludes overlong forms, surrogates and code points > U+10FFFF).
  let decoded = '';
  let need = 0;
  let lo = 0x80;
  let hi = 0xbf;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c !== 37) {
      if (need !== 0) return undefined; // a UTF-8 sequence cut short
      decoded += path[i];
      continue;
    }
    const h = hexVal(path.charCodeAt(i + 1));
    const l = hexVal(path.charCodeAt(i + 2));
    if (h < 0 || l < 0) return undefined;
    const byte = h * 16 + l;
    i += 2;
    if (need !== 0) {
      if (byte < lo || byte > hi) return undefined;
      need--;
      lo = 0x80;
      hi = 0xbf;
      decoded += `%${HEX[h]}${HEX[l]}`;
      continue;
    }
    if (byte >= 0x80) {
      if (byte >= 0xc2 && byte <= 0xdf) need = 1;
      else if (byte >= 0xe0 && byte <= 0xef) {
        need = 2;
        if (byte === 0xe0) lo = 0xa0;
        else if (byte === 0xed) hi = 0x9f;
      } else if (byte >= 0xf0 && byte <= 0xf4) {
        need = 3;
        if (byte === 0xf0) lo = 0x90;
        else if (byte === 0xf4) hi = 0x8f;
      } else return undefined; // stray continuation byte, overlong lead (C0, C1) or beyond F4
      decoded += `%${HEX[h]}${HEX[l]}`;
      continue;
    }
    if (byte < 0x20 || byte === 0x7f || byte === 0x2f || byte === 0x5c) return undefined;
    if (isUnreserved(byte)) decoded += String.fromCharCode(byte);
    else decoded += `%${HEX[h]}${HEX[l]}`;
  }
  if (need !== 0) return undefined;

  // Double encoding: "%25" followed by two hex digits (or "u", IIS-style) decodes a second time into
  // something else. Checked on the decoded text, so "%25%32%66" (→ "%252F" → "%2F" → "/") is caught.
  for (let i = decoded.indexOf('%25'); i !== -1; i = decoded.indexOf('%25', i + 3)) {
    const a = decoded.charCodeAt(i + 3);
    if (a === 117 || a === 85) return undefined;
    if (hexVal(a) >= 0 && hexVal(decoded.charCodeAt(i + 4)) >= 0) return undefined;
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
    if (isDotSegmentWithParams(seg)) return undefined;
    if (seg === '' && mergeSlashes && i !== last) continue;
    out.push(seg);
  }
  return `/${out.join('/')}`;
}

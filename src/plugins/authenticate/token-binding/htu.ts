import { HEX, hexVal, isUnreserved } from '../../../core/percent.js';

/**
 * The `htu` of a DPoP proof and the request it came with, compared after RFC 3986 syntax- and
 * scheme-based normalization (RFC 9449 §4.3: "ignoring any query and fragment parts"): scheme and
 * host lower-cased, the default port dropped, dot segments removed (all by the WHATWG URL parser),
 * percent-encoded unreserved characters decoded and the other escapes upper-cased (here).
 */
export interface Target {
  /** "https://api.example.com" or "http://127.0.0.1:8080". */
  readonly origin: string;
  readonly path: string;
}

/** Percent-encoding normalization (RFC 3986 §6.2.2.1 and §6.2.2.2), linear; undefined on a broken escape. */
export function normalizePercent(path: string): string | undefined {
  if (!path.includes('%')) return path;
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c !== 37) {
      out += path[i];
      continue;
    }
    const h = hexVal(path.charCodeAt(i + 1));
    const l = hexVal(path.charCodeAt(i + 2));
    if (h < 0 || l < 0) return undefined;
    const byte = h * 16 + l;
    out += isUnreserved(byte) ? String.fromCharCode(byte) : `%${HEX[h]}${HEX[l]}`;
    i += 2;
  }
  return out;
}

/** Longest htu (or request URI) considered; anything longer is refused without parsing. */
export const MAX_URI_LENGTH = 8192;

/** An absolute http(s) URI → its normalized origin and path (query and fragment dropped). */
export function normalizeHtu(value: string): Target | undefined {
  if (value.length > MAX_URI_LENGTH) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username !== '' || url.password !== '' || url.host === '') return undefined;
  const path = normalizePercent(url.pathname);
  if (path === undefined) return undefined;
  return { origin: `${url.protocol}//${url.host}`, path };
}

/** A Host header value made only of characters a host and port may have (no "/", "@", "?", "#", "\"). */
function isPlainHost(host: string): boolean {
  if (host.length === 0 || host.length > 300) return false;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    const ok =
      (c >= 48 && c <= 58) || // 0-9 and ":"
      (c >= 65 && c <= 90) ||
      (c >= 97 && c <= 122) ||
      c === 45 || // -
      c === 46 || // .
      c === 95 || // _
      c === 91 || // [
      c === 93; // ]
    if (!ok) return false;
  }
  return true;
}

/**
 * The URI the client addressed: the scheme of the listener it reached, its Host header, and the
 * path of the request target (query dropped). Undefined when no such URI can be formed (no Host,
 * a Host that is not a plain host[:port], a target that is not origin-form).
 */
export function requestTarget(
  scheme: string,
  host: string | undefined,
  url: string | undefined,
): Target | undefined {
  if (host === undefined || url === undefined || !isPlainHost(host)) return undefined;
  if (url.charCodeAt(0) !== 47) return undefined;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return normalizeHtu(`${scheme}://${host}${path}`);
}

/**
 * Configured public origins (behind a TLS-terminating proxy) → their normalized form; throws with
 * the index of an entry that is not a bare http(s) origin.
 */
export function normalizeOrigins(origins: readonly string[]): Set<string> {
  const out = new Set<string>();
  origins.forEach((o, i) => {
    const t = normalizeHtu(o);
    const rest = o.slice(o.indexOf('//') + 2);
    const slash = rest.indexOf('/');
    if (t === undefined || o.includes('?') || o.includes('#') || (slash !== -1 && slash !== rest.length - 1))
      throw new Error(`origins[${i}]: "${o}" is not an http(s) origin like https://api.example.com`);
    out.add(t.origin);
  });
  return out;
}

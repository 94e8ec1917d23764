import { formatPath } from '../config/errors.js';

/**
 * The running config as the admin API shows it: every value that came from ${env:…} (the loader's
 * secretPaths) and every value under a key named like a secret is replaced by REDACTED, and so is
 * any inline PEM private key or private JWK member, wherever it sits.
 */

export const REDACTED = '[redacted]';

/** Words of a key name (camelCase, kebab-case, snake_case) that mark its value as a secret. */
const SECRET_WORDS = new Set([
  'secret',
  'secrets',
  'token',
  'tokens',
  'password',
  'passwords',
  'passwd',
  'passphrase',
  'pepper',
  'credential',
  'credentials',
  'apikey',
  'privatekey',
  'hmac',
  'cookie',
]);

/** A key ending in one of these names where a secret is (a file, an address), not the secret. */
const NOT_SECRET_LAST = new Set([
  'file',
  'files',
  'path',
  'paths',
  'url',
  'uri',
  'endpoint',
  'header',
  'headers',
  'parameter',
  'name',
  'ms',
  'seconds',
  'bytes',
  'length',
  'ttl',
]);

/** Members of a JSON Web Key that hold private or symmetric key material. */
const PRIVATE_JWK = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']);

function words(key: string): string[] {
  const spaced = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < spaced.length; i++) {
    const c = spaced.charCodeAt(i);
    const alnum = (c >= 97 && c <= 122) || (c >= 48 && c <= 57);
    if (alnum) cur += spaced[i];
    else if (cur !== '') {
      out.push(cur);
      cur = '';
    }
  }
  if (cur !== '') out.push(cur);
  // "apiKey", "privateKey", "clientSecret": also try each pair joined.
  const joined: string[] = [];
  for (let i = 0; i + 1 < out.length; i++) joined.push(`${out[i]}${out[i + 1]}`);
  return [...out, ...joined];
}

/** Whether a config key names a secret value ("clientSecret", "pepper", "token"; not "pepperFile"). */
export function isSecretKey(key: string): boolean {
  const w = words(key);
  if (w.length === 0) return false;
  const parts = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]/)
    .filter((s) => s !== '');
  const last = parts[parts.length - 1] ?? '';
  if (NOT_SECRET_LAST.has(last)) return false;
  return w.some((x) => SECRET_WORDS.has(x));
}

function looksLikePrivateKey(s: string): boolean {
  return s.includes('-----BEGIN') && s.includes('PRIVATE KEY');
}

/** "key: certs/server.key" names a file; "key: 3f9a…" is the key itself. */
function looksLikeFile(s: string): boolean {
  if (looksLikePrivateKey(s)) return false;
  return /\.(pem|key|crt|cer|der|p8|p12|jwk|json)$/i.test(s) || /^\.{0,2}\/[A-Za-z0-9._/-]*$/.test(s);
}

function scrub(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value === undefined ? value : REDACTED;
  if (Array.isArray(value)) return value.map(scrub);
  // An object under a secret-named key: keep its shape (names, roles), hide its leaves.
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrub(v);
  return out;
}

function walk(value: unknown, path: (string | number)[], secretPaths: ReadonlySet<string>): unknown {
  if (path.length > 0 && secretPaths.has(formatPath(path))) return REDACTED;
  if (typeof value === 'string') return looksLikePrivateKey(value) ? REDACTED : redactUrl(value, path);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, i], secretPaths));
  const obj = value as Record<string, unknown>;
  const jwk = typeof obj.kty === 'string';
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const here = [...path, k];
    if (jwk && PRIVATE_JWK.has(k)) out[k] = REDACTED;
    else if (k === 'key' && typeof v === 'string' && v !== '' && !looksLikeFile(v)) out[k] = REDACTED;
    else if (isSecretKey(k)) {
      // Objects and lists under a secret-named key keep their shape, never a value ("tokens": names and roles stay).
      if (v !== null && typeof v === 'object') {
        const inner = walk(v, here, secretPaths);
        out[k] = Array.isArray(inner)
          ? inner.map((e) => (e !== null && typeof e === 'object' ? e : scrub(e)))
          : inner;
      } else out[k] = v === undefined || v === '' ? v : REDACTED;
    } else out[k] = walk(v, here, secretPaths);
  }
  return out;
}

/**
 * A URL keeps its scheme, host and port; its user and password, path and query values go when they
 * may carry a credential: user info always, query values always, and the whole path and query of
 * a webhook (Slack-style webhook URLs are themselves the secret).
 */
function redactUrl(value: string, path: (string | number)[]): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return value;
  }
  let changed = false;
  if (u.username !== '' || u.password !== '') {
    u.username = u.username === '' ? '' : 'redacted';
    u.password = u.password === '' ? '' : 'redacted';
    changed = true;
  }
  if (path.includes('webhooks')) {
    if (u.pathname !== '/' || u.search !== '') {
      u.pathname = '/[redacted]';
      u.search = '';
      changed = true;
    }
  } else if (u.search !== '') {
    for (const k of [...u.searchParams.keys()]) u.searchParams.set(k, 'redacted');
    changed = true;
  }
  return changed ? u.toString() : value;
}

/** A deep copy of `config` with every secret replaced by "[redacted]". */
export function redactConfig(config: unknown, secretPaths: ReadonlySet<string>): unknown {
  return walk(config, [], secretPaths);
}

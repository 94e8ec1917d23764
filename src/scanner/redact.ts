/**
 * Evidence never carries a credential: the scanner's own identities, and anything that looks like
 * one in headers, query strings and bodies, is replaced before an excerpt is kept.
 */

export const REDACTED = '[redacted]';

const SECRET_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api-key',
  'x-auth-token',
  'x-access-token',
  'x-csrf-token',
  'x-xsrf-token',
]);

/**
 * Names of fields, parameters and headers whose values are secrets, compared lower case without
 * "-" and "_" ("X-Api-Key", "password_hash", "secretKey"). A superset of what the sensitive-data
 * check flags, so a finding's evidence never shows the value it is about.
 */
const SECRET_NAME =
  /(password|passwd|pwd|secret|secretkey|token|apikey|authorization|session|cookie|credential|privatekey|signature|ssn|socialsecuritynumber|cardnumber|creditcard|ccnumber|cvv|cvc|hash|salt|otp)$/;
const SECRET_EXACT = new Set(['pin']);

/** JWTs (three base64url parts starting with a JSON header) anywhere in a text. */
const JWT = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g;
/** Card-number-like digit runs (13–19 digits, spaces or dashes allowed); redacted when Luhn-valid. */
const CARD = /\b(?:\d[ -]?){12,18}\d\b/g;

/** Luhn checksum (card numbers pass it; timestamps and ids mostly do not). */
function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export function isSecretName(name: string): boolean {
  const n = name.toLowerCase().replace(/[-_]/g, '');
  return SECRET_NAME.test(n) || SECRET_EXACT.has(n);
}

export class Redactor {
  readonly #values: string[];

  /** `secrets`: values to remove wherever they appear (the identities' header values and tokens). */
  constructor(secrets: readonly string[] = []) {
    const parts = new Set<string>();
    const add = (v: string) => {
      if (v.length < 4) return;
      // As sent, and as an echo of a URL or a header may carry it.
      parts.add(v);
      parts.add(encodeURIComponent(v));
      parts.add(Buffer.from(v).toString('base64'));
      parts.add(Buffer.from(v).toString('base64url'));
    };
    for (const s of secrets) {
      add(s);
      // "Bearer abc…": the token alone may appear elsewhere (query, echo).
      const space = s.indexOf(' ');
      if (space > 0) add(s.slice(space + 1));
    }
    this.#values = [...parts].sort((a, b) => b.length - a.length);
  }

  text(value: string): string {
    let out = value;
    for (const v of this.#values) out = out.split(v).join(REDACTED);
    return out
      .replace(JWT, `eyJ…${REDACTED}`)
      .replace(CARD, (m) => (luhn(m.replace(/[ -]/g, '')) ? REDACTED : m));
  }

  headers(headers: Readonly<Record<string, string>>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      const lower = name.toLowerCase();
      out[lower] = SECRET_HEADERS.has(lower) || isSecretName(lower) ? REDACTED : this.text(value);
    }
    return out;
  }

  /** "/path?token=abc&q=1" → "/path?token=[redacted]&q=1". */
  url(pathAndQuery: string): string {
    const q = pathAndQuery.indexOf('?');
    if (q === -1) return this.text(pathAndQuery);
    const params = pathAndQuery
      .slice(q + 1)
      .split('&')
      .map((pair) => {
        const eq = pair.indexOf('=');
        if (eq === -1) return pair;
        let name = pair.slice(0, eq);
        try {
          name = decodeURIComponent(name);
        } catch {
          // keep the raw name
        }
        return isSecretName(name.replace(/\[.*$/, '')) ? `${pair.slice(0, eq)}=${REDACTED}` : pair;
      })
      .join('&');
    return this.text(`${pathAndQuery.slice(0, q)}?${params}`);
  }

  /**
   * A body excerpt: JSON values under secret-looking names are replaced (the name stays, so
   * evidence can say "passwordHash was returned"), then the text rules apply; at most `max` chars.
   */
  body(text: string, max = 2048): string {
    let out = text;
    const trimmed = text.trimStart();
    if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
      try {
        out = JSON.stringify(JSON.parse(text), (key, value: unknown) =>
          key !== '' && isSecretName(key) && (typeof value === 'string' || typeof value === 'number')
            ? REDACTED
            : value,
        );
      } catch {
        // not JSON after all: text rules only
      }
    }
    out = this.text(out);
    return out.length > max ? `${out.slice(0, max)}…` : out;
  }
}

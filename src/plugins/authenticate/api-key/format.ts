import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The API key format (groundwork for the api-key authenticator):
 *
 *   pcl_<key id: 16 × base62>_<secret: 43 × base64url = 256 bits><checksum: 6 × base62>
 *
 * - The fixed "pcl_" prefix lets secret scanners (GitHub, GitLab, trufflehog) recognise a leak.
 * - The key id is public: it names the stored record, so a lookup never needs the secret.
 * - The secret is 32 random bytes. Keys are stored only as HMAC-SHA256(pepper, secret): a slow
 *   password hash buys nothing against 256 bits of entropy (nobody can guess them), while a
 *   server-side pepper keeps a stolen key table useless without the server's secret.
 * - The checksum (CRC-32 of everything before it) refuses a mistyped or truncated key before any
 *   store lookup. CRC-32 catches every single-character change and every burst of up to 32 bits.
 */

export const KEY_PREFIX = 'pcl_';
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KID_LENGTH = 16;
const SECRET_LENGTH = 43;
const CHECKSUM_LENGTH = 6;
export const KEY_LENGTH = KEY_PREFIX.length + KID_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++)
    crc = (CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function base62(value: number, length: number): string {
  let out = '';
  let v = value;
  for (let i = 0; i < length; i++) {
    out = BASE62[v % 62] + out;
    v = Math.floor(v / 62);
  }
  return out;
}

function randomBase62(length: number): string {
  // Rejection sampling keeps every character uniform (256 is not a multiple of 62).
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

function isBase62(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122))) return false;
  }
  return true;
}

function isBase64Url(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95))
      return false;
  }
  return true;
}

export interface NewApiKey {
  /** The whole key: shown once to its owner, never stored. */
  readonly key: string;
  readonly keyId: string;
  /** Only the secret part: what gets hashed. */
  readonly secret: string;
}

/** A new key with a fresh key id and 256 bits of secret. */
export function generateApiKey(): NewApiKey {
  const keyId = randomBase62(KID_LENGTH);
  const secret = randomBytes(32).toString('base64url');
  return { key: assembleApiKey(keyId, secret), keyId, secret };
}

/** Puts a key together from its id and secret, checksum included (tests forge keys with it). */
export function assembleApiKey(keyId: string, secret: string): string {
  const body = `${KEY_PREFIX}${keyId}_${secret}`;
  return body + base62(crc32(body), CHECKSUM_LENGTH);
}

export type ParsedApiKey =
  | { readonly ok: true; readonly keyId: string; readonly secret: string }
  | { readonly ok: false; readonly reason: 'malformed' | 'checksum' };

/** Splits a presented key, refusing malformed and mistyped ones; the key itself is never echoed. */
export function parseApiKey(key: string): ParsedApiKey {
  if (key.length !== KEY_LENGTH || !key.startsWith(KEY_PREFIX)) return { ok: false, reason: 'malformed' };
  const kidEnd = KEY_PREFIX.length + KID_LENGTH;
  if (key.charCodeAt(kidEnd) !== 95) return { ok: false, reason: 'malformed' };
  const keyId = key.slice(KEY_PREFIX.length, kidEnd);
  const secret = key.slice(kidEnd + 1, kidEnd + 1 + SECRET_LENGTH);
  const checksum = key.slice(kidEnd + 1 + SECRET_LENGTH);
  if (!isBase62(keyId) || !isBase64Url(secret) || !isBase62(checksum))
    return { ok: false, reason: 'malformed' };
  if (base62(crc32(key.slice(0, kidEnd + 1 + SECRET_LENGTH)), CHECKSUM_LENGTH) !== checksum)
    return { ok: false, reason: 'checksum' };
  return { ok: true, keyId, secret };
}

/** What is stored for a key: HMAC-SHA256 of its secret under the server-side pepper. */
export function hashSecret(secret: string, pepper: Buffer): Buffer {
  return createHmac('sha256', pepper).update(secret).digest();
}

/** Compares a presented secret with a stored hash in constant time. */
export function secretMatches(secret: string, storedHash: Buffer, pepper: Buffer): boolean {
  const presented = hashSecret(secret, pepper);
  return presented.length === storedHash.length && timingSafeEqual(presented, storedHash);
}

/**
 * Content-Digest (RFC 9530 §2): a Dictionary of algorithm → byte sequence, the digest of the
 * message content (the bytes on the wire after any content coding, before transfer coding).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { type Limits, parseDictionary, StructuredFieldError } from './structured.js';

export const DIGEST_ALGORITHMS = ['sha-256', 'sha-512'] as const;
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];

const NODE_HASH: Record<DigestAlgorithm, { name: string; length: number }> = {
  'sha-256': { name: 'sha256', length: 32 },
  'sha-512': { name: 'sha512', length: 64 },
};

const DIGEST_LIMITS: Limits = Object.freeze({
  maxLength: 1024,
  maxMembers: 8,
  maxInnerItems: 0,
  maxParams: 4,
  maxKeyLength: 32,
});

/** The Content-Digest value for `body` with one algorithm, e.g. `sha-256=:…:`. */
export function contentDigest(body: Buffer, algorithm: DigestAlgorithm): string {
  const digest = createHash(NODE_HASH[algorithm].name).update(body).digest('base64');
  return `${algorithm}=:${digest}:`;
}

/**
 * ok: every accepted algorithm present matches (and at least one is present);
 * mismatch: one does not; unsupported: none of the accepted algorithms is present;
 * malformed: not a Dictionary of byte sequences.
 */
export type DigestCheck = 'ok' | 'mismatch' | 'unsupported' | 'malformed';

export function checkContentDigest(
  header: string,
  body: Buffer,
  accepted: readonly DigestAlgorithm[],
): DigestCheck {
  let dict: ReturnType<typeof parseDictionary>;
  try {
    dict = parseDictionary(header, DIGEST_LIMITS);
  } catch (err) {
    if (err instanceof StructuredFieldError) return 'malformed';
    throw err;
  }
  let checked = 0;
  for (const [alg, member] of dict) {
    if (member.kind !== 'item' || member.value.type !== 'bytes') return 'malformed';
    if (!(accepted as readonly string[]).includes(alg)) continue; // RFC 9530: unknown ones are ignored
    const hash = NODE_HASH[alg as DigestAlgorithm];
    const given = member.value.value;
    if (given.length !== hash.length) return 'mismatch';
    const actual = createHash(hash.name).update(body).digest();
    if (!timingSafeEqual(actual, given)) return 'mismatch';
    checked++;
  }
  return checked === 0 ? 'unsupported' : 'ok';
}

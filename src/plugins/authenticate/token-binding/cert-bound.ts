import type { ClientCertificate } from '../../../core/context.js';

/**
 * RFC 8705 §3.1: x5t#S256 is base64url(SHA-256(DER certificate)). Node reports the same hash as
 * colon-separated hex (fingerprint256), so the thumbprint is that hex re-encoded.
 */
export function x5tS256FromFingerprint(fingerprint256: string): string {
  return Buffer.from(fingerprint256.replaceAll(':', ''), 'hex').toString('base64url');
}

/** One conversion per certificate object (the listener keeps one per TLS session). */
const thumbprints = new WeakMap<ClientCertificate, string>();

export function certificateThumbprint(cert: ClientCertificate): string {
  let t = thumbprints.get(cert);
  if (t === undefined) {
    t = x5tS256FromFingerprint(cert.fingerprint256);
    thumbprints.set(cert, t);
  }
  return t;
}

/**
 * A SHA-256 hash in canonical base64url: 43 characters of the alphabet decoding to 32 bytes, the
 * last one carrying no stray low bits (so one hash has one spelling, and the comparison below may
 * be a plain string comparison).
 */
export function isThumbprint(value: unknown): value is string {
  if (typeof value !== 'string' || value.length !== 43) return false;
  const bytes = Buffer.from(value, 'base64url');
  return bytes.length === 32 && bytes.toString('base64url') === value;
}

/**
 * Why a certificate-bound token may not be used on this connection, or undefined when it may:
 * the connection must carry a client certificate the listener verified, with exactly the hash the
 * token names.
 */
export function certificateBindingProblem(
  cert: ClientCertificate | undefined,
  x5tS256: unknown,
):
  | 'cnf_x5t_malformed'
  | 'certificate_missing'
  | 'certificate_not_verified'
  | 'certificate_mismatch'
  | undefined {
  if (!isThumbprint(x5tS256)) return 'cnf_x5t_malformed';
  if (cert === undefined) return 'certificate_missing';
  if (!cert.verified) return 'certificate_not_verified';
  if (certificateThumbprint(cert) !== x5tS256) return 'certificate_mismatch';
  return undefined;
}

/**
 * The signature algorithms of RFC 9421 §3.3 this verifier accepts, and the import of registered
 * keys. The algorithm always comes from the registered key, never from the request.
 */
import {
  constants,
  createHmac,
  createPublicKey,
  type JsonWebKey,
  type KeyObject,
  timingSafeEqual,
  verify,
} from 'node:crypto';

export const ALGORITHMS = [
  'ed25519',
  'ecdsa-p256-sha256',
  'rsa-pss-sha512',
  'rsa-v1_5-sha256',
  'hmac-sha256',
] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

/** Key material ready for the hot path. */
export type VerificationKey =
  | { readonly algorithm: Exclude<Algorithm, 'hmac-sha256'>; readonly key: KeyObject }
  | { readonly algorithm: 'hmac-sha256'; readonly secret: Buffer };

/** The smallest RSA modulus accepted, in bits. */
const MIN_RSA_BITS = 2048;
/** The shortest HMAC secret accepted, in bytes (RFC 2104: at least the hash output length). */
const MIN_SECRET_BYTES = 32;

/**
 * Imports one registered key. Throws a plain Error naming what is wrong (never the key itself).
 */
export function importKey(
  algorithm: Algorithm,
  publicKey: string | Record<string, unknown> | undefined,
  secret: string | undefined,
): VerificationKey {
  if (algorithm === 'hmac-sha256') {
    if (publicKey !== undefined) throw new Error('hmac-sha256 takes a "secret", not a "publicKey"');
    if (secret === undefined || secret === '') throw new Error('hmac-sha256 needs a "secret" (base64)');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(secret) || secret.length % 4 === 1)
      throw new Error('"secret" is not base64');
    const bytes = Buffer.from(secret, 'base64');
    if (bytes.length < MIN_SECRET_BYTES)
      throw new Error(`"secret" must decode to at least ${MIN_SECRET_BYTES} bytes`);
    return { algorithm, secret: bytes };
  }
  if (secret !== undefined) throw new Error(`${algorithm} takes a "publicKey", not a "secret"`);
  if (publicKey === undefined) throw new Error(`${algorithm} needs a "publicKey" (PEM or JWK)`);
  let key: KeyObject;
  try {
    if (typeof publicKey === 'string') {
      if (publicKey.includes('PRIVATE KEY')) throw new Error('private');
      key = createPublicKey(publicKey);
    } else {
      if ('d' in publicKey || 'k' in publicKey) throw new Error('private');
      key = createPublicKey({ key: publicKey as JsonWebKey, format: 'jwk' });
    }
  } catch (err) {
    if ((err as Error).message === 'private')
      throw new Error('"publicKey" must be a public key; remove the private key material from the config');
    throw new Error('"publicKey" is not a readable PEM public key or public JWK');
  }
  const type = key.asymmetricKeyType;
  switch (algorithm) {
    case 'ed25519':
      if (type !== 'ed25519') throw new Error(`"publicKey" is a ${type} key, not an Ed25519 key`);
      break;
    case 'ecdsa-p256-sha256':
      if (type !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
        throw new Error('"publicKey" is not an EC P-256 key');
      break;
    case 'rsa-pss-sha512':
    case 'rsa-v1_5-sha256':
      if (type !== 'rsa' && !(type === 'rsa-pss' && algorithm === 'rsa-pss-sha512'))
        throw new Error(`"publicKey" is a ${type} key, not an RSA key`);
      if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS)
        throw new Error(`"publicKey" must be an RSA key of at least ${MIN_RSA_BITS} bits`);
      break;
  }
  return { algorithm, key };
}

/** Verifies `signature` over `base`. Never throws: a signature that cannot be checked is false. */
export function verifySignature(vk: VerificationKey, base: Buffer, signature: Buffer): boolean {
  try {
    switch (vk.algorithm) {
      case 'ed25519':
        return signature.length === 64 && verify(null, base, vk.key, signature);
      case 'ecdsa-p256-sha256':
        // RFC 9421 §3.3.4: r || s, 32 bytes each (IEEE P1363), not DER.
        return (
          signature.length === 64 &&
          verify('sha256', base, { key: vk.key, dsaEncoding: 'ieee-p1363' }, signature)
        );
      case 'rsa-pss-sha512':
        return verify(
          'sha512',
          base,
          { key: vk.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 },
          signature,
        );
      case 'rsa-v1_5-sha256':
        return verify('sha256', base, { key: vk.key, padding: constants.RSA_PKCS1_PADDING }, signature);
      case 'hmac-sha256': {
        if (signature.length !== 32) return false;
        const mac = createHmac('sha256', vk.secret).update(base).digest();
        return timingSafeEqual(mac, signature);
      }
    }
  } catch {
    return false;
  }
}

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Stateless DPoP server nonces (RFC 9449 §9): base64url(window ‖ HMAC-SHA256(secret, label ‖ window)[0..16]),
 * where window = floor(now / lifetime). Nothing is stored: any node holding the same secret
 * recognizes a nonce, so several gateway nodes need no shared state for it. A nonce is accepted in
 * its own window and the next one (so it lives between one and two lifetimes); a nonce from the
 * previous window is accepted and a fresh one is handed out with the response.
 */
export type NonceCheck = 'current' | 'previous' | 'stale' | 'invalid';

export interface Nonces {
  /** The nonce of the current window (computed once per window). */
  issue(): string;
  check(nonce: unknown): NonceCheck;
}

const LABEL = Buffer.from('portcullis dpop nonce v1\0');
const MAC_BYTES = 16;
const NONCE_BYTES = 4 + MAC_BYTES;
const NONCE_CHARS = Math.ceil((NONCE_BYTES * 4) / 3);

let processSecret: Buffer | undefined;

/** A secret for this process only (when none is configured): nonces then do not work across nodes. */
export function perProcessSecret(): Buffer {
  processSecret ??= randomBytes(32);
  return processSecret;
}

export function createNonces(secret: Buffer, lifetimeSeconds: number, now: () => number): Nonces {
  const lifetimeMs = lifetimeSeconds * 1000;
  const mac = (window: number): Buffer => {
    const w = Buffer.alloc(4);
    w.writeUInt32BE(window >>> 0);
    return createHmac('sha256', secret).update(LABEL).update(w).digest().subarray(0, MAC_BYTES);
  };
  let cachedWindow = -1;
  let cached = '';
  const windowOf = (): number => Math.floor(now() / lifetimeMs);

  return {
    issue(): string {
      const w = windowOf();
      if (w !== cachedWindow) {
        const buf = Buffer.alloc(NONCE_BYTES);
        buf.writeUInt32BE(w >>> 0);
        mac(w).copy(buf, 4);
        cached = buf.toString('base64url');
        cachedWindow = w;
      }
      return cached;
    },
    check(nonce: unknown): NonceCheck {
      if (typeof nonce !== 'string' || nonce.length !== NONCE_CHARS) return 'invalid';
      const buf = Buffer.from(nonce, 'base64url');
      // Node's decoder skips characters outside the alphabet: a round trip proves there were none.
      if (buf.length !== NONCE_BYTES || buf.toString('base64url') !== nonce) return 'invalid';
      const w = buf.readUInt32BE(0);
      if (!timingSafeEqual(buf.subarray(4), mac(w))) return 'invalid';
      const current = windowOf() >>> 0;
      if (w === current) return 'current';
      if (w === (current - 1) >>> 0) return 'previous';
      return 'stale';
    },
  };
}

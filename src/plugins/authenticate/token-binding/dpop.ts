import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, compactVerify, EmbeddedJWK, type JWK } from 'jose';
import type { ReplayCache } from '../../../stores/types.js';
import { normalizeHtu, type Target } from './htu.js';
import type { Nonces } from './nonce.js';

/** Asymmetric JWS algorithms a DPoP proof may use (RFC 9449 §4.2: never `none`, never a MAC). */
export const DPOP_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
  'Ed25519',
] as const;

export interface DpopVerifierOptions {
  readonly algorithms: readonly string[];
  readonly iatWindowSeconds: number;
  readonly clockSkewSeconds: number;
  readonly maxProofBytes: number;
  /** Server nonces when required; undefined = off. */
  readonly nonces: Nonces | undefined;
  /** Public origins the htu may name instead of the request's own (behind a TLS-terminating proxy). */
  readonly origins: ReadonlySet<string>;
  /** Epoch milliseconds (injected in tests). */
  readonly now: () => number;
  /** The jti replay cache (opened on first use). */
  readonly replay: () => ReplayCache;
  /** Longest wait for the replay cache before failing closed. */
  readonly replayTimeoutMs: number;
}

export interface DpopRequest {
  /** The DPoP header as Node gives it (several headers arrive joined with ", "). */
  readonly header: string | string[] | undefined;
  readonly method: string;
  /** The URI the client addressed, normalized; undefined if it cannot be formed. */
  readonly target: Target | undefined;
  /** The access token the proof must be bound to (ath). */
  readonly accessToken: string;
  /** The token's cnf.jkt. */
  readonly jkt: string;
}

export type DpopResult =
  | { readonly ok: true; readonly jkt: string /** a fresh nonce to hand out */; readonly nonce?: string }
  | {
      readonly ok: false;
      /** Internal reason for logs and metrics; never a credential. */
      readonly reason: string;
      readonly error: 'invalid_dpop_proof' | 'use_dpop_nonce';
      /** With use_dpop_nonce: the nonce to send in DPoP-Nonce. */
      readonly nonce?: string;
      readonly unavailable?: boolean;
    };

/** JWK members that only a private (or symmetric) key has. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const MAX_JTI_LENGTH = 256;

function refuse(reason: string): DpopResult {
  return { ok: false, reason, error: 'invalid_dpop_proof' };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Exactly three non-empty base64url parts: one compact JWS, nothing else (no ",", no spaces). */
function isCompactJws(value: string): boolean {
  let dots = 0;
  let partLength = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 46) {
      if (partLength === 0) return false;
      dots++;
      partLength = 0;
      continue;
    }
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95;
    if (!ok) return false;
    partLength++;
  }
  return dots === 2 && partLength > 0;
}

function decodeJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/** base64url(SHA-256(ASCII(access token))): the `ath` claim (RFC 9449 §4.2). */
export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/** Key in the replay cache for one proof: the proof key's thumbprint and a hash of its jti. */
export function replayKey(jkt: string, jti: string): string {
  return `dpop:${jkt}:${createHash('sha256').update(jti, 'utf8').digest('base64url')}`;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('replay cache timeout')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The checks of RFC 9449 §4.3 and §7.1 for one request, in order: one well-formed proof of bounded
 * size; typ dpop+jwt; an allowed asymmetric alg; a public embedded JWK; the signature; jti, htm,
 * htu, iat present; htm and htu match the request; iat inside the window; ath matches the access
 * token; the key's thumbprint matches cnf.jkt; the server nonce if required; and finally the jti
 * claimed once in the replay cache (only for proofs that passed everything else).
 */
export function createDpopVerifier(options: DpopVerifierOptions): (req: DpopRequest) => Promise<DpopResult> {
  const algorithms = new Set(options.algorithms);
  const joseAlgorithms = [...options.algorithms];
  const windowS = options.iatWindowSeconds;
  const skewS = options.clockSkewSeconds;
  const replayTtlMs = (windowS + 2 * skewS) * 1000;
  const { nonces, origins } = options;

  return async function verifyDpopProof(req: DpopRequest): Promise<DpopResult> {
    const header = req.header;
    if (header === undefined) return refuse('dpop_proof_missing');
    if (typeof header !== 'string') return refuse('dpop_proof_multiple');
    if (header.length > options.maxProofBytes) return refuse('dpop_proof_oversized');
    if (header.includes(',')) return refuse('dpop_proof_multiple');
    if (!isCompactJws(header)) return refuse('dpop_proof_malformed');

    const dot = header.indexOf('.');
    const protectedHeader = decodeJson(header.slice(0, dot));
    if (!isObject(protectedHeader)) return refuse('dpop_proof_malformed');
    if (protectedHeader.typ !== 'dpop+jwt') return refuse('dpop_proof_wrong_typ');
    const alg = protectedHeader.alg;
    if (typeof alg !== 'string' || !algorithms.has(alg)) return refuse('dpop_proof_alg_not_allowed');
    const jwk = protectedHeader.jwk;
    if (!isObject(jwk)) return refuse('dpop_proof_no_jwk');
    for (const m of PRIVATE_MEMBERS) if (m in jwk) return refuse('dpop_proof_private_key');

    let payloadBytes: Uint8Array;
    try {
      ({ payload: payloadBytes } = await compactVerify(header, EmbeddedJWK, { algorithms: joseAlgorithms }));
    } catch {
      return refuse('dpop_proof_bad_signature');
    }
    let claims: unknown;
    try {
      claims = JSON.parse(Buffer.from(payloadBytes).toString('utf8'));
    } catch {
      return refuse('dpop_proof_malformed');
    }
    if (!isObject(claims)) return refuse('dpop_proof_malformed');
    const { jti, htm, htu, iat, ath } = claims;
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH)
      return refuse('dpop_proof_bad_jti');
    if (
      typeof htm !== 'string' ||
      typeof htu !== 'string' ||
      typeof iat !== 'number' ||
      !Number.isFinite(iat)
    )
      return refuse('dpop_proof_missing_claims');

    if (htm !== req.method) return refuse('dpop_proof_htm_mismatch');
    const claimed = normalizeHtu(htu);
    const target = req.target;
    if (
      claimed === undefined ||
      target === undefined ||
      claimed.path !== target.path ||
      !(origins.size === 0 ? claimed.origin === target.origin : origins.has(claimed.origin))
    )
      return refuse('dpop_proof_htu_mismatch');

    const nowMs = options.now();
    const age = nowMs / 1000 - iat;
    if (age > windowS + skewS) return refuse('dpop_proof_stale');
    if (-age > skewS) return refuse('dpop_proof_from_future');

    if (typeof ath !== 'string' || ath !== accessTokenHash(req.accessToken))
      return refuse('dpop_proof_ath_mismatch');

    let thumbprint: string;
    try {
      thumbprint = await calculateJwkThumbprint(jwk as JWK);
    } catch {
      return refuse('dpop_proof_bad_jwk');
    }
    if (thumbprint !== req.jkt) return refuse('dpop_proof_jkt_mismatch');

    let freshNonce: string | undefined;
    if (nonces !== undefined) {
      const state = nonces.check(claims.nonce);
      if (state === 'invalid' || state === 'stale') {
        return {
          ok: false,
          reason: claims.nonce === undefined ? 'dpop_nonce_missing' : `dpop_nonce_${state}`,
          error: 'use_dpop_nonce',
          nonce: nonces.issue(),
        };
      }
      if (state === 'previous') freshNonce = nonces.issue();
    }

    let first: boolean;
    try {
      first = await withTimeout(
        options.replay().claim(replayKey(thumbprint, jti), replayTtlMs),
        options.replayTimeoutMs,
      );
    } catch {
      return {
        ok: false,
        reason: 'replay_cache_unavailable',
        error: 'invalid_dpop_proof',
        unavailable: true,
      };
    }
    if (!first) return refuse('dpop_proof_replayed');
    return freshNonce === undefined
      ? { ok: true, jkt: thumbprint }
      : { ok: true, jkt: thumbprint, nonce: freshNonce };
  };
}

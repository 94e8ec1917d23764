import { type CryptoKey, importJWK, type JWK } from 'jose';
import type { Logger } from 'pino';
import type { Agent } from 'undici';
import { callEndpoint, EndpointError } from '../../../auth/bearer.js';

/**
 * Verification keys of one issuer: static JWKs, an HMAC secret, or a JWK Set fetched from the
 * issuer. A key is found ONLY by the token's `kid` (a plain map key) within the issuer chosen by
 * `iss`; header fields that point at keys (`jku`, `x5u`, `jwk`, `x5c`) are never read.
 */

/** One verification key, imported once for every algorithm it may verify. */
export interface KeyEntry {
  readonly kid: string | undefined;
  /** WebCrypto key (or HMAC secret bytes) per allowed algorithm. */
  readonly byAlg: ReadonlyMap<string, CryptoKey | Uint8Array>;
  /** Set when a JWK Set refresh dropped the key: cached tokens it verified are checked again. */
  retired: boolean;
}

const RSA_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_ALGS: Record<string, string[]> = { 'P-256': ['ES256'], 'P-384': ['ES384'], 'P-521': ['ES512'] };
const OKP_ALGS: Record<string, string[]> = { Ed25519: ['EdDSA', 'Ed25519'] };
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const PUBLIC_MEMBERS = ['kty', 'crv', 'n', 'e', 'x', 'y'];

/** Algorithms a public JWK can verify, by its type and curve (an HMAC algorithm never). */
export function algorithmsForJwk(jwk: Record<string, unknown>, allowed: ReadonlySet<string>): string[] {
  let algs: string[] = [];
  if (jwk.kty === 'RSA') algs = RSA_ALGS;
  else if (jwk.kty === 'EC' && typeof jwk.crv === 'string') algs = EC_ALGS[jwk.crv] ?? [];
  else if (jwk.kty === 'OKP' && typeof jwk.crv === 'string') algs = OKP_ALGS[jwk.crv] ?? [];
  if (typeof jwk.alg === 'string') algs = algs.includes(jwk.alg) ? [jwk.alg] : [];
  return algs.filter((a) => allowed.has(a));
}

/** Why a JWK cannot be a verification key, or undefined. Never echoes key material. */
export function publicJwkProblem(jwk: unknown): string | undefined {
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) return 'is not a JWK object';
  const k = jwk as Record<string, unknown>;
  if (typeof k.kty !== 'string') return 'has no "kty"';
  if (k.kty === 'oct') return 'is a symmetric key (use "secret" for HMAC)';
  if (PRIVATE_MEMBERS.some((m) => m in k)) return 'contains private key material; give the public key only';
  if (k.kid !== undefined && typeof k.kid !== 'string') return 'has a non-string "kid"';
  if (k.use !== undefined && k.use !== 'sig') return 'is not a signature key ("use" is not "sig")';
  if (Array.isArray(k.key_ops) && !k.key_ops.includes('verify')) return 'does not allow "verify" in key_ops';
  return undefined;
}

/** Imports a public JWK for every allowed algorithm it supports; undefined if it supports none. */
export async function importPublicJwk(
  jwk: Record<string, unknown>,
  allowed: ReadonlySet<string>,
): Promise<KeyEntry | undefined> {
  const algs = algorithmsForJwk(jwk, allowed);
  if (algs.length === 0) return undefined;
  // Only the public members reach the importer: no ext, key_ops, x5c or anything else.
  const clean: Record<string, unknown> = {};
  for (const m of PUBLIC_MEMBERS) if (jwk[m] !== undefined) clean[m] = jwk[m];
  const byAlg = new Map<string, CryptoKey | Uint8Array>();
  for (const alg of algs) byAlg.set(alg, (await importJWK(clean as JWK, alg)) as CryptoKey);
  return { kid: typeof jwk.kid === 'string' ? jwk.kid : undefined, byAlg, retired: false };
}

/** The HMAC secret as a key entry for the allowed HS algorithms (any kid names it). */
export function secretEntry(secret: string, algs: readonly string[]): KeyEntry {
  const bytes = new TextEncoder().encode(secret);
  return { kid: undefined, byAlg: new Map(algs.map((a) => [a, bytes])), retired: false };
}

/** Keys by kid; keys without a kid answer tokens whose kid names no key, and tokens without one. */
export class KeySet {
  private readonly byKid = new Map<string, KeyEntry[]>();
  private readonly noKid: KeyEntry[] = [];
  readonly all: readonly KeyEntry[];

  constructor(entries: readonly KeyEntry[]) {
    this.all = entries;
    for (const e of entries) {
      if (e.kid === undefined) this.noKid.push(e);
      else {
        const list = this.byKid.get(e.kid);
        if (list) list.push(e);
        else this.byKid.set(e.kid, [e]);
      }
    }
  }

  /** Candidate keys for a token's kid (undefined: every key). */
  find(kid: string | undefined): readonly KeyEntry[] {
    if (kid === undefined) return this.all;
    return this.byKid.get(kid) ?? this.noKid;
  }
}

export const EMPTY_KEYS = new KeySet([]);

/** A JWK Set larger than this, or with more keys, is refused. */
export const MAX_JWKS_BYTES = 256 * 1024;
export const MAX_JWKS_KEYS = 100;

export interface JwksOptions {
  readonly url: URL;
  readonly issuer: string;
  readonly cacheSeconds: number;
  readonly cooldownSeconds: number;
  readonly timeoutMs: number;
  readonly algorithms: ReadonlySet<string>;
  readonly agent: Agent;
  readonly logger: Logger;
  readonly clock: () => number;
}

/** Cache-Control max-age (seconds), held within [60, 86400]; no-store / no-cache count as 0. */
export function freshnessSeconds(cacheControl: string | string[] | undefined, fallback: number): number {
  let seconds = fallback;
  const value = Array.isArray(cacheControl) ? cacheControl.join(',') : cacheControl;
  if (value !== undefined) {
    for (const part of value.split(',')) {
      const d = part.trim().toLowerCase();
      if (d === 'no-store' || d === 'no-cache') seconds = 0;
      else if (d.startsWith('max-age=')) {
        const n = Number(d.slice(8));
        if (Number.isInteger(n) && n >= 0) seconds = n;
      }
    }
  }
  return Math.min(86400, Math.max(60, seconds));
}

/**
 * An issuer's JWK Set: fetched with undici (timeout, size limit), fresh per Cache-Control,
 * refetched when stale (in the background, known keys keep serving) or on an unknown kid (at most
 * once per cooldown). When the endpoint is down the last good keys stay in use.
 */
export class JwksSource {
  current: KeySet = EMPTY_KEYS;
  /** Fetch attempts so far (for tests and metrics). */
  fetches = 0;
  /** The last attempt failed (endpoint down, bad answer): unknown keys cannot be decided. */
  lastFailed = false;
  private expiresAt = 0;
  private lastAttempt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | undefined;
  private readonly known = new Map<string, KeyEntry>();
  private closed = false;

  constructor(private readonly o: JwksOptions) {}

  /** Another fetch is allowed (the cooldown since the last attempt has passed), or one is running. */
  mayRefetch(now: number): boolean {
    return this.inflight !== undefined || now - this.lastAttempt >= this.o.cooldownSeconds * 1000;
  }

  /** Starts a background refresh when the set is stale and the cooldown allows it. */
  refreshIfStale(now: number): void {
    if (now >= this.expiresAt && this.mayRefetch(now)) void this.refresh();
  }

  /** Fetches now (or joins the fetch in flight). Never rejects. */
  refresh(): Promise<void> {
    if (this.inflight) return this.inflight;
    if (this.closed) return Promise.resolve();
    this.lastAttempt = this.o.clock();
    this.fetches++;
    this.inflight = this.load().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  close(): void {
    this.closed = true;
  }

  private async load(): Promise<void> {
    const { url, issuer, logger } = this.o;
    try {
      const answer = await callEndpoint(this.o.agent, url, {
        method: 'GET',
        headers: { accept: 'application/jwk-set+json, application/json' },
        timeoutMs: this.o.timeoutMs,
        maxBytes: MAX_JWKS_BYTES,
      });
      if (answer.status !== 200) throw new EndpointError('status', `status ${answer.status}`);
      let doc: unknown;
      try {
        doc = JSON.parse(answer.body.toString('utf8'));
      } catch {
        throw new EndpointError('status', 'answer is not JSON');
      }
      const keys = (doc as { keys?: unknown } | null)?.keys;
      if (!Array.isArray(keys)) throw new EndpointError('status', 'answer has no "keys" array');
      if (keys.length > MAX_JWKS_KEYS)
        throw new EndpointError('too_large', `more than ${MAX_JWKS_KEYS} keys`);
      const entries: KeyEntry[] = [];
      const seen = new Set<string>();
      let skipped = 0;
      for (const jwk of keys) {
        if (publicJwkProblem(jwk) !== undefined) {
          skipped++;
          continue;
        }
        const k = jwk as Record<string, unknown>;
        const identity = JSON.stringify([k.kid, k.alg, ...PUBLIC_MEMBERS.map((m) => k[m])]);
        let entry = this.known.get(identity);
        if (entry === undefined) {
          try {
            entry = await importPublicJwk(k, this.o.algorithms);
          } catch {
            entry = undefined;
          }
          if (entry === undefined) {
            skipped++;
            continue;
          }
        }
        seen.add(identity);
        this.known.set(identity, entry);
        entries.push(entry);
      }
      for (const [identity, entry] of this.known) {
        if (!seen.has(identity)) {
          entry.retired = true;
          this.known.delete(identity);
        }
      }
      this.current = new KeySet(entries);
      this.lastFailed = false;
      this.expiresAt =
        this.o.clock() + freshnessSeconds(answer.headers['cache-control'], this.o.cacheSeconds) * 1000;
      if (skipped > 0) logger.warn({ issuer, skipped }, 'JWK Set: keys skipped (unusable or not allowed)');
    } catch (err) {
      this.lastFailed = true;
      logger.warn(
        { issuer, reason: err instanceof EndpointError ? `${err.kind}: ${err.message}` : 'error' },
        this.current === EMPTY_KEYS
          ? 'JWK Set could not be fetched; tokens of this issuer cannot be verified'
          : 'JWK Set could not be refreshed; the last fetched keys stay in use',
      );
    }
  }
}

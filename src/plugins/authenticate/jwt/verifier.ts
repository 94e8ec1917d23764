import { type CryptoKey, compactVerify, errors as joseErrors } from 'jose';
import type { Logger } from 'pino';
import type { Agent } from 'undici';
import { checkEndpointUrl, createEndpointAgent, type TokenOutcome, TtlCache } from '../../../auth/bearer.js';
import {
  audienceMatches,
  type ClaimMapper,
  type Claims,
  checkTimes,
  compileClaimMapping,
  compileRequiredClaims,
  confirmationOf,
  type RequiredClaims,
  type TimeRules,
  validUntilMs,
} from '../../../auth/claims.js';
import type { PresentedToken, Principal } from '../../../core/principal.js';
import { importPublicJwk, JwksSource, type KeyEntry, KeySet, publicJwkProblem, secretEntry } from './keys.js';
import { HMAC_ALGORITHMS, type IssuerSettings, type JwtSettings } from './schema.js';

/** A token whose signature and claims were checked: what the cache keeps. */
export interface VerifiedToken {
  readonly principal: Principal;
  readonly cnf: PresentedToken['cnf'];
  readonly jti: string | undefined;
  /** The key that verified it: a token whose key was dropped from the JWK Set is checked again. */
  readonly key: KeyEntry;
}

export type Outcome = TokenOutcome<VerifiedToken>;

/** Refusals remembered briefly, so the same bad token does not cost a signature check each time. */
const NEGATIVE_REASONS = new Set([
  'malformed',
  'alg_not_allowed',
  'bad_issuer',
  'bad_typ',
  'bad_signature',
  'bad_audience',
  'expired',
  'missing_exp',
  'missing_iat',
  'too_old',
  'claim_mismatch',
  'malformed_claims',
  'missing_sub',
  'revoked',
  'alg_mismatch',
]);
const NEGATIVE_TTL_MS = 10_000;
const NEGATIVE_MAX = 1000;
/** A token without a kid is tried against at most this many keys of its issuer. */
const MAX_KEYS_TRIED = 3;
const MIN_SECRET_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };

interface Issuer {
  readonly issuer: string;
  readonly audience: ReadonlySet<string>;
  readonly algorithms: ReadonlySet<string>;
  /** Normalized accepted typ values; undefined = any. */
  readonly typ: ReadonlySet<string> | undefined;
  readonly time: TimeRules;
  readonly required: (claims: Claims) => string | undefined;
  readonly mapper: ClaimMapper;
  /** Static keys or the HMAC secret. */
  staticKeys: KeySet | undefined;
  /** An HMAC secret answers every kid. */
  readonly secretKeys: boolean;
  readonly jwks: JwksSource | undefined;
  readonly settings: IssuerSettings;
}

/** "application/at+JWT" → "at+jwt" (RFC 7515 4.1.9: the prefix may be omitted, compare without case). */
export function normalizeTyp(typ: string): string {
  const t = typ.toLowerCase();
  return t.startsWith('application/') ? t.slice(12) : t;
}

function decodeJsonSegment(segment: string): Claims | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Claims)
      : undefined;
  } catch {
    return undefined;
  }
}

export interface VerifierOptions {
  readonly logger: Logger;
  /** Epoch milliseconds; tests may move it. */
  readonly clock?: () => number;
}

/**
 * The JWT checks without the request: issuer selection, key lookup, signature, claims, cache.
 * Built once per plan (shared by routes with the same settings); `lookup` is the synchronous
 * cache-hit path, `verify` the asynchronous full check.
 */
export class JwtVerifier {
  private readonly issuers = new Map<string, Issuer>();
  private readonly anyAlgorithm = new Set<string>();
  private readonly revoked: ReadonlySet<string>;
  private readonly cache: TtlCache<VerifiedToken>;
  private readonly negative: TtlCache<string>;
  private readonly agent: Agent | undefined;
  private readonly clock: () => number;

  constructor(
    private readonly settings: JwtSettings,
    private readonly options: VerifierOptions,
  ) {
    this.clock = options.clock ?? Date.now;
    this.revoked = new Set(settings.revokedJtis);
    this.cache = new TtlCache(settings.cacheMaxEntries);
    this.negative = new TtlCache(Math.min(NEGATIVE_MAX, settings.cacheMaxEntries));
    let maxTimeout = 0;
    settings.issuers.forEach((s, i) => {
      if (s.jwksUri !== '') maxTimeout = Math.max(maxTimeout, s.jwks.timeoutMs);
      this.checkIssuer(s, i);
    });
    this.agent = maxTimeout > 0 ? createEndpointAgent(maxTimeout) : undefined;
    settings.issuers.forEach((s, i) => {
      this.issuers.set(s.issuer, this.compileIssuer(s, i));
      for (const a of s.algorithms) this.anyAlgorithm.add(a);
    });
  }

  /** Start-up checks; messages name the setting, never a secret or key material. */
  private checkIssuer(s: IssuerSettings, i: number): void {
    const at = `issuers[${i}]`;
    if (this.settings.issuers.findIndex((o) => o.issuer === s.issuer) !== i)
      throw new Error(`${at}.issuer: duplicate issuer "${s.issuer}"`);
    const hmac = s.algorithms.filter((a) => (HMAC_ALGORITHMS as readonly string[]).includes(a));
    const asymmetric = s.algorithms.filter((a) => !(HMAC_ALGORITHMS as readonly string[]).includes(a));
    if (hmac.length > 0) {
      if (asymmetric.length > 0)
        throw new Error(
          `${at}.algorithms: HMAC (HS*) and public-key algorithms cannot be mixed for one issuer (alg confusion)`,
        );
      if (s.jwksUri !== '' || s.keys.length > 0)
        throw new Error(
          `${at}: HS* algorithms are verified only with "secret", never with "jwksUri" or "keys"`,
        );
      if (s.secret === '') throw new Error(`${at}.secret: HS* algorithms need a secret`);
      const bytes = Buffer.byteLength(s.secret, 'utf8');
      for (const a of hmac) {
        const min = MIN_SECRET_BYTES[a] ?? 32;
        if (bytes < min) throw new Error(`${at}.secret: ${a} needs a secret of at least ${min} bytes`);
      }
    } else {
      if (s.secret !== '')
        throw new Error(
          `${at}.secret: a secret is used only with HS* algorithms; add them or remove the secret`,
        );
      if (s.jwksUri === '' && s.keys.length === 0)
        throw new Error(`${at}: give "jwksUri" or "keys" (the issuer has no verification key)`);
    }
    if (s.jwksUri !== '') checkEndpointUrl(s.jwksUri, `${at}.jwksUri`);
    s.keys.forEach((k, j) => {
      const problem = publicJwkProblem(k);
      if (problem !== undefined) throw new Error(`${at}.keys[${j}] ${problem}`);
    });
  }

  private compileIssuer(s: IssuerSettings, i: number): Issuer {
    const algorithms = new Set<string>(s.algorithms);
    const secretKeys = s.secret !== '';
    return {
      issuer: s.issuer,
      audience: new Set(s.audience),
      algorithms,
      typ: s.typ.length > 0 ? new Set(s.typ.map(normalizeTyp)) : undefined,
      time: { skewSeconds: s.clockSkewSeconds, maxAgeSeconds: s.maxAgeSeconds, requireExp: true },
      required: compileRequiredClaims(s.requiredClaims as RequiredClaims),
      mapper: compileClaimMapping(s),
      staticKeys: secretKeys ? new KeySet([secretEntry(s.secret, s.algorithms)]) : undefined,
      secretKeys,
      jwks:
        s.jwksUri === ''
          ? undefined
          : new JwksSource({
              url: checkEndpointUrl(s.jwksUri, `issuers[${i}].jwksUri`),
              issuer: s.issuer,
              cacheSeconds: s.jwks.cacheSeconds,
              cooldownSeconds: s.jwks.cooldownSeconds,
              timeoutMs: s.jwks.timeoutMs,
              algorithms,
              agent: this.agent as Agent,
              logger: this.options.logger,
              clock: this.clock,
            }),
      settings: s,
    };
  }

  /** Imports static keys (async WebCrypto). Call once before use; rejects on an unusable key. */
  async init(): Promise<void> {
    let i = 0;
    for (const s of this.settings.issuers) {
      const issuer = this.issuers.get(s.issuer) as Issuer;
      if (s.keys.length > 0) {
        const entries: KeyEntry[] = [];
        for (const [j, k] of s.keys.entries()) {
          let entry: KeyEntry | undefined;
          try {
            entry = await importPublicJwk(k, issuer.algorithms);
          } catch {
            throw new Error(`issuers[${i}].keys[${j}] could not be imported as a public key`);
          }
          if (entry === undefined)
            throw new Error(`issuers[${i}].keys[${j}] supports none of the issuer's allowed algorithms`);
          entries.push(entry);
        }
        issuer.staticKeys = new KeySet(entries);
      }
      i++;
    }
  }

  /** JWKS fetch attempts of an issuer (tests, metrics). */
  jwksFetches(issuer: string): number {
    return this.issuers.get(issuer)?.jwks?.fetches ?? 0;
  }

  /**
   * The synchronous path: a verified token from the cache (still valid, key not dropped, jti not
   * revoked), a remembered refusal reason, or undefined (verify it).
   */
  lookup(token: string, now: number): VerifiedToken | string | undefined {
    const hit = this.cache.get(token, now);
    if (hit !== undefined) {
      if (hit.key.retired) {
        this.cache.delete(token);
        return undefined;
      }
      if (hit.jti !== undefined && this.revoked.size > 0 && this.revoked.has(hit.jti)) return 'revoked';
      return hit;
    }
    return this.negative.get(token, now);
  }

  /** The full check (the cache is filled on success). Never rejects. */
  async verify(token: string): Promise<Outcome> {
    let outcome: Outcome;
    try {
      outcome = await this.check(token);
    } catch (err) {
      this.options.logger.error({ err }, 'jwt: unexpected error while verifying a token');
      outcome = { ok: false, reason: 'error', unavailable: true };
    }
    if (!outcome.ok && NEGATIVE_REASONS.has(outcome.reason))
      this.negative.set(token, outcome.reason, this.clock() + NEGATIVE_TTL_MS);
    return outcome;
  }

  private async check(token: string): Promise<Outcome> {
    const d1 = token.indexOf('.');
    const d2 = token.indexOf('.', d1 + 1);
    if (d1 <= 0 || d2 <= d1 + 1 || token.indexOf('.', d2 + 1) !== -1) return fail('malformed');
    const header = decodeJsonSegment(token.slice(0, d1));
    if (header === undefined || typeof header.alg !== 'string') return fail('malformed');
    const alg = header.alg;
    if (!this.anyAlgorithm.has(alg)) return fail('alg_not_allowed');
    const payload = decodeJsonSegment(token.slice(d1 + 1, d2));
    if (payload === undefined) return fail('malformed');
    // The unverified iss only selects the key set; it is trusted once the signature verifies.
    const issuer = typeof payload.iss === 'string' ? this.issuers.get(payload.iss) : undefined;
    if (issuer === undefined) return fail('bad_issuer');
    if (!issuer.algorithms.has(alg)) return fail('alg_not_allowed');
    if (
      issuer.typ !== undefined &&
      (typeof header.typ !== 'string' || !issuer.typ.has(normalizeTyp(header.typ)))
    )
      return fail('bad_typ');
    const kid = header.kid;
    if (kid !== undefined && typeof kid !== 'string') return fail('malformed');
    if (d2 === token.length - 1) return fail('bad_signature');

    const keys = await this.keysFor(issuer, kid, alg);
    if (typeof keys === 'string')
      return keys === 'unavailable'
        ? { ok: false, reason: 'jwks_unavailable', unavailable: true }
        : fail(keys);
    let key: KeyEntry | undefined;
    const tries = Math.min(keys.length, kid === undefined ? MAX_KEYS_TRIED : keys.length);
    for (let i = 0; i < tries && key === undefined; i++) {
      const candidate = keys[i] as KeyEntry;
      try {
        await compactVerify(token, candidate.byAlg.get(alg) as CryptoKey | Uint8Array, { algorithms: [alg] });
        key = candidate;
      } catch (err) {
        if (err instanceof joseErrors.JWSSignatureVerificationFailed) continue;
        return fail('malformed');
      }
    }
    if (key === undefined) return fail('bad_signature');

    const nowMs = this.clock();
    if (!audienceMatches(payload.aud, issuer.audience)) return fail('bad_audience');
    const timeProblem = checkTimes(payload, nowMs / 1000, issuer.time);
    if (timeProblem !== undefined) return fail(timeProblem);
    const claimProblem = issuer.required(payload);
    if (claimProblem !== undefined) return fail(claimProblem);
    const jti = payload.jti;
    if (jti !== undefined && typeof jti !== 'string') return fail('malformed_claims');
    if (jti !== undefined && this.revoked.has(jti)) return fail('revoked');
    const cnf = confirmationOf(payload.cnf);
    const principal = issuer.mapper.toPrincipal('jwt', issuer.issuer, payload, jti);
    if (principal === undefined) return fail('missing_sub');
    const verified: VerifiedToken = Object.freeze({ principal, cnf, jti, key });
    this.cache.set(token, verified, validUntilMs(payload, issuer.time));
    return { ok: true, token: verified };
  }

  /**
   * Candidate keys for (kid, alg) within the issuer: static keys first, then the JWK Set, which
   * is refetched on an unknown kid at most once per cooldown. A string is a refusal reason.
   */
  private async keysFor(
    issuer: Issuer,
    kid: string | undefined,
    alg: string,
  ): Promise<readonly KeyEntry[] | 'unknown_kid' | 'alg_mismatch' | 'unavailable'> {
    let found = false;
    const out: KeyEntry[] = [];
    const collect = (entries: readonly KeyEntry[]): void => {
      if (entries.length > 0) found = true;
      for (const e of entries) if (e.byAlg.has(alg)) out.push(e);
    };
    if (issuer.staticKeys !== undefined)
      collect(issuer.secretKeys ? issuer.staticKeys.all : issuer.staticKeys.find(kid));
    const jwks = issuer.jwks;
    if (jwks !== undefined) {
      const now = this.clock();
      jwks.refreshIfStale(now);
      let entries = jwks.current.find(kid);
      if (entries.length === 0 && !found && jwks.mayRefetch(now)) {
        await jwks.refresh();
        entries = jwks.current.find(kid);
      }
      collect(entries);
      if (!found && jwks.lastFailed) return 'unavailable';
    }
    if (!found) return 'unknown_kid';
    return out.length > 0 ? out : 'alg_mismatch';
  }

  close(): Promise<void> | undefined {
    for (const issuer of this.issuers.values()) issuer.jwks?.close();
    this.cache.clear();
    this.negative.clear();
    return this.agent?.close();
  }
}

function fail(reason: string): Outcome {
  return { ok: false, reason };
}

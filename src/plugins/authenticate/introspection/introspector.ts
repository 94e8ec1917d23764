import type { Logger } from 'pino';
import type { Agent } from 'undici';
import {
  callEndpoint,
  checkEndpointUrl,
  createEndpointAgent,
  EndpointError,
  type TokenOutcome,
  TtlCache,
} from '../../../auth/bearer.js';
import {
  audienceMatches,
  type ClaimMapper,
  type Claims,
  checkTimes,
  compileClaimMapping,
  confirmationOf,
} from '../../../auth/claims.js';
import type { PresentedToken, Principal } from '../../../core/principal.js';
import type { IntrospectionSettings } from './schema.js';

/** What an active answer becomes (and what the cache keeps). */
export interface Introspected {
  readonly principal: Principal;
  readonly cnf: PresentedToken['cnf'];
}

export type Outcome = TokenOutcome<Introspected>;

/** Refusals the negative cache remembers (an answer about the token, not a failure of the endpoint). */
const NEGATIVE_REASONS = new Set([
  'inactive',
  'expired',
  'bad_issuer',
  'bad_audience',
  'missing_sub',
  'malformed_claims',
]);
/** Larger answers are refused (fail closed). */
export const MAX_ANSWER_BYTES = 64 * 1024;
/** More concurrent calls than this to the endpoint are refused as unavailable (no pile-up). */
export const MAX_INFLIGHT = 256;
const LOG_EVERY_MS = 10_000;
const TIME_RULES = { skewSeconds: 0, maxAgeSeconds: 0, requireExp: false };

/** form-urlencoding of RFC 6749 2.3.1 / appendix B. */
const formEncode = (s: string) => new URLSearchParams([['', s]]).toString().slice(1);

export interface IntrospectorOptions {
  readonly logger: Logger;
  /** Epoch milliseconds; tests may move it. */
  readonly clock?: () => number;
}

/**
 * RFC 7662 token introspection for opaque access tokens: a form POST with client
 * authentication, `active` must be true, exp respected; active answers cached until
 * min(exp, TTL), refusals briefly; a timeout, a 5xx or an unreadable answer refuses the request
 * as unavailable (fail closed). Concurrent requests for one token share one call.
 */
export class Introspector {
  /** Calls made to the endpoint (tests, metrics). */
  calls = 0;
  private readonly url: URL;
  private readonly agent: Agent;
  private readonly headers: Record<string, string>;
  private readonly bodyTail: string;
  private readonly positive: TtlCache<Introspected>;
  private readonly negative: TtlCache<string>;
  private readonly inflight = new Map<string, Promise<Outcome>>();
  private readonly mapper: ClaimMapper;
  private readonly audience: ReadonlySet<string>;
  private readonly clock: () => number;
  private lastLog = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly settings: IntrospectionSettings,
    private readonly options: IntrospectorOptions,
  ) {
    if (settings.endpoint === '') throw new Error('endpoint: the introspection endpoint URL is required');
    this.url = checkEndpointUrl(settings.endpoint, 'endpoint');
    if (settings.clientId === '' || settings.clientSecret === '')
      throw new Error(
        'clientId and clientSecret are required: the endpoint must know who asks (RFC 7662 2.1)',
      );
    this.clock = options.clock ?? Date.now;
    this.headers = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    let tail = settings.tokenTypeHint === '' ? '' : `&token_type_hint=${formEncode(settings.tokenTypeHint)}`;
    if (settings.clientAuth === 'client_secret_basic') {
      const pair = `${formEncode(settings.clientId)}:${formEncode(settings.clientSecret)}`;
      this.headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
    } else {
      tail += `&client_id=${formEncode(settings.clientId)}&client_secret=${formEncode(settings.clientSecret)}`;
    }
    this.bodyTail = tail;
    this.positive = new TtlCache(settings.cacheTtlSeconds > 0 ? settings.cacheMaxEntries : 0);
    this.negative = new TtlCache(settings.negativeCacheSeconds > 0 ? settings.cacheMaxEntries : 0);
    this.mapper = compileClaimMapping(settings);
    this.audience = new Set(settings.audience);
    this.agent = createEndpointAgent(settings.timeoutMs);
  }

  /** The synchronous path: a cached answer, a remembered refusal reason, or undefined (ask). */
  lookup(token: string, now: number): Introspected | string | undefined {
    return this.positive.get(token, now) ?? this.negative.get(token, now);
  }

  /** Asks the endpoint (joining a call in flight for the same token). Never rejects. */
  check(token: string): Promise<Outcome> {
    const pending = this.inflight.get(token);
    if (pending !== undefined) return pending;
    if (this.inflight.size >= MAX_INFLIGHT) {
      this.warn('too many introspection calls in flight');
      return Promise.resolve({ ok: false, reason: 'idp_busy', unavailable: true });
    }
    const call = this.ask(token).finally(() => this.inflight.delete(token));
    this.inflight.set(token, call);
    return call;
  }

  private async ask(token: string): Promise<Outcome> {
    this.calls++;
    let doc: unknown;
    try {
      const answer = await callEndpoint(this.agent, this.url, {
        method: 'POST',
        headers: this.headers,
        body: `token=${formEncode(token)}${this.bodyTail}`,
        timeoutMs: this.settings.timeoutMs,
        maxBytes: MAX_ANSWER_BYTES,
      });
      if (answer.status !== 200) throw new EndpointError('status', `status ${answer.status}`);
      try {
        doc = JSON.parse(answer.body.toString('utf8'));
      } catch {
        throw new EndpointError('status', 'answer is not JSON');
      }
    } catch (err) {
      this.warn(err instanceof EndpointError ? `${err.kind}: ${err.message}` : 'error');
      return { ok: false, reason: 'introspection_unavailable', unavailable: true };
    }
    const outcome = this.evaluate(doc);
    const now = this.clock();
    if (outcome.ok) {
      const exp = (doc as Claims).exp;
      const ttlEnd = now + this.settings.cacheTtlSeconds * 1000;
      this.positive.set(
        token,
        outcome.token,
        typeof exp === 'number' ? Math.min(exp * 1000, ttlEnd) : ttlEnd,
      );
    } else if (!outcome.unavailable && NEGATIVE_REASONS.has(outcome.reason)) {
      this.negative.set(token, outcome.reason, now + this.settings.negativeCacheSeconds * 1000);
    }
    return outcome;
  }

  /** An RFC 7662 answer → the outcome. */
  evaluate(doc: unknown): Outcome {
    if (
      doc === null ||
      typeof doc !== 'object' ||
      Array.isArray(doc) ||
      typeof (doc as Claims).active !== 'boolean'
    ) {
      this.warn('answer has no boolean "active"');
      return { ok: false, reason: 'introspection_unavailable', unavailable: true };
    }
    const claims = doc as Claims;
    if (claims.active !== true) return { ok: false, reason: 'inactive' };
    const timeProblem = checkTimes(claims, this.clock() / 1000, TIME_RULES);
    if (timeProblem !== undefined) return { ok: false, reason: timeProblem };
    if (this.settings.issuer !== '' && claims.iss !== this.settings.issuer)
      return { ok: false, reason: 'bad_issuer' };
    if (this.audience.size > 0 && !audienceMatches(claims.aud, this.audience))
      return { ok: false, reason: 'bad_audience' };
    const jti = typeof claims.jti === 'string' ? claims.jti : undefined;
    const issuer = typeof claims.iss === 'string' ? claims.iss : this.settings.issuer || this.url.origin;
    const principal = this.mapper.toPrincipal('introspection', issuer, claims, jti);
    if (principal === undefined) return { ok: false, reason: 'missing_sub' };
    return { ok: true, token: Object.freeze({ principal, cnf: confirmationOf(claims.cnf) }) };
  }

  private warn(reason: string): void {
    const now = this.clock();
    if (now - this.lastLog < LOG_EVERY_MS) return;
    this.lastLog = now;
    this.options.logger.warn(
      { endpoint: this.url.origin + this.url.pathname, reason },
      'token introspection failed; requests that need it are refused (503)',
    );
  }

  close(): Promise<void> {
    this.positive.clear();
    this.negative.clear();
    return this.agent.close();
  }
}

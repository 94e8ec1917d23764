import { isIP } from 'node:net';
import { Agent, request } from 'undici';
import type { RequestContext } from '../core/context.js';
import type { PluginDeps } from '../core/plugin.js';

/**
 * Shared plumbing for the access-token authenticators (jwt, introspection): reading the token
 * from `Authorization: Bearer|DPoP <token>` (or a query parameter), strict syntax and length
 * limits, the outbound HTTP call to an identity provider, and a bounded TTL cache.
 */

/** Longest token accepted, in characters. Larger ones are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 8192;

export type TokenScheme = 'Bearer' | 'DPoP';

/** A token as presented by the client. */
export interface PresentedBearer {
  readonly token: string;
  readonly scheme: TokenScheme;
  readonly from: 'header' | 'query';
}

/** Why a presented token was refused before any authenticator looked at it. */
export type BearerSyntaxError = 'malformed' | 'oversized' | 'multiple_tokens';

/** No token (undefined), a token, or a token that cannot be one. */
export type BearerResult = PresentedBearer | { readonly error: BearerSyntaxError } | undefined;

// Both patterns are anchored runs of disjoint character classes: linear time on any input (no
// nested or overlapping quantifiers), and faster in V8 than a hand-written loop.
// RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
// JWS compact serialization: base64url header "." payload "." signature (may be empty).
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** RFC 6750 b64token syntax. */
export function isB64Token(token: string): boolean {
  return B64TOKEN.test(token);
}

/**
 * The shape of a JWS compact serialization: three base64url segments, header and payload not
 * empty. The signature may be empty (an unsecured `alg: none` token still looks like a JWT, so
 * the jwt authenticator refuses it instead of passing it on as an opaque token).
 */
export function isJwtShaped(token: string): boolean {
  return JWS_COMPACT.test(token);
}

function schemeOf(value: string): TokenScheme | undefined {
  // Scheme names are case-insensitive (RFC 9110 11.1); checked without allocating.
  if (value.length > 7 && value.charCodeAt(6) === 32) {
    const s = value.slice(0, 6);
    if (s === 'Bearer' || s.toLowerCase() === 'bearer') return 'Bearer';
  }
  if (value.length > 5 && value.charCodeAt(4) === 32) {
    const s = value.slice(0, 4);
    if (s === 'DPoP' || s.toLowerCase() === 'dpop') return 'DPoP';
  }
  return undefined;
}

/**
 * The token of `Authorization: Bearer <token>` or `DPoP <token>`, NOT checked: for a cache
 * lookup before any parsing (only checked tokens are ever cached). Another scheme: undefined.
 */
export function unsafeHeaderToken(
  value: string | undefined,
  allowDPoP = true,
): { readonly token: string; readonly scheme: TokenScheme } | undefined {
  if (value === undefined) return undefined;
  const scheme = schemeOf(value);
  if (scheme === undefined || (scheme === 'DPoP' && !allowDPoP)) return undefined;
  let start = scheme === 'Bearer' ? 7 : 5;
  // Extra spaces between scheme and token are tolerated; Node trims the header's outer whitespace.
  while (start < value.length && value.charCodeAt(start) === 32) start++;
  return { token: value.slice(start), scheme };
}

/**
 * Reads `Authorization: Bearer <token>` or `Authorization: DPoP <token>`. Another scheme (Basic,
 * ApiKey, Signature…) is not a token: undefined. A token of the wrong syntax or size: an error.
 */
export function bearerFromHeader(value: string | undefined, allowDPoP = true): BearerResult {
  const raw = unsafeHeaderToken(value, allowDPoP);
  if (raw === undefined) return undefined;
  if (raw.token.length > MAX_TOKEN_LENGTH) return { error: 'oversized' };
  if (!isB64Token(raw.token)) return { error: 'malformed' };
  return { token: raw.token, scheme: raw.scheme, from: 'header' };
}

/** A query parameter taken out of a query string: its value (if any) and the query without it. */
export interface TakenParameter {
  readonly values: readonly string[];
  readonly rest: string;
}

/**
 * Removes every `name=value` from a raw query string (names compared after form-decoding) and
 * returns their decoded values; the rest of the query is kept byte for byte.
 */
export function takeQueryParameter(query: string, name: string): TakenParameter {
  if (query === '') return { values: [], rest: query };
  const parts = query.split('&');
  const kept: string[] = [];
  const values: string[] = [];
  for (const part of parts) {
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    if (formDecode(rawName) === name) values.push(formDecode(eq === -1 ? '' : part.slice(eq + 1)) ?? '\0');
    else kept.push(part);
  }
  return values.length === 0 ? { values, rest: query } : { values, rest: kept.join('&') };
}

function formDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

/** A token from a query parameter (RFC 6750 2.3), checked like a header token. */
export function bearerFromQuery(values: readonly string[]): BearerResult {
  if (values.length === 0) return undefined;
  if (values.length > 1) return { error: 'multiple_tokens' };
  const token = values[0] as string;
  if (token.length > MAX_TOKEN_LENGTH) return { error: 'oversized' };
  if (!isB64Token(token)) return { error: 'malformed' };
  return { token, scheme: 'Bearer', from: 'query' };
}

/** The RFC 6750 / RFC 9449 challenge for a refused token, in the scheme it was presented with. */
export function invalidTokenChallenge(scheme: TokenScheme | undefined): string {
  return scheme === 'DPoP' ? 'DPoP error="invalid_token"' : 'Bearer error="invalid_token"';
}

/** A request that is not a usable token request at all (two tokens, bad syntax): RFC 6750 3.1. */
export function invalidRequestChallenge(scheme: TokenScheme | undefined): string {
  return scheme === 'DPoP' ? 'DPoP error="invalid_request"' : 'Bearer error="invalid_request"';
}

// ---------------------------------------------------------------------------------------------
// Outbound calls to identity providers (JWKS, introspection)

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (host === 'localhost') return true;
  const kind = isIP(host);
  if (kind === 4) return host.startsWith('127.');
  if (kind === 6) return host === '::1' || host.toLowerCase().startsWith('::ffff:127.');
  return false;
}

/**
 * An identity-provider endpoint must be https://, or plain http:// to a loopback address (a
 * sidecar or a test). Throws a start-up error otherwise. Userinfo in the URL is refused: client
 * credentials have their own settings and would otherwise end up in logs.
 */
export function checkEndpointUrl(value: string, setting: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${setting} is not a valid absolute URL`);
  }
  if (url.username !== '' || url.password !== '')
    throw new Error(`${setting} must not contain credentials (user:password@)`);
  if (url.hash !== '') throw new Error(`${setting} must not have a #fragment`);
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return url;
  throw new Error(
    `${setting} must use https:// (plain http:// is allowed only to a loopback address such as 127.0.0.1 or localhost)`,
  );
}

/** Why an outbound call gave no usable answer. Never carries a credential. */
export class EndpointError extends Error {
  override name = 'EndpointError';
  constructor(
    readonly kind: 'timeout' | 'network' | 'too_large' | 'status',
    message: string,
  ) {
    super(message);
  }
}

export interface EndpointAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

export interface EndpointCall {
  readonly method: 'GET' | 'POST';
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Whole call (connect, headers and body) must finish in this time. */
  readonly timeoutMs: number;
  /** Larger answers are cut off and refused. */
  readonly maxBytes: number;
}

/** A small connection pool for calls to identity providers; closed with the plan. */
export function createEndpointAgent(timeoutMs: number): Agent {
  return new Agent({
    connect: { timeout: timeoutMs },
    keepAliveTimeout: 10_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
}

/**
 * One call to an identity provider with undici: total timeout, body size limit, no redirects
 * followed (a 3xx is just a status). Rejects with an EndpointError.
 */
export async function callEndpoint(agent: Agent, url: URL, call: EndpointCall): Promise<EndpointAnswer> {
  const signal = AbortSignal.timeout(call.timeoutMs);
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, {
      dispatcher: agent,
      method: call.method,
      headers: call.headers,
      body: call.body,
      signal,
    });
  } catch (err) {
    throw toEndpointError(err, signal);
  }
  const declared = Number(res.headers['content-length']);
  // Destroying the body emits an error of its own; nobody else listens, so it is swallowed here.
  res.body.on('error', () => undefined);
  if (declared > call.maxBytes) {
    res.body.destroy();
    throw new EndpointError('too_large', `answer larger than ${call.maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > call.maxBytes) {
        res.body.destroy();
        throw new EndpointError('too_large', `answer larger than ${call.maxBytes} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof EndpointError) throw err;
    throw toEndpointError(err, signal);
  }
  return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks, size) };
}

function toEndpointError(err: unknown, signal: AbortSignal): EndpointError {
  if (signal.aborted) return new EndpointError('timeout', 'timed out');
  const code = (err as { code?: unknown }).code;
  if (
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  )
    return new EndpointError('timeout', 'timed out');
  return new EndpointError('network', typeof code === 'string' ? code : 'request failed');
}

// ---------------------------------------------------------------------------------------------
// Bounded cache

/**
 * A map with a size bound and per-entry expiry (epoch ms). Oldest insertions are evicted first
 * once full; expired entries are dropped when met. maxEntries 0 disables it.
 */
export class TtlCache<V> {
  private readonly map = new Map<string, { value: V; expiresAt: number }>();
  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string, now: number): V | undefined {
    const entry = this.map.get(key);
    if (entry === undefined) return undefined;
    if (now >= entry.expiresAt) {
      this.map.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, expiresAt: number): void {
    if (this.maxEntries <= 0) return;
    if (this.map.has(key)) this.map.delete(key);
    else if (this.map.size >= this.maxEntries) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(key, { value, expiresAt });
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// One shared instance per plan

interface Shared {
  value: unknown;
  refs: number;
  close: () => void | Promise<void>;
}
const sharedByPlan = new WeakMap<PluginDeps, Map<string, Shared>>();

/**
 * A plugin is created once per route; routes with the same settings share one instance of the
 * expensive part (key sets, JWKS fetcher, caches) within a plan. Returns it and a release
 * function for the route's `close`; the last release closes it.
 */
export function sharedWithinPlan<T>(
  deps: PluginDeps,
  key: string,
  make: () => { value: T; close: () => void | Promise<void> },
): { value: T; release: () => void | Promise<void> } {
  let byKey = sharedByPlan.get(deps);
  if (byKey === undefined) {
    byKey = new Map();
    sharedByPlan.set(deps, byKey);
  }
  let shared = byKey.get(key);
  if (shared === undefined) {
    const made = make();
    shared = { value: made.value, refs: 0, close: made.close };
    byKey.set(key, shared);
  }
  shared.refs++;
  const entry = shared;
  const map = byKey;
  let released = false;
  return {
    value: entry.value as T,
    release: () => {
      if (released) return;
      released = true;
      if (--entry.refs > 0) return;
      map.delete(key);
      return entry.close();
    },
  };
}

/** What a token check ends in: the checked token, or why not (unavailable: the check could not be made). */
export type TokenOutcome<T> =
  | { readonly ok: true; readonly token: T }
  | { readonly ok: false; readonly reason: string; readonly unavailable?: boolean };

/** Refuses a presented bearer token: RFC 6750 invalid_request for two tokens at once, else invalid_token. */
export function refuseBearer(
  ctx: RequestContext,
  method: string,
  reason: string,
  scheme: TokenScheme | undefined,
): void {
  ctx.authFailure = {
    method,
    reason,
    challenge: reason === 'multiple_tokens' ? invalidRequestChallenge(scheme) : invalidTokenChallenge(scheme),
  };
}

/** Applies an asynchronous check's outcome, unless another authenticator decided meanwhile. */
export function settleBearer<T>(
  ctx: RequestContext,
  method: string,
  outcome: TokenOutcome<T>,
  presented: PresentedBearer,
  accept: (ctx: RequestContext, token: T, presented: PresentedBearer) => void,
): void {
  if (ctx.principal !== undefined || ctx.authFailure !== undefined) return;
  if (outcome.ok) accept(ctx, outcome.token, presented);
  else if (outcome.unavailable) ctx.authFailure = { method, reason: outcome.reason, unavailable: true };
  else refuseBearer(ctx, method, outcome.reason, presented.scheme);
}

/** Sets (or with null, removes) one header toward the upstream. */
export function setUpstreamHeader(ctx: RequestContext, name: string, value: string | null): void {
  if (ctx.upstreamHeaders === undefined) ctx.upstreamHeaders = {};
  ctx.upstreamHeaders[name] = value;
}

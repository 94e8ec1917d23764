import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiVersion } from '../versioning/catalog.js';
import type { GatewayError } from './errors.js';
import type { CompiledRoute, Plan } from './plan.js';
import type { AuthAttempts, AuthFailure, PresentedToken, Principal } from './principal.js';

/** The response about to be written; respond-phase plugins may change status and headers. */
export interface ResponseHead {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string | string[] | number>;
  /** 'upstream' when the upstream answered, 'gateway' for problems and direct answers. */
  readonly source: 'upstream' | 'gateway';
  /** Set by a respond hook to replace an upstream body with a problem (e.g. masking a 5xx). */
  replaceWith: GatewayError | undefined;
}

/** What the listener tells every request about itself. */
export interface ServerState {
  /** Shutting down: responses not yet started close their connection. */
  draining: boolean;
  /** Requests of this gateway in flight (this one included): load shedding reads it. */
  inFlight: number;
  /**
   * Milliseconds a principal or credential stays blocked by the anomaly detector's automatic
   * response (0: not blocked); the authentication gate asks once the principal is known.
   */
  blockedFor?: (principal: string, credential: string | undefined) => number;
}

const RUNNING: ServerState = Object.freeze({ draining: false, inFlight: 0 });

/** The TLS client certificate of the connection (mTLS), as later stages see it. */
export interface ClientCertificate {
  /** Subject common name ("" if none). */
  readonly subject: string;
  /** Issuer common name. */
  readonly issuer: string;
  /** subjectAltName entries, e.g. "DNS:svc.example", "URI:spiffe://…", "IP Address:10.0.0.1". */
  readonly sans: readonly string[];
  /** SHA-256 fingerprint, colon-separated hex. */
  readonly fingerprint256: string;
  readonly serialNumber: string;
  readonly validFrom: string;
  readonly validTo: string;
  /** Verified against the listener's CAs and CRLs. */
  readonly verified: boolean;
  /** OpenSSL's reason when not verified (e.g. CERT_HAS_EXPIRED). */
  readonly error: string | undefined;
}

export type ResponseBodyCheck = (ctx: RequestContext, head: ResponseHead, body: Buffer) => Buffer;

/** A request body parsed once by the stage that validated it. */
export interface ParsedBody {
  /** Lower-case media type without parameters ("application/json"). */
  readonly mediaType: string;
  readonly value: unknown;
}

/**
 * Adds a check of the upstream's whole answer. Several stages may ask: the one added last (the
 * later stage, nearer the upstream) sees the upstream's body first and hands its result on, like
 * layers of an onion.
 */
export function addResponseBodyCheck(ctx: RequestContext, check: ResponseBodyCheck): void {
  const outer = ctx.responseBodyCheck;
  ctx.responseBodyCheck =
    outer === undefined ? check : (c, head, body) => outer(c, head, check(c, head, body));
}

/** A decision a stage in monitor mode would have taken, logged instead of enforced. */
export interface MonitoredDecision {
  readonly plugin: string;
  readonly code: string;
}

/**
 * Everything one request carries from stage to stage. Plugins never import each other: what one
 * stage learns for another travels here. Later issues add typed fields by declaration merging
 * (`declare module '.../core/context.js' { interface RequestContext { … } }`).
 */
export class RequestContext {
  readonly id: string;
  /** The plan the request started on; it finishes on it even if a reload swaps plans meanwhile. */
  readonly plan: Plan;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** performance.now() when the request arrived. */
  readonly startedAt: number;
  /** Listener name and scheme the request came in on. */
  readonly listener: string;
  readonly scheme: 'http' | 'https';
  /** The TCP peer, and whether it is one of the listener's trusted proxies. */
  readonly peerIp: string;
  readonly trustedPeer: boolean;
  /** The client, resolved through X-Forwarded-For only when the peer is trusted. */
  clientIp: string;
  method: string;
  /** Normalized path (RFC 3986 dot segments removed), still percent-encoded; set by the router. */
  path: string;
  /** Raw query string without the "?", "" when absent. */
  query: string;
  host: string;
  route: CompiledRoute | undefined;
  /** The API version the request named (or the default one), set by the router when versioning is on. */
  apiVersion: ApiVersion | undefined;
  params: Record<string, string | undefined>;
  traceparent: string;
  principal: Principal | undefined;
  /** Set by an authenticator that found its credential and refused it (see AuthnFields). */
  authFailure: AuthFailure | undefined;
  /**
   * Set by a request-side stage that must see the upstream's whole answer before the client does
   * (response-side authorization, the response contract): the proxy then asks the upstream for an
   * unencoded body, holds it (up to the upstream's maxResponseBytes), and calls this once it is
   * complete, for answers that have a body. Return the body to send (the same or a rewritten one;
   * Content-Length is set from it) or throw a GatewayError to answer with that problem instead.
   */
  responseBodyCheck: ResponseBodyCheck | undefined;
  /**
   * Set by a stage that judges the upstream's status line and headers (the response contract):
   * called when the upstream's head arrives, before the respond hooks; throw a GatewayError to
   * answer with that problem instead (the upstream body is then never read).
   */
  responseHeadCheck: ((ctx: RequestContext, head: ResponseHead) => void) | undefined;
  /** The request body as a stage parsed it (the contract: JSON or form), for later stages. */
  parsedBody: ParsedBody | undefined;
  /** The authorization rule that refused the request ("policy:own-orders"), for the access log. */
  deniedBy: string | undefined;
  /** Set by the auth-lockout stage for the authentication gate. */
  authAttempts: AuthAttempts | undefined;
  /** The access token that authenticated the request, for binding checks (DPoP, mTLS-bound). */
  token: PresentedToken | undefined;
  /**
   * Headers for the upstream request set by stages (verified identity): applied by the proxy over
   * what the client sent; null removes the client's value.
   */
  upstreamHeaders: Record<string, string | null> | undefined;
  /** The whole request body once a stage has read it (readBody); the proxy then sends this buffer. */
  body: Buffer | undefined;
  /**
   * With tracing on: the phases the request went through, as [phase, performance.now() at its
   * first stage, …] pairs, for one span per phase. Undefined (and not written) otherwise.
   */
  phaseMarks: (string | number)[] | undefined;
  /** performance.now() when the upstream call started, 0 if it never did. */
  upstreamStartedAt: number;
  upstreamMs: number;
  upstreamStatus: number;
  /** Request body bytes seen by the gateway. */
  bytesIn: number;
  /**
   * The most request-body bytes any stage allows (set by the guard). Whoever reads the body
   * enforces it on the stream, so a body without Content-Length is limited too.
   */
  bodyLimit: number;
  /**
   * The client sent "Expect: 100-continue" and waits: whoever reads the body sends the interim
   * 100 first, so a request refused earlier never has its body sent at all.
   */
  expectContinue: boolean;
  /**
   * Set by a stage with work in flight (the upstream call): called once if the client goes away
   * before the response has finished, so that work stops too.
   */
  onClientGone: (() => void) | undefined;
  /** Response body bytes sent to the client. */
  bytesOut: number;
  /**
   * Headers a request-side stage wants on whatever response goes out (CORS, rate-limit fields):
   * applied before the respond hooks, over the upstream's own values (lower-case names); null
   * removes the upstream's value; "vary" is appended to, not replaced.
   */
  responseHeaders: Record<string, string | null> | undefined;
  /** The router matched an OPTIONS CORS preflight to the route of the method it asks about. */
  preflight: boolean;
  /** The connection's client certificate, when the listener asks for one and one was sent. */
  clientCertificate: ClientCertificate | undefined;
  /** The listener's state (draining or not), shared by all its requests. */
  server: ServerState;
  /** The error that ended the request, if any. */
  error: GatewayError | undefined;
  /** True once a response has been started by a stage; the pipeline stops there. */
  answered: boolean;
  monitored: MonitoredDecision[] | undefined;

  constructor(
    id: string,
    plan: Plan,
    req: IncomingMessage,
    res: ServerResponse,
    listener: string,
    scheme: 'http' | 'https',
    peerIp: string,
    trustedPeer: boolean,
    startedAt: number,
  ) {
    this.id = id;
    this.plan = plan;
    this.req = req;
    this.res = res;
    this.startedAt = startedAt;
    this.listener = listener;
    this.scheme = scheme;
    this.peerIp = peerIp;
    this.trustedPeer = trustedPeer;
    this.clientIp = peerIp;
    this.method = req.method ?? 'GET';
    this.path = '/';
    this.query = '';
    this.host = '';
    this.route = undefined;
    this.apiVersion = undefined;
    this.params = {};
    this.traceparent = '';
    this.principal = undefined;
    this.authFailure = undefined;
    this.token = undefined;
    this.authAttempts = undefined;
    this.deniedBy = undefined;
    this.responseBodyCheck = undefined;
    this.responseHeadCheck = undefined;
    this.parsedBody = undefined;
    this.upstreamHeaders = undefined;
    this.body = undefined;
    this.phaseMarks = undefined;
    this.upstreamStartedAt = 0;
    this.upstreamMs = 0;
    this.upstreamStatus = 0;
    this.bytesIn = 0;
    this.bodyLimit = Number.POSITIVE_INFINITY;
    this.bytesOut = 0;
    this.server = RUNNING;
    this.responseHeaders = undefined;
    this.preflight = false;
    this.clientCertificate = undefined;
    this.expectContinue = false;
    this.onClientGone = undefined;
    this.error = undefined;
    this.answered = false;
    this.monitored = undefined;
  }
}

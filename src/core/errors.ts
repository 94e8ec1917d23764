/**
 * The one registry of error codes. Every problem+json the gateway sends carries one of these codes.
 * docs/errors.md is kept in step with this table by test/errors-doc.test.ts.
 */
export interface ErrorSpec {
  readonly status: number;
  /** Short public title; never contains request data. */
  readonly title: string;
  /** What it means, for docs/errors.md. */
  readonly meaning: string;
  /** How to solve it, for docs/errors.md. */
  readonly fix: string;
}

export const ERRORS = {
  BAD_REQUEST: {
    status: 400,
    title: 'Malformed request',
    meaning:
      'The HTTP message could not be parsed (bad request line, invalid header characters, bad chunk encoding).',
    fix: 'Send a well-formed HTTP/1.1 request.',
  },
  AMBIGUOUS_FRAMING: {
    status: 400,
    title: 'Ambiguous message framing',
    meaning:
      'The request carries several Content-Length headers, Content-Length together with Transfer-Encoding, or a Transfer-Encoding other than plain "chunked" (request smuggling shapes).',
    fix: 'Send exactly one of Content-Length or "Transfer-Encoding: chunked".',
  },
  BAD_PATH: {
    status: 400,
    title: 'Malformed or ambiguous request path',
    meaning:
      'The path has invalid percent-encoding, an encoded slash or backslash, a backslash, control characters, double encoding, or dot segments that climb above the root.',
    fix: 'Send a normalized origin-form path (RFC 3986) without encoded separators.',
  },
  URL_TOO_LONG: {
    status: 414,
    title: 'Request URL too long',
    meaning: 'The request target is longer than the router\'s "maxUrlLength".',
    fix: 'Shorten the URL (move data into the body) or raise plugins.router.maxUrlLength.',
  },
  HEADERS_TOO_LARGE: {
    status: 431,
    title: 'Request headers too large',
    meaning:
      'The request has more header fields than allowed, or its header section is larger than the listener\'s "maxHeaderBytes".',
    fix: 'Send fewer or smaller headers, or raise request-guard.maxHeaders / listeners[].maxHeaderBytes.',
  },
  BODY_TOO_LARGE: {
    status: 413,
    title: 'Request body too large',
    meaning:
      'The request body is larger than the route allows. Checked against Content-Length and counted on the stream.',
    fix: 'Send a smaller body or raise request-guard.maxBodyBytes for the route.',
  },
  REQUEST_TIMEOUT: {
    status: 408,
    title: 'Request timed out',
    meaning: "The client did not send the headers or the body within the listener's timeouts (slow client).",
    fix: 'Send the request faster, or raise listeners[].headersTimeoutMs / requestTimeoutMs.',
  },
  EXPECTATION_FAILED: {
    status: 417,
    title: 'Expectation not supported',
    meaning: 'The request carries an Expect header other than "100-continue".',
    fix: 'Remove the Expect header, or send "Expect: 100-continue".',
  },
  CLIENT_CERT_REQUIRED: {
    status: 401,
    title: 'Client certificate required',
    meaning: 'The route needs a client certificate (mTLS) and the connection presented none.',
    fix: 'Connect with a client certificate issued by a CA the listener trusts (listeners[].tls.clientCertificates.ca).',
  },
  CLIENT_CERT_INVALID: {
    status: 403,
    title: 'Client certificate not accepted',
    meaning:
      'The connection presented a client certificate that did not verify: unknown issuer, expired, not yet valid, or revoked.',
    fix: 'Use a valid, unrevoked certificate from a CA the listener trusts.',
  },
  UNAUTHENTICATED: {
    status: 401,
    title: 'Authentication required',
    meaning:
      'The route needs a credential and the request brought none, or brought one that was refused (unknown, mistyped, expired, revoked, badly signed, wrong issuer or audience, replayed, not bound to this client). The answer is the same in every case, so it tells nobody whether a key or user exists; WWW-Authenticate names the accepted schemes. The gateway log says which check failed.',
    fix: 'Send a valid credential of a scheme the route accepts (see WWW-Authenticate), or ask the operator to check the gateway log for the request id.',
  },
  AUTH_LOCKED: {
    status: 429,
    title: 'Too many failed authentication attempts',
    meaning:
      'Too many failed authentications came from this client address (or for this credential id) within the window; attempts are refused before any check until Retry-After. Repeated lockouts grow longer.',
    fix: 'Wait for Retry-After and fix the credential. Operators tune plugins.auth-lockout.',
  },
  RATE_LIMITED: {
    status: 429,
    title: 'Too many requests',
    meaning:
      'A rate limit of the route (per client, key, consumer, address or route) is used up. Retry-After says when the request would be admitted; RateLimit and RateLimit-Policy say which limit and how much is left. The refused request did not count against any limit.',
    fix: 'Wait for Retry-After and slow down (read the RateLimit fields before sending), or ask for a higher plan.',
  },
  QUOTA_EXCEEDED: {
    status: 429,
    title: 'Quota exhausted',
    meaning:
      'The daily or monthly quota of this client is used up; it is whole again when the period ends (UTC), which Retry-After and the RateLimit field tell.',
    fix: 'Wait for the next period or ask for a larger plan.',
  },
  CONCURRENCY_LIMITED: {
    status: 429,
    title: 'Too many requests in flight',
    meaning: 'This client already has as many requests in flight as the route allows.',
    fix: 'Wait for an earlier request to finish before sending another one.',
  },
  RATE_LIMIT_UNAVAILABLE: {
    status: 503,
    title: 'Rate limiting temporarily unavailable',
    meaning:
      'The shared rate-limit store (Redis) did not answer in time and the route is set to refuse requests it cannot count (plugins.rate-limit.onStoreFailure: deny).',
    fix: 'Retry after Retry-After. Operators: bring the store back, or choose onStoreFailure: local.',
  },
  LOGIN_THROTTLED: {
    status: 429,
    title: 'Too many failed sign-in attempts',
    meaning:
      'Too many sign-ins failed for this username, or from this client address, on a login operation; each further failure doubles the wait. The attempt was not sent to the upstream.',
    fix: 'Wait for Retry-After before trying again. Operators tune plugins.login-throttle.',
  },
  OVERLOADED: {
    status: 503,
    title: 'Service overloaded',
    meaning:
      'The gateway is shedding load (event-loop delay or requests in flight past plugins.load-shedding thresholds). Anonymous traffic is shed first, then authenticated, premium last.',
    fix: 'Retry after Retry-After, with backoff.',
  },
  AUTH_UNAVAILABLE: {
    status: 503,
    title: 'Authentication temporarily unavailable',
    meaning:
      'A credential could not be checked because what the check needs did not answer in time (JWKS endpoint, introspection endpoint, key store). The request is refused (fail closed) and never reaches the upstream.',
    fix: 'Retry after Retry-After. Operators: check the gateway log and the health of the identity provider or store.',
  },
  FORBIDDEN: {
    status: 403,
    title: 'Not allowed',
    meaning:
      'The caller is authenticated but an authorization rule refused the request: a missing role, permission or scope, a policy condition that did not hold, or an object that belongs to someone else. The gateway log and the audit event name the rule; the answer does not.',
    fix: 'Call with a principal that holds the required permission, or ask the operator which rule refused it (the request id is in the answer).',
  },
  NOT_FOUND: {
    status: 404,
    title: 'Not found',
    meaning:
      "The resource does not exist for this caller. An authorization rule set to hide existence (onDeny: not-found) answers this instead of 403, so a caller cannot tell someone else's object from a missing one.",
    fix: 'Check the identifier, and that the object belongs to the caller.',
  },
  CORS_REJECTED: {
    status: 403,
    title: 'Cross-origin request not allowed',
    meaning:
      "A CORS preflight asked for an origin, a method or request headers that the route's cors settings do not allow. Nothing was sent to the upstream.",
    fix: "Call from an allowed origin with allowed methods and headers, or extend the route's cors settings.",
  },
  HTTPS_REQUIRED: {
    status: 403,
    title: 'HTTPS required',
    meaning:
      'This plain-HTTP listener only redirects or refuses (plaintext: refuse, or a Host header that cannot be redirected to).',
    fix: 'Call the API over https://.',
  },
  IP_DENIED: {
    status: 403,
    title: 'Client address not allowed',
    meaning:
      'The client address (the TCP peer, or the X-Forwarded-For client when the peer is a trusted proxy) is on a deny list or not on the allow list of ip-rules.',
    fix: 'Call from an allowed network, or ask the gateway operators to add your address to ip-rules.',
  },
  CLIENT_BLOCKED: {
    status: 403,
    title: 'Client temporarily blocked',
    meaning:
      'The anomaly detector (observability.anomaly.autoBlock, mode enforce) blocked the client address group (IPv4 address, IPv6 /64) for a while after an alert (credential stuffing, error spikes, enumeration, scraping). The block expires on its own.',
    fix: 'Wait for the block to expire, or ask the gateway operators to lift it (DELETE /api/v1/blocks/:id on the admin API) if it was a false alarm.',
  },
  ROUTE_NOT_FOUND: {
    status: 404,
    title: 'No route matches this request',
    meaning: 'No declared route matches the host and path. Undeclared routes are never proxied.',
    fix: 'Call a declared route, or declare the route in portcullis.yaml.',
  },
  UNKNOWN_API_VERSION: {
    status: 400,
    title: 'Unknown API version',
    meaning:
      'The request names an API version (path prefix, version header, Accept media-type parameter or query parameter) that is not declared in versioning.versions. The problem\'s "supportedVersions" member lists the versions served.',
    fix: 'Name one of the supported versions.',
  },
  API_VERSION_CONFLICT: {
    status: 400,
    title: 'Conflicting API versions',
    meaning:
      'Two places of the request (for example the path prefix and the version header) name different API versions; the gateway does not guess which one is meant.',
    fix: 'Name the version in one place, or the same version everywhere.',
  },
  API_VERSION_REQUIRED: {
    status: 400,
    title: 'API version required',
    meaning:
      'The request names no API version, versioning.default is "none", and the path is served only by versioned routes.',
    fix: 'Name a version (see "supportedVersions" in the problem), or set versioning.default.',
  },
  API_VERSION_RETIRED: {
    status: 410,
    title: 'API version retired',
    meaning:
      'The API version the request names (or its default) is retired (versioning.versions[].status, or its sunset passed with versioning.retireAtSunset). The answer carries Sunset and Link headers and, when configured, a "migration" member with the migration guide.',
    fix: 'Move to a supported version (see the "migration" link and "supportedVersions").',
  },
  METHOD_NOT_ALLOWED: {
    status: 405,
    title: 'Method not allowed on this route',
    meaning:
      'The path matches a route, but not with this method. The Allow header lists the methods that are declared.',
    fix: 'Use one of the methods in the Allow header, or add the method to the route.',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    title: 'Unsupported media type',
    meaning:
      "The request body's Content-Type is not one the operation declares in its OpenAPI requestBody (or the operation takes no body and one was sent with a type).",
    fix: 'Send the body with one of the media types the API description lists for this operation.',
  },
  REQUEST_INVALID: {
    status: 400,
    title: 'Request does not match the API contract',
    meaning:
      'Parameters or body break the OpenAPI description of the operation: a wrong type, a missing required value, an undeclared query parameter or body property (strict mode, mass assignment), a read-only property sent, a value over a length limit. The "errors" member lists each violation as a JSON pointer ("/query/limit", "/body/items/0/price") and a reason; values are never echoed.',
    fix: 'Correct the request as each listed violation says; the API description is the reference.',
  },
  JSON_INVALID: {
    status: 400,
    title: 'Malformed JSON body',
    meaning:
      'The body is not strict JSON (RFC 8259): a syntax error, invalid UTF-8, a byte order mark, a lone surrogate escape, or a key repeated in one object (which parsers read differently).',
    fix: 'Send one well-formed JSON document in UTF-8, each key once per object.',
  },
  JSON_UNSAFE_KEY: {
    status: 400,
    title: 'Forbidden JSON key',
    meaning:
      'The body has a "__proto__", "constructor" or "prototype" key (in any escaped spelling): the shape of prototype pollution attacks.',
    fix: 'Rename the key; no API needs these names.',
  },
  JSON_TOO_COMPLEX: {
    status: 413,
    title: 'JSON body too complex',
    meaning:
      'The body passed a structural limit while it was streamed, before it was parsed: nesting depth, members of one object, members in total, items of one array, or bytes of one string.',
    fix: 'Send a flatter or smaller document, or raise the contract plugin\'s "json" limits for the route.',
  },
  ATTACK_DETECTED: {
    status: 403,
    title: 'Request blocked: attack pattern',
    meaning:
      'The attack-detection stage found hostile content in a value (SQL injection, cross-site scripting, command injection, path traversal, SSRF, …) and its anomaly score reached the threshold. The detail lists the rule ids that matched; the payload is never echoed. The gateway log has each match with its location and a short redacted snippet.',
    fix: 'If the request is legitimate, tell the API owner the request id and rule ids: an exclusion for that rule and field (plugins.attack-detection.exclusions) or a lower paranoia level fixes a false positive.',
  },
  VIRTUAL_PATCH: {
    status: 403,
    title: 'Request blocked by a virtual patch',
    meaning:
      'A virtual patch (plugins.virtual-patch.patches) matched the request: a declarative rule that shields a known weakness of the upstream until it is fixed. The detail names the patch id.',
    fix: 'If the request is legitimate, tell the API owner the patch id; the patch can be narrowed, or it expires on its date.',
  },
  RESPONSE_CONTRACT: {
    status: 502,
    title: 'Upstream answer broke the API contract',
    meaning:
      'The upstream answered with a status the OpenAPI description does not declare for the operation, or (response validation in enforce mode) with a body that does not match the declared schema. The answer is withheld; the gateway log says which.',
    fix: "Fix the upstream or the API description; or set the contract plugin's response.undeclaredStatus to pass / response.validate to monitor while you do.",
  },
  UPGRADE_NOT_SUPPORTED: {
    status: 501,
    title: 'Protocol upgrade not supported',
    meaning:
      'The request asked to upgrade the connection (for example to WebSocket), which this listener does not proxy.',
    fix: 'Call the API over plain HTTP requests.',
  },
  CONNECTION_LIMIT: {
    status: 503,
    title: 'Too many connections',
    meaning: 'The listener already holds its "maxConnections" open connections.',
    fix: 'Retry later, reuse connections (keep-alive), or raise listeners[].maxConnections.',
  },
  PIPELINE_LIMIT: {
    status: 503,
    title: 'Too many pipelined requests',
    meaning:
      'One connection has more requests in flight (HTTP/1.1 pipelining) than the listener\'s "maxPipelinedRequests"; the excess is refused and the connection closed.',
    fix: 'Wait for responses before sending more requests on one connection, or open more connections.',
  },
  UPSTREAM_UNAVAILABLE: {
    status: 502,
    title: 'Upstream unavailable',
    meaning:
      'The upstream refused or reset the connection, or answered with something that is not valid HTTP.',
    fix: 'Check that the upstream is running and reachable at its configured URL.',
  },
  UPSTREAM_TIMEOUT: {
    status: 504,
    title: 'Upstream timed out',
    meaning:
      'The upstream did not connect, send its headers, or send its body within the configured timeouts.',
    fix: "Check the upstream's health, or raise upstreams.<name>.timeouts.",
  },
  UPSTREAM_RESPONSE_TOO_LARGE: {
    status: 502,
    title: 'Upstream response too large',
    meaning:
      'The upstream announced a response larger than upstreams.<name>.maxResponseBytes, or sent one that a stage had to check whole (response-side authorization) and that outgrew it.',
    fix: "Page the upstream's responses, or raise maxResponseBytes.",
  },
  UPSTREAM_ERROR: {
    status: 502,
    title: 'Upstream error',
    meaning:
      'The upstream answered with a 5xx, or (contract plugin) with a stack trace, a framework debug page or a database error message at any status; its body is replaced by this problem so no internal detail leaks (the status is kept). See response-hygiene.maskUpstreamErrors and contract.response.hideLeaks.',
    fix: "Look at the upstream's own logs, using the request id.",
  },
  ADMIN_UNAUTHENTICATED: {
    status: 401,
    title: 'Admin token required',
    meaning:
      'An admin API call (admin listener) carried no bearer token, or one that matches none of admin.tokens.',
    fix: 'Send "Authorization: Bearer <token>" with a token listed in admin.tokens.',
  },
  ADMIN_FORBIDDEN: {
    status: 403,
    title: 'Not allowed on the admin listener',
    meaning:
      "The admin token's role is below what the call needs (viewer < operator < admin), or the client address is outside admin.allowFrom, or the admin listener requires a client certificate (admin.tls.clientCa) that did not verify.",
    fix: 'Use a token with the needed role, connect from an address in admin.allowFrom, with a client certificate signed by admin.tls.clientCa when it is set.',
  },
  ADMIN_FEATURE_DISABLED: {
    status: 503,
    title: 'Feature not enabled',
    meaning:
      'The admin API call needs a part that is turned off in this config (observability.metrics, observability.audit, observability.anomaly) or a key store the config does not set up.',
    fix: 'Enable the part in the config (observability.*.enabled: true) and apply it.',
  },
  ADMIN_CONFIG_INVALID: {
    status: 422,
    title: 'Config not applied',
    meaning:
      'The config posted to the admin API (apply, rollback) did not parse, validate or compile; the running config is unchanged. The problem\'s "errors" member lists each issue.',
    fix: 'Fix the listed issues (POST /api/v1/config/validate checks a config without applying it).',
  },
  INTERNAL_ERROR: {
    status: 500,
    title: 'Internal gateway error',
    meaning:
      'An unexpected error inside the gateway. The request was not forwarded further; details are in the gateway log under the request id.',
    fix: 'Report it with the request id from the response.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export interface GatewayErrorOptions {
  /** Public, safe detail. Never put a credential, a header value or a raw body here. */
  readonly detail?: string;
  /** Extra response headers (e.g. Allow for 405). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Status override for codes that keep an upstream status (UPSTREAM_ERROR). */
  readonly status?: number;
  readonly cause?: unknown;
  /** Each violation of a contract (REQUEST_INVALID): sent as the problem's "errors" member. */
  readonly violations?: readonly Violation[];
  /**
   * Extra problem members (RFC 9457 §3.2), from config only ("supportedVersions"): never request
   * data. They never replace a standard member.
   */
  readonly extensions?: Readonly<Record<string, unknown>>;
}

/** One broken rule, as RFC 9457's example "errors" member has it: a JSON pointer and a reason. */
export interface Violation {
  /** Where: "/query/limit", "/body/items/0/price", "/header/x-trace". */
  readonly pointer: string;
  /** Why, in words that never repeat the value. */
  readonly detail: string;
}

/** A typed error that ends a request with a problem+json answer. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly violations: readonly Violation[] | undefined;
  readonly extensions: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, options: GatewayErrorOptions = {}) {
    super(ERRORS[code].title, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = options.status ?? ERRORS[code].status;
    this.detail = options.detail;
    this.headers = options.headers;
    this.violations = options.violations;
    this.extensions = options.extensions;
  }
}

import { type Static, Type } from '@sinclair/typebox';
import type { RequestContext, ResponseHead } from '../../../core/context.js';
import { definePlugin } from '../../../core/plugin.js';

// Printable ASCII only: a header value with CR/LF or other control bytes would split the response.
const HEADER_VALUE = '^[\\x20-\\x7E]*$';

const hstsSchema = Type.Object(
  {
    maxAgeSeconds: Type.Integer({
      minimum: 0,
      description: 'HSTS max-age in seconds; 0 sends no Strict-Transport-Security at all.',
      default: 31536000,
    }),
    includeSubDomains: Type.Boolean({
      description: 'Add includeSubDomains: every subdomain must be HTTPS-only too.',
      default: true,
    }),
    preload: Type.Boolean({
      description:
        'Add preload (for the browsers’ built-in HSTS lists); needs includeSubDomains and a max-age of at least one year.',
      default: false,
    }),
  },
  {
    additionalProperties: false,
    description:
      'Strict-Transport-Security, sent only on requests that came in over HTTPS (RFC 6797: never on plain HTTP). Keys: maxAgeSeconds (31536000; 0 = off), includeSubDomains (true), preload (false; needs includeSubDomains and at least one year).',
    // An empty object so ajv fills in the inner defaults when the section is absent.
    default: {},
  },
);

export type HstsSettings = Static<typeof hstsSchema>;

export const securityHeadersSchema = Type.Object(
  {
    hsts: hstsSchema,
    contentTypeOptions: Type.Boolean({
      description:
        'Send X-Content-Type-Options: nosniff, so browsers never guess a script out of a JSON body.',
      default: true,
    }),
    contentSecurityPolicy: Type.String({
      pattern: HEADER_VALUE,
      description:
        'Content-Security-Policy value. The default forbids everything: an API answer is never a page that loads resources or may be framed. Empty: not sent.',
      default: "default-src 'none'; frame-ancestors 'none'",
    }),
    referrerPolicy: Type.Union(
      [
        'no-referrer',
        'no-referrer-when-downgrade',
        'origin',
        'origin-when-cross-origin',
        'same-origin',
        'strict-origin',
        'strict-origin-when-cross-origin',
        'unsafe-url',
        '',
      ].map((v) => Type.Literal(v)),
      { description: 'Referrer-Policy value. Empty: not sent.', default: 'no-referrer' },
    ),
    crossOriginResourcePolicy: Type.Union(
      ['same-origin', 'same-site', 'cross-origin', ''].map((v) => Type.Literal(v)),
      {
        description:
          'Cross-Origin-Resource-Policy value: which origins may embed the answer in no-cors requests. Empty: not sent.',
        default: 'same-origin',
      },
    ),
    frameOptions: Type.Union(
      ['DENY', 'SAMEORIGIN', ''].map((v) => Type.Literal(v)),
      {
        description: 'X-Frame-Options value, for browsers that ignore CSP frame-ancestors. Empty: not sent.',
        default: 'DENY',
      },
    ),
    noStoreWhenAuthenticated: Type.Boolean({
      description:
        'Answers to authenticated requests get Cache-Control: no-store, replacing whatever the upstream said, so no shared cache keeps one caller’s data for another.',
      default: true,
    }),
    override: Type.Boolean({
      description:
        "true: the gateway's values replace headers the upstream set. false: an upstream's own header is kept (Cache-Control on authenticated answers is forced regardless).",
      default: false,
    }),
  },
  { additionalProperties: false },
);

/** The Strict-Transport-Security value for `s`, or '' when HSTS is off (max-age 0). */
export function hstsValue(s: HstsSettings): string {
  if (s.maxAgeSeconds === 0) return '';
  let v = `max-age=${s.maxAgeSeconds}`;
  if (s.includeSubDomains) v += '; includeSubDomains';
  if (s.preload) v += '; preload';
  return v;
}

export default definePlugin({
  name: 'security-headers',
  phase: 'respond',
  priority: 10,
  description:
    'Security response headers with API defaults: HSTS on HTTPS, nosniff, a deny-all CSP, Referrer-Policy, CORP, X-Frame-Options, no-store on authenticated answers.',
  schema: securityHeadersSchema,
  enabledByDefault: true,
  enforcing: false,
  optional: true,
  create(config) {
    const { hsts } = config;
    // Preload lists refuse such entries, and a half-valid preload request is worse than none.
    if (hsts.preload && (!hsts.includeSubDomains || hsts.maxAgeSeconds < 31536000)) {
      throw new Error('hsts.preload needs includeSubDomains and maxAgeSeconds of at least 31536000');
    }
    const sts = hstsValue(hsts);
    // Parallel arrays of the headers sent on every answer, built once; empty values are left out.
    const names: string[] = [];
    const values: string[] = [];
    const add = (name: string, value: string): void => {
      if (value === '') return;
      names.push(name);
      values.push(value);
    };
    add('x-content-type-options', config.contentTypeOptions ? 'nosniff' : '');
    add('content-security-policy', config.contentSecurityPolicy);
    add('referrer-policy', config.referrerPolicy);
    add('cross-origin-resource-policy', config.crossOriginResourcePolicy);
    add('x-frame-options', config.frameOptions);
    const count = names.length;
    const { override, noStoreWhenAuthenticated } = config;

    return {
      onResponse: function setSecurityHeaders(ctx: RequestContext, head: ResponseHead): void {
        const headers = head.headers;
        for (let i = 0; i < count; i++) {
          const name = names[i] as string;
          if (override || headers[name] === undefined) headers[name] = values[i] as string;
        }
        if (
          sts !== '' &&
          ctx.scheme === 'https' &&
          (override || headers['strict-transport-security'] === undefined)
        )
          headers['strict-transport-security'] = sts;
        // One caller's data must never be served to another from a shared cache: always forced.
        if (noStoreWhenAuthenticated && ctx.principal !== undefined && ctx.principal.kind !== 'anonymous')
          headers['cache-control'] = 'no-store';
      },
    };
  },
});

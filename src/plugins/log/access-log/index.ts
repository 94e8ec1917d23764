import { Type } from '@sinclair/typebox';
import type { RequestContext } from '../../../core/context.js';
import { definePlugin } from '../../../core/plugin.js';
import { jsonLineWriter } from '../../../observability/logger.js';

export const accessLogSchema = Type.Object(
  {
    redactQueryParams: Type.Array(Type.String(), {
      description:
        'Query parameters whose values are replaced by [REDACTED] in the logged URL (case-insensitive).',
      default: [
        'api_key',
        'apikey',
        'key',
        'token',
        'access_token',
        'id_token',
        'refresh_token',
        'password',
        'secret',
        'signature',
        'sig',
        'code',
      ],
    }),
    headers: Type.Array(Type.String(), {
      description:
        'Request headers to include in each line. Credential headers (Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-API-Key, DPoP, Signature, X-Portcullis-Identity) are always logged as [REDACTED]. Never list a custom credential header here.',
      default: ['user-agent'],
    }),
  },
  { additionalProperties: false },
);

const ALWAYS_REDACTED = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'dpop',
  'signature',
  'x-portcullis-identity',
]);
export const REDACTED = '[REDACTED]';

/**
 * A value that is a credential whatever its parameter is called: a Portcullis API key ("pcl_") or a
 * JWT ("eyJ", base64url of '{"'). Caught even under a custom name the list does not know, e.g. on a
 * request refused before its authenticator took the parameter out of the URL.
 */
function looksLikeCredential(value: string): boolean {
  return value.startsWith('pcl_') || value.startsWith('eyJ');
}

/**
 * "a=1&token=xyz" → "a=1&token=[REDACTED]"; names compared after decoding, case-insensitively;
 * values that look like an API key or a JWT are redacted under any name.
 */
export function redactQuery(query: string, names: ReadonlySet<string>): string {
  if (query === '') return query;
  const parts = query.split('&');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    let name: string;
    try {
      name = decodeURIComponent(rawName.replaceAll('+', ' ')).toLowerCase();
    } catch {
      name = rawName.toLowerCase();
    }
    if (names.has(name) || (eq !== -1 && looksLikeCredential(part.slice(eq + 1))))
      parts[i] = `${rawName}=${REDACTED}`;
  }
  return parts.join('&');
}

// ISO timestamps are rebuilt at most once per millisecond, not once per request.
let lastMs = 0;
let lastIso = '';
function isoNow(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export default definePlugin({
  name: 'access-log',
  phase: 'log',
  priority: 0,
  description:
    'One JSON line per request with timings split between gateway and upstream; credentials redacted.',
  schema: accessLogSchema,
  enabledByDefault: true,
  enforcing: false,
  optional: true,
  create(config, { deps }) {
    // One JSON.stringify per request straight onto the log destination: pino's per-key
    // serialization and redaction cost more than the rest of the pipeline on small requests.
    const write = deps.logger.isLevelEnabled('info') ? jsonLineWriter(deps.logger) : undefined;
    const redactNames = new Set(config.redactQueryParams.map((n) => n.toLowerCase()));
    const headerNames = config.headers.map((h) => h.toLowerCase());
    return {
      onLog: function accessLog(ctx: RequestContext): void {
        if (write === undefined) return;
        const res = ctx.res;
        const total = performance.now() - ctx.startedAt;
        let headers: Record<string, string> | undefined;
        if (headerNames.length) {
          headers = {};
          for (const name of headerNames) {
            const v = ctx.req.headers[name];
            if (v !== undefined)
              headers[name] = ALWAYS_REDACTED.has(name) ? REDACTED : Array.isArray(v) ? v.join(', ') : v;
          }
        }
        const q = ctx.query;
        write(
          JSON.stringify({
            level: 'info',
            time: isoNow(),
            log: 'access',
            reqId: ctx.id,
            traceId: ctx.traceparent.slice(3, 35),
            method: ctx.method,
            route: ctx.route?.id,
            path: q === '' ? ctx.path : `${ctx.path}?${redactQuery(q, redactNames)}`,
            status: res.headersSent ? res.statusCode : 0,
            code: ctx.error?.code,
            aborted: !res.writableFinished || undefined,
            gatewayMs: round(total - ctx.upstreamMs),
            upstreamMs: ctx.upstreamStartedAt === 0 ? undefined : round(ctx.upstreamMs),
            upstreamStatus: ctx.upstreamStatus || undefined,
            bytesIn: ctx.bytesIn,
            bytesOut: ctx.bytesOut,
            clientIp: ctx.clientIp,
            principal: ctx.principal?.id,
            // Why a credential was refused: for the operator, never in the answer to the client.
            auth:
              ctx.authFailure === undefined
                ? undefined
                : { method: ctx.authFailure.method, reason: ctx.authFailure.reason },
            deniedBy: ctx.deniedBy,
            clientCert: ctx.clientCertificate?.fingerprint256,
            monitored: ctx.monitored,
            headers,
            msg: 'request',
          }),
        );
      },
      close() {
        write?.flush();
      },
    };
  },
});

import type { RequestContext } from '../../../core/context.js';
import type { Principal } from '../../../core/principal.js';

export const IDENTITY_FIELDS = [
  'id',
  'kind',
  'subject',
  'consumer',
  'tenant',
  'roles',
  'scopes',
  'method',
  'credentialId',
] as const;
export type IdentityField = (typeof IDENTITY_FIELDS)[number];

const PREFIX = 'x-portcullis-';

/** Header values must be visible ASCII: anything else (CR, LF, non-ASCII) is percent-encoded. */
function headerSafe(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) return encodeURIComponent(value);
  }
  return value;
}

/** A list item that contains the separator, a space or "%" is percent-encoded: "a,b" stays one role. */
function listItem(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c > 0x7e || c === 0x25 || c === 0x2c) return encodeURIComponent(value);
  }
  return value;
}

function fieldValue(principal: Principal, field: IdentityField): string | undefined {
  switch (field) {
    // Lists are made header-safe item by item; single values as a whole.
    case 'roles':
      return principal.roles.length ? principal.roles.map(listItem).join(',') : undefined;
    case 'scopes':
      return principal.scopes.length ? principal.scopes.map(listItem).join(' ') : undefined;
    default: {
      const value = principal[field];
      return value === undefined ? undefined : headerSafe(value);
    }
  }
}

export interface IdentityHeaders {
  /**
   * The upstream header changes for a request: every client copy of an identity header (and of any
   * x-portcullis-* header) removed, then the verified values set. No principal: only the removals.
   */
  headersFor(
    ctx: RequestContext,
    principal: Principal | undefined,
    token?: string,
  ): Record<string, string | null>;
}

export function createIdentityHeaders(
  mapping: Readonly<Record<string, IdentityField>>,
  strip: readonly string[],
  upstreamToken: { readonly enabled: boolean; readonly header: string },
): IdentityHeaders {
  const removals: Record<string, null> = {};
  for (const name of [...Object.keys(mapping), ...strip]) removals[name] = null;
  if (upstreamToken.enabled) removals[upstreamToken.header] = null;
  const entries = Object.entries(mapping);
  const tokenHeader = upstreamToken.enabled ? upstreamToken.header : undefined;
  return {
    headersFor(ctx, principal, token) {
      // Keep what an authenticator already asked for (e.g. its credential header removed).
      const out: Record<string, string | null> =
        ctx.upstreamHeaders === undefined ? { ...removals } : { ...ctx.upstreamHeaders, ...removals };
      for (const name in ctx.req.headers) {
        // CGI-style upstreams (PHP-FPM, WSGI) read "x_portcullis_roles" as X-Portcullis-Roles.
        const dashed = name.includes('_') ? name.replaceAll('_', '-') : name;
        if (dashed.startsWith(PREFIX) || Object.hasOwn(removals, dashed)) out[name] = null;
      }
      if (principal === undefined) return out;
      for (let i = 0; i < entries.length; i++) {
        const [name, field] = entries[i] as [string, IdentityField];
        const value = fieldValue(principal, field);
        if (value !== undefined && value !== '') out[name] = value;
      }
      if (token !== undefined && tokenHeader !== undefined) out[tokenHeader] = token;
      return out;
    },
  };
}

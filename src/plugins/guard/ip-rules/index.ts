import { isIP } from 'node:net';
import { Type } from '@sinclair/typebox';
import type { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import { definePlugin } from '../../../core/plugin.js';
import { plainIp, TrustedProxies } from '../../../server/trust.js';

export const ipRulesSchema = Type.Object(
  {
    allow: Type.Array(Type.String(), {
      description:
        'IPs and CIDRs (IPv4 or IPv6) allowed to call. Empty allows everyone not denied; otherwise only matching clients pass.',
      default: [],
    }),
    deny: Type.Array(Type.String(), {
      description: 'IPs and CIDRs (IPv4 or IPv6) refused with 403 IP_DENIED. Deny wins over allow.',
      default: [],
    }),
  },
  { additionalProperties: false },
);

/** A compiled allow/deny pair; `permits` is the whole decision. */
export interface IpRules {
  permits(ip: string): boolean;
}

/**
 * TrustedProxies is a plain IP/CIDR set, so it serves as the matcher. It reads only the first "/"
 * and passes zone ids ("fe80::1%eth0") to BlockList, so those shapes are refused here first.
 */
function compileList(name: string, entries: readonly string[]): TrustedProxies {
  entries.forEach((entry, i) => {
    if (entry.split('/').length > 2 || entry.includes('%'))
      throw new Error(`${name}[${i}]: "${entry}" is not an IP address or CIDR`);
  });
  try {
    return new TrustedProxies(entries);
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}`);
  }
}

/** Throws on a malformed entry, naming the list and the entry. */
export function compileIpRules(allow: readonly string[], deny: readonly string[]): IpRules {
  const allowList = compileList('allow', allow);
  const denyList = compileList('deny', deny);
  const allowAll = allow.length === 0;
  return {
    permits(address: string): boolean {
      // Dual-stack sockets report IPv4 clients as ::ffff:a.b.c.d; IPv4 rules must still match.
      const ip = plainIp(address);
      // Not an IP at all should not happen (the listener resolves it); fail closed if it does.
      if (isIP(ip) === 0) return false;
      if (denyList.has(ip)) return false;
      return allowAll || allowList.has(ip);
    },
  };
}

export default definePlugin({
  name: 'ip-rules',
  phase: 'guard',
  // Before request-guard (100): refuse unwanted clients before any other work.
  priority: 200,
  description:
    'Allow and deny lists of IPs and CIDRs (IPv4 and IPv6) for the client address, resolved through trusted proxies.',
  schema: ipRulesSchema,
  enabledByDefault: false,
  enforcing: true,
  optional: true,
  create(config) {
    const rules = compileIpRules(config.allow, config.deny);
    return {
      // The denial reaches the access log as code IP_DENIED with clientIp (or under `monitored`).
      // No detail: the problem body never echoes the address back.
      onRequest: function checkClientIp(ctx: RequestContext): void {
        if (!rules.permits(ctx.clientIp)) throw new GatewayError('IP_DENIED');
      },
    };
  },
});

import { isIP } from 'node:net';
import { plainIp, TrustedProxies } from '../../../server/trust.js';

/** Checks the allowedCidrs of a key (IPs or CIDRs, IPv4 or IPv6); throws naming the bad entry. */
export function validateCidrs(entries: readonly string[]): void {
  entries.forEach((entry, i) => {
    if (entry.split('/').length > 2 || entry.includes('%'))
      throw new Error(`allowed CIDR [${i}] "${entry}" is not an IP address or CIDR`);
  });
  try {
    new TrustedProxies(entries);
  } catch (err) {
    throw new Error(`allowed CIDRs: ${(err as Error).message}`);
  }
}

/**
 * A matcher for a key's allowedCidrs: empty allows any client. Compiled once per cache fill.
 * An entry that does not parse (a store edited by hand) allows nobody: fail closed.
 */
export function compileCidrs(entries: readonly string[]): (clientIp: string) => boolean {
  if (entries.length === 0) return () => true;
  let list: TrustedProxies;
  try {
    validateCidrs(entries);
    list = new TrustedProxies(entries);
  } catch {
    return () => false;
  }
  return (clientIp) => {
    const ip = plainIp(clientIp);
    return isIP(ip) !== 0 && list.has(ip);
  };
}

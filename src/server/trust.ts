import { BlockList, isIP } from 'node:net';

/** "::ffff:10.0.0.1" → "10.0.0.1", so IPv4 rules match dual-stack sockets. */
export function plainIp(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** A compiled set of trusted proxy addresses (IPs and CIDRs), checked in constant-ish time. */
export class TrustedProxies {
  readonly #list = new BlockList();
  readonly empty: boolean;

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [addr = '', prefix] = entry.split('/');
      const family = isIP(addr);
      if (family === 0) throw new Error(`"${entry}" is not an IP address or CIDR`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (prefix === undefined) {
        this.#list.addAddress(addr, type);
      } else {
        const bits = Number(prefix);
        if (!/^\d+$/.test(prefix) || bits > (family === 4 ? 32 : 128))
          throw new Error(`"${entry}" has an invalid prefix length`);
        this.#list.addSubnet(addr, bits, type);
      }
    }
    this.empty = entries.length === 0;
  }

  has(ip: string): boolean {
    if (this.empty) return false;
    const family = isIP(ip);
    if (family === 0) return false;
    return this.#list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * The client behind a trusted peer: walk X-Forwarded-For from the right, skipping trusted
   * proxies; the first untrusted address is the client. Malformed entries stop the walk.
   */
  clientFrom(peer: string, forwardedFor: string | undefined): string {
    if (!forwardedFor) return peer;
    const hops = forwardedFor.split(',');
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = plainIp((hops[i] as string).trim());
      if (isIP(hop) === 0) break;
      client = hop;
      if (!this.has(hop)) break;
    }
    return client;
  }
}

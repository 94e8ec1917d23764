import { isIPv4, isIPv6 } from 'node:net';

/**
 * One client, one address group: an IPv6 client usually holds a whole /64 (and can rotate through it
 * freely), so limits and lockouts count the prefix, not the address. IPv4-mapped (::ffff:192.0.2.1,
 * in any spelling: dotted, hex, expanded) and IPv4-compatible (::192.0.2.1) addresses are the IPv4
 * address they carry. A string that is not an IP address is returned as is (it cannot be grouped).
 */
export function addressGroup(ip: string, v6Prefix = 64, v4Prefix = 32): string {
  const zone = ip.indexOf('%');
  const bare = zone === -1 ? ip : ip.slice(0, zone);
  if (isIPv4(bare)) return v4Prefix >= 32 ? bare : v4Group(v4Parts(bare), v4Prefix);
  if (!isIPv6(bare)) return ip;
  const g = v6Groups(bare);
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated but still parsed by stacks).
  const zero5 = g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0;
  if (zero5 && (g[5] === 0xffff || (g[5] === 0 && (g[6] as number) !== 0))) {
    const v4 = [(g[6] as number) >> 8, (g[6] as number) & 255, (g[7] as number) >> 8, (g[7] as number) & 255];
    return v4Prefix >= 32 ? v4.join('.') : v4Group(v4, v4Prefix);
  }
  if (v6Prefix >= 128) return g.map((x) => x.toString(16)).join(':');
  const whole = Math.floor(v6Prefix / 16);
  const kept: string[] = [];
  for (let k = 0; k < whole; k++) kept.push((g[k] as number).toString(16));
  const bits = v6Prefix % 16;
  if (bits > 0) kept.push(((g[whole] as number) & ((0xffff << (16 - bits)) & 0xffff)).toString(16));
  return `${kept.join(':')}::/${v6Prefix}`;
}

function v4Parts(ip: string): number[] {
  return ip.split('.').map((p) => Number.parseInt(p, 10));
}

/** The eight 16-bit groups of a valid IPv6 address (with an optional dotted IPv4 tail). */
function v6Groups(ip: string): number[] {
  let s = ip.toLowerCase();
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) !== -1) {
    // The dotted tail is the last two groups.
    const v4 = v4Parts(s.slice(lastColon + 1));
    const hi = (((v4[0] as number) << 8) | (v4[1] as number)).toString(16);
    const lo = (((v4[2] as number) << 8) | (v4[3] as number)).toString(16);
    s = `${s.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const [head = '', rest] = s.split('::');
  const parse = (part: string | undefined): number[] =>
    part === undefined || part === '' ? [] : part.split(':').map((p) => Number.parseInt(p, 16));
  const l = parse(head);
  if (rest === undefined) return l;
  const r = parse(rest);
  return [...l, ...Array<number>(Math.max(0, 8 - l.length - r.length)).fill(0), ...r];
}

function v4Group(parts: number[], prefix: number): string {
  const n =
    (((parts[0] as number) << 24) |
      ((parts[1] as number) << 16) |
      ((parts[2] as number) << 8) |
      (parts[3] as number)) >>>
    0;
  const masked = prefix <= 0 ? 0 : (n & (0xffffffff << (32 - prefix))) >>> 0;
  return `${[masked >>> 24, (masked >>> 16) & 255, (masked >>> 8) & 255, masked & 255].join('.')}/${prefix}`;
}

/**
 * One client, one address group: an IPv6 client usually holds a whole /64 (and can rotate through it
 * freely), so limits and lockouts count the prefix, not the address. IPv4-mapped IPv6 addresses
 * (::ffff:192.0.2.1) are the IPv4 address.
 */
export function addressGroup(ip: string, v6Prefix = 64, v4Prefix = 32): string {
  if (!ip.includes(':')) return v4Prefix >= 32 ? ip : v4Group(ip, v4Prefix);
  const lower = ip.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.includes('.'))
    return addressGroup(lower.slice(7), v6Prefix, v4Prefix);
  const zone = lower.indexOf('%');
  const bare = zone === -1 ? lower : lower.slice(0, zone);
  const [head = '', tail] = bare.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  if (v6Prefix >= 128) return groups.map((g) => Number.parseInt(g, 16).toString(16)).join(':');
  const whole = Math.floor(v6Prefix / 16);
  const kept: string[] = [];
  for (let k = 0; k < whole; k++) kept.push(Number.parseInt(groups[k] ?? '0', 16).toString(16));
  const bits = v6Prefix % 16;
  if (bits > 0) {
    const g = Number.parseInt(groups[whole] ?? '0', 16) & ((0xffff << (16 - bits)) & 0xffff);
    kept.push(g.toString(16));
  }
  return `${kept.join(':')}::/${v6Prefix}`;
}

function v4Group(ip: string, prefix: number): string {
  const parts = ip.split('.').map((p) => Number.parseInt(p, 10));
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return ip;
  const n =
    (((parts[0] as number) << 24) |
      ((parts[1] as number) << 16) |
      ((parts[2] as number) << 8) |
      (parts[3] as number)) >>>
    0;
  const masked = prefix <= 0 ? 0 : (n & (0xffffffff << (32 - prefix))) >>> 0;
  return `${[masked >>> 24, (masked >>> 16) & 255, (masked >>> 8) & 255, masked & 255].join('.')}/${prefix}`;
}

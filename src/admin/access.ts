import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { AdminConfig } from '../observability/schema.js';

/** Who may do what on the admin listener: peer addresses (allowFrom) and bearer tokens with roles. */

export type AdminRole = 'viewer' | 'operator' | 'admin';

const RANK: Readonly<Record<AdminRole, number>> = { viewer: 1, operator: 2, admin: 3 };

/** Whether `have` is at least `need` (viewer < operator < admin). */
export function roleAllows(have: AdminRole, need: AdminRole): boolean {
  return RANK[have] >= RANK[need];
}

export interface AdminIdentity {
  readonly name: string;
  readonly role: AdminRole;
}

interface TokenEntry extends AdminIdentity {
  readonly hash: Buffer;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** "::ffff:10.0.0.1" → "10.0.0.1"; other addresses as they are. */
export function plainPeer(address: string | undefined): string {
  if (address === undefined) return '';
  if (address.startsWith('::ffff:') && isIPv4(address.slice(7))) return address.slice(7);
  return address;
}

/** The admin section's allowFrom list as a BlockList (throws on an entry that is not an address or CIDR). */
export function allowListOf(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const addr = slash === -1 ? entry : entry.slice(0, slash);
    const type = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : undefined;
    if (type === undefined) throw new Error(`admin.allowFrom: "${entry}" is not an IP address or CIDR`);
    if (slash === -1) {
      list.addAddress(addr, type);
      continue;
    }
    const bits = entry.slice(slash + 1);
    const prefix = /^\d{1,3}$/.test(bits) ? Number(bits) : -1;
    if (prefix < 0 || prefix > (type === 'ipv4' ? 32 : 128))
      throw new Error(`admin.allowFrom: "${entry}" has an invalid prefix length`);
    list.addSubnet(addr, prefix, type);
  }
  return list;
}

export function peerAllowed(list: BlockList, address: string): boolean {
  if (isIPv4(address)) return list.check(address, 'ipv4');
  if (isIPv6(address)) return list.check(address, 'ipv6');
  return false;
}

/**
 * The access rules of one admin config: compiled once per config object (a reload that changes
 * admin.tokens or admin.allowFrom takes effect on the next admin call). Only SHA-256 hashes of the
 * tokens are kept here.
 */
export class AdminAccess {
  readonly #tokens: TokenEntry[];
  readonly #allow: BlockList;

  constructor(config: Pick<AdminConfig, 'tokens' | 'allowFrom'>) {
    this.#tokens = config.tokens.map((t) => ({ name: t.name, role: t.role, hash: sha256(t.token) }));
    this.#allow = allowListOf(config.allowFrom);
  }

  peerAllowed(address: string): boolean {
    return peerAllowed(this.#allow, address);
  }

  /**
   * The identity of an Authorization header value, or undefined. Compares the SHA-256 of the
   * presented token with every configured hash in constant time (no early exit).
   */
  identify(authorization: string | undefined): AdminIdentity | undefined {
    if (authorization === undefined || authorization.length > 1024) return undefined;
    if (authorization.length < 8 || authorization.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
    const token = authorization.slice(7).trim();
    if (token === '') return undefined;
    const presented = sha256(token);
    let found: TokenEntry | undefined;
    for (const t of this.#tokens) if (timingSafeEqual(presented, t.hash) && found === undefined) found = t;
    return found === undefined ? undefined : { name: found.name, role: found.role };
  }
}

const cache = new WeakMap<object, AdminAccess>();

/** The compiled access rules of an admin config (cached per frozen config object). */
export function accessOf(config: Pick<AdminConfig, 'tokens' | 'allowFrom'>): AdminAccess {
  let a = cache.get(config);
  if (a === undefined) {
    a = new AdminAccess(config);
    cache.set(config, a);
  }
  return a;
}

import { validateCidrs } from '../plugins/authenticate/api-key/cidrs.js';
import { generateApiKey, hashSecret } from '../plugins/authenticate/api-key/format.js';
import type { ApiKeyRecord, KeyStore } from './types.js';

/** What may be shown of a key: everything but the hash. */
export type KeyInfo = Omit<ApiKeyRecord, 'hash'>;

export interface CreateKeyInput {
  readonly consumer: string;
  readonly name?: string;
  readonly scopes?: readonly string[];
  readonly roles?: readonly string[];
  /** Epoch ms; null or absent = never. */
  readonly expiresAt?: number | null;
  readonly allowedCidrs?: readonly string[];
}

/** A key as created: the full key is in `key`, returned this once and never stored. */
export interface CreatedKey {
  readonly key: string;
  readonly info: KeyInfo;
}

export interface RotatedKey extends CreatedKey {
  /** The old key, now expiring at the end of the overlap. */
  readonly previous: KeyInfo;
}

/** A mistake by the caller (bad input, unknown key): the CLI and admin API show the message as is. */
export class KeyServiceError extends Error {
  override name = 'KeyServiceError';
  constructor(
    message: string,
    readonly kind: 'invalid' | 'not_found' | 'conflict',
  ) {
    super(message);
  }
}

const MAX_TEXT = 200;
const MAX_LIST = 100;

/** No control characters, no surrounding space, bounded length. */
function checkText(field: string, value: string, required: boolean): string {
  if (required && value.length === 0) throw new KeyServiceError(`${field} is required`, 'invalid');
  if (value.length > MAX_TEXT)
    throw new KeyServiceError(`${field} is longer than ${MAX_TEXT} characters`, 'invalid');
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 32 || c === 127) throw new KeyServiceError(`${field} contains a control character`, 'invalid');
  }
  if (value.trim() !== value) throw new KeyServiceError(`${field} has leading or trailing spaces`, 'invalid');
  return value;
}

/** Scope and role names: non-empty, no spaces or commas (they are lists elsewhere). */
function checkNames(field: string, values: readonly string[]): readonly string[] {
  if (values.length > MAX_LIST) throw new KeyServiceError(`more than ${MAX_LIST} ${field}`, 'invalid');
  const out: string[] = [];
  for (const v of values) {
    checkText(field, v, true);
    if (/[\s,]/.test(v)) throw new KeyServiceError(`${field}: "${v}" contains a space or comma`, 'invalid');
    if (!out.includes(v)) out.push(v);
  }
  return Object.freeze(out);
}

export function keyInfo(r: ApiKeyRecord): KeyInfo {
  const { hash: _hash, ...info } = r;
  return Object.freeze(info);
}

/** Whether a key would be accepted now (not revoked, not expired). */
export function keyStatus(r: KeyInfo, now: number): 'active' | 'revoked' | 'expired' {
  if (r.revokedAt !== null && r.revokedAt <= now) return 'revoked';
  if (r.expiresAt !== null && r.expiresAt <= now) return 'expired';
  return 'active';
}

/**
 * API key management over a KeyStore: what the CLI does now and the admin API will. The full key
 * is returned once by create and rotate; only its peppered hash is stored; nothing here ever
 * returns a hash.
 */
export class KeyService {
  readonly #store: KeyStore;
  readonly #pepper: Buffer;
  readonly #now: () => number;

  constructor(store: KeyStore, pepper: Buffer, now: () => number = Date.now) {
    this.#store = store;
    this.#pepper = pepper;
    this.#now = now;
  }

  async create(input: CreateKeyInput): Promise<CreatedKey> {
    const consumer = checkText('consumer', input.consumer, true);
    const name = checkText('name', input.name ?? '', false);
    const scopes = checkNames('scopes', input.scopes ?? []);
    const roles = checkNames('roles', input.roles ?? []);
    const allowedCidrs = Object.freeze([...(input.allowedCidrs ?? [])]);
    if (allowedCidrs.length > MAX_LIST)
      throw new KeyServiceError(`more than ${MAX_LIST} allowed CIDRs`, 'invalid');
    try {
      validateCidrs(allowedCidrs);
    } catch (err) {
      throw new KeyServiceError((err as Error).message, 'invalid');
    }
    const now = this.#now();
    const expiresAt = input.expiresAt ?? null;
    if (expiresAt !== null && (!Number.isSafeInteger(expiresAt) || expiresAt <= now))
      throw new KeyServiceError('the expiry must be in the future', 'invalid');
    return this.#insert({ consumer, name, scopes, roles, allowedCidrs, expiresAt }, now);
  }

  async #insert(
    meta: Pick<ApiKeyRecord, 'consumer' | 'name' | 'scopes' | 'roles' | 'allowedCidrs' | 'expiresAt'>,
    now: number,
  ): Promise<CreatedKey> {
    const generated = generateApiKey();
    const record: ApiKeyRecord = Object.freeze({
      id: generated.keyId,
      hash: hashSecret(generated.secret, this.#pepper),
      ...meta,
      createdAt: now,
      revokedAt: null,
      lastUsedAt: null,
      replacedBy: null,
    });
    await this.#store.insert(record);
    return { key: generated.key, info: keyInfo(record) };
  }

  async list(filter: { consumer?: string } = {}): Promise<KeyInfo[]> {
    return (await this.#store.list(filter)).map(keyInfo);
  }

  async show(id: string): Promise<KeyInfo | undefined> {
    const r = await this.#store.get(id);
    return r === undefined ? undefined : keyInfo(r);
  }

  /** Revokes a key on every node (within a second). Throws not_found for an unknown id. */
  async revoke(id: string): Promise<KeyInfo> {
    if (!(await this.#store.revoke(id, this.#now())))
      throw new KeyServiceError(`no API key with id ${id}`, 'not_found');
    return keyInfo((await this.#store.get(id)) as ApiKeyRecord);
  }

  /**
   * A new key with the old one's metadata (consumer, name, scopes, roles, allowed CIDRs, and the
   * same lifetime if it had one); the old key keeps working for `overlapMs`, then expires.
   */
  async rotate(id: string, overlapMs: number): Promise<RotatedKey> {
    if (!Number.isSafeInteger(overlapMs) || overlapMs < 0)
      throw new KeyServiceError('the overlap must be a duration of 0 or more', 'invalid');
    const old = await this.#store.get(id);
    if (old === undefined) throw new KeyServiceError(`no API key with id ${id}`, 'not_found');
    const now = this.#now();
    if (old.revokedAt !== null)
      throw new KeyServiceError(`API key ${id} is revoked; create a new one`, 'conflict');
    if (old.replacedBy !== null)
      throw new KeyServiceError(
        `API key ${id} was already rotated (replaced by ${old.replacedBy})`,
        'conflict',
      );
    const expiresAt = old.expiresAt === null ? null : now + Math.max(0, old.expiresAt - old.createdAt);
    const created = await this.#insert(
      {
        consumer: old.consumer,
        name: old.name,
        scopes: old.scopes,
        roles: old.roles,
        allowedCidrs: old.allowedCidrs,
        expiresAt,
      },
      now,
    );
    const overlapEnd = old.expiresAt === null ? now + overlapMs : Math.min(old.expiresAt, now + overlapMs);
    await this.#store.expire(id, overlapEnd, created.info.id);
    return { ...created, previous: keyInfo({ ...old, expiresAt: overlapEnd, replacedBy: created.info.id }) };
  }
}

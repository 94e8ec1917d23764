import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { ApiKeyRecord, KeyStore } from '../../src/stores/types.js';

/** A key store implementation under test: `open` gives another instance on the same storage. */
export interface KeyStoreBackend {
  /** A new instance on the same storage, as another process or node would open it. */
  open(): KeyStore;
  /** Removes the storage (temp file, Redis prefix). */
  cleanup(): Promise<void>;
}

let counter = 0;
export function record(overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  counter++;
  return {
    id: `kid${String(counter).padStart(4, '0')}${randomBytes(4).toString('hex')}`.slice(0, 16),
    hash: randomBytes(32),
    consumer: 'acme',
    name: 'ci',
    scopes: ['orders:read', 'orders:write'],
    roles: ['reader'],
    allowedCidrs: ['10.0.0.0/8', '2001:db8::/32'],
    createdAt: 1_700_000_000_000 + counter,
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    replacedBy: null,
    ...overrides,
  };
}

function plain(r: ApiKeyRecord | undefined): unknown {
  return r === undefined
    ? undefined
    : {
        ...r,
        hash: r.hash.toString('hex'),
        scopes: [...r.scopes],
        roles: [...r.roles],
        allowedCidrs: [...r.allowedCidrs],
      };
}

/** Waits until `predicate` holds, up to `ms`; returns how long it took. */
async function within(ms: number, predicate: () => boolean): Promise<number> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

/**
 * The one conformance suite every KeyStore passes. `setup` returns the backend, or a string:
 * the reason to skip (printed by the caller; only allowed outside CI).
 */
export function keyStoreConformance(
  name: string,
  setup: () => Promise<KeyStoreBackend>,
  skip: string | false = false,
): void {
  describe(`KeyStore conformance: ${name}`, { skip }, () => {
    let backend: KeyStoreBackend;
    let store: KeyStore;
    const opened: KeyStore[] = [];
    const open = (): KeyStore => {
      const s = backend.open();
      opened.push(s);
      return s;
    };

    before(async () => {
      backend = await setup();
      store = open();
    });
    after(async () => {
      for (const s of opened) await s.close();
      await backend?.cleanup();
    });

    it('inserts and gets a record back exactly, hash bytes included', async () => {
      const r = record({ expiresAt: 1_800_000_000_000, lastUsedAt: 1_700_000_000_500, replacedBy: 'other' });
      await store.insert(r);
      assert.deepEqual(plain(await store.get(r.id)), plain(r));
      const empty = record({ scopes: [], roles: [], allowedCidrs: [], name: '' });
      await store.insert(empty);
      assert.deepEqual(plain(await store.get(empty.id)), plain(empty));
    });

    it('answers undefined for an unknown id (including odd ones)', async () => {
      for (const id of ['nope', '', "x' OR '1'='1", '../../etc', '{apikeys}', '*'])
        assert.equal(await store.get(id), undefined);
    });

    it('refuses a duplicate id and keeps the original', async () => {
      const r = record();
      await store.insert(r);
      await assert.rejects(store.insert({ ...r, consumer: 'mallory', hash: randomBytes(32) }), /exists/);
      assert.deepEqual(plain(await store.get(r.id)), plain(r));
    });

    it('lists newest first, all or one consumer', async () => {
      const consumer = `c-${randomBytes(4).toString('hex')}`;
      const a = record({ consumer, createdAt: 1_000 });
      const b = record({ consumer, createdAt: 3_000 });
      const c = record({ consumer, createdAt: 2_000 });
      for (const r of [a, b, c]) await store.insert(r);
      const mine = await store.list({ consumer });
      assert.deepEqual(
        mine.map((r) => r.id),
        [b.id, c.id, a.id],
      );
      const all = await store.list();
      assert.ok(all.length >= 3);
      for (const r of [a, b, c]) assert.ok(all.some((x) => x.id === r.id));
      for (let i = 1; i < all.length; i++)
        assert.ok((all[i - 1] as ApiKeyRecord).createdAt >= (all[i] as ApiKeyRecord).createdAt);
      assert.deepEqual(await store.list({ consumer: 'nobody-at-all' }), []);
    });

    it('revokes: sets revokedAt once, false for an unknown id', async () => {
      const r = record();
      await store.insert(r);
      assert.equal(await store.revoke(r.id, 5_000), true);
      assert.equal((await store.get(r.id))?.revokedAt, 5_000);
      assert.equal(await store.revoke(r.id, 9_000), true);
      assert.equal((await store.get(r.id))?.revokedAt, 5_000, 'the first revocation time stays');
      assert.equal(await store.revoke('unknown-key-id', 5_000), false);
      assert.equal(await store.get('unknown-key-id'), undefined);
    });

    it('expires: sets expiresAt and replacedBy, false for an unknown id', async () => {
      const r = record();
      await store.insert(r);
      assert.equal(await store.expire(r.id, 7_000, 'newkey'), true);
      const got = await store.get(r.id);
      assert.equal(got?.expiresAt, 7_000);
      assert.equal(got?.replacedBy, 'newkey');
      assert.equal(await store.expire(r.id, 8_000, null), true);
      assert.equal((await store.get(r.id))?.replacedBy, null);
      assert.equal(await store.expire('unknown-key-id', 7_000, null), false);
      assert.equal(await store.get('unknown-key-id'), undefined);
    });

    it('touches many keys at once, never moving lastUsedAt back, ignoring unknown ids', async () => {
      const a = record();
      const b = record({ lastUsedAt: 9_000 });
      await store.insert(a);
      await store.insert(b);
      await store.touch(
        new Map([
          [a.id, 5_000],
          [b.id, 4_000],
          ['unknown-touched', 1],
        ]),
      );
      assert.equal((await store.get(a.id))?.lastUsedAt, 5_000);
      assert.equal((await store.get(b.id))?.lastUsedAt, 9_000);
      assert.equal(await store.get('unknown-touched'), undefined);
      await store.touch(new Map());
    });

    it('another instance (another process or node) sees a revocation within 1 s', async () => {
      const other = open();
      const r = record();
      await store.insert(r);
      const seen: (string | null)[] = [];
      const unwatch = other.watch((id) => seen.push(id));
      await new Promise((res) => setTimeout(res, 50));
      await store.revoke(r.id, Date.now());
      const ms = await within(1000, () => seen.includes(r.id) || seen.includes(null));
      assert.ok(ms <= 1000);
      assert.ok((await other.get(r.id))?.revokedAt !== null);
      // Expiry changes (rotation) and inserts are announced too.
      await store.expire(r.id, Date.now(), null);
      const n = seen.length;
      await within(1000, () => seen.length > n);
      const fresh = record();
      await store.insert(fresh);
      await within(1000, () => seen.includes(fresh.id) || seen.at(-1) === null);
      unwatch();
      const after = seen.length;
      await store.revoke(fresh.id, Date.now());
      await new Promise((res) => setTimeout(res, 600));
      assert.equal(seen.length, after, 'no calls after unsubscribing');
    });

    it('two watchers on one instance both hear of a change; one unsubscribing leaves the other', async () => {
      const other = open();
      const seenA: (string | null)[] = [];
      const seenB: (string | null)[] = [];
      const unA = other.watch((id) => seenA.push(id));
      const unB = other.watch((id) => seenB.push(id));
      await new Promise((res) => setTimeout(res, 50));
      const r = record();
      await store.insert(r);
      await store.revoke(r.id, Date.now());
      await within(1000, () => seenA.includes(r.id) && seenB.includes(r.id));
      unA();
      const r2 = record();
      await store.insert(r2);
      await within(1000, () => seenB.includes(r2.id));
      unB();
    });

    it('closes: calls fail afterwards, closing twice is fine', async () => {
      const s = backend.open();
      const r = record();
      await s.insert(r);
      await s.close();
      await s.close();
      await assert.rejects(s.get(r.id));
      assert.deepEqual(plain(await store.get(r.id)), plain(r), 'the data outlives the instance');
    });
  });
}

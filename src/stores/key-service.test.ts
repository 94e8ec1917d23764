import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseApiKey, secretMatches } from '../plugins/authenticate/api-key/format.js';
import { KeyService, keyStatus } from './key-service.js';
import { SqliteKeyStore } from './sqlite-key-store.js';

const store = new SqliteKeyStore(join(mkdtempSync(join(tmpdir(), 'portcullis-ks-')), 'k.db'), 100);
const pepper = randomBytes(32);
let now = 1_700_000_000_000;
const service = new KeyService(store, pepper, () => now);

describe('key service', () => {
  after(() => store.close());

  it('creates a key, returns it once, stores only its peppered hash', async () => {
    const created = await service.create({
      consumer: 'acme',
      name: 'ci',
      scopes: ['a', 'b', 'a'],
      roles: ['r'],
      allowedCidrs: ['10.0.0.0/8'],
    });
    const parsed = parseApiKey(created.key);
    assert.ok(parsed.ok);
    assert.equal(parsed.keyId, created.info.id);
    assert.equal('hash' in created.info, false);
    assert.deepEqual(created.info.scopes, ['a', 'b']);
    const stored = await store.get(created.info.id);
    assert.ok(stored && secretMatches(parsed.secret, stored.hash, pepper));
    assert.ok(!JSON.stringify({ ...stored, hash: stored.hash.toString('hex') }).includes(parsed.secret));
    const shown = await service.show(created.info.id);
    assert.equal(shown && 'hash' in shown, false);
    assert.ok((await service.list({ consumer: 'acme' })).every((k) => !('hash' in k)));
  });

  it('refuses bad input with clear messages', async () => {
    const bad: [object, RegExp][] = [
      [{ consumer: '' }, /consumer is required/],
      [{ consumer: 'a\nb' }, /control character/],
      [{ consumer: ' a' }, /spaces/],
      [{ consumer: 'x'.repeat(201) }, /longer than 200/],
      [{ consumer: 'a', scopes: ['has space'] }, /space or comma/],
      [{ consumer: 'a', roles: [''] }, /required/],
      [{ consumer: 'a', allowedCidrs: ['10.0.0.0/33'] }, /prefix/],
      [{ consumer: 'a', allowedCidrs: ['nope'] }, /not an IP/],
      [{ consumer: 'a', expiresAt: now - 1 }, /future/],
    ];
    for (const [input, message] of bad)
      await assert.rejects(service.create(input as never), { name: 'KeyServiceError', message });
  });

  it('revokes; an unknown id is not_found', async () => {
    const { info } = await service.create({ consumer: 'acme' });
    const revoked = await service.revoke(info.id);
    assert.equal(revoked.revokedAt, now);
    assert.equal(keyStatus(revoked, now), 'revoked');
    await assert.rejects(service.revoke('nope'), { kind: 'not_found' });
  });

  it('rotates: same metadata, the old key expires after the overlap and names its successor', async () => {
    const { info } = await service.create({
      consumer: 'acme',
      name: 'deploy',
      scopes: ['s'],
      roles: ['r'],
      allowedCidrs: ['192.0.2.0/24'],
      expiresAt: now + 30 * 86_400_000,
    });
    now += 86_400_000;
    const rotated = await service.rotate(info.id, 3_600_000);
    assert.notEqual(rotated.info.id, info.id);
    for (const f of ['consumer', 'name', 'scopes', 'roles', 'allowedCidrs'] as const)
      assert.deepEqual(rotated.info[f], info[f]);
    assert.equal(rotated.info.expiresAt, now + 30 * 86_400_000, 'the same lifetime, from now');
    const old = await service.show(info.id);
    assert.equal(old?.expiresAt, now + 3_600_000);
    assert.equal(old?.replacedBy, rotated.info.id);
    assert.deepEqual(rotated.previous, old);
    await assert.rejects(service.rotate(info.id, 0), { kind: 'conflict', message: /already rotated/ });
    await assert.rejects(service.rotate('nope', 0), { kind: 'not_found' });
    await assert.rejects(service.rotate(rotated.info.id, -1), { kind: 'invalid' });
    const revoked = await service.create({ consumer: 'acme' });
    await service.revoke(revoked.info.id);
    await assert.rejects(service.rotate(revoked.info.id, 0), { kind: 'conflict' });
  });

  it('the overlap never extends an expiry that comes sooner', async () => {
    const { info } = await service.create({ consumer: 'acme', expiresAt: now + 1000 });
    await service.rotate(info.id, 86_400_000);
    assert.equal((await service.show(info.id))?.expiresAt, now + 1000);
  });
});

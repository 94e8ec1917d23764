import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { generateApiKey, hashSecret, KEY_LENGTH, KEY_PREFIX, parseApiKey, secretMatches } from './format.js';

describe('API key format', () => {
  it('generates prefixed keys with a public key id and 256 bits of secret, and parses them back', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const k = generateApiKey();
      assert.equal(k.key.length, KEY_LENGTH);
      assert.ok(k.key.startsWith(KEY_PREFIX));
      assert.equal(Buffer.from(k.secret, 'base64url').length, 32);
      assert.deepEqual(parseApiKey(k.key), { ok: true, keyId: k.keyId, secret: k.secret });
      assert.ok(!seen.has(k.keyId));
      seen.add(k.keyId);
    }
  });

  it('refuses any single-character change by checksum, before any lookup', () => {
    const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_';
    fc.assert(
      fc.property(fc.nat(), fc.nat(), (pos, pick) => {
        const { key } = generateApiKey();
        const i = KEY_PREFIX.length + (pos % (key.length - KEY_PREFIX.length));
        const replacement = alphabet[pick % alphabet.length] as string;
        if (replacement === key[i]) return true;
        const typo = key.slice(0, i) + replacement + key.slice(i + 1);
        const parsed = parseApiKey(typo);
        return !parsed.ok;
      }),
      { numRuns: 500 },
    );
  });

  it('refuses malformed keys: wrong prefix, length, separators, alphabet', () => {
    const { key } = generateApiKey();
    for (const bad of [
      '',
      'pcl_',
      key.slice(1),
      `${key}x`,
      `xyz_${key.slice(4)}`,
      key.replace(/_/g, '-'),
      `${key.slice(0, 30)}+${key.slice(31)}`,
    ]) {
      const parsed = parseApiKey(bad);
      assert.equal(parsed.ok, false, bad);
    }
    assert.deepEqual(parseApiKey(key.slice(0, -1) + (key.endsWith('0') ? '1' : '0')), {
      ok: false,
      reason: 'checksum',
    });
  });

  it('stores only a peppered hash and compares in constant time', () => {
    const pepper = randomBytes(32);
    const { secret } = generateApiKey();
    const stored = hashSecret(secret, pepper);
    assert.ok(!stored.toString('hex').includes(Buffer.from(secret).toString('hex')));
    assert.ok(secretMatches(secret, stored, pepper));
    assert.ok(!secretMatches(generateApiKey().secret, stored, pepper));
    assert.ok(!secretMatches(secret, stored, randomBytes(32)), 'another pepper never matches');
    assert.ok(!secretMatches(secret, stored.subarray(0, 16), pepper));
  });
});

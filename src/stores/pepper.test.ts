import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadPepper } from './pepper.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-pepper-'));

describe('pepper', () => {
  it('uses the configured pepper when at least 32 characters long', () => {
    const pepper = 'p'.repeat(32);
    assert.deepEqual(loadPepper({ pepper, pepperFile: join(dir, 'unused') }), Buffer.from(pepper));
    assert.equal(existsSync(join(dir, 'unused')), false, 'no file when the pepper is configured');
  });

  it('refuses a short pepper with a clear message that never contains it', () => {
    const secret = 'tooShortSecretValue';
    assert.throws(
      () => loadPepper({ pepper: secret, pepperFile: join(dir, 'x') }),
      (err: Error) => /too short.*at least 32/.test(err.message) && !err.message.includes(secret),
    );
  });

  it('creates the pepper file with 32 random bytes, mode 0600, parents 0700, and reuses it', () => {
    const file = join(dir, 'nested', 'deeper', 'pepper');
    const first = loadPepper({ pepper: '', pepperFile: file });
    assert.equal(first.length, 32);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'nested', 'deeper')).mode & 0o777, 0o700);
    assert.deepEqual(loadPepper({ pepper: '', pepperFile: file }), first);
    assert.deepEqual(readFileSync(file), first);
    const other = loadPepper({ pepper: '', pepperFile: join(dir, 'other') });
    assert.notDeepEqual(other, first);
  });

  it('refuses a pepper file that is too short or not a file, without printing its content', () => {
    const short = join(dir, 'short');
    writeFileSync(short, 'abc', { mode: 0o600 });
    assert.throws(
      () => loadPepper({ pepper: '', pepperFile: short }),
      (err: Error) => /holds 3 bytes; at least 32/.test(err.message) && !err.message.includes('abc'),
    );
    assert.throws(() => loadPepper({ pepper: '', pepperFile: dir }), /not a regular file/);
  });
});

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { FINDINGS } from '../../test/fixtures/scan-result.js';
import { failing, parseIdentity, parseTarget, progressReporter, UsageError } from './scan.js';

/** A stderr stand-in that records writes; `isTTY` as a terminal would set it. */
function stream(isTTY: boolean): Writable & { isTTY: boolean; columns: number; text: () => string } {
  let text = '';
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return Object.assign(w, { isTTY, columns: 60, text: () => text });
}

describe('scan options', () => {
  it('reads --auth as "Header: value", the header lower case', () => {
    assert.deepEqual(parseIdentity('Authorization: Bearer abc.def', '--auth', 'main'), {
      name: 'main',
      header: 'authorization',
      value: 'Bearer abc.def',
    });
    assert.deepEqual(parseIdentity('X-Api-Key:k:with:colons', '--auth-second', 'second'), {
      name: 'second',
      header: 'x-api-key',
      value: 'k:with:colons',
    });
  });

  it('refuses a malformed --auth without the value in the message', () => {
    for (const bad of [
      'secret-value',
      ': secret-value',
      'Bad Header: secret-value',
      'X:',
      'X: a\nsecret-value',
    ])
      assert.throws(
        () => parseIdentity(bad, '--auth', 'main'),
        (err: unknown) => err instanceof UsageError && !err.message.includes('secret-value'),
        bad,
      );
  });

  it('accepts only http(s) targets without credentials in the URL', () => {
    assert.equal(parseTarget('https://api.example/v1').href, 'https://api.example/v1');
    for (const bad of ['file:///etc/passwd', 'ftp://x/', 'nope', 'http://user:pw@127.0.0.1/'])
      assert.throws(() => parseTarget(bad), UsageError, bad);
  });

  it('fails on findings at or above --fail-on, never with "none"', () => {
    // The fixture's worst finding is critical, its mildest low.
    assert.equal(failing(FINDINGS, 'critical'), true);
    assert.equal(failing(FINDINGS, 'low'), true);
    assert.equal(
      failing(
        FINDINGS.filter((f) => f.severity === 'low'),
        'medium',
      ),
      false,
    );
    assert.equal(failing(FINDINGS, 'none'), false);
    assert.equal(failing([], 'info'), false);
  });
});

describe('scan progress', () => {
  it('writes one line per check when stderr is not a terminal', () => {
    const err = stream(false);
    const p = progressReporter(err);
    p.onProgress(0, 2, 'api1-bola');
    p.onProgress(0, 2, 'api1-bola GET /users/{id}');
    p.onProgress(1, 2, 'api2-auth');
    p.onProgress(2, 2, 'done');
    p.end();
    assert.equal(err.text(), 'portcullis scan: [1/2] api1-bola\nportcullis scan: [2/2] api2-auth\n');
  });

  it('redraws one bar in place on a terminal, and clears it at the end', () => {
    const err = stream(true);
    const p = progressReporter(err);
    p.onProgress(0, 4, 'api1-bola');
    p.onProgress(2, 4, 'api2-auth GET /a-very-long-path/that/goes/past/the/width/of/the/terminal');
    p.end();
    const text = err.text();
    assert.ok(!text.includes('\n'));
    const clear = '\r\x1b[K';
    const first = `${clear}[${'-'.repeat(24)}] 0/4 api1-bola`;
    const second = `${clear}[${'#'.repeat(12)}${'-'.repeat(12)}] 2/4 api2-auth`;
    assert.ok(text.startsWith(first + second), JSON.stringify(text));
    for (const frame of text.split(clear)) assert.ok(frame.length <= 59, frame);
    assert.ok(text.endsWith(clear));
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from '../engine.js';
import type { Input, Location } from '../types.js';
import { crlfDetector } from './crlf.js';

function attack(value: string, location: Location = 'query', name = 'next'): boolean {
  const inputs: Input[] = [{ location, name, value }];
  return inspect(inputs, { paranoia: 2, threshold: 5, exclusions: [], detectors: [crlfDetector] }).attack;
}

describe('CRLF injection', () => {
  it('flags header lines and response splitting after a line break in URL, header and cookie values', () => {
    for (const v of [
      '/home\r\nSet-Cookie: session=attacker',
      '/x%0d%0aLocation:%20https://evil.example',
      'en%0aX-Injected: 1',
      'a\r\n\r\nHTTP/1.1 200 OK',
      'x%E5%98%8A%E5%98%8DSet-Cookie:a=b',
    ])
      assert.equal(attack(v), true, v);
    assert.equal(attack('v\r\nX-Forwarded-For: 127.0.0.1', 'header', 'x-custom'), true);
  });

  it('flags a short body field that carries a dangerous header line', () => {
    assert.equal(attack('Hello\r\nBcc: everyone@example.com', 'json', '$.subject'), true);
  });

  it('leaves multi-line documents and ordinary text alone', () => {
    assert.equal(attack('Dear team,\nNote: the meeting moved.\nThanks', 'json', '$.body'), false);
    assert.equal(
      attack(
        'POST /api HTTP/1.1\nHost: api.example.com\nContent-Type: application/json\n\n{"a":1}\nThen check the response.',
        'json',
        '$.tutorial',
      ),
      false,
    );
    assert.equal(attack('Line one\nhttps://example.com', 'json', '$.text'), false);
    assert.equal(attack('plain value'), false);
  });
});

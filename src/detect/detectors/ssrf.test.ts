import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from '../engine.js';
import type { Input, Location, Paranoia } from '../types.js';
import { classifyHost, findUrls, parseV4, parseV6, ssrfDetector } from './ssrf.js';

function attack(value: string, location: Location = 'query', name = 'url', paranoia: Paranoia = 2): boolean {
  const inputs: Input[] = [{ location, name, value }];
  return inspect(inputs, { paranoia, threshold: 5, exclusions: [], detectors: [ssrfDetector] }).attack;
}

describe('address parsing', () => {
  it('reads IPv4 in every inet_aton form', () => {
    assert.equal(parseV4('127.0.0.1')?.value, 0x7f000001);
    assert.equal(parseV4('127.0.0.1')?.canonical, true);
    assert.equal(parseV4('2130706433')?.value, 0x7f000001);
    assert.equal(parseV4('0x7f000001')?.value, 0x7f000001);
    assert.equal(parseV4('0177.0.0.1')?.value, 0x7f000001);
    assert.equal(parseV4('127.1')?.value, 0x7f000001);
    assert.equal(parseV4('169.254.43518')?.value, 0xa9fea9fe);
    assert.equal(parseV4('0xA9.0xFE.0xA9.0xFE')?.value, 0xa9fea9fe);
    assert.equal(parseV4('127.1')?.canonical, false);
    assert.equal(parseV4('1.2.3.4.5'), undefined);
    assert.equal(parseV4('example'), undefined);
  });

  it('reads IPv6 with "::", embedded IPv4 and zone ids', () => {
    assert.deepEqual(parseV6('::1'), [0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(parseV6('::ffff:127.0.0.1'), [0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]);
    assert.deepEqual(parseV6('fe80::1%eth0'), [0xfe80, 0, 0, 0, 0, 0, 0, 1]);
    assert.equal(parseV6('1::2::3'), undefined);
    assert.equal(parseV6('12345::'), undefined);
  });

  it('classifies hosts', () => {
    for (const h of [
      'localhost',
      'LOCALHOST.',
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '0.0.0.0',
      '[::1]',
      '[::]',
      '[::ffff:a9fe:a9fe]',
      '[fd12::1]',
      '[fe80::1%25eth0]',
      'host.docker.internal',
      'api.default.svc.cluster.local',
      '127.0.0.1.nip.io',
    ])
      assert.ok(['internal', 'metadata'].includes(classifyHost(h).kind), h);
    assert.equal(classifyHost('169.254.169.254').kind, 'metadata');
    assert.equal(classifyHost('metadata.google.internal').kind, 'metadata');
    assert.equal(classifyHost('[fd00:ec2::254]').kind, 'metadata');
    assert.equal(classifyHost('8.8.8.8').kind, 'public-ip');
    assert.equal(classifyHost('example.com').kind, 'name');
    assert.equal(classifyHost('mylocalhost').kind, 'name');
  });

  it('finds URLs with and without slashes', () => {
    assert.equal(findUrls('go to http://a.example/x now')[0]?.host, 'a.example');
    assert.equal(findUrls('http://u:p@10.0.0.1:8080/')[0]?.host, '10.0.0.1');
    assert.equal(findUrls('http:127.0.0.1')[0]?.host, '127.0.0.1');
    assert.equal(findUrls('note:127.0.0.1').length, 0);
    assert.equal(findUrls('http://[::1]:80/')[0]?.host, '[::1]');
  });
});

describe('SSRF detector', () => {
  it('flags URLs to internal, metadata and obfuscated addresses', () => {
    for (const v of [
      'http://127.0.0.1/admin',
      'http://localhost/server-status',
      'http://169.254.169.254/latest/meta-data/',
      'http://metadata.google.internal/computeMetadata/v1/',
      'http://2130706433/',
      'http://0x7f000001:6379/',
      'http://0177.0.0.1/',
      'http://127.1/',
      'http://[::ffff:127.0.0.1]/',
      'http://[::]:22/',
      'gopher://10.0.0.5:6379/_FLUSHALL',
      'http://①②⑦.⓪.⓪.①/',
      'http://169。254。169。254/',
      'http://internal.localhost/',
      'https://public.example%2f@10.0.0.1/',
      'http://example.com:80 &@example.com:80# @127.0.0.1:22/',
      'http://8.8.8.8.nip.io@127.0.0.1/',
      'http://3627734734/',
      'localhost/admin',
      'host.docker.internal:2375/containers/json',
    ])
      assert.equal(attack(v), true, v);
  });

  it('leaves public URLs, bare hosts and developer traffic alone', () => {
    for (const v of [
      'https://example.com/callback',
      'http://foo:bar@example.com/',
      'https://medium.com/@someone/post-title',
      'localhost',
      'mylocalhost/path',
      'version 10.0.0.1 released',
      'Point your browser at http://127.0.0.1:8080/ once the server is running in your terminal.',
      'https://www.npmjs.com/package/@scope/pkg',
    ])
      assert.equal(attack(v), false, v);
    assert.equal(attack('http://localhost:3000/auth/callback', 'query', 'redirect_uri'), false);
    assert.equal(attack('http://localhost:5173/assets/index.js', 'json', '$.frames[0].filename'), false);
    assert.equal(attack('http://localhost:3000/', 'header', 'origin'), false);
  });
});

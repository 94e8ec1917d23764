import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from '../engine.js';
import type { Finding, Input, Location, Paranoia } from '../types.js';
import { canonicalPath, rfiDetector, scanTraversal, traversalDetector } from './traversal.js';

function attack(value: string, location: Location = 'query', name = 'x', paranoia: Paranoia = 2): boolean {
  const inputs: Input[] = [{ location, name, value }];
  return inspect(inputs, {
    paranoia,
    threshold: 5,
    exclusions: [],
    detectors: [traversalDetector, rfiDetector],
  }).attack;
}

describe('canonical path form', () => {
  it('undoes overlong UTF-8, %u, textual hex, NUL and backslashes', () => {
    assert.equal(canonicalPath('%c0%ae%c0%ae%c0%af').text, '../');
    assert.equal(canonicalPath('%e0%80%ae%e0%80%ae/').text, '../');
    assert.equal(canonicalPath('%u002e%u002e%u2215').text, '../');
    assert.equal(canonicalPath('0x2e0x2e0x2f').text, '../');
    assert.equal(canonicalPath('..\\Windows').text, '../Windows');
    assert.equal(canonicalPath('..%00/').text, '../');
    assert.equal(canonicalPath('%252e%252e%252f').text, '../');
    assert.equal(canonicalPath('plain/Path').tricks, false);
    assert.equal(canonicalPath('%c0%ae%c0%ae/').tricks, true);
  });

  it('counts dot-dot segments only at segment boundaries', () => {
    assert.equal(scanTraversal('../../a').count, 2);
    assert.equal(scanTraversal('a/../b').count, 1);
    assert.equal(scanTraversal('foo../bar').count, 0);
    assert.equal(scanTraversal('..foo').count, 0);
    assert.equal(scanTraversal('.../.../x').count, 2);
    assert.equal(scanTraversal('..;jsessionid=1/x').count, 1);
    assert.equal(scanTraversal('a/..').count, 1);
    assert.equal(scanTraversal('../../../x').run, 3);
  });
});

describe('path traversal', () => {
  it('flags traversal in every encoding the engine or a server undoes', () => {
    for (const v of [
      '../../../etc/shadow',
      '..\\..\\boot.ini',
      '..%2f..%2fapp%2fconfig',
      '%c0%ae%c0%ae/%c0%ae%c0%ae/secret',
      '....//....//x',
      '..;/admin',
      '..\\notes.txt',
      '0x2e0x2e0x2fwindows',
      '/static/../../../../var/www/app.py',
    ])
      assert.equal(attack(v), true, v);
    assert.equal(attack('../report.pdf', 'filename', 'file'), true);
    assert.equal(attack('X-Custom: ..\\..\\', 'header', 'x-path'), true);
  });

  it('leaves dots that are not segments, and relative links in documents, alone', () => {
    for (const v of [
      'foo../1234',
      '..foo',
      'Wait... what?',
      'v1.2..v1.3',
      'See the [guide](../guide/setup.md) for details on configuration.',
      "import { helper } from '../utils/helper.js';\nimport x from './x.js';",
      'Loading...',
      '1..10',
      '<a href="../index.html">Back</a> to the overview page of the manual.',
    ])
      assert.equal(attack(v), false, v);
    assert.equal(attack('..', 'path', ''), false);
  });
});

describe('sensitive files', () => {
  it('flags system, credential and source-control files as bare paths', () => {
    for (const v of [
      '/etc/passwd',
      'cat /etc/shadow',
      '/proc/self/environ',
      '/proc/1/cmdline',
      '/root/.bash_history',
      'C:\\Windows\\win.ini',
      'file.txt;/home/app/.ssh/id_rsa',
      '/var/www/.git/config',
      '/home/u/.aws/credentials',
      '/var/run/secrets/kubernetes.io/serviceaccount/token',
      'WEB-INF/web.xml',
      '/sys/class/net',
      '.env.production',
    ])
      assert.equal(attack(v), true, v);
  });

  it('flags hidden or secret files in the URL path', () => {
    assert.equal(attack('.env', 'path', ''), true);
    assert.equal(attack('.git', 'path', ''), true);
    assert.equal(attack('id_rsa', 'path', ''), true);
    assert.equal(attack('@fs', 'path', ''), true);
    assert.equal(attack('db_backup.sql.gz', 'path', ''), true);
  });

  it('leaves mentions in prose, informational files and ordinary dotfiles alone', () => {
    for (const v of [
      'Add the host to /etc/hosts and restart the service before running the tests.',
      'cat /etc/os-release',
      '.env.example',
      'https://github.com/acme/app/blob/main/.github/workflows/ci.yml',
      'firstname.lastname@example.com',
      'history.history',
      'passwd',
      '/api/v1/users/42/passwd',
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36',
    ])
      assert.equal(attack(v), false, v);
    assert.equal(attack('.github', 'path', ''), false);
    assert.equal(attack('.well-known', 'path', ''), false);
    assert.equal(attack('.htaccess', 'path', ''), false);
  });
});

describe('remote file inclusion', () => {
  it('flags wrappers, data: URIs with executable types, IP-literal URLs and trailing "?"', () => {
    for (const v of [
      'php://filter/convert.base64-encode/resource=index.php',
      'expect://id',
      'file:///etc/hostname',
      'phar://uploads/avatar.jpg/x',
      'data:text/html;base64,PHNjcmlwdD4=',
      'data:text/plain,hello',
      'jar:http://attacker.example/x.zip!/a',
      'gopher://internal:6379/_INFO',
      'http://203.0.113.9/shell.txt',
      'http://203.0.113.9/',
      'https://[2001:db8::1]/x.php',
      'ftp://198.51.100.7',
      'https://attacker.example/shell.txt?',
      'http?',
    ])
      assert.equal(attack(v), true, v);
    assert.equal(attack('https://attacker.example/inc', 'query', 'mosConfig_absolute_path'), true);
    assert.equal(attack('https://attacker.example/inc', 'query', 'cfg[base_dir]'), true);
  });

  it('leaves ordinary links, images and documents alone', () => {
    for (const v of [
      'https://example.com/docs?page=2',
      'data:image/png;base64,iVBORw0KGgo=',
      'Is it http or https?',
      'location / {\n  proxy_pass http://10.0.0.5:8080;\n}',
      'php: 8.2',
      'file: report.pdf',
      'https://cdn.example.com/app.php',
    ])
      assert.equal(attack(v), false, v);
    assert.equal(attack('https://example.com/cb', 'query', 'return_path'), false);
  });
});

describe('null-byte truncation', () => {
  it('flags a NUL right after a file name with an extension', () => {
    for (const v of ['shell.php%00.png', 'file.txt\0.jpg', '../../x.inc%00', 'avatar.phtml\0'])
      assert.equal(attack(v, 'query', 'file'), true, v);
  });

  it('leaves versions, words and uploaded file contents alone', () => {
    for (const v of ['v1.2%00', 'hello%00world', 'x%00', 'report.pdf', 'a.b'])
      assert.equal(attack(v, 'query', 'file'), false, v);
    assert.equal(attack('GIF89a.png\0.jpg\0\0', 'multipart', 'upload'), false);
  });
});

describe('remote file inclusion: truncation and file-transfer URLs', () => {
  it('flags a "??", NUL, or "#" after a script file, and a value that is an ftp:// URL, at PL2', () => {
    for (const v of [
      'http://attacker.example/shell.txt??',
      'http://attacker.example/shell.txt\0',
      'http://attacker.example/shell.txt%00',
      'http://attacker.example/shell.txt#',
      'https://attacker.example/c99.php#',
      'ftp://files.attacker.example',
      'ftps://files.attacker.example/x.txt',
      '//attacker.example/shell.txt?',
    ])
      assert.equal(attack(v), true, v);
    // "#" and ftp:// count at PL2 only.
    assert.equal(attack('http://attacker.example/shell.txt#', 'query', 'x', 1), false);
    assert.equal(attack('ftp://files.attacker.example', 'query', 'x', 1), false);
  });

  it('leaves webhooks, avatars, redirect URIs, bookmarks, Markdown links and ftp mentions alone', () => {
    for (const v of [
      'https://hooks.example.com/services/T000/B000/XXXX',
      'https://cdn.example.com/avatars/42.png',
      'https://app.example.com/oauth/callback',
      'https://example.com/#',
      'https://example.com/#/dashboard',
      'https://docs.example.com/index.html#',
      'https://example.com/page#section-2',
      'See [the docs](https://docs.example.com/setup.php) for details.',
      'Download it from ftp://ftp.example.org/pub/ or the website.',
      'ftp: disabled',
      '//api/v1?',
      '// is this a comment?',
      'what is //x.y/z?',
    ])
      assert.equal(attack(v), false, v);
    assert.equal(attack('https://app.example.com/oauth/callback', 'query', 'redirect_uri'), false);
  });
});

describe('robustness', () => {
  it('never throws and stays fast on arbitrary and hostile strings', async () => {
    const fc = (await import('fast-check')).default;
    const { ssrfDetector } = await import('./ssrf.js');
    const { genericDetector } = await import('./generic.js');
    const { nosqlDetector } = await import('./nosql.js');
    const { ldapDetector } = await import('./ldap.js');
    const { crlfDetector } = await import('./crlf.js');
    const { jndiDetector } = await import('./jndi.js');
    const all = [
      traversalDetector,
      rfiDetector,
      ssrfDetector,
      genericDetector,
      nosqlDetector,
      ldapDetector,
      crlfDetector,
      jndiDetector,
    ];
    const alphabet = fc.constantFrom(...'./\\%:@[]{}()$_-=;"\'\r\n 0x2eac1ABjndi'.split(''));
    const value = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: alphabet, maxLength: 300 }));
    const locations: Location[] = [
      'path',
      'query',
      'query-name',
      'json',
      'json-key',
      'header',
      'xml',
      'body',
      'filename',
    ];
    fc.assert(
      fc.property(value, fc.constantFrom(...locations), (v, location) => {
        const out: Finding[] = [];
        for (const d of all) d.detect(v, { location, name: '', value: v }, out);
        return out.every((f) => f.score > 0 && f.pl >= 1 && f.pl <= 3);
      }),
      { numRuns: 2000 },
    );
    for (const unit of [
      '../',
      '%c0%ae',
      '${',
      ')(',
      '\r\nA:',
      'http://a@',
      '@{[',
      '$1:',
      'a__',
      'etc/',
      '0x2e',
    ]) {
      const v = unit.repeat(Math.ceil(100_000 / unit.length));
      const t = performance.now();
      for (const d of all) d.detect(v, { location: 'query', name: 'q', value: v }, []);
      assert.ok(performance.now() - t < 100, unit);
    }
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Finding, Input } from '../types.js';
import { phpDetector, phpFindings } from './php.js';

function score(value: string, pl = 2, input?: Input): number {
  const seen = new Set<string>();
  let total = 0;
  for (const f of phpFindings(value, input)) {
    if (f.pl > pl || seen.has(f.rule)) continue;
    seen.add(f.rule);
    total += f.score;
  }
  return total;
}

function rules(value: string, input?: Input): string[] {
  return phpFindings(value, input).map((f) => f.rule);
}

describe('php detector: code that must block', () => {
  const attacks: [string, string][] = [
    ['an open tag with code', '<?php echo 1; ?>'],
    ['a short echo tag', '<?= $x ?>'],
    ['a short tag with a call', '<? passthru("id"); ?>'],
    ['"<?xml" that is no declaration', '<?xml :system("id");'],
    ['a PHP-only function', 'shell_exec("uname")'],
    ['a decoder', 'gzinflate(base64_decode($p))'],
    ['eval of a request variable', 'eval($_POST["c"])'],
    ['system with a literal', "system('ls')"],
    ['a comment between name and parenthesis', 'exec/**/("id")'],
    ['a variable function', '$f = $_GET["f"]; $f("id");'],
    ['an indexed variable function', '$a["x"][0]("id")'],
    ['a callable string', "('system')('id')"],
    ['a callable from an array', '[system][0]("id")'],
    ['a concatenated name', "('sys'.'tem')('id')"],
    ['a superglobal', "$_SERVER['HTTP_HOST']"],
    ['a variable variable', "${'_GE'.'T'}"],
    ['a spaced variable variable', '$ {$name}'],
    ['a php:// wrapper', 'php://filter/convert.base64-encode/resource=index.php'],
    ['a phar:// wrapper', 'phar://uploads/avatar.jpg/x'],
    ['an expect:// wrapper', 'expect://id'],
    ['a serialized object', 'O:8:"Exploit":1:{s:3:"cmd";s:2:"id";}'],
    ['a php.ini directive', 'allow_url_include=On'],
    ['an include statement', "include '/tmp/x.php';"],
  ];
  for (const [what, value] of attacks) {
    it(`blocks ${what}`, () => assert.ok(score(value) >= 5, `${value} → ${rules(value).join(', ')}`));
  }

  it('flags uploads of PHP and session files by name', () => {
    const cases: Input[] = [
      { location: 'filename', name: 'avatar', value: 'shell.php5' },
      { location: 'filename', name: 'avatar', value: 'photo.jpg.phtml' },
      { location: 'header', name: 'x-filename', value: 'x.php..' },
      { location: 'header', name: 'x_file_name', value: 'sess_0123456789abcdef0123' },
    ];
    for (const i of cases) assert.ok(score(i.value, 1, i) >= 5, i.value);
  });
});

describe('php detector: ordinary values that must pass', () => {
  const benign: [string, string][] = [
    ['an XML declaration', '<?xml version="1.0" encoding="UTF-8"?><a/>'],
    ['an XML stylesheet instruction', '<?xml-stylesheet href="a.xsl"?>'],
    ['a bare tag', '<?php'],
    ['Python', "print(df.groupby('region')['amount'].sum())"],
    ['jQuery', '$(document).ready(function () { $(".x").hide(); });'],
    ['a Vue template', "{{ $t('greeting') }} {{ $d(date) }}"],
    ['a component event', "this.$emit('save', item)"],
    ['a JavaScript template literal', '`Total: ${total} (${count} items)`'],
    ['a data URI', 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAE='],
    ['an https URL', 'https://example.com/a?b=c'],
    ['a price', 'US$ 100 (approx.)'],
    ['a JSON path', '$.items[0].name'],
    ['a method of another object', 'os.system(cmd) and subprocess.exec(args)'],
    ['an ordinary key=value', 'theme=dark'],
    ['a serialized array', 'a:1:{i:0;s:1:"x";}'],
  ];
  for (const [what, value] of benign) {
    it(`passes ${what}`, () => assert.equal(score(value), 0, `${value} → ${rules(value).join(', ')}`));
  }

  it('lets prose that names a function pass (a hint below the blocking score)', () => {
    for (const value of ['Avoid eval() in hot paths.', 'the system (v2) works well']) {
      assert.ok(score(value) < 5, value);
      assert.equal(score(value, 1), 0, value);
    }
  });

  it('leaves ordinary uploads alone', () => {
    for (const value of ['report.pdf', 'photo.jpeg', 'archive.tar.gz', 'notes.php.txt'])
      assert.equal(score(value, 3, { location: 'filename', name: 'f', value }), 0, value);
  });
});

describe('php detector: robustness', () => {
  it('never throws and only reports php rules', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        for (const f of phpFindings(s)) assert.ok(f.rule.startsWith('php-') && f.family === 'php');
      }),
    );
  });

  it('stays linear on pathological input', () => {
    for (const unit of ['${', '$ {', '$a[', '$a{', '(', 'exec (', '<?', 'O:1:"', ':"', "'.", '/*', '#']) {
      const v = unit.repeat(Math.ceil(100_000 / unit.length));
      const t = performance.now();
      phpFindings(v);
      assert.ok(performance.now() - t < 500, `${JSON.stringify(unit)} took too long`);
    }
  });
});

describe('php detector: spacing, comments and whole-value calls (paranoia 2)', () => {
  const attacks: [string, string][] = [
    ['a tab before the parenthesis', 'exec\t(blah)'],
    ['two spaces before the parenthesis', 'fopen  (blah)'],
    ['a line comment before the parenthesis', 'exec //comment\r\n (blah)'],
    ['a hash comment before the parenthesis', 'exec#\n (blah)'],
    ['a whole value that is one helper call', 'is_array()'],
    ['a whole value that is a formatted print', 'printf(foo)'],
    ['a whole value that is a generic call', 'intval(foo)'],
    ['an indexed callable with spaces', '[ system ] [ 0 ] ( ls );'],
    ['a callable with comments and brace indexes', '(  [  system  ][  0  ])  {/* c */0}  (  ls  );'],
    ['an extension function', 'tidy_parse_string()'],
    ['an unclosed engine function', 'zend_test_is_string_marked_as_valid_utf8('],
    ['an open tag ending the value', 'test<?'],
  ];
  for (const [name, v] of attacks) it(name, () => assert.ok(score(v, 2) >= 5, `${v}: ${rules(v)}`));

  const benign: [string, string][] = [
    ['prose with two spaces before a parenthesis', 'read the file  (see attached) now'],
    ['prose with a line break before a parenthesis', 'Please attach the file\n(max 5MB)'],
    ['a comment line then a parenthesis', 'my notes # todo\n(later) file'],
    ['a Python print', 'print(x)'],
    ['a snake-case word', 'is_active'],
    ['a reference in prose', 'see [1] (ref)'],
    ['a parenthesis in prose', 'call me maybe (tonight)'],
    ['a question mark after a tag opener with a space', 'is it <?'],
    ['a helper call inside prose', 'use is_array() to check'],
  ];
  for (const [name, v] of benign)
    it(`leaves ${name} alone`, () => assert.equal(score(v, 2), 0, `${v}: ${rules(v)}`));
});

describe('php detector: XML documents', () => {
  it('judges attribute values one by one', () => {
    const d = '<?xml version="1.0"?><root><a probe="file_exists (&#10;$f)"></a></root>';
    const out: Finding[] = [];
    phpDetector.detect(d, { location: 'xml', name: '', value: d }, out);
    assert.ok(out.length > 0);
  });
});

describe('php detector: line comments before a parenthesis', () => {
  it('leaves an everyday name, a "#" note and a parenthesis on the next line alone', () => {
    assert.equal(score('Attach the file # see below\n(optional)'), 0);
    assert.equal(score('Step file #2\n(details)'), 0);
  });
  it('still flags a dangerous name hidden that way', () => {
    assert.ok(score('system # x\n("id")') >= 5);
  });
});

describe('php detector: everyday names hidden behind line comments', () => {
  it('flags an empty or $-argument call', () => {
    assert.ok(score('symlink//c\n()') >= 5);
    assert.ok(score('serialize#c\n($x)') >= 5);
  });
});

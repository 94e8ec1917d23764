import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Finding, Input, Location } from '../types.js';
import { gate, sqliDetector, xmlParts } from './sqli.js';
import { fingerprint, T, tokenize } from './sqli-lexer.js';

function findings(value: string, location: Location = 'query'): Finding[] {
  const input: Input = { location, name: 'q', value };
  const out: Finding[] = [];
  sqliDetector.detect(value, input, out);
  return out;
}

/** Does the value block on its own at paranoia level pl (a finding of score 5 at or below pl)? */
function blocks(value: string, pl: 1 | 2 | 3 = 2, location: Location = 'query'): boolean {
  return findings(value, location).some((f) => f.pl <= pl && f.score >= 5);
}

function rules(value: string): string[] {
  return findings(value).map((f) => f.rule);
}

describe('sqli lexer', () => {
  it('classifies strings, numbers, keywords, operators and comments', () => {
    assert.equal(fingerprint(tokenize("' or 1=1 -- x")), 'S');
    assert.equal(fingerprint(tokenize(' or 1=1 -- x')), '&1o1c');
    assert.equal(fingerprint(tokenize("'a' || 0x41 <=> 0b01")), 's&1o1');
    assert.equal(fingerprint(tokenize('select @@version from `t`.[u]')), 'Evkn.n');
    assert.equal(fingerprint(tokenize('concat (1)')), 'f(1)');
  });

  it('keeps operator words as operators before a parenthesis', () => {
    assert.equal(fingerprint(tokenize('and(1) in (2) union(select')), '&(1)o(1)U(E');
  });

  it('reads MySQL executable comments as code and drops closed comments', () => {
    assert.equal(fingerprint(tokenize('/*!50000union*/ /*x*/select')), 'UE');
    assert.equal(tokenize('x /* unterminated')[1]?.cls, T.COMMENT);
  });

  it('handles doubled and backslashed quotes inside strings', () => {
    assert.equal(fingerprint(tokenize("'it''s' 'a\\'b' 'open")), 'ssS');
  });
});

describe('sqli detector: attacks', () => {
  const attacks: [string, string][] = [
    ["x' OR 'a'='a", 'sqli-condition'],
    ["admin' and 3>2 --", 'sqli-condition'],
    ['5 or 7=7', 'sqli-condition'],
    ['0) OR (2>1', 'sqli-condition'],
    ["abc' || true;", 'sqli-condition'],
    ['-7 UNION ALL SELECT NULL,NULL,table_name FROM information_schema.tables', 'sqli-union'],
    ['9 union(select 1)', 'sqli-union'],
    ['8; DROP TABLE accounts', 'sqli-stacked'],
    ["zz'; exec master..xp_cmdshell 'dir'--", 'sqli-stacked'],
    ["q'; WAITFOR DELAY '0:0:9'--", 'sqli-delay'],
    ['3 AND SLEEP(7)', 'sqli-delay'],
    ["k' AND (SELECT 1 FROM (SELECT BENCHMARK(9000000,SHA1(1)))z)--", 'sqli-delay'],
    ['1;SELECT pg_sleep(4)', 'sqli-delay'],
    ["r' AND extractvalue(1,concat(0x5c,version()))-- ", 'sqli-function'],
    ["m' AND updatexml(null,concat(0x3a,user()),null)#", 'sqli-function'],
    ["p' UNION SELECT load_file('/etc/hosts')--", 'sqli-function'],
    ["j' INTO OUTFILE '/var/www/x.php'--", 'sqli-file'],
    ['SELECT @@version', 'sqli-variable'],
    ["bob@example.org'--", 'sqli-truncation'],
    ["guest')#", 'sqli-truncation'],
    ["v'||(SELECT user FROM dual)||'", 'sqli-concat'],
    ["w' ORDER BY 4--", 'sqli-clause'],
    ['12 GROUP BY 3', 'sqli-clause'],
    ['1=1', 'sqli-tautology'],
    ["'b'<>'c'", 'sqli-tautology'],
    ['7 is not 8', 'sqli-tautology'],
    ['unhex(', 'sqli-call'],
    ['ascii(substring(version(),1,1))>52', 'sqli-call'],
    ["e'mod id--", 'sqli-breakout'],
    ["n' notnull --", 'sqli-breakout'],
    ['password::int', 'sqli-cast'],
    ['CASE WHEN (1=1) THEN 1 ELSE 0 END', 'sqli-statement'],
    [') as total FROM', 'sqli-statement'],
    ['FROM accounts WHERE id=3', 'sqli-statement'],
    ['INSERT INTO admins (login) VALUES (1)', 'sqli-statement'],
    ['information_schema', 'sqli-catalog'],
    ['FROM sysobjects', 'sqli-catalog'],
    ["' or qwe-", 'sqli-breakout'],
    ["' xor zzz!", 'sqli-breakout'],
    ["guest' or match (a,b);", 'sqli-breakout'],
    ["'or(id)#", 'sqli-breakout'],
    ["kim' and name ! any (select name)--", 'sqli-breakout'],
    ["'Union t", 'sqli-breakout-statement'],
    ['" alter x', 'sqli-breakout-statement'],
    ["' truncate/", 'sqli-breakout-statement'],
    ['div(17,-4)', 'sqli-call'],
    ['mod ( 8.5 , 3 )', 'sqli-call'],
    // Operator fragments as whole values.
    ['XOR', 'sqli-fragment'],
    ['rlike', 'sqli-fragment'],
    ['<=>', 'sqli-fragment'],
    ['&&', 'sqli-fragment'],
    ['IS NOT NULL', 'sqli-fragment'],
    ['LIKE NULL', 'sqli-fragment'],
    ["not regexp '^a'", 'sqli-fragment'],
    ['in (3,4)', 'sqli-fragment'],
    [' IN (77, 78, 79)', 'sqli-fragment'],
    ['in ( Ba,- Bb-, and Bc)', 'sqli-fragment'],
    ['or 91', 'sqli-fragment'],
    ['xor 6-', 'sqli-fragment'],
    [') like (', 'sqli-fragment'],
    ["name LIKE '", 'sqli-fragment'],
    ['execute purge_logs', 'sqli-fragment'],
    ['GRoup by', 'sqli-fragment'],
    // A function or keyword name opening a parenthesis that ends the value.
    ['IN (', 'sqli-call'],
    ['count&&(', 'sqli-call'],
    ['version=(', 'sqli-call'],
    ['hour. (', 'sqli-call'],
    ['Execute(', 'sqli-call'],
    ["left')?$(", 'sqli-call'],
    // Breakouts through quotes and backticks.
    ['` AS `alias_x` FROM', 'sqli-statement'],
    ['7 As" from', 'sqli-statement'],
    ['root@host.test`;', 'sqli-truncation'],
    ["'or", 'sqli-breakout'],
    ["\\'and", 'sqli-breakout'],
    ['` RLIKE ', 'sqli-breakout'],
    ["'''or 3", 'sqli-condition'],
    ['1’ OR ’2’=’2’#', 'sqli-condition'],
    ["1999-02-03' sleep(12.to_i) '", 'sqli-delay'],
    // Conditions and comparisons.
    ['123 or false', 'sqli-condition'],
    ['OR \'{"k":"v"}\' ? \'k\'', 'sqli-condition'],
    ["OR '{\"k\":1}' ?| array['k','j']", 'sqli-condition'],
    ["'{\"b\":3}' > '$.b' = 3", 'sqli-comparison'],
    // Statements.
    ['a=(select', 'sqli-subquery'],
    ['v= SET @sql_mode_x', 'sqli-statement'],
    [';replace into t2 (a) values (5)', 'sqli-stacked'],
    ['5 or /*!40000select*/ 2', 'sqli-comment'],
    ['2.e(user)', 'sqli-obfuscation'],
    ['DEL/**/ETE/*x*/FROM t', 'sqli-comment'],
    ["bar\\''or'zed", 'sqli-condition'],
    ['3.e.columns', 'sqli-obfuscation'],
    // Catalogs, bare or quoted.
    ['msdb', 'sqli-catalog'],
    ['tempdb', 'sqli-catalog'],
    ["'msdasql'", 'sqli-catalog'],
    ['sp_executesql', 'sqli-catalog'],
  ];
  for (const [value, rule] of attacks) {
    it(`flags ${JSON.stringify(value)} (${rule})`, () => {
      assert.ok(blocks(value), `not blocked: ${rules(value).join(',')}`);
      assert.ok(rules(value).includes(rule), `rules: ${rules(value).join(',')}`);
    });
  }

  it('finds SQL in XML attribute values and texts', () => {
    const xml = '<?xml version="1.0"?><r><a q="5 OR 4=4">x</a><b>9 UNION SELECT 1,2</b></r>';
    assert.deepEqual(xmlParts(xml), ['1.0', '5 OR 4=4', 'x', '9 UNION SELECT 1,2']);
    assert.ok(blocks(xml, 1, 'xml'));
  });

  it('counts a bare OR after a leading quote as suspicious, not blocking', () => {
    const f = findings("Lee' or Pat");
    assert.ok(f.some((x) => x.rule === 'sqli-breakout-logic' && x.score === 3));
    assert.ok(!blocks("Lee' or Pat"));
  });

  it('counts operator symbols alone as attacks only in parameter names (filters use them as values)', () => {
    for (const op of ['>=', '<=', '==', '<>', '!=', '>>', '->']) {
      assert.ok(blocks(op, 2, 'body-name'), op);
      assert.ok(blocks(op, 2, 'query-name'), op);
      assert.ok(!blocks(op, 2, 'query'), op);
      assert.ok(!blocks(op, 2, 'json-key'), op); // JsonLogic: {">=": [...]}
    }
    // Words that are also names elsewhere: suspicious, never blocking at PL2.
    for (const w of ['regexp', 'RegExp', 'like']) assert.ok(!blocks(w, 2, 'body-name'), w);
  });

  it('reports each rule once per value', () => {
    const out = findings("1' or 1=1 or 2=2 or 3=3--");
    const ids = out.map((f) => `${f.rule}/${f.pl}`);
    assert.equal(new Set(ids).size, ids.length);
  });
});

describe('sqli detector: benign values', () => {
  const benign = [
    "O'Brien",
    "D'Angelo-O'Neil",
    "it's 5'11\" tall",
    "rock 'n' roll",
    "the students' and teachers' rooms",
    "is this your parents' or yours?",
    'Please select one option from the list below',
    'Select the best option',
    'order by date',
    'Sort: order by price, then by name',
    'cats and dogs or birds',
    'Tom & Jerry',
    'Q&A: what is 2+2?',
    '3 < 4 math worksheet',
    'Select committee (Q3)',
    'Select (optional)',
    'union station, platform 4',
    'I sleep well!',
    'sleep (8 hours) matters',
    "Press '#' to continue",
    'color: #ff0000; background: url(x.png)',
    'https://example.com/search?q=select+one&page=2',
    'john.doe+news@example.com',
    'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig--abc',
    'my--slugified-url',
    '2024-01-31T10:00:00Z',
    'price >= 10 and <= 20',
    '"Quote" or not',
    'She said "hello" -- and left',
    'Drop-off point: gate 3',
    'Update: the meeting moved; delete the old invite',
    'time.sleep(5)',
    'const x = Math.max(a, b);',
    'fn(a) && fn(b)',
    'a => a.id === 1',
    'ratio 1:1',
    'std::string name',
    'POLYGON((30 10, 40 40, 20 40, 10 20, 30 10))',
    'Just in case (abc)',
    'having fun',
    'except selecting',
    "L'Oréal Paris",
    '100% cotton; machine wash',
    "James' or Mary",
    "Chris' or Mary's?",
    "the boys' or girls' team -",
    "'Union Square' station",
    '"Drop a pin',
    "'Select all",
    'div(a, b)',
    'div(1, 2, 3)',
    'x.div(3, 4)',
    // Look-alikes of the operator fragments and openings.
    "the 'or' operator",
    'the "and" keyword',
    "use 'xor' for that",
    'Order by',
    'order by',
    'Execute Query',
    'in (2019)',
    'in (Paris, France)',
    'in (red, green, and blue)',
    'like',
    'regexp',
    'Like',
    '>=',
    '<=',
    '==',
    '::',
    'AND',
    'OR',
    'not',
    'is',
    'time :(',
    'no time :(',
    'versions (',
    'Version 2 (',
    'call me (maybe)',
    'Use `npm test`; then',
    'run `ls`;',
    'Use ` for code',
    'the `as` keyword from Python',
    'known as Bob from Ohio',
    'It’s a ‘test’ = fine',
    '‘quoted’ and ‘more’',
    'v1.e.g',
    'a/*b*/c',
    "'or'",
    '"and"',
    "the word 'and'",
    '"||"',
    'exec summary',
    'Section 1.e.',
    '2.e.iii',
    'width/*px*/height',
    '/*! doc comment */',
    'Updated 1.2. (draft)',
    '"sleep (8 hours)" she said',
    "'Northwind' is a sample",
  ];
  for (const value of benign) {
    it(`passes ${JSON.stringify(value)}`, () => {
      assert.ok(!blocks(value, 2), `blocked: ${rules(value).join(',')}`);
    });
  }
});

describe('sqli detector: properties', () => {
  it('never throws and only reports sqli findings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        for (const f of findings(s)) {
          assert.equal(f.family, 'sqli');
          assert.ok(f.rule.startsWith('sqli-'));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('ignores plain words and numbers', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-zA-Z0-9 ]{0,60}$/), (s) => {
        // Without punctuation only a handful of clause words can start a finding.
        if (/\b(union|select|order|group|having|exec|execute)\b/i.test(s)) return;
        // Whole-value operator fragments ("XOR", "IS NULL", "or 5") and catalog names ("msdb").
        if (/^\s*(xor|rlike|is|like|regexp|not|or|and)\b/i.test(s)) return;
        if (/\b(msdb|tempdb|msdasql|openrowset|opendatasource)\b/i.test(s)) return;
        assert.equal(blocks(s, 3), false);
      }),
      { numRuns: 2000 },
    );
  });

  it('stays linear on long hostile inputs', () => {
    const shapes = [
      '(select ',
      "' or 1=1 ",
      'select(',
      ') as x from ',
      "'".repeat(3),
      'case when 1 then ',
      'DR/**/OP ',
      '/*!50000',
      '1.e.',
      "'{}' ? '",
      'in (1,',
      '` AS `',
    ];
    for (const shape of shapes) {
      const value = shape.repeat(Math.ceil(60_000 / shape.length));
      const t = performance.now();
      findings(value);
      const took = performance.now() - t;
      assert.ok(took < 200, `${JSON.stringify(shape)} took ${took.toFixed(0)} ms`);
    }
  });
});

describe('sqli gate (quick exit)', () => {
  it('lets ordinary values out without tokenizing', () => {
    const plain = [
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36',
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 Version/17.4 Mobile',
      "O'Brien",
      "Don't stop me now",
      'R&D budget for Tom & Jerry!',
      'alice@example.com',
      '2024-05-01T10:00:00Z',
      'Meeting (room 4); bring snacks',
    ];
    // 0: nothing to read; 1: only a catalog-name scan (a word with "_" such as "17_4_1").
    for (const v of plain) assert.notEqual(gate(v), 2, v);
  });

  it('still reads values whose soft punctuation comes with SQL', () => {
    const sqlish = [
      'sleep(5)',
      'version ()',
      '1; drop table users',
      '1)',
      ') or (',
      "a'or'b",
      "x'and'sleep(1)",
      '1 or 2',
      'x like 5',
      '1+or+1',
      "N'abc'",
      'extractvalue(1,2)',
      'x ; shutdown',
      '1 && 2',
      'a != b',
    ];
    for (const v of sqlish) assert.equal(gate(v), 2, v);
  });

  it('finds the same attacks behind the gate', () => {
    assert.ok(blocks("a'or'b", 1));
    assert.ok(blocks('sleep(5)'));
    assert.ok(blocks('1; drop table users', 1));
    assert.equal(blocks("O'Brien", 3), false);
  });

  it('the gate never hides what the full reading finds (random SQL-ish values)', () => {
    const piece = fc.constantFrom(
      ' ',
      '(',
      ')',
      ';',
      "'",
      '1',
      '5',
      'or',
      'and',
      'like',
      'select',
      'sleep',
      'version',
      'drop',
      'table',
      'x',
      'Brien',
      'O',
      'union',
      '+',
      'is',
      'null',
      'in',
      'as',
      'from',
      'users',
      'md5',
      '&',
      '!',
      'R',
      'D',
      'true',
      'xor',
      'benchmark',
      'concat',
      '0x41',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
        const v = parts.join('');
        if (v.length < 2 || gate(v) === 2) return;
        // Findings when the gate says no: the catalog reading, a short operator fragment ("like",
        // "is null") or a bare opening call ("version (") only.
        for (const f of findings(v))
          assert.ok(['sqli-catalog', 'sqli-fragment', 'sqli-call'].includes(f.rule), `${v}: ${f.rule}`);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('sqli "+" in path segments', () => {
  it('reads "+" as a blank in a path segment', () => {
    assert.ok(blocks("24'union+all+select+1,2,3+from+aa", 1, 'path'));
    assert.ok(blocks('7"+union+select+1,2', 1, 'path'));
  });

  it('reads "+" as a blank in a double-encoded query value with a quote or backtick', () => {
    assert.ok(blocks("FROM+`acct`+WHERE+CONVERT(`acct`.`ID`+USING+utf8)+=+'q1'+LIMIT", 2, 'body'));
    for (const v of ["c++'s", "a+b='c'", 'x+`y`']) assert.equal(blocks(v, 2, 'body'), false, v);
  });

  it('leaves ordinary plus signs in paths alone', () => {
    for (const v of ['c++', 'notes+ideas', 'a+b=c', 'Romeo+Juliet', '2+2', 'select+your+plan']) {
      assert.equal(blocks(v, 2, 'path'), false, v);
    }
  });
});

describe('sqli cut-off conditions and value rows', () => {
  it('flags a parameter name that ends in OR/AND left open', () => {
    for (const v of ['pay=/3 or ', 'pay=/3 and(', 'x=/Hmong_language AND ', 'q=/Cm7 OR ']) {
      assert.ok(blocks(v, 2, 'body-name'), v);
      assert.ok(blocks(v, 2, 'query-name'), v);
    }
  });

  it('passes names and values that merely end in a logic word', () => {
    for (const v of ['pay=/Business and', 'pay=/xxxx_R or', 'terms and ', 'size or ', 'a=b, c or d']) {
      assert.equal(blocks(v, 2, 'body-name'), false, v);
    }
    // In a value (search-as-you-type) a trailing "or " is ordinary.
    for (const v of ['pay=/3 or ', 'iphone 13 or ', 'x=1 and '])
      assert.equal(blocks(v, 2, 'query'), false, v);
  });

  it('flags a row of SQL literals: a quoted string, then a hex literal or a parenthesized number', () => {
    for (const v of [" 'abc', 0x1a", "'item', (5)", "'x',0xdeadbeef"]) assert.ok(blocks(v, 2, 'body'), v);
    assert.ok(blocks("'admin', '1'", 2, 'body-name'));
  });

  it('passes quoted lists in ordinary values', () => {
    for (const v of [
      "'admin', '1'",
      "'red', 'blue'",
      "'abc', 12",
      '"abc", 0x1a',
      "'abc', 0x",
      "'item', (5) and more",
      "the 'item', (see 5)",
    ])
      assert.equal(blocks(v, 2, 'body'), false, v);
  });

  it('flags a logic word glued between quotes, and a condition cut off after an escaped quote', () => {
    for (const v of ['\\`or`1', "'or'1", "\\'and'a", '\\"1 or 1-', "\\'2 and 3*"]) assert.ok(blocks(v), v);
    for (const v of ["'or' is a word", '"or" 2', "the 'or' operator", '\\"5', '"1 or 2"', "'5 and 6-"])
      assert.equal(blocks(v), false, v);
  });

  it('flags CASE WHEN … THEN without punctuation, not prose', () => {
    for (const v of [
      ' case when condition1 then result1',
      'case when the_col then 1',
      'case when x then 1 end',
    ])
      assert.ok(blocks(v), v);
    for (const v of [
      'in case when needed then call',
      'Case when needed then call',
      'just in case when it rains then stay in',
      'case when',
      'a use case when then',
    ])
      assert.equal(blocks(v), false, v);
  });

  it('flags a value that ends on UNION ALL after a number or ")"', () => {
    for (const v of ['2 union all', '(5) union distinct', '1 UNION ALL']) assert.ok(blocks(v, 2, 'path'), v);
    for (const v of [
      "9'union all",
      'sql union all',
      'Local 2 union',
      '2 union all members',
      'credit union all',
    ])
      assert.equal(blocks(v, 2, 'path'), false, v);
  });

  it('lets "name=number" through the gate without tokenizing, but not "1=1"', () => {
    assert.notEqual(gate('Mozilla/5.0 (iPhone15,2; scale=3.00; 1179x2556)'), 2);
    assert.equal(gate('1=1'), 2);
    assert.equal(gate("a='x'"), 2);
    assert.ok(blocks('x=1;drop table t'));
    assert.ok(blocks('a=1 or b=2'));
  });
});

describe('sqli quote probes', () => {
  it('flags a value of quotes of two kinds or more', () => {
    for (const v of ['"\'', '\'"', "'`", '\\"\'', '\'"`']) assert.ok(blocks(v), v);
    assert.ok(blocks('<?xml version="1.0"?><r><a p="&quot;\'"></a></r>', 2, 'xml'));
  });

  it('passes one kind of quote, quotes with words, and spaced quotes', () => {
    for (const v of ["''", '""', '``', 'a"\'', '" \' "', 'say "\'hi\'"', '\'"quoted"\''])
      assert.equal(blocks(v), false, v);
  });

  it('flags a name that opens with AND/OR and a quoted literal', () => {
    assert.ok(blocks("and '5'orig_var_datavarname", 2, 'body-name'));
    for (const v of ["andrew 'x'", "not 'x'", "and_'x'"]) assert.equal(blocks(v, 2, 'body-name'), false, v);
    assert.equal(blocks("and 'five' more", 2, 'query'), false);
  });
});

describe('sqli statements after a quote in parameter names', () => {
  it('blocks a name that opens with a quote and a statement; a value only counts it', () => {
    assert.ok(blocks("'select H\n", 2, 'body-name'));
    assert.equal(blocks("'select H", 2, 'query'), false);
    for (const v of ['select H', 'selection', "'select'"]) assert.equal(blocks(v, 2, 'body-name'), false, v);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  findLeak,
  findLeakSignature,
  LEAK_SCAN_BYTES,
  LEAK_SIGNATURES,
  type LeakKind,
  type LeakSignature,
  leakText,
} from './leaks.js';

const JSON_CT = 'application/json';
const HTML_CT = 'text/html; charset=utf-8';
const TEXT_CT = 'text/plain';

function leakOf(body: string, contentType: string | undefined = TEXT_CT): LeakKind | undefined {
  return findLeak(Buffer.from(body, 'utf8'), contentType);
}

function signatureOf(body: string, contentType: string | undefined = TEXT_CT): string | undefined {
  return findLeakSignature(Buffer.from(body, 'utf8'), contentType)?.name;
}

const NODE_STACK = [
  'TypeError: Cannot read properties of undefined (reading "id")',
  '    at getOrder (/app/src/orders.js:12:5)',
  '    at async Router.handle (/app/node_modules/express/lib/router/index.js:284:7)',
].join('\n');

const JAVA_STACK = [
  'java.lang.NullPointerException: Cannot invoke "String.length()"',
  '\tat com.example.orders.OrderService.find(OrderService.java:42)',
  '\tat com.example.orders.OrderController.get(OrderController.java:17)',
].join('\n');

const DOTNET_STACK = [
  'System.InvalidOperationException: Sequence contains no elements',
  '   at System.Linq.ThrowHelper.ThrowNoElementsException()',
  '   at Shop.Orders.OrderService.Find(Int32 id) in C:\\src\\Shop\\Orders\\OrderService.cs:line 12',
].join('\r\n');

const STACK_CASES: Array<[string, string, string | undefined]> = [
  ['node frames', NODE_STACK, TEXT_CT],
  ['node frames inside a JSON string', JSON.stringify({ error: 'boom', stack: NODE_STACK }), JSON_CT],
  ['node frames as a JSON array', '{"stack":["at a (/app/x.js:1:2)","at b (/app/y.js:3:4)"]}', JSON_CT],
  ['node frames, JSON without a content type', JSON.stringify({ stack: NODE_STACK }), undefined],
  ['node Object.<anonymous>', 'Error: x\n    at Object.<anonymous> (/app/index.js:3:9)', TEXT_CT],
  [
    'node processTicksAndRejections',
    'Error: x\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
    TEXT_CT,
  ],
  [
    'python traceback',
    'Traceback (most recent call last):\n  File "/app/x.py", line 3, in <module>\n    main()\nKeyError: \'id\'',
    TEXT_CT,
  ],
  [
    'python frames without the header',
    '  File "/app/x.py", line 3, in main\n    f()\n  File "/app/y.py", line 9, in f\n    raise E',
    TEXT_CT,
  ],
  ['java frames', JAVA_STACK, TEXT_CT],
  [
    'java exception in thread with one frame',
    'Exception in thread "main" java.lang.IllegalStateException: bad\n\tat com.example.Main.main(Main.java:5)',
    TEXT_CT,
  ],
  [
    'kotlin frames with logback suffix',
    'kotlin.KotlinNullPointerException\n\tat app.Svc.run(Svc.kt:10) ~[app.jar:?]\n\tat app.Main.main(Main.kt:3) ~[app.jar:?]',
    TEXT_CT,
  ],
  ['.NET frames', DOTNET_STACK, TEXT_CT],
  ['.NET frames in JSON', JSON.stringify({ detail: DOTNET_STACK }), 'application/problem+json'],
  [
    '.NET async stack marker',
    'Error: x\n--- End of stack trace from previous location ---\n   at Foo()',
    TEXT_CT,
  ],
  ['.NET exception name alone', '{"error":"System.NullReferenceException"}', JSON_CT],
  [
    'PHP fatal error',
    'PHP Fatal error:  Uncaught Error: Call to undefined function f() in /var/www/x.php on line 3',
    TEXT_CT,
  ],
  [
    'PHP warning',
    'Warning: include(config.php): failed to open stream in /var/www/html/index.php on line 7',
    TEXT_CT,
  ],
  [
    'PHP stack trace',
    'Fatal error: Uncaught Exception: x in /var/www/a.php:3\nStack trace:\n#0 /var/www/b.php(12): f()\n#1 {main}',
    TEXT_CT,
  ],
  [
    'PHP HTML fatal error',
    '<br />\n<b>Fatal error</b>:  Call to a member function x() on null in <b>/var/www/app/x.php</b> on line <b>3</b><br />',
    HTML_CT,
  ],
  [
    'ruby frames',
    "/app/x.rb:3:in `m': undefined method `y' for nil (NoMethodError)\n\tfrom /app/x.rb:7:in `<main>'",
    TEXT_CT,
  ],
  ['ruby 3.4 frames', "app/models/user.rb:12:in 'User#save'\nfrom app/main.rb:4:in '<main>'", TEXT_CT],
  [
    'go panic',
    'panic: runtime error: index out of range [3] with length 2\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:8 +0x1d',
    TEXT_CT,
  ],
  [
    'go frames',
    'main.f()\n\t/app/main.go:8 +0x1d\nmain.main()\n\t/app/main.go:12 +0x25\nexit status 2',
    TEXT_CT,
  ],
  [
    'express development error page',
    '<!DOCTYPE html><html><body><pre>Error: boom<br> &nbsp; &nbsp;at handler (/app/app.js:10:11)<br> &nbsp; &nbsp;at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)</pre></body></html>',
    HTML_CT,
  ],
];

describe('findLeak: stack traces', () => {
  for (const [name, body, ct] of STACK_CASES) {
    it(`detects ${name}`, () => {
      assert.equal(leakOf(body, ct), 'stack-trace', signatureOf(body, ct));
    });
  }
});

const PAGE_CASES: Array<[string, string]> = [
  [
    'Django debug page',
    '<p>You&#x27;re seeing this error because you have <code>DEBUG = True</code> in your Django settings file.</p><h2>Traceback</h2>',
  ],
  ['Rails', '<h1>Action Controller: Exception caught</h1><pre>NoMethodError</pre>'],
  ['Laravel Whoops', '<div class="Whoops container"><h1>Whoops, looks like something went wrong.</h1></div>'],
  [
    'Laravel exception JSON',
    '{"message":"x","exception":"Illuminate\\\\Database\\\\QueryException","file":"/x"}',
  ],
  [
    'Spring Boot',
    '<html><body><h1>Whitelabel Error Page</h1><p>This application has no explicit mapping</p>',
  ],
  [
    'ASP.NET yellow screen',
    "<span><H1>Server Error in '/' Application.<hr width=100% size=1 color=silver></H1>",
  ],
  [
    'ASP.NET description',
    '<b> Description: </b>An unhandled exception occurred during the execution of the current web request.',
  ],
  [
    'Symfony exception JSON',
    '{"class":"Symfony\\\\Component\\\\HttpKernel\\\\Exception\\\\NotFoundHttpException"}',
  ],
  ['Werkzeug debugger', '<title>KeyError // Werkzeug Debugger</title>'],
];

describe('findLeak: framework error pages', () => {
  for (const [name, body] of PAGE_CASES) {
    it(`detects ${name}`, () => {
      const ct = body.startsWith('{') ? JSON_CT : HTML_CT;
      assert.equal(leakOf(body, ct), 'framework-error-page', signatureOf(body, ct));
    });
  }

  it('reports a debug page that holds a stack as the page', () => {
    const body = `<h1>Action Controller: Exception caught</h1><pre>${NODE_STACK}</pre>`;
    assert.equal(leakOf(body, HTML_CT), 'framework-error-page');
  });
});

const SQL_CASES: Array<[string, string]> = [
  [
    'MySQL',
    "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near ''' at line 1",
  ],
  ['Oracle', 'ORA-00933: SQL command not properly ended'],
  ['Ruby pg', 'PG::SyntaxError: ERROR:  syntax error at end of input'],
  ['PDO', 'SQLSTATE[42000]: Syntax error or access violation: 1064'],
  ['Postgres unterminated string', 'ERROR:  unterminated quoted string at or near "\'x"'],
  ['Postgres syntax', '{"error":"syntax error at or near \\"FROM\\""}'],
  ['SQLite', 'android.database.sqlite.SQLiteException: near "x": syntax error'],
  ['SQL Server', "Unclosed quotation mark after the character string 'x'."],
  ['SQL Server syntax', "Incorrect syntax near 'FROM'."],
  ['Oracle message without its code', 'Error: quoted string not properly terminated'],
  ['ORM error', '{"name":"SequelizeDatabaseError","message":"x"}'],
];

describe('findLeak: SQL errors', () => {
  for (const [name, body] of SQL_CASES) {
    it(`detects ${name}`, () => {
      const ct = body.startsWith('{') ? JSON_CT : TEXT_CT;
      assert.equal(leakOf(body, ct), 'sql-error', signatureOf(body, ct));
    });
  }

  it('reports a database exception with a stack as the database error', () => {
    const body = `org.postgresql.util.PSQLException: ERROR: relation "x" does not exist\n${JAVA_STACK}`;
    assert.equal(leakOf(body), 'sql-error');
  });
});

describe('findLeak: benign bodies', () => {
  const benign: Array<[string, string | undefined]> = [
    ['{"message":"Order not found"}', JSON_CT],
    ['{"error":"Unexpected token at line 3, column 5"}', JSON_CT],
    ['Cannot GET /x', TEXT_CT],
    [
      '# Quick start\n\nInstall it, then look at line 3 of config.yaml.\nThe server listens at port 8080 at startup.\nSee the docs at https://example.com/docs for more.',
      'text/markdown',
    ],
    ['Meet me at the station at 10:30.\nAt least bring the map (the one at home).', TEXT_CT],
    ['{"addresses":[{"line":"12 Main St","at":"home"},{"line":"3 High St","at":"work"}]}', JSON_CT],
    ["Don't panic: the order is on its way.", TEXT_CT],
    ['{"query":"SELECT id FROM orders WHERE id = ?","rows":3}', JSON_CT],
    ['id,name,when\n1,Ann,at 10:30\n2,Bob,at 12:00', 'text/csv'],
    [
      '<html><body><h1>Orders</h1><p>Shipped at 10:30 from line 3.</p><p>Error rate: 0%</p></body></html>',
      HTML_CT,
    ],
    ['{"items":[{"sku":"ORA-12","name":"Orange"},{"sku":"PG-13","name":"Film"}]}', JSON_CT],
    ['Use File "settings.json", line 3 to configure it.', TEXT_CT],
    ['He was at Foo.Bar(baz) yesterday.', TEXT_CT],
    ['{"status":"error","message":"Error: invalid email"}', JSON_CT],
    ['The goroutine count is 12. Stack trace: none.', TEXT_CT],
    ['<p>Server Error? No, all good.</p>', HTML_CT],
  ];
  for (const [body, ct] of benign) {
    it(`passes ${JSON.stringify(body.slice(0, 40))}`, () => {
      assert.equal(signatureOf(body, ct), undefined);
    });
  }

  it('does not inspect images, audio, video or fonts', () => {
    assert.equal(leakOf(NODE_STACK, 'image/png'), undefined);
    assert.equal(leakOf(NODE_STACK, 'font/woff2'), undefined);
    assert.equal(leakOf(NODE_STACK, 'application/octet-stream'), 'stack-trace');
  });

  it('passes an empty body', () => {
    assert.equal(findLeak(Buffer.alloc(0), JSON_CT), undefined);
  });
});

describe('findLeak: bounds', () => {
  it('inspects only the first 64 KiB', () => {
    const padding = ' '.repeat(LEAK_SCAN_BYTES);
    assert.equal(leakOf(`${padding}${NODE_STACK}`), undefined);
    assert.equal(leakOf(`${NODE_STACK}${padding}`), 'stack-trace');
  });

  it('needs two generic frames: one frame line is not enough', () => {
    assert.equal(leakOf('Error: x\n    at getOrder (/app/src/orders.js:12:5)'), undefined);
    assert.equal(leakOf('\tat com.example.Foo.bar(Foo.java:42)'), undefined);
  });

  it('decodes JSON escapes only in JSON and HTML entities only in HTML', () => {
    assert.equal(leakText(Buffer.from('{"a":"x\\ny \\"q\\""}'), JSON_CT), '{\na\n:\nx\ny "q"\n}');
    assert.equal(leakText(Buffer.from('x\\ny'), TEXT_CT), 'x\\ny');
    assert.equal(leakText(Buffer.from('<p>a&lt;b&gt;</p>c<br/>d'), HTML_CT), '\na<b>\nc\nd');
    assert.equal(leakText(Buffer.from('a&lt;b'), TEXT_CT), 'a&lt;b');
    assert.equal(leakText(Buffer.from('<p>1 < 2</p><b>x</b>a<b c'), HTML_CT), '\n1 < 2\nxa<b c');
    assert.equal(
      leakText(Buffer.from('&toString;&__proto__;&#x41;&#66;&#xZZ;&#;'), HTML_CT),
      '&toString;&__proto__;AB&#xZZ;&#;',
    );
  });

  it('scans adversarial 64 KiB bodies quickly', () => {
    const n = LEAK_SCAN_BYTES;
    const inputs: Array<[string, string | undefined]> = [
      ['<'.repeat(n), HTML_CT],
      ['<a'.repeat(n / 2), HTML_CT],
      ['&#'.repeat(n / 2), HTML_CT],
      ['\\'.repeat(n), JSON_CT],
      ['\\u00'.repeat(n / 4), JSON_CT],
      ['at '.repeat(n / 3), TEXT_CT],
      [`at ${'a.'.repeat(n / 2)}`, TEXT_CT],
      ['at x ('.repeat(n / 6), TEXT_CT],
      ['goroutine 1 ['.repeat(n / 13), TEXT_CT],
      ["Server Error in '".repeat(n / 17), TEXT_CT],
      ['.php on line 1'.repeat(n / 14), TEXT_CT],
      ['System.'.repeat(n / 7), TEXT_CT],
      ['ORA-'.repeat(n / 4), TEXT_CT],
      ['Stack trace:'.repeat(n / 12), TEXT_CT],
      [':in `'.repeat(n / 5), TEXT_CT],
      ['\n'.repeat(n), TEXT_CT],
    ];
    for (const [body, ct] of inputs) {
      const started = process.hrtime.bigint();
      findLeak(Buffer.from(body, 'latin1'), ct);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      assert.ok(ms < 250, `${body.slice(0, 12)}… took ${ms.toFixed(0)} ms`);
    }
  });

  it('property: never throws on arbitrary bytes and content types', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512 }),
        fc.constantFrom(undefined, JSON_CT, HTML_CT, TEXT_CT, 'image/png'),
        (bytes, ct) => {
          findLeak(Buffer.from(bytes), ct);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('findLeak: signatures as data', () => {
  it('has unique names, and every signature fires on at least one sample above', () => {
    const names = LEAK_SIGNATURES.map((s) => s.name);
    assert.equal(new Set(names).size, names.length);
    const samples: Array<[string, string | undefined]> = [
      ...STACK_CASES.map(([, body, ct]): [string, string | undefined] => [body, ct]),
      ...PAGE_CASES.map(([, body]): [string, string | undefined] => [
        body,
        body.startsWith('{') ? JSON_CT : HTML_CT,
      ]),
      ...SQL_CASES.map(([, body]): [string, string | undefined] => [
        body,
        body.startsWith('{') ? JSON_CT : TEXT_CT,
      ]),
    ];
    const silent = LEAK_SIGNATURES.filter(
      (signature) => !samples.some(([body, ct]) => findLeakSignature(Buffer.from(body), ct, [signature])),
    ).map((signature) => signature.name);
    assert.deepEqual(silent, []);
  });

  it('property: the one-pass literal search agrees with a plain substring search', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[ab:]{1,5}$/), { minLength: 1, maxLength: 8 }),
        fc.stringMatching(/^[ab: x]{1,80}$/),
        (literals, text) => {
          const seen = new Map<string, boolean>();
          const probe: LeakSignature = {
            name: 'probe',
            kind: 'sql-error',
            literals,
            matches: (view) => {
              for (const l of literals) seen.set(l, view.has(l));
              return false;
            },
          };
          findLeakSignature(Buffer.from(text, 'latin1'), TEXT_CT, [probe]);
          for (const l of literals) assert.equal(seen.get(l), text.includes(l), `${l} in ${text}`);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('takes an extended signature list', () => {
    const extra: LeakSignature = {
      name: 'custom',
      kind: 'framework-error-page',
      literals: ['Internal Detail'],
      matches: (view) => view.has('Internal Detail') && !view.has('undeclared literal, searched apart'),
    };
    const body = Buffer.from('Internal Detail: x');
    assert.equal(findLeakSignature(body, TEXT_CT), undefined);
    assert.equal(findLeakSignature(body, TEXT_CT, [...LEAK_SIGNATURES, extra])?.name, 'custom');
  });
});

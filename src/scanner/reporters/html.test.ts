import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DRY_RUN, LINT_RESULT, RESULT } from '../../../test/fixtures/scan-result.js';
import { htmlEscape } from './html.js';
import { renderReport } from './index.js';

describe('html reporter', () => {
  const html = renderReport('html', RESULT, { version: '9.9.9' });

  it('is one self-contained page: inline CSS, no script, nothing loaded from elsewhere', () => {
    assert.match(html, /^<!doctype html>\n<html lang="en">/);
    assert.match(html, /<style>[^<]+<\/style>/);
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|src=|href=|url\(|@import/i);
    assert.match(html, /Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"/);
    assert.match(html, /<\/html>\n$/);
  });

  it('escapes everything that came from the API, a <script> in a message included', () => {
    assert.match(
      html,
      /B read A&#39;s object &lt;\]\]&gt;&amp;&quot;&#39; &lt;script&gt;alert\(1\)&lt;\/script&gt;/,
    );
    assert.match(html, /200 for B on A&#39;s object &lt;b&gt;/);
    assert.doesNotMatch(html, /<b>/);
    assert.equal(htmlEscape(`<a href="x">'&`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;');
    assert.equal(htmlEscape('a\u0000b\u001b[31m\u0085'), 'a\\x00b\\x1b[31m\\x85');
  });

  it('shows severity badges, findings by category and evidence in <pre>', () => {
    assert.match(html, /<span class="badge sev-critical">2 critical<\/span>/);
    assert.match(html, /<h2>API1:2023 Broken Object Level Authorization \(1\)<\/h2>/);
    assert.match(html, /<span class="badge sev-high">high<\/span> <code>api1-bola-read<\/code>/);
    assert.match(html, /<pre>GET \/users\/1\nauthorization: \[redacted\]<\/pre>/);
    assert.match(html, /<pre>HTTP 200\ncontent-type: application\/json\n\n\{&quot;id&quot;:1/);
    assert.match(html, /<pre>plugins:\n {2}authorization:/);
    assert.match(html, /123 of 2000 requests sent/);
    assert.match(html, /<h2>Notes<\/h2>/);
  });

  it('lists the plan of a dry run, and titles a lint report', () => {
    assert.match(
      renderReport('html', DRY_RUN, { version: '1' }),
      /<h2>Dry run: 2 request\(s\) planned, none sent<\/h2>/,
    );
    assert.match(
      renderReport('html', LINT_RESULT, { version: '1' }),
      /<title>Portcullis lint report<\/title>/,
    );
  });
});

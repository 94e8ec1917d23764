import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHECKED_RULES, DRY_RUN, HOSTILE, LINT_RESULT, RESULT } from '../../../test/fixtures/scan-result.js';
import { renderReport } from './index.js';
import { xmlEscape } from './junit.js';

/** A parsed element: enough of XML to check the report's shape. */
interface Element {
  name: string;
  attrs: Record<string, string>;
  children: Element[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (_, ref: string) => {
    if (ref.startsWith('#x')) return String.fromCodePoint(Number.parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(Number.parseInt(ref.slice(1), 10));
    const v = ENTITIES[ref];
    if (v === undefined) throw new Error(`unknown entity &${ref};`);
    return v;
  });
}

function legalChar(c: number): boolean {
  return (
    c === 0x9 ||
    c === 0xa ||
    c === 0xd ||
    (c >= 0x20 && c <= 0xd7ff) ||
    (c >= 0xe000 && c <= 0xfffd) ||
    c >= 0x10000
  );
}

/**
 * A strict reader of the XML subset the reporter writes (prolog, elements, attributes, text): it
 * throws on anything not well-formed — an illegal character, a raw "<" or "&", a bad reference,
 * an attribute without quotes, a tag closed out of order, CDATA, or text after the root.
 */
function parseXml(xml: string): Element {
  for (const ch of xml) {
    const c = ch.codePointAt(0) ?? 0;
    if (!legalChar(c) || (c >= 0xd800 && c <= 0xdfff))
      throw new Error(`illegal character U+${c.toString(16)}`);
  }
  let rest = xml.replace(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n/, '');
  if (rest === xml) throw new Error('no XML declaration');
  const root: Element = { name: '#root', attrs: {}, children: [], text: '' };
  const stack: Element[] = [root];
  const checkText = (t: string) => {
    if (/<|&(?!(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);)/.test(t)) throw new Error(`bad text: ${t}`);
    return decode(t);
  };
  while (rest !== '') {
    const lt = rest.indexOf('<');
    const text = lt < 0 ? rest : rest.slice(0, lt);
    const top = stack[stack.length - 1] as Element;
    if (text !== '') {
      if (stack.length === 1 && text.trim() !== '') throw new Error('text outside the root element');
      top.text += checkText(text);
    }
    if (lt < 0) break;
    rest = rest.slice(lt);
    const close = /^<\/([A-Za-z_][\w.-]*)>/.exec(rest);
    if (close) {
      if (top.name !== close[1]) throw new Error(`</${close[1]}> closes <${top.name}>`);
      stack.pop();
      rest = rest.slice(close[0].length);
      continue;
    }
    const open = /^<([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"]*")*)\s*(\/?)>/.exec(rest);
    if (!open) throw new Error(`bad markup at: ${rest.slice(0, 40)}`);
    const attrs: Record<string, string> = {};
    for (const m of (open[2] ?? '').matchAll(/([A-Za-z_][\w.-]*)="([^"]*)"/g)) {
      const [, k = '', v = ''] = m;
      if (k in attrs) throw new Error(`duplicate attribute ${k}`);
      attrs[k] = checkText(v);
    }
    const el: Element = { name: open[1] ?? '', attrs, children: [], text: '' };
    if (stack.length === 1 && root.children.length > 0) throw new Error('two root elements');
    top.children.push(el);
    if (open[3] !== '/') stack.push(el);
    rest = rest.slice(open[0].length);
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]?.name}>`);
  const [doc] = root.children;
  if (!doc) throw new Error('empty document');
  return doc;
}

const all = (el: Element, name: string): Element[] =>
  el.children.flatMap((c) => (c.name === name ? [c, ...all(c, name)] : all(c, name)));

describe('junit reporter', () => {
  const xml = renderReport('junit', RESULT, { version: '1', rules: CHECKED_RULES });
  const doc = parseXml(xml);

  it('is well-formed: test suites per category, a test case per rule and place, failures per finding', () => {
    assert.equal(doc.name, 'testsuites');
    const suites = doc.children.filter((s) => s.attrs.tests !== '0');
    assert.deepEqual(
      suites.map((s) => s.attrs.name),
      [
        'API1:2023 Broken Object Level Authorization',
        'API2:2023 Broken Authentication',
        'API4:2023 Unrestricted Resource Consumption',
        'API8:2023 Security Misconfiguration',
        'A03:2021 Injection',
      ],
    );
    const api8 = suites[3] as Element;
    assert.deepEqual(
      api8.children.map((c) => [c.attrs.name, c.children.length]),
      [
        ['api8-cors', 0],
        ['api8-security-headers GET /users/{id}', 1],
      ],
    );
    assert.equal(api8.attrs.tests, '2');
    assert.equal(api8.attrs.failures, '1');
    assert.equal(doc.attrs.tests, '6');
    assert.equal(doc.attrs.failures, '5');
    assert.equal(doc.attrs.time, '12.500');
    const failure = all(doc, 'failure').find((f) => f.attrs.type === 'critical');
    assert.ok(failure);
    assert.match(failure.attrs.message ?? '', /^\[critical\] /);
    assert.match(failure.text, /why: .+\nfix: .+\nportcullis:\nplugins:/);
  });

  it('escapes hostile text: markup, CDATA ends, quotes, and characters XML cannot carry', () => {
    const bola = all(doc, 'failure').find((f) => f.attrs.type === 'high');
    assert.ok(bola);
    // Round trip: what a CI parser reads is the message, with unrepresentable characters spelled out.
    const expected = HOSTILE.replace('\u0000', '\\u0000')
      .replace('\u0007', '\\u0007')
      .replace('\u001b', '\\u001b')
      .replace('\u000b', '\\u000b')
      .replace('\ud800', '\\ud800');
    assert.equal(bola.attrs.message, `[high] B read A's object ${expected}`);
    assert.ok(bola.text.includes(expected));
    assert.ok(!xml.includes('<script>'));
    assert.ok(!xml.includes(']]>'));
    assert.equal(xmlEscape('a\nb\t"\'<>&'), 'a&#10;b&#9;&quot;&apos;&lt;&gt;&amp;');
  });

  it('puts the notes and a dry run plan in a suite of their own, as output', () => {
    const notes = doc.children.find((s) => s.attrs.name === 'Portcullis scan notes');
    assert.ok(notes);
    assert.match(notes.children[0]?.text ?? '', /^note: no --auth-second/);
    const dry = parseXml(renderReport('junit', DRY_RUN, { version: '1', rules: CHECKED_RULES }));
    assert.equal(dry.attrs.failures, '0');
    const plan = dry.children.find((s) => s.attrs.name === 'Portcullis scan notes');
    assert.match(plan?.children[0]?.text ?? '', /planned: DELETE \/users\/2 \(BOLA: B deletes A's object\)/);
  });

  it('reads a lint result without its rule list', () => {
    const lint = parseXml(renderReport('junit', LINT_RESULT, { version: '1' }));
    assert.equal(lint.attrs.name, 'Portcullis lint');
    assert.equal(all(lint, 'testcase').length, 1);
    assert.equal(all(lint, 'failure')[0]?.attrs.type, 'low');
  });

  it('the checker used here refuses XML that is not well-formed', () => {
    const head = '<?xml version="1.0" encoding="UTF-8"?>\n';
    for (const bad of [
      '<a><b></a></b>',
      '<a>x & y</a>',
      '<a x=1/>',
      '<a>\u0001</a>',
      '<a/><b/>',
      '<a><![CDATA[x]]></a>',
    ])
      assert.throws(() => parseXml(head + bad), bad);
  });
});

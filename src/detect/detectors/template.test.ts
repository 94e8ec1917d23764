import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from '../engine.js';
import type { Paranoia } from '../types.js';
import { templateDetector } from './template.js';

function attack(value: string, paranoia: Paranoia = 1): boolean {
  return inspect([{ location: 'json', name: '$.text', value }], {
    paranoia,
    threshold: 5,
    exclusions: [],
    detectors: [templateDetector],
  }).attack;
}

describe('template detector', () => {
  it('arithmetic probes in every delimiter family', () => {
    for (const v of ['{{7*7}}', 'Hi {{ 7 * 7 }}!', '${191*7}', '#{3*3}', '<%= 7*7 %>', '*{9*9}', "{{7*'7'}}"])
      assert.equal(attack(v), true, v);
  });

  it('code that reaches for the runtime', () => {
    for (const v of [
      "{{ ''.__class__.__mro__[1].__subclasses__() }}",
      "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('id').read() }}",
      "${T(java.lang.Runtime).getRuntime().exec('id')}",
      "#{''.getClass().forName('java.lang.Runtime')}",
      "<% system('id') %>",
      "{{constructor.constructor('return 1')()}}",
      '#{process.mainModule.require("fs")}',
      "{{ request|attr('application') }}",
      '%7B%7B7*7%7D%7D',
      '&#x7B;&#x7B;7*7&#x7D;&#x7D;',
    ])
      assert.equal(attack(v), true, v);
  });

  it('control blocks with a constant condition count at PL2', () => {
    for (const v of [
      '{% if 1 %}a{% endif %}',
      '<% if true %>a<% end %>',
      '{%- if 7*7 == 49 %}x{% endif %}',
    ]) {
      assert.equal(attack(v, 1), false, v);
      assert.equal(attack(v, 2), true, v);
    }
  });

  it('Perl array interpolation "@{[ … ]}" counts at PL2', () => {
    for (const v of ["@{[ system 'id' ]}", '@{   [ rand 100 ] }', '@@{[CORE::time()]', "@{[system 'id']"]) {
      assert.equal(attack(v, 1), false, v);
      assert.equal(attack(v, 2), true, v);
    }
  });

  it('plain templates and look-alikes pass at PL2', () => {
    for (const v of [
      'Hello {{name}}, your order {{ order.id }} ships {{ date | format("short") }}',
      '{% if user.is_admin %}Admin{% endif %}{% for i in items %}{{ i }}{% endfor %}',
      'Total: ${price} (${ user.firstName })',
      '#{name} and <%= title %> and <%- include("header") %>',
      'const s = `${a + b} items`; const t = `${count * rate}`;',
      'echo "${HOME}/bin" && echo ${PATH}',
      '{"array":[1,2,3]} and css div[data-value="test"] and user@example.com',
      'Version {1.2} costs 10% less; {{ 2023 }}',
      'Discount {{ 10 }} and {{ 7 }}',
      '{{'.repeat(1000),
      '@{user}/repos',
    ])
      assert.equal(attack(v, 2), false, v);
  });

  it('is linear: openers without closers and many openers before one closer', () => {
    for (const v of [
      '{{'.repeat(50_000),
      `${'${'.repeat(50_000)}}`,
      `${'${'.repeat(200)}${'a'.repeat(400)}}`.repeat(200),
    ]) {
      const t = performance.now();
      templateDetector.detect(v, { location: 'query', name: 'q', value: v }, []);
      assert.ok(performance.now() - t < 100);
    }
  });
});

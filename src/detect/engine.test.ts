import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect, snippet } from './engine.js';
import type { Detector, Finding, Input } from './types.js';

// A detector written for this test: it flags the word "evil" (score 5, PL1) and "odd" (score 2, PL2).
const probe: Detector = {
  family: 'generic',
  detect(value: string, _input: Input, out: Finding[]) {
    if (value.includes('evil')) out.push({ rule: 'generic-evil', family: 'generic', pl: 1, score: 5 });
    if (value.includes('odd')) out.push({ rule: 'generic-odd', family: 'generic', pl: 2, score: 2 });
  },
};

const q = (value: string, name = 'q'): Input => ({ location: 'query', name, value });

describe('engine', () => {
  it('scores by paranoia level and threshold; a rule counts once per input', () => {
    const base = { threshold: 5, exclusions: [], detectors: [probe] };
    assert.equal(inspect([q('evil evil')], { ...base, paranoia: 1 }).score, 5);
    assert.equal(inspect([q('odd')], { ...base, paranoia: 1 }).matches.length, 0);
    const two = inspect([q('odd'), q('odd', 'r'), q('odd', 's')], { ...base, paranoia: 2 });
    assert.equal(two.score, 6);
    assert.equal(two.attack, true);
    assert.equal(inspect([q('odd')], { ...base, paranoia: 2 }).attack, false);
  });

  it('decoded forms are inspected (double encoding)', () => {
    const v = inspect([q('%2565vil')], { paranoia: 1, threshold: 5, exclusions: [], detectors: [probe] });
    assert.equal(v.attack, true);
  });

  it('exclusions by rule, family, location and name', () => {
    const opts = (exclusions: { rule: string; location?: 'query' | 'json'; name?: string }[]) => ({
      paranoia: 1 as const,
      threshold: 5,
      exclusions,
      detectors: [probe],
    });
    assert.equal(inspect([q('evil')], opts([{ rule: 'generic-evil' }])).attack, false);
    assert.equal(
      inspect([q('evil')], opts([{ rule: 'generic', location: 'query', name: 'q' }])).attack,
      false,
    );
    assert.equal(inspect([q('evil')], opts([{ rule: '*', name: 'other' }])).attack, true);
    assert.equal(inspect([q('evil')], opts([{ rule: '*', location: 'json' }])).attack, true);
  });

  it('snippets are short and printable', () => {
    assert.equal(snippet('a\u0000b'), 'a?b');
    assert.equal(snippet('x'.repeat(100)), `${'x'.repeat(40)}…`);
  });
});

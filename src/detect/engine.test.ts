import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GATED } from './detectors/gates.js';
import { CleanMemo, inspect, snippet } from './engine.js';
import { gate, plan, wakes } from './gate.js';
import type { Detector, Finding, Input, Location } from './types.js';

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

  it('a gate wakes its detector on a trigger character or any wide character, or at its location', () => {
    const ran: string[] = [];
    const spy: Detector = {
      family: 'xss',
      detect(value: string) {
        ran.push(value);
      },
    };
    const p = plan([gate(spy, '<'), gate(spy, '(', [], false)]);
    assert.equal(wakes(p, 'plain words 123'), 0);
    assert.equal(wakes(p, 'a<b'), 1);
    assert.equal(wakes(p, 'f(x)'), 2);
    assert.equal(wakes(p, 'caf\u00e9'), 1);
    const opts = { paranoia: 3 as const, threshold: 5, exclusions: [] };
    inspect([q('plain'), q('a<b')], { ...opts, detectors: [spy] });
    assert.deepEqual(ran, ['plain', 'a<b']);
  });

  it('the built-in gates cost no detection: a detector its gate skips finds nothing', () => {
    // Characters the detectors key on, letters of their keywords, and a few wide ones.
    const alphabet = [
      ...'./\\%@0x:?([{}])$;_<>=`!+-*&#\'" \r\n\t',
      ...'abcdeijlmnoprstuvwhPJS',
      '\u560a',
      '\u2028',
      '\uff0e',
      '\u00e9',
    ];
    const value = fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }).map((a) => a.join(''));
    const where = fc.constantFrom<Location>('path', 'query', 'json', 'json-key', 'header', 'filename');
    const p = plan(GATED);
    fc.assert(
      fc.property(value, where, (v, location) => {
        const input: Input = { location, name: 'x', value: v };
        const woken = wakes(p, v);
        GATED.forEach((g, k) => {
          if ((woken & (1 << k)) !== 0 || g.alwaysAt === location || g.words.length > 0) return;
          const out: Finding[] = [];
          g.detector.detect(v, input, out);
          assert.deepEqual(out, [], `${g.detector.family} skipped ${JSON.stringify(v)}`);
        });
      }),
      { numRuns: 3000 },
    );
  });
});

describe('clean-value memo', () => {
  const counting = (): { detector: Detector; calls: () => number } => {
    let n = 0;
    return {
      detector: {
        family: 'generic',
        detect(value: string, _input: Input, out: Finding[]): void {
          n++;
          if (value.includes('evil')) out.push({ rule: 'generic-evil', family: 'generic', pl: 1, score: 5 });
        },
      },
      calls: () => n,
    };
  };
  const options = (detector: Detector, memo: CleanMemo) => ({
    paranoia: 2 as const,
    threshold: 5,
    exclusions: [],
    detectors: [detector],
    memo,
  });

  it('skips a clean value seen before at the same location and name, never an attack', () => {
    const { detector, calls } = counting();
    const memo = new CleanMemo(8);
    const clean: Input = { location: 'json', name: '$.title', value: 'Hello world' };
    const evil: Input = { location: 'json', name: '$.title', value: 'evil' };
    inspect([clean, evil], options(detector, memo));
    const first = calls();
    const again = inspect([clean, evil], options(detector, memo));
    // The clean value is not inspected again; the attack is, every time, and still blocks.
    assert.equal(calls() - first, 1);
    assert.equal(again.attack, true);
    assert.deepEqual(
      again.matches.map((m) => m.rule),
      ['generic-evil'],
    );
    // The same text under another name or location is inspected on its own.
    inspect(
      [
        { ...clean, name: '$.body' },
        { ...clean, location: 'query' },
      ],
      options(detector, memo),
    );
    assert.equal(calls() - first, 3);
  });

  it('keeps at most two generations and never values longer than its limit', () => {
    const { detector, calls } = counting();
    const memo = new CleanMemo(4, 10);
    const long: Input = { location: 'query', name: 'q', value: 'a long clean value' };
    inspect([long], options(detector, memo));
    inspect([long], options(detector, memo));
    assert.equal(calls(), 2, 'a value over maxValue is inspected every time');
    const values = Array.from(
      { length: 12 },
      (_, i): Input => ({ location: 'query', name: 'q', value: `v${i}` }),
    );
    inspect(values, options(detector, memo));
    const before = calls();
    // The first values were evicted by the flood: inspected again, not taken on trust.
    inspect([values[0] as Input], options(detector, memo));
    assert.equal(calls() - before, 1);
    // The latest ones are still remembered.
    inspect([values[11] as Input], options(detector, memo));
    assert.equal(calls() - before, 1);
  });
});

import type { Detector, Location } from './types.js';

/**
 * A detector and when it can find anything at all: a value with none of its trigger characters and
 * none of its words is skipped. Most values (names, ids, plain words) then skip most detectors
 * without a call. No triggers: the detector always runs.
 */
export interface Gated {
  readonly detector: Detector;
  /** Bitmask over ASCII 0–127 as four 32-bit words; empty (all zero) with `always`. */
  readonly mask: Uint32Array;
  readonly always: boolean;
  /** Lower-case words that also let it run (keywords spelled with letters only). */
  readonly words: readonly string[];
  /** Run on any value with a character above 127 (possible homoglyph or encoded payload). */
  readonly wide: boolean;
  /** Run on every value at this location whatever it holds (the path for traversal). */
  readonly alwaysAt?: Location | undefined;
}

export function gate(
  detector: Detector,
  triggers?: string,
  words: readonly string[] = [],
  wide = true,
  alwaysAt?: Location,
): Gated {
  const mask = new Uint32Array(4);
  if (triggers !== undefined)
    for (let i = 0; i < triggers.length; i++) {
      const c = triggers.charCodeAt(i);
      if (c < 128) mask[c >> 5] = (mask[c >> 5] as number) | (1 << (c & 31));
    }
  return { detector, mask, always: triggers === undefined, words, wide, alwaysAt };
}

/** Which ASCII characters a value holds (and whether it holds any other). */
export function charMask(value: string, mask: Uint32Array): boolean {
  mask.fill(0);
  let wide = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 128) mask[c >> 5] = (mask[c >> 5] as number) | (1 << (c & 31));
    else wide = true;
  }
  return wide;
}

/** At most this many detectors are gated by bit; any further ones always run. */
const BITS = 31;

/**
 * A list of gated detectors compiled for one pass per value: `table[c]` holds a bit for every
 * detector that character c wakes, so a value's scan is one OR per character and the detectors to
 * run are the set bits. Built once per detector list.
 */
export interface Plan {
  readonly gated: readonly Gated[];
  readonly table: Uint32Array;
  /** Detectors that run on every value. */
  readonly base: number;
  /** Detectors woken by any character above 127. */
  readonly wideBits: number;
  /** Detectors that also have words (checked only when no character woke them). */
  readonly wordBits: number;
}

export function plan(gated: readonly Gated[]): Plan {
  const table = new Uint32Array(128);
  let base = 0;
  let wideBits = 0;
  let wordBits = 0;
  for (let k = 0; k < gated.length; k++) {
    const g = gated[k] as Gated;
    if (k >= BITS) continue;
    const bit = 1 << k;
    if (g.always) base |= bit;
    if (g.wide) wideBits |= bit;
    if (g.words.length > 0) wordBits |= bit;
    for (let c = 0; c < 128; c++)
      if (((g.mask[c >> 5] as number) & (1 << (c & 31))) !== 0) table[c] = (table[c] as number) | bit;
  }
  return { gated, table, base, wideBits, wordBits };
}

/** The detectors (as bits of `plan.gated`) that a value wakes by its characters alone. */
export function wakes(p: Plan, value: string): number {
  const table = p.table;
  let run = p.base;
  let wide = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 128) run |= table[c] as number;
    else wide = p.wideBits;
  }
  return run | wide;
}

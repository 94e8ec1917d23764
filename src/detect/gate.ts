import type { Detector } from './types.js';

/**
 * A detector and when it can find anything at all: a value with none of its trigger characters and
 * none of its words is skipped. One pass over a value computes which ASCII characters it holds; most
 * values (names, ids, plain words) then skip most detectors. No triggers: the detector always runs.
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
}

export function gate(
  detector: Detector,
  triggers?: string,
  words: readonly string[] = [],
  wide = true,
): Gated {
  const mask = new Uint32Array(4);
  if (triggers !== undefined)
    for (let i = 0; i < triggers.length; i++) {
      const c = triggers.charCodeAt(i);
      if (c < 128) mask[c >> 5] = (mask[c >> 5] as number) | (1 << (c & 31));
    }
  return { detector, mask, always: triggers === undefined, words, wide };
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

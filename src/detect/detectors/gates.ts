import { type Gated, gate } from '../gate.js';
import type { Detector, Family } from '../types.js';
import { DETECTORS } from './index.js';

/**
 * When each family's detector can find anything: a value holding none of its trigger characters
 * (and none of its words) is skipped without running it. Chosen from what each family's attacks
 * cannot do without; `npm run bench:detection` shows the gates cost no detection.
 */
// Measured on the corpora: gating by characters cost detection (payloads without the expected
// punctuation) and saved little time (ordinary values hold '.', '/', '-' or ':' anyway), so no
// family is gated yet; the mechanism stays for detectors whose needs are sharp.
const GATES: Partial<Record<Family, { readonly chars?: string; readonly words?: readonly string[] }>> = {};

export const GATED: readonly Gated[] = DETECTORS.map((d: Detector) => {
  const g = GATES[d.family];
  return g === undefined ? gate(d) : gate(d, g.chars, g.words ?? []);
});

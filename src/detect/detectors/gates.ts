import { type Gated, gate } from '../gate.js';
import type { Detector, Family, Location } from '../types.js';
import { DETECTORS } from './index.js';

/**
 * When each family's detector can find anything: a value holding none of its trigger characters
 * (and none of its words) is skipped without running it. Chosen from what each family's attacks
 * cannot do without; `npm run bench:detection` shows the gates cost no detection.
 */
// sqli, rce and php run on every value (their owners' call). The others' gates are each a superset
// of the detector's own first check (what it cannot find anything without), so they cost no
// detection; they save the call and the detector's own scan on most values.
interface GateSpec {
  readonly chars?: string;
  readonly words?: readonly string[];
  readonly alwaysAt?: Location;
}
const GATES: Partial<Record<Family, GateSpec>> = {
  // "." "/" "\\" "%" "@" or "0x" (and anything in the path, which is a file path by nature).
  lfi: { chars: './\\%@0', alwaysAt: 'path' },
  // A scheme's ":" or a trailing "?".
  rfi: { chars: ':?' },
  // A scheme's ":" or a schemeless "host/path".
  ssrf: { chars: ':/' },
  generic: { chars: '([{$@_.%' },
  // Operators start with "$"; a $where breakout needs ";".
  nosql: { chars: '$;' },
  ldap: { chars: '(' },
  // CR, LF, or a wide character (U+560A and kin).
  crlf: { chars: '\r\n' },
  // "${".
  jndi: { chars: '$' },
  // Tags, attributes, schemes, calls, backticks, members, JSFuck, UTF-7 and comment closers.
  xss: { chars: '<=:(`.[-!+' },
  // "{{ }}", "${ }", "#{ }" or "<% %>".
  template: { chars: '{<' },
};

export const GATED: readonly Gated[] = DETECTORS.map((d: Detector) => {
  const g = GATES[d.family];
  return g === undefined ? gate(d) : gate(d, g.chars, g.words ?? [], true, g.alwaysAt);
});

import { variants } from './decode.js';
import { GATED } from './detectors/gates.js';
import { charMask, type Gated, gate } from './gate.js';
import type { Detector, Finding, Input, Location, Paranoia } from './types.js';

/** A rule switched off for some inputs (a rich-text field, a header that carries code on purpose). */
export interface Exclusion {
  /** Rule id ("sqli-tautology"), family ("sqli"), or "*". */
  readonly rule: string;
  /** Location kind; undefined for all. */
  readonly location?: Location | undefined;
  /** Parameter, header, cookie name or JSON path; undefined for all. */
  readonly name?: string | undefined;
}

export interface EngineOptions {
  readonly paranoia: Paranoia;
  /** Anomaly score at which a request is an attack (5: one critical finding). */
  readonly threshold: number;
  readonly exclusions: readonly Exclusion[];
  /** The detectors to run (all by default). */
  readonly detectors?: readonly Detector[];
}

export interface Match {
  readonly rule: string;
  readonly family: Finding['family'];
  readonly pl: Paranoia;
  readonly score: number;
  readonly location: Location;
  readonly name: string;
  /** The start of the value, redacted to a safe, short shape for the log (never the whole payload). */
  readonly snippet: string;
}

export interface Verdict {
  readonly score: number;
  readonly attack: boolean;
  readonly matches: readonly Match[];
}

function excluded(rule: string, family: string, input: Input, exclusions: readonly Exclusion[]): boolean {
  for (const e of exclusions) {
    if (e.rule !== '*' && e.rule !== rule && e.rule !== family) continue;
    if (e.location !== undefined && e.location !== input.location) continue;
    if (e.name !== undefined && e.name !== input.name) continue;
    return true;
  }
  return false;
}

/** A short, log-safe view of a value: printable ASCII only, cut at 40 characters. */
export function snippet(value: string): string {
  let out = '';
  for (let i = 0; i < value.length && out.length < 40; i++) {
    const c = value.charCodeAt(i);
    out += c >= 32 && c < 127 ? value[i] : '?';
  }
  return value.length > 40 ? `${out}…` : out;
}

/**
 * Runs every detector on every decoded form of every input; a rule counts once per input (its
 * highest score), findings above the paranoia level or excluded are dropped, and the scores add up.
 */
const scratch = new Uint32Array(4);

function runGated(gated: readonly Gated[], v: string, input: Input, found: Finding[]): void {
  const wide = charMask(v, scratch);
  let lower: string | undefined;
  for (const g of gated) {
    let run = g.always || (wide && g.wide);
    if (!run) {
      const m = g.mask;
      run =
        ((scratch[0] as number) & (m[0] as number)) !== 0 ||
        ((scratch[1] as number) & (m[1] as number)) !== 0 ||
        ((scratch[2] as number) & (m[2] as number)) !== 0 ||
        ((scratch[3] as number) & (m[3] as number)) !== 0;
    }
    if (!run && g.words.length > 0) {
      lower ??= v.toLowerCase();
      for (const w of g.words)
        if (lower.includes(w)) {
          run = true;
          break;
        }
    }
    if (run) g.detector.detect(v, input, found);
  }
}

export function inspect(inputs: readonly Input[], options: EngineOptions): Verdict {
  const gated = options.detectors === undefined ? GATED : options.detectors.map((d) => gate(d));
  const matches: Match[] = [];
  let score = 0;
  const found: Finding[] = [];
  for (const input of inputs) {
    if (input.value.length === 0) continue;
    found.length = 0;
    for (const v of variants(input.value)) runGated(gated, v, input, found);
    if (found.length === 0) continue;
    const seen = new Set<string>();
    for (const f of found) {
      if (f.pl > options.paranoia || seen.has(f.rule)) continue;
      if (excluded(f.rule, f.family, input, options.exclusions)) continue;
      seen.add(f.rule);
      score += f.score;
      matches.push({
        rule: f.rule,
        family: f.family,
        pl: f.pl,
        score: f.score,
        location: input.location,
        name: input.name,
        snippet: snippet(input.value),
      });
    }
  }
  return { score, attack: score >= options.threshold, matches };
}

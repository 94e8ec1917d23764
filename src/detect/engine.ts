import { decodeInto } from './decode.js';
import { GATED } from './detectors/gates.js';
import { type Gated, gate, type Plan, plan, wakes } from './gate.js';
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
  /** Values already found clean, skipped (see CleanMemo); none: every value is inspected. */
  readonly memo?: CleanMemo | undefined;
}

/**
 * Values every detector found clean, remembered so a repeat is not inspected again. Detection is a
 * pure function of (location, name, value) and the detector list, and only values with no finding
 * at any paranoia level are kept, so a hit changes no verdict whatever the paranoia, threshold or
 * exclusions. Real traffic repeats most of its values (JSON keys, header and cookie values, enums,
 * path segments). Bounded: two generations of at most `entries` keys each (the older is dropped when
 * the newer fills), values longer than `maxValue` characters are never kept. Flooding it with
 * distinct values only evicts: the cost returns to inspecting each value, never a wrong verdict.
 */
export class CleanMemo {
  private young = new Set<string>();
  private old = new Set<string>();
  constructor(
    readonly entries = 16384,
    readonly maxValue = 256,
  ) {}

  static key(input: Input): string {
    return `${input.location}\u0000${input.name}\u0000${input.value}`;
  }

  has(key: string): boolean {
    if (this.young.has(key)) return true;
    if (!this.old.has(key)) return false;
    this.add(key);
    return true;
  }

  add(key: string): void {
    this.young.add(key);
    if (this.young.size >= this.entries) {
      this.old = this.young;
      this.young = new Set();
    }
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }
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

const DEFAULT_PLAN = plan(GATED);
const GATE_OF = new Map<Detector, Gated>(GATED.map((g) => [g.detector, g]));
/** Plans of caller-given detector lists, built once per list (a detector keeps its default gate). */
const PLANS = new WeakMap<readonly Detector[], Plan>();

function planFor(detectors: readonly Detector[] | undefined): Plan {
  if (detectors === undefined) return DEFAULT_PLAN;
  let p = PLANS.get(detectors);
  if (p === undefined) {
    p = plan(detectors.map((d) => GATE_OF.get(d) ?? gate(d)));
    PLANS.set(detectors, p);
  }
  return p;
}

/** Runs the detectors a value wakes (by its characters, its words or its location). */
function runGated(p: Plan, v: string, input: Input, found: Finding[]): void {
  const woken = wakes(p, v);
  const gated = p.gated;
  let lower: string | undefined;
  for (let k = 0; k < gated.length; k++) {
    const g = gated[k] as Gated;
    let run = k >= 31 || (woken & (1 << k)) !== 0 || g.alwaysAt === input.location;
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

/** Decoded forms of the value being inspected, reused from one input to the next. */
const forms: string[] = [];

/**
 * Runs every detector on every decoded form of every input; a rule counts once per input (its
 * highest score), findings above the paranoia level or excluded are dropped, and the scores add up.
 */
export function inspect(inputs: readonly Input[], options: EngineOptions): Verdict {
  const p = planFor(options.detectors);
  const matches: Match[] = [];
  let score = 0;
  const found: Finding[] = [];
  const memo = options.memo;
  for (const input of inputs) {
    if (input.value.length === 0) continue;
    const key = memo !== undefined && input.value.length <= memo.maxValue ? CleanMemo.key(input) : undefined;
    if (key !== undefined && (memo as CleanMemo).has(key)) continue;
    if (found.length !== 0) found.length = 0;
    const n = decodeInto(input.value, forms);
    for (let k = 0; k < n; k++) runGated(p, forms[k] as string, input, found);
    if (found.length === 0) {
      if (key !== undefined) (memo as CleanMemo).add(key);
      continue;
    }
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

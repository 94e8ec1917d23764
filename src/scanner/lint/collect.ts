import { type Finding, type Rule, SEVERITIES, type Severity } from '../types.js';
import type { LineIndex, Segment } from './locate.js';

/** Gathers lint findings: one per rule and place (the finding id), with the file and line when known. */
export class Collector {
  private readonly byId = new Map<string, Finding>();

  constructor(
    private readonly file: string | undefined,
    private readonly lines: LineIndex,
  ) {}

  /** `where` names the place for people and fingerprints; `segments` find its line in the file. */
  add(rule: Rule, where: string, segments: readonly Segment[], message: string, severity?: Severity): void {
    const id = `${rule.id}:${where}`;
    if (this.byId.has(id)) return;
    const line = this.lines.line(segments);
    this.byId.set(id, {
      id,
      rule,
      severity: severity ?? rule.severity,
      where,
      message,
      evidence: [],
      ...(this.file === undefined
        ? {}
        : { location: line === undefined ? { file: this.file } : { file: this.file, line } }),
    });
  }

  /** Most severe first, then by place, so two runs print the same list. */
  findings(): Finding[] {
    return [...this.byId.values()].sort(
      (a, b) =>
        SEVERITIES.indexOf(b.severity) - SEVERITIES.indexOf(a.severity) ||
        (a.location?.line ?? 0) - (b.location?.line ?? 0) ||
        (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
  }
}

import { CATEGORIES, type Category, type Finding, type Rule, SEVERITIES, type Severity } from '../types.js';

/** What every reporter may be told besides the result. */
export interface RenderOptions {
  /** The tool's version (package.json). */
  readonly version: string;
  /**
   * Every rule the run checked (the selected checks' rules, or the lint rules). SARIF lists them as
   * the driver's rules and JUnit as passing test cases; without it only rules with findings appear.
   */
  readonly rules?: readonly Rule[];
  /** The spec's text, for SARIF to point scan findings at the line of their path (line 1 otherwise). */
  readonly specText?: string;
  /** Directory SARIF artifact URIs are relative to (default: the process's working directory). */
  readonly cwd?: string;
}

/** Most severe first. */
export const SEVERITY_ORDER: readonly Severity[] = [...SEVERITIES].reverse();

export const rankOf = (s: Severity): number => SEVERITIES.indexOf(s);

/** A lint result is a ScanResult with no target. */
export const isLint = (result: { readonly target: string }): boolean => result.target === '';

export function countBySeverity(findings: readonly Finding[]): Record<Severity, number> {
  const counts: Record<Severity, number> = { info: 0, low: 0, medium: 0, high: 0, critical: 0 };
  for (const f of findings) counts[f.severity]++;
  return counts;
}

/** "1 critical, 2 high, 0 medium, 0 low, 0 info". */
export function summaryLine(findings: readonly Finding[]): string {
  const counts = countBySeverity(findings);
  return SEVERITY_ORDER.map((s) => `${counts[s]} ${s}`).join(', ');
}

/** Findings sorted most severe first, then by id: the same input gives the same report. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort((a, b) => rankOf(b.severity) - rankOf(a.severity) || a.id.localeCompare(b.id));
}

const CATEGORY_ORDER = Object.keys(CATEGORIES) as Category[];

/** Findings grouped by category in the OWASP order (API1 … API10, injection, then the rest). */
export function byCategory(findings: readonly Finding[]): [Category, Finding[]][] {
  const groups = new Map<Category, Finding[]>();
  for (const f of sortFindings(findings)) {
    const list = groups.get(f.rule.category) ?? [];
    list.push(f);
    groups.set(f.rule.category, list);
  }
  return [...groups.entries()].sort((a, b) => categoryRank(a[0]) - categoryRank(b[0]));
}

export function categoryRank(c: Category): number {
  const i = CATEGORY_ORDER.indexOf(c);
  return i < 0 ? CATEGORY_ORDER.length : i;
}

export function categoryTitle(c: Category): string {
  return CATEGORIES[c] ?? c;
}

/** The rules the run checked plus any rule a finding names, unique by id, sorted by id. */
export function rulesOf(findings: readonly Finding[], checked: readonly Rule[] = []): Rule[] {
  const byId = new Map<string, Rule>();
  for (const r of checked) byId.set(r.id, r);
  for (const f of findings) if (!byId.has(f.rule.id)) byId.set(f.rule.id, f.rule);
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}

/** The first `max` characters of a text, marked when cut. */
export function excerpt(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** "GET /users/1 → 200" from an evidence's request and response. */
export function exchangeLine(e: Finding['evidence'][number]): string {
  const req = [e.request.method, e.request.url].filter((s) => s !== undefined && s !== '').join(' ');
  const status = e.response?.status;
  return `${req === '' ? '(request)' : req} → ${status === undefined ? 'no answer' : String(status)}`;
}

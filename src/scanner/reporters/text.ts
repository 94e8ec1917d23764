import { printable } from '../../core/printable.js';
import type { Finding, ScanResult } from '../types.js';
import {
  byCategory,
  categoryTitle,
  excerpt,
  exchangeLine,
  isLint,
  type RenderOptions,
  summaryLine,
} from './common.js';

/** Longest body excerpt shown per evidence in the terminal (the JSON report keeps the 2 KiB excerpt). */
const BODY_CHARS = 300;

const indent = (text: string, pad: string): string =>
  text
    .split('\n')
    .map((l) => (l === '' ? l : pad + l))
    .join('\n');

function finding(f: Finding): string[] {
  const lines: string[] = [];
  lines.push(`[${f.severity.toUpperCase()}] ${f.rule.id}  ${printable(f.where)}`);
  lines.push(`  ${printable(f.message)}`);
  if (f.location !== undefined)
    lines.push(
      `  at: ${printable(f.location.file)}${f.location.line === undefined ? '' : `:${f.location.line}`}`,
    );
  lines.push(`  why: ${f.rule.why}`);
  lines.push(`  fix: ${f.rule.fix}`);
  if (f.rule.portcullis.trim() !== '') {
    lines.push('  portcullis:');
    lines.push(indent(f.rule.portcullis.trimEnd(), '    '));
  }
  if (f.evidence.length > 0) {
    lines.push('  evidence:');
    for (const e of f.evidence) {
      lines.push(`    ${printable(exchangeLine(e))}  (${printable(e.note)})`);
      const body = e.response?.body;
      if (body !== undefined && body !== '')
        lines.push(indent(printable(excerpt(body.trim(), BODY_CHARS)), '      | '));
    }
  }
  lines.push(`  id: ${printable(f.id)}`);
  return lines;
}

/** The report a person reads in a terminal: summary, findings by category, notes, requests used. */
export function render(result: ScanResult, opts: RenderOptions): string {
  const lint = isLint(result);
  const lines: string[] = [];
  lines.push(`Portcullis ${lint ? 'lint' : 'scan'} ${opts.version}`);
  if (!lint) lines.push(`target: ${result.target}`);
  if (result.spec !== '') lines.push(`spec:   ${result.spec}`);
  if (result.checks.length > 0) lines.push(`checks: ${result.checks.join(', ')}`);
  if (result.planned !== undefined) {
    lines.push('');
    lines.push(`Dry run: ${result.planned.length} request(s) planned, none sent.`);
    for (const p of result.planned)
      lines.push(`  ${p.method.padEnd(7)} ${printable(p.path)}  — ${printable(p.purpose)}`);
  }
  lines.push('');
  lines.push(`Summary: ${summaryLine(result.findings)} (${result.findings.length} finding(s))`);
  for (const [category, findings] of byCategory(result.findings)) {
    lines.push('');
    lines.push(`== ${categoryTitle(category)} (${findings.length})`);
    for (const f of findings) {
      lines.push('');
      lines.push(...finding(f));
    }
  }
  if (result.notes.length > 0) {
    lines.push('');
    lines.push('Notes:');
    for (const n of result.notes) lines.push(`  - ${printable(n)}`);
  }
  if (!lint) {
    lines.push('');
    lines.push(
      `Requests sent: ${result.requestsSent} of a budget of ${result.budget}${result.requestsAnswered === undefined ? '' : `, ${result.requestsAnswered} answered`}.`,
    );
  }
  return `${lines.join('\n')}\n`;
}

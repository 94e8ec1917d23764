import type { Category, Finding, Rule, ScanResult } from '../types.js';
import {
  categoryRank,
  categoryTitle,
  excerpt,
  exchangeLine,
  isLint,
  type RenderOptions,
  rulesOf,
  sortFindings,
} from './common.js';

/**
 * JUnit XML for CI test views: one test suite per category, one test case per rule checked and
 * place ("where"), a failure per finding. A rule with no finding is one passing test case.
 */

/** Characters XML 1.0 cannot carry at all, even escaped: shown as \uXXXX instead. */
function legal(c: number): boolean {
  return (
    c === 0x9 ||
    c === 0xa ||
    c === 0xd ||
    (c >= 0x20 && c <= 0xd7ff) ||
    (c >= 0xe000 && c <= 0xfffd) ||
    (c >= 0x10000 && c <= 0x10ffff)
  );
}

/** Text safe inside an element or a double- or single-quoted attribute. */
export function xmlEscape(text: string): string {
  let out = '';
  // for…of walks code points: a lone surrogate arrives alone and is replaced.
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0;
    if (!legal(c)) {
      out += `\\u${c.toString(16).padStart(4, '0')}`;
      continue;
    }
    switch (ch) {
      case '&':
        out += '&amp;';
        break;
      case '<':
        out += '&lt;';
        break;
      case '>':
        out += '&gt;';
        break;
      case '"':
        out += '&quot;';
        break;
      case "'":
        out += '&apos;';
        break;
      // Kept by attribute-value normalization only when written as references.
      case '\n':
        out += '&#10;';
        break;
      case '\r':
        out += '&#13;';
        break;
      case '\t':
        out += '&#9;';
        break;
      default:
        out += ch;
    }
  }
  return out;
}

/** Element text keeps its line breaks readable (references are only needed in attributes). */
const xmlText = (text: string): string => xmlEscape(text).replace(/&#10;/g, '\n').replace(/&#9;/g, '\t');

function failureBody(f: Finding): string {
  const lines = [
    `${f.id}`,
    `severity: ${f.severity}`,
    `where: ${f.where}`,
    ...(f.location === undefined
      ? []
      : [`at: ${f.location.file}${f.location.line === undefined ? '' : `:${f.location.line}`}`]),
    `message: ${f.message}`,
    `why: ${f.rule.why}`,
    `fix: ${f.rule.fix}`,
    'portcullis:',
    f.rule.portcullis.trimEnd(),
  ];
  for (const e of f.evidence) {
    lines.push(`evidence: ${exchangeLine(e)} (${e.note})`);
    if (e.response?.body) lines.push(excerpt(e.response.body, 500));
  }
  return lines.join('\n');
}

interface Case {
  readonly rule: Rule;
  readonly where: string;
  readonly findings: readonly Finding[];
}

function casesOf(rules: readonly Rule[], findings: readonly Finding[]): Map<Category, Case[]> {
  const suites = new Map<Category, Case[]>();
  for (const rule of rules) {
    const mine = findings.filter((f) => f.rule.id === rule.id);
    const places = [...new Set(mine.map((f) => f.where))].sort();
    const cases: Case[] =
      places.length === 0
        ? [{ rule, where: '', findings: [] }]
        : places.map((where) => ({ rule, where, findings: mine.filter((f) => f.where === where) }));
    suites.set(rule.category, [...(suites.get(rule.category) ?? []), ...cases]);
  }
  return suites;
}

export function render(result: ScanResult, opts: RenderOptions): string {
  const findings = sortFindings(result.findings);
  const rules = rulesOf(findings, opts.rules);
  const suites = [...casesOf(rules, findings).entries()].sort(
    (a, b) => categoryRank(a[0]) - categoryRank(b[0]),
  );
  const seconds = Math.max(0, (Date.parse(result.finishedAt) - Date.parse(result.startedAt)) / 1000) || 0;
  const timestamp = Number.isNaN(Date.parse(result.startedAt)) ? '' : result.startedAt.replace(/Z$/, '');
  const name = `Portcullis ${isLint(result) ? 'lint' : 'scan'}`;
  const total = suites.reduce((n, [, cases]) => n + cases.length, 0);
  const failed = suites.reduce((n, [, cases]) => n + cases.filter((c) => c.findings.length > 0).length, 0);
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(
    `<testsuites name="${xmlEscape(name)}" tests="${total}" failures="${failed}" errors="0" time="${seconds.toFixed(3)}">`,
  );
  for (const [category, cases] of suites) {
    const failures = cases.filter((c) => c.findings.length > 0).length;
    out.push(
      `  <testsuite name="${xmlEscape(categoryTitle(category))}" tests="${cases.length}" failures="${failures}" errors="0" skipped="0"${timestamp === '' ? '' : ` timestamp="${xmlEscape(timestamp)}"`}>`,
    );
    for (const c of cases) {
      const caseName = c.where === '' ? c.rule.id : `${c.rule.id} ${c.where}`;
      const open = `    <testcase classname="portcullis.${xmlEscape(c.rule.category)}.${xmlEscape(c.rule.id)}" name="${xmlEscape(caseName)}"`;
      if (c.findings.length === 0) {
        out.push(`${open}/>`);
        continue;
      }
      out.push(`${open}>`);
      for (const f of c.findings)
        out.push(
          `      <failure type="${xmlEscape(f.severity)}" message="${xmlEscape(`[${f.severity}] ${f.message}`)}">${xmlText(failureBody(f))}</failure>`,
        );
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  if (result.notes.length > 0 || result.planned !== undefined) {
    // Notes (what was not tested, and why) and the dry-run plan, where CI shows a suite's output.
    const text = [
      ...result.notes.map((n) => `note: ${n}`),
      ...(result.planned ?? []).map((p) => `planned: ${p.method} ${p.path} (${p.purpose})`),
    ].join('\n');
    out.push(
      `  <testsuite name="${xmlEscape(`${name} notes`)}" tests="0" failures="0" errors="0" skipped="0">`,
    );
    out.push(`    <system-out>${xmlText(text)}</system-out>`);
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

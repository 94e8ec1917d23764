import type { Evidence, Finding, HttpExcerpt, Rule, ScanResult } from '../types.js';
import { countBySeverity, isLint, type RenderOptions, sortFindings } from './common.js';

/*
 * Every object is built key by key in a fixed order (not spread from the input), so two runs with
 * the same findings give the same bytes and a diff of two reports shows only what changed.
 */

function excerptJson(x: HttpExcerpt): Record<string, unknown> {
  return {
    ...(x.method === undefined ? {} : { method: x.method }),
    ...(x.url === undefined ? {} : { url: x.url }),
    ...(x.status === undefined ? {} : { status: x.status }),
    headers: Object.fromEntries(Object.entries(x.headers).sort(([a], [b]) => a.localeCompare(b))),
    ...(x.body === undefined ? {} : { body: x.body }),
  };
}

function evidenceJson(e: Evidence): Record<string, unknown> {
  return {
    note: e.note,
    request: excerptJson(e.request),
    ...(e.response === undefined ? {} : { response: excerptJson(e.response) }),
  };
}

export function ruleJson(r: Rule): Record<string, unknown> {
  return {
    id: r.id,
    category: r.category,
    severity: r.severity,
    title: r.title,
    why: r.why,
    fix: r.fix,
    portcullis: r.portcullis,
  };
}

function findingJson(f: Finding): Record<string, unknown> {
  return {
    id: f.id,
    ruleId: f.rule.id,
    category: f.rule.category,
    severity: f.severity,
    where: f.where,
    message: f.message,
    ...(f.location === undefined
      ? {}
      : {
          location: {
            file: f.location.file,
            ...(f.location.line === undefined ? {} : { line: f.location.line }),
          },
        }),
    evidence: f.evidence.map(evidenceJson),
    rule: ruleJson(f.rule),
  };
}

/** The ScanResult as JSON, with the tool's name and version and a count per severity. */
export function render(result: ScanResult, opts: RenderOptions): string {
  const report = {
    tool: { name: 'Portcullis', version: opts.version },
    kind: isLint(result) ? 'lint' : 'scan',
    target: result.target,
    spec: result.spec,
    startedAt: result.startedAt,
    finishedAt: result.finishedAt,
    requestsSent: result.requestsSent,
    requestsAnswered: result.requestsAnswered ?? 0,
    budget: result.budget,
    checks: [...result.checks],
    summary: countBySeverity(result.findings),
    findings: sortFindings(result.findings).map(findingJson),
    ...(result.planned === undefined
      ? {}
      : { planned: result.planned.map((p) => ({ method: p.method, path: p.path, purpose: p.purpose })) }),
    notes: [...result.notes],
  };
  return `${JSON.stringify(report, null, 2)}\n`;
}

import type { Evidence, Finding, HttpExcerpt, ScanResult, Severity } from '../types.js';
import {
  byCategory,
  categoryTitle,
  countBySeverity,
  isLint,
  type RenderOptions,
  SEVERITY_ORDER,
} from './common.js';

/**
 * One self-contained page for people: inline CSS, no script, no external asset. Everything that
 * came from the API under test is escaped, and a CSP meta tag forbids scripts should anything slip.
 */

const ENTITY: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Markup characters as references; control characters (invalid in HTML) spelled out as \xNN. */
export function htmlEscape(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0;
    if ((c < 0x20 && ch !== '\n' && ch !== '\t' && ch !== '\r') || (c >= 0x7f && c < 0xa0))
      out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ENTITY[ch] ?? ch;
  }
  return out;
}

const e = htmlEscape;

const COLORS: Record<Severity, string> = {
  critical: '#7f1d1d',
  high: '#b91c1c',
  medium: '#b45309',
  low: '#1d4ed8',
  info: '#4b5563',
};

const CSS = `
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#111827;background:#f9fafb}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #d1d5db}
h3{font-size:16px;margin:0 0 4px}
.meta{color:#4b5563;margin:0}.meta code{color:#111827}
.summary{display:flex;gap:8px;flex-wrap:wrap;margin:16px 0}
.badge{display:inline-block;color:#fff;border-radius:4px;padding:1px 8px;font-size:12px;font-weight:600;text-transform:uppercase}
${SEVERITY_ORDER.map((s) => `.sev-${s}{background:${COLORS[s]}}`).join('\n')}
.finding{background:#fff;border:1px solid #e5e7eb;border-left-width:4px;border-radius:6px;padding:12px 16px;margin:12px 0}
${SEVERITY_ORDER.map((s) => `.finding.sev-border-${s}{border-left-color:${COLORS[s]}}`).join('\n')}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0}dt{font-weight:600;color:#374151}dd{margin:0}
pre{background:#111827;color:#f3f4f6;padding:8px 12px;border-radius:4px;overflow-x:auto;white-space:pre-wrap;word-break:break-all;font-size:13px}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:2px 8px;border-bottom:1px solid #e5e7eb;font-size:13px}
`;

function exchange(x: HttpExcerpt, isRequest: boolean): string {
  const head = isRequest
    ? `${x.method ?? ''} ${x.url ?? ''}`.trim()
    : `HTTP ${x.status === undefined ? '' : String(x.status)}`;
  const headers = Object.entries(x.headers).map(([k, v]) => `${k}: ${v}`);
  const body = x.body === undefined || x.body === '' ? [] : ['', x.body];
  return [head, ...headers, ...body].join('\n');
}

function evidence(ev: Evidence): string {
  return `<p>${e(ev.note)}</p><pre>${e(exchange(ev.request, true))}</pre>${
    ev.response === undefined ? '<p><em>no answer</em></p>' : `<pre>${e(exchange(ev.response, false))}</pre>`
  }`;
}

function finding(f: Finding): string {
  const at =
    f.location === undefined
      ? ''
      : `<dt>at</dt><dd><code>${e(f.location.file)}${f.location.line === undefined ? '' : `:${f.location.line}`}</code></dd>`;
  return `<section class="finding sev-border-${f.severity}">
<h3><span class="badge sev-${f.severity}">${f.severity}</span> <code>${e(f.rule.id)}</code> ${e(f.rule.title)}</h3>
<dl>
<dt>where</dt><dd><code>${e(f.where)}</code></dd>${at}
<dt>finding</dt><dd>${e(f.message)}</dd>
<dt>why</dt><dd>${e(f.rule.why)}</dd>
<dt>fix</dt><dd>${e(f.rule.fix)}</dd>
<dt>id</dt><dd><code>${e(f.id)}</code></dd>
</dl>
<p><strong>Portcullis config that blocks it</strong></p>
<pre>${e(f.rule.portcullis.trimEnd())}</pre>
${f.evidence.length === 0 ? '' : `<details open><summary>evidence (${f.evidence.length})</summary>${f.evidence.map(evidence).join('\n')}</details>`}
</section>`;
}

export function render(result: ScanResult, opts: RenderOptions): string {
  const lint = isLint(result);
  const title = `Portcullis ${lint ? 'lint' : 'scan'} report`;
  const counts = countBySeverity(result.findings);
  const meta = [
    lint ? '' : `<p class="meta">target <code>${e(result.target)}</code></p>`,
    result.spec === '' ? '' : `<p class="meta">spec <code>${e(result.spec)}</code></p>`,
    `<p class="meta">${e(result.startedAt)} – ${e(result.finishedAt)} · Portcullis ${e(opts.version)}${
      lint ? '' : ` · ${result.requestsSent} of ${result.budget} requests sent`
    }</p>`,
    result.checks.length === 0 ? '' : `<p class="meta">checks: ${e(result.checks.join(', '))}</p>`,
  ].filter((s) => s !== '');
  const summary = SEVERITY_ORDER.map((s) => `<span class="badge sev-${s}">${counts[s]} ${s}</span>`).join(
    ' ',
  );
  const groups = byCategory(result.findings).map(
    ([category, findings]) =>
      `<h2>${e(categoryTitle(category))} (${findings.length})</h2>\n${findings.map(finding).join('\n')}`,
  );
  const planned =
    result.planned === undefined
      ? ''
      : `<h2>Dry run: ${result.planned.length} request(s) planned, none sent</h2>
<table><tr><th>method</th><th>path</th><th>purpose</th></tr>
${result.planned.map((p) => `<tr><td>${e(p.method)}</td><td><code>${e(p.path)}</code></td><td>${e(p.purpose)}</td></tr>`).join('\n')}
</table>`;
  const notes =
    result.notes.length === 0
      ? ''
      : `<h2>Notes</h2>\n<ul>${result.notes.map((n) => `<li>${e(n)}</li>`).join('')}</ul>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<h1>${e(title)}</h1>
${meta.join('\n')}
<div class="summary">${summary}</div>
${result.findings.length === 0 ? '<p>No findings.</p>' : groups.join('\n')}
${planned}
${notes}
</main>
</body>
</html>
`;
}

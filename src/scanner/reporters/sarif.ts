import { isAbsolute, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Finding, Rule, ScanResult, Severity } from '../types.js';
import { categoryTitle, exchangeLine, isLint, type RenderOptions, rulesOf, sortFindings } from './common.js';

/**
 * SARIF 2.1.0 for GitHub code scanning (and any SARIF viewer). GitHub needs, per result, a rule, a
 * level, a message and a physical location in the repository: scan findings are about a running
 * API, so they point at the spec file (at the line of their path when it can be found) and carry
 * the operation as a logical location.
 */

export const SARIF_SCHEMA =
  'https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json';
/** Where a reader of the report learns about the tool (the scanner's documentation). */
export const INFORMATION_URI = 'https://www.npmjs.com/package/portcullis';

/** GitHub's scale: ≥ 9.0 critical, 7.0–8.9 high, 4.0–6.9 medium, 0.1–3.9 low. */
const SECURITY_SEVERITY: Record<Severity, string> = {
  critical: '9.5',
  high: '8.0',
  medium: '5.5',
  low: '3.0',
  info: '0.0',
};

type Level = 'error' | 'warning' | 'note';

export function levelOf(s: Severity): Level {
  return s === 'critical' || s === 'high' ? 'error' : s === 'medium' ? 'warning' : 'note';
}

/** "api1-bola-read" → "Api1BolaRead": SARIF's rule name is an identifier. */
const pascal = (id: string): string =>
  id
    .split(/[^A-Za-z0-9]+/)
    .filter((p) => p !== '')
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');

function helpText(r: Rule): string {
  return `${r.title}\n\nWhy it matters: ${r.why}\n\nHow to fix it: ${r.fix}\n\nPortcullis config that blocks it:\n${r.portcullis.trimEnd()}\n`;
}

function helpMarkdown(r: Rule): string {
  // A fence longer than any backtick run in the YAML keeps the block closed.
  const longest = Math.max(2, ...Array.from(r.portcullis.matchAll(/`+/g), (m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return `**${r.title}** (${categoryTitle(r.category)})\n\n**Why it matters.** ${r.why}\n\n**How to fix it.** ${r.fix}\n\n**Portcullis config that blocks it:**\n\n${fence}yaml\n${r.portcullis.trimEnd()}\n${fence}\n`;
}

function ruleDescriptor(r: Rule): Record<string, unknown> {
  return {
    id: r.id,
    name: pascal(r.id),
    shortDescription: { text: r.title },
    fullDescription: { text: r.why },
    help: { text: helpText(r), markdown: helpMarkdown(r) },
    defaultConfiguration: { level: levelOf(r.severity) },
    properties: {
      tags: [
        'security',
        categoryTitle(r.category),
        r.category,
        ...(r.id.startsWith('lint-') ? ['lint'] : []),
      ],
      'security-severity': SECURITY_SEVERITY[r.severity],
      precision: 'high',
    },
  };
}

/** A repository-relative URI for GitHub; a file:// URI for a file outside the working directory. */
export function artifactUri(file: string, cwd: string): string {
  const abs = resolve(cwd, file);
  const rel = relative(cwd, abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return pathToFileURL(abs).href;
  return rel.split(sep).map(encodeURIComponent).join('/');
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The 1-based line of an operation ("GET /users/{id}") in a YAML or JSON spec: the method's key
 * under the path's key when both are found, the path's key alone otherwise; undefined when absent.
 */
export function operationLine(specText: string, where: string): number | undefined {
  const m = /^([A-Z]+) (\/\S*)$/.exec(where) ?? /^()(\/\S*)$/.exec(where);
  if (m === null) return undefined;
  const [, method = '', path = ''] = m;
  const lines = specText.split(/\r?\n/);
  const pathKey = new RegExp(`^(\\s*)["']?${escapeRegExp(path)}["']?\\s*:`);
  const at = lines.findIndex((l) => pathKey.test(l));
  if (at < 0) return undefined;
  if (method === '') return at + 1;
  const depth = (pathKey.exec(lines[at] ?? '')?.[1] ?? '').length;
  const methodKey = new RegExp(`^\\s*["']?${method.toLowerCase()}["']?\\s*:`);
  for (let i = at + 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    // The path's block (YAML or pretty JSON) ends at a line indented no deeper than its key.
    if ((/^\s*/.exec(line)?.[0].length ?? 0) <= depth) break;
    if (methodKey.test(line)) return i + 1;
    if (i - at > 400) break;
  }
  return at + 1;
}

/**
 * The 1-based line of a dotted spec location ("components.securitySchemes.apiKey", "servers[0]"):
 * each key searched after the previous one's line; array indexes point at their array's key.
 */
export function keyPathLine(specText: string, where: string): number | undefined {
  if (!/^[A-Za-z_$][\w$-]*(\.[^.\s]+|\[\d+\])*$/.test(where)) return undefined;
  const keys = where
    .replace(/\[\d+\]/g, '')
    .split('.')
    .filter((k) => k !== '');
  if (keys.length < 2 && !where.includes('[')) return undefined;
  const lines = specText.split(/\r?\n/);
  let at = -1;
  for (const key of keys) {
    const keyRe = new RegExp(`^\\s*["']?${escapeRegExp(key)}["']?\\s*:`);
    const next = lines.findIndex((l, i) => i > at && keyRe.test(l));
    if (next < 0) return undefined;
    at = next;
  }
  return at < 0 ? undefined : at + 1;
}

function locationOf(
  f: Finding,
  result: ScanResult,
  opts: RenderOptions,
  cwd: string,
): Record<string, unknown> {
  const logical = [{ fullyQualifiedName: f.where, kind: 'resource' }];
  if (f.location !== undefined)
    return {
      physicalLocation: {
        artifactLocation: { uri: artifactUri(f.location.file, cwd) },
        region: { startLine: Math.max(1, f.location.line ?? 1) },
      },
      logicalLocations: logical,
      properties: { where: f.where },
    };
  const line =
    opts.specText === undefined
      ? undefined
      : (operationLine(opts.specText, f.where) ?? keyPathLine(opts.specText, f.where));
  return {
    physicalLocation: {
      artifactLocation: { uri: artifactUri(result.spec === '' ? 'openapi.yaml' : result.spec, cwd) },
      region: { startLine: line ?? 1 },
    },
    logicalLocations: logical,
    properties: { where: f.where },
  };
}

const isDate = (s: string): boolean => s !== '' && !Number.isNaN(Date.parse(s));

export function render(result: ScanResult, opts: RenderOptions): string {
  const cwd = opts.cwd ?? process.cwd();
  const rules = rulesOf(result.findings, opts.rules);
  const index = new Map(rules.map((r, i) => [r.id, i]));
  const results = sortFindings(result.findings).map((f) => ({
    ruleId: f.rule.id,
    ruleIndex: index.get(f.rule.id) ?? 0,
    level: levelOf(f.severity),
    message: { text: `${f.where}: ${f.message}` },
    locations: [locationOf(f, result, opts, cwd)],
    partialFingerprints: { 'portcullisFindingId/v1': f.id },
    properties: {
      severity: f.severity,
      category: categoryTitle(f.rule.category),
      where: f.where,
      evidence: f.evidence.map((e) => `${exchangeLine(e)} (${e.note})`),
    },
  }));
  const lint = isLint(result);
  const sarif = {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'Portcullis',
            version: opts.version,
            semanticVersion: opts.version,
            informationUri: INFORMATION_URI,
            rules: rules.map(ruleDescriptor),
          },
        },
        automationDetails: { id: `portcullis/${lint ? 'lint' : 'scan'}/` },
        invocations: [
          {
            executionSuccessful: true,
            ...(isDate(result.startedAt) ? { startTimeUtc: result.startedAt } : {}),
            ...(isDate(result.finishedAt) ? { endTimeUtc: result.finishedAt } : {}),
            toolExecutionNotifications: result.notes.map((n) => ({ level: 'note', message: { text: n } })),
          },
        ],
        results,
        properties: {
          ...(lint
            ? {}
            : { target: result.target, requestsSent: result.requestsSent, budget: result.budget }),
          checks: [...result.checks],
        },
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}

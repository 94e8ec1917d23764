import { VERSION } from '../../version.js';
import type { ReportFormat, ScanResult } from '../types.js';
import type { RenderOptions } from './common.js';
import { render as html } from './html.js';
import { render as json } from './json.js';
import { render as junit } from './junit.js';
import { render as sarif } from './sarif.js';
import { render as text } from './text.js';

export type { RenderOptions } from './common.js';

const RENDERERS: Record<ReportFormat, (result: ScanResult, opts: RenderOptions) => string> = {
  text,
  json,
  sarif,
  junit,
  html,
};

export const REPORT_FORMATS = Object.keys(RENDERERS) as ReportFormat[];

export function isReportFormat(value: string): value is ReportFormat {
  return Object.hasOwn(RENDERERS, value);
}

/** The report of a scan or lint result in one format (the tool's version filled in by default). */
export function renderReport(
  format: ReportFormat,
  result: ScanResult,
  opts: Partial<RenderOptions> = {},
): string {
  return RENDERERS[format](result, { ...opts, version: opts.version ?? VERSION });
}

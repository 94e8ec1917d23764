import { mkdtempSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ScanResult } from '../src/scanner/types.js';
import type { UpstreamCall } from './helpers.js';

/** Small pieces the scanner-check tests share: a spec file on disk, JSON answers, what was found. */

export function writeSpec(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-scan-'));
  const file = join(dir, 'openapi.yaml');
  writeFileSync(file, yaml);
  return file;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** The JSON body of a recorded call (undefined when it is not JSON). */
export function bodyOf(call: UpstreamCall): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(call.body.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** "/pets/3?x=1" → { path: "/pets/3", query: URLSearchParams }. */
export function urlOf(call: UpstreamCall): { path: string; query: URLSearchParams } {
  const u = new URL(call.url, 'http://x');
  return { path: u.pathname, query: u.searchParams };
}

/** Rule ids found, sorted and unique. */
export function ruleIds(result: ScanResult): string[] {
  return [...new Set(result.findings.map((f) => f.rule.id))].sort();
}

import { loadSpec } from '../openapi/load.js';
import { LoopbackCanary } from './canary.js';
import { BudgetedHttp } from './http.js';
import { CHECKS } from './index.js';
import { planOperations } from './plan.js';
import {
  type Check,
  type Finding,
  type Identity,
  type ScanContext,
  type ScanResult,
  SEVERITIES,
} from './types.js';

export interface ScanOptions {
  readonly specFile: string;
  readonly target: string;
  readonly auth?: Identity;
  readonly authSecond?: Identity;
  /** Check ids to run (default: all). */
  readonly checks?: readonly string[];
  /** Most requests sent in all (default 2000). */
  readonly budget?: number;
  /** Most requests per second (default 100; 0: no limit). */
  readonly rate?: number;
  /** Requests in flight at once (default 4). */
  readonly concurrency?: number;
  readonly dryRun?: boolean;
  /** Per-request timeout (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Accept any TLS certificate of the target. */
  readonly insecure?: boolean;
  /** Run the SSRF canary (default true). */
  readonly canary?: boolean;
  /** Stop sending after this long (default 15 minutes): a tarpit target cannot hold a CI job. */
  readonly maxTimeMs?: number;
  readonly onProgress?: (done: number, total: number, step: string) => void;
}

export const DEFAULT_MAX_TIME_MS = 15 * 60 * 1000;

export const DEFAULT_BUDGET = 2000;
export const DEFAULT_RATE = 100;

/** Thrown for options a scan cannot start with (the CLI exits 2). */
export class ScanUsageError extends Error {
  override name = 'ScanUsageError';
}

export function selectChecks(ids: readonly string[] | undefined, all: readonly Check[] = CHECKS): Check[] {
  if (ids === undefined || ids.length === 0) return [...all];
  const known = new Map(all.map((c) => [c.id, c]));
  const out: Check[] = [];
  for (const id of ids) {
    const c = known.get(id) ?? all.find((x) => x.category === id.toUpperCase());
    if (c === undefined)
      throw new ScanUsageError(`unknown check "${id}" (known: ${all.map((x) => x.id).join(', ')})`);
    if (!out.includes(c)) out.push(c);
  }
  return out;
}

const rank = (s: Finding['severity']): number => SEVERITIES.indexOf(s);

/**
 * Reads the spec, plans its operations, and runs the selected checks one after another against the
 * target, within the budget and rate. A check that throws becomes a note; the scan goes on.
 */
export async function runScan(options: ScanOptions): Promise<ScanResult> {
  let target: URL;
  try {
    target = new URL(options.target);
  } catch {
    throw new ScanUsageError(`--target "${options.target}" is not a URL`);
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:')
    throw new ScanUsageError('--target must be an http:// or https:// URL');
  const checks = selectChecks(options.checks);
  const spec = await loadSpec(options.specFile);
  const operations = planOperations(spec);
  const budget = options.budget ?? DEFAULT_BUDGET;
  const secrets = [options.auth?.value, options.authSecond?.value].filter(
    (v): v is string => v !== undefined,
  );
  const http = new BudgetedHttp({
    target,
    budget,
    rate: options.rate ?? DEFAULT_RATE,
    concurrency: options.concurrency ?? 4,
    timeoutMs: options.timeoutMs ?? 5000,
    dryRun: options.dryRun === true,
    insecure: options.insecure === true,
    secrets,
    deadline: performance.now() + (options.maxTimeMs ?? DEFAULT_MAX_TIME_MS),
  });
  const redact = http.redactor;
  const canary = options.canary === false || options.dryRun ? undefined : await LoopbackCanary.start();
  const findings = new Map<string, Finding>();
  const notes: string[] = [];
  const startedAt = new Date().toISOString();
  let done = 0;
  try {
    for (const check of checks) {
      options.onProgress?.(done, checks.length, check.id);
      const ctx: ScanContext = {
        target,
        spec,
        operations,
        auth: options.auth,
        authSecond: options.authSecond,
        http,
        canary,
        report(raw) {
          // Messages may quote an answer: they pass the same redaction as the evidence.
          const f = { ...raw, where: redact.text(raw.where), message: redact.text(raw.message) };
          const id = raw.id === undefined ? `${f.rule.id}:${f.where}` : redact.text(raw.id);
          const known = findings.get(id);
          // The same problem at the same place once; keep the more severe instance.
          if (known === undefined || rank(f.severity) > rank(known.severity)) findings.set(id, { ...f, id });
        },
        note(text) {
          notes.push(redact.text(`${check.id}: ${text}`));
        },
        progress(s) {
          options.onProgress?.(done, checks.length, `${check.id} ${s}`);
        },
      };
      try {
        await check.run(ctx);
      } catch (err) {
        notes.push(`${check.id}: stopped early (${(err as Error).message})`);
      }
      done++;
      if (http.remaining <= 0) notes.push(`budget of ${budget} requests spent during ${check.id}`);
      if (http.expired) {
        notes.push(`--max-time reached during ${check.id}: later checks were not run`);
        break;
      }
    }
    options.onProgress?.(done, checks.length, 'done');
  } finally {
    await http.close();
    await canary?.close();
  }
  if (!options.dryRun && http.sent > 0 && http.answered === 0)
    notes.unshift(
      `the target answered none of the ${http.sent} requests sent: is it running at ${target.href}?`,
    );
  if (!options.auth)
    notes.push('no --auth: checks that need an identity (BOLA, JWT, function level) were limited');
  if (!options.authSecond)
    notes.push('no --auth-second: BOLA and function-level checks need a second identity');
  notes.push(
    'API6 (sensitive business flows) and API10 (unsafe consumption of APIs) are not tested: see docs/scanner.md',
  );
  const sorted = [...findings.values()].sort(
    (a, b) => rank(b.severity) - rank(a.severity) || a.id.localeCompare(b.id),
  );
  return {
    target: target.href,
    spec: options.specFile,
    startedAt,
    finishedAt: new Date().toISOString(),
    requestsSent: http.sent,
    requestsAnswered: http.answered,
    budget,
    checks: checks.map((c) => c.id),
    findings: sorted,
    ...(options.dryRun ? { planned: http.planned } : {}),
    notes: [...new Set(notes)],
  };
}

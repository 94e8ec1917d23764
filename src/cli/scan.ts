import { constants } from 'node:fs';
import { access, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { printable } from '../core/printable.js';
import { categoryRank } from '../scanner/reporters/common.js';
import { isReportFormat, REPORT_FORMATS, renderReport } from '../scanner/reporters/index.js';
import {
  type Finding,
  type Identity,
  type ReportFormat,
  type Rule,
  type ScanResult,
  SEVERITIES,
  type Severity,
} from '../scanner/types.js';

/**
 * `portcullis scan`: attacks a running API the way the OWASP API Security Top 10 describes, from
 * its OpenAPI description, and reports what it found. Exit codes: 0 nothing at or above
 * --fail-on, 1 findings at or above it, 2 bad usage or a spec that does not load.
 */

export const EXIT_OK = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_USAGE = 2;

export const FAIL_ON = [...SEVERITIES, 'none'] as const;
export type FailOn = (typeof FAIL_ON)[number];

export interface ScanIo {
  readonly out: NodeJS.WritableStream;
  readonly err: NodeJS.WriteStream | NodeJS.WritableStream;
}

const defaultIo = (): ScanIo => ({ out: process.stdout, err: process.stderr });

/** Thrown for a bad option value; the message never repeats a credential. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** RFC 9110 token: the characters a header name may have. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * "Authorization: Bearer abc" → { header: "authorization", value: "Bearer abc" }. A bad value is
 * refused without echoing it: it is most likely a credential.
 */
export function parseIdentity(raw: string, option: string, name: string): Identity {
  const colon = raw.indexOf(':');
  const header = colon < 0 ? '' : raw.slice(0, colon).trim();
  const value = colon < 0 ? '' : raw.slice(colon + 1).trim();
  const example = `${option} "Authorization: Bearer <token>" or ${option} "X-Api-Key: <key>"`;
  if (header === '' || !HEADER_NAME.test(header))
    throw new UsageError(`${option} must be "Header-Name: value" with a valid header name (e.g. ${example})`);
  if (value === '') throw new UsageError(`${option} has no value after "${header}:" (e.g. ${example})`);
  // A line break or NUL would smuggle another header into every request.
  if (Array.from(value).some((ch) => ch === '\r' || ch === '\n' || ch === '\0'))
    throw new UsageError(`${option}: the value of "${header}" holds a line break or NUL character`);
  return { name, header: header.toLowerCase(), value };
}

/** An http:// or https:// URL, or a usage error. */
export function parseTarget(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--target "${raw}" is not a URL (e.g. --target http://127.0.0.1:8080)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`--target must be an http:// or https:// URL, not ${url.protocol}`);
  if (url.username !== '' || url.password !== '')
    throw new UsageError('--target must not carry credentials in the URL: use --auth "Header: value"');
  return url;
}

function positiveInt(raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
}

function nonNegative(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError('expected a number of at least 0 (0: no limit)');
  return n;
}

const rank = (s: Severity): number => SEVERITIES.indexOf(s);

/** Whether the findings make the run fail: any at or above the --fail-on severity. */
export function failing(findings: readonly Finding[], failOn: FailOn): boolean {
  if (failOn === 'none') return false;
  return findings.some((f) => rank(f.severity) >= rank(failOn));
}

export function formatOption(): Option {
  return new Option('-f, --format <format>', 'report format').choices(REPORT_FORMATS).default('text');
}

export function failOnOption(): Option {
  return new Option(
    '--fail-on <severity>',
    'exit 1 when a finding is at or above this severity ("none": never)',
  )
    .choices(FAIL_ON)
    .default('high');
}

/** Refuses an --out that cannot be written before a long scan runs, not after. */
export async function checkOut(out: string | undefined): Promise<void> {
  if (out === undefined) return;
  const dir = dirname(resolve(out));
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
    await access(dir, constants.W_OK);
  } catch {
    throw new UsageError(`--out ${out}: the directory ${dir} does not exist or cannot be written`);
  }
  const existing = await stat(out).catch(() => undefined);
  if (existing?.isDirectory() === true) throw new UsageError(`--out ${out} is a directory`);
}

/** Writes the report to --out (and says so on stderr) or to stdout. */
export async function emitReport(
  format: ReportFormat,
  result: ScanResult,
  rules: readonly Rule[],
  out: string | undefined,
  io: ScanIo,
  specText?: string,
): Promise<void> {
  const report = renderReport(format, result, { rules, ...(specText === undefined ? {} : { specText }) });
  if (out === undefined) {
    io.out.write(report);
    return;
  }
  await writeFile(out, report);
  io.err.write(`portcullis: ${format} report written to ${out} (${result.findings.length} finding(s))\n`);
}

/** `--list-rules`: every rule with its category and severity, as a table or as JSON. */
export function listRules(all: readonly Rule[], format: ReportFormat): string {
  // By category in OWASP order; inside one, in the order the checks declare them.
  const rules = [...all].sort((a, b) => categoryRank(a.category) - categoryRank(b.category));
  if (format === 'json')
    return `${JSON.stringify(
      rules.map((r) => ({ id: r.id, category: r.category, severity: r.severity, title: r.title })),
      null,
      2,
    )}\n`;
  const width = Math.max(...rules.map((r) => r.id.length), 4);
  const lines = [`${'rule'.padEnd(width)}  ${'category'.padEnd(9)}  ${'severity'.padEnd(8)}  title`];
  for (const r of rules)
    lines.push(`${r.id.padEnd(width)}  ${r.category.padEnd(9)}  ${r.severity.padEnd(8)}  ${r.title}`);
  return `${lines.join('\n')}\n`;
}

/** Progress on stderr: a redrawn bar on a terminal, one line per check otherwise (CI logs). */
export function progressReporter(err: ScanIo['err']): {
  onProgress(done: number, total: number, step: string): void;
  end(): void;
} {
  const tty = 'isTTY' in err && err.isTTY === true;
  let lastDone = -1;
  let lastDraw = 0;
  let drawn = false;
  return {
    onProgress(done, total, step) {
      if (!tty) {
        if (done !== lastDone && step !== 'done')
          err.write(
            `portcullis scan: [${Math.min(done + 1, total)}/${total}] ${printable(step.split(' ')[0] ?? '', true)}\n`,
          );
        lastDone = done;
        return;
      }
      const now = Date.now();
      if (now - lastDraw < 80 && done === lastDone) return;
      lastDraw = now;
      lastDone = done;
      const width = 24;
      const filled = total === 0 ? width : Math.round((done / total) * width);
      // A terminal of unknown size (0 columns) gets the classic 80.
      const columns =
        'columns' in err && typeof err.columns === 'number' && err.columns > 0 ? err.columns : 80;
      // Operation labels come from the spec: no control character reaches the terminal.
      const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${printable(step, true)}`;
      err.write(`\r\x1b[K${line.slice(0, Math.max(10, columns - 1))}`);
      drawn = true;
    },
    end() {
      if (drawn) err.write('\r\x1b[K');
    },
  };
}

interface ScanFlags {
  spec?: string;
  target?: string;
  auth?: string;
  authSecond?: string;
  checks?: string;
  format: ReportFormat;
  out?: string;
  failOn: FailOn;
  budget?: number;
  rate?: number;
  timeout?: number;
  maxTime?: number;
  insecure?: boolean;
  dryRun?: boolean;
  listRules?: boolean;
}

/** Errors that mean "the user must change the command or the spec": exit 2, one clear line. */
function isUsageError(err: unknown): err is Error {
  return (
    err instanceof Error &&
    ['UsageError', 'ScanUsageError', 'SpecError', 'LintError', 'ConfigError'].includes(err.name)
  );
}

export function usageFailure(command: string, err: unknown, io: ScanIo): boolean {
  if (!isUsageError(err)) return false;
  io.err.write(`portcullis ${command}: ${err.message}\n`);
  process.exitCode = EXIT_USAGE;
  return true;
}

async function scanAction(flags: ScanFlags, io: ScanIo): Promise<void> {
  // Loaded here only: `start` and other commands never pay for the scanner's modules.
  const { CHECKS } = await import('../scanner/index.js');
  if (flags.listRules === true) {
    io.out.write(
      listRules(
        CHECKS.flatMap((c) => c.rules),
        flags.format === 'json' ? 'json' : 'text',
      ),
    );
    return;
  }
  if (flags.spec === undefined)
    throw new UsageError('--spec FILE is required (the OpenAPI description of the API)');
  if (flags.target === undefined) throw new UsageError('--target URL is required (the base URL of the API)');
  const target = parseTarget(flags.target);
  await checkOut(flags.out);
  const auth = flags.auth === undefined ? undefined : parseIdentity(flags.auth, '--auth', 'main');
  const authSecond =
    flags.authSecond === undefined ? undefined : parseIdentity(flags.authSecond, '--auth-second', 'second');
  const checks = flags.checks
    ?.split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
  const { runScan, selectChecks } = await import('../scanner/runner.js');
  const selected = selectChecks(checks);
  const progress = progressReporter(io.err);
  let result: ScanResult;
  try {
    result = await runScan({
      specFile: flags.spec,
      target: target.href,
      ...(auth === undefined ? {} : { auth }),
      ...(authSecond === undefined ? {} : { authSecond }),
      ...(checks === undefined ? {} : { checks }),
      ...(flags.budget === undefined ? {} : { budget: flags.budget }),
      ...(flags.rate === undefined ? {} : { rate: flags.rate }),
      ...(flags.timeout === undefined ? {} : { timeoutMs: flags.timeout }),
      ...(flags.maxTime === undefined ? {} : { maxTimeMs: flags.maxTime * 1000 }),
      insecure: flags.insecure === true,
      dryRun: flags.dryRun === true,
      onProgress: progress.onProgress,
    });
  } finally {
    progress.end();
  }
  let specText: string | undefined;
  try {
    specText = await readFile(flags.spec, 'utf8');
  } catch {
    specText = undefined; // only SARIF line numbers need it
  }
  await emitReport(
    flags.format,
    result,
    selected.flatMap((c) => c.rules),
    flags.out,
    io,
    specText,
  );
  if (flags.dryRun === true) return; // nothing was tested: never a verdict
  if (result.requestsSent > 0 && result.requestsAnswered === 0) {
    // Nothing answered: a CI gate must not pass because the API never started.
    io.err.write(`portcullis scan: the target answered none of ${result.requestsSent} requests\n`);
    process.exitCode = EXIT_USAGE;
    return;
  }
  if (failing(result.findings, flags.failOn)) process.exitCode = EXIT_FINDINGS;
}

export function registerScanCommand(program: Command, io: ScanIo = defaultIo()): Command {
  return program
    .command('scan')
    .description(
      'test a running API against the OWASP API Security Top 10, from its OpenAPI description. ' +
        'Scan only systems you own or are authorized to test: the scan sends attack payloads.',
    )
    .option('-s, --spec <file>', 'OpenAPI 3.0/3.1 or Swagger 2.0 description of the API (JSON or YAML)')
    .option('-t, --target <url>', 'base URL of the API to test (http:// or https://; a system you own)')
    .option('--auth <header>', 'main identity, as "Header-Name: value" (e.g. "Authorization: Bearer …")')
    .option(
      '--auth-second <header>',
      'a second identity, as "Header-Name: value": another user (BOLA), or a lower-privileged one (function level)',
    )
    .option(
      '--checks <ids>',
      'comma-separated check ids or categories to run (default: all; see --list-rules)',
    )
    .addOption(formatOption())
    .option('-o, --out <file>', 'write the report to this file instead of stdout')
    .addOption(failOnOption())
    .option('--budget <n>', 'most requests the whole scan may send (default 2000)', positiveInt)
    .option('--rate <r>', 'most requests per second (default 100; 0: no limit)', nonNegative)
    .option('--timeout <ms>', 'per-request timeout in milliseconds (default 5000)', positiveInt)
    .option('--max-time <s>', 'stop sending after this many seconds (default 900)', positiveInt)
    .option('--insecure', 'accept any TLS certificate of the target (self-signed test systems)')
    .option('--dry-run', 'send nothing: list the requests the checks would send')
    .option('--list-rules', 'list every rule (id, category, severity, title) and exit')
    .addHelpText(
      'after',
      `
Exit codes: 0 no finding at or above --fail-on (and always for --dry-run), 1 findings at or
above it, 2 bad usage, a spec that does not load, or a target that answered nothing.

Only scan APIs you own or have written permission to test. Start with --dry-run to see what
would be sent; --budget and --rate bound the load. Documentation: docs/scanner.md`,
    )
    .action(async (flags: ScanFlags) => {
      try {
        if (!isReportFormat(flags.format)) throw new UsageError(`unknown --format ${flags.format}`);
        await scanAction(flags, io);
      } catch (err) {
        if (!usageFailure('scan', err, io)) throw err;
      }
    });
}

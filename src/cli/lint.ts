import type { Command } from 'commander';
import type { ReportFormat, Rule, ScanResult } from '../scanner/types.js';
import {
  checkOut,
  EXIT_FINDINGS,
  emitReport,
  type FailOn,
  failing,
  failOnOption,
  formatOption,
  listRules,
  type ScanIo,
  UsageError,
  usageFailure,
} from './scan.js';

/**
 * `portcullis lint`: a static audit of an OpenAPI description and a Portcullis config, nothing
 * sent anywhere. Same formats and exit codes as `portcullis scan`.
 */

interface LintFlags {
  spec?: string;
  config?: string;
  format: ReportFormat;
  out?: string;
  failOn: FailOn;
  listRules?: boolean;
}

async function lintAction(flags: LintFlags, io: ScanIo): Promise<void> {
  const { runLint, LINT_RULES, SPEC_RULE_LIST, CONFIG_RULE_LIST } = await import('../scanner/lint/index.js');
  if (flags.listRules === true) {
    io.out.write(listRules(LINT_RULES, flags.format === 'json' ? 'json' : 'text'));
    return;
  }
  if (flags.spec === undefined && flags.config === undefined)
    throw new UsageError('give --spec FILE, --config FILE, or both');
  await checkOut(flags.out);
  const startedAt = new Date().toISOString();
  const { findings, notes } = await runLint({
    ...(flags.spec === undefined ? {} : { spec: flags.spec }),
    ...(flags.config === undefined ? {} : { config: flags.config }),
  });
  const rules: Rule[] = [
    ...(flags.spec === undefined ? [] : SPEC_RULE_LIST),
    ...(flags.config === undefined ? [] : CONFIG_RULE_LIST),
  ];
  // The reporters read a ScanResult: a lint is one with no target and no requests.
  const result: ScanResult = {
    target: '',
    spec: flags.spec ?? flags.config ?? '',
    startedAt,
    finishedAt: new Date().toISOString(),
    requestsSent: 0,
    budget: 0,
    checks: [
      ...(flags.spec === undefined ? [] : ['lint-spec']),
      ...(flags.config === undefined ? [] : ['lint-config']),
    ],
    findings,
    notes,
  };
  await emitReport(flags.format, result, rules, flags.out, io);
  if (failing(findings, flags.failOn)) process.exitCode = EXIT_FINDINGS;
}

export function registerLintCommand(
  program: Command,
  io: ScanIo = { out: process.stdout, err: process.stderr },
): Command {
  return program
    .command('lint')
    .description('audit an OpenAPI description and a Portcullis config for security gaps (sends nothing)')
    .option('-s, --spec <file>', 'OpenAPI 3.0/3.1 or Swagger 2.0 description (JSON or YAML)')
    .option('-c, --config <file>', 'Portcullis config (portcullis.yaml)')
    .addOption(formatOption())
    .option('-o, --out <file>', 'write the report to this file instead of stdout')
    .addOption(failOnOption())
    .option('--list-rules', 'list every lint rule (id, category, severity, title) and exit')
    .addHelpText(
      'after',
      `
Exit codes: 0 no finding at or above --fail-on, 1 findings at or above it, 2 bad usage, or a spec
or config that does not load. Documentation: docs/scanner.md`,
    )
    .action(async (flags: LintFlags) => {
      try {
        await lintAction(flags, io);
      } catch (err) {
        if (!usageFailure('lint', err, io)) throw err;
      }
    });
}

#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/errors.js';
import { VERSION } from '../version.js';
import { registerAuditCommand } from './audit.js';
import { checkCommand } from './check.js';
import { registerConfigCommand } from './config.js';
import { registerKeysCommand } from './keys.js';
import { registerLintCommand } from './lint.js';
import { registerPolicyCommand } from './policy.js';
import { registerScanCommand } from './scan.js';
import { startGateway } from './start.js';
import { registerVersionsCommand } from './versions.js';

/** Exit codes: 0 ok, 1 runtime failure, 2 bad config or bad usage. */
const EXIT_CONFIG = 2;

function defaultConfig(): string {
  return existsSync('portcullis.yaml') ? 'portcullis.yaml' : 'portcullis.yml';
}

function fail(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`portcullis: invalid config\n${err.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const e = err as NodeJS.ErrnoException;
  const hint =
    e.code === 'EADDRINUSE'
      ? ' (the port is taken; change listeners[].port)'
      : e.code === 'EACCES'
        ? ' (no permission for this port)'
        : '';
  // A message, never a stack trace: the stack goes to the log at debug level only.
  process.stderr.write(`portcullis: ${e.code ? `${e.code}: ` : ''}${e.message}${hint}\n`);
  process.exit(1);
}

const program = new Command()
  .name('portcullis')
  .description('Portcullis: an API security gateway.')
  .version(VERSION, '-v, --version')
  .showHelpAfterError()
  .exitOverride();

program
  .command('start')
  .description('start the gateway')
  .option('-c, --config <file>', 'config file (default: ./portcullis.yaml)')
  .action(async (opts: { config?: string }) => {
    const file = opts.config ?? defaultConfig();
    const { listeners } = await startGateway(file);
    for (const l of listeners)
      process.stderr.write(`portcullis ${VERSION}: listener ${l.name} on ${l.url}\n`);
  });

program
  .command('check')
  .description('validate a config and print every route with its resolved chain of stages')
  .option('-c, --config <file>', 'config file (default: ./portcullis.yaml)')
  .action(async (opts: { config?: string }) => {
    await checkCommand(opts.config ?? defaultConfig());
  });

program
  .command('routes')
  .description('list every operation each route serves, with its version, authentication, limits and stages')
  .option('-c, --config <file>', 'config file (default: ./portcullis.yaml)')
  .option('--json', 'print JSON (the inventory the admin API serves)')
  .action(async (opts: { config?: string; json?: boolean }) => {
    const { routesCommand } = await import('./routes.js');
    await routesCommand(opts.config ?? defaultConfig(), opts.json === true);
  });

program
  .command('init')
  .description('write a starting portcullis.yaml from an OpenAPI description')
  .requiredOption('--from-openapi <spec>', 'OpenAPI 3.0/3.1 or Swagger 2.0 description (JSON or YAML)')
  .requiredOption('--upstream <url>', 'base URL of the API the gateway stands in front of')
  .option('-o, --out <file>', 'where to write the config', 'portcullis.yaml')
  .option('--force', 'overwrite an existing file')
  .action(async (opts: { fromOpenapi: string; upstream: string; out: string; force?: boolean }) => {
    const { initCommand } = await import('./init.js');
    await initCommand({
      spec: opts.fromOpenapi,
      upstream: opts.upstream,
      out: opts.out,
      force: opts.force === true,
    });
  });

program
  .command('certs')
  .description('certificate helpers')
  .command('dev')
  .description(
    'write a development CA, a localhost server certificate and mTLS client certificates (no network)',
  )
  .option('-o, --out <dir>', 'output directory', 'certs')
  .action(async (opts: { out: string }) => {
    // Loaded only here: the X.509 library stays out of `start`.
    const { certsDevCommand } = await import('./certs.js');
    await certsDevCommand(opts.out);
  });

registerKeysCommand(program, defaultConfig);
registerPolicyCommand(program);
registerAuditCommand(program, defaultConfig);
registerConfigCommand(program, defaultConfig);
registerVersionsCommand(program, defaultConfig);
registerScanCommand(program);
registerLintCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode === 0 ? 0 : EXIT_CONFIG);
  }
  fail(err);
}

import { createWriteStream, existsSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfigFile } from '../config/load.js';
import type { AuditQuery } from '../observability/hub.js';
import { createDefaultRegistry } from '../plugins/index.js';

/**
 * `portcullis audit verify|export`: the audit trail of the config's `observability.audit.path`
 * (the SQLite file the gateways append to). verify walks the hash chain (exit 0 intact, 1 broken);
 * export writes the events as JSON lines, oldest first.
 */

export interface AuditIo {
  readonly out: NodeJS.WritableStream;
  readonly err: NodeJS.WritableStream;
}

/** An ISO 8601 date/time option → epoch ms. */
export function parseIsoOption(name: string, text: string): number {
  const t = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)
    ? Date.parse(text)
    : Number.NaN;
  if (Number.isNaN(t))
    throw new Error(`${name}: "${text}" is not an ISO date (2030-01-31, 2030-01-31T12:00:00Z)`);
  return t;
}

async function auditPath(file: string): Promise<string> {
  const loaded = await loadConfigFile(file, { registry: createDefaultRegistry() });
  return loaded.config.observability.audit.path;
}

async function openStore(path: string) {
  const { AuditStore } = await import('../observability/audit-store.js');
  // Retention is the gateway's job: the CLI never deletes (retentionDays is unused here).
  return new AuditStore(path, { retentionDays: 1 });
}

/** Adds `audit` and its subcommands to the program. */
export function registerAuditCommand(
  program: Command,
  defaultConfig: () => string,
  io: AuditIo = { out: process.stdout, err: process.stderr },
): Command {
  const audit = program
    .command('audit')
    .description('verify and export the audit trail (observability.audit.path)');
  const configOption = ['-c, --config <file>', 'config file (default: ./portcullis.yaml)'] as const;

  audit
    .command('verify')
    .description('walk the hash chain of the audit trail; exit 1 if a row was changed, removed or moved')
    .option('--json', 'print JSON ({ok, checked, brokenAt?, reason?})')
    .option(...configOption)
    .action(async (opts: { config?: string; json?: boolean }) => {
      const path = await auditPath(opts.config ?? defaultConfig());
      if (!existsSync(path)) {
        if (opts.json) io.out.write(`${JSON.stringify({ ok: true, checked: 0 })}\n`);
        else io.out.write(`audit trail ${path}: no file (no event recorded yet)\n`);
        return;
      }
      const store = await openStore(path);
      try {
        const r = store.verify();
        if (opts.json) io.out.write(`${JSON.stringify(r)}\n`);
        else if (r.ok) io.out.write(`audit trail ${path}: intact (${r.checked} events checked)\n`);
        else
          io.out.write(
            `audit trail ${path}: BROKEN at seq ${r.brokenAt}: ${r.reason} (${r.checked} events checked)\n`,
          );
        if (!r.ok) process.exitCode = 1;
      } finally {
        store.close();
      }
    });

  audit
    .command('export')
    .description('write the audit events as JSON lines, oldest first')
    .option('--since <iso>', 'only events at or after this date/time (ISO 8601)')
    .option('--until <iso>', 'only events at or before this date/time (ISO 8601)')
    .option('--type <type>', 'only events of this type (auth.failure, authz.deny, request.blocked…)')
    .option('--actor <actor>', 'only events of this actor (principal, admin token name, key id)')
    .option('--ip <ip>', 'only events from this client address')
    .option('--route <route>', 'only events of this route id')
    .option('-o, --out <file>', 'write to this file (owner-only) instead of stdout')
    .option(...configOption)
    .action(
      async (opts: {
        config?: string;
        since?: string;
        until?: string;
        type?: string;
        actor?: string;
        ip?: string;
        route?: string;
        out?: string;
      }) => {
        const q: AuditQuery = {
          ...(opts.since === undefined ? {} : { since: parseIsoOption('--since', opts.since) }),
          ...(opts.until === undefined ? {} : { until: parseIsoOption('--until', opts.until) }),
          ...(opts.type === undefined ? {} : { type: opts.type }),
          ...(opts.actor === undefined ? {} : { actor: opts.actor }),
          ...(opts.ip === undefined ? {} : { ip: opts.ip }),
          ...(opts.route === undefined ? {} : { route: opts.route }),
        };
        const path = await auditPath(opts.config ?? defaultConfig());
        const file = opts.out === undefined ? undefined : createWriteStream(opts.out, { mode: 0o600 });
        const written =
          file === undefined
            ? Promise.resolve()
            : new Promise<void>((resolve, reject) => {
                file.on('error', reject);
                file.on('finish', () => resolve());
              });
        const out: NodeJS.WritableStream = file ?? io.out;
        let n = 0;
        try {
          if (existsSync(path)) {
            const store = await openStore(path);
            try {
              n = store.exportJsonl(q, (line) => {
                out.write(line);
              });
            } finally {
              store.close();
            }
          }
        } finally {
          file?.end();
        }
        await written;
        io.err.write(`${n} audit events exported${opts.out === undefined ? '' : ` to ${opts.out}`}\n`);
      },
    );

  return audit;
}

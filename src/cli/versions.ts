import type { Command } from 'commander';
import { loadConfigFile } from '../config/load.js';
import { printable } from '../core/printable.js';
import { createDefaultRegistry } from '../plugins/index.js';
import { versionKey } from '../versioning/catalog.js';
import type { VersioningConfig } from '../versioning/schema.js';
import { readUsage, type UsageRow } from '../versioning/usage.js';

/**
 * `portcullis versions report`: who still calls which API version, from the usage file the
 * gateways write (versioning.usage.path). Deprecated and retired versions come first: they are
 * the ones whose callers must be told to move.
 */

export interface VersionsIo {
  readonly out: NodeJS.WritableStream;
}

export interface VersionReport {
  readonly name: string;
  /** "unlisted": counted earlier but no longer declared in the config. */
  readonly status: 'active' | 'deprecated' | 'retired' | 'unlisted';
  readonly deprecatedAt?: string;
  readonly sunset?: string;
  readonly requests: number;
  readonly consumers: readonly Omit<UsageRow, 'version'>[];
}

const ORDER = { retired: 0, deprecated: 1, unlisted: 2, active: 3 } as const;

/** Usage rows grouped per declared version (plus versions no longer declared), most urgent first. */
export function buildReport(versioning: VersioningConfig, rows: readonly UsageRow[]): VersionReport[] {
  const byKey = new Map<string, UsageRow[]>();
  for (const r of rows) {
    const k = versionKey(r.version);
    const list = byKey.get(k) ?? [];
    list.push(r);
    byKey.set(k, list);
  }
  const out: VersionReport[] = [];
  const listed = (name: string, status: VersionReport['status'], extra: Partial<VersionReport>) => {
    const used = byKey.get(versionKey(name)) ?? [];
    byKey.delete(versionKey(name));
    // The same consumer may appear under "v1" and "1" if the config renamed the version: add up.
    const perConsumer = new Map<string, Omit<UsageRow, 'version'>>();
    for (const r of used) {
      const seen = perConsumer.get(r.consumer);
      perConsumer.set(
        r.consumer,
        seen === undefined
          ? { consumer: r.consumer, requests: r.requests, firstSeen: r.firstSeen, lastSeen: r.lastSeen }
          : {
              consumer: r.consumer,
              requests: seen.requests + r.requests,
              firstSeen: Math.min(seen.firstSeen, r.firstSeen),
              lastSeen: Math.max(seen.lastSeen, r.lastSeen),
            },
      );
    }
    const consumers = [...perConsumer.values()].sort(
      (a, b) => b.requests - a.requests || a.consumer.localeCompare(b.consumer),
    );
    out.push({
      name,
      status,
      ...extra,
      requests: consumers.reduce((n, c) => n + c.requests, 0),
      consumers,
    });
  };
  for (const v of versioning.versions) {
    listed(v.name, v.status, {
      ...(v.deprecatedAt === undefined ? {} : { deprecatedAt: v.deprecatedAt }),
      ...(v.sunset === undefined ? {} : { sunset: v.sunset }),
    });
  }
  for (const rows of [...byKey.values()]) listed((rows[0] as UsageRow).version, 'unlisted', {});
  return out.sort((a, b) => ORDER[a.status] - ORDER[b.status]);
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function renderReport(report: readonly VersionReport[]): string {
  if (report.length === 0)
    return 'No API versions are declared (versioning.versions) and none were counted.\n';
  const lines: string[] = [];
  for (const v of report) {
    const dates = [
      v.deprecatedAt === undefined ? '' : `deprecated ${v.deprecatedAt}`,
      v.sunset === undefined ? '' : `sunset ${v.sunset}`,
    ]
      .filter((s) => s !== '')
      .join(', ');
    lines.push(
      `${v.name}  ${v.status}${dates === '' ? '' : ` (${dates})`}  ${v.requests} requests from ${v.consumers.length} consumer${v.consumers.length === 1 ? '' : 's'}`,
    );
    for (const c of v.consumers)
      lines.push(
        `  ${printable(c.consumer, true).padEnd(32)} ${String(c.requests).padStart(10)}  last ${iso(c.lastSeen)}`,
      );
  }
  return `${lines.join('\n')}\n`;
}

export function registerVersionsCommand(
  program: Command,
  defaultConfig: () => string,
  io: VersionsIo = { out: process.stdout },
): Command {
  const versions = program.command('versions').description('API versions and who still calls them');
  versions
    .command('report')
    .description('requests per API version and consumer (deprecated and retired versions first)')
    .option('-c, --config <file>', 'config file (default: ./portcullis.yaml)')
    .option('--usage <file>', 'usage file (default: versioning.usage.path of the config)')
    .option('--json', 'print JSON')
    .action(async (opts: { config?: string; usage?: string; json?: boolean }) => {
      const loaded = await loadConfigFile(opts.config ?? defaultConfig(), {
        registry: createDefaultRegistry(),
      });
      const versioning = loaded.config.versioning;
      const report = buildReport(versioning, readUsage(opts.usage ?? versioning.usage.path));
      io.out.write(opts.json ? `${JSON.stringify({ versions: report }, null, 2)}\n` : renderReport(report));
    });
  return versions;
}

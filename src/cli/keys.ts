import type { Command } from 'commander';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/load.js';
import { createLogger } from '../observability/logger.js';
import { createDefaultRegistry } from '../plugins/index.js';
import { openStores } from '../stores/index.js';
import { type KeyInfo, KeyService, keyStatus } from '../stores/key-service.js';

/**
 * `portcullis keys create|list|show|revoke|rotate`: API key management on the key store the
 * config's `stores` section names (the same SQLite file or Redis the gateway uses). The full
 * key is printed once, on create and rotate; a hash or the pepper is never printed.
 */

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** "30d", "12h", "90m", "45s", "500ms", "2w" → milliseconds; undefined if not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d{1,9})(ms|s|m|h|d|w)$/.exec(text.trim());
  if (m === null) return undefined;
  return Number(m[1]) * (UNITS[m[2] as string] as number);
}

/** --expires: an ISO 8601 date/time or a duration from now. */
export function parseExpiry(text: string, now: number): number {
  const duration = parseDuration(text);
  if (duration !== undefined) {
    if (duration === 0) throw new Error('--expires: the duration must be more than 0');
    return now + duration;
  }
  const t = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)
    ? Date.parse(text)
    : Number.NaN;
  if (Number.isNaN(t))
    throw new Error(
      `--expires: "${text}" is neither an ISO date (2030-01-31, 2030-01-31T12:00Z) nor a duration (30d, 12h)`,
    );
  if (t <= now) throw new Error(`--expires: ${new Date(t).toISOString()} is in the past`);
  return t;
}

function list(values: readonly string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function iso(t: number | null): string | null {
  return t === null ? null : new Date(t).toISOString();
}

function short(t: number | null): string {
  return t === null ? '-' : new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** What --json prints of a key: metadata only, dates as ISO strings. */
export function keyJson(k: KeyInfo, now: number = Date.now()): Record<string, unknown> {
  return {
    id: k.id,
    consumer: k.consumer,
    name: k.name,
    status: keyStatus(k, now),
    scopes: [...k.scopes],
    roles: [...k.roles],
    allowedCidrs: [...k.allowedCidrs],
    createdAt: iso(k.createdAt),
    expiresAt: iso(k.expiresAt),
    revokedAt: iso(k.revokedAt),
    lastUsedAt: iso(k.lastUsedAt),
    replacedBy: k.replacedBy,
  };
}

function details(k: KeyInfo, now: number): string {
  const rows: [string, string][] = [
    ['id', k.id],
    ['consumer', k.consumer],
    ['name', k.name || '-'],
    ['status', keyStatus(k, now)],
    ['scopes', k.scopes.join(' ') || '-'],
    ['roles', k.roles.join(',') || '-'],
    ['allowed CIDRs', k.allowedCidrs.join(', ') || 'any'],
    ['created', short(k.createdAt)],
    ['expires', k.expiresAt === null ? 'never' : short(k.expiresAt)],
    ['revoked', short(k.revokedAt)],
    ['last used', short(k.lastUsedAt)],
    ['replaced by', k.replacedBy ?? '-'],
  ];
  return `${rows.map(([label, value]) => `${label.padEnd(14)}${value}`).join('\n')}\n`;
}

function table(keys: readonly KeyInfo[], now: number): string {
  if (keys.length === 0) return 'no API keys\n';
  const head = ['ID', 'CONSUMER', 'NAME', 'STATUS', 'CREATED', 'EXPIRES', 'LAST USED'];
  const rows = keys.map((k) => [
    k.id,
    k.consumer,
    k.name || '-',
    keyStatus(k, now),
    short(k.createdAt),
    k.expiresAt === null ? 'never' : short(k.expiresAt),
    short(k.lastUsedAt),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return `${[line(head), ...rows.map(line)].join('\n')}\n`;
}

const ONCE_WARNING =
  'Store this key now: it is shown only this once and cannot be retrieved later (only a hash of it is kept).\n';

export interface KeysIo {
  readonly out: NodeJS.WritableStream;
  readonly err: NodeJS.WritableStream;
}

/** Loads the config as start and check do, opens its stores, runs `fn`, closes them. */
async function withService<T>(file: string, fn: (service: KeyService) => Promise<T>): Promise<T> {
  const loaded = await loadConfigFile(file, { registry: createDefaultRegistry() });
  const stores = openStores(loaded.config.stores, createLogger('warn', process.stderr));
  try {
    let pepper: Buffer;
    try {
      pepper = stores.keyPepper();
    } catch (err) {
      const path = loaded.config.stores.keys.pepper === '' ? 'stores.keys.pepperFile' : 'stores.keys.pepper';
      throw new ConfigError([{ file, path, reason: (err as Error).message }]);
    }
    return await fn(new KeyService(stores.keys(), pepper));
  } finally {
    await stores.close();
  }
}

interface CommonOptions {
  config?: string;
  json?: boolean;
}

/** Adds `keys` and its subcommands to the program. */
export function registerKeysCommand(
  program: Command,
  defaultConfig: () => string,
  io: KeysIo = { out: process.stdout, err: process.stderr },
): Command {
  const keys = program
    .command('keys')
    .description('manage API keys in the key store of the config (stores.keys)');
  const configOption = ['-c, --config <file>', 'config file (default: ./portcullis.yaml)'] as const;
  const print = (text: string): void => {
    io.out.write(text);
  };
  const json = (value: unknown): void => print(`${JSON.stringify(value, null, 2)}\n`);

  keys
    .command('create')
    .description('create a key; the key is printed once and never again')
    .requiredOption('--consumer <consumer>', 'who the key belongs to (becomes the principal subject)')
    .option('--name <name>', 'a label for the key (e.g. "ci" or "billing service")')
    .option('--scopes <scopes>', 'comma-separated scopes')
    .option('--roles <roles>', 'comma-separated roles')
    .option('--expires <when>', 'ISO date/time (2030-01-31T00:00Z) or duration from now (30d, 12h)')
    .option('--allow-cidr <cidr...>', 'only accept the key from these IPs/CIDRs')
    .option('--json', 'print JSON')
    .option(...configOption)
    .action(
      async (
        opts: CommonOptions & {
          consumer: string;
          name?: string;
          scopes?: string;
          roles?: string;
          expires?: string;
          allowCidr?: string[];
        },
      ) => {
        const expiresAt = opts.expires === undefined ? null : parseExpiry(opts.expires, Date.now());
        const created = await withService(opts.config ?? defaultConfig(), (s) =>
          s.create({
            consumer: opts.consumer,
            name: opts.name ?? '',
            scopes: list(opts.scopes === undefined ? [] : [opts.scopes]),
            roles: list(opts.roles === undefined ? [] : [opts.roles]),
            allowedCidrs: list(opts.allowCidr),
            expiresAt,
          }),
        );
        if (opts.json) json({ key: created.key, ...keyJson(created.info) });
        else {
          print(`API key ${created.info.id} created for consumer "${created.info.consumer}":\n\n`);
          print(`  ${created.key}\n\n`);
        }
        io.err.write(ONCE_WARNING);
      },
    );

  keys
    .command('list')
    .description('list keys (metadata only; never a key or a hash)')
    .option('--consumer <consumer>', 'only the keys of this consumer')
    .option('--json', 'print JSON')
    .option(...configOption)
    .action(async (opts: CommonOptions & { consumer?: string }) => {
      const found = await withService(opts.config ?? defaultConfig(), (s) =>
        s.list(opts.consumer === undefined ? {} : { consumer: opts.consumer }),
      );
      const now = Date.now();
      if (opts.json) json(found.map((k) => keyJson(k, now)));
      else print(table(found, now));
    });

  keys
    .command('show')
    .description("show one key's metadata")
    .argument('<id>', 'key id (the part after "pcl_")')
    .option('--json', 'print JSON')
    .option(...configOption)
    .action(async (id: string, opts: CommonOptions) => {
      const info = await withService(opts.config ?? defaultConfig(), (s) => s.show(id));
      if (info === undefined) throw new Error(`no API key with id ${id}`);
      if (opts.json) json(keyJson(info));
      else print(details(info, Date.now()));
    });

  keys
    .command('revoke')
    .description('revoke a key: every gateway node refuses it within a second')
    .argument('<id>', 'key id')
    .option('--json', 'print JSON')
    .option(...configOption)
    .action(async (id: string, opts: CommonOptions) => {
      const info = await withService(opts.config ?? defaultConfig(), (s) => s.revoke(id));
      if (opts.json) json(keyJson(info));
      else print(`API key ${info.id} (consumer "${info.consumer}") revoked.\n`);
    });

  keys
    .command('rotate')
    .description(
      'replace a key by a new one with the same metadata; the old one works until the overlap ends',
    )
    .argument('<id>', 'key id')
    .option('--overlap <duration>', 'how long the old key keeps working (e.g. 24h, 30m, 0s)', '24h')
    .option('--json', 'print JSON')
    .option(...configOption)
    .action(async (id: string, opts: CommonOptions & { overlap: string }) => {
      const overlap = parseDuration(opts.overlap);
      if (overlap === undefined)
        throw new Error(`--overlap: "${opts.overlap}" is not a duration (e.g. 24h, 30m, 0s)`);
      const rotated = await withService(opts.config ?? defaultConfig(), (s) => s.rotate(id, overlap));
      if (opts.json)
        json({ key: rotated.key, ...keyJson(rotated.info), previous: keyJson(rotated.previous) });
      else {
        print(
          `API key ${rotated.info.id} replaces ${rotated.previous.id} (consumer "${rotated.info.consumer}"):\n\n`,
        );
        print(`  ${rotated.key}\n\n`);
        print(
          `The old key ${rotated.previous.id} keeps working until ${short(rotated.previous.expiresAt)}.\n`,
        );
      }
      io.err.write(ONCE_WARNING);
    });

  return keys;
}

import { readFile, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { parse } from 'yaml';
import { compilePlan } from '../config/compile.js';
import { ConfigError } from '../config/errors.js';
import {
  DEFAULT_HISTORY_DIR,
  FileConfigHistory,
  type HistoryEntry,
  sha256Of,
  writeAtomic,
} from '../config/history.js';
import { loadConfigFile, loadConfigText } from '../config/load.js';
import { createLogger } from '../observability/logger.js';
import { createDefaultRegistry } from '../plugins/index.js';
import { loadTls } from '../server/tls.js';

/**
 * `portcullis config history|rollback`: the applied-config history of reload.history.dir (what
 * every gateway started with this config records), and a rollback that writes an entry back over
 * the config file — running gateways pick it up through their file watch, like any edit.
 */

export interface ConfigIo {
  readonly out: NodeJS.WritableStream;
  /** Notes (which history directory was assumed). */
  readonly err?: NodeJS.WritableStream;
}

export interface HistoryOptions {
  /** --history-dir: the history directory, when the config file cannot say (it does not parse). */
  readonly historyDir?: string | undefined;
}

/**
 * reload.history.dir of the config. Rollback is most needed when the file is broken: then the
 * setting is read from the raw YAML; if even that fails, the default is assumed (and said).
 */
async function historyDirOf(file: string, options: HistoryOptions, io: ConfigIo): Promise<string> {
  if (options.historyDir !== undefined) return options.historyDir;
  try {
    const loaded = await loadConfigFile(file, { registry: createDefaultRegistry() });
    return loaded.config.reload.history.dir;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
  }
  try {
    const raw: unknown = parse(await readFile(file, 'utf8'));
    const reload = (raw as { reload?: { history?: { dir?: unknown } } } | null)?.reload;
    const dir = reload?.history?.dir;
    if (typeof dir === 'string' && dir !== '' && !dir.includes('${')) return dir;
    if (reload === undefined || (reload as { history?: unknown }).history === undefined)
      return DEFAULT_HISTORY_DIR;
  } catch {
    // Unreadable or not YAML: said below.
  }
  io.err?.write(
    `portcullis: reload.history.dir cannot be read from ${file}; assuming ${DEFAULT_HISTORY_DIR} (pass --history-dir DIR if it is elsewhere)\n`,
  );
  return DEFAULT_HISTORY_DIR;
}

async function fileSha(file: string): Promise<string | undefined> {
  try {
    return sha256Of(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function refused(file: string, reason: string, hint?: string): ConfigError {
  return new ConfigError([{ file, reason, ...(hint === undefined ? {} : { hint }) }]);
}

/** Lists the history, oldest first; "current" marks the newest entry equal to the file now. */
export async function configHistoryCommand(
  file: string,
  json: boolean,
  io: ConfigIo = { out: process.stdout, err: process.stderr },
  options: HistoryOptions = {},
): Promise<void> {
  const history = FileConfigHistory.reader(await historyDirOf(file, options, io));
  const entries = await history.list();
  const sha = await fileSha(file);
  const current = entries.findLast((e) => e.sha256 === sha)?.seq;
  if (json) {
    io.out.write(
      `${JSON.stringify(
        {
          dir: history.location,
          entries: entries.map((e) => ({ ...e, current: e.seq === current })),
        },
        null,
        2,
      )}\n`,
    );
    return;
  }
  if (entries.length === 0) {
    io.out.write(`config history ${history.location}: empty (no gateway applied a config with it yet)\n`);
    return;
  }
  io.out.write(`config history ${history.location}\n`);
  io.out.write(`${'seq'.padStart(6)}  ${'applied at'.padEnd(24)}  ${'by'.padEnd(12)}  sha256\n`);
  const self = resolve(file);
  for (const e of entries) {
    const mark =
      e.corrupt !== undefined
        ? '  CORRUPT (recorded twice)'
        : e.seq === current
          ? `  <- current ${basename(file)}`
          : '';
    const from = e.source === undefined ? '  (admin API)' : e.source === self ? '' : `  from ${e.source}`;
    io.out.write(
      `${String(e.seq).padStart(6)}  ${new Date(e.appliedAt).toISOString().padEnd(24)}  ${e.by.padEnd(12)}  ${e.sha256.slice(0, 12)}${from}${mark}\n`,
    );
  }
}

/**
 * The entry a rollback without --to goes back to: the newest one whose text differs from the file,
 * among those applied from this file or through the admin API (a history directory shared by
 * configs of other files never hands one of theirs back unasked).
 */
function defaultTarget(
  entries: readonly HistoryEntry[],
  sha: string | undefined,
  file: string,
): HistoryEntry | undefined {
  const self = resolve(file);
  return entries.findLast(
    (e) => e.corrupt === undefined && e.sha256 !== sha && (e.source === undefined || e.source === self),
  );
}

/** Validates and compiles `text` exactly as `portcullis check` and `start` would (the plan is closed again). */
async function checkText(text: string, file: string): Promise<void> {
  const registry = createDefaultRegistry();
  const loaded = loadConfigText(text, file, { registry });
  const plan = await compilePlan(loaded, { registry, logger: createLogger('silent'), version: 1 });
  try {
    loaded.config.listeners.forEach((l, i) => {
      if (l.tls !== undefined) loadTls(l.tls, `listeners[${i}].tls`, loaded.file);
    });
  } finally {
    await plan.close();
  }
}

/**
 * Replaces the file whole (temp file + rename in the same directory), keeping its permissions. The
 * temp file has a random name and is created exclusively: a symlink planted there is not followed.
 */
async function writeOver(file: string, text: string): Promise<void> {
  const mode = await stat(file).then(
    (s) => s.mode & 0o777,
    () => 0o644,
  );
  await writeAtomic(file, text, mode);
}

/**
 * Writes history entry `to` (default: the newest entry that differs from the file) over the config
 * file, once it loads and compiles. Refused (ConfigError, exit 2) when the entry does not exist or
 * does not compile.
 */
export async function configRollbackCommand(
  file: string,
  to: number | undefined,
  io: ConfigIo = { out: process.stdout, err: process.stderr },
  options: HistoryOptions = {},
): Promise<void> {
  const history = FileConfigHistory.reader(await historyDirOf(file, options, io));
  const entries = await history.list();
  const sha = await fileSha(file);
  const entry = to === undefined ? defaultTarget(entries, sha, file) : entries.find((e) => e.seq === to);
  if (entry === undefined) {
    const range =
      entries.length === 0 ? 'the history is empty' : `entries ${entries[0]?.seq}..${entries.at(-1)?.seq}`;
    throw refused(
      file,
      to === undefined
        ? `nothing to roll back to: no history entry differs from the file (${range}, in ${history.location})`
        : `history entry ${to} does not exist (${range}, in ${history.location})`,
      'list the entries with `portcullis config history`',
    );
  }
  if (entry.corrupt !== undefined)
    throw refused(
      file,
      `history entry ${entry.seq} cannot be rolled back to: ${entry.corrupt}`,
      'pick another entry with --to',
    );
  const text = await history.read(entry.seq);
  if (text === undefined)
    throw refused(
      file,
      `the text of history entry ${entry.seq} is missing or was changed on disk (${history.location})`,
      'pick another entry with --to',
    );
  if (entry.sha256 === sha) {
    io.out.write(`${file} already holds history entry ${entry.seq}; nothing written.\n`);
    return;
  }
  try {
    await checkText(text, file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError([
      {
        file,
        reason: `history entry ${entry.seq} does not compile now; ${file} is unchanged`,
        hint: 'an ${env:…} it needs may be unset here, or a file it names is gone; pick another entry with --to',
      },
      ...err.issues,
    ]);
  }
  await writeOver(file, text);
  io.out.write(
    `${file} now holds history entry ${entry.seq} (applied ${new Date(entry.appliedAt).toISOString()} by ${entry.by}, sha256 ${entry.sha256.slice(0, 12)}).\n` +
      'Running gateways that watch the file (reload.watch, the default) apply it within reload.debounceMs; ' +
      'send SIGHUP to those that do not. `portcullis config history` lists it once applied.\n',
  );
}

function seqOption(value: string): number {
  if (!/^\d{1,12}$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError('a history entry number (see `portcullis config history`)');
  return Number(value);
}

/** Adds `config history` and `config rollback` to the program. */
export function registerConfigCommand(
  program: Command,
  defaultConfig: () => string,
  io: ConfigIo = { out: process.stdout, err: process.stderr },
): Command {
  const config = program
    .command('config')
    .description('the history of applied configs (reload.history.dir) and rollback');
  const configOption = ['-c, --config <file>', 'config file (default: ./portcullis.yaml)'] as const;
  const dirOption = [
    '--history-dir <dir>',
    'history directory (default: reload.history.dir of the config file)',
  ] as const;
  config
    .command('history')
    .description('list the applied configs: number, when, by whom, sha256; marks the one equal to the file')
    .option(...configOption)
    .option(...dirOption)
    .option('--json', 'print JSON')
    .action(async (opts: { config?: string; json?: boolean; historyDir?: string }) => {
      await configHistoryCommand(opts.config ?? defaultConfig(), opts.json === true, io, {
        historyDir: opts.historyDir,
      });
    });
  config
    .command('rollback')
    .description(
      'write a history entry over the config file (checked first; running gateways reload it from the file)',
    )
    .option(
      '--to <seq>',
      'history entry (default: the newest one from this file or the admin API that differs from it)',
      seqOption,
    )
    .option(...configOption)
    .option(...dirOption)
    .action(async (opts: { config?: string; to?: number; historyDir?: string }) => {
      await configRollbackCommand(opts.config ?? defaultConfig(), opts.to, io, {
        historyDir: opts.historyDir,
      });
    });
  return config;
}

import { type FSWatcher, watch } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import { sha256Of } from '../config/history.js';
import { type LoadedConfig, loadConfigText, recordingEnv, scrubEnv } from '../config/load.js';
import type { GatewayConfig } from '../config/schema.js';
import type { Registry } from '../core/registry.js';
import type { Gateway } from './gateway.js';

/**
 * Reloads the config file into a running gateway: on a change of the file (or of an OpenAPI file
 * the config names), on SIGHUP, on request. The gateway compiles the new plan beside the running
 * one and swaps it whole; a config that does not load or compile leaves the running one serving,
 * logs why (`reload failed`) and counts a failure (config.rejected → metrics).
 */

/** Why a reload was made: it becomes the history entry's "by". */
export type ReloadTrigger = 'file' | 'sighup';

export type ReloadOutcome =
  | { readonly result: 'applied'; readonly planVersion: number }
  | { readonly result: 'unchanged' }
  | { readonly result: 'failed'; readonly issues: readonly Record<string, unknown>[] };

export interface ReloaderOptions {
  readonly gateway: Gateway;
  readonly file: string;
  readonly registry: Registry;
  readonly logger: Logger;
  /** Wait this long after the last change event (reload.debounceMs). */
  readonly debounceMs: number;
  /**
   * Look at the watched files this often even without an event (mtime, size and inode; the content
   * is hashed only when one moved): watches miss changes on some mounts. Default 5000; 0: off.
   */
  readonly pollMs?: number;
}

/** A change event is not put off longer than this many debounce periods (a busy directory never starves it). */
const MAX_WAIT_DEBOUNCES = 10;
const DEFAULT_POLL_MS = 5000;

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** The OpenAPI files a config names (plugins.contract.spec, globally and per route), resolved. */
export function specFilesOf(config: GatewayConfig): string[] {
  const out = new Set<string>();
  const add = (plugins: unknown): void => {
    const contract = isObject(plugins) ? plugins.contract : undefined;
    if (isObject(contract) && typeof contract.spec === 'string' && contract.spec !== '')
      out.add(resolve(contract.spec));
  };
  add(config.plugins);
  for (const r of config.routes) add(r.plugins);
  return [...out];
}

/** Issues as logged and answered: located, with every environment value handed out scrubbed. */
function issuesOf(err: unknown, seen: ReadonlySet<string>): Record<string, unknown>[] {
  if (!(err instanceof ConfigError)) return [{ reason: scrubEnv(String((err as Error).message), seen) }];
  return err.issues.map((i) => {
    const o: Record<string, unknown> = { reason: scrubEnv(i.reason, seen) };
    if (i.path !== undefined) o.path = scrubEnv(i.path, seen);
    if (i.line !== undefined) o.line = i.line;
    if (i.column !== undefined) o.column = i.column;
    if (i.hint !== undefined) o.hint = scrubEnv(i.hint, seen);
    return o;
  });
}

/** The content hash of a file; readFile follows symlinks (a Kubernetes ConfigMap is a chain of them). */
async function hashOf(file: string): Promise<string | undefined> {
  try {
    return sha256Of(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** What the periodic look compares: cheap, through symlinks; "missing" when the file is not there. */
async function stampOf(file: string): Promise<string> {
  try {
    const s = await stat(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/** `file` and, when it is reached through symlinks (a ConfigMap), its real path. */
async function pathsOf(file: string): Promise<string[]> {
  const real = await realpath(file).catch(() => undefined);
  return real === undefined || real === file ? [file] : [file, real];
}

async function hashesOf(files: readonly string[]): Promise<Map<string, string | undefined>> {
  const out = new Map<string, string | undefined>();
  for (const f of files) out.set(f, await hashOf(f));
  return out;
}

export class ConfigReloader {
  readonly #gateway: Gateway;
  readonly #file: string;
  readonly #registry: Registry;
  readonly #logger: Logger;
  readonly #debounceMs: number;
  /** Content hash of the config file as last read (applied or refused): the same bytes are not reloaded. */
  #configSha: string;
  /** Content hash of each OpenAPI file the running config names. */
  #specShas = new Map<string, string | undefined>();
  readonly #pollMs: number;
  /** Directory → its watcher. Every event in it counts (a ConfigMap update renames `..data`, not the file). */
  readonly #watchers = new Map<string, FSWatcher>();
  /** File → its stamp (inode, size, mtime) at the last look. */
  #stamps = new Map<string, string>();
  #poller: NodeJS.Timeout | undefined;
  #polling = false;
  #timer: NodeJS.Timeout | undefined;
  /** When the pending debounce started (a stream of events cannot put a reload off for ever). */
  #firstEventAt = 0;
  /** An event in the pending window named a watched file (or named none): the contents are hashed. */
  #named = false;
  /** The names of the watched files and of their real paths. */
  #names = new Set<string>();
  /** One reload at a time; a change seen meanwhile runs one more check afterwards. */
  #running: Promise<ReloadOutcome> | undefined;
  #again = false;
  #closed = false;
  #watching = false;

  constructor(options: ReloaderOptions) {
    this.#gateway = options.gateway;
    this.#file = resolve(options.file);
    this.#registry = options.registry;
    this.#logger = options.logger;
    this.#debounceMs = options.debounceMs;
    this.#pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.#configSha = sha256Of(options.gateway.loaded.text);
  }

  /**
   * Watches the config file's directory (an editor or `mv` replaces the file: a watch on the file
   * itself would be lost with it), the directory of its real path when it is a symlink, the same for
   * the OpenAPI files the config names, and looks at them all every pollMs in case a watch misses.
   */
  async watch(): Promise<void> {
    this.#watching = true;
    await this.#track(await hashesOf(specFilesOf(this.#gateway.loaded.config)));
    if (this.#pollMs > 0 && !this.#closed) {
      this.#poller = setInterval(() => void this.#poll().catch(() => undefined), this.#pollMs);
      this.#poller.unref();
    }
  }

  /** Reloads now (SIGHUP): the file is read and applied even if its bytes did not change. */
  reload(by: ReloadTrigger): Promise<ReloadOutcome> {
    return this.#serialized(() => this.#apply(by, true), false);
  }

  /**
   * A change event: reload once the events stop for debounceMs. `named`: it named a watched file
   * (or none); when no event in the window did (a symlink swap, an audit database beside the config),
   * the contents are hashed only if a file's stamp moved.
   */
  #changed(named = true): void {
    if (this.#closed) return;
    this.#named ||= named;
    const now = Date.now();
    if (this.#timer !== undefined) {
      // Events keep coming (an audit database beside the config): the pending look is not put off again.
      if (now - this.#firstEventAt >= this.#debounceMs * MAX_WAIT_DEBOUNCES) return;
      clearTimeout(this.#timer);
    } else this.#firstEventAt = now;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const cheap = !this.#named;
      this.#named = false;
      void this.#serialized(async () => {
        if (cheap && !(await this.#stampsMoved())) return { result: 'unchanged' };
        return this.#apply('file', false);
      }, true);
    }, this.#debounceMs);
  }

  /** Whether a watched file's stamp moved since the last look (the stamps are updated). */
  async #stampsMoved(): Promise<boolean> {
    const stamps = await this.#stampsNow();
    let moved = false;
    for (const [file, stamp] of stamps) if (this.#stamps.get(file) !== stamp) moved = true;
    this.#stamps = stamps;
    return moved;
  }

  /** The periodic look: a file whose stamp moved is a change event (its hash then decides). */
  async #poll(): Promise<void> {
    if (this.#polling || this.#closed) return;
    this.#polling = true;
    try {
      if ((await this.#stampsMoved()) && !this.#closed) {
        if (this.#watching) await this.#rewatch();
        this.#changed();
      }
    } finally {
      this.#polling = false;
    }
  }

  async #stampsNow(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const f of [this.#file, ...this.#specShas.keys()]) out.set(f, await stampOf(f));
    return out;
  }

  /** Runs `fn` after the reload in progress; a file change seen meanwhile is looked at once, after it. */
  #serialized(fn: () => Promise<ReloadOutcome>, coalesce: boolean): Promise<ReloadOutcome> {
    if (this.#running !== undefined) {
      if (coalesce) {
        this.#again = true;
        return this.#running;
      }
      return this.#running.then(() => this.#serialized(fn, false));
    }
    const run = fn()
      .catch((err: unknown) => this.#failed('file', [{ reason: String((err as Error).message) }]))
      .finally(() => {
        this.#running = undefined;
        if (this.#again && !this.#closed) {
          this.#again = false;
          void this.#serialized(() => this.#apply('file', false), true);
        }
      });
    this.#running = run;
    return run;
  }

  async #apply(by: ReloadTrigger, force: boolean): Promise<ReloadOutcome> {
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Mid-replace (the file is briefly gone): the rename that completes it is another event.
      if (!force && code === 'ENOENT') return { result: 'unchanged' };
      return this.#failed(by, [{ reason: `cannot read ${this.#file} (${code ?? 'error'})` }]);
    }
    const sha = sha256Of(text);
    if (!force && sha === this.#configSha && !(await this.#specsChanged())) return { result: 'unchanged' };
    this.#configSha = sha;
    const { env, seen } = recordingEnv();
    let loaded: LoadedConfig;
    try {
      loaded = loadConfigText(text, this.#file, { registry: this.#registry, env });
    } catch (err) {
      const issues = issuesOf(err, seen);
      this.#gateway.configRejected(by, issues.length, this.#file);
      await this.#rehash();
      return this.#failed(by, issues);
    }
    // Hashed before the compile reads them: a change during the reload is seen by the next look.
    const specShas = await hashesOf(specFilesOf(loaded.config));
    try {
      // The gateway records a config that does not compile as config.rejected itself.
      const plan = await this.#gateway.reload(loaded, { by });
      if (this.#watching && !this.#closed) await this.#track(specShas);
      return { result: 'applied', planVersion: plan.version };
    } catch (err) {
      await this.#rehash(specShas);
      return this.#failed(by, issuesOf(err, seen));
    }
  }

  /**
   * After a refusal: the watched OpenAPI files count as seen as they were read (`known`, hashed
   * before the compile) or as they are now, so the same bytes are not retried on every event.
   */
  async #rehash(known: ReadonlyMap<string, string | undefined> = new Map()): Promise<void> {
    for (const file of this.#specShas.keys())
      this.#specShas.set(file, known.has(file) ? known.get(file) : await hashOf(file));
  }

  #failed(by: ReloadTrigger, issues: readonly Record<string, unknown>[]): ReloadOutcome {
    this.#logger.error({ by, file: this.#file, issues }, 'reload failed; keeping the running config');
    return { result: 'failed', issues };
  }

  async #specsChanged(): Promise<boolean> {
    for (const [file, sha] of this.#specShas) if ((await hashOf(file)) !== sha) return true;
    return false;
  }

  /**
   * Watches the directories of the config file and of the OpenAPI files of the running config
   * (hashed as they were loaded), and of their real paths: a symlink swap (ConfigMap) moves those.
   */
  async #track(specShas: Map<string, string | undefined>): Promise<void> {
    this.#specShas = specShas;
    await this.#rewatch();
    this.#stamps = await this.#stampsNow();
  }

  async #rewatch(): Promise<void> {
    const wanted = new Set<string>();
    const names = new Set<string>();
    for (const f of [this.#file, ...this.#specShas.keys()]) {
      for (const p of await pathsOf(f)) {
        wanted.add(dirname(p));
        names.add(basename(p));
      }
    }
    if (this.#closed) return;
    this.#names = names;
    for (const [dir, watcher] of this.#watchers) {
      if (!wanted.has(dir)) {
        watcher.close();
        this.#watchers.delete(dir);
      }
    }
    for (const dir of wanted) {
      if (this.#watchers.has(dir)) continue;
      try {
        // Not persistent: the listeners keep the process alive, the watch alone must not.
        // Every event counts (a ConfigMap update renames `..data`, not the file); one that does not
        // name a watched file costs a stat of each, and a hash only when a stamp moved.
        const watcher = watch(dir, { persistent: false }, (_event, name) =>
          this.#changed(name === null || this.#names.has(name.toString())),
        );
        watcher.on('error', (err) => {
          // The directory went away (an old ConfigMap revision): the next look watches the new one.
          if (this.#watchers.get(dir) === watcher) this.#watchers.delete(dir);
          watcher.close();
          this.#logger.warn({ dir, err: { message: err.message } }, 'reload: watching stopped');
          this.#changed();
        });
        this.#watchers.set(dir, watcher);
      } catch (err) {
        this.#logger.warn(
          { dir, err: { message: (err as Error).message } },
          'reload: cannot watch; use SIGHUP or the admin API',
        );
      }
    }
  }

  /** Stops watching; a reload already running finishes. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#poller !== undefined) clearInterval(this.#poller);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    await this.#running?.catch(() => undefined);
  }
}

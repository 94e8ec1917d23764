import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/**
 * The history of applied configs: every config the gateway applied (start-up, file or SIGHUP
 * reload, admin apply, rollback), its exact YAML text, numbered. The file store keeps it in a
 * directory that survives restarts and may be shared by several nodes:
 *
 *   <dir>/index.jsonl           one JSON line per entry: seq, sha256, appliedAt, by, source, file
 *   <dir>/00000012-<sha>.yaml   the text of entry 12
 *
 * Sequence numbers only grow (across restarts and nodes); an entry whose text equals the newest
 * one is not added again; only the `keep` newest entries stay.
 */

/** Where the history lives when the config does not say (relative to the working directory). */
export const DEFAULT_HISTORY_DIR = '.portcullis/config-history';

export interface HistoryEntry {
  readonly seq: number;
  readonly sha256: string;
  /** Epoch ms. */
  readonly appliedAt: number;
  /** Who applied it: "startup", "file", "sighup", or the admin token name. */
  readonly by: string;
  /** The config file it was read from (undefined: posted to the admin API or built in code). */
  readonly source: string | undefined;
}

export interface RecordResult {
  /** The entry that now stands for this text (the new one, or the newest when deduplicated). */
  readonly entry: HistoryEntry;
  readonly added: boolean;
}

export interface ConfigHistory {
  /** Where it lives ("memory" or the directory). */
  readonly location: string;
  /** The kept entries, oldest first. */
  list(): Promise<readonly HistoryEntry[]>;
  /** Adds an applied config unless its text equals the newest entry's. */
  record(text: string, meta: { by: string; source?: string | undefined }): Promise<RecordResult>;
  /** The exact text of an entry; undefined when it is not kept (or its file is gone). */
  read(seq: number): Promise<string | undefined>;
}

export function sha256Of(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** For processes that keep no files (tests, embedding): the same rules, in memory. */
export class MemoryConfigHistory implements ConfigHistory {
  readonly location = 'memory';
  readonly #entries: { entry: HistoryEntry; text: string }[] = [];
  readonly #keep: number;
  #seq = 0;

  constructor(keep = 50) {
    this.#keep = Math.max(1, keep);
  }

  list(): Promise<readonly HistoryEntry[]> {
    return Promise.resolve(this.#entries.map((e) => e.entry));
  }

  record(text: string, meta: { by: string; source?: string | undefined }): Promise<RecordResult> {
    const sha = sha256Of(text);
    const newest = this.#entries.at(-1);
    if (newest !== undefined && newest.entry.sha256 === sha)
      return Promise.resolve({ entry: newest.entry, added: false });
    const entry: HistoryEntry = {
      seq: ++this.#seq,
      sha256: sha,
      appliedAt: Date.now(),
      by: meta.by,
      source: meta.source,
    };
    this.#entries.push({ entry, text });
    while (this.#entries.length > this.#keep) this.#entries.shift();
    return Promise.resolve({ entry, added: true });
  }

  read(seq: number): Promise<string | undefined> {
    return Promise.resolve(this.#entries.find((e) => e.entry.seq === seq)?.text);
  }
}

const INDEX = 'index.jsonl';
const LOCK = 'index.lock';
const TEXT_FILE = /^(\d{8,})-[0-9a-f]{12}\.yaml$/;
/** A lock older than this was left by a process that died holding it. */
const STALE_LOCK_MS = 10_000;
const LOCK_WAIT_MS = 5_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function textFileOf(seq: number, sha: string): string {
  return `${String(seq).padStart(8, '0')}-${sha.slice(0, 12)}.yaml`;
}

/** One index line, or undefined when it is not a well-formed entry (a torn write, a hand edit). */
function parseLine(line: string): HistoryEntry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (
    !Number.isSafeInteger(o.seq) ||
    (o.seq as number) < 1 ||
    typeof o.sha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(o.sha256) ||
    typeof o.appliedAt !== 'number' ||
    typeof o.by !== 'string' ||
    (o.source !== undefined && typeof o.source !== 'string')
  )
    return undefined;
  return {
    seq: o.seq as number,
    sha256: o.sha256,
    appliedAt: o.appliedAt,
    by: o.by,
    source: o.source as string | undefined,
  };
}

function lineOf(e: HistoryEntry): string {
  return `${JSON.stringify({ seq: e.seq, sha256: e.sha256, appliedAt: e.appliedAt, by: e.by, source: e.source })}\n`;
}

/** Writes a file whole or not at all: a reader never sees half a config. */
async function writeAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode: 0o600 });
  await rename(tmp, path);
}

/** The history in a directory: survives restarts; nodes sharing the directory share the numbering. */
export class FileConfigHistory implements ConfigHistory {
  readonly location: string;
  readonly #keep: number;
  /** One write at a time in this process; the lock file orders processes. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, keep: number) {
    this.location = dir;
    this.#keep = Math.max(1, keep);
  }

  /** Opens (creating) the directory; `dir` is relative to the working directory. */
  static async open(dir: string, keep = 50): Promise<FileConfigHistory> {
    const abs = resolve(dir);
    await mkdir(abs, { recursive: true, mode: 0o700 });
    return new FileConfigHistory(abs, keep);
  }

  /** Opens the directory only to read it (the CLI): nothing is created. */
  static reader(dir: string): FileConfigHistory {
    return new FileConfigHistory(resolve(dir), Number.MAX_SAFE_INTEGER);
  }

  async list(): Promise<readonly HistoryEntry[]> {
    return (await this.#entries()).entries;
  }

  /** The index, oldest first; malformed lines are skipped (and counted). */
  async #entries(): Promise<{ entries: HistoryEntry[]; skipped: number }> {
    let text: string;
    try {
      text = await readFile(join(this.location, INDEX), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], skipped: 0 };
      throw err;
    }
    const bySeq = new Map<number, HistoryEntry>();
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const e = parseLine(line);
      if (e === undefined) skipped++;
      else bySeq.set(e.seq, e);
    }
    return { entries: [...bySeq.values()].sort((a, b) => a.seq - b.seq), skipped };
  }

  record(text: string, meta: { by: string; source?: string | undefined }): Promise<RecordResult> {
    const next = this.#queue.then(() => this.#locked(() => this.#record(text, meta)));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #record(text: string, meta: { by: string; source?: string | undefined }): Promise<RecordResult> {
    const sha = sha256Of(text);
    const { entries, skipped } = await this.#entries();
    const newest = entries.at(-1);
    if (newest !== undefined && newest.sha256 === sha && (await this.read(newest.seq)) !== undefined)
      return { entry: newest, added: false };
    // The highest number ever used, in the index or on disk: a damaged index never reuses one.
    let seq = newest?.seq ?? 0;
    for (const name of await readdir(this.location)) {
      const m = TEXT_FILE.exec(name);
      if (m) seq = Math.max(seq, Number(m[1]));
    }
    const entry: HistoryEntry = {
      seq: seq + 1,
      sha256: sha,
      appliedAt: Date.now(),
      by: meta.by,
      source: meta.source,
    };
    await writeAtomic(join(this.location, textFileOf(entry.seq, sha)), text);
    const all = [...entries, entry];
    const dropped = all.length > this.#keep ? all.slice(0, all.length - this.#keep) : [];
    const kept = all.slice(dropped.length);
    if (dropped.length > 0 || skipped > 0) {
      // Rewritten whole: old entries leave, and so do malformed lines.
      await writeAtomic(join(this.location, INDEX), kept.map(lineOf).join(''));
      for (const d of dropped) await rm(join(this.location, textFileOf(d.seq, d.sha256)), { force: true });
    } else {
      const fh = await open(join(this.location, INDEX), 'a', 0o600);
      try {
        await fh.write(lineOf(entry));
      } finally {
        await fh.close();
      }
    }
    return { entry, added: true };
  }

  async read(seq: number): Promise<string | undefined> {
    const entry = (await this.list()).find((e) => e.seq === seq);
    if (entry === undefined) return undefined;
    try {
      const text = await readFile(join(this.location, textFileOf(entry.seq, entry.sha256)), 'utf8');
      // A file edited by hand is not the config that was applied.
      return sha256Of(text) === entry.sha256 ? text : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Runs `fn` holding the directory's lock file (created exclusively; a stale one is taken over). */
  async #locked<T>(fn: () => Promise<T>): Promise<T> {
    const lock = join(this.location, LOCK);
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        const fh = await open(lock, 'wx', 0o600);
        await fh.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const age = await stat(lock).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        if (age > STALE_LOCK_MS) await unlink(lock).catch(() => undefined);
        else if (Date.now() > deadline)
          throw new Error(`config history: ${lock} is held by another process (remove it if none runs)`);
        else await sleep(10);
      }
    }
    try {
      return await fn();
    } finally {
      await unlink(lock).catch(() => undefined);
    }
  }
}

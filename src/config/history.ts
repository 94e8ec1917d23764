import { createHash, randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
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
  /** Why this entry cannot be trusted (its number was recorded twice, with two texts); not rolled back to. */
  readonly corrupt?: string;
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

/** A name nobody can guess (containers share PID 1: a pid is no name). */
function randomName(): string {
  return randomBytes(12).toString('hex');
}

/**
 * Writes `data` to a new file at `path`, created exclusively ('wx'): an existing file or symlink
 * there fails with EEXIST instead of being followed or truncated.
 */
async function writeExclusive(path: string, data: string, mode = 0o600): Promise<void> {
  const fh = await open(path, 'wx', mode);
  try {
    await fh.writeFile(data, 'utf8');
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw err;
  }
  await fh.close();
}

/**
 * Writes a file whole or not at all: a reader never sees half a config. The temp file has a random
 * name and is created exclusively, so a symlink planted beside `path` is never followed.
 */
export async function writeAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const tmp = `${path}.${randomName()}.tmp`;
  await writeExclusive(tmp, data, mode);
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** The lock file's text, or undefined when there is none. */
async function lockToken(lock: string): Promise<string | undefined> {
  try {
    return await readFile(lock, 'utf8');
  } catch {
    return undefined;
  }
}

/** The entry number of a text file name, or undefined. */
function seqOfName(name: string): number | undefined {
  const m = TEXT_FILE.exec(name);
  return m ? Number(m[1]) : undefined;
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

  /**
   * The index, oldest first; malformed lines are skipped (and counted). A number recorded with two
   * texts (two writers that both believed they held the lock) is marked corrupt. `lines` are all
   * well-formed lines, so a rewrite keeps the evidence.
   */
  async #entries(): Promise<{ entries: HistoryEntry[]; skipped: number; lines: HistoryEntry[] }> {
    let text: string;
    try {
      text = await readFile(join(this.location, INDEX), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], skipped: 0, lines: [] };
      throw err;
    }
    const bySeq = new Map<number, HistoryEntry>();
    const lines: HistoryEntry[] = [];
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const e = parseLine(line);
      if (e === undefined) {
        skipped++;
        continue;
      }
      lines.push(e);
      const seen = bySeq.get(e.seq);
      if (seen === undefined) bySeq.set(e.seq, e);
      else if (seen.sha256 !== e.sha256)
        bySeq.set(e.seq, {
          ...seen,
          corrupt: `entry ${e.seq} was recorded twice with different texts (sha256 ${seen.sha256.slice(0, 12)} and ${e.sha256.slice(0, 12)}): two writers shared the number, which config ran under it is unknown`,
        });
    }
    return { entries: [...bySeq.values()].sort((a, b) => a.seq - b.seq), skipped, lines };
  }

  record(text: string, meta: { by: string; source?: string | undefined }): Promise<RecordResult> {
    const next = this.#queue.then(() => this.#locked((token) => this.#record(text, meta, token)));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #record(
    text: string,
    meta: { by: string; source?: string | undefined },
    token: string,
  ): Promise<RecordResult> {
    const sha = sha256Of(text);
    const { entries, skipped, lines } = await this.#entries();
    const newest = entries.at(-1);
    if (newest !== undefined && newest.sha256 === sha && (await this.read(newest.seq)) !== undefined)
      return { entry: newest, added: false };
    const seq = await this.#claim(newest?.seq ?? 0, sha, text);
    const entry: HistoryEntry = { seq, sha256: sha, appliedAt: Date.now(), by: meta.by, source: meta.source };
    // The lock may have been taken over meanwhile (this process stalled past STALE_LOCK_MS): write no line.
    if ((await lockToken(join(this.location, LOCK))) !== token) {
      await unlink(join(this.location, textFileOf(seq, sha))).catch(() => undefined);
      throw new Error(
        'config history: the lock was taken over by another process while recording; not recorded',
      );
    }
    const seqs = [...entries.map((e) => e.seq), seq];
    const dropped = new Set(seqs.length > this.#keep ? seqs.slice(0, seqs.length - this.#keep) : []);
    if (dropped.size > 0 || skipped > 0) {
      // Rewritten whole: old entries leave, and so do malformed lines (a corrupt entry keeps both of its).
      const kept = [...lines.filter((l) => !dropped.has(l.seq)), entry];
      await writeAtomic(join(this.location, INDEX), kept.map(lineOf).join(''));
      for (const l of lines)
        if (dropped.has(l.seq)) await rm(join(this.location, textFileOf(l.seq, l.sha256)), { force: true });
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

  /**
   * Claims the next entry number by creating its text file exclusively; a number that has a text
   * file on disk (whatever the index says) is never taken again.
   */
  async #claim(newestSeq: number, sha: string, text: string): Promise<number> {
    for (let attempt = 0; attempt < 20; attempt++) {
      let seq = newestSeq;
      for (const name of await readdir(this.location)) seq = Math.max(seq, seqOfName(name) ?? 0);
      seq += 1;
      const mine = textFileOf(seq, sha);
      try {
        await writeExclusive(join(this.location, mine), text);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw err;
      }
      // A writer that created a file for the same number meanwhile (another text): one of us sees the other.
      const rival = (await readdir(this.location)).some((n) => n !== mine && seqOfName(n) === seq);
      if (!rival) return seq;
      await unlink(join(this.location, mine)).catch(() => undefined);
      await sleep(1 + Math.floor(Math.random() * 20));
    }
    throw new Error(`config history: could not claim an entry number in ${this.location}`);
  }

  async read(seq: number): Promise<string | undefined> {
    const entry = (await this.list()).find((e) => e.seq === seq);
    // A corrupt entry has no single text: which config was applied under that number is unknown.
    if (entry === undefined || entry.corrupt !== undefined) return undefined;
    try {
      const text = await readFile(join(this.location, textFileOf(entry.seq, entry.sha256)), 'utf8');
      // A file edited by hand is not the config that was applied.
      return sha256Of(text) === entry.sha256 ? text : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * Runs `fn` holding the directory's lock file: created exclusively with a random token, held once
   * the file reads back with that token. A stale lock (its holder died) is taken over by renaming it
   * to a unique name — only one rename wins — then checking that what was renamed is that stale lock.
   */
  async #locked<T>(fn: (token: string) => Promise<T>): Promise<T> {
    const lock = join(this.location, LOCK);
    const token = randomName();
    const deadline = Date.now() + LOCK_WAIT_MS;
    while (!(await this.#tryLock(lock, token))) {
      if (Date.now() > deadline)
        throw new Error(`config history: ${lock} is held by another process (remove it if none runs)`);
      await sleep(5 + Math.floor(Math.random() * 10));
    }
    try {
      return await fn(token);
    } finally {
      // Removed only while it is still ours: a lock taken over meanwhile belongs to its new holder.
      if ((await lockToken(lock)) === token) await unlink(lock).catch(() => undefined);
    }
  }

  /** One attempt at the lock: true when it is ours. */
  async #tryLock(lock: string, token: string): Promise<boolean> {
    try {
      await writeExclusive(lock, token);
      return (await lockToken(lock)) === token;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const held = await lstat(lock).catch(() => undefined);
    if (held === undefined) return false;
    // Ours already: an earlier attempt created it, then briefly lost sight of it.
    if ((await lockToken(lock)) === token) return true;
    if (Date.now() - held.mtimeMs <= STALE_LOCK_MS) return false;
    const aside = `${lock}.${randomName()}.stale`;
    try {
      await rename(lock, aside);
    } catch {
      return false; // Another node took it over first.
    }
    const moved = await lstat(aside).catch(() => undefined);
    // Between the look and the rename another node replaced the stale lock with a fresh one: that
    // one is put back (link never replaces a lock made since).
    if (moved !== undefined && (moved.ino !== held.ino || Date.now() - moved.mtimeMs <= STALE_LOCK_MS))
      await link(aside, lock).catch(() => undefined);
    await unlink(aside).catch(() => undefined);
    return false; // The next attempt creates ours.
  }
}

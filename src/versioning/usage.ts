import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Principal } from '../core/principal.js';
import type { VersioningConfig } from './schema.js';

/**
 * Requests per API version and consumer, for `portcullis versions report` ("who still calls v1?").
 * Counted in memory on the request path (one map update) and written to a SQLite file in one
 * transaction every flushMs, off the request path, and when the plan closes. Several gateway
 * processes may share the file: each adds its counts (UPSERT), so the totals are the sum.
 */

export type UsageConfig = VersioningConfig['usage'];

/** One version × consumer row of the report. */
export interface UsageRow {
  readonly version: string;
  readonly consumer: string;
  readonly requests: number;
  /** Epoch ms. */
  readonly firstSeen: number;
  readonly lastSeen: number;
}

interface Cell {
  version: string;
  consumer: string;
  requests: number;
  first: number;
  last: number;
}

/** Consumers past maxEntries between two writes are counted here, so memory stays bounded. */
export const OTHER_CONSUMERS = '(other)';

/** The name a report shows for the caller: the API-key consumer, else the principal id, else anonymous. */
export function consumerOf(principal: Principal | undefined): string {
  if (principal === undefined || principal.kind === 'anonymous') return 'anonymous';
  return principal.consumer ?? principal.id;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS version_usage (
  version TEXT NOT NULL,
  consumer TEXT NOT NULL,
  requests INTEGER NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  PRIMARY KEY (version, consumer)
) WITHOUT ROWID`;

function open(path: string): Database.Database {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  // The writer runs on the event loop: it waits at most 20 ms for another process's lock, and on
  // a busy file keeps its counts for the next flush instead of stalling every request.
  db.pragma('busy_timeout = 2000');
  db.pragma('journal_mode = WAL');
  db.exec(SCHEMA);
  db.pragma('busy_timeout = 20');
  return db;
}

export class VersionUsage {
  readonly #config: UsageConfig;
  readonly #logger: Logger;
  #cells = new Map<string, Cell>();
  #db: Database.Database | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(config: UsageConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
  }

  /** One request of `version` by `consumer` (hot path: a map update). */
  count(version: string, consumer: string, now = Date.now()): void {
    if (this.#closed) return;
    // Consumer names come from tokens: bounded, so a long `sub` cannot grow the file without end.
    if (consumer.length > 200) consumer = `${consumer.slice(0, 200)}…`;
    const key = `${version}\n${consumer}`;
    let cell = this.#cells.get(key);
    if (cell === undefined) {
      if (this.#cells.size >= this.#config.maxEntries && consumer !== OTHER_CONSUMERS) {
        this.count(version, OTHER_CONSUMERS, now);
        return;
      }
      cell = { version, consumer, requests: 0, first: now, last: now };
      this.#cells.set(key, cell);
    }
    cell.requests++;
    cell.last = now;
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush();
      }, this.#config.flushMs);
      this.#timer.unref();
    }
  }

  /** Writes the counts held in memory; on a write error they are kept for the next try. */
  flush(): void {
    if (this.#cells.size === 0) return;
    const cells = this.#cells;
    this.#cells = new Map();
    try {
      this.#db ??= open(this.#config.path);
      const upsert = this.#db.prepare(
        `INSERT INTO version_usage (version, consumer, requests, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (version, consumer) DO UPDATE SET
           requests = requests + excluded.requests,
           first_seen = min(first_seen, excluded.first_seen),
           last_seen = max(last_seen, excluded.last_seen)`,
      );
      this.#db.transaction(() => {
        for (const c of cells.values()) upsert.run(c.version, c.consumer, c.requests, c.first, c.last);
      })();
    } catch (err) {
      this.#logger.warn(
        { err, path: this.#config.path },
        'version usage could not be written; kept for the next try',
      );
      for (const [k, c] of cells) {
        const now = this.#cells.get(k);
        if (now === undefined) this.#cells.set(k, c);
        else {
          now.requests += c.requests;
          now.first = Math.min(now.first, c.first);
        }
      }
    }
  }

  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.flush();
    this.#closed = true;
    this.#db?.close();
    this.#db = undefined;
  }
}

/** Reads the usage file (the CLI report, the admin API); an absent file reads as no usage. */
export function readUsage(path: string): UsageRow[] {
  if (!existsSync(path)) return [];
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 2000');
    const table = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'version_usage'")
      .get();
    if (table === undefined) return [];
    return db
      .prepare(
        'SELECT version, consumer, requests, first_seen AS firstSeen, last_seen AS lastSeen FROM version_usage ORDER BY version, requests DESC, consumer',
      )
      .all() as UsageRow[];
  } finally {
    db.close();
  }
}

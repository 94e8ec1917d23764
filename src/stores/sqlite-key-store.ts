import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { ApiKeyRecord, KeyStore } from './types.js';

interface Row {
  id: string;
  hash: Buffer;
  consumer: string;
  name: string;
  scopes: string;
  roles: string;
  allowed_cidrs: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
  replaced_by: string | null;
}

/** Change rows older than this are pruned; a watcher further behind than that gets listener(null). */
const CHANGE_RETENTION_MS = 60 * 60 * 1000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY,
  hash BLOB NOT NULL,
  consumer TEXT NOT NULL,
  name TEXT NOT NULL,
  scopes TEXT NOT NULL,
  roles TEXT NOT NULL,
  allowed_cidrs TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER,
  last_used_at INTEGER,
  replaced_by TEXT
);
CREATE INDEX IF NOT EXISTS api_keys_consumer ON api_keys (consumer, created_at);
CREATE INDEX IF NOT EXISTS api_keys_created ON api_keys (created_at);
CREATE TABLE IF NOT EXISTS api_key_changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  key_id TEXT NOT NULL,
  at INTEGER NOT NULL
);
`;

function strings(json: string): readonly string[] {
  const v = JSON.parse(json) as unknown;
  return Object.freeze(Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
}

function toRecord(row: Row): ApiKeyRecord {
  return Object.freeze({
    id: row.id,
    hash: Buffer.from(row.hash),
    consumer: row.consumer,
    name: row.name,
    scopes: strings(row.scopes),
    roles: strings(row.roles),
    allowedCidrs: strings(row.allowed_cidrs),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
    replacedBy: row.replaced_by,
  });
}

/** Creates the database file (and its directory) owner-only before SQLite opens it. */
function createPrivateFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/**
 * API keys in one SQLite file (WAL, so readers never wait for the writer). Every change also
 * appends a row to `api_key_changes`; watchers poll that table, so a revocation made by another
 * process (the CLI, another gateway on the same machine) reaches every watcher within `pollMs`.
 */
export class SqliteKeyStore implements KeyStore {
  readonly #db: Database.Database;
  readonly #pollMs: number;
  readonly #listeners = new Set<(id: string | null) => void>();
  #timer: NodeJS.Timeout | undefined;
  #lastSeq = 0;
  #closed = false;
  readonly #stmt: {
    insert: Database.Statement;
    get: Database.Statement<[string], Row>;
    listAll: Database.Statement<[], Row>;
    listConsumer: Database.Statement<[string], Row>;
    revoke: Database.Statement;
    expire: Database.Statement;
    touch: Database.Statement;
    change: Database.Statement;
    prune: Database.Statement;
    changesSince: Database.Statement<[number], { seq: number; key_id: string }>;
    maxSeq: Database.Statement<[], { seq: number | null }>;
  };

  constructor(path: string, pollMs: number) {
    this.#pollMs = pollMs;
    createPrivateFile(path);
    const db = new Database(path, { fileMustExist: true });
    this.#db = db;
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 2000');
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      this.#stmt = {
        insert: db.prepare(
          `INSERT INTO api_keys (id, hash, consumer, name, scopes, roles, allowed_cidrs, created_at, expires_at, revoked_at, last_used_at, replaced_by)
           VALUES (@id, @hash, @consumer, @name, @scopes, @roles, @allowedCidrs, @createdAt, @expiresAt, @revokedAt, @lastUsedAt, @replacedBy)`,
        ),
        get: db.prepare('SELECT * FROM api_keys WHERE id = ?'),
        listAll: db.prepare('SELECT * FROM api_keys ORDER BY created_at DESC, id DESC'),
        listConsumer: db.prepare(
          'SELECT * FROM api_keys WHERE consumer = ? ORDER BY created_at DESC, id DESC',
        ),
        revoke: db.prepare('UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?'),
        expire: db.prepare('UPDATE api_keys SET expires_at = ?, replaced_by = ? WHERE id = ?'),
        touch: db.prepare(
          'UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)',
        ),
        change: db.prepare('INSERT INTO api_key_changes (key_id, at) VALUES (?, ?)'),
        prune: db.prepare('DELETE FROM api_key_changes WHERE at < ?'),
        changesSince: db.prepare(
          'SELECT seq, key_id FROM api_key_changes WHERE seq > ? ORDER BY seq LIMIT 1000',
        ),
        // The last sequence number ever given (pruning old rows does not lower it).
        maxSeq: db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'api_key_changes'"),
      };
    } catch (err) {
      db.close();
      throw err;
    }
  }

  #open(): void {
    if (this.#closed) throw new Error('the key store is closed');
  }

  /** Runs `fn` and records a change of `id` in one transaction. */
  #changing<T>(id: string, fn: () => T): T {
    return this.#db.transaction(() => {
      const result = fn();
      const now = Date.now();
      this.#stmt.change.run(id, now);
      this.#stmt.prune.run(now - CHANGE_RETENTION_MS);
      return result;
    })();
  }

  async insert(r: ApiKeyRecord): Promise<void> {
    this.#open();
    try {
      this.#changing(r.id, () =>
        this.#stmt.insert.run({
          id: r.id,
          hash: r.hash,
          consumer: r.consumer,
          name: r.name,
          scopes: JSON.stringify(r.scopes),
          roles: JSON.stringify(r.roles),
          allowedCidrs: JSON.stringify(r.allowedCidrs),
          createdAt: r.createdAt,
          expiresAt: r.expiresAt,
          revokedAt: r.revokedAt,
          lastUsedAt: r.lastUsedAt,
          replacedBy: r.replacedBy,
        }),
      );
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY')
        throw new Error(`an API key with id ${r.id} exists already`);
      throw err;
    }
  }

  async get(id: string): Promise<ApiKeyRecord | undefined> {
    this.#open();
    const row = this.#stmt.get.get(id);
    return row === undefined ? undefined : toRecord(row);
  }

  async list(filter?: { consumer?: string }): Promise<ApiKeyRecord[]> {
    this.#open();
    const rows =
      filter?.consumer === undefined
        ? this.#stmt.listAll.all()
        : this.#stmt.listConsumer.all(filter.consumer);
    return rows.map(toRecord);
  }

  async revoke(id: string, at: number): Promise<boolean> {
    this.#open();
    return this.#db.transaction(() => {
      const changed = this.#stmt.revoke.run(at, id).changes > 0;
      if (changed) {
        this.#stmt.change.run(id, Date.now());
      }
      return changed;
    })();
  }

  async expire(id: string, at: number, replacedBy: string | null): Promise<boolean> {
    this.#open();
    return this.#db.transaction(() => {
      const changed = this.#stmt.expire.run(at, replacedBy, id).changes > 0;
      if (changed) this.#stmt.change.run(id, Date.now());
      return changed;
    })();
  }

  async touch(lastUsed: ReadonlyMap<string, number>): Promise<void> {
    this.#open();
    if (lastUsed.size === 0) return;
    this.#db.transaction(() => {
      for (const [id, at] of lastUsed) this.#stmt.touch.run(at, id, at);
    })();
  }

  watch(listener: (id: string | null) => void): () => void {
    this.#open();
    if (this.#listeners.size === 0) {
      this.#lastSeq = this.#stmt.maxSeq.get()?.seq ?? 0;
      this.#timer = setInterval(() => this.#poll(), this.#pollMs);
      this.#timer.unref();
    }
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0 && this.#timer !== undefined) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  #emit(id: string | null): void {
    for (const l of this.#listeners) {
      try {
        l(id);
      } catch {
        // A listener's bug must not stop the others from hearing about a revocation.
      }
    }
  }

  #poll(): void {
    if (this.#closed) return;
    let rows: { seq: number; key_id: string }[];
    try {
      rows = this.#stmt.changesSince.all(this.#lastSeq);
    } catch {
      // Busy or I/O error: say changes may have been missed, try again next time.
      this.#emit(null);
      return;
    }
    if (rows.length === 0) return;
    // Sequence numbers only grow by one (AUTOINCREMENT, rows pruned only when old): a gap means
    // this watcher fell behind the retention window.
    if ((rows[0] as { seq: number }).seq !== this.#lastSeq + 1) this.#emit(null);
    for (const row of rows) this.#emit(row.key_id);
    this.#lastSeq = (rows.at(-1) as { seq: number }).seq;
    if (rows.length === 1000) this.#poll();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
    this.#db.close();
  }
}

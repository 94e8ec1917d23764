import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { SecurityEvent } from './events.js';
import type { AuditPart, AuditQuery, Observability } from './hub.js';
import type { ObservabilityConfig } from './schema.js';

/**
 * The audit trail: every SecurityEvent on the hub's bus becomes one row of a SQLite file, chained
 * by SHA-256 (each row's hash covers its fields and the previous row's hash), so an edited,
 * deleted or reordered row shows on verify(). Events are buffered and written in one transaction
 * per batch, off the request path; the last hash is read inside BEGIN IMMEDIATE, so several
 * gateway processes sharing the file keep one linear chain. Retention deletes the oldest rows and
 * keeps the hash of the last deleted one as the anchor the chain starts from.
 */

export type AuditConfig = ObservabilityConfig['audit'];

/** One audit row, as query() returns it and exportJsonl() writes it (absent fields omitted). */
export interface AuditRow {
  readonly seq: number;
  /** Epoch ms. */
  readonly at: number;
  readonly type: string;
  readonly severity: string;
  readonly requestId?: string;
  readonly route?: string;
  readonly ip?: string;
  readonly actor?: string;
  readonly code?: string;
  readonly detail?: unknown;
  readonly prevHash: string;
  readonly hash: string;
}

export interface VerifyResult {
  readonly ok: boolean;
  /** Rows checked (up to and including the first broken one). */
  readonly checked: number;
  /** seq of the first row that does not chain (edited, missing predecessor, reordered). */
  readonly brokenAt?: number;
  /** Why that row is broken (for the CLI and the log). */
  readonly reason?: string;
}

interface DbRow {
  seq: number;
  at: number;
  type: string;
  severity: string;
  request_id: string | null;
  route: string | null;
  ip: string | null;
  actor: string | null;
  code: string | null;
  detail: string | null;
  prev_hash: string;
  hash: string;
}

/** The prev_hash of the first row ever written. */
export const GENESIS_HASH = '0'.repeat(64);
/** Rows per retention transaction (a long delete would hold the write lock of every process). */
const PRUNE_CHUNK = 5000;
const DAY_MS = 86_400_000;
/** Events wait at most this long before their batch is written. */
const FLUSH_MS = 20;
/** Waiting events above this (the database failing for long) are dropped, oldest first. */
const MAX_BUFFER = 10_000;
/** Longest detail kept (characters of JSON); details are meant to be small. */
const MAX_DETAIL = 4096;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_events (
  seq INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  type TEXT NOT NULL,
  severity TEXT NOT NULL,
  request_id TEXT,
  route TEXT,
  ip TEXT,
  actor TEXT,
  code TEXT,
  detail TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_events_at ON audit_events (at);
CREATE INDEX IF NOT EXISTS audit_events_type ON audit_events (type, at);
CREATE INDEX IF NOT EXISTS audit_events_actor ON audit_events (actor, at);
CREATE INDEX IF NOT EXISTS audit_events_ip ON audit_events (ip, at);
CREATE INDEX IF NOT EXISTS audit_events_route ON audit_events (route, at);
CREATE TABLE IF NOT EXISTS audit_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

/** JSON with object keys sorted, so the same detail always serializes (and hashes) the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v as Record<string, unknown>).sort())
      sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/** The hash of a row: SHA-256 (hex) over the JSON array of its fields, the previous hash first. */
export function rowHash(r: Omit<DbRow, 'hash'>): string {
  const text = JSON.stringify([
    r.prev_hash,
    r.seq,
    r.at,
    r.type,
    r.severity,
    r.request_id,
    r.route,
    r.ip,
    r.actor,
    r.code,
    r.detail,
  ]);
  return createHash('sha256').update(text).digest('hex');
}

function detailText(detail: SecurityEvent['detail']): string | null {
  if (detail === undefined) return null;
  let text: string | undefined;
  try {
    text = canonicalJson(detail);
  } catch {
    text = undefined;
  }
  if (text === undefined) return '{"unserializable":true}';
  return text.length > MAX_DETAIL ? canonicalJson({ truncated: true, length: text.length }) : text;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : v === undefined || v === null ? null : String(v);
}

/** A stored row as the API returns it: absent fields left out, the chain fields last (export order). */
function toRow(r: DbRow): AuditRow {
  let detail: unknown;
  if (r.detail !== null) {
    try {
      detail = JSON.parse(r.detail) as unknown;
    } catch {
      detail = r.detail;
    }
  }
  return {
    seq: r.seq,
    at: r.at,
    type: r.type,
    severity: r.severity,
    ...(r.request_id === null ? {} : { requestId: r.request_id }),
    ...(r.route === null ? {} : { route: r.route }),
    ...(r.ip === null ? {} : { ip: r.ip }),
    ...(r.actor === null ? {} : { actor: r.actor }),
    ...(r.code === null ? {} : { code: r.code }),
    ...(r.detail === null ? {} : { detail }),
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

/** WHERE clause and parameters of a query (every filter has an index). */
function where(q: AuditQuery): { sql: string; params: (string | number)[] } {
  const terms: string[] = [];
  const params: (string | number)[] = [];
  if (q.type !== undefined && q.type !== '') {
    terms.push('type = ?');
    params.push(q.type);
  }
  if (q.actor !== undefined && q.actor !== '') {
    terms.push('actor = ?');
    params.push(q.actor);
  }
  if (q.ip !== undefined && q.ip !== '') {
    terms.push('ip = ?');
    params.push(q.ip);
  }
  if (q.route !== undefined && q.route !== '') {
    terms.push('route = ?');
    params.push(q.route);
  }
  if (q.since !== undefined && Number.isFinite(q.since)) {
    terms.push('at >= ?');
    params.push(Math.trunc(q.since));
  }
  if (q.until !== undefined && Number.isFinite(q.until)) {
    terms.push('at <= ?');
    params.push(Math.trunc(q.until));
  }
  return { sql: terms.length === 0 ? '' : ` WHERE ${terms.join(' AND ')}`, params };
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_'));
}

export interface AuditStoreOptions {
  readonly retentionDays: number;
  /** Errors of the store (never thrown at a request). */
  readonly logger?: Logger;
  /** Clock, for tests. */
  readonly now?: () => number;
}

/** The SQLite audit trail of one process. The file is created on the first event written. */
export class AuditStore {
  readonly path: string;
  readonly #retentionMs: number;
  readonly #logger: Logger | undefined;
  readonly #now: () => number;
  #db: Database.Database | undefined;
  #stmt:
    | {
        last: Database.Statement<[], { seq: number; hash: string }>;
        anchor: Database.Statement<[], { value: string }>;
        setAnchor: Database.Statement<[string]>;
        insert: Database.Statement<[DbRow]>;
        window: Database.Statement<[number, number], { seq: number; at: number; hash: string }>;
        deleteUpTo: Database.Statement<[number]>;
        chain: Database.Statement<[number], DbRow>;
      }
    | undefined;
  #buffer: SecurityEvent[] = [];
  #timer: NodeJS.Timeout | undefined;
  #retryMs = 0;
  #dropped = 0;
  #lastErrorLog = 0;
  #closed = false;

  constructor(path: string, options: AuditStoreOptions) {
    this.path = path;
    this.#retentionMs = options.retentionDays * DAY_MS;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
  }

  /** Buffers one event; it is written with the others of its batch within a few milliseconds. */
  append(e: SecurityEvent): void {
    if (this.#closed) return;
    if (this.#buffer.length >= MAX_BUFFER) {
      this.#buffer.shift();
      this.#dropped++;
    }
    this.#buffer.push(e);
    if (this.#timer === undefined) this.#schedule(FLUSH_MS);
  }

  /** Events waiting to be written. */
  get pending(): number {
    return this.#buffer.length;
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, ms);
    this.#timer.unref();
  }

  /** Opens the database; with `create`, creates the file (owner-only, directory 0700) first. */
  #open(create: boolean): Database.Database | undefined {
    if (this.#db !== undefined) return this.#db;
    if (this.#closed) return undefined;
    if (!existsSync(this.path)) {
      if (!create) return undefined;
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      try {
        closeSync(openSync(this.path, 'wx', 0o600));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    const db = new Database(this.path, { fileMustExist: true });
    try {
      // Opening (once per process) may wait a little for another process; afterwards no wait: a
      // busy file is retried a few ms later by a timer, never waited for on the event loop (a
      // request must not stall behind another gateway's write).
      db.pragma('busy_timeout = 1000');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      db.pragma('busy_timeout = 0');
      this.#stmt = {
        last: db.prepare('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1'),
        anchor: db.prepare("SELECT value FROM audit_meta WHERE key = 'anchor'"),
        setAnchor: db.prepare(
          "INSERT INTO audit_meta (key, value) VALUES ('anchor', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        ),
        insert: db.prepare(
          `INSERT INTO audit_events (seq, at, type, severity, request_id, route, ip, actor, code, detail, prev_hash, hash)
           VALUES (@seq, @at, @type, @severity, @request_id, @route, @ip, @actor, @code, @detail, @prev_hash, @hash)`,
        ),
        window: db.prepare('SELECT seq, at, hash FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?'),
        deleteUpTo: db.prepare('DELETE FROM audit_events WHERE seq <= ?'),
        chain: db.prepare('SELECT * FROM audit_events WHERE seq > ? ORDER BY seq'),
      };
    } catch (err) {
      db.close();
      this.#stmt = undefined;
      throw err;
    }
    this.#db = db;
    return db;
  }

  /** Where the chain starts: the last deleted row (retention), or the genesis. */
  #anchor(): { seq: number; hash: string } {
    const stmt = this.#stmt;
    const a = stmt?.anchor.get();
    if (a === undefined) return { seq: 0, hash: GENESIS_HASH };
    try {
      const v = JSON.parse(a.value) as { seq?: unknown; hash?: unknown };
      if (typeof v.seq === 'number' && typeof v.hash === 'string') return { seq: v.seq, hash: v.hash };
    } catch {
      // An unreadable anchor: verify() reports the first row as broken.
    }
    return { seq: 0, hash: 'invalid-anchor' };
  }

  /** Writes the waiting events in one BEGIN IMMEDIATE transaction. Returns how many were written. */
  flush(): number {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#buffer.length === 0) return 0;
    const batch = this.#buffer;
    try {
      const db = this.#open(true);
      if (db === undefined) return 0;
      db.transaction((events: SecurityEvent[]) => {
        const stmt = this.#stmt;
        if (stmt === undefined) throw new Error('audit store not open');
        let prev = stmt.last.get() ?? this.#anchor();
        for (const e of events) {
          const row = {
            seq: prev.seq + 1,
            at: Math.trunc(e.at),
            type: String(e.type),
            severity: String(e.severity),
            request_id: str(e.requestId),
            route: str(e.route),
            ip: str(e.ip),
            actor: str(e.actor),
            code: str(e.code),
            detail: detailText(e.detail),
            prev_hash: prev.hash,
          };
          const hash = rowHash(row);
          stmt.insert.run({ ...row, hash });
          prev = { seq: row.seq, hash };
        }
      }).immediate(batch);
    } catch (err) {
      // Kept for the next attempt: soon when another process holds the lock, with a growing
      // backoff when the file cannot be written (a full disk, bad permissions…).
      if (isBusy(err)) {
        if (!this.#closed) this.#schedule(5 + Math.floor(Math.random() * 20));
        return 0;
      }
      this.#retryMs = Math.min(this.#retryMs === 0 ? 100 : this.#retryMs * 2, 5000);
      if (!this.#closed) this.#schedule(this.#retryMs);
      this.#logError(err, 'audit trail: cannot write events (kept for a retry)');
      return 0;
    }
    this.#retryMs = 0;
    this.#buffer = this.#buffer === batch ? [] : this.#buffer.slice(batch.length);
    if (this.#dropped > 0) {
      this.#logger?.error(
        { log: 'audit', dropped: this.#dropped },
        'audit trail: events were dropped while the database could not be written',
      );
      this.#dropped = 0;
    }
    return batch.length;
  }

  #logError(err: unknown, msg: string): void {
    const now = Date.now();
    if (now - this.#lastErrorLog < 60_000) return;
    this.#lastErrorLog = now;
    this.#logger?.error({ err, path: this.path }, msg);
  }

  /**
   * Deletes the events older than the retention, oldest first, in chunks; the hash of the last
   * deleted row becomes the anchor verify() starts from. Returns how many rows were deleted.
   */
  prune(now: number = this.#now()): number {
    if (this.#open(false) === undefined) return 0;
    const db = this.#db as Database.Database;
    const stmt = this.#stmt;
    if (stmt === undefined) return 0;
    const cutoff = now - this.#retentionMs;
    let deleted = 0;
    for (;;) {
      const n = db
        .transaction(() => {
          // The next chunk of the chain: delete its prefix of old rows (stop at the first kept one).
          const anchor = this.#anchor();
          let last: { seq: number; hash: string } | undefined;
          for (const r of stmt.window.iterate(anchor.seq, PRUNE_CHUNK)) {
            if (r.at >= cutoff) break;
            last = { seq: r.seq, hash: r.hash };
          }
          if (last === undefined) return 0;
          const removed = stmt.deleteUpTo.run(last.seq).changes;
          stmt.setAnchor.run(JSON.stringify(last));
          return removed;
        })
        .immediate();
      deleted += n;
      if (n < PRUNE_CHUNK) break;
    }
    return deleted;
  }

  /** Events matching the filters, newest first (limit: 100 by default, 1000 at most). */
  query(q: AuditQuery = {}): AuditRow[] {
    this.flush();
    const db = this.#open(false);
    if (db === undefined) return [];
    const { sql, params } = where(q);
    const limit = Math.max(
      1,
      Math.min(MAX_LIMIT, Math.trunc(q.limit !== undefined && q.limit > 0 ? q.limit : DEFAULT_LIMIT)),
    );
    const rows = db
      .prepare(`SELECT * FROM audit_events${sql} ORDER BY at DESC, seq DESC LIMIT ?`)
      .all(...params, limit) as DbRow[];
    return rows.map(toRow);
  }

  /** Writes the matching events as JSON lines, oldest first (all of them unless q.limit). */
  exportJsonl(q: AuditQuery, write: (line: string) => void): number {
    this.flush();
    const db = this.#open(false);
    if (db === undefined) return 0;
    const { sql, params } = where(q);
    const limited = q.limit !== undefined && q.limit > 0;
    const stmt = db.prepare(`SELECT * FROM audit_events${sql} ORDER BY seq${limited ? ' LIMIT ?' : ''}`);
    let n = 0;
    for (const r of stmt.iterate(...params, ...(limited ? [Math.trunc(q.limit as number)] : []))) {
      write(`${JSON.stringify(toRow(r as DbRow))}\n`);
      n++;
    }
    return n;
  }

  /** Walks the chain from its anchor: every row must follow its predecessor and hash right. */
  verify(): VerifyResult {
    this.flush();
    const db = this.#open(false);
    if (db === undefined) return { ok: true, checked: 0 };
    const stmt = this.#stmt;
    if (stmt === undefined) return { ok: true, checked: 0 };
    // One read transaction: a consistent snapshot while other processes keep appending.
    return db.transaction((): VerifyResult => {
      let prev = this.#anchor();
      let checked = 0;
      for (const r of stmt.chain.iterate(prev.seq)) {
        checked++;
        let reason: string | undefined;
        if (r.seq !== prev.seq + 1) reason = `expected seq ${prev.seq + 1} (rows missing before it)`;
        else if (r.prev_hash !== prev.hash) reason = 'prev_hash does not match the previous row';
        else if (rowHash(r) !== r.hash) reason = 'the row was changed (hash mismatch)';
        if (reason !== undefined) return { ok: false, checked, brokenAt: r.seq, reason };
        prev = { seq: r.seq, hash: r.hash };
      }
      return { ok: true, checked };
    })();
  }

  /** Writes what is waiting (waiting a little for another process's lock) and closes the database. */
  close(): void {
    if (this.#closed) return;
    if (this.#buffer.length > 0) {
      try {
        this.#db?.pragma('busy_timeout = 2000');
      } catch {
        // Closing anyway.
      }
      this.flush();
    }
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#db?.close();
    this.#db = undefined;
    this.#stmt = undefined;
  }
}

/** Stores of the attached hubs: what is still buffered is written (synchronously) at process exit. */
const openStores = new Set<AuditStore>();

function flushAtExit(): void {
  for (const store of openStores) {
    try {
      store.flush();
    } catch {
      // Exiting: nothing more to do.
    }
  }
}

/**
 * authz.deny is already on the log as "authorization.deny" by the authorization plugins' own
 * audit (src/observability/audit.ts), with the plugin, rule and reason; only the hidden-object
 * 404 of the policy plugin is not.
 */
function loggedElsewhere(e: SecurityEvent): boolean {
  return e.type === 'authz.deny' && e.code !== 'policy:not-found';
}

/** One `"log":"audit"` line per security event on the gateway log. */
function logEvent(logger: Logger, e: SecurityEvent): void {
  const line = {
    log: 'audit',
    event: e.type,
    severity: e.severity,
    reqId: e.requestId,
    route: e.route,
    clientIp: e.ip,
    actor: e.actor,
    code: e.code,
    detail: e.detail,
  };
  if (e.severity === 'critical') logger.error(line, 'security event');
  else if (e.severity === 'warning') logger.warn(line, 'security event');
  else logger.info(line, 'security event');
}

/**
 * Attaches the audit trail to the hub: every security event is logged and appended to the SQLite
 * file `config.path` (created on the first event). Sets obs.auditPart for the admin API.
 */
export function attachAudit(obs: Observability, config: AuditConfig): AuditStore | undefined {
  if (obs.auditPart !== undefined) return undefined; // attached once per hub: one row per event
  const logger = obs.logger;
  const store = new AuditStore(config.path, { retentionDays: config.retentionDays, logger });
  const off = obs.events.on((e) => {
    if (!loggedElsewhere(e)) logEvent(logger, e);
    store.append(e);
  });
  let retry: NodeJS.Timeout | undefined;
  const prune = (attempt = 0): void => {
    retry = undefined;
    try {
      const n = store.prune();
      if (n > 0) logger.info({ log: 'audit', deleted: n }, 'audit trail: old events deleted (retention)');
    } catch (err) {
      if (!isBusy(err)) logger.error({ err }, 'audit trail: retention failed');
      else if (attempt < 20) {
        // Another process is writing: try again shortly (never wait for the lock on the event loop).
        retry = setTimeout(() => prune(attempt + 1), 200 + Math.floor(Math.random() * 300));
        retry.unref();
      }
    }
  };
  // At start (off the constructor's path) and then daily.
  const first = setImmediate(() => prune());
  first.unref();
  const daily = setInterval(() => prune(), DAY_MS);
  daily.unref();
  const part: AuditPart = {
    query: (q) => store.query(q),
    exportJsonl: (q, write) => store.exportJsonl(q, write),
    verify: () => store.verify(),
  };
  obs.auditPart = part;
  openStores.add(store);
  if (openStores.size === 1) process.on('exit', flushAtExit);
  obs.own({
    close() {
      off();
      clearImmediate(first);
      clearInterval(daily);
      if (retry !== undefined) clearTimeout(retry);
      openStores.delete(store);
      if (openStores.size === 0) process.off('exit', flushAtExit);
      try {
        store.close();
      } catch (err) {
        logger.error({ err }, 'audit trail: close failed');
      }
    },
  });
  return store;
}

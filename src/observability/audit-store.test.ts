import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import Database from 'better-sqlite3';
import { type AuditStore, attachAudit, canonicalJson, GENESIS_HASH } from './audit-store.js';
import type { SecurityEvent } from './events.js';
import { Observability } from './hub.js';
import { createLogger } from './logger.js';
import { type ObservabilityConfig, ObservabilitySchema } from './schema.js';

const root = mkdtempSync(join(tmpdir(), 'pcl-audit-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshPath = (): string => join(root, `d${++n}`, 'sub', 'audit.db');

const DAY = 86_400_000;

function event(over: Partial<SecurityEvent> = {}): SecurityEvent {
  return {
    type: 'auth.failure',
    at: Date.now(),
    severity: 'warning',
    requestId: `req-${Math.random().toString(36).slice(2, 8)}`,
    route: 'items',
    ip: '10.0.0.1',
    actor: 'key_abc',
    code: 'UNAUTHENTICATED',
    detail: { reason: 'expired', method: 'api-key' },
    ...over,
  };
}

function hub(path: string, retentionDays = 90) {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const config: ObservabilityConfig = {
    ...Value.Create(ObservabilitySchema),
    audit: { enabled: true, path, retentionDays },
  };
  const obs = new Observability(config, createLogger('info', sink), {
    inFlight: () => 0,
    configVersion: () => 1,
    startedAt: Date.now(),
  });
  const store = attachAudit(obs, config.audit) as AuditStore;
  return { obs, store, logs };
}

function raw(path: string): Database.Database {
  return new Database(path);
}

describe('audit store', () => {
  it('creates no file until an event comes, then an owner-only file in a 0700 directory', async () => {
    const path = freshPath();
    const { obs, store } = hub(path);
    assert.deepEqual(obs.auditPart?.query({}), []);
    assert.deepEqual(obs.auditPart?.verify(), { ok: true, checked: 0 });
    assert.equal(
      obs.auditPart?.exportJsonl({}, () => undefined),
      0,
    );
    assert.equal(store.prune(), 0);
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(existsSync(path), false);
    assert.equal(existsSync(join(path, '..')), false);
    obs.emit(event());
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(existsSync(path), true);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
    await obs.close();
    const closed = hub(freshPath());
    await closed.obs.close();
    assert.equal(existsSync(closed.store.path), false);
  });

  it('writes buffered events in one batch, with every field, in WAL mode', async () => {
    const path = freshPath();
    const { obs, store } = hub(path);
    const e = event({ detail: { z: 1, a: { y: 2, b: [3] } } });
    obs.emit(e);
    obs.emit(event({ type: 'rate.limited', severity: 'info', code: 'RATE_LIMITED', detail: undefined }));
    assert.equal(store.pending, 2);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(store.pending, 0);
    const db = raw(path);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    const rows = db.prepare('SELECT * FROM audit_events ORDER BY seq').all() as Record<string, unknown>[];
    db.close();
    assert.equal(rows.length, 2);
    const [first, second] = rows as [Record<string, unknown>, Record<string, unknown>];
    assert.equal(first.seq, 1);
    assert.equal(first.at, e.at);
    assert.equal(first.type, 'auth.failure');
    assert.equal(first.severity, 'warning');
    assert.equal(first.request_id, e.requestId);
    assert.equal(first.route, 'items');
    assert.equal(first.ip, '10.0.0.1');
    assert.equal(first.actor, 'key_abc');
    assert.equal(first.code, 'UNAUTHENTICATED');
    assert.equal(first.detail, '{"a":{"b":[3],"y":2},"z":1}');
    assert.equal(first.prev_hash, GENESIS_HASH);
    assert.match(String(first.hash), /^[0-9a-f]{64}$/);
    assert.equal(second.prev_hash, first.hash);
    assert.equal(second.detail, null);
    assert.deepEqual(obs.auditPart?.verify(), { ok: true, checked: 2 });
    await obs.close();
  });

  it('logs each event as a "log":"audit" line, but not the authorization denies audit.ts logs already', async () => {
    const { obs, logs } = hub(freshPath());
    obs.emit(event({ requestId: 'r1' }));
    obs.emit(
      event({ type: 'authz.deny', requestId: 'r2', code: 'rbac:require.permissions', detail: undefined }),
    );
    obs.emit(event({ type: 'authz.deny', requestId: 'r3', code: 'policy:not-found', detail: undefined }));
    obs.emit(event({ type: 'config.applied', severity: 'info', requestId: undefined, code: 'v2' }));
    await obs.close();
    await new Promise((r) => setTimeout(r, 50));
    const audit = logs.filter((l) => l.log === 'audit');
    assert.deepEqual(
      audit.map((l) => [l.event, l.reqId ?? null]),
      [
        ['auth.failure', 'r1'],
        ['authz.deny', 'r3'],
        ['config.applied', null],
      ],
    );
    assert.equal(audit[0]?.clientIp, '10.0.0.1');
    assert.equal(audit[0]?.actor, 'key_abc');
  });

  it('attaches once per hub: one row per event', async () => {
    const path = freshPath();
    const { obs } = hub(path);
    assert.equal(attachAudit(obs, { enabled: true, path, retentionDays: 90 }), undefined);
    obs.emit(event({ type: 'authz.deny', code: 'rbac:require.permissions' }));
    assert.equal(obs.auditPart?.query({}).length, 1);
    await obs.close();
  });

  it('detects an edited, a deleted and a swapped row', async () => {
    for (const tamper of [
      (db: Database.Database) =>
        db.prepare(`UPDATE audit_events SET detail = '{"reason":"ok"}' WHERE seq = 3`).run(),
      (db: Database.Database) => db.prepare(`UPDATE audit_events SET at = at + 1 WHERE seq = 3`).run(),
      (db: Database.Database) => db.prepare('DELETE FROM audit_events WHERE seq = 3').run(),
      (db: Database.Database) => {
        // Swap rows 3 and 4 (contents, hashes included), keeping the seq numbers.
        const cols = 'at, type, severity, request_id, route, ip, actor, code, detail, prev_hash, hash';
        db.exec(`
          CREATE TEMP TABLE t AS SELECT seq, ${cols} FROM audit_events WHERE seq IN (3, 4);
          UPDATE audit_events SET (${cols}) = (SELECT ${cols} FROM t WHERE t.seq = 7 - audit_events.seq) WHERE seq IN (3, 4);`);
      },
      (db: Database.Database) => {
        // Moving a row to another place, with a recomputed seq order, breaks the links.
        db.exec('UPDATE audit_events SET seq = 100 WHERE seq = 3');
      },
    ]) {
      const path = freshPath();
      const { obs } = hub(path);
      for (let i = 0; i < 6; i++) obs.emit(event({ at: Date.now() + i, actor: `u${i}` }));
      assert.deepEqual(obs.auditPart?.verify(), { ok: true, checked: 6 });
      const db = raw(path);
      tamper(db);
      db.close();
      const r = obs.auditPart?.verify();
      assert.equal(r?.ok, false, String(tamper));
      assert.ok(r?.brokenAt === 3 || r?.brokenAt === 4, `${String(tamper)}: ${JSON.stringify(r)}`);
      await obs.close();
    }
  });

  it('retention deletes old rows and keeps an anchor, so the chain still verifies', async () => {
    const path = freshPath();
    const { obs, store } = hub(path, 30);
    const now = Date.now();
    for (let i = 0; i < 10; i++) obs.emit(event({ at: now - 40 * DAY + i, actor: `old${i}` }));
    for (let i = 0; i < 5; i++) obs.emit(event({ at: now - DAY + i, actor: `new${i}` }));
    store.flush();
    assert.equal(store.prune(now), 10);
    assert.equal(store.prune(now), 0);
    const left = obs.auditPart?.query({ limit: 1000 }) as { seq: number; actor: string }[];
    assert.deepEqual(
      left.map((r) => r.actor),
      ['new4', 'new3', 'new2', 'new1', 'new0'],
    );
    assert.deepEqual(obs.auditPart?.verify(), { ok: true, checked: 5 });
    // New events chain on; deleting the oldest kept row still shows.
    obs.emit(event({ at: now + 1 }));
    assert.deepEqual(obs.auditPart?.verify(), { ok: true, checked: 6 });
    const db = raw(path);
    db.prepare('DELETE FROM audit_events WHERE seq = 11').run();
    db.close();
    assert.deepEqual(
      { ...obs.auditPart?.verify(), reason: undefined },
      { ok: false, checked: 1, brokenAt: 12, reason: undefined },
    );
    await obs.close();
  });

  it('retention of every row keeps numbering and chaining from the anchor', async () => {
    const path = freshPath();
    const { obs, store } = hub(path, 1);
    const now = Date.now();
    for (let i = 0; i < 12_000; i++) store.append(event({ at: now - 3 * DAY + i }));
    store.flush();
    assert.equal(store.prune(now), 10_000); // MAX_BUFFER: the oldest 2,000 never waited long enough
    assert.deepEqual(obs.auditPart?.verify(), { ok: true, checked: 0 });
    obs.emit(event({ at: now }));
    const [row] = (obs.auditPart?.query({}) ?? []) as { seq: number }[];
    assert.equal(row?.seq, 10_001);
    assert.deepEqual(obs.auditPart?.verify(), { ok: true, checked: 1 });
    await obs.close();
  });

  it('two processes appending to one file keep one linear chain', async () => {
    const path = freshPath();
    const a = hub(path);
    const b = hub(path);
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 5; i++) a.obs.emit(event({ actor: `a${round}.${i}` }));
      for (let i = 0; i < 3; i++) b.obs.emit(event({ actor: `b${round}.${i}` }));
      if (round % 2 === 0) {
        a.store.flush();
        b.store.flush();
      } else {
        await new Promise((r) => setTimeout(r, 30));
      }
    }
    await a.obs.close();
    assert.deepEqual(b.obs.auditPart?.verify(), { ok: true, checked: 160 });
    const db = raw(path);
    const seqs = db.prepare('SELECT seq FROM audit_events ORDER BY seq').pluck().all() as number[];
    db.close();
    assert.deepEqual(
      seqs,
      Array.from({ length: 160 }, (_, i) => i + 1),
    );
    await b.obs.close();
  });

  it('queries by type, actor, ip, route and time, newest first, with a bounded limit', async () => {
    const path = freshPath();
    const { obs } = hub(path);
    const t0 = Date.now() - 10_000;
    for (let i = 0; i < 1200; i++)
      obs.emit(
        event({
          at: t0 + i,
          type: i % 2 === 0 ? 'auth.failure' : 'rate.limited',
          actor: `u${i % 3}`,
          ip: `10.0.0.${i % 4}`,
          route: i % 5 === 0 ? 'login' : 'items',
        }),
      );
    const part = obs.auditPart;
    assert.ok(part);
    type R = { seq: number; at: number; type: string; actor: string; ip: string; route: string };
    const all = part.query({}) as R[];
    assert.equal(all.length, 100);
    assert.equal(all[0]?.at, t0 + 1199);
    assert.ok(all.every((r, i) => i === 0 || (all[i - 1] as R).at > r.at));
    assert.equal(part.query({ limit: 5000 }).length, 1000);
    assert.equal(part.query({ limit: 3 }).length, 3);
    const typed = part.query({ type: 'rate.limited', limit: 1000 }) as R[];
    assert.equal(typed.length, 600);
    assert.ok(typed.every((r) => r.type === 'rate.limited'));
    const mix = part.query({ actor: 'u1', ip: '10.0.0.2', route: 'login', limit: 1000 }) as R[];
    assert.ok(mix.length > 0);
    assert.ok(mix.every((r) => r.actor === 'u1' && r.ip === '10.0.0.2' && r.route === 'login'));
    assert.equal(
      mix.length,
      Array.from({ length: 1200 }, (_, i) => i).filter((i) => i % 3 === 1 && i % 4 === 2 && i % 5 === 0)
        .length,
    );
    const window = part.query({ since: t0 + 100, until: t0 + 109 }) as R[];
    assert.deepEqual(
      window.map((r) => r.at - t0),
      [109, 108, 107, 106, 105, 104, 103, 102, 101, 100],
    );
    assert.deepEqual(part.query({ type: 'block.added' }), []);
    await obs.close();
  });

  it('exports JSON lines oldest first, with the chain fields', async () => {
    const path = freshPath();
    const { obs } = hub(path);
    const t0 = Date.now();
    obs.emit(event({ at: t0, requestId: 'r1', detail: { b: 2, a: 1 } }));
    obs.emit(
      event({
        at: t0 + 1,
        type: 'key.created',
        severity: 'info',
        requestId: undefined,
        route: undefined,
        ip: undefined,
        actor: 'key_1',
        code: 'keys.create',
        detail: undefined,
      }),
    );
    obs.emit(event({ at: t0 + 2, requestId: 'r3' }));
    const lines: string[] = [];
    assert.equal(
      obs.auditPart?.exportJsonl({}, (l) => lines.push(l)),
      3,
    );
    assert.ok(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')));
    const rows = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      rows.map((r) => r.seq),
      [1, 2, 3],
    );
    assert.deepEqual(Object.keys(rows[0] as object), [
      'seq',
      'at',
      'type',
      'severity',
      'requestId',
      'route',
      'ip',
      'actor',
      'code',
      'detail',
      'prevHash',
      'hash',
    ]);
    assert.deepEqual(rows[0]?.detail, { a: 1, b: 2 });
    assert.deepEqual(rows[1], {
      seq: 2,
      at: t0 + 1,
      type: 'key.created',
      severity: 'info',
      actor: 'key_1',
      code: 'keys.create',
      prevHash: rows[0]?.hash,
      hash: rows[1]?.hash,
    });
    assert.equal(rows[2]?.prevHash, rows[1]?.hash);
    const typed: string[] = [];
    assert.equal(
      obs.auditPart?.exportJsonl({ type: 'key.created' }, (l) => typed.push(l)),
      1,
    );
    const since: string[] = [];
    assert.equal(
      obs.auditPart?.exportJsonl({ since: t0 + 1 }, (l) => since.push(l)),
      2,
    );
    await obs.close();
  });

  it('serializes details canonically', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } }),
      '{"a":{"c":null,"d":[2,{"y":2,"z":1}]},"b":1}',
    );
  });
});

describe('audit CLI options', () => {
  it('parses ISO dates and refuses anything else', async () => {
    const { parseIsoOption } = await import('../cli/audit.js');
    assert.equal(parseIsoOption('--since', '2030-01-31'), Date.parse('2030-01-31'));
    assert.equal(parseIsoOption('--since', '2030-01-31T12:00:00Z'), Date.parse('2030-01-31T12:00:00Z'));
    for (const bad of ['yesterday', '', '1d', '31/01/2030'])
      assert.throws(() => parseIsoOption('--since', bad), /--since: .* is not an ISO date/);
  });
});

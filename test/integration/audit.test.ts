import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import {
  baseConfig,
  problemOf,
  startGateway,
  startUpstream,
  TEST_IDP,
  type TestGateway,
  type TestUpstream,
  testToken,
} from '../helpers.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const STORE = fileURLToPath(new URL('../../src/observability/audit-store.js', import.meta.url));

const jwt = {
  issuers: [{ issuer: TEST_IDP.issuer, audience: ['api'], secret: TEST_IDP.secret, algorithms: ['HS256'] }],
};

function config(upstreamUrl: string, auditPath: string): Record<string, unknown> {
  return baseConfig(upstreamUrl, {
    routes: [
      {
        id: 'items',
        path: '/items',
        methods: ['GET'],
        upstream: 'api',
        plugins: { rbac: { require: { anyAuthenticated: true } } },
      },
      {
        id: 'admin-users',
        path: '/admin/users/:id',
        methods: ['DELETE'],
        upstream: 'api',
        plugins: { rbac: { require: { permissions: ['users:delete'] } } },
      },
    ],
    plugins: {
      jwt,
      authentication: { anonymous: false },
      authorization: { allow: 'rules' },
      rbac: { roles: { member: { permissions: ['orders:read'] } } },
    },
    observability: { audit: { path: auditPath } },
  });
}

interface Cli {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Cli> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function until<T>(fn: () => T | undefined, timeoutMs = 2000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

type Row = Record<string, unknown> & { seq: number };

describe('audit trail through the gateway', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let dir: string;
  let auditPath: string;
  let configFile: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pcl-audit-it-'));
    auditPath = join(dir, 'state', 'audit.db');
    upstream = await startUpstream();
    const cfg = config(upstream.url, auditPath);
    configFile = join(dir, 'portcullis.yaml');
    writeFileSync(configFile, JSON.stringify(cfg));
    gw = await startGateway(cfg);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('no file is created while no security event happens', async () => {
    const ok = await fetch(`${gw.url}/items`, {
      headers: { authorization: `Bearer ${await testToken('ann')}` },
    });
    assert.equal(ok.status, 200);
    await ok.text();
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(existsSync(auditPath), false);
    assert.deepEqual(gw.gateway.obs.auditPart?.verify(), { ok: true, checked: 0 });
    const v = await cli(['audit', 'verify', '--config', configFile]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /no event recorded yet/);
    assert.equal(existsSync(auditPath), false);
  });

  it('a 401 and a 403 land in the database with the right fields', async () => {
    const bad = await fetch(`${gw.url}/items`, {
      headers: { authorization: `Bearer ${await testToken('eve', {}, 'x'.repeat(32))}` },
    });
    assert.equal(bad.status, 401);
    const p401 = problemOf(bad.headers.get('content-type'), await bad.text());
    const denied = await fetch(`${gw.url}/admin/users/42`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${await testToken('mia', { roles: ['member'] })}` },
    });
    assert.equal(denied.status, 403);
    const p403 = problemOf(denied.headers.get('content-type'), await denied.text());

    const part = gw.gateway.obs.auditPart;
    assert.ok(part);
    const rows = await until(() => {
      const r = part.query({}) as Row[];
      return r.length >= 2 ? r : undefined;
    });
    assert.equal(rows.length, 2);
    const [deny, failure] = rows as [Row, Row];
    assert.equal(failure.type, 'auth.failure');
    assert.equal(failure.severity, 'warning');
    assert.equal(failure.requestId, p401.requestId);
    assert.equal(failure.route, 'items');
    assert.equal(failure.ip, '127.0.0.1');
    assert.equal(failure.code, 'UNAUTHENTICATED');
    assert.equal((failure.detail as Record<string, unknown>).method, 'jwt');
    assert.equal(typeof (failure.detail as Record<string, unknown>).reason, 'string');
    assert.equal(deny.type, 'authz.deny');
    assert.equal(deny.requestId, p403.requestId);
    assert.equal(deny.route, 'admin-users');
    assert.equal(deny.actor, 'jwt:https://idp.test|mia');
    assert.equal(deny.code, 'rbac:require.permissions');
    assert.equal(deny.prevHash, failure.hash);
    // One row per decision: the authorization plugin's own audit line is not a second row.
    assert.equal(part.query({ type: 'authz.deny' }).length, 1);
    assert.equal(statSync(auditPath).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'state')).mode & 0o777, 0o700);
    const lines = gw.logs.filter((l) => l.log === 'audit' && l.reqId === p401.requestId);
    assert.deepEqual(
      lines.map((l) => l.event),
      ['auth.failure'],
    );
  });

  it('verify and export through the CLI; a tampered row is detected (exit 1, where)', async () => {
    // A few more events to tamper with in the middle.
    for (let i = 0; i < 4; i++) {
      const r = await fetch(`${gw.url}/items`, {
        headers: { authorization: `Bearer ${await testToken(`u${i}`, {}, 'y'.repeat(32))}` },
      });
      await r.text();
    }
    const part = gw.gateway.obs.auditPart;
    assert.ok(part);
    await until(() => (part.query({}).length >= 6 ? true : undefined));
    assert.deepEqual(part.verify(), { ok: true, checked: 6 });

    const ok = await cli(['audit', 'verify', '--config', configFile]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /intact \(6 events checked\)/);

    const out = join(dir, 'export.jsonl');
    const exp = await cli([
      'audit',
      'export',
      '--config',
      configFile,
      '--type',
      'auth.failure',
      '--out',
      out,
    ]);
    assert.equal(exp.code, 0, exp.stderr);
    assert.match(exp.stderr, /5 audit events exported/);
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    const rows = lines.map((l) => JSON.parse(l) as Row);
    assert.equal(rows.length, 5);
    assert.ok(rows.every((r) => r.type === 'auth.failure'));
    assert.ok(rows.every((r, i) => i === 0 || (rows[i - 1] as Row).seq < r.seq));
    assert.equal(statSync(out).mode & 0o777, 0o600);
    // Somebody edits a row's detail.
    const db = new Database(auditPath);
    const original = db.prepare('SELECT detail FROM audit_events WHERE seq = 4').pluck().get() as string;
    db.prepare(`UPDATE audit_events SET detail = '{"method":"jwt","reason":"fine"}' WHERE seq = 4`).run();
    db.close();
    assert.deepEqual(
      { ...part.verify(), reason: undefined },
      {
        ok: false,
        checked: 4,
        brokenAt: 4,
        reason: undefined,
      },
    );
    const broken = await cli(['audit', 'verify', '--config', configFile]);
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /BROKEN at seq 4/);
    // Put it back: intact again; then delete a middle row.
    const db2 = new Database(auditPath);
    db2.prepare('UPDATE audit_events SET detail = ? WHERE seq = 4').run(original);
    assert.deepEqual(part.verify(), { ok: true, checked: 6 });
    db2.prepare('DELETE FROM audit_events WHERE seq = 3').run();
    db2.close();
    const deleted = await cli(['audit', 'verify', '--config', configFile, '--json']);
    assert.equal(deleted.code, 1);
    assert.equal((JSON.parse(deleted.stdout) as { brokenAt: number }).brokenAt, 4);
    assert.equal(part.verify().brokenAt, 4);
  });
});

describe('audit trail shared by several processes', () => {
  it('child processes appending to one file at once keep one valid chain', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcl-audit-mp-'));
    try {
      const path = join(dir, 'audit.db');
      const script = `
        const { AuditStore } = await import(${JSON.stringify(STORE)});
        const s = new AuditStore(${JSON.stringify(path)}, { retentionDays: 90 });
        const who = process.argv[1];
        for (let round = 0; round < 40; round++) {
          for (let i = 0; i < 10; i++)
            s.append({ type: 'rate.limited', at: Date.now(), severity: 'info', actor: who + ':' + round + ':' + i });
          await new Promise((r) => setTimeout(r, round % 3));
          s.flush();
        }
        while (s.pending > 0) { await new Promise((r) => setTimeout(r, 20)); s.flush(); }
        s.close();
      `;
      const run = (who: string) =>
        new Promise<number>((resolve) => {
          const child = spawn(process.execPath, ['--input-type=module', '-e', script, who], {
            stdio: ['ignore', 'ignore', 'inherit'],
          });
          child.on('exit', (code) => resolve(code ?? 1));
        });
      const codes = await Promise.all(['a', 'b', 'c'].map(run));
      assert.deepEqual(codes, [0, 0, 0]);
      const { AuditStore } = await import('../../src/observability/audit-store.js');
      const store = new AuditStore(path, { retentionDays: 90 });
      assert.deepEqual(store.verify(), { ok: true, checked: 1200 });
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import assert from 'node:assert/strict';
import {
  appendFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { configHistoryCommand, configRollbackCommand } from '../../src/cli/config.js';
import { type Started, startGateway } from '../../src/cli/start.js';
import { ConfigError } from '../../src/config/errors.js';
import { FileConfigHistory, sha256Of } from '../../src/config/history.js';
import type { SecurityEvent } from '../../src/observability/events.js';
import { createLogger } from '../../src/observability/logger.js';
import { ConfigReloader } from '../../src/server/reload.js';
import { problemOf, startUpstream, type TestUpstream } from '../helpers.js';

/**
 * Hot reload through the real start path (`portcullis start` minus the signals): a config file in a
 * temp directory, watched; a real upstream; the history in a directory; rollback through the CLI.
 */

const SECRET = 'reload-test-secret-value-0123456789';
const ADMIN_TOKEN = 'reload-admin-token-0123456789abcdef0123';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it holds (bounded). */
async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

/** What an editor does: write a temp file, rename it over the config. */
function replaceFile(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

function captureLogger(logs: Record<string, unknown>[]) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return createLogger('info', sink);
}

function textSink(): { out: Writable; text: () => string } {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString('utf8');
      cb();
    },
  });
  return { out, text: () => text };
}

describe('hot reload of the config file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-reload-'));
  const file = join(dir, 'portcullis.yaml');
  const historyDir = join(dir, 'history');
  const logs: Record<string, unknown>[] = [];
  const events: SecurityEvent[] = [];
  let upstream: TestUpstream;
  let started: Started;
  let url: string;
  let admin: string;

  /** A config around the test upstream; `extra` routes and plugins on top. */
  function config(extra: { routes?: unknown[]; plugins?: Record<string, unknown>; admin?: object } = {}) {
    return {
      listeners: [{ name: 'main', host: '127.0.0.1', port: 0 }],
      upstreams: { api: { url: '${env:PC_RELOAD_UPSTREAM}', connectTimeoutMs: 500 } },
      routes: [
        { id: 'items', path: '/items', methods: ['GET', 'POST'], upstream: 'api' },
        ...(extra.routes ?? []),
      ],
      plugins: {
        authentication: { anonymous: true },
        authorization: { allow: 'authenticated' },
        ...extra.plugins,
      },
      admin: {
        enabled: true,
        port: 0,
        tokens: [{ name: 'ada', role: 'admin', token: '${env:PC_RELOAD_ADMIN}' }],
        ...extra.admin,
      },
      observability: { audit: { path: join(dir, 'audit.db') } },
      stores: { keys: { path: join(dir, 'keys.db') } },
      reload: { debounceMs: 50, history: { dir: historyDir, keep: 20 } },
    };
  }
  const fresh = { id: 'fresh', path: '/fresh', methods: ['GET'], upstream: 'api' };
  const v1 = stringify(config());
  const v2 = stringify(config({ routes: [fresh] }));

  const status = async (path: string, init?: RequestInit): Promise<number> =>
    (await fetch(`${url}${path}`, init)).status;
  const reloaded = (n: number) => logs.filter((l) => l.msg === 'config reloaded').length >= n;
  const failedLogs = () => logs.filter((l) => l.msg === 'reload failed; keeping the running config');
  const metric = async (name: string): Promise<number> => {
    const text = (await started.gateway.obs.metricsPart?.render()) ?? '';
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
  };
  const adminCall = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${admin}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.headers ?? {}) },
    });
    return { status: res.status, body: JSON.parse(await res.text()) as Record<string, unknown> };
  };

  before(async () => {
    upstream = await startUpstream();
    process.env.PC_RELOAD_UPSTREAM = upstream.url;
    process.env.PC_RELOAD_ADMIN = ADMIN_TOKEN;
    process.env.PC_RELOAD_SECRET = SECRET;
    writeFileSync(file, v1);
    started = await startGateway(file, { handleSignals: false, logger: captureLogger(logs) });
    started.gateway.obs.events.on((e) => events.push(e));
    url = (started.listeners[0] as { url: string }).url;
    admin = started.gateway.admin?.url ?? '';
  });
  after(async () => {
    await started.stop(500);
    await upstream.close();
  });

  it('a file replaced by an editor is picked up by the watch: the new route answers', async () => {
    assert.equal(await status('/fresh'), 404);
    replaceFile(file, v2);
    await until('the new route answers', async () => (await status('/fresh')) === 200);
    assert.equal(await status('/items'), 200);
    // Counted once the applied config is recorded (a moment after the swap).
    await until(
      'the reload is counted',
      async () => (await metric('portcullis_config_reload_total{result="success"}')) === 1,
    );
    assert.equal(await metric('portcullis_config_last_reload_success'), 1);
  });

  it('the same bytes written again are not reloaded (content hash)', async () => {
    const before = logs.filter((l) => l.msg === 'config reloaded').length;
    writeFileSync(file, v2);
    await sleep(300);
    assert.equal(logs.filter((l) => l.msg === 'config reloaded').length, before);
  });

  it('a bad config on reload keeps the old plan serving, logs why (no secret), and sets the metrics', async () => {
    const plan = started.gateway.plan;
    // YAML error, written in place.
    writeFileSync(file, `${v2}routes: [\n`);
    await until('the YAML error is logged', () => failedLogs().length >= 1);
    assert.match(JSON.stringify(failedLogs()[0]?.issues), /YAML syntax/);
    assert.equal(await status('/fresh'), 200, 'the running plan still serves');
    assert.equal(await metric('portcullis_config_reload_total{result="failure"}'), 1);
    assert.equal(await metric('portcullis_config_last_reload_success'), 0);
    const at = await metric('portcullis_config_last_reload_timestamp_seconds');
    assert.ok(Math.abs(at - Date.now() / 1000) < 10, `timestamp ${at}`);

    // Schema error.
    replaceFile(file, stringify({ ...config({ routes: [fresh] }), routes: 3 }));
    await until('the schema error is logged', () => failedLogs().length >= 2);
    assert.match(JSON.stringify(failedLogs()[1]?.issues), /"path":"routes"/);

    // Valid to the schema, refused at compile; its message would quote an environment value.
    replaceFile(
      file,
      stringify(config({ routes: [fresh], admin: { allowFrom: ['127.0.0.1', '${env:PC_RELOAD_SECRET}'] } })),
    );
    await until('the compile error is logged', () => failedLogs().length >= 3);
    assert.match(JSON.stringify(failedLogs()[2]?.issues), /admin\.allowFrom/);
    assert.match(JSON.stringify(failedLogs()[2]?.issues), /\[redacted\]/, 'the quoted value is scrubbed');

    assert.equal(started.gateway.plan, plan, 'the plan was never replaced');
    assert.equal(await status('/fresh'), 200);
    assert.equal(await metric('portcullis_config_reload_total{result="failure"}'), 3);
    assert.equal(await metric('portcullis_config_reload_total{result="success"}'), 1);
    assert.equal(events.filter((e) => e.type === 'config.rejected').length, 3);
    assert.ok(!JSON.stringify(logs).includes(SECRET), 'no environment value in any log line');
  });

  it('every applied config is in the history directory, with its exact text', async () => {
    const entries = await FileConfigHistory.reader(historyDir).list();
    assert.deepEqual(
      entries.map((e) => [e.seq, e.by, e.source]),
      [
        [1, 'startup', file],
        [2, 'file', file],
      ],
    );
    assert.equal(await FileConfigHistory.reader(historyDir).read(2), v2);
    const { out, text } = textSink();
    await configHistoryCommand(file, false, { out });
    // The file is the refused config now: no entry is marked as the current file.
    assert.doesNotMatch(text(), /current/);
    assert.match(text(), /\n\s+1 .* startup /);
    const api = await adminCall('/api/v1/config/history');
    assert.equal(api.status, 200);
    assert.deepEqual(
      (api.body.versions as { version: number; running: boolean; sha256: string }[]).map((v) => [
        v.version,
        v.running,
        v.sha256,
      ]),
      [
        [1, false, entries[0]?.sha256],
        [2, true, entries[1]?.sha256],
      ],
    );
  });

  it('rollback through the CLI: first back to the last good config, then to the one before; the gateway follows', async () => {
    const { out, text } = textSink();
    // The file holds a refused config: the newest entry that differs is the running one.
    await configRollbackCommand(file, undefined, { out });
    assert.match(text(), /now holds history entry 2/);
    assert.match(text(), /SIGHUP/);
    assert.equal(readFileSync(file, 'utf8'), v2);
    await configRollbackCommand(file, undefined, { out });
    assert.match(text(), /now holds history entry 1/);
    assert.equal(readFileSync(file, 'utf8'), v1);
    await until('the route is gone again', async () => (await status('/fresh')) === 404);
    await until('history entry 3 recorded', async () => {
      const last = (await FileConfigHistory.reader(historyDir).list()).at(-1);
      return last?.seq === 3 && last.by === 'file';
    });
    const listing = textSink();
    await configHistoryCommand(file, true, { out: listing.out });
    const json = JSON.parse(listing.text()) as { entries: { seq: number; current: boolean }[] };
    assert.deepEqual(
      json.entries.map((e) => [e.seq, e.current]),
      [
        [1, false],
        [2, false],
        [3, true],
      ],
    );
  });

  it('rollback refuses an entry that does not exist, or one that does not compile now (file unchanged)', async () => {
    const { out } = textSink();
    await assert.rejects(configRollbackCommand(file, 99, { out }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /history entry 99 does not exist/);
      return true;
    });
    const upstreamUrl = process.env.PC_RELOAD_UPSTREAM;
    delete process.env.PC_RELOAD_UPSTREAM;
    try {
      await assert.rejects(configRollbackCommand(file, 2, { out }), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /history entry 2 does not compile now/);
        assert.match(err.message, /PC_RELOAD_UPSTREAM is not set/);
        return true;
      });
    } finally {
      process.env.PC_RELOAD_UPSTREAM = upstreamUrl;
    }
    assert.equal(readFileSync(file, 'utf8'), v1, 'the file is unchanged');
  });

  it('a virtual patch added by a file reload blocks at once', async () => {
    const before = logs.filter((l) => l.msg === 'config reloaded').length;
    replaceFile(
      file,
      stringify(
        config({
          plugins: {
            'virtual-patch': {
              patches: [
                {
                  id: 'cve-items-post',
                  reason: 'incident 42: POST /items is exploitable',
                  expires: '2999-12-31',
                  methods: ['POST'],
                  path: '/items',
                  location: 'method',
                  operator: 'equals',
                  value: 'POST',
                },
              ],
            },
          },
        }),
      ),
    );
    const calls = upstream.calls.length;
    await until('the patched config is applied', () => reloaded(before + 1));
    const res = await fetch(`${url}/items`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 403);
    assert.equal(problemOf(res.headers.get('content-type'), await res.text()).code, 'VIRTUAL_PATCH');
    assert.equal(upstream.calls.length, calls, 'the upstream was not called');
    assert.equal(await status('/items'), 200, 'GET still passes');
  });

  it('the admin API rolls back to a history entry; a restart continues the numbering', async () => {
    const rolled = await adminCall('/api/v1/config/rollback', {
      method: 'POST',
      body: JSON.stringify({ version: 2 }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(rolled.status, 200, JSON.stringify(rolled.body));
    assert.equal(rolled.body.rolledBackTo, 2);
    const seq = rolled.body.version as number;
    assert.equal(await status('/fresh'), 200, 'entry 2 (with /fresh) runs');
    const entries = await FileConfigHistory.reader(historyDir).list();
    assert.deepEqual([entries.at(-1)?.seq, entries.at(-1)?.by], [seq, 'ada']);

    // A second gateway on the same file and history (a restart, or another node).
    const otherLogs: Record<string, unknown>[] = [];
    const other = await startGateway(file, { handleSignals: false, logger: captureLogger(otherLogs) });
    try {
      const last = (await FileConfigHistory.reader(historyDir).list()).at(-1);
      assert.deepEqual([last?.seq, last?.by], [seq + 1, 'startup'], 'numbering continues across starts');
      assert.equal(
        other.gateway.configHistory.find((h) => h.running)?.version,
        seq + 1,
        'the new process knows its running entry',
      );
    } finally {
      await other.stop(200);
    }
  });

  it('a request in flight across a file reload finishes on the plan it started with', async () => {
    const slow = await startUpstream(async (_req, res) => {
      await sleep(400);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('slow');
    });
    process.env.PC_RELOAD_UPSTREAM = slow.url;
    try {
      const before = logs.filter((l) => l.msg === 'config reloaded').length;
      replaceFile(file, stringify(config({ routes: [fresh] })));
      await until('the slow upstream is in use', () => reloaded(before + 1));
      const inFlight = fetch(`${url}/fresh`);
      await until('the request reached the upstream', () => slow.calls.length === 1);
      replaceFile(file, v1);
      await until('the route is removed', () => reloaded(before + 2));
      const res = await inFlight;
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'slow');
      assert.equal(await status('/fresh'), 404);
    } finally {
      process.env.PC_RELOAD_UPSTREAM = upstream.url;
      await slow.close();
    }
  });
});

describe('hot reload of an OpenAPI description the config names', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-reload-spec-'));
  const specDir = join(dir, 'specs');
  const spec = join(specDir, 'api.yaml');
  const file = join(dir, 'portcullis.yaml');
  let upstream: TestUpstream;
  let started: Started;
  let url: string;
  const specLogs: Record<string, unknown>[] = [];

  const operation = {
    get: {
      responses: {
        '200': { description: 'ok', content: { 'application/json': { schema: { type: 'object' } } } },
      },
    },
  };
  const specText = (paths: string[]) =>
    stringify({
      openapi: '3.0.3',
      info: { title: 'reload', version: '1' },
      paths: Object.fromEntries(paths.map((p) => [p, operation])),
    });

  before(async () => {
    upstream = await startUpstream();
    mkdirSync(specDir);
    writeFileSync(spec, specText(['/a']));
    writeFileSync(
      file,
      stringify({
        listeners: [{ name: 'main', host: '127.0.0.1', port: 0 }],
        upstreams: { api: { url: upstream.url, connectTimeoutMs: 500 } },
        routes: [{ id: 'api', path: '/api/*', methods: ['GET'], upstream: 'api' }],
        plugins: {
          authentication: { anonymous: true },
          authorization: { allow: 'authenticated' },
          contract: { spec, basePath: '/api' },
        },
        observability: { audit: { path: join(dir, 'audit.db') } },
        stores: { keys: { path: join(dir, 'keys.db') } },
        reload: { debounceMs: 50, history: { dir: join(dir, 'history') } },
      }),
    );
    started = await startGateway(file, { handleSignals: false, logger: captureLogger(specLogs) });
    url = (started.listeners[0] as { url: string }).url;
  });
  after(async () => {
    await started.stop(500);
    await upstream.close();
  });

  it('a changed description is enforced without touching the config file', async () => {
    assert.equal((await fetch(`${url}/api/a`)).status, 200);
    const refused = await fetch(`${url}/api/b`);
    assert.equal(
      problemOf(refused.headers.get('content-type'), await refused.text()).code,
      'ROUTE_NOT_FOUND',
    );
    replaceFile(spec, specText(['/a', '/b']));
    await until('the new operation passes', async () => (await fetch(`${url}/api/b`)).status === 200);
    const entries = await FileConfigHistory.reader(join(dir, 'history')).list();
    assert.equal(entries.length, 1, 'the config text did not change: no new history entry');
  });

  it('a description that does not load keeps the running plan', async () => {
    replaceFile(spec, 'openapi: [\n');
    await until('the refusal is logged', () =>
      specLogs.some((l) => l.msg === 'reload failed; keeping the running config'),
    );
    assert.equal((await fetch(`${url}/api/b`)).status, 200, 'the last good description still applies');
  });
});

describe('hot reload of a config mounted like a Kubernetes ConfigMap', () => {
  // The kubelet's layout: dir/portcullis.yaml -> ..data/portcullis.yaml, ..data -> ..<timestamp>;
  // an update writes a new timestamped directory and renames a new ..data symlink over the old one.
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-reload-cm-'));
  const file = join(dir, 'portcullis.yaml');
  const logs: Record<string, unknown>[] = [];
  let upstream: TestUpstream;
  let started: Started;
  let url: string;

  const config = (routes: string[]) =>
    stringify({
      listeners: [{ name: 'main', host: '127.0.0.1', port: 0 }],
      upstreams: { api: { url: upstream.url, connectTimeoutMs: 500 } },
      routes: routes.map((id) => ({ id, path: `/${id}`, methods: ['GET'], upstream: 'api' })),
      plugins: { authentication: { anonymous: true }, authorization: { allow: 'authenticated' } },
      observability: { audit: { path: join(dir, 'audit.db') } },
      stores: { keys: { path: join(dir, 'keys.db') } },
      reload: { debounceMs: 50, history: { dir: join(dir, 'history') } },
    });

  /** What the kubelet does on a ConfigMap update. */
  function kubeletUpdate(revision: string, text: string): void {
    mkdirSync(join(dir, revision));
    writeFileSync(join(dir, revision, 'portcullis.yaml'), text);
    symlinkSync(revision, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  }

  before(async () => {
    upstream = await startUpstream();
    mkdirSync(join(dir, '..2026_11_28_a'));
    writeFileSync(join(dir, '..2026_11_28_a', 'portcullis.yaml'), config(['items']));
    symlinkSync('..2026_11_28_a', join(dir, '..data'));
    symlinkSync('..data/portcullis.yaml', file);
    started = await startGateway(file, { handleSignals: false, logger: captureLogger(logs) });
    url = (started.listeners[0] as { url: string }).url;
  });
  after(async () => {
    await started.stop(500);
    await upstream.close();
  });

  it('an update (the ..data symlink swapped) is applied, and so is the next one', async () => {
    assert.equal((await fetch(`${url}/fresh`)).status, 404);
    kubeletUpdate('..2026_11_28_b', config(['items', 'fresh']));
    await until('the new route answers', async () => (await fetch(`${url}/fresh`)).status === 200);
    assert.equal((await fetch(`${url}/items`)).status, 200);
    // The old revision goes away, as the kubelet removes it; the next update is still seen.
    rmSync(join(dir, '..2026_11_28_a'), { recursive: true });
    kubeletUpdate('..2026_11_28_c', config(['items']));
    await until('the route is removed again', async () => (await fetch(`${url}/fresh`)).status === 404);
    // The plan swaps first; the history line is written right after.
    await until('the history has both updates', async () => {
      return (await FileConfigHistory.reader(join(dir, 'history')).list()).length === 3;
    });
    const entries = await FileConfigHistory.reader(join(dir, 'history')).list();
    assert.deepEqual(
      entries.map((e) => e.by),
      ['startup', 'file', 'file'],
    );
    assert.equal(
      logs.filter((l) => l.msg === 'reload failed; keeping the running config').length,
      0,
      JSON.stringify(logs.filter((l) => l.level === 50)),
    );
  });
});

describe('config rollback writes the file without following planted symlinks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-rollback-'));
  const file = join(dir, 'portcullis.yaml');
  const historyDir = join(dir, 'history');
  const text = (route: string) =>
    stringify({
      listeners: [{ name: 'main', host: '127.0.0.1', port: 0 }],
      upstreams: { api: { url: 'http://127.0.0.1:9' } },
      routes: [{ id: 'r', path: `/${route}`, upstream: 'api' }],
      plugins: { authentication: { anonymous: true }, authorization: { allow: 'authenticated' } },
      observability: { audit: { path: join(dir, 'audit.db') } },
      reload: { history: { dir: historyDir } },
    });

  it('a symlink at the temp-file name is neither followed nor installed as the config', async () => {
    const history = await FileConfigHistory.open(historyDir);
    await history.record(text('a'), { by: 'startup', source: file });
    writeFileSync(file, text('b'));
    const victim = join(dir, 'victim-owned-by-root.txt');
    writeFileSync(victim, 'IMPORTANT ROOT FILE\n');
    // Where the old code wrote its temp file: a name anyone could predict.
    symlinkSync(victim, join(dir, `.portcullis.yaml.rollback-${process.pid}.tmp`));
    const { out, text: said } = textSink();
    await configRollbackCommand(file, 1, { out, err: out });
    assert.match(said(), /now holds history entry 1/);
    assert.equal(readFileSync(victim, 'utf8'), 'IMPORTANT ROOT FILE\n', 'the symlink target is untouched');
    assert.ok(lstatSync(file).isFile(), 'the config is a regular file, not the planted symlink');
    assert.equal(readFileSync(file, 'utf8'), text('a'));
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith('.tmp') && !n.includes(String(process.pid))),
      [],
      'no temp file left behind',
    );
  });

  it('refuses to roll back to an entry whose number two writers recorded, and says why', async () => {
    const history = await FileConfigHistory.open(historyDir);
    const line = (seq: number, t: string) =>
      `${JSON.stringify({ seq, sha256: sha256Of(t), appliedAt: Date.now(), by: 'node', source: file })}\n`;
    const seq = ((await history.list()).at(-1)?.seq ?? 0) + 1;
    appendFileSync(join(historyDir, 'index.jsonl'), line(seq, text('c')) + line(seq, text('d')));
    const before = readFileSync(file, 'utf8');
    const { out } = textSink();
    await assert.rejects(configRollbackCommand(file, seq, { out, err: out }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, new RegExp(`history entry ${seq} cannot be rolled back to`));
      assert.match(err.message, /recorded twice with different texts/);
      return true;
    });
    assert.equal(readFileSync(file, 'utf8'), before, 'the file is unchanged');
    const listing = textSink();
    await configHistoryCommand(file, false, { out: listing.out });
    assert.match(listing.text(), /CORRUPT/);
  });
});

describe('the periodic look catches a change no watch reports', () => {
  // A hard link: the config's bytes change in place through another directory, so the watched
  // directory sees no event; only the stat/hash look every pollMs finds it.
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-reload-poll-'));
  const elsewhere = mkdtempSync(join(tmpdir(), 'portcullis-reload-poll-src-'));
  const file = join(dir, 'portcullis.yaml');
  const source = join(elsewhere, 'source.yaml');
  const logs: Record<string, unknown>[] = [];
  let upstream: TestUpstream;
  let started: Started;
  let reloader: ConfigReloader;
  let url: string;

  const config = (routes: string[]) =>
    stringify({
      listeners: [{ name: 'main', host: '127.0.0.1', port: 0 }],
      upstreams: { api: { url: upstream.url, connectTimeoutMs: 500 } },
      routes: routes.map((id) => ({ id, path: `/${id}`, methods: ['GET'], upstream: 'api' })),
      plugins: { authentication: { anonymous: true }, authorization: { allow: 'authenticated' } },
      observability: { audit: { path: join(dir, 'audit.db') } },
      stores: { keys: { path: join(dir, 'keys.db') } },
      reload: { watch: false, debounceMs: 50, history: { dir: join(dir, 'history') } },
    });

  before(async () => {
    upstream = await startUpstream();
    writeFileSync(source, config(['items']));
    linkSync(source, file);
    const logger = captureLogger(logs);
    started = await startGateway(file, { handleSignals: false, logger });
    reloader = new ConfigReloader({
      gateway: started.gateway,
      file,
      registry: started.gateway.registry,
      logger,
      debounceMs: 50,
      pollMs: 150,
    });
    await reloader.watch();
    url = (started.listeners[0] as { url: string }).url;
  });
  after(async () => {
    await reloader.close();
    await started.stop(500);
    await upstream.close();
  });

  it('an in-place rewrite through a hard link is applied', async () => {
    assert.equal((await fetch(`${url}/fresh`)).status, 404);
    writeFileSync(source, config(['items', 'fresh']));
    await until('the new route answers', async () => (await fetch(`${url}/fresh`)).status === 200);
    assert.equal((await fetch(`${url}/items`)).status, 200);
  });
});

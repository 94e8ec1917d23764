import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { startUpstream, type TestUpstream } from '../helpers.js';
import { CLI, type Running, run, startUntil } from './process.js';

/**
 * Zero dropped requests: the real CLI serves constant traffic (keep-alive loops and fresh
 * connections) while its config file is rewritten 20 times, valid and invalid alternately; every
 * request must answer 2xx. Then SIGHUP with the file watch off, and the CLI's history and rollback.
 */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

/** GET path → status (a socket error rejects). */
function get(base: URL, path: string, agent: Agent | false): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: base.hostname, port: base.port, path, method: 'GET', agent, timeout: 5000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function config(dir: string, upstreamUrl: string, extraRoutes: string[], watch = true): string {
  return stringify({
    listeners: [{ name: 'main', host: '127.0.0.1', port: 0 }],
    upstreams: { api: { url: upstreamUrl } },
    routes: [
      { id: 'items', path: '/items', methods: ['GET'], upstream: 'api' },
      ...extraRoutes.map((id) => ({ id, path: `/${id}`, methods: ['GET'], upstream: 'api' })),
    ],
    plugins: {
      authentication: { anonymous: true },
      authorization: { allow: 'authenticated' },
      'access-log': false,
    },
    observability: { audit: { path: join(dir, 'audit.db') } },
    stores: { keys: { path: join(dir, 'keys.db') } },
    reload: { watch, debounceMs: 40, history: { dir: join(dir, 'history') } },
  });
}

function replaceFile(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

const count = (text: string, msg: string): number => text.split(`"msg":"${msg}"`).length - 1;

describe('reload under load (the real CLI)', () => {
  let upstream: TestUpstream;
  const started: Running[] = [];

  before(async () => {
    upstream = await startUpstream();
  });
  after(async () => {
    for (const r of started) {
      r.child.kill('SIGTERM');
      await r.exited;
    }
    await upstream.close();
  });

  it('20 rewrites of the config, valid and invalid alternately, under constant traffic: 0 failed requests', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-reload-load-'));
    const file = join(dir, 'portcullis.yaml');
    writeFileSync(file, config(dir, upstream.url, []));
    const { running, match } = await startUntil([CLI, 'start', '--config', file], /listener main on (\S+)/);
    started.push(running);
    const base = new URL(match[1] as string);
    const log = running.stdout;

    let stop = false;
    let done = 0;
    const failures: string[] = [];
    const loop = async (agent: Agent | false): Promise<void> => {
      while (!stop) {
        try {
          const status = await get(base, '/items', agent);
          if (status < 200 || status > 299) failures.push(`status ${status}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
        done++;
      }
    };
    const agents = [1, 2, 3, 4].map(() => new Agent({ keepAlive: true, maxSockets: 1 }));
    const loops = [...agents.map((a) => loop(a)), loop(false)];

    const startedAt = Date.now();
    const routes: string[] = [];
    for (let i = 0; i < 20; i++) {
      const applied = count(log(), 'config reloaded');
      const failed = count(log(), 'reload failed; keeping the running config');
      if (i % 2 === 0) {
        routes.push(`gen${i}`);
        replaceFile(file, config(dir, upstream.url, routes));
        await until(`reload ${i} applied`, () => count(log(), 'config reloaded') > applied);
        assert.equal(await get(base, `/gen${i}`, false), 200, `the route of rewrite ${i} answers`);
      } else {
        // A YAML error, then a schema error, alternately; written in place (no rename).
        const good = config(dir, upstream.url, routes);
        writeFileSync(
          file,
          i % 4 === 1 ? `${good}routes: [\n` : good.replace('debounceMs: 40', 'debounceMs: soon'),
        );
        await until(
          `reload ${i} refused`,
          () => count(log(), 'reload failed; keeping the running config') > failed,
        );
        assert.equal(await get(base, `/gen${i - 1}`, false), 200, 'the running config still serves');
      }
    }
    // Traffic on for a little while after the last reload, and enough of it to mean something.
    await until('a few thousand requests', () => done >= 3000, 15000);
    stop = true;
    await Promise.all(loops);
    for (const a of agents) a.destroy();
    const seconds = (Date.now() - startedAt) / 1000;
    t.diagnostic(`${done} requests in ${seconds.toFixed(1)} s across 20 rewrites, ${failures.length} failed`);

    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failed of ${done}`);
    assert.ok(done >= 3000, `${done} requests`);
    assert.ok(seconds < 30, `${seconds}s`);
    assert.equal(count(log(), 'config reloaded'), 10);
    assert.ok(count(log(), 'reload failed; keeping the running config') >= 10);

    // The history: the start-up config and the 10 valid rewrites.
    const history = await run([CLI, 'config', 'history', '--config', file, '--json']);
    assert.equal(history.code, 0, history.stderr);
    const entries = (JSON.parse(history.stdout) as { entries: { seq: number; by: string }[] }).entries;
    assert.deepEqual(
      entries.map((e) => e.by),
      ['startup', ...Array<string>(10).fill('file')],
    );
  });

  it('with the watch off: SIGHUP reloads; a bad file on SIGHUP keeps serving; `config rollback` exit codes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-reload-hup-'));
    const file = join(dir, 'portcullis.yaml');
    writeFileSync(file, config(dir, upstream.url, [], false));
    const { running, match } = await startUntil([CLI, 'start', '--config', file], /listener main on (\S+)/);
    started.push(running);
    const base = new URL(match[1] as string);
    const log = running.stdout;

    replaceFile(file, config(dir, upstream.url, ['hup'], false));
    await sleep(300);
    assert.equal(await get(base, '/hup', false), 404, 'no watch: the change waits for SIGHUP');
    running.child.kill('SIGHUP');
    await until('SIGHUP applied', async () => (await get(base, '/hup', false)) === 200);

    // Not even YAML: `config rollback` cannot read reload.history.dir from it and needs --history-dir.
    writeFileSync(file, 'routes: [\n');
    running.child.kill('SIGHUP');
    await until(
      'the bad file is refused',
      () => count(log(), 'reload failed; keeping the running config') === 1,
    );
    assert.equal(await get(base, '/hup', false), 200);

    const historyDir = ['--history-dir', join(dir, 'history')];
    const missing = await run([CLI, 'config', 'rollback', '--config', file, '--to', '99', ...historyDir]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /history entry 99 does not exist/);
    const rolled = await run([CLI, 'config', 'rollback', '--config', file, ...historyDir]);
    assert.equal(rolled.code, 0, rolled.stderr);
    assert.match(rolled.stdout, /now holds history entry 2/);
    assert.equal(readFileSync(file, 'utf8'), config(dir, upstream.url, ['hup'], false));
    const back = await run([CLI, 'config', 'rollback', '--config', file]);
    assert.match(back.stdout, /now holds history entry 1/);
    running.child.kill('SIGHUP');
    await until('rolled back to the first config', async () => (await get(base, '/hup', false)) === 404);
  });
});

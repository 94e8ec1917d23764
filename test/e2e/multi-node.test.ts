import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { problemOf } from '../helpers.js';
import { deletePrefix, REDIS_URL, redisSkipReason, uniquePrefix } from '../stores/redis-env.js';
import { ROOT } from './process.js';

/**
 * examples/multi-node as a user runs it: one script starts the demo API and two `portcullis start`
 * processes on one config, sharing the Redis at REDIS_URL. The script runs on a copy of the config
 * in a temporary directory (ports 0, a Redis key prefix of its own), so the committed example is
 * never edited.
 */

const START = fileURLToPath(new URL('../../examples/multi-node/start.js', import.meta.url));
const EXAMPLE = join(ROOT, 'examples', 'multi-node', 'portcullis.yaml');
const LIMIT = 10;

interface Node {
  name: string;
  url: string;
  adminUrl: string;
  pid: number;
}

/** The promise's value, or 'timeout' after `ms` (the timer never holds the process open). */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'timeout'>((r) => {
    timer = setTimeout(r, ms, 'timeout');
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

const skip = await redisSkipReason('multi-node example');

describe('examples/multi-node: two gateway processes, Redis and the demo API from one script', {
  skip,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-multi-node-'));
  const config = join(dir, 'portcullis.yaml');
  const prefix = uniquePrefix();
  let script: ChildProcess;
  let exited: Promise<number | null>;
  let stdout = '';
  let stderr = '';
  let nodes: Node[] = [];
  let apiKey = '';
  let adminToken = '';

  before(async () => {
    copyFileSync(EXAMPLE, config);
    // Its own process group, so that whatever happens the whole group can be ended below.
    script = spawn(process.execPath, [START], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        REDIS_URL,
        PORTCULLIS_CONFIG: config,
        PORTCULLIS_PORTS: '0,0',
        PORTCULLIS_ADMIN_PORTS: '0,0',
        DEMO_API_PORT: '0',
        PORTCULLIS_DATA_DIR: dir,
        PORTCULLIS_REDIS_PREFIX: prefix,
        PORTCULLIS_ADMIN_TOKEN: undefined,
      },
    });
    script.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    exited = new Promise((r) => script.once('exit', (code) => r(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready within 20 s\n${stderr}`)), 20_000);
      script.stderr?.on('data', (c: Buffer) => {
        stderr += c.toString();
        if (stderr.includes('Ctrl-C stops everything')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`the script exited (${code}) before it was ready\n${stderr}`));
      });
    });
    nodes = [...stderr.matchAll(/^ {2}(node-\d) {2}(http:\S+) {2}admin (http:\S+) {2}pid (\d+)$/gm)].map(
      (m) => ({
        name: m[1] as string,
        url: m[2] as string,
        adminUrl: m[3] as string,
        pid: Number(m[4]),
      }),
    );
    apiKey = /ApiKey (pcl_\S+)'/.exec(stderr)?.[1] ?? '';
    adminToken = /Bearer (\S+)'/.exec(stderr)?.[1] ?? '';
  });

  after(async () => {
    if (script?.exitCode === null && script.signalCode === null) {
      script.kill('SIGTERM');
      const done = await within(exited, 20_000);
      if (done === 'timeout') process.kill(-(script.pid as number), 'SIGKILL');
    }
    await deletePrefix(prefix).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (url: string, headers: Record<string, string> = {}) =>
    fetch(url, { headers, signal: AbortSignal.timeout(5000) });

  it('prints two nodes, each with its own port and admin listener, and both answer', async () => {
    assert.equal(nodes.length, 2, stderr);
    assert.notEqual(nodes[0]?.url, nodes[1]?.url);
    assert.match(apiKey, /^pcl_/, 'a demo API key is printed');
    assert.match(
      stderr,
      new RegExp(`one Redis \\(${new URL(REDIS_URL).host}\\)`),
      'the running Redis is used',
    );
    for (const n of nodes) {
      const res = await get(`${n.url}/api/hello`);
      assert.equal(res.status, 200, n.name);
      assert.equal(((await res.json()) as { message: string }).message, 'hello from the demo API');
    }
  });

  it(`one rate limit (${LIMIT} a minute per client) counts requests over both nodes`, async () => {
    const statuses: number[] = [];
    const perNode = nodes.map(() => 0);
    for (let i = 0; i < 2 * LIMIT + 4; i++) {
      const n = i % nodes.length;
      const res = await get(`${nodes[n]?.url}/api/orders`);
      const body = await res.text();
      statuses.push(res.status);
      if (res.status === 200) perNode[n] = (perNode[n] as number) + 1;
      else {
        assert.equal(res.status, 429, body);
        assert.equal(problemOf(res.headers.get('content-type'), body).code, 'RATE_LIMITED');
      }
      assert.match(res.headers.get('ratelimit-policy') ?? '', new RegExp(`"per-client";q=${LIMIT};w=60`));
    }
    assert.deepEqual(
      statuses,
      [...Array(LIMIT).fill(200), ...Array(LIMIT + 4).fill(429)],
      'the limit is reached once for both nodes together, not once per node',
    );
    assert.deepEqual(perNode, [LIMIT / 2, LIMIT / 2]);
  });

  it('the API key made once (in Redis) is accepted by every node', async () => {
    for (const n of nodes) {
      assert.equal((await get(`${n.url}/api/orders/42`)).status, 401, n.name);
      const res = await get(`${n.url}/api/orders/42`, { authorization: `ApiKey ${apiKey}` });
      assert.equal(res.status, 200, n.name);
      assert.equal(((await res.json()) as { id: string }).id, '42');
    }
  });

  it("each node's admin API reports the gateway's version and its dependencies' versions", async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version: string }>;
    };
    for (const n of nodes) {
      assert.equal((await get(`${n.adminUrl}/api/v1/version`)).status, 401, 'the admin API needs a token');
      const res = await get(`${n.adminUrl}/api/v1/version`, { authorization: `Bearer ${adminToken}` });
      assert.equal(res.status, 200, n.name);
      const v = (await res.json()) as { name: string; version: string; dependencies: Record<string, string> };
      assert.equal(v.name, 'portcullis');
      assert.equal(v.version, pkg.version);
      assert.equal(v.dependencies.undici, lock.packages['node_modules/undici']?.version);
      assert.equal(v.dependencies.ioredis, lock.packages['node_modules/ioredis']?.version);
    }
  });

  it('a change saved to the config file reaches both nodes (each watches the file)', async () => {
    const before = readFileSync(config, 'utf8');
    const after = before.replace(`limit: ${LIMIT}\n`, `limit: ${2 * LIMIT}\n`);
    assert.notEqual(after, before, 'the example config has the limit this test raises');
    writeFileSync(config, after);
    const deadline = Date.now() + 5000;
    const pending = new Set(nodes.map((n) => n.name));
    while (pending.size > 0 && Date.now() < deadline) {
      for (const n of nodes) {
        if (!pending.has(n.name)) continue;
        const res = await get(`${n.url}/api/orders`);
        await res.arrayBuffer();
        if ((res.headers.get('ratelimit-policy') ?? '').includes(`q=${2 * LIMIT};`)) {
          // The raised limit admits again: the counter in Redis holds the 10 already admitted.
          assert.equal(res.status, 200, n.name);
          pending.delete(n.name);
        }
      }
      if (pending.size > 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual([...pending], [], 'every node applied the new limit within 5 s');
    for (const n of nodes)
      assert.match(stdout, new RegExp(`${n.name} \\| .*"by":"file".*"msg":"config reloaded"`), n.name);
  });

  it('SIGINT (Ctrl-C) stops the nodes, then the script, which exits 0', async () => {
    script.kill('SIGINT');
    const code = await within(exited, 20_000);
    assert.equal(code, 0, stderr);
    for (const n of nodes) {
      assert.throws(() => process.kill(n.pid, 0), { code: 'ESRCH' }, `${n.name} is gone`);
      await assert.rejects(get(`${n.url}/api/hello`), `${n.name} no longer listens`);
    }
  });
});

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfigFile } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { createDefaultRegistry } from '../../src/plugins/index.js';
import { openStores } from '../../src/stores/index.js';
import { KeyService } from '../../src/stores/key-service.js';
import { DEFAULT_REDIS_URL } from '../../src/stores/redis.js';
import { startDemoApi } from '../demo-api/server.js';

/**
 * The multi-node example: Redis (started here only when none answers at REDIS_URL), the demo API,
 * and N gateway processes (`portcullis start`, the real CLI) on one shared config. Ctrl-C stops
 * the nodes (they drain), then the demo API, then the Redis started here. SIGHUP is passed on to
 * every node (a reload; with reload.watch on, saving the file is enough).
 *
 * Every setting has a flag and an environment variable, so a test can run it on a copy:
 *   --config FILE        PORTCULLIS_CONFIG        examples/multi-node/portcullis.yaml
 *   --ports 8081,8082    PORTCULLIS_PORTS         one port per node (0: any free port)
 *   --admin-ports …      PORTCULLIS_ADMIN_PORTS   admin listener of each node (9081,9082)
 *   --demo-port 3001     DEMO_API_PORT
 *   --data-dir DIR       PORTCULLIS_DATA_DIR      pepper, config history, node-N/audit.db
 *   REDIS_URL (redis://127.0.0.1:6379), PORTCULLIS_REDIS_PREFIX, PORTCULLIS_ADMIN_TOKEN
 */

/** Every process started here: whatever happens to this one, none of them outlives it. */
const children: ChildProcess[] = [];

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const DEFAULT_CONFIG = fileURLToPath(
  new URL('../../../examples/multi-node/portcullis.yaml', import.meta.url),
);

interface Options {
  readonly config: string;
  readonly ports: readonly number[];
  readonly adminPorts: readonly number[];
  readonly demoPort: number;
  readonly dataDir: string;
  readonly redisUrl: string;
}

function portList(text: string, what: string): number[] {
  const ports = text.split(',').map((p) => Number(p.trim()));
  if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 0 || p > 65535))
    throw new Error(`${what}: a comma-separated list of ports (0: any free port), not "${text}"`);
  return ports;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      ports: { type: 'string' },
      'admin-ports': { type: 'string' },
      'demo-port': { type: 'string' },
      'data-dir': { type: 'string' },
    },
  });
  const env = process.env;
  const ports = portList(values.ports ?? env.PORTCULLIS_PORTS ?? '8081,8082', '--ports');
  const adminText = values['admin-ports'] ?? env.PORTCULLIS_ADMIN_PORTS;
  const adminPorts =
    adminText === undefined
      ? ports.map((p, i) => (p === 0 ? 0 : 9081 + i))
      : portList(adminText, '--admin-ports');
  if (adminPorts.length !== ports.length) throw new Error('--admin-ports: one per node, as many as --ports');
  const demoPort = portList(values['demo-port'] ?? env.DEMO_API_PORT ?? '3001', '--demo-port')[0] as number;
  return {
    config: resolve(values.config ?? env.PORTCULLIS_CONFIG ?? DEFAULT_CONFIG),
    ports,
    adminPorts,
    demoPort,
    dataDir: resolve(values['data-dir'] ?? env.PORTCULLIS_DATA_DIR ?? '.portcullis/multi-node'),
    redisUrl: env.REDIS_URL || DEFAULT_REDIS_URL,
  };
}

/** "host:port" of a Redis URL, never its password. */
const redisHost = (url: string): string => new URL(url).host;

async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** Uses the Redis at `url`, or starts redis-server there when it is a loopback address. */
async function ensureRedis(url: string): Promise<ChildProcess | undefined> {
  if (await redisAnswers(url)) return undefined;
  const u = new URL(url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname))
    throw new Error(`no Redis answers at ${redisHost(url)}; start it, or unset REDIS_URL to get a local one`);
  const port = u.port || '6379';
  // Its own process group: a Ctrl-C in the terminal stops the nodes first; Redis goes last.
  const child = spawn(
    'redis-server',
    ['--port', port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
      detached: true,
    },
  );
  children.push(child);
  const failed = new Promise<Error>((r) => child.once('error', r));
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const outcome = await Promise.race([
      failed,
      new Promise<undefined>((r) => setTimeout(r, 100, undefined)),
    ]);
    if (outcome instanceof Error)
      throw new Error(`no Redis at ${redisHost(url)} and redis-server could not start (${outcome.message})`);
    if (await redisAnswers(url)) return child;
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not answer within 5 s`);
}

/** A fresh API key in the shared (Redis) key store; the previous demo keys are revoked. */
async function demoKey(config: string): Promise<string> {
  const loaded = await loadConfigFile(config, { registry: createDefaultRegistry() });
  const stores = openStores(loaded.config.stores, createLogger('warn', process.stderr));
  try {
    const service = new KeyService(stores.keys(), stores.keyPepper());
    for (const old of await service.list({ consumer: 'multi-node-demo' }))
      if (old.revokedAt === null) await service.revoke(old.id);
    const { key } = await service.create({ consumer: 'multi-node-demo', name: 'multi-node example' });
    return key;
  } finally {
    await stores.close();
  }
}

interface GatewayNode {
  readonly name: string;
  readonly child: ChildProcess;
  readonly url: string;
  readonly adminUrl: string;
  readonly exited: Promise<number | null>;
}

/** Copies a child's lines to ours, each marked with the node's name. */
function relay(
  from: NodeJS.ReadableStream,
  to: NodeJS.WritableStream,
  name: string,
  onLine?: (l: string) => void,
) {
  createInterface({ input: from, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
    to.write(`${name} | ${line}\n`);
    onLine?.(line);
  });
}

/** Starts one `portcullis start` process; resolves once its public and admin listeners are up. */
function startNode(
  name: string,
  config: string,
  env: NodeJS.ProcessEnv,
  dataDir: string,
): Promise<GatewayNode> {
  const nodeDir = join(dataDir, name);
  mkdirSync(nodeDir, { recursive: true });
  const child = spawn(process.execPath, [CLI, 'start', '--config', config], {
    env: { ...process.env, ...env, PORTCULLIS_NODE_DIR: nodeDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let url: string | undefined;
  let adminUrl: string | undefined;
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} was not ready within 20 s`)), 20_000);
    const check = (): void => {
      if (url === undefined || adminUrl === undefined) return;
      clearTimeout(timer);
      resolvePromise({ name, child, url, adminUrl, exited });
    };
    relay(child.stdout as NodeJS.ReadableStream, process.stdout, name, (line) => {
      if (adminUrl !== undefined || !line.includes('admin listener started')) return;
      try {
        adminUrl = (JSON.parse(line) as { url?: string }).url;
      } catch {
        return;
      }
      check();
    });
    relay(child.stderr as NodeJS.ReadableStream, process.stderr, name, (line) => {
      const m = /listener public on (\S+)/.exec(line);
      if (m) {
        url = m[1];
        check();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before it was ready`));
    });
  });
}

async function main(): Promise<void> {
  const opts = options();
  mkdirSync(opts.dataDir, { recursive: true });
  process.once('exit', () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  const redis = await ensureRedis(opts.redisUrl);
  const demo = await startDemoApi(opts.demoPort);
  const adminTokenMade = process.env.PORTCULLIS_ADMIN_TOKEN === undefined;
  const shared: NodeJS.ProcessEnv = {
    DEMO_API_URL: demo.url,
    REDIS_URL: opts.redisUrl,
    PORTCULLIS_DATA_DIR: opts.dataDir,
    PORTCULLIS_ADMIN_TOKEN: process.env.PORTCULLIS_ADMIN_TOKEN ?? randomBytes(24).toString('base64url'),
  };
  Object.assign(process.env, shared);
  const key = await demoKey(opts.config);

  const nodes: GatewayNode[] = [];
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    // The nodes drain first (in-flight requests finish); then what they depend on goes.
    for (const n of nodes) if (n.child.exitCode === null) n.child.kill('SIGTERM');
    await Promise.all(
      nodes.map((n) =>
        Promise.race([
          n.exited,
          new Promise((r) => setTimeout(r, 15_000)).then(() => n.child.kill('SIGKILL')),
        ]),
      ),
    );
    demo.server.close();
    demo.server.closeAllConnections();
    if (redis !== undefined) {
      const gone = new Promise((r) => redis.once('exit', r));
      redis.kill('SIGTERM');
      await gone;
    }
    process.exit(code);
  };
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));

  const started = await Promise.allSettled(
    opts.ports.map((port, i) =>
      startNode(
        `node-${i + 1}`,
        opts.config,
        { ...shared, PORTCULLIS_PORT: String(port), PORTCULLIS_ADMIN_PORT: String(opts.adminPorts[i]) },
        opts.dataDir,
      ),
    ),
  );
  for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed !== undefined) {
    process.stderr.write(`multi-node: ${(failed as PromiseRejectedResult).reason.message}\n`);
    await stop(1);
    return;
  }
  for (const n of nodes)
    void n.exited.then((code) => {
      if (stopping) return;
      process.stderr.write(`multi-node: ${n.name} exited (${code}); stopping everything\n`);
      void stop(1);
    });
  process.on('SIGHUP', () => {
    for (const n of nodes) n.child.kill('SIGHUP');
  });

  const first = nodes[0] as GatewayNode;
  const last = nodes[nodes.length - 1] as GatewayNode;
  const token = adminTokenMade ? shared.PORTCULLIS_ADMIN_TOKEN : '$PORTCULLIS_ADMIN_TOKEN';
  const config = opts.config;
  process.stderr.write(
    [
      '',
      `Portcullis: ${nodes.length} nodes on one config (${config}) and one Redis (${redisHost(opts.redisUrl)}${redis ? ', started here' : ''}):`,
      ...nodes.map((n) => `  ${n.name}  ${n.url}  admin ${n.adminUrl}  pid ${n.child.pid}`),
      `  demo API ${demo.url}`,
      '',
      'Try it:',
      `  curl -i ${first.url}/api/hello`,
      `  for i in $(seq 12); do for u in ${nodes.map((n) => n.url).join(' ')}; do curl -s -o /dev/null -w '%{http_code} ' $u/api/orders; done; done; echo`,
      '      # one limit (10 a minute per client) counted over all nodes: ten 200s, then 429s',
      `  curl -i -H 'Authorization: ApiKey ${key}' ${last.url}/api/orders/42`,
      '      # an API key made once, in Redis: every node accepts it (made for this run)',
      `  curl -s -H 'Authorization: Bearer ${token}' ${first.adminUrl}/api/v1/version`,
      '      # the version of the gateway and of its dependencies, per node',
      '',
      `Edit ${config} (say limit: 10 → 20) and save: every node reloads it (look for "config reloaded").`,
      `With reload.watch off: kill -HUP ${process.pid} passes SIGHUP to every node.`,
      'Ctrl-C stops everything (the nodes drain first).',
      '',
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) process.stderr.write(`multi-node: invalid config\n${err.message}\n`);
  else process.stderr.write(`multi-node: ${(err as Error).message}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});

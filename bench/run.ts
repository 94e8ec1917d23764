import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, connect as netConnect } from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createDevCertificates, writeDevCertificates } from '../src/server/dev-certs.js';
import { LOOPBACK, type ReadyMessage } from './child.js';
import {
  type ContractCompileFigures,
  formatContractCompile,
  runContractCompileBench,
} from './contract-compile.js';
import { formatJwtBench, type JwtBenchRow, runJwtVerifyBench } from './jwt-verify.js';

/**
 * `npm run bench`: one shared upstream, three proxies in front of it, each in its own process on
 * loopback, loaded in turn by autocannon from this process with identical client settings.
 *
 *   direct      the upstream itself                          GET /hello
 *   bare        node:http + undici Pool (the Node ceiling)   GET /api/hello → /hello
 *   portcullis  the CLI on examples/quickstart/portcullis.yaml GET /api/hello → /hello
 *   fastify     fastify + @fastify/reply-from (the peer)     GET /api/hello → /hello
 *   portcullis-jwt     the CLI, quick start chain + jwt      GET /api/hello → /hello
 *                      (one RS256 issuer with a static key; the bench signs ONE token and sends it
 *                      on every request as Authorization: Bearer, so after the first request the
 *                      verified-token cache answers: the "cached RS256 JWT" chain)
 *   portcullis-apikey  the CLI, quick start chain + api-key  GET /api/hello → /hello
 *                      (SQLite key store in a temp dir; one key made with `portcullis keys create`
 *                      and sent on every request as Authorization: ApiKey)
 *   portcullis-policy  portcullis-jwt + three CEL policy rules GET /api/hello → /hello
 *   portcullis-post      the CLI, quick start chain, public    POST /api/items → /items
 *                        route (anonymous, as the quick start's hello), request-guard maxBodyBytes
 *                        4096; every request carries the same ~1 KB JSON order (ORDER_BODY)
 *   portcullis-contract  portcullis-post + the `contract` plugin validating the request (its
 *                        defaults: strict, hardened JSON, undeclared statuses refused; the answer
 *                        body checks off) on an OpenAPI 3.0.3 description the bench writes, which
 *                        declares POST /items with a body schema the order matches and a 201 JSON
 *                        answer (issue 6: ≥ 0.9 × portcullis-post)
 *   portcullis-contract-full  the same with the plugin at ALL its defaults: answers held, checked
 *                        for leaks, stripped, validated (monitor) and masked (ratio printed)
 *   portcullis-detect    portcullis-post + the attack-detection stage at its defaults (paranoia 2):
 *                        every value of the order inspected (issue 7: ≥ 0.9 × portcullis-post)
 *   portcullis-ratelimit portcullis-post + the rate-limit stage, memory backend, keyed by client
 *                        address (every request charges the same counter: one hot key, the worst
 *                        case for contention), a GCRA limit far above the load so nothing is refused
 *   portcullis-noobs     the quick start config with metrics, audit trail and anomaly detection
 *                        off (issue 9: portcullis, where they are on by default, ≥ 0.9 × this)
 *   portcullis-ratelimit-redis  the same on the Redis backend (REDIS_URL, else 127.0.0.1:6379; a
 *                        key prefix of its own, removed after the run; skipped with a reason when
 *                        Redis does not answer) (issue 8: ≥ 0.8 × portcullis-ratelimit)
 *
 * The authenticated and POST targets run on configs the bench writes into a temp dir: the quick
 * start's listeners, upstreams and global plugins, and one route. The authenticated ones drop
 * `plugins.authentication.anonymous` (a credential is required) and route GET /api/hello with the
 * authenticator. Before loading a target the bench checks that the request autocannon will send
 * gets the expected answer (200 with the hello body; 201 with the upstream's receipt for the POST
 * targets), that an authenticated target answers 401 without its credential, and that
 * portcullis-contract answers 400 REQUEST_INVALID to the order with an undeclared "isAdmin": true
 * (validation is on); a run with any non-2xx answer is flagged, its goal fails, and the bench exits 1.
 *
 * Opt-in (named in BENCH_TARGETS), HTTPS with keep-alive, both with the same dev certificate
 * (ECDSA P-256, from src/server/dev-certs.ts, written to a temp dir):
 *
 *   portcullis-tls  the CLI on examples/quickstart/portcullis-https.yaml  GET /api/hello → /hello
 *   nginx-tls       /usr/sbin/nginx terminating TLS, proxy_pass to the   GET /api/hello → /hello
 *                   upstream with keep-alive (skipped, with the reason, where nginx is missing)
 *
 * For each TLS target the parent also measures the new-handshake rate: BENCH_HANDSHAKE_WORKERS (50)
 * loops doing tls.connect → secureConnect → destroy, no session reuse, for BENCH_HANDSHAKE_SECONDS (5).
 *
 * Settings (environment): BENCH_DURATION (s, measured run, 10), BENCH_WARMUP (s, 3),
 * BENCH_CONNECTIONS (50), BENCH_PIPELINING (1), BENCH_ROUNDS (interleaved rounds, 2, even rounds in
 * reverse order; the table
 * shows the median), BENCH_TARGETS (comma list of the names above: direct, bare, portcullis, fastify,
 * portcullis-jwt, portcullis-apikey, portcullis-policy, portcullis-post, portcullis-contract,
 * portcullis-tls, nginx-tls; default the nine plain-HTTP ones),
 * BENCH_JWT_MS (ms per measurement of the uncached JWT verification cost, 1000; 0 skips it),
 * BENCH_COMPILE_RUNS (cold start-up compiles of the 1,000-operation description, 3; 0 skips them),
 * BENCH_CPU_PROF (a directory: every
 * child runs with --cpu-prof into <dir>/<target>), BENCH_STRICT=1 (exit 1 when a target ratio or the
 * compile goal misses),
 * BENCH_PORTCULLIS_CONFIG (another config for the Portcullis target; it must route GET /api/hello
 * to /hello on ${env:DEMO_API_URL} and listen on ${env:PORTCULLIS_PORT}).
 *
 * After the load runs, the bench measures the cost of ONE uncached JWT verification, RS256 (2048)
 * and ES256 (P-256), in this process with the targets idle (bench/jwt-verify.ts: jose's signature
 * check alone, the gateway's verifier with its cache off, and its cache hit), and prints it with the
 * table; the figures go into the results file as `jwtVerify`. Then it times the start-up compile of
 * a 1,000-operation OpenAPI description (bench/contract-compile.ts: syntheticSpec(1000) compiled by
 * buildContract with the plugin's defaults, each run in a fresh child process, so as cold as at a
 * gateway start), prints each run and the median against the issue-6 goal (< 2 s), and stores them
 * as `contractCompile`.
 *
 * Besides req/s and latency, each run reads the CPU time the target process (and the upstream)
 * used from /proc: on a small machine where client, proxy and upstream share the cores, CPU time
 * per request is the steadier measure of what a proxy costs.
 */

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = resolve(here, '..', '..');
const RESULTS_FILE = join(root, 'dist', 'bench-results.json');
const QUICKSTART_FILE = join(root, 'examples', 'quickstart', 'portcullis.yaml');
const QUICKSTART = resolve(process.env.BENCH_PORTCULLIS_CONFIG || QUICKSTART_FILE);
const HTTPS_CONFIG = join(root, 'examples', 'quickstart', 'portcullis-https.yaml');
const CLI = join(root, 'dist', 'src', 'cli', 'main.js');
const NGINX = process.env.BENCH_NGINX || '/usr/sbin/nginx';

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

type TargetKey =
  | 'direct'
  | 'bare'
  | 'portcullis'
  | 'fastify'
  | 'portcullis-jwt'
  | 'portcullis-apikey'
  | 'portcullis-policy'
  | 'portcullis-post'
  | 'portcullis-contract'
  | 'portcullis-contract-full'
  | 'portcullis-detect'
  | 'portcullis-ratelimit'
  | 'portcullis-ratelimit-redis'
  | 'portcullis-noobs'
  | 'portcullis-tls'
  | 'nginx-tls';

/** What autocannon sends to a target, and what the target must answer to it. */
interface Exchange {
  readonly method: 'GET' | 'POST';
  /** A JSON body, sent as application/json (autocannon adds its Content-Length). */
  readonly body?: string;
  readonly status: number;
  /** A piece of the upstream's answer the target must pass on. */
  readonly contains: string;
}

/** A request the target must refuse: proves the stage under test is really on. */
interface Refusal {
  readonly why: string;
  readonly body: string;
  readonly status: number;
  /** The problem code expected in the answer (so another stage's refusal does not count). */
  readonly code: string;
}

interface Target {
  readonly key: TargetKey;
  readonly label: string;
  readonly path: string;
  readonly exchange: Exchange;
  readonly refusal?: Refusal;
  readonly url: string;
  /** The process serving the URL (for direct: the upstream; for nginx: its one worker). */
  readonly pid: number;
  /** For HTTPS targets: where to open TLS connections for the handshake rate. */
  readonly tls?: { readonly port: number };
  /** Headers sent with every request (the credential of an authenticated target). */
  readonly headers?: Readonly<Record<string, string>>;
}

interface Settings {
  readonly duration: number;
  readonly warmup: number;
  readonly connections: number;
  readonly pipelining: number;
  readonly rounds: number;
  readonly targets: readonly TargetKey[];
  readonly cpuProfDir: string | undefined;
  readonly strict: boolean;
  readonly handshakeSeconds: number;
  readonly handshakeWorkers: number;
  readonly jwtVerifyMs: number;
  readonly compileRuns: number;
}

interface RunFigures {
  readonly round: number;
  readonly reqPerSec: number;
  readonly latencyP50: number;
  readonly latencyP99: number;
  readonly latencyMean: number;
  readonly requests: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly bytesPerSec: number;
  /** CPU time of the target process per request, µs (undefined where /proc is not readable). */
  readonly cpuUsPerReq: number | undefined;
  /** The target process's CPU use during the run, in % of one core. */
  readonly cpuPercent: number | undefined;
  /** CPU time of the shared upstream per request, µs (for direct, the same as cpuUsPerReq). */
  readonly upstreamCpuUsPerReq: number | undefined;
}

interface Summary {
  readonly target: TargetKey;
  readonly label: string;
  readonly url: string;
  readonly reqPerSec: number;
  readonly latencyP50: number;
  readonly latencyP99: number;
  readonly errors: number;
  readonly non2xx: number;
  readonly cpuUsPerReq: number | undefined;
  readonly cpuPercent: number | undefined;
  readonly vsDirect: number | undefined;
  readonly runs: readonly RunFigures[];
  readonly handshakes?: HandshakeFigures;
}

interface Goal {
  readonly name: string;
  readonly numerator: TargetKey;
  readonly denominator: TargetKey;
  readonly target: number;
}

const GOALS: readonly Goal[] = [
  { name: 'Portcullis / bare proxy', numerator: 'portcullis', denominator: 'bare', target: 0.9 },
  { name: 'Portcullis / fastify peer', numerator: 'portcullis', denominator: 'fastify', target: 1.5 },
  { name: 'Portcullis HTTPS / HTTP', numerator: 'portcullis-tls', denominator: 'portcullis', target: 0.85 },
  {
    name: 'Portcullis JWT (cached RS256) / pass-through',
    numerator: 'portcullis-jwt',
    denominator: 'portcullis',
    target: 0.85,
  },
  {
    name: 'Portcullis API key / pass-through',
    numerator: 'portcullis-apikey',
    denominator: 'portcullis',
    target: 0.85,
  },
  {
    // Issue 5: three CEL rules on a route cost at most 5 % of the full chain's throughput.
    name: 'JWT + 3 CEL rules / JWT chain',
    numerator: 'portcullis-policy',
    denominator: 'portcullis-jwt',
    target: 0.95,
  },
  {
    // Issue 6: validating a 1 KB JSON body against the OpenAPI contract costs at most 10 %.
    name: 'POST 1 KB JSON validated / not validated',
    numerator: 'portcullis-contract',
    denominator: 'portcullis-post',
    target: 0.9,
  },
  {
    // Issue 7: attack detection on costs at most 10 % of the full chain.
    name: 'POST 1 KB JSON with attack detection / without',
    numerator: 'portcullis-detect',
    denominator: 'portcullis-post',
    target: 0.9,
  },
  {
    // Issue 9: metrics, audit and anomaly detection (on by default) cost at most 10 %.
    name: 'Pass-through with observability / without',
    numerator: 'portcullis',
    denominator: 'portcullis-noobs',
    target: 0.9,
  },
  {
    // Issue 8: counters shared through Redis cost at most 20 % against the node's own counters.
    name: 'POST with Redis rate limiter / memory rate limiter',
    numerator: 'portcullis-ratelimit-redis',
    denominator: 'portcullis-ratelimit',
    target: 0.8,
  },
];

/** The goals whose numerator is the denominator's chain plus stages: their CPU µs/req difference is printed. */
const ADDS_A_STAGE: ReadonlySet<Goal> = new Set(
  GOALS.filter(
    (g) =>
      (g.denominator === 'portcullis' && g.numerator !== 'portcullis-tls') ||
      g.denominator === 'portcullis-post',
  ),
);

/** Ratios printed for information, without a target. */
const COMPARISONS: readonly Omit<Goal, 'target'>[] = [
  {
    name: 'POST with memory rate limiter / without',
    numerator: 'portcullis-ratelimit',
    denominator: 'portcullis-post',
  },
  {
    name: 'POST with Redis rate limiter / without',
    numerator: 'portcullis-ratelimit-redis',
    denominator: 'portcullis-post',
  },
  {
    name: 'POST validated + answer checks / not validated',
    numerator: 'portcullis-contract-full',
    denominator: 'portcullis-post',
  },
  { name: 'Portcullis HTTPS / nginx', numerator: 'portcullis-tls', denominator: 'nginx-tls' },
];

/**
 * The order every POST target receives: a customer, ten line items, an address and notes, ~1 KB
 * of JSON as a shop front would send it. Always the same bytes, so every request costs the same.
 */
const ORDER = {
  orderId: 'ord_7f3a9c2e41b8',
  currency: 'EUR',
  customer: {
    id: 'cus_48213',
    name: 'Ada Lovelace',
    email: 'ada.lovelace@example.com',
    phone: '+44 20 7946 0958',
  },
  items: [
    'Espresso beans',
    'Pour-over dripper',
    'Paper filters',
    'Burr grinder',
    'Milk jug',
    'Scale',
    'Kettle',
    'Tasting cups',
    'Descaler',
    'Travel mug',
  ].map((name, i) => ({
    sku: `SKU-${104210 + i * 37}`,
    name,
    qty: 1 + (i % 3),
    price: Math.round((4.5 + i * 3.25) * 100) / 100,
  })),
  shippingAddress: { line1: '12 Analytical Row', city: 'London', postalCode: 'EC1A 1BB', country: 'GB' },
  shippingMethod: 'express',
  giftWrap: false,
  notes: 'Leave it with the concierge. Fragile: glass.',
  createdAt: '2024-05-14T09:31:07Z',
};
const ORDER_BODY = JSON.stringify(ORDER);
/** The same order with a property the description does not declare (mass assignment). */
const ORDER_WITH_ADMIN = JSON.stringify({ ...ORDER, isAdmin: true });
const ORDER_WITH_SQL = JSON.stringify({ ...ORDER, notes: "x' UNION SELECT password FROM users --" });
/** What the shared upstream answers to POST /items (bench/targets/upstream.ts). */
const ORDER_RECEIPT = '"status":"accepted"';

const GET_HELLO: Exchange = { method: 'GET', status: 200, contains: 'hello from the demo API' };
const POST_ORDER: Exchange = { method: 'POST', body: ORDER_BODY, status: 201, contains: ORDER_RECEIPT };

const ALL_TARGETS: readonly Omit<Target, 'url' | 'pid'>[] = [
  { key: 'direct', label: 'upstream direct', path: '/hello', exchange: GET_HELLO },
  { key: 'bare', label: 'bare node:http + undici', path: '/api/hello', exchange: GET_HELLO },
  { key: 'portcullis', label: 'portcullis (quickstart)', path: '/api/hello', exchange: GET_HELLO },
  { key: 'fastify', label: 'fastify + reply-from', path: '/api/hello', exchange: GET_HELLO },
  { key: 'portcullis-jwt', label: 'portcullis JWT RS256', path: '/api/hello', exchange: GET_HELLO },
  { key: 'portcullis-apikey', label: 'portcullis API key', path: '/api/hello', exchange: GET_HELLO },
  {
    key: 'portcullis-policy',
    label: 'portcullis JWT + 3 CEL rules',
    path: '/api/hello',
    exchange: GET_HELLO,
  },
  { key: 'portcullis-post', label: 'portcullis POST 1 KB JSON', path: '/api/items', exchange: POST_ORDER },
  {
    key: 'portcullis-contract',
    label: 'portcullis POST validated',
    path: '/api/items',
    exchange: POST_ORDER,
    refusal: {
      why: 'the order with an undeclared "isAdmin": true',
      body: ORDER_WITH_ADMIN,
      status: 400,
      code: 'REQUEST_INVALID',
    },
  },
  {
    key: 'portcullis-contract-full',
    label: 'portcullis POST validated + answers',
    path: '/api/items',
    exchange: POST_ORDER,
    refusal: {
      why: 'the order with an undeclared "isAdmin": true',
      body: ORDER_WITH_ADMIN,
      status: 400,
      code: 'REQUEST_INVALID',
    },
  },
  {
    key: 'portcullis-detect',
    label: 'portcullis POST attack detection',
    path: '/api/items',
    exchange: POST_ORDER,
    refusal: {
      why: 'the order with SQL in its notes',
      body: ORDER_WITH_SQL,
      status: 403,
      code: 'ATTACK_DETECTED',
    },
  },
  {
    key: 'portcullis-ratelimit',
    label: 'portcullis POST rate limit (memory)',
    path: '/api/items',
    exchange: POST_ORDER,
  },
  {
    key: 'portcullis-noobs',
    label: 'portcullis (observability off)',
    path: '/api/hello',
    exchange: GET_HELLO,
  },
  {
    key: 'portcullis-ratelimit-redis',
    label: 'portcullis POST rate limit (Redis)',
    path: '/api/items',
    exchange: POST_ORDER,
  },
  { key: 'portcullis-tls', label: 'portcullis HTTPS', path: '/api/hello', exchange: GET_HELLO },
  { key: 'nginx-tls', label: 'nginx HTTPS', path: '/api/hello', exchange: GET_HELLO },
];

/** What runs when BENCH_TARGETS is not set (the TLS targets are opt-in). */
const DEFAULT_TARGETS: readonly TargetKey[] = [
  'direct',
  'bare',
  'portcullis',
  'fastify',
  'portcullis-jwt',
  'portcullis-apikey',
  'portcullis-policy',
  'portcullis-post',
  'portcullis-contract',
  'portcullis-contract-full',
  'portcullis-detect',
  'portcullis-ratelimit',
  'portcullis-ratelimit-redis',
  'portcullis-noobs',
];

function intFromEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${name} must be an integer from ${min} to ${max}, not "${raw}"`);
  return n;
}

function readSettings(): Settings {
  const known = new Set<string>(ALL_TARGETS.map((t) => t.key));
  const raw = process.env.BENCH_TARGETS;
  const targets = (raw ? raw.split(',').map((s) => s.trim()) : [...DEFAULT_TARGETS]).filter(Boolean);
  for (const t of targets) if (!known.has(t)) throw new Error(`BENCH_TARGETS: unknown target "${t}"`);
  return {
    duration: intFromEnv('BENCH_DURATION', 10, 1, 600),
    warmup: intFromEnv('BENCH_WARMUP', 3, 0, 120),
    connections: intFromEnv('BENCH_CONNECTIONS', 50, 1, 1000),
    pipelining: intFromEnv('BENCH_PIPELINING', 1, 1, 64),
    rounds: intFromEnv('BENCH_ROUNDS', 2, 1, 20),
    targets: targets as TargetKey[],
    cpuProfDir: process.env.BENCH_CPU_PROF || undefined,
    strict: process.env.BENCH_STRICT === '1',
    handshakeSeconds: intFromEnv('BENCH_HANDSHAKE_SECONDS', 5, 0, 120),
    handshakeWorkers: intFromEnv('BENCH_HANDSHAKE_WORKERS', 50, 1, 1000),
    jwtVerifyMs: intFromEnv('BENCH_JWT_MS', 1000, 0, 60_000),
    compileRuns: intFromEnv('BENCH_COMPILE_RUNS', 3, 0, 20),
  };
}

// ---------------------------------------------------------------------------------------------
// Child processes: every one is tracked, and killed on the way out whatever the way out is.

const children = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (!alive(child)) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((done) => {
    timer = setTimeout(() => done('late'), STOP_TIMEOUT_MS);
  });
  const outcome = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (outcome === 'late' && alive(child)) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Temp dirs and the like, removed after the children are stopped. */
const cleanups: (() => void)[] = [];

async function stopAll(): Promise<void> {
  await Promise.all([...children].map(stopChild));
  for (const cleanup of cleanups.splice(0)) {
    try {
      cleanup();
    } catch {}
  }
}

process.on('exit', () => {
  for (const child of children) if (alive(child)) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: ${signal}, stopping the targets\n`);
    stopAll().finally(() => process.exit(130));
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Started {
  readonly port: number;
  readonly pid: number;
}

/** Node flags for a child: --cpu-prof into <BENCH_CPU_PROF>/<name> when profiling. */
function nodeFlags(name: string, cpuProfDir: string | undefined): string[] {
  if (cpuProfDir === undefined) return [];
  const dir = join(resolve(cpuProfDir), name);
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

/** Forks dist/bench/targets/<name>.js and waits for the port it announces over IPC. */
async function forkTarget(
  name: string,
  env: Record<string, string>,
  cpuProfDir: string | undefined,
): Promise<Started> {
  const child = track(
    fork(join(here, 'targets', `${name}.js`), [], {
      env: { ...process.env, ...env },
      execArgv: nodeFlags(name, cpuProfDir),
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    }),
  );
  const ready = new Promise<number>((done, fail) => {
    child.once('message', (m: ReadyMessage) => done(m.port));
    child.once('error', fail);
    child.once('exit', (code, signal) => fail(new Error(`target ${name} exited (${code ?? signal})`)));
  });
  const port = await withTimeout(ready, START_TIMEOUT_MS, `target ${name}`);
  return { port, pid: child.pid as number };
}

/** A port nobody listens on right now (the gateway's listener port comes from its config file). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, LOOPBACK, () => done());
  });
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/**
 * Starts Portcullis the way a user does: the CLI on the quick start file, the upstream and port
 * from the environment. Its stdout (the access log) goes to /dev/null; stderr is read for the
 * "listener … on URL" line, then passed through.
 */
async function startPortcullis(
  name: TargetKey,
  config: string,
  upstreamUrl: string,
  cpuProfDir: string | undefined,
  tlsDir?: string,
): Promise<Started> {
  const port = await freePort();
  const env: Record<string, string> = { DEMO_API_URL: upstreamUrl, PORTCULLIS_PORT: String(port) };
  if (tlsDir !== undefined) env.PORTCULLIS_TLS_DIR = tlsDir;
  const child = track(
    spawn(process.execPath, [...nodeFlags(name, cpuProfDir), CLI, 'start', '--config', config], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  const stderr = child.stderr;
  if (stderr === null) throw new Error('no stderr pipe');
  stderr.setEncoding('utf8');
  let seen = '';
  const ready = new Promise<number>((done, fail) => {
    const onData = (chunk: string): void => {
      seen = (seen + chunk).slice(-4096);
      const m = /listener \S+ on https?:\/\/127\.0\.0\.1:(\d+)/.exec(seen);
      if (m === null) return;
      stderr.off('data', onData);
      stderr.pipe(process.stderr);
      done(Number(m[1]));
    };
    stderr.on('data', onData);
    child.once('error', fail);
    child.once('exit', (code, signal) =>
      fail(new Error(`portcullis exited (${code ?? signal}) before listening:\n${seen}`)),
    );
  });
  const bound = await withTimeout(ready, START_TIMEOUT_MS, 'portcullis');
  if (bound !== port) throw new Error(`portcullis listens on ${bound}, asked for ${port}`);
  return { port, pid: child.pid as number };
}

/** Clock ticks per second for /proc/<pid>/stat (USER_HZ, 100 on Linux almost everywhere). */
const CLOCK_TICKS = ((): number => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU time of a process so far, in µs; undefined where /proc is not there. */
function cpuTimeUs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, utime 14 and stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** The headers autocannon sends with a target's request: its credential, and the body's type. */
function requestHeaders(
  exchange: Exchange,
  credential: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  return {
    ...credential,
    ...(exchange.body === undefined ? {} : { 'content-type': 'application/json' }),
  };
}

/** One request with a fresh connection: the exchange's method, the given headers and body. */
function probe(
  url: string,
  method: string,
  headers: Readonly<Record<string, string>>,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const sent =
      body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    // For HTTPS the dev certificate is not verified (this request only, never process-wide).
    const req = (url.startsWith('https:') ? httpsRequest : request)(
      url,
      { method, agent: false, timeout: 5000, rejectUnauthorized: false, headers: sent },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (body.length < 4096) body += c;
        });
        res.on('end', () => done({ status: res.statusCode ?? 0, body }));
        res.on('error', fail);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url}: probe timed out`)));
    req.on('error', fail);
    req.end(body);
  });
}

/**
 * The target must answer the request autocannon will send (with its credential and body) with the
 * expected status and the upstream's answer. An authenticated target must also refuse the same
 * request without the credential (401), and a target with a refusal must refuse that request with
 * the expected status and problem code: otherwise the bench would not be measuring the stage it
 * names (an authenticated chain, a validated body).
 */
async function checkTarget(target: Target): Promise<void> {
  const { exchange } = target;
  const headers = requestHeaders(exchange, target.headers);
  const { status, body } = await probe(target.url, exchange.method, headers, exchange.body);
  if (status !== exchange.status || !body.includes(exchange.contains))
    throw new Error(
      `${target.label} (${exchange.method} ${target.url}) answered ${status}, not ${exchange.status}` +
        `${target.headers ? ' to the request with its credential' : ''}` +
        ` (a benchmark of refusals is worthless): ${body.slice(0, 200)}`,
    );
  if (target.headers !== undefined) {
    const anonymous = await probe(
      target.url,
      exchange.method,
      requestHeaders(exchange, undefined),
      exchange.body,
    );
    if (anonymous.status !== 401)
      throw new Error(
        `${target.label} (${target.url}) answered ${anonymous.status} without a credential, not 401: ` +
          'the route is not authenticated',
      );
  }
  const refusal = target.refusal;
  if (refusal === undefined) return;
  const refused = await probe(target.url, exchange.method, headers, refusal.body);
  if (refused.status !== refusal.status || !refused.body.includes(refusal.code))
    throw new Error(
      `${target.label} (${target.url}) answered ${refused.status} to ${refusal.why}, not ` +
        `${refusal.status} ${refusal.code}: the stage under test is not on: ${refused.body.slice(0, 200)}`,
    );
}

// ---------------------------------------------------------------------------------------------
// The authenticated targets: configs, a JWT and an API key, written into a temp dir.

/** Config and credential for one authenticated Portcullis target. */
interface AuthTarget {
  readonly config: string;
  readonly headers: Readonly<Record<string, string>>;
}

const JWT_ISSUER = 'https://bench.local';
const JWT_AUDIENCE = 'bench';

/**
 * The quick start's listeners, upstreams and global plugins (so the chain is the pass-through's
 * plus an authenticator), without `authentication.anonymous`, and the one route GET /api/hello →
 * /hello with the given route plugins. Ports and upstream URL stay ${env:…} references.
 */
function authConfig(routePlugins: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  const base = parseYaml(readFileSync(QUICKSTART_FILE, 'utf8')) as Record<string, unknown>;
  const plugins = { ...((base.plugins as Record<string, unknown> | undefined) ?? {}) };
  const authentication = { ...((plugins.authentication as Record<string, unknown> | undefined) ?? {}) };
  delete authentication.anonymous;
  if (Object.keys(authentication).length === 0) delete plugins.authentication;
  else plugins.authentication = authentication;
  const config = {
    version: base.version,
    listeners: base.listeners,
    upstreams: base.upstreams,
    routes: [
      {
        id: 'hello',
        path: '/api/hello',
        methods: ['GET'],
        upstream: 'demo',
        stripPrefix: '/api',
        // The chain under test is authentication; authorization has its own figures.
        plugins: { authorization: { allow: 'authenticated' }, ...routePlugins },
      },
    ],
    plugins,
    ...extra,
  };
  return `# Written by bench/run.ts (portcullis-jwt / portcullis-apikey targets).
${stringifyYaml(config)}`;
}

/**
 * portcullis-jwt: an RSA-2048 key pair made here, the public key (with kid and alg) as the one
 * static key of the one issuer, RS256 only, and ONE signed token (iss, aud, sub, iat, exp in 1 h)
 * sent with every request.
 */
async function jwtTarget(dir: string, withPolicy = false): Promise<AuthTarget> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', {
    modulusLength: 2048,
    extractable: true,
  });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench-rs256', alg: 'RS256', use: 'sig' };
  const token = await new SignJWT({ roles: ['member'], tid: 'acme' })
    .setProtectedHeader({ alg: 'RS256', kid: 'bench-rs256', typ: 'JWT' })
    .setIssuer(JWT_ISSUER)
    .setAudience(JWT_AUDIENCE)
    .setSubject('bench')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey as CryptoKey);
  const config = join(dir, withPolicy ? 'portcullis-policy.yaml' : 'portcullis-jwt.yaml');
  writeFileSync(
    config,
    authConfig({
      jwt: {
        issuers: [{ issuer: JWT_ISSUER, audience: [JWT_AUDIENCE], keys: [jwk], algorithms: ['RS256'] }],
      },
      // portcullis-policy: the same chain plus three CEL rules that all hold for the bench token.
      ...(withPolicy
        ? {
            policy: {
              rules: [
                { name: 'subject', allow: "principal.subject == 'bench'" },
                { name: 'read-only', allow: "request.method in ['GET', 'HEAD']" },
                {
                  name: 'member-of-acme',
                  allow: "'member' in principal.roles && principal.claims.tid == 'acme'",
                },
              ],
            },
          }
        : {}),
    }),
  );
  return { config, headers: { authorization: `Bearer ${token}` } };
}

/**
 * portcullis-apikey: a SQLite key store and pepper file in the temp dir, and one key for consumer
 * "bench" made with the built CLI (`keys create --json` prints it once as "key").
 */
function apiKeyTarget(dir: string, upstreamUrl: string): AuthTarget {
  const config = join(dir, 'portcullis-apikey.yaml');
  writeFileSync(
    config,
    authConfig(
      { 'api-key': {} },
      {
        stores: {
          keys: { backend: 'sqlite', path: join(dir, 'keys.db'), pepperFile: join(dir, 'pepper') },
        },
      },
    ),
  );
  let out: string;
  try {
    out = execFileSync(
      process.execPath,
      [CLI, 'keys', 'create', '--consumer', 'bench', '--name', 'bench', '--config', config, '--json'],
      {
        cwd: root,
        // The config's ${env:…} references must resolve for the CLI too.
        env: { ...process.env, DEMO_API_URL: upstreamUrl, PORTCULLIS_PORT: '8080' },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: START_TIMEOUT_MS,
      },
    );
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`portcullis keys create failed: ${e.message}\n${e.stderr ?? ''}`);
  }
  const key = (JSON.parse(out) as { key?: unknown }).key;
  if (typeof key !== 'string' || key === '')
    throw new Error(`portcullis keys create --json printed no key: ${out.slice(0, 200)}`);
  return { config, headers: { authorization: `ApiKey ${key}` } };
}

// ---------------------------------------------------------------------------------------------
// The POST targets: one public route POST /api/items → /items, with and without the contract.

/**
 * The quick start's listeners, upstreams and global plugins, and the one public route
 * POST /api/items → /items: anonymous like the quick start's hello route (the chain under test is
 * the body's), request-guard allowing 4 KiB bodies (the order fits with room), plus routePlugins.
 */
function postConfig(routePlugins: Record<string, unknown>, stores?: Record<string, unknown>): string {
  const base = parseYaml(readFileSync(QUICKSTART_FILE, 'utf8')) as Record<string, unknown>;
  const config = {
    version: base.version,
    listeners: base.listeners,
    upstreams: base.upstreams,
    routes: [
      {
        id: 'items',
        path: '/api/items',
        methods: ['POST'],
        upstream: 'demo',
        stripPrefix: '/api',
        plugins: {
          authentication: { anonymous: true },
          'request-guard': { maxBodyBytes: 4096 },
          ...routePlugins,
        },
      },
    ],
    plugins: base.plugins,
    ...(stores === undefined ? {} : { stores }),
  };
  return `# Written by bench/run.ts (portcullis-post / portcullis-contract targets).
${stringifyYaml(config)}`;
}

/** A bounded string, as a careful description declares its strings. */
function text(maxLength: number, more: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'string', maxLength, ...more };
}

function jsonContent(ref: string): Record<string, unknown> {
  return { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } };
}

/**
 * The description portcullis-contract enforces: POST /items takes exactly ORDER (every member
 * typed and bounded, the usual ones required; no additionalProperties: strict mode closes the
 * objects, which the isAdmin check proves) and answers 201 with the upstream's receipt.
 */
function orderDescription(): Record<string, unknown> {
  const Customer = {
    type: 'object',
    required: ['id', 'name', 'email'],
    properties: {
      id: text(32),
      name: text(100),
      email: text(254, { format: 'email' }),
      phone: text(32),
    },
  };
  const LineItem = {
    type: 'object',
    required: ['sku', 'qty', 'price'],
    properties: {
      sku: text(10, { pattern: '^SKU-[0-9]{6}$' }),
      name: text(100),
      qty: { type: 'integer', minimum: 1, maximum: 999 },
      price: { type: 'number', minimum: 0, maximum: 100000 },
    },
  };
  const Address = {
    type: 'object',
    required: ['line1', 'city', 'postalCode', 'country'],
    properties: {
      line1: text(200),
      line2: text(200),
      city: text(100),
      postalCode: text(16),
      country: text(2, { minLength: 2, pattern: '^[A-Z]{2}$' }),
    },
  };
  const Order = {
    type: 'object',
    required: ['orderId', 'currency', 'customer', 'items', 'shippingAddress'],
    properties: {
      orderId: text(32, { pattern: '^ord_[0-9a-f]{12}$' }),
      currency: { type: 'string', enum: ['EUR', 'GBP', 'USD'] },
      customer: { $ref: '#/components/schemas/Customer' },
      items: { type: 'array', minItems: 1, maxItems: 100, items: { $ref: '#/components/schemas/LineItem' } },
      shippingAddress: { $ref: '#/components/schemas/Address' },
      shippingMethod: { type: 'string', enum: ['standard', 'express'] },
      giftWrap: { type: 'boolean' },
      notes: text(500),
      createdAt: { type: 'string', format: 'date-time' },
    },
  };
  const Receipt = {
    type: 'object',
    required: ['id', 'status'],
    properties: { id: text(36), status: { type: 'string', enum: ['accepted', 'rejected'] } },
  };
  return {
    openapi: '3.0.3',
    info: { title: 'Bench orders API', version: '1.0.0' },
    paths: {
      '/items': {
        post: {
          operationId: 'createOrder',
          requestBody: { required: true, content: jsonContent('Order') },
          responses: {
            '201': { description: 'The order is accepted.', content: jsonContent('Receipt') },
            '400': { description: 'The order is invalid.' },
          },
        },
      },
    },
    components: { schemas: { Order, Customer, LineItem, Address, Receipt } },
  };
}

/** portcullis-post: the config alone. */
function postTarget(dir: string): string {
  const config = join(dir, 'portcullis-post.yaml');
  writeFileSync(config, postConfig({}));
  return config;
}

/** The Redis key prefix of the portcullis-ratelimit-redis target (one per bench run). */
const BENCH_REDIS_PREFIX = `portcullis-bench-${process.pid}:`;

/**
 * portcullis-ratelimit(-redis): portcullis-post plus the rate-limit stage keyed by client address,
 * one GCRA limit far above the load (every request is counted, none refused).
 */
function rateLimitTarget(dir: string, backend: 'memory' | 'redis'): string {
  const config = join(dir, `portcullis-ratelimit-${backend}.yaml`);
  const limiter = {
    key: 'ip',
    backend,
    limits: [{ name: 'bench', algorithm: 'gcra', limit: 1_000_000_000, windowSeconds: 60 }],
  };
  writeFileSync(
    config,
    postConfig(
      { 'rate-limit': limiter },
      backend === 'redis' ? { redis: { keyPrefix: BENCH_REDIS_PREFIX } } : undefined,
    ),
  );
  return config;
}

/** Why the Redis target cannot run (Redis does not answer a PING within 1 s), or undefined. */
async function redisMissing(): Promise<string | undefined> {
  const { Redis } = await import('ioredis');
  const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  const r = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await r.connect();
    await r.ping();
    return undefined;
  } catch (err) {
    return `Redis at ${url.replace(/\/\/[^@/]*@/, '//')} does not answer (${(err as Error).message})`;
  } finally {
    r.disconnect();
  }
}

/** Removes the Redis keys the bench wrote. */
async function cleanRedis(): Promise<void> {
  const { Redis } = await import('ioredis');
  const r = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379', {
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${BENCH_REDIS_PREFIX}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await r.del(...keys);
    } while (cursor !== '0');
  } catch {
    // Best effort: the keys expire on their own within the window.
  } finally {
    r.disconnect();
  }
}

/** portcullis-detect: portcullis-post plus the attack-detection stage at its defaults (paranoia 2). */
function detectTarget(dir: string): string {
  const config = join(dir, 'portcullis-detect.yaml');
  writeFileSync(config, postConfig({ 'attack-detection': {} }));
  return config;
}

/**
 * portcullis-contract: the description and the config with the contract plugin validating requests
 * (its defaults: strict, hardened JSON, undeclared statuses refused) and the answer-side body checks
 * off; portcullis-contract-full: the plugin at all its defaults (answers held, leak-checked,
 * stripped, validated in monitor mode and masked).
 */
function contractTarget(dir: string, full: boolean): string {
  const spec = join(dir, 'openapi.yaml');
  writeFileSync(
    spec,
    `# Written by bench/run.ts (portcullis-contract targets).\n${stringifyYaml(orderDescription())}`,
  );
  const config = join(dir, full ? 'portcullis-contract-full.yaml' : 'portcullis-contract.yaml');
  const response = full
    ? {}
    : { response: { validate: 'off', stripUndeclared: false, hideLeaks: false, mask: { enabled: false } } };
  writeFileSync(config, postConfig({ contract: { spec, basePath: '/api', ...response } }));
  return config;
}

// ---------------------------------------------------------------------------------------------
// HTTPS: dev certificates, the nginx peer, the new-handshake rate.

/** Writes the dev certificate set (server.crt/server.key among them) into a fresh temp dir. */
async function devCertDir(): Promise<string> {
  const dir = mkdtempSync(join(os.tmpdir(), 'portcullis-bench-tls-'));
  await writeDevCertificates(dir, await createDevCertificates());
  return dir;
}

/** Why nginx cannot be benchmarked here, or undefined when it can. */
function nginxMissing(): string | undefined {
  if (!existsSync(NGINX)) return `${NGINX} not found (apt-get install nginx-light, or set BENCH_NGINX)`;
  try {
    execFileSync(NGINX, ['-v'], { stdio: 'ignore' });
    return undefined;
  } catch (err) {
    return `${NGINX} -v failed: ${(err as Error).message}`;
  }
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
async function waitForPort(port: number, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((done) => {
      const socket = netConnect(port, LOOPBACK);
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what}: port ${port} not open within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The child pids of a process (Linux /proc), empty where that file is not there. */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * nginx as a TLS-terminating reverse proxy with the same certificate as Portcullis, in front of the
 * shared upstream: one worker, no access log, keep-alive to the upstream (64 idle connections, as
 * the Portcullis pool), /api/ → /, TLS 1.3 enabled (nginx 1.22 defaults to ≤ 1.2). Everything it writes lives in workDir. The CPU figures are the
 * worker's (the master only waits).
 */
async function startNginx(upstreamUrl: string, tlsDir: string): Promise<Started> {
  const port = await freePort();
  const workDir = mkdtempSync(join(os.tmpdir(), 'portcullis-bench-nginx-'));
  const upstream = new URL(upstreamUrl);
  const conf = join(workDir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
pid ${join(workDir, 'nginx.pid')};
error_log ${join(workDir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(workDir, 'client_body')};
  proxy_temp_path ${join(workDir, 'proxy')};
  fastcgi_temp_path ${join(workDir, 'fastcgi')};
  uwsgi_temp_path ${join(workDir, 'uwsgi')};
  scgi_temp_path ${join(workDir, 'scgi')};
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  upstream demo {
    server ${upstream.hostname}:${upstream.port};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen ${LOOPBACK}:${port} ssl;
    ssl_certificate ${join(tlsDir, 'server.crt')};
    ssl_certificate_key ${join(tlsDir, 'server.key')};
    ssl_protocols TLSv1.2 TLSv1.3;
    location /api/ {
      proxy_pass http://demo/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  const child = track(
    spawn(NGINX, ['-p', workDir, '-e', join(workDir, 'error.log'), '-c', conf, '-g', 'daemon off;'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  );
  child.once('exit', () => rmSync(workDir, { recursive: true, force: true }));
  const exited = new Promise<never>((_, fail) => {
    child.once('error', fail);
    child.once('exit', (code, signal) => {
      let log = '';
      try {
        log = readFileSync(join(workDir, 'error.log'), 'utf8');
      } catch {}
      fail(new Error(`nginx exited (${code ?? signal}) before listening:\n${log}`));
    });
  });
  exited.catch(() => {});
  await Promise.race([waitForPort(port, START_TIMEOUT_MS, 'nginx'), exited]);
  const master = child.pid as number;
  const worker = childPids(master)[0];
  return { port, pid: worker ?? master };
}

interface HandshakeFigures {
  readonly seconds: number;
  readonly workers: number;
  readonly handshakes: number;
  readonly perSecond: number;
  readonly errors: number;
  readonly protocol: string | undefined;
  readonly cipher: string | undefined;
  /** CPU time of the target process per handshake, µs. */
  readonly cpuUsPerHandshake: number | undefined;
}

/**
 * New full handshakes per second: `workers` loops each doing tls.connect → secureConnect → destroy
 * for `seconds`, with no session reuse (no session is passed, and Node's client keeps no cache
 * without one). The client runs in this process, so on a small machine it shares the cores.
 */
async function handshakeRate(target: Target, settings: Settings): Promise<HandshakeFigures | undefined> {
  if (target.tls === undefined || settings.handshakeSeconds === 0) return undefined;
  const port = target.tls.port;
  let handshakes = 0;
  let errors = 0;
  let protocol: string | undefined;
  let cipher: string | undefined;
  const cpuBefore = cpuTimeUs(target.pid);
  const start = performance.now();
  const end = start + settings.handshakeSeconds * 1000;
  const once = (): Promise<void> =>
    new Promise((done) => {
      const socket = tlsConnect({ host: LOOPBACK, port, servername: 'localhost', rejectUnauthorized: false });
      socket.setTimeout(5000, () => socket.destroy(new Error('handshake timed out')));
      socket.once('secureConnect', () => {
        handshakes++;
        protocol ??= socket.getProtocol() ?? undefined;
        cipher ??= socket.getCipher()?.name;
        socket.destroy();
        done();
      });
      socket.once('error', () => {
        errors++;
        done();
      });
    });
  const worker = async (): Promise<void> => {
    while (performance.now() < end) await once();
  };
  await Promise.all(Array.from({ length: settings.handshakeWorkers }, worker));
  const seconds = (performance.now() - start) / 1000;
  return {
    seconds,
    workers: settings.handshakeWorkers,
    handshakes,
    perSecond: handshakes / seconds,
    errors,
    protocol,
    cipher,
    cpuUsPerHandshake: perRequest(cpuBefore, cpuTimeUs(target.pid), handshakes),
  };
}

// ---------------------------------------------------------------------------------------------
// Load and figures.

async function load(target: Target, settings: Settings, seconds: number): Promise<autocannon.Result> {
  const { exchange } = target;
  const headers = requestHeaders(exchange, target.headers);
  // autocannon takes `body` (bench/autocannon.d.ts declares only what the GET targets needed).
  const options: autocannon.Options & { body?: string } = {
    url: target.url,
    connections: settings.connections,
    pipelining: settings.pipelining,
    duration: seconds,
    timeout: 10,
    method: exchange.method,
    ...(Object.keys(headers).length === 0 ? {} : { headers }),
    ...(exchange.body === undefined ? {} : { body: exchange.body }),
  };
  return autocannon(options);
}

interface CpuMark {
  readonly target: number | undefined;
  readonly upstream: number | undefined;
  readonly at: number;
}

function cpuMark(target: Target, upstreamPid: number): CpuMark {
  return { target: cpuTimeUs(target.pid), upstream: cpuTimeUs(upstreamPid), at: performance.now() };
}

function perRequest(
  before: number | undefined,
  after: number | undefined,
  requests: number,
): number | undefined {
  return before === undefined || after === undefined || requests === 0
    ? undefined
    : (after - before) / requests;
}

function figures(round: number, r: autocannon.Result, before: CpuMark, after: CpuMark): RunFigures {
  const elapsedUs = (after.at - before.at) * 1000;
  return {
    round,
    reqPerSec: r.requests.average,
    latencyP50: r.latency.p50,
    latencyP99: r.latency.p99,
    latencyMean: r.latency.average,
    requests: r.requests.total,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    bytesPerSec: r.throughput.average,
    cpuUsPerReq: perRequest(before.target, after.target, r.requests.total),
    cpuPercent:
      before.target === undefined || after.target === undefined
        ? undefined
        : (100 * (after.target - before.target)) / elapsedUs,
    upstreamCpuUsPerReq: perRequest(before.upstream, after.upstream, r.requests.total),
  };
}

function medianOf(values: readonly (number | undefined)[]): number | undefined {
  return values.some((v) => v === undefined) ? undefined : median(values as number[]);
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function summarize(target: Target, runs: readonly RunFigures[], direct: number | undefined): Summary {
  const reqPerSec = median(runs.map((r) => r.reqPerSec));
  return {
    target: target.key,
    label: target.label,
    url: target.url,
    reqPerSec,
    latencyP50: median(runs.map((r) => r.latencyP50)),
    latencyP99: median(runs.map((r) => r.latencyP99)),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    non2xx: runs.reduce((n, r) => n + r.non2xx, 0),
    cpuUsPerReq: medianOf(runs.map((r) => r.cpuUsPerReq)),
    cpuPercent: medianOf(runs.map((r) => r.cpuPercent)),
    vsDirect: direct === undefined ? undefined : reqPerSec / direct,
    runs,
  };
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

/** Whole milliseconds as autocannon records them; a median of two rounds may end in .5. */
function wholeMs(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

function fixed(n: number | undefined, digits: number): string {
  return n === undefined ? '-' : n.toFixed(digits);
}

/**
 * The summary as a Markdown table (readable as is, and pasted into docs/performance.md). autocannon
 * records latency in whole milliseconds, so p50/p99 are whole ms; the mean comes from Little's law
 * (requests in flight ÷ throughput), which a closed-loop client makes exact.
 */
function printTable(rows: readonly Summary[], settings: Settings): void {
  const head = [
    'target',
    'req/s',
    'vs direct',
    'mean ms',
    'p50 ms',
    'p99 ms',
    'errors',
    'non-2xx',
    'CPU µs/req',
    'CPU %',
  ];
  const labelWidth = Math.max(25, ...rows.map((r) => r.label.length));
  const widths = head.map((h, i) => (i === 0 ? labelWidth : Math.max(h.length, 7)));
  const inFlight = settings.connections * settings.pipelining;
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => pad(c, widths[i] as number, i > 0)).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of rows) {
    console.log(
      line([
        r.label,
        Math.round(r.reqPerSec).toString(),
        fixed(r.vsDirect, 2),
        fixed((inFlight / r.reqPerSec) * 1000, 2),
        wholeMs(r.latencyP50),
        wholeMs(r.latencyP99),
        String(r.errors),
        String(r.non2xx),
        fixed(r.cpuUsPerReq, 1),
        fixed(r.cpuPercent, 0),
      ]),
    );
  }
}

function machine(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    availableParallelism: os.availableParallelism(),
    totalMemGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  };
}

async function main(): Promise<number> {
  const settings = readSettings();
  const m = machine();
  console.log(
    `bench: ${m.cpuModel} ×${m.cpus}, Node ${m.node}; ${settings.connections} connections, ` +
      `pipelining ${settings.pipelining}, warm-up ${settings.warmup} s, ${settings.duration} s × ` +
      `${settings.rounds} round(s), targets: ${settings.targets.join(', ')}`,
  );

  const upstream = await forkTarget('upstream', {}, settings.cpuProfDir);
  const upstreamUrl = `http://${LOOPBACK}:${upstream.port}`;
  const targets: Target[] = [];
  const skipped: { target: TargetKey; reason: string }[] = [];
  const wantsTls = settings.targets.some((t) => t === 'portcullis-tls' || t === 'nginx-tls');
  const tlsDir = wantsTls ? await devCertDir() : undefined;
  if (tlsDir !== undefined) cleanups.push(() => rmSync(tlsDir, { recursive: true, force: true }));
  // The configs (and key store, description) the bench writes for the generated targets.
  let configDir: string | undefined;
  cleanups.push(() => {
    if (configDir !== undefined) rmSync(configDir, { recursive: true, force: true });
  });
  if (settings.targets.some((t) => t.startsWith('portcullis-post') || t.startsWith('portcullis-contract')))
    console.log(
      `  POST targets send one order of ${Buffer.byteLength(ORDER_BODY)} bytes of JSON ` +
        `(${ORDER.items.length} line items) to /api/items`,
    );
  for (const spec of ALL_TARGETS) {
    if (!settings.targets.includes(spec.key)) continue;
    let started: Started;
    let scheme = 'http';
    let headers: Readonly<Record<string, string>> | undefined;
    if (spec.key === 'direct') started = upstream;
    else if (spec.key === 'portcullis')
      started = await startPortcullis(spec.key, QUICKSTART, upstreamUrl, settings.cpuProfDir);
    else if (
      spec.key === 'portcullis-jwt' ||
      spec.key === 'portcullis-apikey' ||
      spec.key === 'portcullis-policy'
    ) {
      configDir ??= mkdtempSync(join(os.tmpdir(), 'portcullis-bench-'));
      const dir = configDir;
      const auth =
        spec.key === 'portcullis-apikey'
          ? apiKeyTarget(dir, upstreamUrl)
          : await jwtTarget(dir, spec.key === 'portcullis-policy');
      headers = auth.headers;
      started = await startPortcullis(spec.key, auth.config, upstreamUrl, settings.cpuProfDir);
    } else if (
      spec.key === 'portcullis-post' ||
      spec.key === 'portcullis-contract' ||
      spec.key === 'portcullis-contract-full' ||
      spec.key === 'portcullis-detect'
    ) {
      configDir ??= mkdtempSync(join(os.tmpdir(), 'portcullis-bench-'));
      const config =
        spec.key === 'portcullis-post'
          ? postTarget(configDir)
          : spec.key === 'portcullis-detect'
            ? detectTarget(configDir)
            : contractTarget(configDir, spec.key === 'portcullis-contract-full');
      started = await startPortcullis(spec.key, config, upstreamUrl, settings.cpuProfDir);
    } else if (spec.key === 'portcullis-noobs') {
      configDir ??= mkdtempSync(join(os.tmpdir(), 'portcullis-bench-'));
      const config = join(configDir, 'portcullis-noobs.yaml');
      const base = parseYaml(readFileSync(QUICKSTART, 'utf8')) as Record<string, unknown>;
      const off = { enabled: false };
      writeFileSync(
        config,
        `# Written by bench/run.ts (portcullis-noobs).\n${stringifyYaml({ ...base, observability: { metrics: off, audit: off, anomaly: off } })}`,
      );
      started = await startPortcullis(spec.key, config, upstreamUrl, settings.cpuProfDir);
    } else if (spec.key === 'portcullis-ratelimit' || spec.key === 'portcullis-ratelimit-redis') {
      const backend = spec.key === 'portcullis-ratelimit' ? 'memory' : 'redis';
      if (backend === 'redis') {
        const missing = await redisMissing();
        if (missing !== undefined) {
          console.log(`  skipping ${spec.key}: ${missing}`);
          skipped.push({ target: spec.key, reason: missing });
          continue;
        }
        cleanups.push(() => void cleanRedis());
      }
      configDir ??= mkdtempSync(join(os.tmpdir(), 'portcullis-bench-'));
      started = await startPortcullis(
        spec.key,
        rateLimitTarget(configDir, backend),
        upstreamUrl,
        settings.cpuProfDir,
      );
    } else if (spec.key === 'portcullis-tls') {
      started = await startPortcullis(spec.key, HTTPS_CONFIG, upstreamUrl, settings.cpuProfDir, tlsDir);
      scheme = 'https';
    } else if (spec.key === 'nginx-tls') {
      const missing = nginxMissing();
      if (missing !== undefined) {
        console.log(`  skipping ${spec.key}: ${missing}`);
        skipped.push({ target: spec.key, reason: missing });
        continue;
      }
      started = await startNginx(upstreamUrl, tlsDir as string);
      scheme = 'https';
    } else started = await forkTarget(spec.key, { BENCH_UPSTREAM_URL: upstreamUrl }, settings.cpuProfDir);
    const target: Target = {
      ...spec,
      url: `${scheme}://${LOOPBACK}:${started.port}${spec.path}`,
      pid: started.pid,
      ...(scheme === 'https' ? { tls: { port: started.port } } : {}),
      ...(headers === undefined ? {} : { headers }),
    };
    await checkTarget(target);
    targets.push(target);
  }

  const runs = new Map<TargetKey, RunFigures[]>(targets.map((t) => [t.key, []]));
  for (let round = 1; round <= settings.rounds; round++) {
    // Odd rounds run the targets in order, even rounds in reverse (A B B A): a drift of the machine
    // over the run (other load, heat, the client's own state) then weighs on no target's position.
    const order = round % 2 === 1 ? targets : [...targets].reverse();
    for (const target of order) {
      // The first round warms every target up (JIT, pools, sockets); later rounds are already warm.
      if (round === 1 && settings.warmup > 0) await load(target, settings, settings.warmup);
      const before = cpuMark(target, upstream.pid);
      const measured = await load(target, settings, settings.duration);
      const result = figures(round, measured, before, cpuMark(target, upstream.pid));
      (runs.get(target.key) as RunFigures[]).push(result);
      console.log(
        `  round ${round}/${settings.rounds}  ${pad(target.label, 26)} ${pad(Math.round(result.reqPerSec).toString(), 7, true)} req/s` +
          `  p50 ${result.latencyP50} ms  p99 ${result.latencyP99} ms` +
          (result.cpuUsPerReq === undefined
            ? ''
            : `  CPU ${result.cpuUsPerReq.toFixed(1)} µs/req (${result.cpuPercent?.toFixed(0)} %)`) +
          (result.errors || result.non2xx ? `  errors ${result.errors} non-2xx ${result.non2xx}` : ''),
      );
    }
  }

  // New-handshake rates, after the keep-alive runs (so they do not disturb them).
  const handshakes = new Map<TargetKey, HandshakeFigures>();
  for (const target of targets) {
    const h = await handshakeRate(target, settings);
    if (h === undefined) continue;
    handshakes.set(target.key, h);
    console.log(
      `  handshakes  ${pad(target.label, 26)} ${pad(Math.round(h.perSecond).toString(), 7, true)} /s` +
        `  (${h.handshakes} in ${h.seconds.toFixed(1)} s, ${h.workers} workers, ${h.protocol} ${h.cipher}` +
        (h.cpuUsPerHandshake === undefined ? '' : `, CPU ${h.cpuUsPerHandshake.toFixed(0)} µs/handshake`) +
        `)${h.errors ? `  errors ${h.errors}` : ''}`,
    );
  }

  const directRuns = runs.get('direct');
  const direct = directRuns ? median(directRuns.map((r) => r.reqPerSec)) : undefined;
  const rows = targets.map((t) => {
    const h = handshakes.get(t.key);
    const row = summarize(t, runs.get(t.key) as RunFigures[], direct);
    return h === undefined ? row : { ...row, handshakes: h };
  });
  const byKey = new Map(rows.map((r) => [r.target, r]));

  console.log(`\nmedian of ${settings.rounds} round(s):\n`);
  printTable(rows, settings);
  console.log('');

  const goals = [];
  let missed = false;
  const nameWidth = Math.max(...[...GOALS, ...COMPARISONS].map((g) => g.name.length));
  const unclean = (r: Summary): boolean => r.errors > 0 || r.non2xx > 0;
  for (const goal of GOALS) {
    const a = byKey.get(goal.numerator);
    const b = byKey.get(goal.denominator);
    if (a === undefined || b === undefined) continue;
    const ratio = a.reqPerSec / b.reqPerSec;
    // The same ratio round by round (within a round the two targets are loaded seconds apart).
    const perRound = a.runs.map((r, i) => r.reqPerSec / ((b.runs[i] as RunFigures).reqPerSec || 1));
    // A ratio over errors or refusals (401s are cheap) says nothing: such a goal is not met.
    const valid = !unclean(a) && !unclean(b);
    const pass = valid && ratio >= goal.target;
    if (!pass) missed = true;
    // The same comparison in CPU time per request (steadier when the cores are shared): > 1 means
    // the numerator spends less CPU on a request than the denominator.
    const cpuRatio =
      a.cpuUsPerReq === undefined || b.cpuUsPerReq === undefined ? undefined : b.cpuUsPerReq / a.cpuUsPerReq;
    // What the numerator's extra stages cost, in CPU µs per request of the target process.
    const cpuUsAdded =
      a.cpuUsPerReq === undefined || b.cpuUsPerReq === undefined ? undefined : a.cpuUsPerReq - b.cpuUsPerReq;
    goals.push({ name: goal.name, ratio, target: goal.target, pass, valid, perRound, cpuRatio, cpuUsAdded });
    console.log(
      `${pad(goal.name, nameWidth)} ${ratio.toFixed(3)}  (target ≥ ${goal.target.toFixed(2)})  ` +
        `${pass ? 'PASS' : valid ? 'MISS' : 'INVALID (errors or non-2xx)'}` +
        `   per round: ${perRound.map((x) => x.toFixed(2)).join(' ')}` +
        (cpuRatio === undefined ? '' : `   CPU/req ratio: ${cpuRatio.toFixed(2)}`) +
        (cpuUsAdded === undefined || !ADDS_A_STAGE.has(goal)
          ? ''
          : `   CPU added: ${cpuUsAdded >= 0 ? '+' : ''}${cpuUsAdded.toFixed(1)} µs/req`),
    );
  }

  for (const c of COMPARISONS) {
    const a = byKey.get(c.numerator);
    const b = byKey.get(c.denominator);
    if (a === undefined || b === undefined) continue;
    const perRound = a.runs.map((r, i) => r.reqPerSec / ((b.runs[i] as RunFigures).reqPerSec || 1));
    const cpuRatio =
      a.cpuUsPerReq === undefined || b.cpuUsPerReq === undefined ? undefined : b.cpuUsPerReq / a.cpuUsPerReq;
    const ha = a.handshakes;
    const hb = b.handshakes;
    // A stage added to the POST chain: what it costs, in CPU µs per request of the target process.
    const cpuUsAdded =
      c.denominator !== 'portcullis-post' || a.cpuUsPerReq === undefined || b.cpuUsPerReq === undefined
        ? undefined
        : a.cpuUsPerReq - b.cpuUsPerReq;
    goals.push({ name: c.name, ratio: a.reqPerSec / b.reqPerSec, perRound, cpuRatio, cpuUsAdded });
    console.log(
      `${pad(c.name, nameWidth)} ${(a.reqPerSec / b.reqPerSec).toFixed(3)}  (no target)` +
        `   per round: ${perRound.map((x) => x.toFixed(2)).join(' ')}` +
        (cpuRatio === undefined ? '' : `   CPU/req ratio: ${cpuRatio.toFixed(2)}`) +
        (cpuUsAdded === undefined
          ? ''
          : `   CPU added: ${cpuUsAdded >= 0 ? '+' : ''}${cpuUsAdded.toFixed(1)} µs/req`) +
        (ha && hb ? `   handshakes/s ratio: ${(ha.perSecond / hb.perSecond).toFixed(2)}` : ''),
    );
  }
  for (const s of skipped) console.log(`${s.target} skipped: ${s.reason}`);

  const clean = rows.every((r) => r.errors === 0 && r.non2xx === 0 && (r.handshakes?.errors ?? 0) === 0);
  if (!clean) {
    const bad = rows
      .filter((r) => unclean(r) || (r.handshakes?.errors ?? 0) > 0)
      .map((r) => `${r.target} (errors ${r.errors}, non-2xx ${r.non2xx})`);
    console.log(`\nWARNING: ${bad.join(', ')}: errors or non-2xx answers; these figures are not comparable.`);
  }

  // One uncached verification (and the cache hit), with the targets idle.
  let jwtVerify: JwtBenchRow[] | undefined;
  if (settings.jwtVerifyMs > 0) {
    jwtVerify = await runJwtVerifyBench(settings.jwtVerifyMs);
    console.log(
      `\nJWT verification, one token at a time, in this process (${settings.jwtVerifyMs} ms per row; ` +
        'jose = compactVerify alone, uncached = the gateway verifier with its cache off, cached = its cache hit):\n',
    );
    console.log(formatJwtBench(jwtVerify));
  }

  // The start-up compile of a 1,000-operation description, each run in a cold child process.
  let contractCompile: ContractCompileFigures | undefined;
  if (settings.compileRuns > 0) {
    console.log(
      `\nOpenAPI contract start-up compile (syntheticSpec(1000), buildContract with the plugin's defaults, ` +
        `${settings.compileRuns} cold child process(es)):\n`,
    );
    contractCompile = await runContractCompileBench(1000, settings.compileRuns);
    console.log(formatContractCompile(contractCompile));
    if (!contractCompile.pass) missed = true;
  }

  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(
    RESULTS_FILE,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: m,
        settings,
        upstream: upstreamUrl,
        results: rows,
        goals,
        jwtVerify,
        contractCompile,
        skipped,
        clean,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nresults written to ${RESULTS_FILE}`);
  if (!clean) return 1;
  return settings.strict && missed ? 1 : 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
} finally {
  await stopAll();
}
process.exit(exitCode);

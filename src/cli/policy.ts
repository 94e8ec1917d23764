import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, resolve } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { policyClock } from '../cel/cel.js';
import { compilePlan } from '../config/compile.js';
import { ConfigError } from '../config/errors.js';
import { type LoadedConfig, loadConfigFile, loadConfigObject } from '../config/load.js';
import { RequestContext } from '../core/context.js';
import { GatewayError } from '../core/errors.js';
import type { CompiledRoute, Plan, RequestStage } from '../core/plan.js';
import type { Principal } from '../core/principal.js';
import { createLogger } from '../observability/logger.js';
import { createDefaultRegistry } from '../plugins/index.js';

/**
 * `portcullis policy test FILE`: table-driven tests of a route's authorization (the authorize
 * phase: rbac, policy) — principal + request → allow | deny | not-found — compiled exactly as
 * `start` would, without a listener or an upstream call.
 */

const StringMap = Type.Record(Type.String(), Type.String());

const CaseSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    route: Type.Optional(Type.String({ minLength: 1 })),
    principal: Type.Optional(
      Type.Object(
        {
          id: Type.Optional(Type.String()),
          kind: Type.Optional(
            Type.Union([
              Type.Literal('consumer'),
              Type.Literal('user'),
              Type.Literal('service'),
              Type.Literal('anonymous'),
            ]),
          ),
          subject: Type.Optional(Type.String()),
          consumer: Type.Optional(Type.String()),
          tenant: Type.Optional(Type.String()),
          roles: Type.Optional(Type.Array(Type.String())),
          scopes: Type.Optional(Type.Array(Type.String())),
          claims: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
          method: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    request: Type.Optional(
      Type.Object(
        {
          method: Type.Optional(Type.String()),
          path: Type.Optional(Type.String()),
          params: Type.Optional(StringMap),
          query: Type.Optional(StringMap),
          headers: Type.Optional(StringMap),
          clientIp: Type.Optional(Type.String()),
          time: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    expect: Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('not-found')]),
  },
  { additionalProperties: false },
);

const TestFileSchema = Type.Object(
  {
    config: Type.Optional(Type.String({ minLength: 1 })),
    policy: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    route: Type.Optional(
      Type.Object(
        { id: Type.Optional(Type.String()), path: Type.Optional(Type.String()) },
        { additionalProperties: false },
      ),
    ),
    cases: Type.Array(CaseSchema, { minItems: 1 }),
  },
  { additionalProperties: false },
);

type TestFile = Static<typeof TestFileSchema>;
type TestCase = Static<typeof CaseSchema>;
type Outcome = 'allow' | 'deny' | 'not-found';

function bad(file: string, reason: string, path?: string): ConfigError {
  return new ConfigError([{ file, path, reason }]);
}

async function readTestFile(file: string): Promise<TestFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw bad(file, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw bad(file, `not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const first = Value.Errors(TestFileSchema, data).First();
  if (first !== undefined) {
    const path = first.path
      .replace(/^\//, '')
      .replace(/\/(\d+)/g, '[$1]')
      .replace(/\//g, '.');
    throw bad(file, first.message, path || undefined);
  }
  const t = data as TestFile;
  if ((t.config === undefined) === (t.policy === undefined))
    throw bad(
      file,
      'give either config (a portcullis.yaml, relative to this file) or policy (inline settings)',
    );
  return t;
}

const INLINE_ROUTE = 'policy';

/** Inline `policy:` settings become a one-route config, checked like any other. */
function inlineConfig(t: TestFile): Record<string, unknown> {
  return {
    listeners: [{ name: 'policy-test', host: '127.0.0.1', port: 0 }],
    // Never called: the test runs the authorize phase only.
    upstreams: { none: { url: 'http://127.0.0.1:9' } },
    routes: [
      {
        id: t.route?.id ?? INLINE_ROUTE,
        path: t.route?.path ?? '/',
        methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
        upstream: 'none',
        plugins: { policy: t.policy },
      },
    ],
    plugins: { authentication: { anonymous: true } },
  };
}

/** `:name` segments of a route path, read from a concrete path; {} when it does not fit. */
export function paramsFromPath(pattern: string, path: string): Record<string, string> {
  const want = pattern.split('/');
  const got = path.split('?')[0]?.split('/') ?? [];
  const out: Record<string, string> = {};
  if (want.length !== got.length) return out;
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as string;
    if (!w.startsWith(':')) continue;
    try {
      out[w.slice(1)] = decodeURIComponent(got[i] as string);
    } catch {
      out[w.slice(1)] = got[i] as string;
    }
  }
  return out;
}

function principalOf(c: TestCase): Principal | undefined {
  const p = c.principal;
  if (p === undefined) return undefined;
  const subject = p.subject ?? 'test';
  return Object.freeze({
    id: p.id ?? `test:${subject}`,
    kind: p.kind ?? 'user',
    subject,
    ...(p.consumer === undefined ? {} : { consumer: p.consumer }),
    ...(p.tenant === undefined ? {} : { tenant: p.tenant }),
    roles: Object.freeze([...(p.roles ?? [])]),
    scopes: Object.freeze([...(p.scopes ?? [])]),
    claims: Object.freeze({ ...(p.claims ?? {}) }),
    method: p.method ?? 'test',
  });
}

interface Result {
  readonly outcome: Outcome;
  readonly deniedBy: string | undefined;
  readonly monitored: readonly string[];
  readonly error?: string;
}

async function runCase(plan: Plan, route: CompiledRoute, c: TestCase, n: number): Promise<Result> {
  const r = c.request ?? {};
  const method = (r.method ?? 'GET').toUpperCase();
  const path = r.path ?? route.path;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = v;
  const query = new URLSearchParams(r.query ?? {}).toString();
  const req = {
    method,
    url: query === '' ? path : `${path}?${query}`,
    headers,
  } as unknown as IncomingMessage;
  const clientIp = r.clientIp ?? '127.0.0.1';
  const ctx = new RequestContext(
    `policy-test-${n}`,
    plan,
    req,
    {} as ServerResponse,
    'policy-test',
    'http',
    clientIp,
    false,
    0,
  );
  ctx.path = path;
  ctx.query = query;
  ctx.params = r.params ?? paramsFromPath(route.path, path);
  ctx.route = route;
  ctx.principal = principalOf(c);
  const names = new Set(route.chain.stages.filter((s) => s.phase === 'authorize').map((s) => s.plugin));
  const stages = route.chain.request.filter((s: RequestStage) => names.has(s.plugin));
  const time = r.time === undefined ? undefined : new Date(r.time);
  if (time !== undefined && Number.isNaN(time.getTime()))
    throw new Error(`request.time "${r.time}" is not a date`);
  const saved = policyClock.now;
  if (time !== undefined) policyClock.now = () => time;
  const monitored: string[] = [];
  try {
    for (const stage of stages) {
      try {
        await stage.run(ctx);
      } catch (err) {
        if (!(err instanceof GatewayError)) throw err;
        if (stage.monitor) {
          monitored.push(`${stage.plugin}:${err.code}`);
          continue;
        }
        const outcome: Outcome = err.code === 'NOT_FOUND' ? 'not-found' : 'deny';
        return { outcome, deniedBy: ctx.deniedBy ?? `${stage.plugin}:${err.code}`, monitored };
      }
    }
  } finally {
    policyClock.now = saved;
  }
  for (const m of ctx.monitored ?? []) monitored.push(`${m.plugin}:${m.code}`);
  return { outcome: 'allow', deniedBy: undefined, monitored };
}

export interface PolicyIo {
  readonly out: NodeJS.WritableStream;
}

/** Runs the cases of `file`; returns the exit code (0 all pass, 1 a case failed). Bad file: ConfigError. */
export async function policyTestCommand(
  file: string,
  io: PolicyIo = { out: process.stdout },
): Promise<number> {
  const t = await readTestFile(file);
  const registry = createDefaultRegistry();
  let loaded: LoadedConfig;
  if (t.config !== undefined) {
    loaded = await loadConfigFile(resolve(dirname(file), t.config), { registry });
  } else {
    loaded = loadConfigObject(inlineConfig(t), { registry });
  }
  const plan = await compilePlan(loaded, { registry, logger: createLogger('silent'), version: 1 });
  try {
    const byId = new Map(plan.routes.map((r) => [r.id, r]));
    // Every case's route must exist before anything runs: a typo is a bad file, not a failed case.
    t.cases.forEach((c, i) => {
      const id = c.route ?? (t.policy !== undefined ? (t.route?.id ?? INLINE_ROUTE) : undefined);
      if (id === undefined)
        throw bad(file, 'route is required when the file names a config', `cases[${i}].route`);
      if (!byId.has(id)) throw bad(file, `no route with id "${id}" in the config`, `cases[${i}].route`);
    });
    let passed = 0;
    let failed = 0;
    for (const [i, c] of t.cases.entries()) {
      const id = c.route ?? t.route?.id ?? INLINE_ROUTE;
      const route = byId.get(id) as CompiledRoute;
      let line: string;
      try {
        const res = await runCase(plan, route, c, i);
        const got = `${res.outcome}${res.deniedBy ? ` (${res.deniedBy})` : ''}${res.monitored.length ? ` [monitored: ${res.monitored.join(', ')}]` : ''}`;
        if (res.outcome === c.expect) {
          passed++;
          line = `ok    ${c.name}: ${got}`;
        } else {
          failed++;
          line = `FAIL  ${c.name}: expected ${c.expect}, got ${got}`;
        }
      } catch (err) {
        failed++;
        line = `FAIL  ${c.name}: error: ${(err as Error).message}`;
      }
      io.out.write(`${line}\n`);
    }
    io.out.write(`\n${passed} passed, ${failed} failed\n`);
    return failed === 0 ? 0 : 1;
  } finally {
    await plan.close();
  }
}

export function registerPolicyCommand(program: Command, io: PolicyIo = { out: process.stdout }): Command {
  const policy = program.command('policy').description('authorization policy tools');
  policy
    .command('test')
    .description(
      'run table-driven authorization tests (principal + request → allow | deny | not-found) against a config, without a listener',
    )
    .argument('<file>', 'YAML test file (config: or policy:, and cases:)')
    .action(async (file: string) => {
      const code = await policyTestCommand(file, io);
      if (code !== 0) process.exitCode = code;
    });
  return policy;
}

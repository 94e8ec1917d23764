import { compilePlan } from '../config/compile.js';
import { loadConfigFile } from '../config/load.js';
import type { CompiledRoute, Plan } from '../core/plan.js';
import { createLogger } from '../observability/logger.js';
import { createDefaultRegistry } from '../plugins/index.js';

/** One operation as a route serves it: what `portcullis routes` prints (and later the admin API serves). */
export interface RouteEntry {
  readonly route: string;
  readonly operation: string;
  readonly method: string;
  readonly path: string;
  readonly host: string | undefined;
  readonly upstream: string;
  readonly version: string;
  readonly deprecated: boolean;
  /** Authenticators of the chain, or "anonymous" when the route lets callers in without one. */
  readonly authentication: readonly string[];
  readonly anonymous: boolean;
  /** What the limiting stages enforce (request-guard, rate limits), in words. */
  readonly limits: readonly string[];
  readonly stages: readonly string[];
}

const NOT_AUTHENTICATORS = new Set(['auth-lockout', 'token-binding', 'authentication']);
const LIMIT_STAGES = new Set(['request-guard']);

function entriesOf(route: CompiledRoute): RouteEntry[] {
  const stages = route.chain.stages;
  const authentication = stages
    .filter((s) => s.phase === 'authenticate' && !NOT_AUTHENTICATORS.has(s.plugin))
    .map((s) => s.plugin);
  const gate = stages.find((s) => s.plugin === 'authentication');
  const anonymous = gate?.summary === 'anonymous allowed';
  const limits = stages
    .filter((s) => LIMIT_STAGES.has(s.plugin) || s.phase === 'rateLimit')
    .map((s) => s.summary ?? s.plugin);
  const common = {
    route: route.id,
    host: route.host,
    upstream: route.upstream,
    authentication,
    anonymous,
    limits,
    stages: stages.map((s) => (s.mode === 'monitor' ? `${s.plugin} (monitor)` : s.plugin)),
  };
  if (route.chain.operations.length > 0)
    return route.chain.operations.map((op) => ({
      ...common,
      operation: op.id,
      method: op.method,
      path: op.path,
      version: op.version,
      deprecated: op.deprecated,
    }));
  return route.methods.map((m) => ({
    ...common,
    operation: '-',
    method: m,
    path: route.path,
    version: '-',
    deprecated: false,
  }));
}

/** Every operation of every route of a compiled plan. */
export function routeInventory(plan: Plan): RouteEntry[] {
  return plan.routes.flatMap(entriesOf);
}

/** `portcullis routes [--json]`: every operation with its version, authentication, limits and stages. */
export async function routesCommand(
  file: string,
  json: boolean,
  out: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  const registry = createDefaultRegistry();
  const loaded = await loadConfigFile(file, { registry });
  const plan = await compilePlan(loaded, { registry, logger: createLogger('silent'), version: 1 });
  try {
    const entries = routeInventory(plan);
    if (json) {
      out.write(`${JSON.stringify({ operations: entries }, null, 2)}\n`);
      return;
    }
    const lines: string[] = [];
    for (const e of entries) {
      const auth = e.anonymous
        ? `anonymous${e.authentication.length ? ` or ${e.authentication.join('|')}` : ''}`
        : e.authentication.join('|') || 'none';
      lines.push(
        `${e.method.padEnd(7)} ${e.path}  [${e.operation}${e.version !== '-' ? ` v${e.version}` : ''}${e.deprecated ? ', deprecated' : ''}] route ${e.route} → ${e.upstream}`,
      );
      lines.push(`        auth: ${auth}; limits: ${e.limits.join(', ') || 'none'}`);
      lines.push(`        stages: ${e.stages.join(' → ')}`);
    }
    lines.push(`${entries.length} operation(s) on ${plan.routes.length} route(s)`);
    out.write(`${lines.join('\n')}\n`);
  } finally {
    await plan.close();
  }
}

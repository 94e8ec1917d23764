import type { TObject } from '@sinclair/typebox';
import type { ValidateFunction } from 'ajv';
import type { Logger } from 'pino';
import { AdminAccess } from '../admin/access.js';
import { GLOBAL_PHASES, phaseIndex } from '../core/phases.js';
import type { Chain, CompiledRoute, Plan, RequestStage, StageInfo } from '../core/plan.js';
import type {
  ConnectionHook,
  InventoryOperation,
  LogHook,
  PluginDefinition,
  PluginDeps,
  ResponseHook,
  RouteInfo,
  StageHandlers,
} from '../core/plugin.js';
import { Registry } from '../core/registry.js';
import { createUpstream, type Upstream } from '../proxy/upstream.js';
import { TrustedProxies } from '../server/trust.js';
import { openStores } from '../stores/index.js';
import { VersionCatalog } from '../versioning/catalog.js';
import { VersionUsage } from '../versioning/usage.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import { deepFreeze, type LoadedConfig } from './load.js';
import { pluginSchema } from './schema.js';
import { compileValidator, createConfigAjv, issuesFromAjv } from './validate.js';

type Settings = Record<string, unknown>;

function isObject(v: unknown): v is Settings {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Route settings over global ones: objects merge key by key, everything else is replaced. */
function merge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Settings = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}

function byPhaseThenPriority(a: PluginDefinition, b: PluginDefinition): number {
  return (
    phaseIndex(a.phase) - phaseIndex(b.phase) ||
    b.priority - a.priority ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
}

const validators = new WeakMap<PluginDefinition, ValidateFunction>();
const ajv = createConfigAjv();

function settingsFor(def: PluginDefinition, raw: unknown, path: string, file: string | undefined): Settings {
  let validate = validators.get(def);
  if (!validate) {
    validate = compileValidator(ajv, pluginSchema(def as { schema: TObject; enforcing: boolean }));
    validators.set(def, validate);
  }
  const data = structuredClone(isObject(raw) ? raw : {});
  if (!validate(data)) {
    throw new ConfigError(
      issuesFromAjv(validate.errors ?? []).map((i) => ({
        file,
        path: `${path}.${i.path}`,
        reason: i.reason,
        hint: i.hint,
      })),
    );
  }
  if (!def.enforcing) data.mode = 'enforce';
  return deepFreeze(data);
}

interface Created {
  def: PluginDefinition;
  handlers: StageHandlers;
  mode: 'enforce' | 'monitor';
}

function toChain(created: readonly Created[]): Chain {
  const request: RequestStage[] = [];
  let proxy: RequestStage | undefined;
  const respond: ResponseHook[] = [];
  const log: LogHook[] = [];
  const stages: StageInfo[] = [];
  const challenges: string[] = [];
  const operations: InventoryOperation[] = [];
  const warnings: string[] = [];
  for (const { def, handlers, mode } of created) {
    if (handlers.challenge !== undefined) challenges.push(handlers.challenge);
    if (handlers.inventory !== undefined) operations.push(...handlers.inventory);
    if (handlers.warnings !== undefined) warnings.push(...handlers.warnings);
    stages.push({
      plugin: def.name,
      phase: def.phase,
      priority: def.priority,
      mode: def.enforcing ? mode : undefined,
      ...(handlers.summary === undefined ? {} : { summary: handlers.summary }),
    });
    const stage = {
      plugin: def.name,
      phase: def.phase,
      monitor: mode === 'monitor',
      run: handlers.onRequest,
    } as RequestStage;
    if (def.phase === 'proxy') proxy = stage;
    else if (def.phase === 'respond') respond.push(handlers.onResponse as ResponseHook);
    else if (def.phase === 'log') log.push(handlers.onLog as LogHook);
    else {
      request.push(stage);
      // A request stage that holds something for the request's life (a concurrency slot) lets it
      // go when the response has finished or the client went away.
      if (handlers.onLog !== undefined) log.push(handlers.onLog);
    }
  }
  return { request, proxy, respond, log, stages, challenges, operations, warnings };
}

export interface CompileOptions {
  readonly registry: Registry;
  readonly logger: Logger;
  readonly version: number;
}

/** Config → plan: upstream pools opened, every plugin created once per route, chains ordered. */
export async function compilePlan(loaded: LoadedConfig, options: CompileOptions): Promise<Plan> {
  const { config, file } = loaded;
  const { registry, logger } = options;
  const issues: ConfigIssue[] = [];

  // Semantic checks the schema cannot express.
  // The admin listener's addresses and tokens: a reload that breaks them is refused whole (the
  // admin API must never keep a removed token because the new rules did not parse).
  try {
    new AdminAccess(config.admin);
  } catch (err) {
    issues.push({ file, path: 'admin.allowFrom', reason: (err as Error).message });
  }
  const trust = new Map<string, TrustedProxies>();
  config.listeners.forEach((l, i) => {
    if (l.headersTimeoutMs > l.requestTimeoutMs) {
      issues.push({
        file,
        path: `listeners[${i}].headersTimeoutMs`,
        reason: 'must not be larger than requestTimeoutMs',
        hint: 'headers are part of the request',
      });
    }
    try {
      trust.set(l.name, new TrustedProxies(l.trustedProxies));
    } catch (err) {
      issues.push({
        file,
        path: `listeners[${i}].trustedProxies`,
        reason: (err as Error).message,
        hint: 'use addresses like 10.0.0.1 or 10.0.0.0/8',
      });
    }
  });
  const names = new Set<string>();
  config.listeners.forEach((l, i) => {
    if (names.has(l.name))
      issues.push({ file, path: `listeners[${i}].name`, reason: `duplicate listener name "${l.name}"` });
    names.add(l.name);
  });
  const ids = new Set<string>();
  const upstreamNames = Object.keys(config.upstreams);
  config.routes.forEach((r, i) => {
    if (ids.has(r.id))
      issues.push({
        file,
        path: `routes[${i}].id`,
        reason: `duplicate route id "${r.id}"`,
        hint: 'route ids must be unique',
      });
    ids.add(r.id);
    if (!(r.upstream in config.upstreams)) {
      issues.push({
        file,
        path: `routes[${i}].upstream`,
        reason: `unknown upstream "${r.upstream}"`,
        hint: upstreamNames.length
          ? `declared upstreams: ${upstreamNames.join(', ')}`
          : 'declare it under "upstreams"',
      });
    }
  });
  // API versions: the catalog, and which versions each route serves (declared, or its path prefix).
  const versioning = new VersionCatalog(config.versioning);
  for (const i of versioning.issues) issues.push({ file, ...i });
  const routeVersions = config.routes.map((r, i): readonly string[] | undefined => {
    const byPrefix = versioning.enabled ? versioning.versionOfRoutePath(r.path) : undefined;
    if (r.versions === undefined) return byPrefix === undefined ? undefined : [byPrefix.key];
    if (!versioning.enabled) {
      issues.push({
        file,
        path: `routes[${i}].versions`,
        reason: 'no API versions are declared',
        hint: 'declare them under versioning.versions',
      });
      return undefined;
    }
    const keys: string[] = [];
    for (const name of r.versions) {
      const v = versioning.lookup(name);
      if (v === undefined)
        issues.push({
          file,
          path: `routes[${i}].versions`,
          reason: `unknown API version "${name}"`,
          hint: `declared: ${versioning.versions.map((x) => x.name).join(', ')}`,
        });
      else keys.push(v.key);
    }
    if (byPrefix !== undefined && !keys.includes(byPrefix.key))
      issues.push({
        file,
        path: `routes[${i}].versions`,
        reason: `the path names version "${byPrefix.name}" but the route serves ${r.versions.join(', ')}`,
      });
    return keys;
  });
  if (issues.length) throw new ConfigError(issues);

  const upstreams = new Map<string, Upstream>();
  try {
    for (const [name, settings] of Object.entries(config.upstreams)) {
      upstreams.set(name, createUpstream(name, settings, file));
      if (settings.tls.insecureSkipVerify && settings.url.startsWith('https:')) {
        logger.warn(
          { upstream: name },
          'INSECURE: upstream certificate verification is OFF (upstreams.*.tls.insecureSkipVerify); anyone on the path can read and change this traffic',
        );
      }
    }
  } catch (err) {
    await Promise.allSettled([...upstreams.values()].map((u) => u.pool.destroy()));
    throw err;
  }

  // Routes exist before their chains so global plugins (the router) can hold them.
  const routes: (RouteInfo & { chain: Chain })[] = config.routes.map((r, i) => ({
    id: r.id,
    host: r.host,
    path: r.path,
    methods: r.methods,
    upstream: r.upstream,
    stripPrefix: r.stripPrefix,
    versions: routeVersions[i],
    chain: {
      request: [],
      proxy: undefined,
      respond: [],
      log: [],
      stages: [],
      challenges: [],
      operations: [],
      warnings: [],
    },
  }));
  const stores = openStores(config.stores, logger);
  // Opened lazily: a plan compiled only to be checked never touches the file.
  const versionUsage =
    versioning.enabled && config.versioning.usage.enabled
      ? new VersionUsage(config.versioning.usage, logger)
      : undefined;
  const deps: PluginDeps = {
    logger,
    upstreams,
    routes: routes as CompiledRoute[],
    problemTypeBase: config.errors.typeBase,
    stores,
    versioning,
    versionUsage,
  };
  const closers: (() => void | Promise<void>)[] = [];
  if (versionUsage !== undefined) closers.push(() => versionUsage.close());
  const definitions = registry.list().sort(byPhaseThenPriority);

  async function instantiate(
    defs: readonly PluginDefinition[],
    route: RouteInfo | undefined,
    routeIndex: number,
  ): Promise<Created[]> {
    const out: Created[] = [];
    const routeSettings = routeIndex >= 0 ? (config.routes[routeIndex]?.plugins as Settings) : {};
    const globalSettings = config.plugins as Settings;
    for (const def of defs) {
      const g = globalSettings[def.name];
      const r = routeSettings[def.name];
      const enabled =
        r === false
          ? false
          : r !== undefined ||
            (def.routeScoped !== true &&
              ((g !== undefined && g !== false) || (g !== false && def.enabledByDefault)));
      if (!enabled) continue;
      const path = r !== undefined ? `routes[${routeIndex}].plugins.${def.name}` : `plugins.${def.name}`;
      const settings = settingsFor(def, merge(g === false ? {} : g, r), path, file);
      let handlers: StageHandlers;
      try {
        handlers = await def.create(settings as never, { deps, route, configPath: path });
      } catch (err) {
        if (err instanceof ConfigError) throw err;
        throw new ConfigError([
          { file, path, reason: `plugin "${def.name}" could not start: ${(err as Error).message}` },
        ]);
      }
      Registry.checkHandlers(def, handlers);
      if (handlers.close) closers.push(handlers.close);
      out.push({ def, handlers, mode: settings.mode as 'enforce' | 'monitor' });
    }
    return out;
  }

  const routeDefs = definitions.filter((d) => !GLOBAL_PHASES.includes(d.phase));
  try {
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i] as RouteInfo & { chain: Chain };
      const created = await instantiate(routeDefs, route, i);
      route.chain = toChain(created);
      for (const c of created) {
        const reason = c.handlers.checkChain?.(route.chain);
        if (reason !== undefined)
          throw new ConfigError([{ file, path: `routes[${i}]`, reason: `${c.def.name}: ${reason}` }]);
      }
      if (route.chain.proxy === undefined)
        throw new ConfigError([{ file, path: `routes[${i}]`, reason: 'no proxy-phase plugin is enabled' }]);
    }
    const globals = await instantiate(
      definitions.filter((d) => GLOBAL_PHASES.includes(d.phase)),
      undefined,
      -1,
    );
    const fallback = toChain(
      await instantiate(
        definitions.filter((d) => d.phase === 'respond' || d.phase === 'log'),
        undefined,
        -1,
      ),
    );
    const routePhase = globals.filter((c) => c.def.phase === 'route');
    if (routePhase.length === 0)
      throw new ConfigError([{ file, reason: 'no route-phase plugin (router) is registered' }]);

    let closed: Promise<void> | undefined;
    const plan: Plan = {
      version: options.version,
      createdAt: new Date(),
      connection: globals
        .filter((c) => c.def.phase === 'connection')
        .map((c) => c.handlers.onConnection as ConnectionHook),
      global: toChain(routePhase).request,
      globalStages: toChain(globals).stages,
      fallback,
      routes: routes as CompiledRoute[],
      problemTypeBase: config.errors.typeBase,
      trust,
      stores,
      close(force = false) {
        closed ??= (async () => {
          await Promise.allSettled(closers.map(async (c) => c()));
          await Promise.allSettled(
            [...upstreams.values()].map((u) => (force ? u.pool.destroy() : u.pool.close())),
          );
          await stores.close();
        })();
        return closed;
      },
    };
    for (const r of routes) Object.freeze(r);
    return Object.freeze(plan);
  } catch (err) {
    await Promise.allSettled(closers.map((c) => c()));
    await Promise.allSettled([...upstreams.values()].map((u) => u.pool.destroy()));
    await stores.close().catch(() => {});
    if (err instanceof ConfigError) throw err;
    // find-my-way refuses conflicting routes with a plain Error.
    throw new ConfigError([
      {
        file,
        path: 'routes',
        reason: (err as Error).message,
        hint: 'two routes match the same host, method and path',
      },
    ]);
  }
}

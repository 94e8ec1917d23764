import type { Socket } from 'node:net';
import type { Static, TObject } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { Upstream } from '../proxy/upstream.js';
import type { Stores } from '../stores/types.js';
import type { VersionCatalog } from '../versioning/catalog.js';
import type { VersionUsage } from '../versioning/usage.js';
import type { RequestContext, ResponseHead } from './context.js';
import type { Phase } from './phases.js';
import type { Chain } from './plan.js';

/** What a request-side stage returns: nothing to continue, or a promise of nothing. */
export type RequestHandler = (ctx: RequestContext) => void | Promise<void>;
/** A respond-phase hook: may change the head before it is written. Synchronous by contract. */
export type ResponseHook = (ctx: RequestContext, head: ResponseHead) => void;
/** A log-phase hook: runs once the response is finished or the client went away. Never throws. */
export type LogHook = (ctx: RequestContext) => void;
/** A connection-phase hook: return false to refuse the connection. */
export type ConnectionHook = (socket: Socket) => boolean;

/** The small hot-path object a plugin's `create` returns. Which field it must set depends on its phase. */
export interface StageHandlers {
  readonly onConnection?: ConnectionHook;
  readonly onRequest?: RequestHandler;
  readonly onResponse?: ResponseHook;
  readonly onLog?: LogHook;
  /**
   * Authenticate phase: this authenticator's WWW-Authenticate challenge (e.g. `Bearer realm="api"`),
   * sent with a 401 when a request brings no acceptable credential.
   */
  readonly challenge?: string;
  /**
   * A check that needs the route's whole chain (the authentication gate refuses a route with no
   * authenticator unless it allows anonymous access): a message makes the config invalid.
   */
  readonly checkChain?: (chain: Chain) => string | undefined;
  /** The API operations this stage knows the route serves (the contract), for `portcullis routes`. */
  readonly inventory?: readonly InventoryOperation[];
  /** What the stage reads with a caveat or does not enforce (OpenAPI features): `portcullis check` prints them. */
  readonly warnings?: readonly string[];
  /** A short description of what the stage enforces ("body ≤ 1 MiB"), never a secret: for `portcullis routes`. */
  readonly summary?: string;
  /** Release pools, timers, stores. Called when the plan that holds the stage is retired. */
  readonly close?: () => void | Promise<void>;
}

/** One operation of an API description as a route serves it. */
export interface InventoryOperation {
  readonly id: string;
  readonly method: string;
  /** Gateway path template ("/api/pets/{petId}"). */
  readonly path: string;
  /** The description's info.version. */
  readonly version: string;
  readonly deprecated: boolean;
  /** Security scheme names the description requires (any one of the alternatives); [] when open. */
  readonly security: readonly string[];
}

/** enforce: reject what the plugin forbids; monitor: decide, log and count, let the request pass. */
export interface PluginMode {
  readonly mode: 'enforce' | 'monitor';
}

/** A route as the router and other plugins see it while the plan is compiled. */
export interface RouteInfo {
  readonly id: string;
  readonly host: string | undefined;
  readonly path: string;
  readonly methods: readonly string[];
  readonly upstream: string;
  readonly stripPrefix: string | undefined;
  /** Keys of the API versions the route serves (versionKey); undefined: every version. */
  readonly versions: readonly string[] | undefined;
}

/** Dependencies handed to `create`. Stores and shared services reach plugins only this way. */
export interface PluginDeps {
  readonly logger: Logger;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  /** Every route of the plan (the router needs them all). */
  readonly routes: readonly RouteInfo[];
  /** Base of the problem `type` URI. */
  readonly problemTypeBase: string;
  /** Shared state (key store, replay caches, Redis), opened on first use and closed with the plan. */
  readonly stores: Stores;
  /** The compiled `versioning` section (the router selects versions, the lifecycle stage answers them). */
  readonly versioning: VersionCatalog;
  /** Requests per version and consumer (undefined when versioning or its usage counting is off). */
  readonly versionUsage: VersionUsage | undefined;
}

export interface CreateContext {
  readonly deps: PluginDeps;
  /** The route this instance serves; undefined for global (connection, route phase) plugins. */
  readonly route: RouteInfo | undefined;
  /** Config path of this plugin's settings, for start-up errors ("routes[2].plugins.request-guard"). */
  readonly configPath: string;
}

/**
 * A security stage: a name (kebab-case, equal to its folder), a phase, a priority inside the phase
 * (higher runs first), a config schema (every field with a description and a default), and a
 * `create` that does the expensive work once and returns small hot-path handlers.
 */
export interface PluginDefinition<S extends TObject = TObject> {
  readonly name: string;
  readonly phase: Phase;
  readonly priority: number;
  readonly description: string;
  readonly schema: S;
  /** Core stages are on for every route unless a route turns them off; others only when configured. */
  readonly enabledByDefault: boolean;
  /**
   * Enforcing plugins get a `mode: enforce | monitor` setting from the core. In monitor mode a
   * GatewayError thrown by onRequest is logged and counted, and the request goes on.
   */
  readonly enforcing: boolean;
  /** May a route turn this plugin off (`plugins: { name: false }`)? False for the spine (router, forward). */
  readonly optional: boolean;
  /**
   * Only a route's own settings turn the plugin on; global settings are shared definitions merged
   * into those routes (rbac: roles defined once, required per route). Default false: global
   * settings turn the plugin on for every route.
   */
  readonly routeScoped?: boolean;
  /** `config` is the route's merged, defaulted, frozen settings; `mode` is set by the core. */
  create(
    config: Readonly<Static<S>> & PluginMode,
    ctx: CreateContext,
  ): StageHandlers | Promise<StageHandlers>;
}

/** Helper that keeps the config type tied to the schema. */
export function definePlugin<S extends TObject>(def: PluginDefinition<S>): PluginDefinition<S> {
  return def;
}

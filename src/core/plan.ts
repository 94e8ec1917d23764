import type { TrustedProxies } from '../server/trust.js';
import type { Stores } from '../stores/types.js';
import type { Phase } from './phases.js';
import type {
  ConnectionHook,
  InventoryOperation,
  LogHook,
  RequestHandler,
  ResponseHook,
  RouteInfo,
} from './plugin.js';

/** One resolved stage of a chain, as `portcullis check` prints it. */
export interface StageInfo {
  readonly plugin: string;
  readonly phase: Phase;
  readonly priority: number;
  readonly mode: 'enforce' | 'monitor' | undefined;
  /** What the stage enforces, in a few words (never a secret). */
  readonly summary?: string;
}

export interface RequestStage {
  readonly plugin: string;
  /** The stage's phase (trace spans per phase). */
  readonly phase: string;
  readonly monitor: boolean;
  readonly run: RequestHandler;
}

/** The handlers of one route, ordered by phase, then priority (higher first), then name. */
export interface Chain {
  readonly request: readonly RequestStage[];
  readonly proxy: RequestStage | undefined;
  readonly respond: readonly ResponseHook[];
  readonly log: readonly LogHook[];
  readonly stages: readonly StageInfo[];
  /** WWW-Authenticate challenges of the route's authenticators, in chain order. */
  readonly challenges: readonly string[];
  /** API operations the route serves, as its stages describe them (the contract). */
  readonly operations: readonly InventoryOperation[];
  /** Caveats the route's stages reported at start-up. */
  readonly warnings: readonly string[];
}

export interface CompiledRoute extends RouteInfo {
  readonly chain: Chain;
}

/** A compiled config: everything the hot path needs, prepared once. Replaced whole on reload. */
export interface Plan {
  readonly version: number;
  readonly createdAt: Date;
  readonly connection: readonly ConnectionHook[];
  /** Route-phase stages (the router): they run before the route is known. */
  readonly global: readonly RequestStage[];
  readonly globalStages: readonly StageInfo[];
  /** Respond and log hooks for requests that never matched a route (404, bad path). */
  readonly fallback: Chain;
  readonly routes: readonly CompiledRoute[];
  readonly problemTypeBase: string;
  /** Trusted proxies per listener name: part of the plan so a reload changes them too. */
  readonly trust: ReadonlyMap<string, TrustedProxies>;
  /** The plan's shared state (key store, Redis, counters): the admin API manages keys through it. */
  readonly stores: Stores;
  /** Releases pools and stages; `force` cuts upstream calls still running instead of waiting. */
  close(force?: boolean): Promise<void>;
}

import type { TObject } from '@sinclair/typebox';
import { PHASES } from './phases.js';
import type { PluginDefinition, StageHandlers } from './plugin.js';

const NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** Which handler each phase's plugins must return from `create` (checked once, like fastify's hooks). */
const REQUIRED_HANDLER: Record<(typeof PHASES)[number], keyof StageHandlers> = {
  connection: 'onConnection',
  route: 'onRequest',
  guard: 'onRequest',
  authenticate: 'onRequest',
  rateLimit: 'onRequest',
  authorize: 'onRequest',
  validate: 'onRequest',
  proxy: 'onRequest',
  respond: 'onResponse',
  log: 'onLog',
};

/** A programmer error in a plugin definition: thrown at start-up, never at request time. */
export class PluginDefinitionError extends Error {
  override name = 'PluginDefinitionError';
}

export class Registry {
  readonly #plugins = new Map<string, PluginDefinition>();

  register<S extends TObject>(def: PluginDefinition<S>): this {
    if (!NAME.test(def.name)) throw new PluginDefinitionError(`plugin name "${def.name}" must be kebab-case`);
    if (this.#plugins.has(def.name))
      throw new PluginDefinitionError(`plugin "${def.name}" is registered twice`);
    if (!PHASES.includes(def.phase))
      throw new PluginDefinitionError(`plugin "${def.name}": unknown phase "${def.phase}"`);
    if (!Number.isInteger(def.priority))
      throw new PluginDefinitionError(`plugin "${def.name}": priority must be an integer`);
    if (def.schema.type !== 'object' || def.schema.additionalProperties !== false) {
      throw new PluginDefinitionError(
        `plugin "${def.name}": schema must be a closed object (additionalProperties: false)`,
      );
    }
    for (const [key, prop] of Object.entries(def.schema.properties)) {
      if (typeof prop.description !== 'string' || !('default' in prop)) {
        throw new PluginDefinitionError(
          `plugin "${def.name}": setting "${key}" needs a description and a default`,
        );
      }
    }
    if (def.enforcing && 'mode' in def.schema.properties) {
      throw new PluginDefinitionError(
        `plugin "${def.name}": "mode" is added by the core for enforcing plugins`,
      );
    }
    this.#plugins.set(def.name, def as unknown as PluginDefinition);
    return this;
  }

  get(name: string): PluginDefinition | undefined {
    return this.#plugins.get(name);
  }

  list(): PluginDefinition[] {
    return [...this.#plugins.values()];
  }

  /** Checks that `create` returned the handler the plugin's phase needs. */
  static checkHandlers(def: PluginDefinition, handlers: StageHandlers): void {
    const required = REQUIRED_HANDLER[def.phase];
    if (typeof handlers[required] !== 'function') {
      throw new PluginDefinitionError(
        `plugin "${def.name}" (phase ${def.phase}) must return ${required} from create()`,
      );
    }
  }
}

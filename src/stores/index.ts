import type { Logger } from 'pino';
import type { StoresConfig } from '../config/schema.js';
import type { Stores } from './types.js';

export interface OpenStores extends Stores {
  /** Closes whatever was opened. */
  close(): Promise<void>;
}

/** Opens stores lazily from the `stores` config section. (Stub: implementations land with issue 4.) */
export function openStores(_config: StoresConfig, _logger: Logger): OpenStores {
  const missing = (): never => {
    throw new Error('store not implemented yet');
  };
  return {
    keys: missing,
    keyPepper: missing,
    replay: missing,
    redis: missing,
    close: async () => {},
  };
}
